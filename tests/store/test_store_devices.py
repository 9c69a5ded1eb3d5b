"""Devices in the store: bulk upsert with counts, look-ups for the engine, unseen devices, removal."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select, text

from appban.audit import AuditEvent
from appban.errors import InvalidInput
from appban.inventory import Visibility
from appban.model import Attestation, Device, FindingState, Ownership, Platform
from appban.store import (
    AttestationRepository,
    AuditLog,
    Database,
    DeviceRepository,
    FindingRepository,
    InventoryRepository,
    SettingsRepository,
    UpsertCounts,
)
from appban.store.tables import (
    AttestationRow,
    DeviceAppRow,
    DeviceRow,
    FindingEventRow,
    FindingRow,
    InventoryReportRow,
    InventoryRow,
)

from .fleet_examples import (
    EU_RULE,
    SIGNAL,
    TIKTOK,
    TIKTOK_IOS,
    TIKTOK_LITE,
    change,
    device,
    inventory,
    seed_fleet,
    verdict,
)
from .store_examples import ACTOR, NOW, seed_examples, seed_organisations

LATER = NOW + dt.timedelta(hours=1)


def _upsert(database: Database, devices: list[Device], at: dt.datetime = NOW, **options: object) -> UpsertCounts:
    with database.session() as session:
        return DeviceRepository(session).upsert(devices, now=at, **options)  # type: ignore[arg-type]


def test_upsert_creates_then_updates_then_leaves_alone(database: Database) -> None:
    seed_organisations(database)
    fleet = [device("d1", holder="ana@ec.europa.eu"), device("d2", platform=Platform.IOS),
             device("d3", "be-gent", ownership=Ownership.PERSONAL, enrolled=False)]
    assert _upsert(database, fleet) == UpsertCounts(created=3, updated=0, unchanged=0)
    moved = dataclasses.replace(fleet[0], organisation="eu-commission-dg-digit", holder=None)
    assert _upsert(database, [moved, fleet[1], fleet[2]], LATER) == UpsertCounts(created=0, updated=1, unchanged=2)
    assert _upsert(database, [moved, fleet[1]], LATER) == UpsertCounts(created=0, updated=0, unchanged=2)

    with database.session() as session:
        repository = DeviceRepository(session)
        stored = repository.get_many(["d1", "d2", "d3", "nowhere"])
        rows = {row.id: row for row in session.scalars(select(DeviceRow))}
    assert stored == {"d1": moved, "d2": fleet[1], "d3": fleet[2]}
    assert stored["d1"].last_inventory is None
    assert (rows["d1"].created_at, rows["d1"].updated_at) == (NOW, LATER)
    assert (rows["d2"].created_at, rows["d2"].updated_at) == (NOW, NOW)


def test_the_last_of_a_device_listed_twice_wins_and_last_inventory_is_ignored(database: Database) -> None:
    seed_organisations(database)
    first = device("d1", holder="ana@ec.europa.eu")
    second = dataclasses.replace(first, holder="bo@ec.europa.eu", last_inventory=NOW)
    assert _upsert(database, [first, second]) == UpsertCounts(created=1, updated=0, unchanged=0)
    with database.session() as session:
        assert DeviceRepository(session).get_many(["d1"]) == {"d1": dataclasses.replace(second, last_inventory=None)}
    assert _upsert(database, [second], LATER) == UpsertCounts(created=0, updated=0, unchanged=1)


def test_names_and_source_format_are_stored_and_kept(database: Database) -> None:
    seed_organisations(database)
    _upsert(database, [device("d1"), device("d2")], source_format="amapi", names={"d1": "Ana's Pixel"})
    assert _upsert(database, [device("d1"), device("d2")], LATER) == UpsertCounts(0, 0, 2)
    assert _upsert(database, [device("d2")], LATER, source_format="graph", names={"d2": "iPad 7"}) == (
        UpsertCounts(0, 1, 0))
    with database.session() as session:
        rows = {row.id: (row.name, row.source_format) for row in session.scalars(select(DeviceRow))}
    assert rows == {"d1": ("Ana's Pixel", "amapi"), "d2": ("iPad 7", "graph")}


def test_a_device_of_an_unknown_organisation_is_refused_and_nothing_is_written(database: Database) -> None:
    seed_organisations(database)
    with pytest.raises(InvalidInput, match="device `d2`: unknown organisation `nowhere`"):
        _upsert(database, [device("d1"), device("d2", "nowhere"), device("d3", "nowhere")])
    with database.session() as session:
        assert DeviceRepository(session).count() == 0


def test_a_device_id_longer_than_512_characters_is_refused(database: Database) -> None:
    seed_organisations(database)
    with pytest.raises(InvalidInput, match="`id` must have 1 to 512 characters"):
        _upsert(database, [device("x" * 513)])
    assert _upsert(database, [device("x" * 512)]) == UpsertCounts(created=1, updated=0, unchanged=0)


def test_last_inventory_comes_from_the_current_inventory(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device("d1"), device("d2")], [inventory("d1", NOW - dt.timedelta(days=2))])
    with database.session() as session:
        stored = DeviceRepository(session).get_many({"d1", "d2"})
    assert stored["d1"].last_inventory == NOW - dt.timedelta(days=2)
    assert stored["d2"].last_inventory is None


def test_ids_holding_uses_platform_and_identifier(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device("a"), device("b"), device("c", platform=Platform.IOS), device("d")],
               [inventory("a", apps=[TIKTOK, SIGNAL]), inventory("b", apps=[TIKTOK_LITE]),
                inventory("c", apps=[TIKTOK_IOS]), inventory("d", apps=[SIGNAL])])
    with database.session() as session:
        repository = DeviceRepository(session)
        assert repository.ids_holding([TIKTOK]) == {"a"}
        assert repository.ids_holding([TIKTOK, TIKTOK_LITE, TIKTOK_IOS]) == {"a", "b", "c"}
        assert repository.ids_holding(iter([TIKTOK_IOS])) == {"c"}
        assert repository.ids_holding([]) == set()
        InventoryRepository(session).save([inventory("a", LATER, [SIGNAL])], source_format="csv", now=LATER)
        assert repository.ids_holding([TIKTOK]) == set()


def test_organisation_holder_count_and_all(database: Database) -> None:
    seed_organisations(database)
    fleet = [device(f"d{i}", "be-gent" if i % 2 else "eu-commission", holder="ana@gent.be" if i < 3 else None)
             for i in range(7)]
    seed_fleet(database, fleet, [inventory("d4")])
    with database.session() as session:
        repository = DeviceRepository(session)
        assert repository.ids_in_organisations(["be-gent"]) == {"d1", "d3", "d5"}
        assert repository.ids_in_organisations(["be-gent", "eu-commission"]) == {f"d{i}" for i in range(7)}
        assert repository.ids_in_organisations([]) == set()
        assert repository.ids_of_holder("ana@gent.be") == {"d0", "d1", "d2"}
        assert repository.ids_of_holder("nobody@gent.be") == set()
        assert repository.count() == 7
        every = list(repository.all(chunk_size=2))
        assert [d.id for d in every] == [f"d{i}" for i in range(7)]
        assert list(repository.all(chunk_size=7)) == every == list(repository.all())
    assert every[4].last_inventory == NOW and every[0] == fleet[0]


def test_ids_unseen_with_two_staleness_settings(database: Database) -> None:
    """eu-commission judges inventories up to 7 days old, be-gent up to 30: each device by its own limit."""
    seed_organisations(database)
    days = dt.timedelta(days=1)
    fleet = [device("eu-fresh"), device("eu-10d"), device("eu-none"), device("eu-managed"), device("eu-7d"),
             device("gent-10d", "be-gent"), device("gent-40d", "be-gent"), device("gent-managed", "be-gent")]
    seed_fleet(database, fleet, [
        inventory("eu-fresh", NOW - 3 * days), inventory("eu-10d", NOW - 10 * days),
        inventory("eu-managed", NOW - days, visibility=Visibility.MANAGED_ONLY),
        inventory("eu-7d", NOW - 7 * days),  # exactly at the limit: still judged (stale only when older)
        inventory("gent-10d", NOW - 10 * days), inventory("gent-40d", NOW - 40 * days),
        inventory("gent-managed", NOW, visibility=Visibility.MANAGED_ONLY)])
    with database.session() as session:
        settings = SettingsRepository(session)
        settings.set_staleness("eu-commission", 7, actor=ACTOR, now=NOW)
        settings.set_staleness("be-gent", 30, actor=ACTOR, now=NOW)
        limits = settings.staleness_days()
        calls: list[str] = []

        def staleness(organisation: str) -> dt.timedelta:
            calls.append(organisation)
            return dt.timedelta(days=limits[organisation])

        unseen = DeviceRepository(session).ids_unseen(NOW, staleness)
        one_limit = DeviceRepository(session).ids_unseen(NOW, lambda _: dt.timedelta(days=30))
    assert unseen == {"eu-10d", "eu-none", "eu-managed", "gent-40d", "gent-managed"}
    assert sorted(calls) == ["be-gent", "eu-commission"]  # once per organisation, not per device
    assert one_limit == {"eu-none", "eu-managed", "gent-40d", "gent-managed"}


def test_removing_a_device_removes_what_hangs_on_it_and_closes_its_findings(database: Database) -> None:
    seed_examples(database)
    seed_fleet(database, [device("d1", holder="ana@ec.europa.eu"), device("d2")],
               [inventory("d1", apps=[TIKTOK]), inventory("d2", apps=[TIKTOK])])
    with database.session() as session:
        InventoryRepository(session).record_reports([
            {"device_id": "d1", "source_format": "csv", "source_file": "x.csv", "observed_at": NOW,
             "received_at": NOW, "kind": "snapshot", "visibility": "full", "app_count": 1, "applied": True}])
        FindingRepository(session).apply(
            [change("d1", EU_RULE, verdict(FindingState.GRACE, deadline=LATER, apps=[TIKTOK])),
             change("d2", EU_RULE, verdict(FindingState.GRACE, deadline=LATER, apps=[TIKTOK]))],
            now=NOW, versions={EU_RULE: 1})
        AttestationRepository(session).record(Attestation("d1", EU_RULE, "ana@ec.europa.eu", NOW, LATER),
                                              actor="ana@ec.europa.eu")
    with database.session() as session:
        assert DeviceRepository(session).delete(["d1", "unknown"], actor=ACTOR, now=LATER) == 1
        assert DeviceRepository(session).delete(["unknown"], actor=ACTOR, now=LATER) == 0
    with database.session() as session:
        left = {table.__tablename__: set(session.scalars(select(table.device_id)))
                for table in (InventoryRow, DeviceAppRow, FindingRow, AttestationRow, InventoryReportRow)}
        events = FindingRepository(session).events()
        entry = AuditLog(session).entries()[-1]
    assert left == {"inventories": {"d2"}, "device_apps": {"d2"}, "findings": {"d2"}, "attestations": set(),
                    "inventory_reports": {"d1"}}  # the history stays
    assert [(e.device, e.state_from, e.state_to, e.at) for e in events if e.device == "d1"] == [
        ("d1", FindingState.COMPLIANT, FindingState.GRACE, NOW),
        ("d1", FindingState.GRACE, FindingState.COMPLIANT, LATER)]
    assert (entry.event, entry.subject, entry.details) == (
        AuditEvent.DEVICE_DELETE, "d1", {"devices": ["d1"], "findings_closed": 1})


def test_the_database_cascades_a_device_delete(database: Database) -> None:
    """ON DELETE CASCADE holds in the schema itself (SQLite needs foreign keys on for it), not only in code."""
    seed_examples(database)
    seed_fleet(database, [device("d1")], [inventory("d1", apps=[TIKTOK, SIGNAL])])
    with database.session() as session:
        FindingRepository(session).apply([change("d1", EU_RULE, verdict(FindingState.UNKNOWN))], now=NOW,
                                         versions={EU_RULE: 1})
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM devices WHERE id = 'd1'"))
    with database.session() as session:
        counts = [session.scalar(select(func.count()).select_from(table))
                  for table in (InventoryRow, DeviceAppRow, FindingRow, FindingEventRow)]
    assert counts == [0, 0, 0, 1]
