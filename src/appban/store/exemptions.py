"""Exemptions in the store: a named device, or every device of a holder, excused from one restriction.

Granting and revoking are audited. An exemption is never deleted: a revoked one keeps its row (with
`revoked_at`) so that what was excused, by whom and until when can still be read.

Exemption requests: someone acting for an organisation asks the restriction's issuer to excuse a device or a
holder, with a reason and the end wanted (`exemption:request`). A pending request changes no finding. An
admin approves it, which grants the exemption through `grant` with the approver recorded
(`exemption:approve`, then `exemption:create`), or rejects it with a reason (`exemption:reject`). Requests are
never deleted either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, NotFound, Problem
from appban.model import Exemption
from appban.store.audit_log import AuditLog
from appban.store.bulk import CHUNK, among, chunked
from appban.store.tables import ID_LENGTH, ExemptionRequestRow, ExemptionRow, RestrictionRow

__all__ = ["ExemptionRecord", "ExemptionRepository", "ExemptionRequest", "RequestStatus"]

RequestStatus = Literal["pending", "approved", "rejected"]
PENDING: RequestStatus = "pending"


@dataclass(frozen=True, slots=True)
class ExemptionRecord:
    """An exemption with who granted it and when, and when it was revoked (None while it stands)."""

    exemption: Exemption
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ExemptionRequest:
    """A request to excuse a device or a holder from one restriction, and what became of it."""

    id: str
    restriction: str
    device: str | None
    holder: str | None
    reason: str
    ends: dt.datetime  # the end the requester wants
    requested_at: dt.datetime
    requested_by: str
    status: RequestStatus
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_note: str | None = None
    exemption: str | None = None  # the exemption granted, once approved

    def as_exemption(self) -> Exemption:
        """The exemption it asks for, under the request's id: what the API's scoping judges visibility by."""
        return Exemption(id=self.id, restriction=self.restriction, reason=self.reason, approver="", ends=self.ends,
                         device=self.device, holder=self.holder)


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
        problems = _subject_problems(where, exemption.id, exemption.device, exemption.holder, "exempt")
        problems += _end_problems(where, exemption.ends, now)
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
        device_ids, emails = sorted(set(devices)), sorted(set(holders))
        if device_ids and len(device_ids) <= CHUNK and len(emails) <= CHUNK:  # a push's few devices: one query
            named = among(ExemptionRow.device_id, device_ids)
            if emails:
                named = or_(named, among(ExemptionRow.holder_email, emails))
            rows = self._session.scalars(select(ExemptionRow).where(*current, named).order_by(ExemptionRow.id))
            return [_exemption(row) for row in rows]
        for column, values in ((ExemptionRow.device_id, device_ids), (ExemptionRow.holder_email, emails)):
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

    # --- requests -----------------------------------------------------------------------------------------

    def request(self, request: ExemptionRequest, *, actor: str, now: dt.datetime) -> ExemptionRequest:
        """Store a new pending request (audited `exemption:request`); it changes no finding.

        Raises InvalidInput for an empty or too long id, no reason, a device and a holder both given or neither,
        or a wanted end that is not after `now`; NotFound for an unknown restriction; Conflict for an id in use.
        """
        where = Location(f"exemption request {request.id}" if request.id else "exemption request")
        problems = _subject_problems(where, request.id, request.device, request.holder, "ask for")
        if not request.reason.strip():
            problems.append(Problem(where, "`reason` must say why, in words the approver and an auditor will read"))
        problems += _end_problems(where, request.ends, now)
        if problems:
            raise InvalidInput(problems)
        if self._session.get(RestrictionRow, request.restriction) is None:
            raise NotFound(f"exemption request `{request.id}`: `restriction`: no restriction `{request.restriction}`")
        if self._session.get(ExemptionRequestRow, request.id) is not None:
            raise Conflict(f"exemption request `{request.id}` already exists (choose another id)")
        self._session.add(ExemptionRequestRow(
            id=request.id, restriction_id=request.restriction, device_id=request.device,
            holder_email=request.holder, reason=request.reason, ends=request.ends, requested_at=now,
            requested_by=actor, status=PENDING, decided_at=None, decided_by=None, decision_note=None,
            exemption_id=None))
        self._session.flush()
        stored = self.get_request(request.id)
        assert stored is not None
        AuditLog(self._session).append(AuditEvent.EXEMPTION_REQUEST, request.id, actor=actor, at=now,
                                       details=_request_details(stored))
        return stored

    def approve(self, request_id: str, *, exemption_id: str, approver: str, ends: dt.datetime | None = None,
                note: str | None = None, actor: str, now: dt.datetime) -> Exemption:
        """Approve a pending request: the exemption it asks for is granted (through `grant`, so audited
        `exemption:create` too) with `approver` recorded, until `ends` (default: the end asked for). Audited
        `exemption:approve`. Returns the exemption so its devices can be judged again.

        Raises NotFound for an unknown request, Conflict for one already decided, and what `grant` raises.
        """
        row = self._pending(request_id)
        exemption = Exemption(id=exemption_id, restriction=row.restriction_id, reason=row.reason,
                              approver=approver, ends=ends or row.ends, device=row.device_id, holder=row.holder_email)
        self.grant(exemption, actor=actor, now=now)
        row.status, row.decided_at, row.decided_by = "approved", now, actor
        row.decision_note, row.exemption_id = (note or None), exemption.id
        self._session.flush()
        AuditLog(self._session).append(AuditEvent.EXEMPTION_APPROVE, request_id, actor=actor, at=now, details={
            **_request_details(_request(row)), "exemption": exemption.id, "approver": approver,
            "ends": exemption.ends.astimezone(dt.UTC).isoformat()})
        return exemption

    def reject(self, request_id: str, *, reason: str, actor: str, now: dt.datetime) -> ExemptionRequest:
        """Reject a pending request, saying why (audited `exemption:reject`); nothing else changes.

        Raises InvalidInput for an empty reason, NotFound for an unknown request, Conflict for one decided.
        """
        if not reason.strip():
            raise InvalidInput.at("reason", "say why the request is rejected: the requester will read it")
        row = self._pending(request_id)
        row.status, row.decided_at, row.decided_by, row.decision_note = "rejected", now, actor, reason.strip()
        self._session.flush()
        rejected = _request(row)
        AuditLog(self._session).append(AuditEvent.EXEMPTION_REJECT, request_id, actor=actor, at=now,
                                       details={**_request_details(rejected), "rejection": rejected.decision_note})
        return rejected

    def _pending(self, request_id: str) -> ExemptionRequestRow:
        row = self._session.get(ExemptionRequestRow, request_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no exemption request `{request_id}`")
        if row.status != PENDING:
            raise Conflict(f"exemption request `{request_id}` was already {row.status} on "
                           f"{row.decided_at or row.requested_at:%Y-%m-%d %H:%M} UTC by {row.decided_by}")
        return row

    def get_request(self, request_id: str) -> ExemptionRequest | None:
        row = self._session.get(ExemptionRequestRow, request_id)
        return None if row is None else _request(row)

    def requests(self, *, status: RequestStatus | None = None) -> list[ExemptionRequest]:
        """Every request (or those in one status), oldest first."""
        query = select(ExemptionRequestRow)
        if status is not None:
            query = query.where(ExemptionRequestRow.status == status)
        query = query.order_by(ExemptionRequestRow.requested_at, ExemptionRequestRow.id)
        return [_request(row) for row in self._session.scalars(query)]


def _subject_problems(where: Location, item_id: str, device: str | None, holder: str | None,
                      verb: str) -> list[Problem]:
    """An id that fits, and exactly one of a device or a holder (an exemption or a request is about one)."""
    problems: list[Problem] = []
    if not item_id or len(item_id) > ID_LENGTH:
        problems.append(Problem(where, f"`id` must have 1 to {ID_LENGTH} characters"))
    if (device is None) == (holder is None):
        problems.append(Problem(where, "`device` and `holder`: name exactly one",
                                f"{verb} a device, or every device of a holder, not both"))
    return problems


def _end_problems(where: Location, ends: dt.datetime, now: dt.datetime) -> list[Problem]:
    if ends.tzinfo is None or ends.utcoffset() is None:
        return [Problem(where, "`ends` has no time zone", "give the end date in UTC")]
    if ends <= now:
        return [Problem(where, f"`ends` ({ends.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC) is not in the future",
                        "an exemption that has already ended excuses nothing")]
    return []


def _request(row: ExemptionRequestRow) -> ExemptionRequest:
    status: RequestStatus = "approved" if row.status == "approved" else (
        "rejected" if row.status == "rejected" else PENDING)
    return ExemptionRequest(id=row.id, restriction=row.restriction_id, device=row.device_id,
                            holder=row.holder_email, reason=row.reason, ends=row.ends, requested_at=row.requested_at,
                            requested_by=row.requested_by, status=status, decided_at=row.decided_at,
                            decided_by=row.decided_by, decision_note=row.decision_note, exemption=row.exemption_id)


def _request_details(request: ExemptionRequest) -> dict[str, object]:
    return {"restriction": request.restriction, "device": request.device, "holder": request.holder,
            "reason": request.reason, "ends": request.ends.astimezone(dt.UTC).isoformat()}


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
