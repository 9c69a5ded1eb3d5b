"""The dashboard's figures counted in SQL (`compliance_counts`) equal `compliance_report`'s, which reads every
device; and the Devices list pages by keyset cursor."""

from __future__ import annotations

import datetime as dt

import pytest

from appban.service import compliance_report, load_context
from appban.service.reporting import compliance_counts, restriction_counts
from appban.store import Database, DeviceRepository

from .conftest import Site
from .support import seed


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
            only = restriction_counts(session, context, home, now)
            assert [(s.restriction, s.by_organisation) for s in only] == [
                (s.restriction, s.by_organisation) for s in counts.restrictions]
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
