"""Inventories in the store: the current inventory of each device replaced whole, and every report kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from appban.inventory import InstalledApp, MatchedBy, ReportKind, Visibility
from appban.model import App, Platform
from appban.store import Database, InventoryRepository, ReceivedReport
from appban.store.tables import DeviceAppRow, InventoryRow

from .fleet_examples import SIGNAL, TIKTOK, TIKTOK_LITE, device, inventory, seed_fleet
from .store_examples import NOW, seed_organisations

LATER = NOW + dt.timedelta(days=1)
BY_NAME = App(Platform.ANDROID, "name:TikTok")  # an identity matched from a display name may hold a colon


def test_save_then_get_many_round_trips_apps_and_their_first_sighting(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device("d1"), device("d2"), device("d3")])
    first = inventory("d1", NOW, {TIKTOK: NOW - dt.timedelta(days=3), SIGNAL: NOW, BY_NAME: NOW})
    managed = inventory("d2", NOW, [], Visibility.MANAGED_ONLY)
    with database.session() as session:
        InventoryRepository(session).save([first, managed], source_format="amapi", now=LATER)
    with database.session() as session:
        repository = InventoryRepository(session)
        stored = repository.get_many(["d1", "d2", "d3", "nowhere"])
        observed = repository.observed_at_many(["d1", "d2", "d3"])
        rows = {row.device_id: (row.source_format, row.received_at) for row in session.scalars(select(InventoryRow))}
    assert stored == {"d1": first, "d2": managed}
    assert stored["d1"].apps[TIKTOK] == NOW - dt.timedelta(days=3)
    assert observed == {"d1": NOW, "d2": NOW}
    assert rows == {"d1": ("amapi", LATER), "d2": ("amapi", LATER)}


def test_save_replaces_the_inventory_and_keeps_app_details(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device("d1"), device("d2")])
    details = {"d1": [InstalledApp(TIKTOK, "TikTok", "33.1.4"),
                      InstalledApp(TIKTOK_LITE, "TikTok Lite", None, MatchedBy.NAME)]}
    with database.session() as session:
        repository = InventoryRepository(session)
        repository.save([inventory("d1", NOW, [TIKTOK, TIKTOK_LITE, SIGNAL]), inventory("d2", NOW, [SIGNAL])],
                        details, source_format="graph", now=NOW)
        apps = {(row.device_id, row.identifier): (row.name, row.version, row.matched_by)
                for row in session.scalars(select(DeviceAppRow))}
        assert apps == {("d1", TIKTOK.identifier): ("TikTok", "33.1.4", "identifier"),
                        ("d1", TIKTOK_LITE.identifier): ("TikTok Lite", None, "name"),
                        ("d1", SIGNAL.identifier): (None, None, "identifier"),
                        ("d2", SIGNAL.identifier): (None, None, "identifier")}
        newer = inventory("d1", LATER, {SIGNAL: NOW})
        repository.save([inventory("d1", LATER, [TIKTOK]), newer], source_format="csv", now=LATER)
    with database.session() as session:
        stored = InventoryRepository(session).get_many(["d1", "d2"])
        apps = {(row.device_id, row.identifier) for row in session.scalars(select(DeviceAppRow))}
    assert stored["d1"] == newer  # the last of a device listed twice wins, the rest is replaced
    assert apps == {("d1", SIGNAL.identifier), ("d2", SIGNAL.identifier)}


def test_save_writes_only_the_rows_that_differ(database: Database) -> None:
    """A device checking in with the same apps rewrites no app row; one new, one gone and one updated app
    cost one statement each, and the details of the new version are stored."""
    seed_organisations(database)
    seed_fleet(database, [device("d1")])
    details = {"d1": [InstalledApp(TIKTOK, "TikTok", "33.1.4"), InstalledApp(SIGNAL, "Signal", "7.0")]}
    with database.session() as session:
        InventoryRepository(session).save([inventory("d1", NOW, [TIKTOK, SIGNAL])], details, source_format="csv",
                                          now=NOW)
    statements: list[str] = []

    def capture(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0].upper() + " " + ("device_apps" if "device_apps" in statement
                                                                 else "other"))

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        with database.session() as session:
            InventoryRepository(session).save([inventory("d1", LATER, {TIKTOK: NOW, SIGNAL: NOW})], details,
                                              source_format="csv", now=LATER)
        unchanged = list(statements)
        statements.clear()
        with database.session() as session:
            InventoryRepository(session).save(
                [inventory("d1", LATER + dt.timedelta(hours=1), {SIGNAL: NOW, TIKTOK_LITE: LATER})],
                {"d1": [InstalledApp(SIGNAL, "Signal", "7.1"), InstalledApp(TIKTOK_LITE, "TikTok Lite", "1.0")]},
                source_format="csv", now=LATER)
        changed = list(statements)
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)
    assert [s for s in unchanged if s.endswith("device_apps")] == ["SELECT device_apps"]
    assert sorted(s for s in changed if s.endswith("device_apps")) == [
        "DELETE device_apps", "INSERT device_apps", "SELECT device_apps", "UPDATE device_apps"]
    with database.session() as session:
        apps = {row.identifier: (row.name, row.version, row.present_since)
                for row in session.scalars(select(DeviceAppRow))}
    assert apps == {SIGNAL.identifier: ("Signal", "7.1", NOW), TIKTOK_LITE.identifier: ("TikTok Lite", "1.0", LATER)}


def test_every_report_is_kept_applied_or_not(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device("d1")])
    common = {"device_id": "d1", "source_format": "osquery", "received_at": LATER, "visibility": Visibility.FULL}
    with database.session() as session:
        repository = InventoryRepository(session)
        assert repository.record_reports([
            common | {"source_file": "a.json", "observed_at": NOW, "kind": ReportKind.SNAPSHOT, "app_count": 3,
                      "applied": True},
            common | {"source_file": "b.json", "observed_at": NOW - dt.timedelta(hours=1), "kind": "delta",
                      "app_count": 1, "applied": False},
        ]) == 2
        assert repository.record_reports([]) == 0
    with database.session() as session:
        reports = InventoryRepository(session).reports("d1")
        latest = InventoryRepository(session).reports("d1", limit=1)
        assert InventoryRepository(session).reports("nowhere") == []
    assert reports == [
        ReceivedReport("d1", "osquery", "a.json", NOW, LATER, ReportKind.SNAPSHOT, Visibility.FULL, 3, True),
        ReceivedReport("d1", "osquery", "b.json", NOW - dt.timedelta(hours=1), LATER, ReportKind.DELTA,
                       Visibility.FULL, 1, False)]
    assert latest == reports[:1]
