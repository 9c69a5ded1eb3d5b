"""`/api/v1/exemptions`: devices or holders excused from one restriction, granted and revoked by its issuer.

Only admins of the restriction's issuer grant or revoke its exemptions (a municipality cannot excuse its
devices from a federal ban). An exemption's ETag is a hash of its state; revoking needs it in `If-Match`.
Findings of the devices concerned are re-evaluated in the same transaction, so the gate follows at once.

`/api/v1/exemptions/requests`: admins and analysts ask for an exemption for a device, or a holder, of their
subtree; the request is pending (no finding changes) until an admin of the issuer whose subtree holds the
device approves it (the exemption is granted exactly as `POST /api/v1/exemptions` grants one, the approver
recorded) or rejects it with a reason. Requests are seen by the exemptions' rule (`appban.api.scope`). The
dashboard files and decides requests through `file_request`, `decide_refusal` and `approve_request` here.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.orm import Session

from appban.access import Permission
from appban.api.auth import Caller, Manager, Reader, require
from appban.api.errors import ApiError, responses
from appban.api.etags import exemption_etag, matches
from appban.api.fields import (
    DEVICE_ID_PATTERN,
    EMAIL_PATTERN,
    ID_PATTERN,
    DeviceId,
    Email,
    Name,
    Note,
    ObjectId,
    UtcDatetime,
)
from appban.api.pagination import Page, PageParams, query_of, slice_page
from appban.api.scope import Work, scoped
from appban.errors import InvalidInput, NotFound
from appban.model import Exemption
from appban.service import evaluate_pairs
from appban.store import DeviceRepository, ExemptionRecord, ExemptionRepository, ExemptionRequest, RequestStatus
from appban.store.tables import DEVICE_ID_LENGTH, EMAIL_LENGTH, ID_LENGTH

__all__ = ["ExemptionIn", "ExemptionOut", "RequestIn", "RequestOut", "approve_request", "decide_refusal",
           "file_request", "router"]

router = APIRouter(prefix="/exemptions", tags=["exemptions"])

ExemptionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="An exemption's id.")]
ExemptionState = Literal["active", "ended", "revoked"]
RequestPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH,
                                  description="An exemption request's id.")]
Requester = Annotated[Caller, Depends(require(Permission.REQUEST_EXEMPTION))]


class ExemptionIn(BaseModel):
    """A device, or every device of a holder, excused from one restriction until `ends`."""

    model_config = ConfigDict(extra="forbid")

    id: ObjectId | None = None  # generated when not given
    restriction: ObjectId
    device: DeviceId | None = None
    holder: Email | None = None
    reason: Note
    approver: Name
    ends: UtcDatetime

    @model_validator(mode="after")
    def _one_subject(self) -> ExemptionIn:
        if (self.device is None) == (self.holder is None):
            raise ValueError("name exactly one `device` or one `holder`")
        if not self.reason.strip():
            raise ValueError("`reason` must say why, in words an auditor will read")
        return self


class ExemptionOut(BaseModel):
    id: str
    restriction: str
    device: str | None
    holder: str | None
    reason: str
    approver: str
    ends: dt.datetime
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    state: ExemptionState
    etag: str


def _state(record: ExemptionRecord, now: dt.datetime) -> ExemptionState:
    if record.revoked_at is not None:
        return "revoked"
    return "active" if record.exemption.ends > now else "ended"


def _out(record: ExemptionRecord, now: dt.datetime) -> ExemptionOut:
    e = record.exemption
    return ExemptionOut(id=e.id, restriction=e.restriction, device=e.device, holder=e.holder, reason=e.reason,
                        approver=e.approver, ends=e.ends, created_at=record.created_at, created_by=record.created_by,
                        revoked_at=record.revoked_at, state=_state(record, now), etag=exemption_etag(record))


def _pairs(session: Session, exemption: Exemption) -> list[tuple[str, str]]:
    devices = ({exemption.device} if exemption.device else
               DeviceRepository(session).ids_of_holder(exemption.holder or ""))
    return [(device, exemption.restriction) for device in sorted(devices)]


def _record(work: Work, exemption_id: str) -> ExemptionRecord:
    work.exemption(exemption_id)  # NotFound unless the caller sees it
    record = ExemptionRepository(work.session).record(exemption_id)
    if record is None:
        raise NotFound(f"no exemption `{exemption_id}`")
    return record


@router.get("", response_model=Page[ExemptionOut], summary="Exemptions the caller sees")
def list_exemptions(
    caller: Reader,
    page: PageParams,
    restriction: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
    device: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN, max_length=DEVICE_ID_LENGTH)] = None,
    holder: Annotated[str | None, Query(pattern=EMAIL_PATTERN, max_length=EMAIL_LENGTH)] = None,
    state: ExemptionState | None = None,
    sort: Literal["id", "-id", "ends", "-ends", "created_at", "-created_at"] = "id",
) -> Page[ExemptionOut]:
    query = query_of("exemptions", restriction=restriction, device=device, holder=holder, state=state, sort=sort)
    with scoped(caller) as work:
        records = ExemptionRepository(work.session).records()
        visible = {e.id for e in work.visible_exemptions(r.exemption for r in records)}
        items = [_out(r, work.now) for r in records if r.exemption.id in visible]
    items = [e for e in items if (restriction is None or e.restriction == restriction)
             and (device is None or e.device == device) and (holder is None or e.holder == holder)
             and (state is None or e.state == state)]
    field = sort.lstrip("-")
    items.sort(key=lambda e: (str(getattr(e, field)), e.id), reverse=sort.startswith("-"))
    chunk, cursor, total = slice_page(items, page, query)
    return Page[ExemptionOut](items=chunk, next=cursor, total=total)


@router.post("", response_model=ExemptionOut, status_code=201, responses=responses(409),
             summary="Excuse a device or a holder from a restriction until a time")
def grant_exemption(body: ExemptionIn, response: Response,
                    caller: Manager) -> ExemptionOut:
    with scoped(caller) as work:
        rule = work.context.rules.get(body.restriction)
        if rule is None or not work.sees_restriction(rule.restriction):
            raise InvalidInput.at("body.restriction", f"unknown restriction `{body.restriction}`")
        if not work.manages(rule.restriction):
            raise ApiError(403, f"`{body.restriction}` is issued by `{rule.restriction.issuer}`, above your "
                           "organisation", hint="only admins of the issuer grant its exemptions")
        exemption = Exemption(id=body.id or f"ex-{secrets.token_hex(4)}", restriction=body.restriction,
                              reason=body.reason.strip(), approver=body.approver, ends=body.ends, device=body.device,
                              holder=body.holder)
        repository = ExemptionRepository(work.session)
        repository.grant(exemption, actor=caller.actor, now=work.now)
        evaluate_pairs(work.session, work.context, _pairs(work.session, exemption), work.now)
        record = repository.record(exemption.id)
        assert record is not None
        out = _out(record, work.now)
    response.headers["ETag"] = out.etag
    response.headers["Location"] = f"/api/v1/exemptions/{out.id}"
    return out


# --- requests (declared before `/{exemption_id}`, which would otherwise take `requests` for an id) -------------


class RequestIn(BaseModel):
    """Ask the issuer's admins to excuse a device, or every device of a holder, of your subtree until `ends`."""

    model_config = ConfigDict(extra="forbid")

    restriction: ObjectId
    device: DeviceId | None = None
    holder: Email | None = None
    reason: Note
    ends: UtcDatetime

    @model_validator(mode="after")
    def _one_subject(self) -> RequestIn:
        if (self.device is None) == (self.holder is None):
            raise ValueError("name exactly one `device` or one `holder`")
        if not self.reason.strip():
            raise ValueError("`reason` must say why, in words the approver and an auditor will read")
        return self


