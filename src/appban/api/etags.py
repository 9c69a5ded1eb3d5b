"""Optimistic concurrency: the ETag of a restriction is its version in force, of an exemption a hash of its state.

A change (PUT, DELETE) must send `If-Match` with the ETag it read: without one the answer is 428, with a
stale one 409 with what changed since, and nothing is written. Two admins editing the same restriction from
the same version: the first wins, the second is told what the first did and decides again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from appban.api.errors import ApiError
from appban.store import ExemptionRecord

__all__ = ["exemption_etag", "matches", "restriction_etag"]


def restriction_etag(version: int) -> str:
    return f'"{version}"'


def exemption_etag(record: ExemptionRecord) -> str:
    """A hash of everything an exemption holds: it changes when anything about it changes (today: revocation)."""
    e = record.exemption
    state = [e.id, e.restriction, e.device, e.holder, e.reason, e.approver, _time(e.ends), _time(record.created_at),
             record.created_by, _time(record.revoked_at)]
    digest = hashlib.sha256(json.dumps(state, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:20]}"'


def matches(if_match: str | None, current: str) -> bool:
    """Whether `If-Match` names the current ETag (strong comparison, `*` matches); 428 when it is missing."""
    if if_match is None or not if_match.strip():
        raise ApiError(428, "this change needs an `If-Match` header with the ETag you read",
                       where="header.If-Match", hint="GET the object first and send its `ETag` back")
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current in tags


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()
