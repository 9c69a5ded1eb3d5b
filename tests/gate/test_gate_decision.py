"""`decide`: the rules one by one, then properties over any table (Hypothesis), then its cost."""

from __future__ import annotations

import datetime as dt
import timeit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appban.gate import (
    ALLOWED,
    DecisionTable,
    DeviceInfo,
    FindingInfo,
    GateToken,
    RestrictionInfo,
    Result,
    build_table,
    compile_device,
    decide,
    header_text,
)
from appban.model import FindingState, Platform, UnknownCounts

NOW = dt.datetime(2023, 3, 20, 9, 0, tzinfo=dt.UTC)
MAIL = RestrictionInfo(id="eu-tiktok", version=3, title="TikTok off corporate devices",
                       rationale="To protect the Commission's data.", cuts=frozenset({"mail", "chat"}),
                       unknown_counts_as=UnknownCounts.NON_COMPLIANT)
LENIENT = RestrictionInfo(id="be-tiktok", version=1, title="TikTok off federal devices", rationale="",
                          cuts=frozenset({"mail"}), unknown_counts_as=UnknownCounts.COMPLIANT)
ADVISORY = RestrictionInfo(id="dk-tiktok", version=1, title="TikTok advised off", rationale="", cuts=frozenset(),
                           unknown_counts_as=UnknownCounts.NON_COMPLIANT)
RESTRICTIONS = {r.id: r for r in (MAIL, LENIENT, ADVISORY)}
TIKTOK = "TikTok (com.zhiliaoapp.musically)"


def finding(state: FindingState, restriction: RestrictionInfo = MAIL, *, deadline: dt.datetime | None = None,
            shadow: bool = False, reason: str = "holds com.zhiliaoapp.musically") -> FindingInfo:
    return FindingInfo(restriction=restriction.id, version=restriction.version, state=state, reason=reason,
                       deadline=deadline, apps=(TIKTOK,) if state is not FindingState.UNKNOWN else (), shadow=shadow)


def table_of(*devices: DeviceInfo, allow_unknown: bool = False) -> DecisionTable:
    entries = [compile_device(d, RESTRICTIONS, f"/remediate/{d.id}-token" if d.findings else None) for d in devices]
    return build_table(entries, RESTRICTIONS, {}, allow_unknown=allow_unknown)


def device(device_id: str, *findings: FindingInfo, organisation: str = "eu-commission") -> DeviceInfo:
    return DeviceInfo(id=device_id, organisation=organisation, holder=None, platform=Platform.ANDROID,
                      findings=findings)


def test_non_compliant_denies_the_services_cut_and_names_what_to_do() -> None:
    table = table_of(device("d", finding(FindingState.NON_COMPLIANT, deadline=NOW - dt.timedelta(days=5))))
    denied = decide(table, "d", "mail", NOW)
    assert denied.result is Result.DENY
    assert denied.restriction == "eu-tiktok"
    assert denied.remediation == "/remediate/d-token"
    assert denied.versions == (("eu-tiktok", 3),)
    assert "TikTok (com.zhiliaoapp.musically) must be removed" in denied.reason
    assert "TikTok off corporate devices" in denied.reason
    assert decide(table, "d", "calendar", NOW) is decide(table, "d", "wiki", NOW)  # not cut: the shared answer
    assert decide(table, "d", "calendar", NOW).allowed
    assert decide(table, "d", None, NOW).result is Result.DENY  # no service: every service it cuts


def test_grace_warns_until_the_deadline_then_denies_by_the_clock() -> None:
    deadline = NOW + dt.timedelta(days=3)
    table = table_of(device("d", finding(FindingState.GRACE, deadline=deadline)))
    before = decide(table, "d", "mail", NOW)
    assert before.allowed
    assert before.warning is not None
    assert before.warning.startswith("remove TikTok (com.zhiliaoapp.musically) by 2023-03-23 09:00 UTC")
    assert "chat, mail" in before.warning
    assert before.remediation == "/remediate/d-token"
    after = decide(table, "d", "mail", deadline)
    assert after.result is Result.DENY
    assert "ended 2023-03-23 09:00 UTC" in after.reason
    assert decide(table, "d", "calendar", deadline).warning is None


def test_unknown_denies_only_where_it_counts_as_non_compliant() -> None:
    reason = "the source cannot see personal apps on this device"
    table = table_of(device("strict", finding(FindingState.UNKNOWN, reason=reason)),
                     device("lenient", finding(FindingState.UNKNOWN, LENIENT, reason=reason)))
    denied = decide(table, "strict", "mail", NOW)
    assert denied.result is Result.DENY
    assert "inventory missing, stale or not visible" in denied.reason
    assert reason in denied.reason
    assert decide(table, "lenient", "mail", NOW) is ALLOWED


