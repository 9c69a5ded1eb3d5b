"""The follower keeps the table in step with the store, on SQLite and PostgreSQL, and keeps answering when the
database goes away (fail-static)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from appban.errors import StorageUnavailable
from appban.gate import ChangeCursor, Follower, Links, Result, decide
from appban.inventory import Visibility
from appban.model import Device, FindingState, Funding, Ownership, Platform
from appban.store import Database, DeviceRepository, FindingRepository

from .support import RULE, SIGNAL, TIKTOK, Forwarder, now, push, push_in, report, seed_fleet, seed_policy, wait_for

LINKS = Links(b"0123456789abcdef-test-secret")


def decision(follower: Follower, device: str, service: str | None = "mail") -> Result:
    assert follower.table is not None
    return decide(follower.table, device, service, now()).result


@pytest.fixture
def follower(database: Database) -> Iterator[Follower]:
    seed_fleet(database)
    running = Follower(database, LINKS, refresh_interval=3600)
    running.start()
    yield running
    running.stop()


def test_the_first_load_judges_every_kind_of_device(follower: Follower) -> None:
    assert follower.status().state == "ready"
    assert decision(follower, "clean-phone") is Result.ALLOW
    assert decision(follower, "late-phone") is Result.DENY
    assert decision(follower, "byod-phone") is Result.DENY
    assert follower.table is not None
    graced = decide(follower.table, "grace-phone", "mail", now())
    assert graced.allowed and graced.warning is not None
    assert graced.warning.startswith("remove TikTok (com.zhiliaoapp.musically) by ")
    assert decision(follower, "late-phone", "calendar") is Result.ALLOW
    assert decision(follower, "nobody") is Result.DENY


def test_a_new_report_flips_the_decision_within_a_second(database: Database, follower: Follower) -> None:
    at = now()  # clean-phone's inventory is 20 days old; this newer report has seen TikTok for 12 days
    push(database, report("clean-phone", [SIGNAL, TIKTOK], observed_at=at - dt.timedelta(days=12)), at=at)
    assert wait_for(lambda: decision(follower, "clean-phone") is Result.DENY, timeout=1.0) < 1.0
    push(database, report("late-phone", [SIGNAL]))  # TikTok removed
    assert wait_for(lambda: decision(follower, "late-phone") is Result.ALLOW, timeout=1.0) < 1.0
    push(database, report("byod-phone", [SIGNAL, TIKTOK], visibility=Visibility.MANAGED_ONLY,
                          ownership=Ownership.PERSONAL))  # TikTok seen on the work profile: a grace period starts
    assert follower.table is not None
    assert wait_for(lambda: decide(follower.table, "byod-phone", "mail", now()).warning is not None,  # type: ignore[arg-type]
                    timeout=1.0) < 1.0
    push(database, report("new-phone", [TIKTOK]))  # a device never seen: created, then judged
    wait_for(lambda: follower.table is not None and "new-phone" in follower.table.devices, timeout=1.0)
    assert follower.table is not None
    assert decide(follower.table, "new-phone", "mail", now()).warning is not None


def test_a_restriction_change_is_followed(database: Database, follower: Follower) -> None:
    seed_policy(database, title="TikTok off devices that reach corporate chat", cuts="chat")
    wait_for(lambda: decision(follower, "late-phone", "mail") is Result.ALLOW, timeout=1.0)
    assert follower.table is not None
    denied = decide(follower.table, "late-phone", "chat", now())
    assert denied.result is Result.DENY
    assert denied.versions == ((RULE, 2),)
    assert "corporate chat" in denied.reason


def test_removed_devices_leave_the_table(database: Database, follower: Follower) -> None:
    from appban.store import DeviceRepository

    with database.session() as session:
        DeviceRepository(session).delete(["late-phone"], actor="tests", now=now())
    wait_for(lambda: decide(follower.table, "late-phone", "mail", now()).reason == "device not known to appban"
             if follower.table else False, timeout=1.0)


def test_time_alone_ends_a_grace_period_and_the_refresh_stores_it(database: Database, follower: Follower) -> None:
    later = now() + dt.timedelta(days=11)
    assert follower.table is not None
    assert decide(follower.table, "grace-phone", "mail", later).result is Result.DENY  # by the clock, at once
    ahead = Follower(database, LINKS, clock=lambda: later)
    ahead.refresh()
    with database.session() as session:
        stored = FindingRepository(session).get_pairs([("grace-phone", RULE)])
    assert stored[("grace-phone", RULE)].verdict.state is FindingState.NON_COMPLIANT


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_change_committed_after_a_later_one_is_not_skipped(database: Database, follower: Follower) -> None:
    """PostgreSQL hands out ids in the order transactions ask and shows rows in the order they commit. (Two
    imports no longer overlap, they take the inventory write lock; an import and a device record written by
    another writer still can.)"""
    follower.stop()  # poll by hand, so the order of events is exact
    with database.session() as slow:
        push_in(slow, [report("late-phone", [SIGNAL])], now())  # takes its change id first...
        record_device(database, "fast-phone")  # ...this one takes the next id, and commits first
        follower.poll()
        assert decision(follower, "fast-phone") is Result.ALLOW
        assert decision(follower, "late-phone") is Result.DENY  # its change is not committed yet
    follower.poll()
    assert decision(follower, "late-phone") is Result.ALLOW
    with database.session() as slow:  # the same, around a full load
        push_in(slow, [report("grace-phone", [SIGNAL])], now())
        record_device(database, "faster-phone")
        follower.load()
        assert follower.table is not None
        assert decide(follower.table, "grace-phone", "mail", now()).warning is not None
    follower.poll()
    assert decide(follower.table, "grace-phone", "mail", now()).warning is None


def record_device(database: Database, device_id: str) -> None:
    """A device record stored by itself (as a device-management sync would), outside any import."""
    with database.session() as session:
        DeviceRepository(session).upsert([Device(id=device_id, organisation="eu-commission", platform=Platform.ANDROID,
                                                 ownership=Ownership.CORPORATE, funding=Funding.FULL, enrolled=True)],
                                         now=now(), source_format="csv")


def test_fail_static_keeps_answering_and_catches_up(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_fleet(database)
    follower = Follower(database, LINKS, refresh_interval=3600)
    follower.start()
    try:
        real = database.session

        def broken() -> Any:
            raise StorageUnavailable("cannot reach PostgreSQL at db:5432: connection refused")

        monkeypatch.setattr(database, "session", broken)
        wait_for(lambda: follower.status().state == "degraded", timeout=2.0)
        status = follower.status()
        assert "database unreachable since" in status.reasons[0]
        assert "connection refused" in status.reasons[0]
        assert decision(follower, "late-phone") is Result.DENY
        assert decision(follower, "clean-phone") is Result.ALLOW
        monkeypatch.setattr(database, "session", real)
        push(database, report("late-phone", [SIGNAL]))
        wait_for(lambda: decision(follower, "late-phone") is Result.ALLOW, timeout=3.0)
        assert follower.status().state == "ready"
    finally:
        follower.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_fail_static_when_the_network_to_postgresql_is_cut(database_url: str) -> None:
    url = make_url(database_url)
    forwarder = Forwarder(url.host or "127.0.0.1", url.port or 5432)
    direct = Database.open(database_url)
    through = Database.open(url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False))
    follower = Follower(through, LINKS, refresh_interval=3600)
    try:
        seed_fleet(direct)
        follower.start()
        assert decision(follower, "late-phone") is Result.DENY
        forwarder.cut()
        wait_for(lambda: follower.status().state == "degraded", timeout=3.0)
        assert decision(follower, "late-phone") is Result.DENY  # decisions go on, from the table
        assert decision(follower, "clean-phone") is Result.ALLOW
        push(direct, report("late-phone", [SIGNAL]))  # the store moves on while the gate cannot see it
        assert decision(follower, "late-phone") is Result.DENY
        forwarder.restore()
        # issue 8: caught up within 5 s of the database's return
        wait_for(lambda: decision(follower, "late-phone") is Result.ALLOW, timeout=5.0)
        assert follower.status().state == "ready"
    finally:
        follower.stop()
        forwarder.close()
        through.dispose()
        direct.dispose()


def test_the_cursor_looks_again_for_ids_skipped_over() -> None:
    cursor = ChangeCursor(10, wait=60)
    cursor.take([11, 14, 15, 19], now=0)
    assert cursor.last == 19
    assert cursor.holes() == [(12, 13), (16, 18)]
    cursor.take([12, 17, 20], now=1)
    assert cursor.holes() == [(13, 13), (16, 16), (18, 18)]
    cursor.take([], now=61)
    assert cursor.holes() == []
    assert not cursor.overflowed
    crowded = ChangeCursor(0, wait=60, max_holes=2)
    crowded.take([2, 4, 6, 8], now=0)
    assert crowded.overflowed and len(crowded.holes()) == 2
