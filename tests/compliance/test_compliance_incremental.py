"""The incremental engine always equals the full re-evaluation, over random fleets, restrictions and events."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appban.compliance import Engine, Rule, full_evaluation
from appban.errors import Location
from appban.inventory import DeviceReport, InstalledApp, ReportKind, Visibility
from appban.model import (
    App,
    Attestation,
    ChildPolicy,
    Device,
    Exemption,
    Funding,
    Lifecycle,
    Ownership,
    Platform,
    Restriction,
    Scope,
    Strictness,
    Target,
    TargetKind,
)
from appban.policy import AnyOf, Everything, Match
from appban.policy.scope import DeviceAttribute

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
APPS = [App(Platform.ANDROID, f"com.example.app{i}") for i in range(5)]
DEVICES = [f"d{i}" for i in range(7)]
ORGS = ["root", "a", "b", "a1"]
HOLDERS = ["h0@example.org", "h1@example.org", "h2@example.org"]
RULE_IDS = ["r0", "r1", "r2"]


def staleness(org: str) -> dt.timedelta:
    return dt.timedelta(days=15 if org.startswith("a") else 90)


selectors = st.sampled_from([
    Everything(),
    Match(DeviceAttribute.OWNERSHIP, frozenset({"corporate"})),
    AnyOf((Match(DeviceAttribute.OWNERSHIP, frozenset({"corporate"})),
           Match(DeviceAttribute.ENROLLED, frozenset({"true"})))),
    Match(DeviceAttribute.FUNDING, frozenset({"full", "partial"})),
])


@st.composite
def rules(draw: st.DrawFn, rule_id: str | None = None) -> Rule:
    rid = rule_id or draw(st.sampled_from(RULE_IDS))
    effective = (T0 + dt.timedelta(days=draw(st.integers(-30, 30)))).date()
    expires = draw(st.none() | st.integers(1, 120).map(lambda n: effective + dt.timedelta(days=n)))
    strictness = draw(st.sampled_from(Strictness))
    restriction = Restriction(
        id=rid, issuer="root", title=rid, targets=(Target(TargetKind.FAMILY, "x"),),
        scope=Scope(frozenset({"root"}), draw(selectors)), strictness=strictness, effective=effective,
        status=draw(st.sampled_from([Lifecycle.ACTIVE] * 8 + [Lifecycle.DRAFT, Lifecycle.REVOKED])),
        grace=dt.timedelta(days=draw(st.integers(0, 20))) if strictness is Strictness.REQUIRE else dt.timedelta(0),
        expires=expires, children=ChildPolicy.MANDATORY, shadow=draw(st.booleans()),
    )
    banned = frozenset(draw(st.lists(st.sampled_from(APPS), min_size=1, max_size=3)))
    binding = frozenset(ORGS) if draw(st.integers(0, 9)) < 7 else frozenset(
        draw(st.lists(st.sampled_from(ORGS), min_size=1, max_size=3)))
    return Rule(restriction=restriction, version=draw(st.integers(1, 5)), banned=banned, binding=binding)


devices = st.builds(
    Device, id=st.sampled_from(DEVICES), organisation=st.sampled_from(ORGS), platform=st.just(Platform.ANDROID),
    ownership=st.sampled_from(Ownership), funding=st.sampled_from(Funding), enrolled=st.booleans(),
    holder=st.none() | st.sampled_from(HOLDERS))


@st.composite
def events(draw: st.DrawFn) -> tuple[str, object, dt.timedelta]:
    step = dt.timedelta(hours=draw(st.integers(0, 72) | st.integers(0, 24 * 30)))
    kind = draw(st.sampled_from(["device", "report", "report", "rule", "remove_rule", "exemption",
                                 "remove_exemption", "attestation", "advance"]))
    if kind == "device":
        return kind, draw(devices), step
    if kind == "report":
        return kind, (draw(st.sampled_from(DEVICES)), frozenset(draw(st.lists(st.sampled_from(APPS), max_size=3))),
                      draw(st.sampled_from(Visibility)), draw(st.integers(0, 24 * 5) | st.integers(0, 24 * 40)),
                      draw(st.sampled_from(ReportKind)), frozenset(draw(st.lists(st.sampled_from(APPS), max_size=2)))
                      ), step
    if kind == "rule":
        return kind, draw(rules()), step
    if kind in ("remove_rule",):
        return kind, draw(st.sampled_from(RULE_IDS)), step
    if kind == "exemption":
        target = draw(st.sampled_from(DEVICES + HOLDERS))
        return kind, (draw(st.sampled_from(["e0", "e1"])), draw(st.sampled_from(RULE_IDS)), target,
                      draw(st.integers(1, 24 * 30))), step
    if kind == "remove_exemption":
        return kind, draw(st.sampled_from(["e0", "e1"])), step
    if kind == "attestation":
        return kind, (draw(st.sampled_from(DEVICES)), draw(st.sampled_from(RULE_IDS)),
                      draw(st.integers(1, 24 * 30))), step
    return kind, None, step


def apply(engine: Engine, kind: str, payload: object, now: dt.datetime) -> None:
    if kind == "device":
        assert isinstance(payload, Device)
        engine.put_device(payload, now)
    elif kind == "report":
        device_id, apps, visibility, age, report_kind, removed = payload  # type: ignore[misc]
        engine.put_report(DeviceReport(
            device_id=device_id, platform=Platform.ANDROID, observed_at=now - dt.timedelta(hours=age),
            apps=tuple(InstalledApp(a) for a in sorted(apps)), visibility=visibility, where=Location("t"),
            kind=report_kind, removed=tuple(sorted(removed)) if report_kind is ReportKind.DELTA else ()), now)
    elif kind == "rule":
        assert isinstance(payload, Rule)
        engine.put_rule(payload, now)
    elif kind == "remove_rule":
        assert isinstance(payload, str)
        engine.remove_rule(payload, now)
    elif kind == "exemption":
        exemption_id, rule_id, target, hours = payload  # type: ignore[misc]
        engine.put_exemption(Exemption(
            id=exemption_id, restriction=rule_id, reason="test", approver="ciso",
            ends=now + dt.timedelta(hours=hours), device=target if target in DEVICES else None,
            holder=target if target in HOLDERS else None), now)
    elif kind == "remove_exemption":
        assert isinstance(payload, str)
        engine.remove_exemption(payload, now)
    elif kind == "attestation":
        device_id, rule_id, hours = payload  # type: ignore[misc]
        engine.put_attestation(Attestation(device=device_id, restriction=rule_id, holder="h0@example.org", at=now,
                                           expires=now + dt.timedelta(hours=hours)), now)
    else:
        engine.advance(now)


@st.composite
def histories(draw: st.DrawFn, max_size: int = 40) -> list[tuple[str, object, dt.timedelta]]:
    """A fleet and its restrictions first (so that most pairs are covered), then random events."""
    zero = dt.timedelta(0)
    fleet = [("device", draw(devices.map(lambda d, i=i: _with_id(d, DEVICES[i]))), zero)  # type: ignore[misc]
             for i in range(len(DEVICES))]
    setup = [("rule", draw(rules(rule_id)), zero) for rule_id in RULE_IDS[:draw(st.integers(1, 3))]]
    reports = [("report", (d, frozenset(draw(st.lists(st.sampled_from(APPS), max_size=2))),
                           draw(st.sampled_from(Visibility)), 0, ReportKind.SNAPSHOT, frozenset()), zero)
               for d in DEVICES if draw(st.booleans())]
    order = draw(st.permutations(fleet + setup + reports))
    return [*order, *draw(st.lists(events(), min_size=1, max_size=max_size))]


def replay(history: list[tuple[str, object, dt.timedelta]]) -> tuple[Engine, dt.datetime]:
    """An engine that went through `history`, event by event, and the time of its last event."""
    engine = Engine(staleness)
    now = T0
    for kind, payload, step in history:
        now += step
        apply(engine, kind, payload, now)
    return engine, now


def _with_id(device: Device, device_id: str) -> Device:
    return Device(id=device_id, organisation=device.organisation, platform=device.platform,
                  ownership=device.ownership, funding=device.funding, enrolled=device.enrolled, holder=device.holder)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_incremental_equals_full_after_every_event(history: list[tuple[str, object, dt.timedelta]]) -> None:
    engine = Engine(staleness)
    now = T0
    for kind, payload, step in history:
        now += step
        apply(engine, kind, payload, now)
        expected = full_evaluation(engine.rules.values(), engine.devices.values(), engine.inventories,
                                   engine.exemptions.values(), engine.attestations, staleness, now)
        assert engine.findings == expected, (kind, now)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_size=30), st.integers(1, 24 * 200))
def test_time_alone_moves_findings_like_a_full_evaluation(history: list[tuple[str, object, dt.timedelta]],
                                                          later: int) -> None:
    engine, now = replay(history)
    now += dt.timedelta(hours=later)
    engine.advance(now)
    assert engine.findings == full_evaluation(engine.rules.values(), engine.devices.values(), engine.inventories,
                                              engine.exemptions.values(), engine.attestations, staleness, now)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_size=25), events())
def test_a_restored_working_set_makes_the_same_changes(history: list[tuple[str, object, dt.timedelta]],
                                                       last: tuple[str, object, dt.timedelta]) -> None:
    """The shells load only the devices an operation touches; the changes must be those of the whole engine."""
    engine, now = replay(history)
    kind, payload, step = last
    if kind != "report":
        return
    device_id = payload[0]  # type: ignore[index]
    now += step
    engine.advance(now)
    working = [engine.devices[device_id]] if device_id in engine.devices else []
    restored = Engine.restore(
        staleness, now, rules=engine.rules.values(), devices=working,
        inventories={d.id: engine.inventories[d.id] for d in working if d.id in engine.inventories},
        exemptions=engine.exemptions.values(), attestations=engine.attestations.values(),
        findings={k: v for k, v in engine.findings.items() if k[0] == device_id})
    apply(engine, kind, payload, now)
    apply(restored, kind, payload, now)
    assert restored.findings == {k: v for k, v in engine.findings.items() if k[0] == device_id}
