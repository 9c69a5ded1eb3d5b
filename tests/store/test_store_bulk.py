"""Bulk work at fleet size: 20,000 devices with their apps in one call, and the engine's look-ups over them.

The bounds are generous (CI machines are slow and shared) but catch a statement per row: that takes minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

from appban.compliance import Change
from appban.inventory import InstalledApp
from appban.model import App, FindingState, Ownership, Platform
from appban.store import Database, DeviceRepository, FindingRepository, InventoryRepository, UpsertCounts

from .fleet_examples import EU_RULE, TIKTOK, device, inventory, verdict
from .store_examples import NOW, seed_examples

DEVICES = 20_000
APPS_PER_DEVICE = 8
BOUND_S = 60.0
COMMON = [App(Platform.ANDROID, f"com.example.app{i}") for i in range(50)]


def _fleet() -> tuple[list, list, dict[str, list[InstalledApp]]]:  # type: ignore[type-arg]
    devices = [device(f"device-{i:06d}", "be-gent" if i % 3 == 0 else "eu-commission",
                      ownership=Ownership.PERSONAL if i % 4 == 0 else Ownership.CORPORATE) for i in range(DEVICES)]
    inventories = []
    details: dict[str, list[InstalledApp]] = {}
    for i, each in enumerate(devices):
        apps = [COMMON[(i + k) % len(COMMON)] for k in range(APPS_PER_DEVICE - 1)]
        if i % 20 == 0:  # 5 % hold TikTok
            apps.append(TIKTOK)
        inventories.append(inventory(each.id, NOW - dt.timedelta(days=i % 60), apps))
        details[each.id] = [InstalledApp(app, app.identifier.rsplit(".", 1)[-1], "1.0") for app in apps]
    return devices, inventories, details


def test_twenty_thousand_devices_with_apps_in_one_call(database: Database) -> None:
    seed_examples(database)
    devices, inventories, details = _fleet()
    ids = [d.id for d in devices]

    started = time.perf_counter()
    with database.session() as session:
        assert DeviceRepository(session).upsert(devices, now=NOW) == UpsertCounts(DEVICES, 0, 0)
        InventoryRepository(session).save(inventories, details, source_format="csv", now=NOW)
    written = time.perf_counter() - started

    started = time.perf_counter()
    with database.session() as session:
        repository = DeviceRepository(session)
        holders = repository.ids_holding([TIKTOK])
        unseen = repository.ids_unseen(NOW, lambda org: dt.timedelta(days=7 if org == "be-gent" else 30))
        stored = repository.get_many(ids)
        loaded = InventoryRepository(session).get_many(ids)
        every = sum(1 for _ in repository.all())
    read = time.perf_counter() - started

    changed = [dataclasses.replace(d, enrolled=False) if i % 10 == 0 else d for i, d in enumerate(devices)]
    grace = verdict(FindingState.GRACE, deadline=NOW + dt.timedelta(days=20), apps=[TIKTOK])
    started = time.perf_counter()
    with database.session() as session:
        counts = DeviceRepository(session).upsert(changed, now=NOW)
        InventoryRepository(session).save(inventories, details, source_format="csv", now=NOW)  # replaced whole
        events = FindingRepository(session).apply([Change(d, EU_RULE, None, grace) for d in sorted(holders)],
                                                  now=NOW, versions={EU_RULE: 1})
    rewritten = time.perf_counter() - started

    assert holders == {ids[i] for i in range(0, DEVICES, 20)}
    assert unseen == {ids[i] for i in range(DEVICES) if (i % 3 == 0 and i % 60 > 7) or (i % 3 and i % 60 > 30)}
    assert len(stored) == len(loaded) == every == DEVICES
    assert stored[ids[1]].last_inventory == NOW - dt.timedelta(days=1)
    assert len(loaded[ids[20]].apps) == APPS_PER_DEVICE
    assert counts == UpsertCounts(created=0, updated=DEVICES // 10, unchanged=DEVICES - DEVICES // 10)
    assert events == len(holders)
    print(f"\n{database.backend}: write {written:.1f} s, read {read:.1f} s, rewrite {rewritten:.1f} s")
    assert written < BOUND_S and read < BOUND_S and rewritten < BOUND_S


def test_a_statement_with_among_is_compiled_once_and_takes_its_values_afresh(database: Database) -> None:
    from sqlalchemy import event, select
    from sqlalchemy.engine.default import CACHE_HIT

    from appban.store.bulk import among
    from appban.store.tables import DeviceRow

    seed_examples(database)
    with database.session() as session:
        DeviceRepository(session).upsert([device(f"cached-{i}", "eu-commission") for i in range(5)], now=NOW)
    compiled: list[str] = []
    event.listen(database.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: compiled.append(
                     "cached" if context.cache_hit is CACHE_HIT else "compiled"))
    with database.session() as session:
        found = [sorted(session.scalars(select(DeviceRow.id).where(among(DeviceRow.id, wanted))))
                 for wanted in (["cached-1", "cached-3"], ["cached-2"], ["cached-0", "cached-4", "nobody"], [])]
    assert found == [["cached-1", "cached-3"], ["cached-2"], ["cached-0", "cached-4"], []]
    assert compiled[-3:] == ["cached", "cached", "cached"]  # one statement, compiled for the first call only


def test_among_is_served_by_the_index_on_sqlite(tmp_path: Path) -> None:
    from sqlalchemy import select

    from appban.store.bulk import among
    from appban.store.tables import DeviceRow

    with Database.open(f"sqlite:///{tmp_path / 'plan.db'}") as database:
        database.upgrade()
        with database.session() as session:
            statement = select(DeviceRow.id).where(among(DeviceRow.id, ["a", "b"]))
            sql = str(statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(row[-1]) for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "SEARCH" in plan and "SCAN" not in plan, plan  # a scan of the table was what `IN (...) = 1` made
