"""`/api/v1/findings`: the findings of the caller's devices, filtered and paged in the database.

Findings are sparse: only pairs that are not compliant are stored (docs/compliance.md), so this lists what
needs attention; compliance counts per organisation are in `/api/v1/reports`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from appban.api.auth import Reader
from appban.api.errors import responses
from appban.api.fields import DEVICE_ID_PATTERN, ID_PATTERN
from appban.api.pagination import Page, PageParams, query_of
from appban.api.scope import scoped
from appban.model import FindingState
from appban.store import FindingRepository, StoredFinding
from appban.store.tables import DEVICE_ID_LENGTH, ID_LENGTH

__all__ = ["DeviceFindingOut", "FindingOut", "router"]

router = APIRouter(prefix="/findings", tags=["findings"])


class DeviceFindingOut(BaseModel):
    """A finding as a device's page shows it (the device is the page's)."""

    restriction: str
    state: FindingState
    since: dt.datetime
    deadline: dt.datetime | None
    apps: list[str]
    reason: str
    shadow: bool
    restriction_version: int

    @classmethod
    def fields_of(cls, restriction: str, stored: StoredFinding) -> dict[str, Any]:
        """The fields of a stored finding, for this model and for `FindingOut`."""
        v = stored.verdict
        return {"restriction": restriction, "state": v.state, "since": stored.since, "deadline": v.deadline,
                "apps": sorted(str(app) for app in v.apps), "reason": v.reason, "shadow": v.shadow,
                "restriction_version": stored.restriction_version}


class FindingOut(DeviceFindingOut):
    """A finding in a list across devices: with its device and the device's organisation."""

    device: str
    organisation: str


@router.get("", response_model=Page[FindingOut], responses=responses(404),
            summary="Findings of the caller's devices")
def list_findings(
    caller: Reader,
    page: PageParams,
    restriction: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
    state: FindingState | None = None,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH,
                                              description="Devices of this organisation and those below it.")] = None,
    device: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN, max_length=DEVICE_ID_LENGTH)] = None,
    shadow: Annotated[bool | None, Query(description="Only shadow (would-be) findings, or none of them.")] = None,
    sort: Literal["device", "-device", "restriction", "-restriction", "state", "-state", "since", "-since",
                  "deadline", "-deadline"] = "device",
) -> Page[FindingOut]:
    query = query_of("findings", restriction=restriction, state=state, organisation=organisation, device=device,
                     shadow=shadow, sort=sort)
    start = page.position(query)
    with scoped(caller) as work:
        organisations = work.filter_below(organisation)
        rows, total = FindingRepository(work.session).page(
            organisations=organisations, restriction_id=restriction, state=state.value if state else None,
            device_id=device, shadow=shadow, order=sort.lstrip("-"), descending=sort.startswith("-"), offset=start,
            limit=page.limit)
    items = [FindingOut(device=device_id, organisation=org, **FindingOut.fields_of(rule, f))
             for device_id, rule, org, f in rows]
    end = start + len(rows)
    return Page[FindingOut](items=items, next=page.next_cursor(query, end) if end < total else None, total=total)
