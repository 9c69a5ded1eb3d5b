"""App rows belong to stored devices (issue 3, revision 0008), on both backends.

SQLite keeps the foreign key from `device_apps` to `devices`; PostgreSQL keeps it with statement-level
triggers (one check a device per statement). Either way: a row naming an unknown device is refused with an
IntegrityError naming it and nothing of the statement stays, deleting devices deletes their rows, and a
device's id cannot move. On PostgreSQL the check locks the device as a foreign key does, so a deletion waits
for a transaction adding rows to it and then removes those rows too.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from appban.store import Database, DeviceRepository

from .fleet_examples import device
from .store_examples import ACTOR, NOW, seed_organisations

ROW = ("INSERT INTO device_apps (device_id, platform, identifier, name, version, matched_by, present_since) "
       "VALUES (:device, 'android', :app, NULL, NULL, 'identifier', :at)")


def _seed(database: Database, *ids: str) -> None:
    seed_organisations(database)
    with database.session() as session:
        DeviceRepository(session).upsert([device(i, "eu-commission") for i in ids], now=NOW)


def _rows(database: Database, device_id: str) -> int:
    with database.session() as session:
        return session.execute(text("SELECT count(*) FROM device_apps WHERE device_id = :d"),
                               {"d": device_id}).scalar_one()


def test_rows_of_an_unknown_device_are_refused_with_its_name_and_none_stays(database: Database) -> None:
    _seed(database, "known-1")
    with pytest.raises(IntegrityError) as raised, database.session() as session:
        session.execute(text(ROW), [{"device": "known-1", "app": f"com.a{n}", "at": NOW} for n in range(3)]
                        + [{"device": "ghost-9", "app": "com.b", "at": NOW}])
    if database.engine.dialect.name == "postgresql":
        assert "ghost-9" in str(raised.value) and "does not exist" in str(raised.value)
    assert _rows(database, "known-1") == 0 and _rows(database, "ghost-9") == 0


def test_deleting_devices_deletes_their_rows_and_only_theirs(database: Database) -> None:
    _seed(database, "gone-1", "gone-2", "kept-1")
    with database.session() as session:
        session.execute(text(ROW), [{"device": d, "app": f"com.a{n}", "at": NOW}
                                    for d in ("gone-1", "gone-2", "kept-1") for n in range(4)])
    with database.session() as session:
        assert DeviceRepository(session).delete(["gone-1", "gone-2"], actor=ACTOR, now=NOW) == 2
    assert (_rows(database, "gone-1"), _rows(database, "gone-2"), _rows(database, "kept-1")) == (0, 0, 4)


def test_rows_cannot_move_to_an_unknown_device_nor_their_device_be_renamed(database: Database) -> None:
    _seed(database, "fixed-1", "fixed-2")
    with database.session() as session:
        session.execute(text(ROW), {"device": "fixed-1", "app": "com.a", "at": NOW})
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(text("UPDATE device_apps SET device_id = 'ghost-1' WHERE device_id = 'fixed-1'"))
    if database.engine.dialect.name == "postgresql":  # stricter than SQLite's key, which has no ON UPDATE rule
        for statement in ("UPDATE device_apps SET device_id = 'fixed-2' WHERE device_id = 'fixed-1'",
                          "UPDATE devices SET id = 'renamed-1' WHERE id = 'fixed-1'"):
            with pytest.raises(IntegrityError, match="fixed-1"), database.session() as session:
                session.execute(text(statement))
    assert _rows(database, "fixed-1") == 1


def test_a_deletion_waits_for_rows_being_added_and_takes_them(database: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs side by side")
    _seed(database, "busy-1")
    adding = database.engine.connect()
    transaction = adding.begin()
    adding.execute(text(ROW), [{"device": "busy-1", "app": f"com.a{n}", "at": NOW} for n in range(5)])
    with database.engine.connect() as deleting:  # the rows are not committed, but their device is locked
        deleting.execute(text("SET lock_timeout = '300ms'"))
        with pytest.raises(DBAPIError, match="lock timeout"):
            deleting.execute(text("DELETE FROM devices WHERE id = 'busy-1'"))
        deleting.rollback()
    done = threading.Event()

    def delete_when_free() -> None:
        with database.session() as session:
            DeviceRepository(session).delete(["busy-1"], actor=ACTOR, now=NOW + dt.timedelta(seconds=1))
        done.set()

    waiter = threading.Thread(target=delete_when_free)
    waiter.start()
    assert not done.wait(0.5), "the deletion must wait for the transaction adding rows to the device"
    transaction.commit()
    adding.close()
    waiter.join(10)
    assert done.is_set()
    assert _rows(database, "busy-1") == 0  # committed meanwhile, deleted with their device: none left over
