"""The dashboard's figures counted in SQL (`compliance_counts`) equal `compliance_report`'s, which reads every
device; and the Devices list pages by keyset cursor."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable

import pytest

from appban.service import CountsCache, compliance_report, load_context
from appban.service.reporting import compliance_counts
from appban.store import Database, DeviceRepository
from appban.web import create_web

from .conftest import SECRET, Site, csrf_of
from .support import EU_RESTRICTION, TIKTOK, TIKTOK_IOS, seed
from .test_web_pages import _count


@pytest.mark.parametrize(("days_later", "days"), [(0, 30), (0, 2), (30, 30)])
def test_counts_in_sql_equal_the_report(database: Database, days_later: int, days: int) -> None:
    seeded = seed(database)
    now = seeded["now"] + dt.timedelta(days=days_later)
    with database.session() as session:
        context = load_context(session)
        for home in [None, "eu-commission", "eu-commission-dg-digit", "be-leuven", "be-flanders"]:
            if home is not None and home not in context.tree:
                continue
            report = compliance_report(session, context, home, now, days=days)
            counts = compliance_counts(session, context, home, now, days=days)
            assert [s.restriction for s in counts.restrictions] == [s.restriction for s in report.restrictions]
            for mine, theirs in zip(counts.restrictions, report.restrictions, strict=True):
                assert {o: dict(c) for o, c in mine.by_organisation.items() if sum(c.values())} == {
                    o: dict(c) for o, c in theirs.by_organisation.items() if sum(c.values())}, (home, mine.restriction)
            assert counts.devices == report.devices
            assert counts.stale_devices == report.stale_devices
            assert counts.trend == report.trend
            if home in (None, "eu-commission"):  # the comparison is not between two empty reports
                assert any(sum(s.totals().values()) for s in counts.restrictions)
                assert any(nc or grace for _, nc, grace in counts.trend)
                assert counts.trend[0][1] or counts.trend[0][2] or days == 30  # a count carried into the window
                assert counts.stale_devices or days_later == 0


def test_device_pages_by_keyset(database: Database) -> None:
    seed(database)
    with database.session() as session:
        devices = DeviceRepository(session)
        everything, total = devices.page(limit=100)
        ids = [d.id for d in everything]
        first, _ = devices.page(limit=3)
        second, counted = devices.page(limit=3, after=first[-1].id, offset=99)
        assert [d.id for d in first + second] == ids[:6] and counted == total
        back, _ = devices.page(limit=3, after=second[0].id, descending=True)
        assert [d.id for d in reversed(back)] == ids[:3]
        with pytest.raises(ValueError, match="keyset"):
            devices.page(order="platform", after=ids[0])


def test_devices_page_next_and_previous_links_carry_cursors(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("appban.web.app.PAGE_SIZE", 3)
    client = site.signed_in("ec-admin")
    first = client.get("/devices")
    assert first.status_code == 200
    with site.database.session() as session:
        ids = [d.id for d in DeviceRepository(session).page(
            organisations=None, limit=100)[0] if d.id.startswith("eu/")]
    assert f"after={ids[2].replace('/', '%2F')}" in first.text
    second = client.get(f"/devices?start=3&after={ids[2]}")
    assert ids[3] in second.text and ids[2] not in second.text
    assert f"before={ids[3].replace('/', '%2F')}" in second.text
    back = client.get(f"/devices?start=0&before={ids[3]}")
    assert all(i in back.text for i in ids[:3]) and ids[3] not in back.text


class _Held:
    """Background refreshes held until the test lets them run."""

    def __init__(self) -> None:
        self.work: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.work.append(work)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_slow_counts_are_served_from_the_last_count_marked_while_a_refresh_runs(database: Database) -> None:
    seeded = seed(database)
    held = _Held()
    site = Site(database=database, seeded=seeded, app=create_web(
        database, secret=SECRET, counts=CountsCache(budget=-1.0, background=held)))  # every count "slow"
    client = site.signed_in("ec-admin")
    first = client.get("/").text
    assert _count(first, EU_RESTRICTION, "non_compliant") == 2 and "newer changes are being counted" not in first
    device = client.get("/devices/eu/phone-1")
    granted = client.post("/exemptions", data={
        "csrf": csrf_of(device.text), "restriction": EU_RESTRICTION, "device": "eu/phone-1", "reason": "press office",
        "approver": "DIGIT security", "ends": (dt.date.today() + dt.timedelta(days=20)).isoformat()})
    assert granted.status_code == 303

    stale = client.get("/").text
    assert _count(stale, EU_RESTRICTION, "non_compliant") == 2  # the last count, said to be older
    assert "newer changes are being counted" in stale
    assert "newer changes are being counted" in client.get(f"/restrictions/{EU_RESTRICTION}").text
    assert len(held.work) == 1  # one refresh for both views
    held.work.pop()()
    fresh = client.get("/").text
    assert _count(fresh, EU_RESTRICTION, "non_compliant") == 1 and "newer changes are being counted" not in fresh


def test_the_app_filter_runs_in_the_database_with_the_others_and_pages_by_keyset(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    with site.database.session() as session:
        devices = DeviceRepository(session)
        holding = sorted(devices.ids_holding([TIKTOK, TIKTOK_IOS]))
        everything, total = devices.page(app=TIKTOK.identifier, limit=100)
        assert [d.id for d in everything] == holding and total == len(holding) >= 3
        android, _ = devices.page(app=TIKTOK.identifier, platform="android", limit=100)
        assert {d.id for d in android} == {d for d in holding if d in devices.ids_holding([TIKTOK])}
        assert devices.page(app="com.example.nobody", limit=100) == ([], 0)
    monkeypatch.setattr("appban.web.app.PAGE_SIZE", 2)
    client = site.signed_in("ec-admin")
    first = client.get(f"/devices?app={TIKTOK.identifier}")
    assert first.status_code == 200
    visible = [d for d in holding if d.startswith("eu/")]
    assert all(d in first.text for d in visible[:2]) and visible[2] not in first.text
    assert f"after={visible[1].replace('/', '%2F')}" in first.text  # a keyset link, the filter kept
    second = client.get(f"/devices?app={TIKTOK.identifier}&start=2&after={visible[1]}")
    assert visible[2] in second.text and visible[0] not in second.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_warm_start_counts_every_signed_up_organisation_before_its_first_view(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = seed(database)
    held = _Held()
    app = create_web(database, secret=SECRET, counts=CountsCache(background=held), warm_counts=True)
    deadline = time.monotonic() + 10
    while len(held.work) < 2 and time.monotonic() < deadline:  # the warm-up reads the users on a thread
        time.sleep(0.02)
    time.sleep(0.1)
    for work in held.work:
        work()
    assert len(held.work) >= 2  # one per organisation with users, among them the Commission's

    def not_in_the_request(*args: object, **kwargs: object) -> None:
        raise AssertionError("the first view counted in its request")

    monkeypatch.setattr("appban.web.app.compliance_counts", not_in_the_request)
    client = Site(database=database, seeded=seeded, app=app).signed_in("ec-admin")
    assert _count(client.get("/").text, EU_RESTRICTION, "non_compliant") == 2


def test_the_search_box_finds_a_holders_devices_or_ids_by_their_start_within_scope(site: Site) -> None:
    client = site.signed_in("ec-admin")

    def listed(query: str) -> list[str]:
        page = client.get("/devices", params={"q": query})
        assert page.status_code == 200
        return re.findall(r'<tr data-device="([^"]+)"', page.text)

    assert listed("ana@ec.example.eu") == ["eu/phone-1"]
    assert listed("eu/phone-") == sorted(d for d in listed("") if d.startswith("eu/phone-")) != []
    assert listed("eu/phone-1") == ["eu/phone-1"]
    assert listed("eu/%") == [] and listed("eu/_hone-1") == []  # LIKE's wildcards are plain characters here
    assert listed("jan@leuven.example.be") == [] and listed("leuven/") == []  # another organisation's: not found
    assert 'value="eu/phone-1"' in client.get("/devices", params={"q": "eu/phone-1"}).text  # the box keeps it
