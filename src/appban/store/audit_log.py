"""The audit log table: append sealed entries (appban.audit) and read them back for verification.

Appending reads the last entry's hash and writes the next entry in the caller's transaction, so an audit entry
is stored exactly when the change it records is. Two writers must not both extend the same last entry (that
would fork the chain): on PostgreSQL an advisory lock held until commit queues them, on SQLite the write lock
taken when the transaction begins does; the unique `prev_hash` column refuses a fork if anything slips by.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from appban.audit import GENESIS_HASH, AuditEntry, AuditEvent, canonical_details, seal, verify_chain
from appban.errors import StorageUnavailable
from appban.store.bulk import among
from appban.store.tables import AuditLogRow, DeviceRow

__all__ = ["AuditLog"]

# pg_advisory_xact_lock key for appending: the first 8 bytes, signed, of sha256(b"appban.audit_log").
_APPEND_LOCK = 0x48C7_4779_0BF9_5809
# Events whose subject is a device id (`page` places them by the device's organisation).
_DEVICE_EVENTS = (AuditEvent.ATTESTATION_CREATE.value, AuditEvent.DEVICE_DELETE.value)


class _UnreadableRowError(ValueError):
    """A stored row that cannot be turned back into an entry: only tampering or corruption makes one."""


class AuditLog:
    """The audit log in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, event: AuditEvent, subject: str, *, actor: str, at: dt.datetime,
               details: Mapping[str, object]) -> AuditEntry:
        """Seal and store the entry that follows the current last one."""
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(select(func.pg_advisory_xact_lock(_APPEND_LOCK)))
        last = self._session.execute(
            select(AuditLogRow.seq, AuditLogRow.hash).order_by(AuditLogRow.seq.desc()).limit(1)).first()
        seq, prev_hash = (1, GENESIS_HASH) if last is None else (last.seq + 1, last.hash)
        entry = seal(seq, prev_hash, at=at, actor=actor, event=event, subject=subject, details=details)
        self._session.add(AuditLogRow(seq=entry.seq, at=entry.at, actor=entry.actor, event=entry.event.value,
                                      subject=entry.subject, details=canonical_details(entry.details),
                                      prev_hash=entry.prev_hash, hash=entry.hash))
        self._session.flush()
        return entry

    def entries(self) -> list[AuditEntry]:
        """Every entry by sequence number; raises StorageUnavailable if a row was damaged beyond reading."""
        return [_readable(row) for row in self._rows()]

    def page(self, *, subjects: Mapping[str, Collection[str]] | None = None,
             device_organisations: Collection[str] = (), seqs: Collection[int] = (),
             events: Collection[str] | None = None, before: int | None = None, after: int | None = None,
             newest_first: bool = True, limit: int | None = 50) -> list[AuditEntry]:
        """Entries by sequence number, newest first unless asked, strictly between `after` and `before` (so a
        page continues from the last number shown, whatever was appended meanwhile).

        Scoping, for readers who may see part of the log: with `subjects` (event -> subject ids) only the
        entries of those events about those subjects, the entries about a device of `device_organisations`,
        and the entries numbered in `seqs`; None means every entry. `events` keeps only those events.
        """
        query = select(AuditLogRow).where(*self._conditions(subjects, device_organisations, seqs, events))
        if before is not None:
            query = query.where(AuditLogRow.seq < before)
        if after is not None:
            query = query.where(AuditLogRow.seq > after)
        query = query.order_by(AuditLogRow.seq.desc() if newest_first else AuditLogRow.seq.asc()).limit(limit)
        return [_readable(row) for row in self._session.scalars(query)]

    def count(self, *, subjects: Mapping[str, Collection[str]] | None = None,
              device_organisations: Collection[str] = (), seqs: Collection[int] = (),
              events: Collection[str] | None = None) -> int:
        """How many entries `page` would go through with the same filters."""
        query = select(func.count()).select_from(AuditLogRow)
        return self._session.scalar(query.where(*self._conditions(subjects, device_organisations, seqs, events))) or 0

    @staticmethod
    def _conditions(subjects: Mapping[str, Collection[str]] | None, device_organisations: Collection[str],
                    seqs: Collection[int], events: Collection[str] | None) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if events is not None:
            conditions.append(among(AuditLogRow.event, sorted(events)) if events else false())
        if subjects is not None:
            scoped: list[ColumnElement[bool]] = [
                (AuditLogRow.event == event) & among(AuditLogRow.subject, sorted(ids))
                for event, ids in sorted(subjects.items()) if ids]
            if device_organisations:
                devices = select(DeviceRow.id).where(among(DeviceRow.organisation_id, sorted(device_organisations)))
                scoped.append(among(AuditLogRow.event, _DEVICE_EVENTS) & AuditLogRow.subject.in_(devices))
            if seqs:
                scoped.append(among(AuditLogRow.seq, sorted(seqs)))
            conditions.append(or_(*scoped) if scoped else false())
        return conditions

    def verify(self) -> list[str]:
        """One line per break in the chain (appban.audit.verify_chain); empty when the log is intact.

        Rows too damaged to read are reported first, and the chain is checked without them (so the entry
        after such a row is also reported as not following its predecessor).
        """
        unreadable: list[str] = []
        readable: list[AuditEntry] = []
        for row in self._rows():
            try:
                readable.append(_entry(row))
            except _UnreadableRowError as error:
                unreadable.append(f"audit entry {row.seq} ({row.event} {row.subject}): cannot be read ({error})")
        return unreadable + verify_chain(readable)

    def leaves(self) -> list[bytes]:
        """The leaves of the log's Merkle tree (appban.merkle): each entry's stored hash, in log order. `verify`
        ties each hash to its entry's content; a signed checkpoint of the tree ties the hashes to the past."""
        return [_leaf(digest) for digest in self._session.scalars(select(AuditLogRow.hash).order_by(AuditLogRow.seq))]

    def _rows(self) -> list[AuditLogRow]:
        return list(self._session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq)))


def _leaf(digest: str) -> bytes:
    try:
        return bytes.fromhex(digest)
    except ValueError:  # a tampered row: it still takes its place in the tree, and changes the root
        return digest.encode("utf-8", "replace")


def _readable(row: AuditLogRow) -> AuditEntry:
    try:
        return _entry(row)
    except _UnreadableRowError as error:
        raise StorageUnavailable(f"audit entry {row.seq} cannot be read ({error}): the log was altered "
                                 "outside appban (run `appban audit verify`)") from error


def _entry(row: AuditLogRow) -> AuditEntry:
    try:
        event = AuditEvent(row.event)
    except ValueError:
        raise _UnreadableRowError(f"unknown event `{row.event}`") from None
    try:
        details = json.loads(row.details)
    except ValueError:
        raise _UnreadableRowError("its details are not JSON") from None
    if not isinstance(details, dict):
        raise _UnreadableRowError("its details are not a JSON object")
    return AuditEntry(seq=row.seq, at=row.at, actor=row.actor, event=event, subject=row.subject,
                      details=details, prev_hash=row.prev_hash, hash=row.hash)

