"""The seed restrictions on a mixed fleet: the findings a person reading each decision would expect."""

from __future__ import annotations

import datetime as dt

import pytest

from appban.catalog import default_catalog
from appban.compliance import DeviceInventory, Rule, compile_rule, evaluate
from appban.inventory import Visibility
from appban.model import App, Device, Exemption, FindingState, Funding, Ownership, Platform
from tests.policy.seed import restriction, tree

C, P = Ownership.CORPORATE, Ownership.PERSONAL
TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")
TIKTOK_IOS = App(Platform.IOS, "com.zhiliaoapp.musically")
CAPCUT = App(Platform.ANDROID, "com.lemon.lvoverseas")
SIGNAL = App(Platform.ANDROID, "org.thoughtcrime.securesms")
NOW = dt.datetime(2023, 6, 1, 12, tzinfo=dt.UTC)
STALE = dt.timedelta(days=30)


def rule(restriction_id: str, adopters: tuple[str, ...] = ()) -> Rule:
    return compile_rule(restriction(restriction_id), default_catalog(), tree(), adopters)


def device(org: str, ownership: Ownership, funding: Funding, enrolled: bool, platform: Platform = Platform.ANDROID,
           holder: str | None = None) -> Device:
    return Device(id=f"{org}-{ownership}-{funding}-{enrolled}-{platform}", organisation=org, platform=platform,
                  ownership=ownership, funding=funding, enrolled=enrolled, holder=holder)


def inventory(dev: Device, apps: dict[App, dt.datetime], visibility: Visibility = Visibility.FULL,
              observed: dt.datetime = NOW - dt.timedelta(hours=2)) -> DeviceInventory:
    return DeviceInventory(device=dev.id, observed_at=observed, visibility=visibility, apps=apps)


SINCE_MARCH = dt.datetime(2023, 3, 1, tzinfo=dt.UTC)
RECENTLY = NOW - dt.timedelta(days=3)

CASES = [
    # The Commission: TikTok since before the decision -> deadline 15 March has passed; mail and chat cut.
    ("eu-commission-tiktok-2023", device("eu-commission", C, Funding.FULL, True), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, FindingState.NON_COMPLIANT),
    # ... a phone that installed TikTok three days ago has its own 20 days.
    ("eu-commission-tiktok-2023", device("eu-commission-dg-digit", C, Funding.FULL, True), {TIKTOK: RECENTLY},
     Visibility.FULL, FindingState.GRACE),
    ("eu-commission-tiktok-2023", device("eu-commission", C, Funding.FULL, True), {SIGNAL: SINCE_MARCH},
     Visibility.FULL, FindingState.COMPLIANT),
    # ... an enrolled personal iPhone: the device service sees managed apps only, so "no TikTok seen" is unknown.
    ("eu-commission-tiktok-2023", device("eu-commission", P, Funding.NONE, True, Platform.IOS), {},
     Visibility.MANAGED_ONLY, FindingState.UNKNOWN),
    ("eu-commission-tiktok-2023", device("eu-commission", P, Funding.NONE, True, Platform.IOS),
     {TIKTOK_IOS: SINCE_MARCH}, Visibility.MANAGED_ONLY, FindingState.NON_COMPLIANT),
    ("eu-commission-tiktok-2023", device("eu-commission", P, Funding.NONE, False), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, None),
    # CapCut is not TikTok: the Commission's restriction does not reach it.
    ("eu-commission-tiktok-2023", device("eu-commission", C, Funding.FULL, True), {CAPCUT: SINCE_MARCH},
     Visibility.FULL, FindingState.COMPLIANT),
    # Belgium: a partly funded personal phone with TikTok is banned; an unfunded one is only advised.
    ("be-federal-tiktok-2023", device("be-federal", P, Funding.PARTIAL, False), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, FindingState.NON_COMPLIANT),
    ("be-federal-tiktok-personal-2023", device("be-federal", P, Funding.NONE, False), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, FindingState.ADVISED),
    ("be-federal-tiktok-2023", device("be-gent", C, Funding.FULL, True), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, None),  # Ghent has not adopted the recommendation
    # Denmark: advice only, never a cut.
    ("dk-parliament-tiktok-2023", device("dk-parliament", C, Funding.FULL, True), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, FindingState.ADVISED),
    # United States: the 2022 act does not reach CapCut; PAFACA (from April 2024) would.
    ("us-federal-tiktok-2022", device("us-federal", C, Funding.FULL, True), {CAPCUT: SINCE_MARCH},
     Visibility.FULL, FindingState.COMPLIANT),
    ("us-federal-tiktok-2022", device("us-federal", C, Funding.FULL, True), {TIKTOK: SINCE_MARCH},
     Visibility.FULL, FindingState.NON_COMPLIANT),
    ("us-pafaca-2024", device("us-federal", C, Funding.FULL, True), {CAPCUT: SINCE_MARCH},
     Visibility.FULL, None),  # not in force on 1 June 2023
]