class ApproveIn(BaseModel):
    """Approve a request: the exemption is granted until `ends` (default: the end asked for)."""

    model_config = ConfigDict(extra="forbid")

    approver: Name | None = None  # default: the token's name
    ends: UtcDatetime | None = None
    note: Note | None = None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Note

    @model_validator(mode="after")
    def _said(self) -> RejectIn:
        if not self.reason.strip():
            raise ValueError("`reason` must say why the request is rejected")
        return self


class RequestOut(BaseModel):
    id: str
    restriction: str
    device: str | None
    holder: str | None
    reason: str
    ends: dt.datetime
    requested_at: dt.datetime
    requested_by: str
    status: RequestStatus
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_note: str | None
    exemption: str | None


def _request_out(request: ExemptionRequest) -> RequestOut:
    return RequestOut(id=request.id, restriction=request.restriction, device=request.device, holder=request.holder,
                      reason=request.reason, ends=request.ends, requested_at=request.requested_at,
                      requested_by=request.requested_by, status=request.status, decided_at=request.decided_at,
                      decided_by=request.decided_by, decision_note=request.decision_note,
                      exemption=request.exemption)


def file_request(work: Work, *, restriction: str, device: str | None, holder: str | None, reason: str,
                 ends: dt.datetime, actor: str, where: str = "") -> ExemptionRequest:
    """Store a pending request for a device or holder of the caller's subtree from a restriction it sees.

    Raises InvalidInput (at `where` + field) for a restriction, device or holder the caller does not see, as
    for one that does not exist, and what `ExemptionRepository.request` raises.
    """
    rule = work.context.rules.get(restriction)
    if rule is None or not work.sees_restriction(rule.restriction):
        raise InvalidInput.at(f"{where}restriction", f"unknown restriction `{restriction}`")
    devices = DeviceRepository(work.session)
    if device is not None:
        found = devices.get_many([device]).get(device)
        if found is None or not work.sees(found.organisation):
            raise InvalidInput.at(f"{where}device", f"unknown device `{device}`")
    elif holder is not None:
        placed = devices.get_many(devices.ids_of_holder(holder))
        if not any(work.sees(d.organisation) for d in placed.values()):
            raise InvalidInput.at(f"{where}holder", f"no device of your organisations is held by `{holder}`")
    return ExemptionRepository(work.session).request(ExemptionRequest(
        id=f"exr-{secrets.token_hex(4)}", restriction=restriction, device=device, holder=holder,
        reason=reason.strip(), ends=ends, requested_at=work.now, requested_by=actor, status="pending"),
        actor=actor, now=work.now)