@pytest.mark.parametrize("state", [FindingState.EXEMPT, FindingState.ADVISED, FindingState.COMPLIANT])
def test_exempt_advised_and_compliant_allow(state: FindingState) -> None:
    table = table_of(device("d", finding(state, deadline=NOW + dt.timedelta(days=30))))
    assert decide(table, "d", "mail", NOW).allowed
    assert decide(table, "d", None, NOW).warning is None


def test_a_restriction_that_cuts_nothing_never_denies() -> None:
    table = table_of(device("d", finding(FindingState.NON_COMPLIANT, ADVISORY)))
    assert decide(table, "d", "mail", NOW) is ALLOWED


def test_shadow_findings_never_deny_but_are_noted() -> None:
    table = table_of(device("d", finding(FindingState.NON_COMPLIANT, shadow=True)))
    decision = decide(table, "d", "mail", NOW)
    assert decision.allowed
    assert decision.warning is None
    assert decision.notes == ("shadow restriction eu-tiktok would deny: TikTok (com.zhiliaoapp.musically) must be "
                              "removed from this device (TikTok off corporate devices)",)
    assert decision.versions == (("eu-tiktok", 3),)


def test_unknown_devices_are_denied_unless_allowed() -> None:
    denied = decide(table_of(), "nobody", "mail", NOW)
    assert denied.result is Result.DENY
    assert denied.reason == "device not known to appban"
    assert denied.remediation == "/remediate/"
    assert decide(table_of(allow_unknown=True), "nobody", "mail", NOW).allowed


def test_a_token_judges_only_its_organisations_devices() -> None:
    table = table_of(device("d", organisation="be-federal"))
    assert decide(table, "d", "mail", NOW, within=frozenset({"be-federal", "be-flanders"})).allowed
    outside = decide(table, "d", "mail", NOW, within=frozenset({"eu-commission"}))
    assert outside.reason == "device not known to appban"


def test_denial_comes_first_and_the_earliest_grace_warns() -> None:
    soon, later = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=9)
    other = RestrictionInfo(id="a-other", version=1, title="Other", rationale="", cuts=frozenset({"mail"}),
                            unknown_counts_as=UnknownCounts.NON_COMPLIANT)
    restrictions = {**RESTRICTIONS, other.id: other}
    info = device("d", finding(FindingState.GRACE, deadline=later), finding(FindingState.GRACE, other, deadline=soon))
    table = build_table([compile_device(info, restrictions, "/r")], restrictions, {}, allow_unknown=False)
    decision = decide(table, "d", "mail", NOW)
    assert decision.warning is not None
    assert "2023-03-21" in decision.warning
    assert {r for r, _ in decision.versions} == {"eu-tiktok", "a-other"}
    assert decide(table, "d", "mail", soon).restriction == "a-other"


def test_header_texts_are_one_line_of_printable_ascii() -> None:
    assert header_text("Liège\r\nX-Evil: 1\t<ok>") == "Liege X-Evil: 1 <ok>"
    assert len(header_text("x" * 5000)) == 400


# --- properties -------------------------------------------------------------------------------------------

SERVICES = st.sampled_from(["mail", "chat", "wiki"])
STATES = st.sampled_from(list(FindingState))
RESTRICTION = st.builds(
    RestrictionInfo, id=st.sampled_from(["r1", "r2", "r3"]), version=st.integers(1, 5), title=st.text(max_size=30),
    rationale=st.just(""), cuts=st.frozensets(SERVICES, max_size=3),
    unknown_counts_as=st.sampled_from(list(UnknownCounts)))
TIMES = st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2024, 1, 1), timezones=st.just(dt.UTC))


@st.composite
def tables(draw: st.DrawFn) -> tuple[DecisionTable, list[str]]:
    restrictions = {r.id: r for r in draw(st.lists(RESTRICTION, max_size=3, unique_by=lambda r: r.id))}
    devices = []
    for index in range(draw(st.integers(0, 6))):
        findings = draw(st.lists(st.builds(
            FindingInfo, restriction=st.sampled_from(["r1", "r2", "r3"]), version=st.integers(1, 5), state=STATES,
            reason=st.text(max_size=20), deadline=st.none() | TIMES, apps=st.just((TIKTOK,)), shadow=st.booleans()),
            max_size=3, unique_by=lambda f: f.restriction))
        devices.append(DeviceInfo(id=f"d{index}", organisation="org", holder=None, platform=Platform.IOS,
                                  findings=tuple(findings)))
    entries = [compile_device(d, restrictions, f"/remediate/{d.id}" if d.findings else None) for d in devices]
    return build_table(entries, restrictions, {}, allow_unknown=False), [d.id for d in devices]


