"""The compliance engine: findings for every (device, restriction), kept current incrementally.

Findings are sparse: a pair is held only when its state is not `compliant` (absent = compliant when the
device is in scope, or not covered). That keeps a million-device fleet with 5 % offenders at tens of
thousands of entries, and it makes the incremental rules simple:

- a new report re-evaluates that device only;
- a new or changed restriction re-evaluates only the devices that could be anything but compliant under it:
  those holding an app it bans (an index from app identity to devices), those the engine cannot see (no
  inventory, stale, or personal apps invisible), those already holding a finding, and those exempted;
- time moves findings (a grace period ends, an inventory goes stale, an exemption or attestation ends, a
  restriction starts or expires): each such moment is queued when it becomes known and handled when the
  clock passes it, so no operation scans the fleet.

`full_evaluation` computes the same findings from scratch; it is the reference the incremental path is
tested against (tests/compliance).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from appban.compliance.evaluate import Verdict, evaluate, exemption_for
from appban.compliance.rules import Rule, start_of
from appban.compliance.state import DeviceInventory, fold_report
from appban.inventory.interface import DeviceReport, Visibility
from appban.model import App, Attestation, Device, Exemption, FindingState

__all__ = ["Change", "Engine", "Key", "StalenessPolicy", "full_evaluation", "rule_changes"]

Key = tuple[str, str]  # (device id, restriction id)
StalenessPolicy = Callable[[str], dt.timedelta]  # organisation id -> how old an inventory may be


@dataclass(frozen=True, slots=True)
class Change:
    """A finding that changed: from `before` to `after` (None = compliant or not covered)."""

    device: str
    restriction: str
    before: Verdict | None
    after: Verdict | None


def _stored(verdict: Verdict | None) -> Verdict | None:
    return None if verdict is None or verdict.state is FindingState.COMPLIANT else verdict


class Engine:
    """In-memory state and findings. Every mutating call takes `now` (never earlier than the last one)."""

    def __init__(self, staleness: StalenessPolicy) -> None:
        self._staleness = staleness
        self.rules: dict[str, Rule] = {}
        self.devices: dict[str, Device] = {}
        self.inventories: dict[str, DeviceInventory] = {}
        self.exemptions: dict[str, Exemption] = {}
        self.attestations: dict[Key, Attestation] = {}
        self.findings: dict[Key, Verdict] = {}
        self._by_rule: dict[str, set[str]] = defaultdict(set)  # restriction -> devices with a finding
        # app -> devices holding it; built on the first rule evaluation that needs it, then kept current. An
        # import's engine folds thousands of reports and evaluates no rule through it: it never builds one.
        self._holders: defaultdict[App, set[str]] | None = None
        self._unseen: set[str] = set()  # no inventory, stale, or personal apps invisible
        self._stale: set[str] = set()
        self._devices_of_holder: dict[str, set[str]] = defaultdict(set)
        self._timers: list[tuple[dt.datetime, int, str, str, str]] = []  # (when, seq, kind, a, b)
        self._seq = 0
        self._now: dt.datetime | None = None

    @classmethod
    def restore(cls, staleness: StalenessPolicy, now: dt.datetime, *, rules: Iterable[Rule],
                devices: Iterable[Device], inventories: Mapping[str, DeviceInventory],
                exemptions: Iterable[Exemption], attestations: Iterable[Attestation],
                findings: Mapping[Key, Verdict]) -> Engine:
        """An engine over a working set loaded from the store, its findings taken as they were stored.

        The shells load only what an operation can touch (the devices of an imported file, the candidates of
        a changed restriction), apply the operation, and persist the changes it returns.
        """
        engine = cls(staleness)
        engine._now = now
        engine.rules = {rule.id: rule for rule in rules}
        engine.exemptions = {e.id: e for e in exemptions}
        engine.attestations = {(a.device, a.restriction): a for a in attestations}
        engine.inventories = dict(inventories)
        for device in devices:
            engine.devices[device.id] = device
            if device.holder is not None:
                engine._devices_of_holder[device.holder].add(device.id)
            engine._refresh_visibility(device.id, now)
        for key, verdict in findings.items():
            if key[0] in engine.devices:
                engine.findings[key] = verdict
                engine._by_rule[key[1]].add(key[0])
        return engine

    def reevaluate(self, keys: Iterable[Key], now: dt.datetime) -> list[Change]:
        """Re-evaluate given pairs now (the shells' time transitions: deadlines passed, inventories stale)."""
        return self._advance(now) + self._reevaluate_pairs(keys, now)

    def reevaluate_rule(self, restriction_id: str, now: dt.datetime) -> list[Change]:
        """Re-evaluate every candidate of one restriction (a rule that started, expired or was adopted)."""
        changes = self._advance(now)
        rule = self.rules.get(restriction_id)
        if rule is None:
            return changes
        return changes + self._reevaluate_rule(restriction_id, self._candidates(restriction_id, rule.banned), now)

    # --- inputs ------------------------------------------------------------------------------------------

    def put_device(self, device: Device, now: dt.datetime) -> list[Change]:
        """A new device, or new attributes (organisation, ownership, funding, enrolment, holder)."""
        changes = self._advance(now)
        previous = self.devices.get(device.id)
        if previous is not None and previous.holder is not None:
            self._devices_of_holder[previous.holder].discard(device.id)
        self.devices[device.id] = device
        if device.holder is not None:
            self._devices_of_holder[device.holder].add(device.id)
        self._refresh_visibility(device.id, now)
        return changes + self._reevaluate_device(device.id, now)

    def put_report(self, report: DeviceReport, now: dt.datetime) -> list[Change]:
        """Fold one source report into the device's inventory; re-evaluates that device only."""
        changes = self._advance(now)
        previous = self.inventories.get(report.device_id)
        folded = fold_report(previous, report)
        if folded is None:
            return changes
        if self._holders is not None:
            for app in previous.apps if previous is not None else ():
                if app not in folded.apps:
                    self._holders[app].discard(report.device_id)
            for app in folded.apps:
                self._holders[app].add(report.device_id)
        self.inventories[report.device_id] = folded
        self._refresh_visibility(report.device_id, now)
        if report.device_id not in self.devices:
            return changes
        return changes + self._reevaluate_device(report.device_id, now)

    def put_rule(self, rule: Rule, now: dt.datetime) -> list[Change]:
        """A new restriction or a new version (targets, scope, adoptions, dates)."""
        changes = self._advance(now)
        previous = self.rules.get(rule.id)
        self.rules[rule.id] = rule
        for moment in (start_of(rule.restriction.effective),
                       start_of(rule.restriction.expires) if rule.restriction.expires else None):
            if moment is not None and moment > now:
                self._schedule(moment, "rule", rule.id, "")
        banned = rule.banned | (previous.banned if previous is not None else frozenset())
        return changes + self._reevaluate_rule(rule.id, self._candidates(rule.id, banned), now)

    def remove_rule(self, restriction_id: str, now: dt.datetime) -> list[Change]:
        changes = self._advance(now)
        self.rules.pop(restriction_id, None)
        for device_id in list(self._by_rule.get(restriction_id, ())):
            changes += self._set((device_id, restriction_id), None)
        return changes

    def put_exemption(self, exemption: Exemption, now: dt.datetime) -> list[Change]:
        changes = self._advance(now)
        previous = self.exemptions.get(exemption.id)
        self.exemptions[exemption.id] = exemption  # its end is queued with the `exempt` verdict's deadline
        pairs = {(d, exemption.restriction) for d in self._exempted_devices(exemption)}
        if previous is not None:
            pairs |= {(d, previous.restriction) for d in self._exempted_devices(previous)}
        return changes + self._reevaluate_pairs(sorted(pairs), now)

    def remove_exemption(self, exemption_id: str, now: dt.datetime) -> list[Change]:
        changes = self._advance(now)
        exemption = self.exemptions.pop(exemption_id, None)
        if exemption is None:
            return changes
        return changes + self._reevaluate_pairs(
            ((d, exemption.restriction) for d in self._exempted_devices(exemption)), now)

    def put_attestation(self, attestation: Attestation, now: dt.datetime) -> list[Change]:
        changes = self._advance(now)
        key = (attestation.device, attestation.restriction)
        self.attestations[key] = attestation
        for moment in (attestation.at, attestation.expires):
            if moment > now:
                self._schedule(moment, "pair", *key)
        return changes + self._reevaluate_pairs([key], now)

    def advance(self, now: dt.datetime) -> list[Change]:
        """Apply every transition due by `now`: grace periods ending, inventories going stale, and so on."""
        return self._advance(now)

    # --- queries -----------------------------------------------------------------------------------------

    def verdict(self, device_id: str, restriction_id: str, now: dt.datetime) -> Verdict | None:
        """The verdict of one pair, compliant ones included (None: not covered)."""
        stored = self.findings.get((device_id, restriction_id))
        if stored is not None:
            return stored
        return self._evaluate(device_id, restriction_id, now)

    # --- internals ---------------------------------------------------------------------------------------

    def _advance(self, now: dt.datetime) -> list[Change]:
        if self._now is not None and now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        changes: list[Change] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, a, b = heapq.heappop(self._timers)
            if kind == "device":
                self._refresh_visibility(a, now)
                changes += self._reevaluate_device(a, now)
            elif kind == "pair":
                changes += self._reevaluate_pairs([(a, b)], now)
            elif kind == "rule" and a in self.rules:
                changes += self._reevaluate_rule(a, self._candidates(a, self.rules[a].banned), now)
        return changes

    def _schedule(self, when: dt.datetime, kind: str, a: str, b: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, kind, a, b))

    def _refresh_visibility(self, device_id: str, now: dt.datetime) -> None:
        inventory = self.inventories.get(device_id)
        device = self.devices.get(device_id)
        stale = False
        if inventory is not None and device is not None:
            limit = inventory.observed_at + self._staleness(device.organisation)
            stale = now > limit
            if not stale:
                self._schedule(limit + dt.timedelta(microseconds=1), "device", device_id, "")
        if stale:
            self._stale.add(device_id)
        else:
            self._stale.discard(device_id)
        if inventory is None or stale or inventory.visibility is not Visibility.FULL:
            self._unseen.add(device_id)
        else:
            self._unseen.discard(device_id)

    def _candidates(self, restriction_id: str, banned: Iterable[App]) -> set[str]:
        candidates = set(self._unseen) | self._by_rule.get(restriction_id, set())
        holders = self._holders_of()
        for app in banned:
            candidates |= holders.get(app, set())
        for exemption in self.exemptions.values():
            if exemption.restriction == restriction_id:
                candidates |= self._exempted_devices(exemption)
        candidates |= {device for device, rule in self.attestations if rule == restriction_id}
        return {d for d in candidates if d in self.devices}

    def _holders_of(self) -> defaultdict[App, set[str]]:
        if self._holders is None:
            self._holders = defaultdict(set)
            for inventory in self.inventories.values():
                for app in inventory.apps:
                    self._holders[app].add(inventory.device)
        return self._holders

    def _exempted_devices(self, exemption: Exemption) -> set[str]:
        devices: set[str] = set()
        if exemption.device is not None:
            devices.add(exemption.device)
        if exemption.holder is not None:
            devices |= self._devices_of_holder.get(exemption.holder, set())
        return devices

    def _reevaluate_device(self, device_id: str, now: dt.datetime) -> list[Change]:
        return self._reevaluate_pairs(((device_id, rule_id) for rule_id in self.rules), now)

    def _reevaluate_rule(self, restriction_id: str, candidates: set[str], now: dt.datetime) -> list[Change]:
        changes: list[Change] = []
        for device_id in list(self._by_rule.get(restriction_id, ())):
            if device_id not in candidates:
                changes += self._set((device_id, restriction_id), None)
        return changes + self._reevaluate_pairs(((d, restriction_id) for d in candidates), now)

    def _reevaluate_pairs(self, keys: Iterable[Key], now: dt.datetime) -> list[Change]:
        changes: list[Change] = []
        for key in keys:
            verdict = self._evaluate(key[0], key[1], now)
            if verdict is not None and verdict.deadline is not None and verdict.deadline > now:
                self._schedule(verdict.deadline, "pair", *key)
            changes += self._set(key, _stored(verdict))
        return changes

    def _evaluate(self, device_id: str, restriction_id: str, now: dt.datetime) -> Verdict | None:
        rule = self.rules.get(restriction_id)
        device = self.devices.get(device_id)
        if rule is None or device is None:
            return None
        return evaluate(rule, device, self.inventories.get(device_id), now,
                        staleness=self._staleness(device.organisation),
                        exemption=exemption_for(self.exemptions.values(), device, restriction_id, now)
                        if self.exemptions else None,
                        attestation=self.attestations.get((device_id, restriction_id)))

    def _set(self, key: Key, verdict: Verdict | None) -> list[Change]:
        before = self.findings.get(key)
        if before == verdict:
            return []
        if verdict is None:
            del self.findings[key]
            self._by_rule[key[1]].discard(key[0])
        else:
            self.findings[key] = verdict
            self._by_rule[key[1]].add(key[0])
        return [Change(key[0], key[1], before, verdict)]


