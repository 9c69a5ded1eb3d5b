"""Keeping stored findings current: load the working set an operation can touch, run the engine, persist.

This is the one place that turns events (reports, restriction changes, time) into finding changes in the
store; the engine decides, this module only fetches and saves. Each function runs inside the caller's
transaction, so an import or a policy apply and the findings it causes commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from appban.compliance import Change, Engine, Key
from appban.inventory import DeviceReport, InstalledApp, ReportKind
from appban.model import App, FindingState
from appban.service.context import PolicyContext
from appban.store import (
    AttestationRepository,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    InventoryRepository,
)

__all__ = [
    "Outcome",
    "apply_reports",
    "evaluate_pairs",
    "evaluate_rules",
    "exempted_or_attested",
    "refresh_due",
    "working_set",
]


@dataclass(slots=True)
class Outcome:
    """What an evaluation changed, for the summary a person reads."""

    changes: int = 0
    states: Counter[str] = field(default_factory=Counter)  # new state -> count
    applied: int = 0  # reports folded into an inventory
    ignored: int = 0  # reports older than what was known (kept in the report history)

    def merge(self, other: Outcome) -> None:
        self.changes += other.changes
        self.states.update(other.states)
        self.applied += other.applied
        self.ignored += other.ignored

    def add(self, changes: Sequence[Change]) -> None:
        self.changes += len(changes)
        for change in changes:
            self.states[change.after.state if change.after is not None else FindingState.COMPLIANT] += 1


def working_set(session: Session, context: PolicyContext, device_ids: Iterable[str], now: dt.datetime, *,
                relevant_apps_only: bool = False) -> Engine:
    """An engine over these devices with everything that bears on them, findings as stored.

    With `relevant_apps_only`, inventories hold only the apps some rule of the context bans. Verdicts depend on
    no other app (appban.compliance.evaluate), so every rule evaluates exactly as over whole inventories; such
    an engine must not be used to fold reports or to save inventories, which need every app.
    """
    ids = set(device_ids)
    devices = DeviceRepository(session).get_many(ids)
    stored = FindingRepository(session).get_for_devices(ids)
    only = frozenset().union(*(rule.banned for rule in context.rules.values())) if relevant_apps_only else None
    return Engine.restore(
        context.staleness, now, rules=context.rules.values(), devices=devices.values(),
        inventories=InventoryRepository(session).get_many(ids, only=only),
        exemptions=ExemptionRepository(session).active_for(
            ids, {device.holder for device in devices.values() if device.holder is not None}, now),
        attestations=AttestationRepository(session).for_devices(ids),
        findings={key: item.verdict for key, item in stored.items()})


def apply_reports(session: Session, context: PolicyContext, reports: Sequence[DeviceReport], *,
                  source_format: str, source_file: str, now: dt.datetime) -> Outcome:
    """Fold reports into their devices' inventories and re-evaluate those devices only."""
    InventoryRepository(session).serialise_writes()  # before reading them: newest report wins, none fails
    outcome = Outcome()
    engine = working_set(session, context, {r.device_id for r in reports}, now)
    before = dict(engine.inventories)
    changes: list[Change] = []
    history: list[dict[str, object]] = []
    details: dict[str, Sequence[InstalledApp]] = {}
    for report in reports:
        previous = engine.inventories.get(report.device_id)
        changes += engine.put_report(report, now)
        applied = engine.inventories.get(report.device_id) is not previous
        outcome.applied += applied
        outcome.ignored += not applied
        if applied:
            details[report.device_id] = _merged_details(details.get(report.device_id), report)
        history.append({"device_id": report.device_id, "source_format": source_format, "source_file": source_file,
                        "observed_at": report.observed_at, "received_at": now, "kind": str(report.kind),
                        "visibility": str(report.visibility), "app_count": len(report.apps), "applied": applied})
    changed = [inv for device_id, inv in engine.inventories.items() if before.get(device_id) is not inv]
    inventories = InventoryRepository(session)
    if changed:
        inventories.save(changed, details, source_format=source_format, now=now)
    inventories.record_reports(history)
    _persist(session, context, changes, now)
    outcome.add(changes)
    return outcome


def evaluate_rules(session: Session, context: PolicyContext, restriction_ids: Iterable[str], now: dt.datetime,
                   ) -> Outcome:
    """Re-evaluate the devices a new or changed restriction can affect, and no others."""
    outcome = Outcome()
    devices = DeviceRepository(session)
    findings = FindingRepository(session)
    unseen: set[str] | None = None
    for restriction_id in sorted(set(restriction_ids)):
        stored_findings = findings.get_for_restriction(restriction_id)
        candidates = {device for device, _ in stored_findings}
        rule = context.rules.get(restriction_id)
        if rule is not None:
            if unseen is None:
                unseen = devices.ids_unseen(now, context.staleness)
            candidates |= devices.ids_holding(rule.banned) | unseen
            candidates |= exempted_or_attested(session, restriction_id, now)
        engine = working_set(session, context, candidates, now, relevant_apps_only=True)
        changes = (engine.reevaluate_rule(restriction_id, now) if rule is not None
                   else engine.remove_rule(restriction_id, now))
        _persist(session, context, changes, now)
        outcome.add(changes)
    return outcome


def evaluate_pairs(session: Session, context: PolicyContext, keys: Iterable[Key], now: dt.datetime) -> Outcome:
    """Re-evaluate given (device, restriction) pairs: after an exemption or attestation changed."""
    outcome = Outcome()
    pairs = sorted(set(keys))
    if not pairs:
        return outcome
    engine = working_set(session, context, {device for device, _ in pairs}, now, relevant_apps_only=True)
    changes = engine.reevaluate(pairs, now)
    _persist(session, context, changes, now)
    outcome.add(changes)
    return outcome


def refresh_due(session: Session, context: PolicyContext, now: dt.datetime) -> Outcome:
    """Findings whose deadline has passed (grace ended, exemption or attestation over) move on now."""
    return evaluate_pairs(session, context, FindingRepository(session).due(now), now)


def exempted_or_attested(session: Session, restriction_id: str, now: dt.datetime) -> set[str]:
    ids: set[str] = set()
    devices = DeviceRepository(session)
    for exemption in ExemptionRepository(session).for_restriction(restriction_id):
        if exemption.ends <= now:
            continue
        if exemption.device is not None:
            ids.add(exemption.device)
        if exemption.holder is not None:
            ids |= devices.ids_of_holder(exemption.holder)
    ids |= AttestationRepository(session).device_ids_for_restriction(restriction_id)
    return ids


def _persist(session: Session, context: PolicyContext, changes: Sequence[Change], now: dt.datetime) -> None:
    if changes:
        versions = {rule_id: rule.version for rule_id, rule in context.rules.items()}
        FindingRepository(session).apply(changes, now=now, versions=versions, befores_are_stored=True)


def _merged_details(previous: Sequence[InstalledApp] | None, report: DeviceReport) -> Sequence[InstalledApp]:
    """Name, version and how each app was matched, as the newest report gives them."""
    if report.kind is ReportKind.SNAPSHOT:
        return report.apps
    merged: dict[App, InstalledApp] = {entry.app: entry for entry in previous or ()}
    for app in report.removed:
        merged.pop(app, None)
    merged.update({entry.app: entry for entry in report.apps})
    return tuple(merged.values())
