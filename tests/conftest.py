"""Fixtures shared by the whole suite: a fresh database per test, on SQLite and on PostgreSQL.

A test that asks for `database_url` (or `database`) runs twice, `[sqlite]` and `[postgresql]`, each time on a
database of its own already migrated to the newest schema; `empty_database_url` is the same without the
schema, for migration tests. Both are cheap: the schema is built once per session in a template (a SQLite file
that is copied, a PostgreSQL database used as `CREATE DATABASE ... TEMPLATE`) and dropped at the end.

PostgreSQL: the server URL comes from `APPBAN_TEST_POSTGRES_URL` (default
`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`; the user must be allowed to create databases). If the
server cannot be reached the PostgreSQL tests fail, since CI proves the PostgreSQL path; set
`APPBAN_TEST_POSTGRES=skip` to skip them while hacking locally. Names carry the process id and the xdist
worker, so parallel runs and workers do not collide.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from appban.store import Database

from .log_watch import TokenWatch

POSTGRES_URL_VARIABLE = "APPBAN_TEST_POSTGRES_URL"
POSTGRES_SWITCH_VARIABLE = "APPBAN_TEST_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class PostgresServer:
    """Creates and drops whole databases on the test server, outside any transaction (as Postgres requires)."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self._admin: Engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def check(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text("SELECT 1"))

    def create(self, name: str, template: str = "template0") -> str:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def dispose(self) -> None:
        self._admin.dispose()


def _unique(prefix: str) -> str:
    """A database name no other test, worker or concurrent run uses (PostgreSQL allows 63 bytes)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{os.getpid()}_{worker}_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get(POSTGRES_SWITCH_VARIABLE) == "skip":
        pytest.skip(f"{POSTGRES_SWITCH_VARIABLE}=skip: PostgreSQL tests skipped")
    url = make_url(os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL)
    server = PostgresServer(url)
    try:
        server.check()
    except DBAPIError as error:
        server.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
        pytest.fail(f"the PostgreSQL tests need a server at {url.render_as_string(hide_password=True)}: {reason}. "
                    f"Start it, point {POSTGRES_URL_VARIABLE} at one, or set {POSTGRES_SWITCH_VARIABLE}=skip "
                    "to skip these tests locally.", pytrace=False)
    yield server
    server.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database that each test's database is copied from; no connection may stay open on it."""
    name = _unique("appban_template")
    with Database.open(postgres_server.create(name)) as database:
        database.upgrade()
    yield name
    postgres_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "appban.db"
    with Database.open(f"sqlite:///{path}") as database:
        database.upgrade()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a storage test runs on; tests asking for a database run once per backend."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database of this test's own, migrated to the newest schema."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "appban.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = _unique("appban_t")
    yield server.create(name, template=request.getfixturevalue("postgres_template"))
    server.drop(name)


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database with no tables, for migration tests."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = _unique("appban_t")
    yield server.create(name)
    server.drop(name)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An open `Database` on this test's migrated database, disposed afterwards."""
    with Database.open(database_url) as opened:
        yield opened


# --- no token in any log line ------------------------------------------------------------------------------
# Every record logged anywhere during the suite (appban's loggers at DEBUG) is searched for an API token; one
# found fails the run, naming the logger (tests/log_watch.py). Subprocesses (appban serve in the nginx and
# browser tests) log to their own files, which those tests read.

_WATCH = TokenWatch()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_WATCH)
    logging.getLogger("appban").setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _WATCH.leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"an API token appeared in {len(_WATCH.leaks)} log line(s):", red=True)
            for leak in _WATCH.leaks[:20]:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
