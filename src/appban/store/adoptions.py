"""Adoptions: a child organisation's decision to adopt, or decline, a restriction recommended to it.

A recommended restriction binds a child organisation once it has adopted it (appban.policy.scope); the store
keeps the latest decision per (restriction, organisation) and the audit log keeps every decision ever made.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import NotFound
from appban.store.audit_log import AuditLog
from appban.store.tables import AdoptionRow, OrganisationRow, RestrictionRow

__all__ = ["Adoption", "AdoptionRepository"]


@dataclass(frozen=True, slots=True)
class Adoption:
    """An organisation's latest decision on a restriction: adopted (bound by it) or declined."""

    restriction: str
    organisation: str
    adopted: bool
    decided_at: dt.datetime
    decided_by: str
    note: str = ""


class AdoptionRepository:
    """Adoption decisions in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, restriction_id: str, organisation_id: str, *, adopted: bool, actor: str, now: dt.datetime,
               note: str = "") -> Adoption:
        """Record a decision, replacing any earlier one; each decision is audited, repeated ones too."""
        if self._session.get(RestrictionRow, restriction_id) is None:
            raise NotFound(f"no restriction `{restriction_id}`")
        if self._session.get(OrganisationRow, organisation_id) is None:
            raise NotFound(f"no organisation `{organisation_id}`")
        row = self._session.get(AdoptionRow, (restriction_id, organisation_id))
        previous = None if row is None else ("adopted" if row.adopted else "declined")
        if row is None:
            row = AdoptionRow(restriction_id=restriction_id, organisation_id=organisation_id)
            self._session.add(row)
        row.adopted, row.decided_at, row.decided_by, row.note = adopted, now, actor, note
        self._session.flush()
        event = AuditEvent.RESTRICTION_ADOPT if adopted else AuditEvent.RESTRICTION_DECLINE
        AuditLog(self._session).append(event, restriction_id, actor=actor, at=now,
                                       details={"organisation": organisation_id, "note": note,
                                                "previous": previous})
        return _adoption(row)

    def adopters(self, restriction_id: str) -> frozenset[str]:
        """The organisations that adopted the restriction (and did not decline it since)."""
        query = select(AdoptionRow.organisation_id).where(AdoptionRow.restriction_id == restriction_id,
                                                         AdoptionRow.adopted.is_(True))
        return frozenset(self._session.scalars(query))

    def all(self) -> list[Adoption]:
        """Every current decision, by restriction then organisation."""
        query = select(AdoptionRow).order_by(AdoptionRow.restriction_id, AdoptionRow.organisation_id)
        return [_adoption(row) for row in self._session.scalars(query)]


def _adoption(row: AdoptionRow) -> Adoption:
    return Adoption(restriction=row.restriction_id, organisation=row.organisation_id, adopted=row.adopted,
                    decided_at=row.decided_at.astimezone(dt.UTC), decided_by=row.decided_by, note=row.note)
