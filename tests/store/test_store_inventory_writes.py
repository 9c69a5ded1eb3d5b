"""The inventory store's fast paths (issue 3) write and read exactly what the general ones do.

`save` writes the app rows of a device without stored rows as COPY text on PostgreSQL (rows built by
`insert_rows` elsewhere), and `get_for_update` reads inventories and stored rows in one query for `save` to
compare with. Both are checked against the general path on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from appban.compliance import DeviceInventory
from appban.inventory import InstalledApp, MatchedBy
from appban.model import App, Platform
from appban.store import Database, InventoryRepository
from appban.store.tables import DeviceAppRow, InventoryRow

from .fleet_examples import SIGNAL, TIKTOK, device, inventory, seed_fleet
from .store_examples import NOW, seed_organisations

LATER = NOW + dt.timedelta(hours=1)
ODD = App(Platform.WINDOWS, "C:\\Program Files\\Odd App\\odd.exe")  # a backslash: escaped in COPY's text
APPS = [TIKTOK, SIGNAL, ODD, *(App(Platform.ANDROID, f"com.example.app{i}") for i in range(100))]
DETAILS = [InstalledApp(TIKTOK, "TikTok", "33.1"), InstalledApp(SIGNAL, "Sig\tnal\\n", None, MatchedBy.NAME),
           InstalledApp(ODD, "Line\nbreak\r", "1\\2")]


def _rows(database: Database) -> dict[str, set[tuple[object, ...]]]:
    with database.session() as session:
        out: dict[str, set[tuple[object, ...]]] = {}
        for row in session.scalars(select(DeviceAppRow)):
            out.setdefault(row.device_id, set()).add((row.platform, row.identifier, row.name, row.version,
                                                      row.matched_by, row.present_since))
        return out


def _inventories(ids: list[str], observed: dt.datetime) -> list[DeviceInventory]:
    return [inventory(device_id, observed, {app: observed - dt.timedelta(minutes=n % 3) for n, app in
                                            enumerate(APPS)}) for device_id in ids]


def test_new_devices_rows_are_those_the_comparing_path_writes(database: Database) -> None:
    odd_ids = ["fresh", "known", "tab\there", "back\\slash"]
    seed_organisations(database)
    seed_fleet(database, [device(device_id) for device_id in odd_ids])
    with database.session() as session:  # "known" gets a stored inventory: it takes the comparing path
        InventoryRepository(session).save([inventory("known", NOW, [App(Platform.ANDROID, "com.old.app")])],
                                          source_format="csv", now=NOW)
    with database.session() as session:
        InventoryRepository(session).save(_inventories(odd_ids, LATER), dict.fromkeys(odd_ids, DETAILS),
                                          source_format="csv", now=LATER)
    rows = _rows(database)
    assert rows["fresh"] == rows["known"] == rows["tab\there"] == rows["back\\slash"]
    assert len(rows["fresh"]) == len(APPS)
    assert ("windows", ODD.identifier, "Line\nbreak\r", "1\\2", "identifier", LATER - dt.timedelta(minutes=2)) \
        in rows["fresh"]
    assert ("android", SIGNAL.identifier, "Sig\tnal\\n", None, "name", LATER - dt.timedelta(minutes=1)) \
        in rows["fresh"]
    with database.session() as session:
        stored = InventoryRepository(session).get_many(odd_ids)
    assert stored == {inv.device: inv for inv in _inventories(odd_ids, LATER)}


def test_get_for_update_reads_what_get_many_reads_and_save_reads_nothing_again(database: Database) -> None:
    seed_organisations(database)
    seed_fleet(database, [device(f"d{n}") for n in range(4)])
    with database.session() as session:
        InventoryRepository(session).save([*_inventories(["d0", "d1"], NOW), inventory("d2", NOW, [])],
                                          {"d0": DETAILS}, source_format="csv", now=NOW)
    with database.session() as session:
        repository = InventoryRepository(session)
        ids = ["d0", "d1", "d2", "d3"]
        assert repository.get_for_update(ids) == InventoryRepository(session).get_many(ids)
        statements: list[str] = []
        event.listen(session.get_bind(), "before_cursor_execute",
                     lambda *args: statements.append(args[2].split()[0]))
        newer = [inventory("d0", LATER, {TIKTOK: NOW, SIGNAL: LATER}),  # one app changed, one kept, many gone
                 inventory("d1", LATER, dict(_inventories(["d1"], NOW)[0].apps.items())),
                 inventory("d2", LATER, [ODD]), inventory("d3", LATER, [ODD])]
        repository.save(newer, {"d0": [InstalledApp(TIKTOK, "TikTok", "34.0")]}, source_format="csv", now=LATER)
        # PostgreSQL's look-up returned d3 too (it has no inventory): nothing to read; SQLite reads d3's app rows
        assert statements.count("SELECT") == (0 if database.engine.dialect.name == "postgresql" else 1)
        assert repository.get_many(["d0", "d1", "d2", "d3"]) == {inv.device: inv for inv in newer}
        rows = {row.device_id: row.observed_at for row in session.scalars(select(InventoryRow))}
        assert rows == dict.fromkeys(["d0", "d1", "d2", "d3"], LATER)
    rows_after = _rows(database)
    assert rows_after["d0"] == {("android", TIKTOK.identifier, "TikTok", "34.0", "identifier", NOW),
                                ("android", SIGNAL.identifier, None, None, "identifier", LATER)}
    assert len(rows_after["d1"]) == len(APPS) and rows_after["d2"] == rows_after["d3"]

