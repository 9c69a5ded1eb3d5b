"""Keeping stored findings current: load the working set an operation can touch, run the engine, persist.

This is the one place that turns events (reports, restriction changes, time) into finding changes in the
store; the engine decides, this module only fetches and saves. Each function runs inside the caller's
transaction, so an import or a policy apply and the findings it causes commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from appban.compliance import Change, DeviceInventory, Engine, Key, rule_changes
from appban.inventory import DeviceReport, InstalledApp, ReportKind
from appban.model import App, Device, FindingState
from appban.service.context import PolicyContext
from appban.store import (
    AttestationRepository,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    InventoryRepository,
)
from appban.store.rule_scan import scan_rule

__all__ = [
    "Outcome",
    "ReportBatch",
    "apply_report_batches",
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
    only = frozenset().union(*(rule.banned for rule in context.rules.values())) if relevant_apps_only else None
    return _restore(session, context, now, ids, DeviceRepository(session).get_many(ids),
                    InventoryRepository(session).get_many(ids, only=only))


def _reports_working_set(session: Session, context: PolicyContext, ids: set[str], now: dt.datetime,
                         inventories: InventoryRepository, known: Mapping[str, Device] | None) -> Engine:
    """`working_set` for folding reports: inventories whole, read by `get_for_update` (which keeps the stored
    rows for `inventories.save` to write only the difference: each stored row read once). `known` devices, as
    the caller has just stored them in this transaction, are not read again when they cover every id."""
    if known is not None and ids <= known.keys():
        devices = {device_id: known[device_id] for device_id in ids}
    else:
        devices = DeviceRepository(session).get_many(ids)
    return _restore(session, context, now, ids, devices, inventories.get_for_update(ids))


def _restore(session: Session, context: PolicyContext, now: dt.datetime, ids: set[str],
             devices: Mapping[str, Device], inventories: Mapping[str, DeviceInventory]) -> Engine:
    """An engine over the `devices` of `ids` with these inventories, and the findings, exemptions and
    attestations of `ids` as stored."""
    stored = FindingRepository(session).get_for_devices(ids)
    return Engine.restore(
        context.staleness, now, rules=context.rules.values(), devices=devices.values(), inventories=inventories,
        exemptions=ExemptionRepository(session).active_for(
            ids, {device.holder for device in devices.values() if device.holder is not None}, now),
        attestations=AttestationRepository(session).for_devices(ids),
        findings={key: item.verdict for key, item in stored.items()})


@dataclass(frozen=True, slots=True)
class ReportBatch:
    """The reports of one file, with the source they came from (kept in the report history)."""

    reports: Sequence[DeviceReport]
    source_format: str
    source_file: str


def apply_reports(session: Session, context: PolicyContext, reports: Sequence[DeviceReport], *,
                  source_format: str, source_file: str, now: dt.datetime,
                  devices: Mapping[str, Device] | None = None) -> Outcome:
    """Fold reports into their devices' inventories and re-evaluate those devices only.

    `devices`, when the caller has just stored every one of them (an import), saves reading them again."""
    return apply_report_batches(session, context, [ReportBatch(reports, source_format, source_file)], now=now,
                                devices=devices)[0]


def apply_report_batches(session: Session, context: PolicyContext, batches: Sequence[ReportBatch], *,
                         now: dt.datetime, devices: Mapping[str, Device] | None = None) -> list[Outcome]:
    """`apply_reports` for several files at once, in as many statements as one: the outcome of each, in order.

    Pushes from device-management systems are small (one device, or a page of them) and arrive many a second;
    folded together, they share the reads and writes that would otherwise dominate each (`import_pushes`). A
    finding's change counts in the outcome of the (last) file that reported its device."""
    inventories = InventoryRepository(session)
    ids = {report.device_id for batch in batches for report in batch.reports}
    inventories.serialise_writes(ids)  # before reading them: newest report wins
    outcomes = [Outcome() for _ in batches]
    engine = _reports_working_set(session, context, ids, now, inventories, devices)
    before = dict(engine.inventories)
    changes: list[Change] = []
    history: list[dict[str, object]] = []
    details: dict[str, Sequence[InstalledApp]] = {}
    source_of: dict[str, str] = {}  # device -> the source format of its newest applied report
    owner = {report.device_id: index for index, batch in enumerate(batches) for report in batch.reports}
    for batch, outcome in zip(batches, outcomes, strict=True):
        for report in batch.reports:
            previous = engine.inventories.get(report.device_id)
            changes += engine.put_report(report, now)
            applied = engine.inventories.get(report.device_id) is not previous
            outcome.applied += applied
            outcome.ignored += not applied
            if applied:
                details[report.device_id] = _merged_details(details.get(report.device_id), report)
                source_of[report.device_id] = batch.source_format
            history.append({"device_id": report.device_id, "source_format": batch.source_format,
                            "source_file": batch.source_file, "observed_at": report.observed_at,
                            "received_at": now, "kind": str(report.kind), "visibility": str(report.visibility),
                            "app_count": len(report.apps), "applied": applied})
    changed: dict[str, list[DeviceInventory]] = {}
    for device_id, inventory in engine.inventories.items():
        if before.get(device_id) is not inventory:
            changed.setdefault(source_of[device_id], []).append(inventory)
    for source_format, saved in sorted(changed.items()):
        inventories.save(saved, details, source_format=source_format, now=now)
    inventories.record_reports(history)
    _persist(session, context, changes, now)
    for change in changes:
        outcomes[owner.get(change.device, 0)].add([change])
    return outcomes


def evaluate_rules(session: Session, context: PolicyContext, restriction_ids: Iterable[str], now: dt.datetime,
                   ) -> Outcome:
    """Re-evaluate the devices a new or changed restriction can affect, and no others.

    Each restriction's candidates (holders of its apps, unseen, exempted, attested, or holding a finding of it)
    are read in one query (`store.rule_scan`) and evaluated without restoring an engine
    (`compliance.rule_changes`): the changes are those `working_set(...).reevaluate_rule` makes, at a fraction
    of the cost on a fleet (tests/service/test_service_evaluation.py holds them equal).
    """
    outcome = Outcome()
    findings = FindingRepository(session)
    for restriction_id in sorted(set(restriction_ids)):
        rule = context.rules.get(restriction_id)
        with _collector_paused():
            if rule is None:  # revoked or gone: every finding of it closes
                changes = [Change(device, restriction, stored.verdict, None) for (device, restriction), stored
                           in sorted(findings.get_for_restriction(restriction_id).items())]
            else:
                scan = scan_rule(session, restriction_id, rule.banned, now, context.staleness)
                changes = rule_changes(rule, scan.candidates, findings=scan.findings, exemptions=scan.exemptions,
                                       attestations=scan.attestations, staleness=context.staleness, now=now)
                del scan
            _persist(session, context, changes, now)
        outcome.add(changes)
    return outcome


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a rule's working set is built, evaluated and written.

    That is hundreds of thousands of short-lived objects without cycles, whose allocation set off full
    collections of the whole heap again and again: a third of `evaluate_rules` at 200,000 devices. The
    collector is enabled again afterwards (unless it was off already), and collects what is left then.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
