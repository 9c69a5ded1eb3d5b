"""Organisations in the store: read the hierarchy, and apply an organisations file to it (audited).

Applying is an upsert by id: new organisations are created, changed ones updated, the rest left alone, and
every change gets an audit entry naming the fields that changed. Organisations are never deleted here: a
restriction or a device may still refer to one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import InvalidInput, Location, Problem
from appban.model import Organisation
from appban.store.audit_log import AuditLog
from appban.store.tables import OrganisationRow

__all__ = ["ApplyCounts", "OrganisationRepository"]

_FIELDS = ("name", "parent", "kind", "country")


@dataclass(frozen=True, slots=True)
class ApplyCounts:
    """What applying a list of organisations did."""

    created: int
    updated: int
    unchanged: int


class OrganisationRepository:
    """Organisations in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def all(self) -> list[Organisation]:
        """Every organisation, by id."""
        return [_organisation(row) for row in self._session.scalars(select(OrganisationRow)
                                                                    .order_by(OrganisationRow.id))]

    def get(self, org_id: str) -> Organisation | None:
        row = self._session.get(OrganisationRow, org_id)
        return None if row is None else _organisation(row)

    def apply(self, orgs: Sequence[Organisation], *, actor: str, now: dt.datetime) -> ApplyCounts:
        """Create or update each organisation, parents before children whatever the order given.

        Raises InvalidInput (nothing written) for an id listed twice, a parent that is neither stored nor
        listed, or a change that would make the hierarchy cyclic. `appban.policy.check_organisations` reports
        these with file positions before anything reaches the store; this is the store's own guard.
        """
        rows = {row.id: row for row in self._session.scalars(select(OrganisationRow))}
        parents = _checked_parents(orgs, {row.id: row.parent_id for row in rows.values()})
        audit = AuditLog(self._session)
        created = updated = unchanged = 0
        for org in sorted(orgs, key=lambda o: (_depth(o.id, parents), o.id)):
            row = rows.get(org.id)
            if row is None:
                self._session.add(OrganisationRow(id=org.id, name=org.name, parent_id=org.parent, kind=org.kind,
                                                  country=org.country, created_at=now, updated_at=now))
                self._session.flush()  # the row exists before any child refers to it
                audit.append(AuditEvent.ORGANISATION_CREATE, org.id, actor=actor, at=now,
                             details={field: getattr(org, field) for field in _FIELDS})
                created += 1
                continue
            stored = _organisation(row)
            changes = {field: {"from": getattr(stored, field), "to": getattr(org, field)}
                       for field in _FIELDS if getattr(stored, field) != getattr(org, field)}
            if not changes:
                unchanged += 1
                continue
            row.name, row.parent_id, row.kind, row.country = org.name, org.parent, org.kind, org.country
            row.updated_at = now
            self._session.flush()
            audit.append(AuditEvent.ORGANISATION_UPDATE, org.id, actor=actor, at=now, details=changes)
            updated += 1
        return ApplyCounts(created=created, updated=updated, unchanged=unchanged)


def _organisation(row: OrganisationRow) -> Organisation:
    return Organisation(id=row.id, name=row.name, parent=row.parent_id, kind=row.kind, country=row.country)


def _checked_parents(orgs: Sequence[Organisation], stored: Mapping[str, str | None]) -> dict[str, str | None]:
    """The parent of every organisation once `orgs` are applied; InvalidInput if that is not a forest."""
    where = Location("organisations")
    problems: list[Problem] = []
    seen: set[str] = set()
    for org in orgs:
        if org.id in seen:
            problems.append(Problem(where, f"organisation `{org.id}` is listed twice"))
        seen.add(org.id)
    parents = dict(stored) | {org.id: org.parent for org in orgs}
    for org in orgs:
        if org.parent is not None and org.parent not in parents:
            problems.append(Problem(where, f"organisation `{org.id}`: unknown parent organisation `{org.parent}`",
                                    "list the parent too, or apply it first"))
    for org in orgs:
        if _depth(org.id, parents) < 0:
            problems.append(Problem(where, f"organisation `{org.id}`: its line of parents loops",
                                    "an organisation cannot be its own ancestor"))
    if problems:
        raise InvalidInput(problems)
    return parents


def _depth(org_id: str, parents: Mapping[str, str | None]) -> int:
    """How many ancestors an organisation has (0 for a root); -1 if its ancestry loops."""
    seen: set[str] = set()
    current = parents.get(org_id)
    while current is not None:
        if current in seen or current == org_id:
            return -1
        seen.add(current)
        current = parents.get(current)
    return len(seen)