@settings(max_examples=200, deadline=None)
@given(tables(), st.none() | SERVICES, TIMES)
def test_a_denial_always_names_a_restriction_and_the_remediation_page(
        built: tuple[DecisionTable, list[str]], service: str | None, now: dt.datetime) -> None:
    table, ids = built
    for device_id in ids:
        decision = decide(table, device_id, service, now)
        if decision.result is Result.DENY:
            assert decision.restriction is not None
            assert decision.restriction in {r for r, _ in decision.versions}
            assert decision.remediation == f"/remediate/{device_id}"
            assert decision.reason and decision.warning is None
            restriction = table.restrictions[decision.restriction]
            assert service is None or service in restriction.cuts
        if decision.warning is not None:
            assert decision.allowed and decision.remediation == f"/remediate/{device_id}"


def reference(table: DecisionTable, device_id: str, service: str | None, now: dt.datetime) -> tuple[Result, bool]:
    """The rules of docs/gate.md read literally, finding by finding: (result, whether a warning is due)."""
    denied = warned = False
    for f in table.devices[device_id].device.findings:
        r = table.restrictions.get(f.restriction)
        if r is None or f.shadow or not r.cuts or (service is not None and service not in r.cuts):
            continue
        if f.state is FindingState.NON_COMPLIANT or (
                f.state is FindingState.UNKNOWN and r.unknown_counts_as is UnknownCounts.NON_COMPLIANT):
            denied = True
        elif f.state is FindingState.GRACE:
            if f.deadline is not None and now >= f.deadline:
                denied = True
            else:
                warned = True
    return (Result.DENY, False) if denied else (Result.ALLOW, warned)


@settings(max_examples=200, deadline=None)
@given(tables(), st.none() | SERVICES, TIMES)
def test_the_compiled_table_agrees_with_the_rules_read_literally(built: tuple[DecisionTable, list[str]],
                                                                 service: str | None, now: dt.datetime) -> None:
    table, ids = built
    for device_id in ids:
        decision = decide(table, device_id, service, now)
        assert (decision.result, decision.warning is not None) == reference(table, device_id, service, now)


@settings(max_examples=200, deadline=None)
@given(tables(), st.none() | SERVICES, TIMES)
def test_no_findings_or_only_shadow_findings_always_allow(built: tuple[DecisionTable, list[str]],
                                                          service: str | None, now: dt.datetime) -> None:
    table, ids = built
    for device_id in ids:
        findings = table.devices[device_id].device.findings
        if all(f.shadow for f in findings):
            decision = decide(table, device_id, service, now)
            assert decision.allowed and decision.warning is None


@settings(max_examples=200, deadline=None)
@given(tables(), st.none() | SERVICES, TIMES, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=90)))
def test_decisions_only_tighten_as_time_passes(built: tuple[DecisionTable, list[str]], service: str | None,
                                               now: dt.datetime, later: dt.timedelta) -> None:
    table, ids = built
    for device_id in ids:
        if decide(table, device_id, service, now).result is Result.DENY:
            assert decide(table, device_id, service, now + later).result is Result.DENY


@settings(max_examples=100, deadline=None)
@given(tables(), SERVICES, TIMES)
def test_no_service_is_at_least_as_strict_as_any_service(built: tuple[DecisionTable, list[str]], service: str,
                                                          now: dt.datetime) -> None:
    table, ids = built
    for device_id in ids:
        if decide(table, device_id, service, now).result is Result.DENY:
            assert decide(table, device_id, None, now).result is Result.DENY


# --- cost -------------------------------------------------------------------------------------------------


def test_decide_takes_microseconds_on_a_table_of_100_000_devices() -> None:
    devices = []
    for index in range(100_000):
        findings: tuple[FindingInfo, ...] = ()
        if index % 10 == 0:
            findings = (finding(FindingState.NON_COMPLIANT, deadline=NOW),)
        elif index % 10 == 1:
            findings = (finding(FindingState.GRACE, deadline=NOW + dt.timedelta(days=2)),)
        elif index % 10 == 2:  # two restrictions: a grace period, and a shadow one that would deny
            findings = (finding(FindingState.GRACE, deadline=NOW + dt.timedelta(days=2)),
                        finding(FindingState.NON_COMPLIANT, LENIENT, shadow=True))
        devices.append(device(f"device-{index:06d}", *findings))
    table = table_of(*devices)
    table = DecisionTable(table.devices, table.restrictions, {"h": GateToken("t", "n", "eu-commission",
                                                                             frozenset({"eu-commission"}), None)},
                          table.unknown)
    within = frozenset({"eu-commission"})
    for device_id, expected in (("device-000000", Result.DENY), ("device-000001", Result.ALLOW),
                                ("device-000002", Result.ALLOW), ("device-000003", Result.ALLOW),
                                ("nobody", Result.DENY)):
        assert decide(table, device_id, "mail", NOW, within=within).result is expected
        runs = 20_000
        seconds = min(timeit.repeat(lambda d=device_id: decide(table, d, "mail", NOW, within=within),  # type: ignore[misc]
                                    number=runs, repeat=3)) / runs
        assert seconds < 5e-6, f"{device_id}: {seconds * 1e6:.2f} us per decision"
