"""`/api/v1/reports`: the compliance report of an organisation subtree, as `appban report --format json` gives it.

Per restriction the caller sees, devices per state per organisation (compliant = in scope without a
finding), the most frequent restricted apps, devices without a recent inventory, and the daily trend.
Deadlines passed since the last change move first, as the command does, so the report is current.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from appban.api.auth import Reader
from appban.api.errors import responses
from appban.api.fields import ID_PATTERN
from appban.api.scope import scoped
from appban.service import compliance_report, refresh_due
from appban.store.tables import ID_LENGTH

__all__ = ["ReportOut", "router"]

router = APIRouter(prefix="/reports", tags=["reports"])


class RestrictionCounts(BaseModel):
    restriction: str
    totals: dict[str, int]
    by_organisation: dict[str, dict[str, int]]


class AppCount(BaseModel):
    app: str
    devices: int


class TrendDay(BaseModel):
    day: dt.date
    non_compliant: int
    grace: int


class ReportOut(BaseModel):
    organisation: str
    at: dt.datetime
    devices: int
    stale_devices: int
    restrictions: list[RestrictionCounts]
    top_apps: list[AppCount]
    trend: list[TrendDay]


@router.get("", response_model=ReportOut, responses=responses(404),
            summary="Compliance of an organisation subtree (default: the caller's)")
def report(
    caller: Reader,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
    days: Annotated[int, Query(ge=1, le=3650, description="Days of trend.")] = 30,
) -> ReportOut:
    with scoped(caller) as work:
        root = organisation or work.home
        work.organisation(root)
        refresh_due(work.session, work.context, work.now)
        result = compliance_report(work.session, work.context, root, work.now, days=days)
        visible = {r.id for r in work.visible_restrictions()}
    restrictions = [RestrictionCounts(restriction=s.restriction, totals=dict(s.totals()),
                                      by_organisation={org: dict(c) for org, c in sorted(s.by_organisation.items())})
                    for s in result.restrictions if s.restriction in visible]
    return ReportOut(organisation=root, at=result.at, devices=result.devices, stale_devices=result.stale_devices,
                     restrictions=restrictions, top_apps=[AppCount(app=a, devices=n) for a, n in result.top_apps],
                     trend=[TrendDay(day=d, non_compliant=nc, grace=g) for d, nc, g in result.trend])
