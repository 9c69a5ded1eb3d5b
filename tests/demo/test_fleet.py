"""The demo fleet: deterministic, realistic shares, only organisations the seed cases have, every story."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from appban.catalog import default_catalog
from appban.demo import BYTEDANCE_APPS, PROFILES, Fleet, Story, generate_fleet
from appban.inventory import Visibility
from appban.model import App, Organisation, Ownership, Platform
from appban.policy import read_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
END = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
PHONES = (Platform.ANDROID, Platform.IOS, Platform.IPADOS)


def organisations() -> list[Organisation]:
    files = sorted((EXAMPLES / "organisations").glob("*.yaml"))
    batch = read_batch([(str(p), p.read_text(encoding="utf-8")) for p in files], known=[], catalog=default_catalog())
    return [entry.organisation for entry in batch.organisations]


@pytest.fixture(scope="module")
def full() -> Fleet:
    return generate_fleet(organisations(), end=END)


def digest(fleet: Fleet) -> str:
    h = hashlib.sha256()
    for day in fleet.days:
        for r in day.reports:
            h.update(f"{day.index}|{r.device_id}|{r.observed_at}|{r.platform}|{r.ownership}|{r.funding}|{r.enrolled}|"
                     f"{r.visibility}|{r.holder}|{sorted(str(a.app) for a in r.apps)}\n".encode())
    for e in fleet.exemptions:
        h.update(repr(e).encode())
    return h.hexdigest()


def test_same_seed_same_fleet() -> None:
    a = generate_fleet(organisations(), end=END, size=0.05)
    b = generate_fleet(organisations(), end=END, size=0.05)
    assert a == b
    c = generate_fleet(organisations(), end=END, size=0.05, seed=7)
    assert digest(c) != digest(a)


def test_same_fleet_in_another_process() -> None:
    """Nothing depends on Python's per-process string hashing."""
    root = str(EXAMPLES.parent)
    code = (f"import sys; sys.path.insert(0, {root!r}); from tests.demo.test_fleet import *; "
            "print(digest(generate_fleet(organisations(), end=END, size=0.02)))")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert digests == {digest(generate_fleet(organisations(), end=END, size=0.02))}


def test_sizes_and_organisations(full: Fleet) -> None:
    known = {org.id for org in organisations()}
    assert set(PROFILES) <= known
    by_org = Counter(d.organisation for d in full.devices)
    assert set(by_org) <= known
    assert sum(n for org, n in by_org.items() if org.startswith("eu-commission")) == 32_000
    assert by_org["dk-parliament"] > 0
    assert sum(n for org, n in by_org.items() if org.startswith("be-")) > 5_000
    assert "us-federal" not in by_org
    assert len({d.id for d in full.devices}) == len(full.devices)
    holders = {h.email for h in full.holders}
    assert len(holders) == len(full.holders)  # one person per address, across organisations sharing a domain
    assert {d.holder for d in full.devices} == holders
    assert all(h.endswith(".example") for h in holders)  # nobody real is ever mailed


def test_mix_of_platforms_ownership_and_visibility(full: Fleet) -> None:
    n = len(full.devices)
    platforms = Counter(d.platform for d in full.devices)
    assert (platforms[Platform.ANDROID] + platforms[Platform.IOS] + platforms[Platform.IPADOS]) / n > 0.8
    assert 0.02 < (platforms[Platform.WINDOWS] + platforms[Platform.MACOS]) / n < 0.2
    personal = [d for d in full.devices if d.ownership is Ownership.PERSONAL]
    assert 0.1 < len(personal) / n < 0.3
    assert all(d.visibility is Visibility.MANAGED_ONLY for d in personal)
    assert any(not d.enrolled for d in personal) and any(d.enrolled for d in personal)
    silent = [d for d in full.devices if d.silent_day is not None]
    assert 0.01 < len(silent) / n < 0.03
    apps = Counter(str(a.app) for d in full.devices for a in d.apps)
    assert apps["android:com.microsoft.office.outlook"] > 10_000
    assert apps["ios:net.whatsapp.WhatsApp"] > 5_000
    assert len(apps) > 1_000  # a long tail


def test_bytedance_shares(full: Fleet) -> None:
    by_org = Counter(d.organisation for d in full.devices)
    phones = Counter(d.organisation for d in full.devices if d.platform in PHONES)
    holding = Counter(d.organisation for d in full.devices if d.family is not None)
    for org, profile in PROFILES.items():
        if by_org[org] >= 1_000:
            assert 0.75 * profile.bytedance_share <= holding[org] / phones[org] <= 1.25 * profile.bytedance_share
    for prefix in ("eu-", "be-", "dk-"):
        share = (sum(n for o, n in holding.items() if o.startswith(prefix))
                 / sum(n for o, n in by_org.items() if o.startswith(prefix)))
        assert 0.02 <= share <= 0.09, prefix
    families = Counter(d.family for d in full.devices if d.family)
    assert set(families) == set(BYTEDANCE_APPS)
    assert families["tiktok"] > sum(families.values()) / 2


def test_bytedance_identities_are_the_catalogues() -> None:
    catalog = default_catalog()
    for family, by_platform in BYTEDANCE_APPS.items():
        for platform, identifiers in by_platform.items():
            for identifier in identifiers:
                found = catalog.family_of(App(platform, identifier))
                assert found is not None and found.id == family, (family, platform, identifier)


def test_history(full: Fleet) -> None:
    assert [d.at for d in full.days] == sorted(d.at for d in full.days)
    assert full.days[-1].at == END
    first = {r.device_id for day in full.days if day.index == 0 for r in day.reports}
    silent = {d.id for d in full.devices if d.silent_day is not None}
    assert first == {d.id for d in full.devices} - silent
    last_seen = {r.device_id: r.observed_at for day in full.days for r in day.reports}
    assert all(END - last_seen[d] > dt.timedelta(days=30) for d in silent)
    assert all(END - seen < dt.timedelta(days=30) for d, seen in last_seen.items() if d not in silent)
    for day in full.days:
        assert all(r.observed_at <= day.at for r in day.reports)


def test_small_fleet_keeps_every_story() -> None:
    fleet = generate_fleet(organisations(), end=END, size=0.01)
    eu = Counter(d.story for d in fleet.devices if d.organisation == "eu-commission" and d.family == "tiktok"
                 and d.ownership is Ownership.CORPORATE and d.visibility is Visibility.FULL)
    assert eu[Story.KEPT] >= 2 and eu[Story.REMOVED] >= 1 and eu[Story.RECENT] >= 1 and eu[Story.LATE_KEPT] >= 1
    assert len(fleet.exemptions) >= 3
    assert all(e.restriction == "eu-commission-tiktok-2023" and e.reason and e.approver for e in fleet.exemptions)


def test_visible_apps_follow_the_story(full: Fleet) -> None:
    device = next(d for d in full.devices if d.story is Story.REMOVED and d.visibility is Visibility.FULL)
    assert device.bytedance is not None and device.removed is not None
    assert device.bytedance in full.visible_apps(device, device.removed - 1)
    assert device.bytedance not in full.visible_apps(device, device.removed)
    hidden = next(d for d in full.devices if d.family and d.visibility is Visibility.MANAGED_ONLY)
    assert hidden.bytedance not in full.visible_apps(hidden, 0)  # the personal side is invisible


def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="UTC"):
        generate_fleet(organisations(), end=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="weeks"):
        generate_fleet(organisations(), end=END, weeks=6)
