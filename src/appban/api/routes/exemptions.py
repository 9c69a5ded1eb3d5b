"""`/api/v1/exemptions`: devices or holders excused from one restriction, granted and revoked by its issuer.

Only admins of the restriction's issuer grant or revoke its exemptions (a municipality cannot excuse its
devices from a federal ban). An exemption's ETag is a hash of its state; revoking needs it in `If-Match`.
Findings of the devices concerned are re-evaluated in the same transaction, so the gate follows at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.orm import Session

from appban.api.auth import Manager, Reader
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
from appban.store import DeviceRepository, ExemptionRecord, ExemptionRepository
from appban.store.tables import DEVICE_ID_LENGTH, EMAIL_LENGTH, ID_LENGTH

__all__ = ["ExemptionIn", "ExemptionOut", "router"]

router = APIRouter(prefix="/exemptions", tags=["exemptions"])

ExemptionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="An exemption's id.")]
ExemptionState = Literal["active", "ended", "revoked"]


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
