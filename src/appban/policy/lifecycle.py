"""A restriction's life: draft -> active -> expired or revoked, and the dates that call for attention.

`expired` is never written in a file: it follows from the `expires` date, so a restriction lapses on time
without anyone having to edit it (Belgium's six months), and extending `expires` in a new version revives it.
`revoked` is final: a revoked decision is re-taken as a new restriction with a new id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from appban.errors import Problem
from appban.model import Lifecycle, Restriction
from appban.policy.restriction import ParsedRestriction

__all__ = ["Due", "DueKind", "check_transition", "due", "lifecycle"]


def lifecycle(restriction: Restriction, today: dt.date) -> Lifecycle:
    """The state a restriction is in on a given day."""
    if restriction.status in (Lifecycle.REVOKED, Lifecycle.DRAFT):
        return restriction.status
    if restriction.expires is not None and today >= restriction.expires:
        return Lifecycle.EXPIRED
    return Lifecycle.ACTIVE


def check_transition(previous: Restriction, new: ParsedRestriction) -> Problem | None:
    """Whether a new version of a stored restriction may replace the previous one."""
    candidate = new.restriction
    if previous.status is Lifecycle.REVOKED and candidate.status is not Lifecycle.REVOKED:
        return Problem(new.place("status"), f"restriction `{previous.id}` was revoked; revocation is final",
                       "publish the new decision as a restriction with a new id")
    if previous.status is Lifecycle.ACTIVE and candidate.status is Lifecycle.DRAFT:
        return Problem(new.place("status"), f"restriction `{previous.id}` is active and cannot go back to draft",
                       "set `status: revoked` to withdraw it")
    if previous.issuer != candidate.issuer:
        return Problem(new.place("issuer"),
                       f"the issuer of `{previous.id}` is `{previous.issuer}` and cannot change",
                       "publish the other organisation's decision under its own id")
    return None


class DueKind(StrEnum):
    REVIEW = "review"
    EXPIRY = "expiry"


@dataclass(frozen=True, slots=True)
class Due:
    restriction: Restriction
    kind: DueKind
    date: dt.date
    days_left: int

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def due(restrictions: Iterable[Restriction], today: dt.date, within: dt.timedelta) -> list[Due]:
    """Reviews and expiries of live restrictions that fall within `within` of today, or reviews overdue."""
    horizon = today + within
    out: list[Due] = []
    for restriction in restrictions:
        if lifecycle(restriction, today) is not Lifecycle.ACTIVE:
            continue
        if restriction.review is not None and restriction.review <= horizon:
            out.append(Due(restriction, DueKind.REVIEW, restriction.review, (restriction.review - today).days))
        if restriction.expires is not None and restriction.expires <= horizon:
            out.append(Due(restriction, DueKind.EXPIRY, restriction.expires, (restriction.expires - today).days))
    return sorted(out, key=lambda d: (d.date, d.restriction.id, d.kind))
