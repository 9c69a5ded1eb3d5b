"""Exemptions in the store: a named device, or every device of a holder, excused from one restriction.

Granting and revoking are audited. An exemption is never deleted: a revoked one keeps its row (with
`revoked_at`) so that what was excused, by whom and until when can still be read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, NotFound, Problem
from appban.model import Exemption
from appban.store.audit_log import AuditLog
from appban.store.bulk import among, chunked
from appban.store.tables import ID_LENGTH, ExemptionRow, RestrictionRow

__all__ = ["ExemptionRecord", "ExemptionRepository"]


@dataclass(frozen=True, slots=True)
class ExemptionRecord:
    """An exemption with who granted it and when, and when it was revoked (None while it stands)."""

    exemption: Exemption
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class ExemptionRepository:
    """Exemptions in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def grant(self, exemption: Exemption, *, actor: str, now: dt.datetime) -> Exemption:
        """Store a new exemption (audited `exemption:create`).

        Raises InvalidInput naming the field for an id that is empty or too long, a device and a holder both
        given or neither, or an end that is not after `now`; NotFound for an unknown restriction; Conflict
        for an id already used.
        """
        where = Location(f"exemption {exemption.id}" if exemption.id else "exemption")
        problems: list[Problem] = []
        if not exemption.id or len(exemption.id) > ID_LENGTH:
            problems.append(Problem(where, f"`id` must have 1 to {ID_LENGTH} characters"))
        if (exemption.device is None) == (exemption.holder is None):
            problems.append(Problem(where, "`device` and `holder`: name exactly one",
                                    "exempt a device, or every device of a holder, not both"))
        if exemption.ends.tzinfo is None or exemption.ends.utcoffset() is None:
            problems.append(Problem(where, "`ends` has no time zone", "give the end date in UTC"))
        elif exemption.ends <= now:
            problems.append(Problem(where, f"`ends` ({exemption.ends.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC) is "
                                    "not in the future", "an exemption that has already ended excuses nothing"))
        if problems:
            raise InvalidInput(problems)
        if self._session.get(RestrictionRow, exemption.restriction) is None:
            raise NotFound(f"exemption `{exemption.id}`: `restriction`: no restriction `{exemption.restriction}`")
        if self._session.get(ExemptionRow, exemption.id) is not None:
            raise Conflict(f"exemption `{exemption.id}` already exists (choose another id)")
        self._session.add(ExemptionRow(id=exemption.id, restriction_id=exemption.restriction,
                                       device_id=exemption.device, holder_email=exemption.holder,
                                       reason=exemption.reason, approver=exemption.approver, ends=exemption.ends,
                                       created_at=now, created_by=actor, revoked_at=None))
        self._session.flush()
        AuditLog(self._session).append(AuditEvent.EXEMPTION_CREATE, exemption.id, actor=actor, at=now,
                                       details=_details(exemption))
        return exemption

    def revoke(self, exemption_id: str, *, actor: str, now: dt.datetime) -> Exemption:
        """End an exemption now (audited `exemption:revoke`); returns it so its devices can be re-evaluated.

        Raises NotFound for an unknown id and Conflict for one already revoked.
        """
        row = self._session.get(ExemptionRow, exemption_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no exemption `{exemption_id}`")
        if row.revoked_at is not None:
            raise Conflict(f"exemption `{exemption_id}` was already revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC")
        row.revoked_at = now
        self._session.flush()
        exemption = _exemption(row)
        AuditLog(self._session).append(AuditEvent.EXEMPTION_REVOKE, exemption_id, actor=actor, at=now,
                                       details=_details(exemption))
        return exemption

    def active(self, now: dt.datetime) -> list[Exemption]:
        """The exemptions in force now (not revoked, not ended), by id."""
        query = (select(ExemptionRow).where(ExemptionRow.revoked_at.is_(None), ExemptionRow.ends > now)
                 .order_by(ExemptionRow.id))
        return [_exemption(row) for row in self._session.scalars(query)]

    def active_for(self, devices: Iterable[str], holders: Iterable[str], now: dt.datetime) -> list[Exemption]:
        """The exemptions in force now that name one of these devices or holders, by id: a working set of a
        few devices needs those, not every exemption of the fleet."""
        out: dict[str, Exemption] = {}
        current = (ExemptionRow.revoked_at.is_(None), ExemptionRow.ends > now)
        for column, values in ((ExemptionRow.device_id, devices), (ExemptionRow.holder_email, holders)):
            for chunk in chunked(sorted(set(values))):
                for row in self._session.scalars(select(ExemptionRow).where(*current, among(column, chunk))):
                    out[row.id] = _exemption(row)
        return [out[key] for key in sorted(out)]

    def for_restriction(self, restriction_id: str, *, include_revoked: bool = False) -> list[Exemption]:
        """The exemptions from one restriction, ended ones included, revoked ones only when asked; by id."""
        query = select(ExemptionRow).where(ExemptionRow.restriction_id == restriction_id)
        if not include_revoked:
            query = query.where(ExemptionRow.revoked_at.is_(None))
        return [_exemption(row) for row in self._session.scalars(query.order_by(ExemptionRow.id))]

    def get(self, exemption_id: str) -> Exemption | None:
        """An exemption by id, revoked or not (see `record` for which)."""
        row = self._session.get(ExemptionRow, exemption_id)
        return None if row is None else _exemption(row)

    def record(self, exemption_id: str) -> ExemptionRecord | None:
        """An exemption with its grant and revocation."""
        row = self._session.get(ExemptionRow, exemption_id)
        return None if row is None else _record(row)

    def records(self) -> list[ExemptionRecord]:
        """Every exemption ever granted, ended and revoked ones too, by id: what an auditor lists and filters."""
        return [_record(row) for row in self._session.scalars(select(ExemptionRow).order_by(ExemptionRow.id))]


def _record(row: ExemptionRow) -> ExemptionRecord:
    return ExemptionRecord(exemption=_exemption(row), created_at=row.created_at, created_by=row.created_by,
                           revoked_at=row.revoked_at)


def _exemption(row: ExemptionRow) -> Exemption:
    return Exemption(id=row.id, restriction=row.restriction_id, reason=row.reason, approver=row.approver,
                     ends=row.ends, device=row.device_id, holder=row.holder_email)


def _details(exemption: Exemption) -> dict[str, object]:
    return {"restriction": exemption.restriction, "device": exemption.device, "holder": exemption.holder,
            "reason": exemption.reason, "approver": exemption.approver,
            "ends": exemption.ends.astimezone(dt.UTC).isoformat()}
