"""Where the data lives: the database URL, the engine, transactions and schema migrations.

Every unit of work runs in one transaction (`Database.session`): it commits when the block ends and rolls
back on any exception, which is how a failed `appban policy apply` leaves nothing stored from that run.
SQLite is the default for one machine; PostgreSQL (`postgresql+psycopg://`) is for production. Failures
to reach the database become `StorageUnavailable` with a one-line diagnosis that never shows a password.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from appban.errors import StorageUnavailable

__all__ = ["DEFAULT_URL", "URL_VARIABLE", "Database", "database_url"]

DEFAULT_URL = "sqlite:///appban.db"
URL_VARIABLE = "APPBAN_DATABASE_URL"
MIGRATIONS = Path(__file__).resolve().with_name("migrations")

_SQLITE_BUSY_MS = 30_000
_POSTGRES_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key that serialises concurrent `upgrade()` runs: the first 8 bytes, signed, of
# sha256(b"appban.migrations").
_MIGRATION_LOCK = -0x113F_CB3C_82F7_53B0


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the flag if given, else `APPBAN_DATABASE_URL`, else `sqlite:///appban.db` here."""
    if explicit:
        return explicit
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


class Database:
    """An engine on one database. Open with `Database.open(url)`; dispose when done (or use `with`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Database:
        """Connect once to check the database is reachable; raises StorageUnavailable with a diagnosis if not."""
        parsed = _parse(url)
        try:
            engine = _engine(parsed)
        except (ArgumentError, NoSuchModuleError, ImportError) as error:
            raise StorageUnavailable(
                f"cannot use the database URL {_shown(parsed)}: {error} "
                f"(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE in {URL_VARIABLE})") from error
        database = cls(engine)
        try:
            with engine.connect():
                pass
        except DBAPIError as error:
            engine.dispose()
            raise _unavailable(parsed, error) from error
        return database

    @property
    def url(self) -> str:
        """The URL with its password hidden: safe to print and log."""
        return _shown(self._engine.url)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.url.get_backend_name()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tools and tests that need plain SQL; application code uses sessions."""
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction: committed when the block ends, rolled back on any exception."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, InterfaceError) as error:
            raise _unavailable(self._engine.url, error) from error

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision; running it again does nothing."""
        config = _alembic_config()
        sqlite = self.backend == "sqlite"
        try:
            with self._engine.connect() as connection:
                if sqlite:  # table rebuilds in batch migrations must not trip foreign keys midway
                    _sqlite_pragma(connection, "foreign_keys = OFF")
                try:
                    with connection.begin():
                        if not sqlite:
                            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                               {"key": _MIGRATION_LOCK})
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                        if sqlite:
                            _check_foreign_keys(connection)
                finally:
                    if sqlite:
                        _sqlite_pragma(connection, "foreign_keys = ON")
        except (OperationalError, InterfaceError) as error:
            raise _unavailable(self._engine.url, error) from error
        except CommandError as error:
            raise StorageUnavailable(f"cannot upgrade the database at {self.url}: {error} "
                                     "(was it written by a newer appban?)") from error

    def revision(self) -> str | None:
        """The schema revision the database is at; None for an empty database."""
        try:
            with self._engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except (OperationalError, InterfaceError) as error:
            raise _unavailable(self._engine.url, error) from error

    def check_schema(self) -> None:
        """Raise StorageUnavailable unless the schema is at the revision this code was written for."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        current = self.revision()
        if current == head:
            return
        if current is None:
            raise StorageUnavailable(f"the database at {self.url} has no appban tables yet "
                                     "(upgrade it to create them)")
        raise StorageUnavailable(f"the database at {self.url} is at schema revision {current}, this appban "
                                 f"expects {head} (upgrade it, or use the appban that wrote it)")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def _parse(url: str) -> URL:
    """The URL as SQLAlchemy reads it; bare `postgresql://` and `postgres://` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:  # the text may hold a password: do not echo it
        raise StorageUnavailable(f"{URL_VARIABLE} or the database option is not a database URL "
                                 "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE)") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StorageUnavailable(f"appban stores its data in SQLite or PostgreSQL, not {backend} "
                                 f"(check {URL_VARIABLE})")
    return parsed


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"connect_timeout": _POSTGRES_CONNECT_TIMEOUT_S})
    in_memory = url.database in (None, "", ":memory:")
    engine = (create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False}) if in_memory
              else create_engine(url))
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    """Foreign keys on, wait for a busy database, and let SQLAlchemy (not pysqlite) start transactions."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    dbapi_connection.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction starts, so two writers queue instead of deadlocking.

    A deferred transaction that reads (the last audit entry) and then writes fails at once with "database is
    locked" when another writer got there first; an immediate one waits up to the busy timeout.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a PRAGMA outside any transaction (SQLite ignores `foreign_keys` inside one)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    driver.execute(f"PRAGMA {pragma}")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise StorageUnavailable(f"the migration left rows that break foreign keys in {tables}; nothing was "
                                 "changed (report this as a bug)")


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _unavailable(url: URL, error: DBAPIError) -> StorageUnavailable:
    """A one-line diagnosis of a driver error, with what to do about it and no password in it."""
    detail = str(error.orig) if error.orig is not None else str(error)
    if url.password:
        detail = detail.replace(str(url.password), "***")
    lowered = detail.lower()
    if url.get_backend_name() == "sqlite":
        where = url.database or ":memory:"
        if "locked" in lowered or "busy" in lowered:
            return StorageUnavailable(f"the SQLite database {where} is busy: another appban is writing to it "
                                      "(try again when it has finished)")
        first = detail.strip().splitlines()[0] if detail.strip() else type(error.orig).__name__
        return StorageUnavailable(f"cannot open the SQLite database {where}: {first} (does its directory exist "
                                  f"and is it writable? check {URL_VARIABLE})")
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    user = url.username or "(default user)"
    name = url.database or "(default database)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return StorageUnavailable(f"cannot log in to PostgreSQL at {where} as {user}: authentication failed "
                                  f"(check the user and password in {URL_VARIABLE})")
    if "role" in lowered and "does not exist" in lowered:
        return StorageUnavailable(f"cannot log in to PostgreSQL at {where}: there is no user {user} "
                                  f"(create it, or check {URL_VARIABLE})")
    if "database" in lowered and "does not exist" in lowered:
        return StorageUnavailable(f"PostgreSQL at {where} has no database {name} "
                                  f"(create it with `createdb {name}`, or check {URL_VARIABLE})")
    if "connection refused" in lowered:
        return StorageUnavailable(f"cannot reach PostgreSQL at {where}: connection refused "
                                  f"(is the server running? check {URL_VARIABLE})")
    if "translate host name" in lowered or "name or service not known" in lowered:
        return StorageUnavailable(f"cannot reach PostgreSQL at {where}: unknown host "
                                  f"(check the host name in {URL_VARIABLE})")
    if "timeout" in lowered or "timed out" in lowered:
        return StorageUnavailable(f"cannot reach PostgreSQL at {where}: no answer within "
                                  f"{_POSTGRES_CONNECT_TIMEOUT_S} s (is the host reachable? check {URL_VARIABLE})")
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    first = lines[0] if lines else type(error.orig).__name__
    return StorageUnavailable(f"cannot use PostgreSQL at {where}: {first} (check the server and {URL_VARIABLE})")
