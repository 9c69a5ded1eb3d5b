"""The state of one device against one restriction: a pure function of what is known at a moment.

The order of the questions is the order a person would ask them: is the device covered at all; is it
excused; can we see it; does it hold a banned app, and if so, is the deadline ahead or behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from appban.compliance.rules import Rule, start_of
from appban.compliance.state import DeviceInventory
from appban.inventory.interface import Visibility
from appban.model import App, Attestation, Device, Exemption, FindingState, Strictness

__all__ = ["Verdict", "evaluate", "exemption_for"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A finding without its history: the state, the deadline, the apps that caused it and why."""

    state: FindingState
    reason: str
    deadline: dt.datetime | None = None
    apps: frozenset[App] = frozenset()
    shadow: bool = False


def exemption_for(exemptions: Iterable[Exemption], device: Device, restriction_id: str,
                  now: dt.datetime) -> Exemption | None:
    """The exemption in force now for this device (by id or by its holder), if any."""
    for exemption in exemptions:
        if exemption.restriction != restriction_id or exemption.ends <= now:
            continue
        if exemption.device == device.id or (exemption.holder is not None and exemption.holder == device.holder):
            return exemption
    return None


def evaluate(rule: Rule, device: Device, inventory: DeviceInventory | None, now: dt.datetime, *,
             staleness: dt.timedelta, exemption: Exemption | None = None,
             attestation: Attestation | None = None, in_force: bool | None = None) -> Verdict | None:
    """None when the restriction does not cover the device now; otherwise its verdict.

    `in_force` is `rule.in_force(now)` when the caller has it already: it is the same for every device, and
    asking it again for each of 50,000 devices cost more than the rest of their evaluation.
    """
    restriction = rule.restriction
    if device.organisation not in rule.binding or not (rule.in_force(now) if in_force is None else in_force):
        return None
    if not restriction.scope.devices.matches(device):
        return None
    shadow = restriction.shadow
    if exemption is not None:
        return Verdict(FindingState.EXEMPT, f"exempt until {exemption.ends:%Y-%m-%d}: {exemption.reason}",
                       deadline=exemption.ends, shadow=shadow)
    if inventory is None:
        return Verdict(FindingState.UNKNOWN, "no inventory received for this device", shadow=shadow)
    if now - inventory.observed_at > staleness:
        return Verdict(FindingState.UNKNOWN, f"inventory older than {staleness.days} days "
                       f"(last {inventory.observed_at:%Y-%m-%d})", shadow=shadow)
    present = inventory.holds(rule.banned)
    if present:
        apps = frozenset(present)
        names = ", ".join(sorted(a.identifier for a in apps))
        if restriction.strictness is Strictness.ADVISE:
            return Verdict(FindingState.ADVISED, f"holds {names}; advised to remove", apps=apps, shadow=shadow)
        breach_start = max(min(present.values()), start_of(restriction.effective))
        deadline = breach_start + restriction.grace
        if now < deadline:
            return Verdict(FindingState.GRACE, f"holds {names}; remove by {deadline:%Y-%m-%d %H:%M} UTC",
                           deadline=deadline, apps=apps, shadow=shadow)
        return Verdict(FindingState.NON_COMPLIANT, f"holds {names} past the deadline of {deadline:%Y-%m-%d}",
                       deadline=deadline, apps=apps, shadow=shadow)
    if inventory.visibility is Visibility.FULL:
        return Verdict(FindingState.COMPLIANT, "no restricted app installed", shadow=shadow)
    if attestation is not None and attestation.at <= now < attestation.expires:
        return Verdict(FindingState.COMPLIANT, f"holder attested removal on {attestation.at:%Y-%m-%d}",
                       deadline=attestation.expires, shadow=shadow)
    return Verdict(FindingState.UNKNOWN, "the source cannot see personal apps on this device", shadow=shadow)

