"""`/api/v1/audit`: the hash-chained audit log, newest first, for auditors and admins.

The log is one chain for the whole installation, so each caller reads the entries about its subtree
(appban.api.scope: its organisations, the restrictions issued in it and the adoptions its organisations
made of restrictions from above, the exemptions it sees, its tokens, attestations about its devices). An
entry that names no organisation (a device removed from the fleet) is shown only to callers who see every
organisation. Pages continue by sequence number, so entries appended meanwhile never shift a page.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from appban.api.auth import AuditReader
from appban.api.pagination import Page, PageParams, query_of
from appban.api.scope import scoped
from appban.audit import AuditEntry, AuditEvent
from appban.errors import InvalidInput
from appban.store import AuditLog

__all__ = ["AuditEntryOut", "router"]

router = APIRouter(prefix="/audit", tags=["audit"])

KINDS = sorted({event.value.split(":", 1)[0] for event in AuditEvent})
EVENT_CHOICES = KINDS + sorted(event.value for event in AuditEvent)


class AuditEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    actor: str
    event: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def _out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(seq=entry.seq, at=entry.at, actor=entry.actor, event=entry.event.value,
                         subject=entry.subject, details=dict(entry.details), prev_hash=entry.prev_hash,
                         hash=entry.hash)


def _events(event: str | None) -> frozenset[str] | None:
    if event is None:
        return None
    chosen = frozenset(e.value for e in AuditEvent if e.value == event or e.value.split(":", 1)[0] == event)
    if not chosen:
        raise InvalidInput.at("query.event", f"unknown event {event!r}", hint=f"one of: {', '.join(EVENT_CHOICES)}")
    return chosen


@router.get("", response_model=Page[AuditEntryOut], summary="Audit entries about the caller's subtree, newest first")
def list_audit(
    caller: AuditReader,
    page: PageParams,
    event: Annotated[str | None, Query(max_length=40, json_schema_extra={"enum": EVENT_CHOICES},
                                       description="An event (`restriction:update`) or a kind (`restriction`).")
                     ] = None,
    sort: Literal["-seq", "seq"] = "-seq",
) -> Page[AuditEntryOut]:
    query = query_of("audit", event=event, sort=sort)
    last = page.position(query)  # the sequence number the previous page ended on (0: none)
    newest_first = sort == "-seq"
    events = _events(event)
    with scoped(caller) as work:
        log = AuditLog(work.session)
        scope = work.audit_filters(log)
        entries = log.page(**scope, events=events, before=last if newest_first and last else None,
                           after=last if not newest_first and last else None, newest_first=newest_first,
                           limit=page.limit + 1)
        total = log.count(**scope, events=events)
    shown = entries[: page.limit]
    more = len(entries) > page.limit
    return Page[AuditEntryOut](items=[_out(e) for e in shown],
                               next=page.next_cursor(query, shown[-1].seq) if more else None, total=total)