def decide_refusal(work: Work, request: ExemptionRequest) -> str | None:
    """Why the caller may not approve or reject this (visible) request, or None when it may: only admins of the
    restriction's issuer whose subtree holds the device (or one of the holder's devices) decide."""
    if not work.caller.may(Permission.MANAGE):
        return f"a `{work.caller.token.role}` may not decide exemption requests (it needs `manage`)"
    rule = work.context.rules.get(request.restriction)
    if rule is None or not work.manages(rule.restriction):
        issuer = rule.restriction.issuer if rule else "?"
        return (f"`{request.restriction}` is issued by `{issuer}`, above your organisation: only admins of the "
                "issuer decide its exemption requests")
    devices = DeviceRepository(work.session)
    ids = {request.device} if request.device else devices.ids_of_holder(request.holder or "")
    if not any(work.sees(d.organisation) for d in devices.get_many(ids).values()):
        return "the device is no longer in your organisations"
    return None


def approve_request(work: Work, request_id: str, *, approver: str, ends: dt.datetime | None, note: str | None,
                    actor: str) -> ExemptionRequest:
    """Approve a request the caller may decide (see `decide_refusal`, checked by the shell): the exemption is
    granted and its devices judged again in this transaction, exactly as a grant."""
    repository = ExemptionRepository(work.session)
    exemption = repository.approve(request_id, exemption_id=f"ex-{secrets.token_hex(4)}", approver=approver,
                                   ends=ends, note=note, actor=actor, now=work.now)
    evaluate_pairs(work.session, work.context, _pairs(work.session, exemption), work.now)
    approved = repository.get_request(request_id)
    assert approved is not None
    return approved


def _decidable(work: Work, request_id: str) -> ExemptionRequest:
    request = work.exemption_request(request_id)  # NotFound unless the caller sees it
    refusal = decide_refusal(work, request)
    if refusal is not None:
        raise ApiError(403, refusal, hint="ask an admin of the restriction's issuer")
    return request


