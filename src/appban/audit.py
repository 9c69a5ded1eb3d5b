"""The audit trail as a hash chain: every entry seals its content together with the hash of the entry before.

Changing, removing, reordering or inserting an entry anywhere but at the end breaks a link that
`verify_chain` reports, so nobody can quietly rewrite what was decided, by whom and when. The hash covers a
canonical JSON encoding (sorted keys, no spaces, UTC time with microseconds) so that the same entry hashes
the same on every database and every machine. Pure: the store persists entries, this module only seals and
checks them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEvent",
    "canonical_details",
    "entry_hash",
    "seal",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry: there is nothing before it."""


class AuditEvent(StrEnum):
    """What happened, as `subject:action`, so that a log can be filtered by subject or by action."""

    ORGANISATION_CREATE = "organisation:create"
    ORGANISATION_UPDATE = "organisation:update"
    RESTRICTION_CREATE = "restriction:create"
    RESTRICTION_UPDATE = "restriction:update"
    RESTRICTION_REVOKE = "restriction:revoke"
    RESTRICTION_ADOPT = "restriction:adopt"
    RESTRICTION_DECLINE = "restriction:decline"
    EXEMPTION_CREATE = "exemption:create"
    EXEMPTION_REVOKE = "exemption:revoke"
    EXEMPTION_REQUEST = "exemption:request"  # subject: the request's id (`exr-...`)
    EXEMPTION_APPROVE = "exemption:approve"  # subject: the request's id; details name the exemption granted
    EXEMPTION_REJECT = "exemption:reject"  # subject: the request's id
    TOKEN_CREATE = "token:create"  # noqa: S105 (an event name, not a secret)
    TOKEN_REVOKE = "token:revoke"  # noqa: S105 (an event name, not a secret)
    ATTESTATION_CREATE = "attestation:create"
    DEVICE_DELETE = "device:delete"
    HOLDER_ASSIGN = "holder:assign"
    ASSESSMENT_CREATE = "assessment:create"
    USER_CREATE = "user:create"
    USER_DISABLE = "user:disable"
    GATE_DECISIONS = "gate:decisions"  # subject: `<first id>..<last id>`; details seal a run of the decision log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One sealed entry: `hash` covers every other field, `prev_hash` links it to the entry before."""

    seq: int
    at: dt.datetime
    actor: str
    event: AuditEvent
    subject: str
    details: Mapping[str, object]
    prev_hash: str
    hash: str

    def describe(self) -> str:
        """How verification messages name an entry: `audit entry 17 (restriction:update some-id)`."""
        return f"audit entry {self.seq} ({self.event} {self.subject})"


def canonical_details(details: Mapping[str, object]) -> str:
    """The one JSON text of `details` that is hashed and stored; raises TypeError/ValueError if not JSON-able."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"audit time {at.isoformat()} has no time zone; use a UTC-aware datetime")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, seq: int, at: dt.datetime, actor: str, event: AuditEvent | str, subject: str,
               details: Mapping[str, object]) -> str:
    """SHA-256 (hex) of the canonical encoding of an entry's content and the hash of the entry before it."""
    content = {
        "prev_hash": prev_hash,
        "seq": seq,
        "at": _utc_text(at),
        "actor": actor,
        "event": str(event),
        "subject": subject,
        "details": dict(details),
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def seal(seq: int, prev_hash: str, *, at: dt.datetime, actor: str, event: AuditEvent, subject: str,
         details: Mapping[str, object]) -> AuditEntry:
    """A new entry numbered `seq` that follows the entry whose hash is `prev_hash` (GENESIS_HASH for the first).

    The one way entries are made: the time is normalised to UTC and `details` to its JSON form, so that the
    entry read back from any database is equal to the one written and hashes the same.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"audit time {at.isoformat()} has no time zone; use a UTC-aware datetime")
    utc = at.astimezone(dt.UTC)
    normalised: Mapping[str, object] = json.loads(canonical_details(details))
    digest = entry_hash(prev_hash, seq, utc, actor, event, subject, normalised)
    return AuditEntry(seq=seq, at=utc, actor=actor, event=event, subject=subject, details=normalised,
                      prev_hash=prev_hash, hash=digest)


def verify_chain(entries: Iterable[AuditEntry]) -> list[str]:
    """One line per break in the chain, in log order; an empty list means the chain is intact.

    Entries are taken in the order given (the store gives them by `seq`). An entry whose hash does not match
    its content was changed; a link whose `prev_hash` is not the hash of the entry before it, or a gap in
    `seq`, means entries were removed, inserted or reordered. Removing entries from the end leaves a valid
    shorter chain: that needs the head to be anchored elsewhere (a later Merkle tree with signed heads).
    """
    problems: list[str] = []
    listed = list(entries)
    position_of_hash = {entry.hash: index for index, entry in enumerate(listed)}
    previous: AuditEntry | None = None
    for index, entry in enumerate(listed):
        try:
            recomputed = entry_hash(entry.prev_hash, entry.seq, entry.at, entry.actor, entry.event,
                                    entry.subject, entry.details)
        except (TypeError, ValueError) as error:
            problems.append(f"{entry.describe()}: cannot be hashed ({error})")
        else:
            if recomputed != entry.hash:
                problems.append(f"{entry.describe()}: hash does not match its content")
        link = _link_problem(previous, entry, position_of_hash.get(entry.prev_hash), index, listed)
        if link is not None:
            problems.append(f"{entry.describe()}: {link}")
        previous = entry
    return problems


def _link_problem(previous: AuditEntry | None, entry: AuditEntry, chained_after: int | None, index: int,
                  listed: list[AuditEntry]) -> str | None:
    """Why `entry` does not follow `previous`, in the words of the likeliest cause; None if it does."""
    expected_seq = 1 if previous is None else previous.seq + 1
    expected_prev = GENESIS_HASH if previous is None else previous.hash
    if entry.seq == expected_seq and entry.prev_hash == expected_prev:
        return None
    after = "the start of the log" if previous is None else f"entry {previous.seq}"
    if chained_after is not None and chained_after != index - 1:
        return (f"was sealed after entry {listed[chained_after].seq} but comes after {after}: "
                "the log was reordered")
    if entry.seq > expected_seq:
        if entry.seq == expected_seq + 1:
            return f"follows {after}: entry {expected_seq} is missing"
        return f"follows {after}: entries {expected_seq} to {entry.seq - 1} are missing"
    if entry.seq < expected_seq:
        return f"has sequence number {entry.seq} but comes after {after}: the log was reordered or duplicated"
    if entry.prev_hash == GENESIS_HASH and previous is not None:
        return f"claims to start the log but comes after {after}: an entry was inserted"
    return f"does not link to {after}: an entry before it was inserted, removed or rewritten"
