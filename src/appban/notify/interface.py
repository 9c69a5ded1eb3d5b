"""Notices: what appban tells holders and owners, as values, and the one thing a transport must do.

A `Notice` is one message to one recipient. It covers one or more `Item`s (a digest covers several), and each
item has a `DedupKey`: (recipient, kind, restriction, device, deadline). The store keeps every key it was ever
given, with a unique constraint, so no item is ever sent twice (appban.store.NoticeRepository).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["HOLDER_KINDS", "OWNER_KINDS", "DedupKey", "DeliveryError", "Notice", "NoticeKind", "Transport"]


class NoticeKind(StrEnum):
    GRACE = "grace"  # a device entered a grace period: remove the app by the deadline
    REMINDER = "reminder"  # the deadline is near
    CUTOFF = "cutoff"  # the deadline passed: services are cut
    RESTORED = "restored"  # a device cut off is compliant again
    REVIEW = "review"  # a restriction's review date is near or past (to its owners)
    EXPIRY = "expiry"  # a restriction expires soon (to its owners)
    ADOPTION = "adoption"  # a recommended restriction awaits a child organisation's decision
    SUMMARY = "summary"  # the weekly compliance summary of an organisation
    DIGEST = "digest"  # several items of different kinds to one recipient in one message


HOLDER_KINDS = frozenset({NoticeKind.GRACE, NoticeKind.REMINDER, NoticeKind.CUTOFF, NoticeKind.RESTORED})
OWNER_KINDS = frozenset({NoticeKind.REVIEW, NoticeKind.EXPIRY, NoticeKind.ADOPTION, NoticeKind.SUMMARY})


@dataclass(frozen=True, slots=True, order=True)
class DedupKey:
    """What makes an item unique: the same key is never sent twice. `device` holds the organisation for owner
    notices about one organisation (adoption, summary); `deadline` the date the notice is about."""

    recipient: str
    kind: NoticeKind
    restriction: str | None
    device: str | None
    deadline: dt.datetime | None

    def text(self) -> str:
        """The key as stored: its parts joined by `|` (deadlines in UTC, to the second)."""
        when = "" if self.deadline is None else self.deadline.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return "|".join((self.recipient, str(self.kind), self.restriction or "", self.device or "", when))


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one recipient, in one language, with a plain-text and an HTML body."""

    kind: NoticeKind  # the items' kind, or DIGEST when they differ
    recipient: str
    language: str
    subject: str
    text: str
    html: str
    keys: tuple[DedupKey, ...]  # the items it covers, the first one names the message

    @property
    def key(self) -> DedupKey:
        return self.keys[0]


class DeliveryError(Exception):
    """A transport could not deliver a notice; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    """Delivers one notice, or raises DeliveryError. One attempt: retries are the scheduler's."""

    name: str

    def send(self, notice: Notice) -> None: ...