@pytest.mark.parametrize(("restriction_id", "dev", "apps", "visibility", "expected"), CASES,
                         ids=[f"{c[0]}-{c[1].id}-{'+'.join(a.identifier for a in c[2]) or 'none'}" for c in CASES])
def test_seed_findings(restriction_id: str, dev: Device, apps: dict[App, dt.datetime], visibility: Visibility,
                       expected: FindingState | None) -> None:
    verdict = evaluate(rule(restriction_id), dev, inventory(dev, apps, visibility), NOW, staleness=STALE)
    assert (verdict.state if verdict else None) is expected


def test_pafaca_catches_capcut_once_in_force() -> None:
    dev = device("us-federal", C, Funding.FULL, True)
    later = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    verdict = evaluate(rule("us-pafaca-2024"), dev, inventory(dev, {CAPCUT: later - dt.timedelta(days=40)},
                                                            observed=later), later, staleness=STALE)
    assert verdict is not None
    assert verdict.state is FindingState.NON_COMPLIANT
    assert verdict.apps == frozenset({CAPCUT})


def test_adoption_brings_ghent_under_the_belgian_ban() -> None:
    dev = device("be-gent", C, Funding.FULL, True)
    verdict = evaluate(rule("be-federal-tiktok-2023", ("be-flanders",)), dev, inventory(dev, {TIKTOK: SINCE_MARCH}),
                       NOW, staleness=STALE)
    assert verdict is not None
    assert verdict.state is FindingState.NON_COMPLIANT


def test_grace_deadline_counts_from_first_sighting_not_from_the_decision() -> None:
    dev = device("eu-commission", C, Funding.FULL, True)
    installed = dt.datetime(2023, 5, 25, 9, tzinfo=dt.UTC)
    verdict = evaluate(rule("eu-commission-tiktok-2023"), dev, inventory(dev, {TIKTOK: installed}), NOW,
                       staleness=STALE)
    assert verdict is not None
    assert verdict.state is FindingState.GRACE
    assert verdict.deadline == installed + dt.timedelta(days=20)
    early = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)  # before the decision: the deadline is 23 Feb + 20 days
    verdict = evaluate(rule("eu-commission-tiktok-2023"), dev, inventory(dev, {TIKTOK: early}), NOW, staleness=STALE)
    assert verdict is not None
    assert verdict.deadline == dt.datetime(2023, 3, 15, tzinfo=dt.UTC)


def test_stale_inventory_is_unknown_and_exemption_wins() -> None:
    dev = device("eu-commission", C, Funding.FULL, True, holder="press@ec.example")
    old = inventory(dev, {TIKTOK: SINCE_MARCH}, observed=NOW - dt.timedelta(days=31))
    verdict = evaluate(rule("eu-commission-tiktok-2023"), dev, old, NOW, staleness=STALE)
    assert verdict is not None
    assert verdict.state is FindingState.UNKNOWN
    exemption = Exemption(id="x1", restriction="eu-commission-tiktok-2023", reason="official account",
                          approver="ciso", ends=NOW + dt.timedelta(days=90), holder="press@ec.example")
    verdict = evaluate(rule("eu-commission-tiktok-2023"), dev, inventory(dev, {TIKTOK: SINCE_MARCH}), NOW,
                       staleness=STALE, exemption=exemption)
    assert verdict is not None
    assert verdict.state is FindingState.EXEMPT
