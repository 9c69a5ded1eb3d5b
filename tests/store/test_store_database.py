"""The database shell: URL choice, diagnoses, transactions, time zones and migrations, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from appban.errors import StorageUnavailable
from appban.model import Organisation
from appban.store import (
    DEFAULT_URL,
    URL_VARIABLE,
    AuditLog,
    Database,
    DeviceRepository,
    OrganisationRepository,
    RestrictionRepository,
    database_url,
)
from appban.store.database import MIGRATIONS
from appban.store.tables import Base

from .fleet_examples import device
from .store_examples import ACTOR, NOW, RESTRICTION_FILES, restriction, seed_examples, seed_organisations

TABLES_0001 = {"alembic_version", "organisations", "restrictions", "restriction_versions", "adoptions", "audit_log"}
TABLES_0002 = TABLES_0001 | {"holders", "devices", "inventories", "device_apps", "inventory_reports", "findings",
                             "finding_events", "exemptions", "attestations", "organisation_settings"}
TABLES_0003 = TABLES_0002 | {"api_tokens", "gate_changes"}
TABLES_0004 = TABLES_0003 | {"assessments"}
TABLES_0005 = TABLES_0004 | {"users"}
TABLES_0006 = TABLES_0005 | {"notices"}
TABLES_0007 = TABLES_0006 | {"exemption_requests"}

if TYPE_CHECKING:
    from tests.conftest import PostgresServer


def test_url_comes_from_the_flag_then_the_environment_then_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    assert database_url(None) == DEFAULT_URL == "sqlite:///appban.db"
    monkeypatch.setenv(URL_VARIABLE, "postgresql+psycopg://appban@db/appban")
    assert database_url(None) == "postgresql+psycopg://appban@db/appban"
    assert database_url("sqlite:///other.db") == "sqlite:///other.db"


def test_unreachable_postgres_is_diagnosed_without_the_password() -> None:
    with pytest.raises(StorageUnavailable) as caught:
        Database.open("postgresql+psycopg://appban:s3cret-pw@127.0.0.1:1/appban")
    message = str(caught.value)
    assert message == ("cannot reach PostgreSQL at 127.0.0.1:1: connection refused "
                       "(is the server running? check APPBAN_DATABASE_URL)")
    assert "s3cret-pw" not in message and "\n" not in message


@pytest.mark.postgres
def test_a_plain_postgresql_url_means_psycopg_and_a_missing_database_is_named(
        postgres_server: PostgresServer) -> None:
    url = postgres_server.url.set(drivername="postgresql", database="appban_nowhere")
    with pytest.raises(StorageUnavailable, match=r"has no database appban_nowhere \(create it"):
        Database.open(url.render_as_string(hide_password=False))


@pytest.mark.parametrize(("url", "diagnosis"), [
    ("sqlite:////nonexistent-dir/appban.db", "cannot open the SQLite database /nonexistent-dir/appban.db: "),
    ("mysql://root:s3cret-pw@localhost/appban", "appban stores its data in SQLite or PostgreSQL, not mysql"),
    ("not a url: s3cret-pw", "APPBAN_DATABASE_URL or the database option is not a database URL"),
])
def test_unusable_urls_are_diagnosed(url: str, diagnosis: str) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        Database.open(url)
    assert str(caught.value).startswith(diagnosis)
    assert "s3cret-pw" not in str(caught.value)


def test_a_failing_transaction_leaves_the_database_unchanged(database: Database) -> None:
    seed_organisations(database)
    with database.session() as session:
        before = (OrganisationRepository(session).all(), AuditLog(session).entries())

    def apply_then_fail() -> None:
        with database.session() as session:
            OrganisationRepository(session).apply(
                [Organisation("be-mechelen", "City of Mechelen", "be-flanders")], actor=ACTOR, now=NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        apply_then_fail()
    with database.session() as session:
        assert (OrganisationRepository(session).all(), AuditLog(session).entries()) == before


def test_times_come_back_utc_aware(database: Database) -> None:
    brussels = dt.timezone(dt.timedelta(hours=1))
    at = dt.datetime(2023, 3, 15, 0, 0, 0, 123456, tzinfo=brussels)
    with database.session() as session:
        OrganisationRepository(session).apply([Organisation("x", "X")], actor=ACTOR, now=at)
    with database.session() as session:
        [entry] = AuditLog(session).entries()
    assert entry.at == at and entry.at.tzinfo is dt.UTC and entry.at.hour == 23


def test_naive_times_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="UTC-aware"), database.session() as session:
        OrganisationRepository(session).apply([Organisation("x", "X")], actor=ACTOR,
                                              now=dt.datetime(2023, 3, 15))


def test_foreign_keys_are_enforced(database: Database) -> None:
    """SQLite needs `PRAGMA foreign_keys=ON` on every connection; PostgreSQL always enforces them."""
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(text("INSERT INTO organisations (id, name, parent_id, created_at, updated_at) "
                                "VALUES ('orphan', 'Orphan', 'nowhere', :at, :at)"), {"at": NOW})


def test_upgrade_is_idempotent_and_check_schema_follows_it(empty_database_url: str) -> None:
    with Database.open(empty_database_url) as database:
        assert database.revision() is None
        with pytest.raises(StorageUnavailable, match="has no appban tables yet"):
            database.check_schema()
        database.upgrade()
        database.upgrade()
        assert database.revision() == "0008"
        database.check_schema()
        tables = set(inspect(database.engine).get_table_names())
    assert tables == TABLES_0007


def _migrate(database: Database, revision: str, *, down: bool = False) -> None:
    """Move the schema to one revision, as `Database.upgrade` does for the newest."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _schema_differences(database: Database) -> list[object]:
    """Differences between the migrated schema and the mapped tables, but for the one made on purpose: on
    PostgreSQL, triggers keep the foreign key from app rows to devices (test_store_app_rows.py)."""
    def compared(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        return not (database.engine.dialect.name == "postgresql" and kind == "foreign_key_constraint"
                    and name == "fk_device_apps_device_id_devices")
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": compared})
        return list(compare_metadata(context, Base.metadata))


def test_the_migrations_build_exactly_the_mapped_tables(database: Database) -> None:
    assert _schema_differences(database) == []
    names = {index["name"] for table in ("devices", "device_apps", "findings", "finding_events")
             for index in inspect(database.engine).get_indexes(table)}
    assert {"ix_devices_organisation_id", "ix_device_apps_platform_identifier", "ix_findings_restriction_id_state",
            "ix_finding_events_restriction_id_at", "ix_finding_events_device_id"} <= names


def test_upgrading_a_0001_database_with_data_to_the_newest_is_idempotent(empty_database_url: str) -> None:
    with Database.open(empty_database_url) as database:
        _migrate(database, "0001")
        assert database.revision() == "0001"
        assert set(inspect(database.engine).get_table_names()) == TABLES_0001
        seed_examples(database)
        with database.session() as session:
            before = (OrganisationRepository(session).all(), RestrictionRepository(session).all_latest(),
                      AuditLog(session).entries())
        database.upgrade()
        database.upgrade()
        assert database.revision() == "0008"
        database.check_schema()
        assert set(inspect(database.engine).get_table_names()) == TABLES_0007
        assert _schema_differences(database) == []
        with database.session() as session:
            assert (OrganisationRepository(session).all(), RestrictionRepository(session).all_latest(),
                    AuditLog(session).entries()) == before
            assert AuditLog(session).verify() == []
            DeviceRepository(session).upsert([device("d1")], now=NOW)


def test_the_newest_downgrades_to_0001_and_back(database: Database) -> None:
    seed_examples(database)
    with database.session() as session:
        DeviceRepository(session).upsert([device("d1")], now=NOW)
    _migrate(database, "0001", down=True)
    assert database.revision() == "0001"
    assert set(inspect(database.engine).get_table_names()) == TABLES_0001
    database.upgrade()
    assert _schema_differences(database) == []
    with database.session() as session:
        assert DeviceRepository(session).count() == 0
        assert [s.restriction.id for s in RestrictionRepository(session).all_latest()] == sorted(
            restriction(path).restriction.id for path in RESTRICTION_FILES)


def test_a_database_from_a_newer_appban_is_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageUnavailable, match="is at schema revision 9999, this appban expects 0008"):
        database.check_schema()
    with pytest.raises(StorageUnavailable, match="cannot upgrade the database"):
        database.upgrade()


@pytest.mark.postgres
def test_the_shown_url_hides_the_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.url.set(password="s3cret-pw")  # the test server trusts; the password is ignored
    with Database.open(url.render_as_string(hide_password=False)) as database:
        assert "s3cret-pw" not in database.url and "***" in database.url
        assert database.backend == "postgresql"
