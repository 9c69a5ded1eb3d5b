"""A worker that dies between sending a message and recording it (docs/notices.md, "Crashes"): the next round
sends that one message again, never the others, and the repeat carries the same Message-ID and dedup key."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from appban.notify import Notice, message_of
from appban.notify.smtp import message_id
from appban.service import Scheduler
from appban.store import Database, NoticeRepository
from tests.notify.support import link, seed_holders_fleet
from tests.store.store_examples import NOW

ENTER = NOW + dt.timedelta(minutes=1)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even the code that records the delivery."""


class DiesAfterSending:
    """Delivers (records) every notice; after the `nth` delivery the process 'dies' before it can mark it sent."""

    name = "dies-after-sending"

    def __init__(self, nth: int | None) -> None:
        self.nth = nth
        self.sent: list[Notice] = []

    def send(self, notice: Notice) -> None:
        self.sent.append(notice)
        if len(self.sent) == self.nth:
            raise Killed


def test_a_crash_after_a_send_repeats_that_message_only(database: Database) -> None:
    seed_holders_fleet(database)  # two holders in grace: two messages at ENTER
    dying = DiesAfterSending(nth=2)
    with pytest.raises(Killed):
        Scheduler(database, transport=dying, link=link).run_once(ENTER)
    with database.session() as session:
        assert NoticeRepository(session).counts() == {"sent": 1, "queued": 1}  # the first was recorded
    again = DiesAfterSending(nth=None)
    Scheduler(database, transport=again, link=link).run_once(ENTER)
    delivered = Counter(notice.key for notice in dying.sent + again.sent)
    assert sorted(delivered.values()) == [1, 2]  # one repeat: the message in flight when it died
    assert dying.sent[-1] == again.sent[0]  # the same message, to the letter
    with database.session() as session:
        assert NoticeRepository(session).counts() == {"sent": 2}


def test_the_message_id_is_the_same_at_every_attempt_and_differs_between_notices(database: Database) -> None:
    seed_holders_fleet(database)
    collected = DiesAfterSending(nth=None)
    Scheduler(database, transport=collected, link=link).run_once(ENTER)
    first, second = collected.sent
    sender = "appban@example.eu"
    assert message_of(first, sender)["Message-ID"] == message_of(first, sender)["Message-ID"] == \
        message_id(first, sender)
    assert message_id(first, sender) != message_id(second, sender)
    assert message_id(first, sender).endswith("@example.eu>")
    assert message_of(first, sender)["X-Appban-Notice"] == first.key.text()


def test_a_batch_needs_a_message(database: Database) -> None:
    with pytest.raises(ValueError, match="at least one message"):
        Scheduler(database, transport=None, link=link, batch=0)
