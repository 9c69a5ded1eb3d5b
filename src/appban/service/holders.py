"""Assigning devices to holders from a holder map: all of a file or none of it, findings current after.

A device's holder decides whose exemptions cover it and who is told to remove an app, so a changed holder
re-evaluates that device's findings in the same transaction, and the gate follows (gate_changes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import InvalidInput, Problem
from appban.inventory import HolderAssignment
from appban.model import Holder
from appban.service.context import PolicyContext
from appban.service.evaluation import Outcome, evaluate_pairs
from appban.store import AuditLog, DeviceRepository, HolderRepository

__all__ = ["HolderSummary", "assign_holders"]


@dataclass(slots=True)
class HolderSummary:
    source: str
    assigned: int = 0
    changed: int = 0
    new_holders: int = 0
    outcome: Outcome = field(default_factory=Outcome)


def assign_holders(session: Session, context: PolicyContext, assignments: Sequence[HolderAssignment], *,
                   source: str, actor: str, now: dt.datetime) -> HolderSummary:
    """Store the assignments inside the caller's transaction; InvalidInput names every unknown device."""
    summary = HolderSummary(source=source, assigned=len(assignments))
    devices = DeviceRepository(session).get_many(a.device_id for a in assignments)
    problems = [Problem(a.where, f"device {a.device_id!r} is not known to appban",
                        "import the device's inventory first (appban import), then its holder")
                for a in assignments if a.device_id not in devices]
    if problems:
        raise InvalidInput(problems)
    holders: dict[str, Holder] = {}
    for a in assignments:
        holders.setdefault(a.email, Holder(email=a.email, organisation=devices[a.device_id].organisation,
                                           name=a.name, language=a.language))
    summary.new_holders = HolderRepository(session).upsert(list(holders.values())).created
    changed = [dataclasses.replace(devices[a.device_id], holder=a.email) for a in assignments
               if devices[a.device_id].holder != a.email]
    summary.changed = len(changed)
    if changed:
        DeviceRepository(session).upsert(changed, now=now)
        summary.outcome = evaluate_pairs(session, context, [(device.id, rule) for device in changed
                                                            for rule in context.rules], now)
    AuditLog(session).append(AuditEvent.HOLDER_ASSIGN, source, actor=actor, at=now,
                             details={"devices": summary.assigned, "changed": summary.changed,
                                      "new_holders": summary.new_holders})
    return summary
