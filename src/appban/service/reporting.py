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
from typing import Any

from sqlalchemy.orm import Session

from appban.compliance import Rule, Verdict, compile_rule, start_of
from appban.model import Device, FindingState, Lifecycle, Restriction
from appban.service.context import PolicyContext
from appban.service.evaluation import exempted_or_attested, working_set
from appban.store import (
    AdoptionRepository,
    DeviceRepository,
    FindingRepository,
    InventoryRepository,
)

__all__ = ["AffectedDevice", "ComplianceCounts", "Impact", "Report", "RestrictionSummary", "compliance_counts",
           "compliance_report", "impact"]

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


@dataclass(slots=True)
class ComplianceCounts:
    """The figures of `compliance_report` a dashboard shows, counted in the database (see `compliance_counts`)."""

    organisation: str | None
    at: dt.datetime
    restrictions: list[RestrictionSummary]
    stale_devices: int
    devices: int
    trend: list[tuple[dt.date, int, int]]


def compliance_counts(session: Session, context: PolicyContext, organisation: str | None, now: dt.datetime,
                      *, days: int = 30) -> ComplianceCounts:
    """The same per-restriction, per-organisation state counts, stale devices, device count and trend as
    `compliance_report`, without reading a device into Python.

    Scope looks only at a device's organisation, platform, ownership, funding and enrolment, so devices and
    stored findings are counted in SQL per such profile (a few hundred groups for any fleet) and each rule's
    scope is applied to the groups: in scope minus the stored findings in scope is the compliant count.
    """
    subtree = context.tree.subtree(organisation) if organisation else set(context.tree.organisations)
    organisations = None if organisation is None else subtree
    grouped = DeviceRepository(session).profile_counts(organisations, now=now, staleness_for=context.staleness)
    profiles: Counter[Any] = Counter()
    stale = 0
    for (profile, is_stale), count in grouped.items():
        if profile[0] in subtree:
            profiles[profile] += count
            stale += count if is_stale else 0
    summaries = _summaries(session, context, organisations, profiles, now)
    return ComplianceCounts(organisation=organisation, at=now, restrictions=summaries, stale_devices=stale,
                            devices=sum(profiles.values()), trend=_trend_counted(session, organisations, now, days))


def _summaries(session: Session, context: PolicyContext, organisations: set[str] | None,
               profiles: Mapping[Any, int], now: dt.datetime) -> list[RestrictionSummary]:
    stored = FindingRepository(session).counts_by_profile(organisations)
    rules = sorted(context.rules.values(), key=lambda r: r.id)
    return [_summarise_counts(rule, profiles, stored, now) for rule in rules]


def _trend_counted(session: Session, organisations: set[str] | None, now: dt.datetime, days: int,
                   ) -> list[tuple[dt.date, int, int]]:
    """`_trend` from the counts at the end of the first day and the changes after it, walked in the database."""
    start = (now - dt.timedelta(days=days)).date()
    cutoff = dt.datetime.combine(start + dt.timedelta(days=1), dt.time(), dt.UTC)
    kept = (FindingState.NON_COMPLIANT, FindingState.GRACE)
    later = (now.date() - start).days  # the days after the first one
    before, changes = FindingRepository(session).trend_changes(organisations, kept, cutoff, later)
    current: Counter[str] = Counter({str(state): count for state, count in before.items()})
    series = [(start, current[str(FindingState.NON_COMPLIANT)], current[str(FindingState.GRACE)])]
    by_day: dict[int, list[tuple[str | None, str, int]]] = defaultdict(list)
    for (index, state_from, state_to), count in changes.items():
        by_day[index].append((state_from, state_to, count))
    for index in range(later):
        for state_from, state_to, count in by_day.get(index, []):
            if state_from is not None:
                current[state_from] -= count
            current[state_to] += count
        series.append((start + dt.timedelta(days=index + 1), current[str(FindingState.NON_COMPLIANT)],
                       current[str(FindingState.GRACE)]))
    return series


def _summarise_counts(rule: Rule, profiles: Mapping[Any, int], stored: Mapping[tuple[str, FindingState, Any], int],
                      now: dt.datetime) -> RestrictionSummary:
    summary = RestrictionSummary(restriction=rule.id)
    if not rule.in_force(now):
        return summary

    def covers(profile: Any) -> bool:
        organisation, platform, ownership, funding, enrolled = profile
        probe = Device(id="", organisation=organisation, platform=platform, ownership=ownership, funding=funding,
                       enrolled=enrolled)
        return organisation in rule.binding and rule.restriction.scope.devices.matches(probe)

    covered = {profile for profile in profiles if covers(profile)}
    for profile in covered:
        summary.by_organisation[profile[0]][str(FindingState.COMPLIANT)] += profiles[profile]
    for (rule_id, state, profile), count in stored.items():
        if rule_id == rule.id and profile in covered:
            counts = summary.by_organisation[profile[0]]
            counts[str(state)] += count
            counts[str(FindingState.COMPLIANT)] -= count
    for counts in summary.by_organisation.values():
        if not counts[str(FindingState.COMPLIANT)]:
            del counts[str(FindingState.COMPLIANT)]
    return summary


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