def rule_changes(rule: Rule, candidates: Iterable[tuple[Device, DeviceInventory | None]], *,
                 findings: Mapping[str, Verdict], exemptions: Iterable[Exemption],
                 attestations: Mapping[str, Attestation], staleness: StalenessPolicy,
                 now: dt.datetime) -> list[Change]:
    """The changes `Engine.reevaluate_rule(rule.id, now)` makes, computed without an engine.

    A new restriction over a million devices evaluates each of its candidates once: restoring an engine for
    that (indexes, timers, every finding of every rule of the candidates) cost more than the evaluation itself.
    The result equals that of an engine restored over the same devices, provided `candidates` holds every
    device that can be anything but compliant under the rule (holders of its apps, devices it cannot see,
    devices exempted or attested) and every device of `findings`, as `Engine._candidates` gathers them.

    `candidates`: (device, inventory) pairs, the inventory needing only the apps the rule bans; `findings`: the
    rule's stored verdicts by device; `exemptions`: any, in the order an engine holds them (the first in force
    that names the device or its holder applies); `attestations`: the rule's, by device. Changes come in the
    order of `candidates`.
    """
    in_force = rule.in_force(now)
    active = [e for e in exemptions if e.restriction == rule.id and e.ends > now]
    by_device: dict[str, list[tuple[int, Exemption]]] = defaultdict(list)
    by_holder: dict[str, list[tuple[int, Exemption]]] = defaultdict(list)
    for position, exemption in enumerate(active):
        if exemption.device is not None:
            by_device[exemption.device].append((position, exemption))
        if exemption.holder is not None:
            by_holder[exemption.holder].append((position, exemption))
    limits: dict[str, dt.timedelta] = {}
    changes: list[Change] = []
    for device, inventory in candidates:
        limit = limits.get(device.organisation)
        if limit is None:
            limit = limits[device.organisation] = staleness(device.organisation)
        exempted: Exemption | None = None
        if active:  # the exemptions naming the device or its holder, in the engine's order, judged as it judges
            options = by_device.get(device.id, []) + (by_holder.get(device.holder, []) if device.holder else [])
            exempted = exemption_for([e for _, e in sorted(options, key=lambda item: item[0])], device, rule.id,
                                     now) if options else None
        after = _stored(evaluate(rule, device, inventory, now, staleness=limit, exemption=exempted,
                                 attestation=attestations.get(device.id), in_force=in_force))
        before = findings.get(device.id)
        if before != after:
            changes.append(Change(device.id, rule.id, before, after))
    return changes


def full_evaluation(rules: Iterable[Rule], devices: Iterable[Device], inventories: Mapping[str, DeviceInventory],
                    exemptions: Iterable[Exemption], attestations: Mapping[Key, Attestation],
                    staleness: StalenessPolicy, now: dt.datetime) -> dict[Key, Verdict]:
    """Every finding from scratch: the reference for the incremental engine."""
    exemption_list = list(exemptions)
    out: dict[Key, Verdict] = {}
    device_list = list(devices)
    for rule in rules:
        for device in device_list:
            verdict = _stored(evaluate(
                rule, device, inventories.get(device.id), now, staleness=staleness(device.organisation),
                exemption=exemption_for(exemption_list, device, rule.id, now),
                attestation=attestations.get((device.id, rule.id))))
            if verdict is not None:
                out[(device.id, rule.id)] = verdict
    return out