@router.get("/requests", response_model=Page[RequestOut], summary="Exemption requests the caller sees")
def list_requests(
    caller: Reader,
    page: PageParams,
    status: RequestStatus | None = None,
    restriction: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
) -> Page[RequestOut]:
    query = query_of("exemptions/requests", status=status, restriction=restriction)
    with scoped(caller) as work:
        requests = work.visible_requests(ExemptionRepository(work.session).requests(status=status))
    items = [_request_out(r) for r in requests if restriction is None or r.restriction == restriction]
    chunk, cursor, total = slice_page(items, page, query)
    return Page[RequestOut](items=chunk, next=cursor, total=total)


@router.post("/requests", response_model=RequestOut, status_code=201, responses=responses(409),
             summary="Ask for an exemption for a device or a holder of your subtree (changes no finding)")
def create_request(body: RequestIn, response: Response, caller: Requester) -> RequestOut:
    with scoped(caller) as work:
        out = _request_out(file_request(work, restriction=body.restriction, device=body.device, holder=body.holder,
                                        reason=body.reason, ends=body.ends, actor=caller.actor, where="body."))
    response.headers["Location"] = f"/api/v1/exemptions/requests/{out.id}"
    return out


@router.get("/requests/{request_id}", response_model=RequestOut, responses=responses(404))
def get_request(request_id: RequestPath, caller: Reader) -> RequestOut:
    with scoped(caller) as work:
        return _request_out(work.exemption_request(request_id))


@router.post("/requests/{request_id}/approve", response_model=RequestOut, responses=responses(404, 409),
             summary="Approve a pending request: the exemption is granted, its devices judged again at once")
def approve(request_id: RequestPath, body: ApproveIn, caller: Manager) -> RequestOut:
    with scoped(caller) as work:
        _decidable(work, request_id)
        return _request_out(approve_request(work, request_id, approver=body.approver or caller.token.name,
                                            ends=body.ends, note=body.note, actor=caller.actor))


@router.post("/requests/{request_id}/reject", response_model=RequestOut, responses=responses(404, 409),
             summary="Reject a pending request, saying why; nothing else changes")
def reject(request_id: RequestPath, body: RejectIn, caller: Manager) -> RequestOut:
    with scoped(caller) as work:
        _decidable(work, request_id)
        return _request_out(ExemptionRepository(work.session).reject(request_id, reason=body.reason,
                                                                     actor=caller.actor, now=work.now))


@router.get("/{exemption_id}", response_model=ExemptionOut, responses=responses(404))
def get_exemption(exemption_id: ExemptionPath, response: Response,
                  caller: Reader) -> ExemptionOut:
    with scoped(caller) as work:
        out = _out(_record(work, exemption_id), work.now)
    response.headers["ETag"] = out.etag
    return out


@router.delete("/{exemption_id}", response_model=ExemptionOut, responses=responses(404, 409, 428),
               summary="Revoke an exemption now; its devices are judged again at once")
def revoke_exemption(
    exemption_id: ExemptionPath, response: Response, caller: Manager,
    if_match: Annotated[str | None, Header(max_length=1000, description="The ETag read.")] = None,
) -> ExemptionOut:
    with scoped(caller) as work:
        record = _record(work, exemption_id)
        rule = work.context.rules[record.exemption.restriction]
        if not work.manages(rule.restriction):
            raise ApiError(403, f"`{rule.id}` is issued by `{rule.restriction.issuer}`, above your organisation",
                           hint="only admins of the issuer revoke its exemptions")
        current = exemption_etag(record)
        if not matches(if_match, current):
            changes = [{"field": "revoked_at", "from": None, "to": record.revoked_at.isoformat()}] if (
                record.revoked_at is not None) else []
            raise ApiError(409, f"exemption `{exemption_id}` changed since you read it; nothing was written",
                           code="stale", hint="read it again", current_etag=current, changes=changes)
        revoked = ExemptionRepository(work.session).revoke(exemption_id, actor=caller.actor, now=work.now)
        evaluate_pairs(work.session, work.context, _pairs(work.session, revoked), work.now)
        after = ExemptionRepository(work.session).record(exemption_id)
        assert after is not None
        out = _out(after, work.now)
    response.headers["ETag"] = out.etag
    return out
