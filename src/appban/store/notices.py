"""The notice queue: every item ever told to anyone, keyed by its dedup key, and the messages waiting to go.

`enqueue` records notices (appban.notify.Notice) idempotently: a notice whose first key is already stored is
left out, and a key stored by a concurrent transaction makes that one notice step aside (a savepoint), never
the round. `claim` hands out queued messages due for an attempt: on PostgreSQL with `FOR UPDATE SKIP LOCKED`,
so several workers each get different ones and hold them until their transaction ends; on SQLite the
transaction already holds the database's single write lock (BEGIN IMMEDIATE), so a plain select is enough.
Deliver inside the same transaction, then `mark_sent` or `mark_failed`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from appban.notify import HOLDER_KINDS, DedupKey, Notice, NoticeKind
from appban.store.bulk import chunked
from appban.store.tables import NoticeRow

__all__ = ["DeviceNotice", "NoticeRecord", "NoticeRepository"]

QUEUED, SENT, DEAD, COVERED = "queued", "sent", "dead", "covered"
_ERROR_LENGTH = 2_000


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    """A stored message: its row id, the notice, and how delivery went."""

    id: int
    notice: Notice
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class DeviceNotice:
    """One item told to a device's holder, with the delivery state of the message that carried it (a digest's,
    when `digest`)."""

    key: DedupKey
    created_at: dt.datetime
    status: str  # queued, sent or dead
    sent_at: dt.datetime | None
    attempts: int
    last_error: str | None
    digest: bool


def _key(row: NoticeRow) -> DedupKey:
    return DedupKey(row.recipient, NoticeKind(row.kind), row.restriction_id, row.device_id, row.deadline)


class NoticeRepository:
    """Notices in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def recorded(self, keys: Iterable[DedupKey]) -> set[DedupKey]:
        """The keys among these that are already stored (queued, sent, dead or covered)."""
        by_text = {key.text(): key for key in keys}
        out: set[DedupKey] = set()
        for chunk in chunked(sorted(by_text)):
            out.update(by_text[text] for text in self._session.scalars(
                select(NoticeRow.dedup_key).where(NoticeRow.dedup_key.in_(chunk))))
        return out

    def enqueue(self, notices: Sequence[Notice], now: dt.datetime) -> int:
        """Store notices to be sent; returns how many were new. Keys already stored are never stored again."""
        done = self.recorded(key for notice in notices for key in notice.keys)
        added = 0
        for notice in notices:
            keys = [key for key in notice.keys if key not in done]
            if not keys or notice.key in done:
                continue
            try:
                with self._session.begin_nested():
                    head = self._row(notice.key, notice, now, QUEUED)
                    self._session.add(head)
                    self._session.flush()
                    for key in keys[1:]:
                        covered = self._row(key, notice, now, COVERED)
                        covered.message_id = head.id
                        covered.subject = covered.body_text = covered.body_html = ""
                        self._session.add(covered)
                    self._session.flush()
            except IntegrityError:
                continue  # another worker stored one of these keys first: it sends them
            done.update(keys)
            added += 1
        return added

    @staticmethod
    def _row(key: DedupKey, notice: Notice, now: dt.datetime, status: str) -> NoticeRow:
        return NoticeRow(dedup_key=key.text(), message_id=None, recipient=key.recipient, kind=str(key.kind),
                         language=notice.language, restriction_id=key.restriction, device_id=key.device,
                         deadline=key.deadline, subject=notice.subject, body_text=notice.text,
                         body_html=notice.html, status=status, attempts=0, last_error=None,
                         next_attempt_at=now if status == QUEUED else None, created_at=now, sent_at=None)

    def open_cutoffs(self) -> list[DedupKey]:
        """Cut-off items told to holders with no restoration told yet (the candidates for a `restored` notice)."""
        restored = aliased(NoticeRow)
        query = (select(NoticeRow).where(NoticeRow.kind == NoticeKind.CUTOFF.value, ~exists().where(and_(
            restored.kind == NoticeKind.RESTORED.value, restored.recipient == NoticeRow.recipient,
            restored.restriction_id == NoticeRow.restriction_id, restored.device_id == NoticeRow.device_id,
            restored.deadline == NoticeRow.deadline))).order_by(NoticeRow.id))
        return [_key(row) for row in self._session.scalars(query)]

    def claim(self, now: dt.datetime, limit: int = 20) -> list[NoticeRecord]:
        """Queued messages due for an attempt, locked for this transaction (skipping those another holds)."""
        query = (select(NoticeRow).where(NoticeRow.status == QUEUED, NoticeRow.next_attempt_at <= now)
                 .order_by(NoticeRow.next_attempt_at, NoticeRow.id).limit(limit))
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        # SQLite: this transaction began with BEGIN IMMEDIATE and is the only writer: a plain select suffices
        rows = list(self._session.scalars(query))
        return self._records(rows)

    def _records(self, rows: Sequence[NoticeRow]) -> list[NoticeRecord]:
        covered: dict[int, list[DedupKey]] = {}
        for chunk in chunked([row.id for row in rows]):
            for row in self._session.scalars(select(NoticeRow).where(NoticeRow.message_id.in_(chunk))
                                             .order_by(NoticeRow.id)):
                covered.setdefault(row.message_id or 0, []).append(_key(row))
        out: list[NoticeRecord] = []
        for row in rows:
            keys = (_key(row), *covered.get(row.id, ()))
            kinds = {key.kind for key in keys}
            notice = Notice(kind=kinds.pop() if len(kinds) == 1 else NoticeKind.DIGEST, recipient=row.recipient,
                            language=row.language, subject=row.subject, text=row.body_text, html=row.body_html,
                            keys=keys)
            out.append(NoticeRecord(id=row.id, notice=notice, status=row.status, attempts=row.attempts,
                                    last_error=row.last_error, created_at=row.created_at, sent_at=row.sent_at,
                                    next_attempt_at=row.next_attempt_at))
        return out

    def mark_sent(self, notice_id: int, now: dt.datetime) -> None:
        self._session.execute(update(NoticeRow).where(NoticeRow.id == notice_id).values(
            status=SENT, attempts=NoticeRow.attempts + 1, sent_at=now, next_attempt_at=None, last_error=None))

    def mark_failed(self, notice_id: int, error: str, next_attempt: dt.datetime | None) -> None:
        """One failed attempt: try again at `next_attempt`, or None: give up (a dead letter)."""
        values = {"attempts": NoticeRow.attempts + 1, "last_error": error[:_ERROR_LENGTH],
                  "next_attempt_at": next_attempt, "status": QUEUED if next_attempt is not None else DEAD}
        self._session.execute(update(NoticeRow).where(NoticeRow.id == notice_id).values(**values))

    def dead_letters(self) -> list[NoticeRecord]:
        """Messages delivery gave up on, oldest first."""
        return self._records(list(self._session.scalars(
            select(NoticeRow).where(NoticeRow.status == DEAD).order_by(NoticeRow.id))))

    def messages(self) -> list[NoticeRecord]:
        """Every stored message (not the items a digest covers), oldest first."""
        return self._records(list(self._session.scalars(
            select(NoticeRow).where(NoticeRow.status != COVERED).order_by(NoticeRow.id))))

    def for_device(self, device_id: str, *, limit: int = 50) -> list[DeviceNotice]:
        """The items told to holders about one device (grace, reminder, cut-off, restored), newest first, each
        with the delivery state of its message (the `ix_notices_kind_device_id_restriction_id` index)."""
        kinds = sorted(str(kind) for kind in HOLDER_KINDS)
        query = (select(NoticeRow).where(NoticeRow.kind.in_(kinds), NoticeRow.device_id == device_id)
                 .order_by(NoticeRow.created_at.desc(), NoticeRow.id.desc()).limit(limit))
        rows = list(self._session.scalars(query))
        carriers = {row.id: row for row in self._session.scalars(select(NoticeRow).where(
            NoticeRow.id.in_(sorted({row.message_id for row in rows if row.message_id is not None}))))}
        out: list[DeviceNotice] = []
        for row in rows:
            message = carriers.get(row.message_id, row) if row.message_id is not None else row
            out.append(DeviceNotice(key=_key(row), created_at=row.created_at, status=message.status,
                                    sent_at=message.sent_at, attempts=message.attempts,
                                    last_error=message.last_error, digest=row.message_id is not None))
        return out

    def counts(self) -> dict[str, int]:
        """How many rows per status."""
        query = select(NoticeRow.status, func.count()).group_by(NoticeRow.status)
        return {str(status): int(count) for status, count in self._session.execute(query).all()}
