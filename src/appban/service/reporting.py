"""What the IT security team reads: the what-if impact of a draft restriction, and the compliance report.

Both count per organisation. Findings are sparse (only pairs that are not compliant are stored), so a
device in scope without a finding counts as compliant; scope is evaluated with the same rule objects the
engine uses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from appban.compliance import Rule, Verdict, compile_rule, start_of
from appban.model import Device, FindingState, Lifecycle, Restriction
from appban.service.context import PolicyContext
from appban.service.evaluation import exempted_or_attested, working_set
from appban.store import AdoptionRepository, DeviceRepository, FindingRepository, InventoryRepository

__all__ = ["AffectedDevice", "Impact", "Report", "RestrictionSummary", "compliance_report", "impact"]

BREAKING = (FindingState.ADVISED, FindingState.GRACE, FindingState.NON_COMPLIANT)


@dataclass(frozen=True, slots=True)
class AffectedDevice:
    device: str
    organisation: str
    holder: str | None
    state: FindingState
    reason: str
    apps: tuple[str, ...]


@dataclass(slots=True)
class RestrictionSummary:
    """Devices per state for one restriction, per organisation (compliant = in scope without a finding)."""

    restriction: str
    by_organisation: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.by_organisation.values():
            total.update(counts)
        return total


@dataclass(slots=True)
class Impact:
    restriction: str
    summary: RestrictionSummary
    affected: list[AffectedDevice]


@dataclass(slots=True)
class Report:
    organisation: str | None
    at: dt.datetime
    restrictions: list[RestrictionSummary]
    top_apps: list[tuple[str, int]]
    stale_devices: int
    devices: int
    trend: list[tuple[dt.date, int, int]]  # day, non_compliant, grace (at the end of the day)


def impact(session: Session, context: PolicyContext, restriction: Restriction, now: dt.datetime) -> Impact:
    """Which organisations, devices and holders a restriction would affect, and how. Stores nothing.

    A draft is judged as if published, and a restriction not yet in force as on its first day.
    """
    if restriction.status is Lifecycle.DRAFT:
        restriction = dataclasses.replace(restriction, status=Lifecycle.ACTIVE)
    now = max(now, start_of(restriction.effective))
    rule = compile_rule(restriction, context.catalog, context.tree,
                        AdoptionRepository(session).adopters(restriction.id),
                        version=context.rules[restriction.id].version + 1 if restriction.id in context.rules else 1)
    what_if = context.with_rule(rule)
    devices = DeviceRepository(session)
    candidates = devices.ids_holding(rule.banned) | devices.ids_unseen(now, what_if.staleness)
    candidates |= exempted_or_attested(session, restriction.id, now)
    engine = working_set(session, what_if, candidates, now)
    engine.reevaluate_rule(rule.id, now)
    verdicts = {device: verdict for (device, rule_id), verdict in engine.findings.items() if rule_id == rule.id}
    summary = _summarise(rule, _in_scope(devices.all(), [rule], now)[rule.id], verdicts)
    affected = sorted(
        (AffectedDevice(device=d, organisation=engine.devices[d].organisation, holder=engine.devices[d].holder,
                        state=v.state, reason=v.reason, apps=tuple(sorted(str(a) for a in v.apps)))
         for d, v in verdicts.items()),
        key=lambda a: (_severity(a.state), a.organisation, a.device))
    return Impact(restriction=rule.id, summary=summary, affected=affected)


def compliance_report(session: Session, context: PolicyContext, organisation: str | None, now: dt.datetime,
                      *, days: int = 30) -> Report:
    subtree = context.tree.subtree(organisation) if organisation else set(context.tree.organisations)
    devices = [d for d in DeviceRepository(session).all() if d.organisation in subtree]
    ids = {d.id for d in devices}
    rules = sorted(context.rules.values(), key=lambda r: r.id)
    in_scope = _in_scope(devices, rules, now)
    stored = FindingRepository(session).get_for_devices(ids)
    per_rule: dict[str, dict[str, Verdict]] = defaultdict(dict)
    top: Counter[str] = Counter()
    for (device, rule_id), item in stored.items():
        per_rule[rule_id][device] = item.verdict
        if item.verdict.state in BREAKING and not item.verdict.shadow:
            top.update(str(app) for app in item.verdict.apps)
    summaries = [_summarise(rule, in_scope[rule.id], per_rule.get(rule.id, {})) for rule in rules]
    observed = InventoryRepository(session).observed_at_many(ids)
    stale = sum(1 for d in devices if d.id not in observed or now - observed[d.id] > context.staleness(
        d.organisation))
    return Report(organisation=organisation, at=now, restrictions=summaries, top_apps=top.most_common(10),
                  stale_devices=stale, devices=len(devices), trend=_trend(session, ids, now, days))


def _in_scope(devices: Iterable[Device], rules: Iterable[Rule], now: dt.datetime | None = None,
              ) -> dict[str, dict[str, str]]:
    """restriction -> {device id: organisation} for the devices each rule covers (now, if given)."""
    rule_list = [r for r in rules if now is None or r.in_force(now)]
    out: dict[str, dict[str, str]] = {r.id: {} for r in rules}
    for device in devices:
        for rule in rule_list:
            if device.organisation in rule.binding and rule.restriction.scope.devices.matches(device):
                out[rule.id][device.id] = device.organisation
    return out


def _summarise(rule: Rule, in_scope: Mapping[str, str], verdicts: Mapping[str, Verdict]) -> RestrictionSummary:
    summary = RestrictionSummary(restriction=rule.id)
    for device, organisation in in_scope.items():
        verdict = verdicts.get(device)
        state = verdict.state if verdict is not None else FindingState.COMPLIANT
        summary.by_organisation[organisation][str(state)] += 1
    return summary


def _trend(session: Session, device_ids: set[str], now: dt.datetime, days: int) -> list[tuple[dt.date, int, int]]:
    """Devices non-compliant and in grace at the end of each of the last `days` days, from the event history."""
    current: dict[tuple[str, str], str] = {}
    start = (now - dt.timedelta(days=days)).date()
    series: list[tuple[dt.date, int, int]] = []
    events = [e for e in FindingRepository(session).events() if e.device in device_ids and not e.shadow]
    index = 0
    day = start
    while day <= now.date():
        while index < len(events) and events[index].at.date() <= day:
            event = events[index]
            current[(event.device, event.restriction)] = str(event.state_to)
            index += 1
        states = Counter(current.values())
        series.append((day, states[str(FindingState.NON_COMPLIANT)], states[str(FindingState.GRACE)]))
        day += dt.timedelta(days=1)
    return series


def _severity(state: FindingState) -> int:
    order = [FindingState.NON_COMPLIANT, FindingState.GRACE, FindingState.UNKNOWN, FindingState.ADVISED,
             FindingState.EXEMPT, FindingState.COMPLIANT]
    return order.index(state)
