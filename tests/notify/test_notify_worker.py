"""The worker end to end, with time moved forward: holders in Danish and French are told on entering grace, before
the deadline, on cut-off and on restoration, each once; two workers on one PostgreSQL never double-act."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from appban.model import FindingState, Holder
from appban.notify import Notice, NoticeKind, SmtpTransport
from appban.service import Round, Scheduler, evaluate_pairs, load_context
from appban.store import Database, FindingRepository, HolderRepository, InventoryRepository, NoticeRepository
from tests.store.fleet_examples import BE_RULE, EU_RULE, TIKTOK, device, inventory, seed_fleet
from tests.store.store_examples import NOW, seed_examples

from .support import DANISH, DEADLINE, FRENCH, link, remove_tiktok, seed_holders_fleet, smtp_server

# the timeline: entering grace, a day later, two days before the deadline, just after it, removal, a week on
ENTER = NOW + dt.timedelta(minutes=1)
QUIET = NOW + dt.timedelta(days=1)
REMIND = DEADLINE - dt.timedelta(days=2)
CUT = DEADLINE + dt.timedelta(minutes=1)
REMOVED = DEADLINE + dt.timedelta(days=1)
RESTORE = REMOVED + dt.timedelta(minutes=1)
LATER = REMOVED + dt.timedelta(days=7)

EXPECTED = {  # language -> kind -> words the subject and bodies must hold
    "da": {"subject": {NoticeKind.GRACE: "Handling påkrævet: fjern TikTok", NoticeKind.REMINDER: "Påmindelse",
                       NoticeKind.CUTOFF: "Adgang afbrudt", NoticeKind.RESTORED: "Adgangen er genoprettet"},
           "deadline": "15. marts 2023 kl. 09:30 UTC", "steps": "Afinstaller", "greeting": "Kære Mette"},
    "fr": {"subject": {NoticeKind.GRACE: "Action requise : supprimez TikTok", NoticeKind.REMINDER: "Rappel",
                       NoticeKind.CUTOFF: "Accès coupé", NoticeKind.RESTORED: "Accès rétabli"},
           "deadline": "15 mars 2023 à 09:30 UTC", "steps": "Supprimer l\u2019app", "greeting": "Bonjour Claire"},
}


def _check(message: EmailMessage, recipient: str, language: str, kind: NoticeKind, device: str) -> None:
    expected = EXPECTED[language]
    assert message["To"] == recipient and message["Content-Language"] == language
    subjects = expected["subject"]
    assert isinstance(subjects, dict)
    assert str(message["Subject"]).startswith(subjects[kind]), message["Subject"]
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for body in (text, html):
        assert link(device) in body
        assert expected["greeting"] in body
        if kind is not NoticeKind.RESTORED:
            assert expected["deadline"] in body
        if kind in (NoticeKind.GRACE, NoticeKind.REMINDER):
            assert str(expected["steps"]) in body
            assert "TikTok is suspended on corporate" in " ".join(body.split())  # the restriction's rationale


def test_holders_are_told_in_their_language_at_each_step_once(database: Database, tmp_path: Path) -> None:
    seed_holders_fleet(database)
    with smtp_server(tmp_path) as (mailbox, settings):
        worker = Scheduler(database, transport=SmtpTransport(settings), link=link)
        steps: list[tuple[dt.datetime, NoticeKind | None]] = [
            (ENTER, NoticeKind.GRACE), (QUIET, None), (REMIND, NoticeKind.REMINDER),
            (REMIND + dt.timedelta(hours=1), None), (CUT, NoticeKind.CUTOFF), (CUT + dt.timedelta(hours=3), None)]
        for at, kind in steps:
            before = len(mailbox.messages)
            worker.run_once(at)
            got = mailbox.messages[before:]
            if kind is None:
                assert got == [], [m["Subject"] for _, m in got]
                continue
            assert sorted(rcpt[0] for rcpt, _ in got) == [FRENCH, DANISH]
            _check(mailbox.to(DANISH)[-1], DANISH, "da", kind, "phone-mette")
            _check(mailbox.to(FRENCH)[-1], FRENCH, "fr", kind, "phone-claire")
            if kind is NoticeKind.CUTOFF:  # the worker itself moved the findings past their deadline
                with database.session() as session:
                    found = FindingRepository(session).get_for_restriction(EU_RULE)
                assert {item.verdict.state for item in found.values()} == {FindingState.NON_COMPLIANT}
        remove_tiktok(database, REMOVED)
        for at, kind in ((RESTORE, NoticeKind.RESTORED), (LATER, None)):
            before = len(mailbox.messages)
            worker.run_once(at)
            got = mailbox.messages[before:]
            if kind is None:
                assert got == []
                continue
            assert len(got) == 2
            _check(mailbox.to(DANISH)[-1], DANISH, "da", kind, "phone-mette")
            _check(mailbox.to(FRENCH)[-1], FRENCH, "fr", kind, "phone-claire")
    assert len(mailbox.messages) == 8  # 4 steps x 2 holders, never twice
    with database.session() as session:
        assert NoticeRepository(session).counts() == {"sent": 8}


class Collector:
    """A transport that records what it delivers, slowly, from any thread."""

    name = "collector"

    def __init__(self) -> None:
        self.sent: list[Notice] = []
        self._lock = threading.Lock()

    def send(self, notice: Notice) -> None:
        threading.Event().wait(0.02)  # long enough for the other worker to try the same rows
        with self._lock:
            self.sent.append(notice)


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_workers_on_one_postgresql_act_exactly_once(database_url: str) -> None:
    with Database.open(database_url) as setup:
        seed_holders_fleet(setup)
    collector = Collector()
    times = [ENTER, QUIET, REMIND, REMIND + dt.timedelta(minutes=5), CUT, CUT + dt.timedelta(minutes=5)]
    errors: list[BaseException] = []
    rounds: list[list[Round]] = [[], []]

    def run(index: int, barrier: threading.Barrier) -> None:
        with Database.open(database_url) as own:  # each worker its own connection pool
            worker = Scheduler(own, transport=collector, link=link, batch=1)
            try:
                for at in times:
                    barrier.wait(timeout=30)
                    for _ in range(3):  # several rounds at the same moment: nothing more may happen
                        rounds[index].append(worker.run_once(at))
            except BaseException as error:
                errors.append(error)
                barrier.abort()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=run, args=(i, barrier)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    keys = Counter(notice.key for notice in collector.sent)
    assert all(count == 1 for count in keys.values()), keys
    assert Counter((n.recipient, n.kind) for n in collector.sent) == {
        (who, kind): 1 for who in (DANISH, FRENCH) for kind in (NoticeKind.GRACE, NoticeKind.REMINDER,
                                                                NoticeKind.CUTOFF)}
    with Database.open(database_url) as check, check.session() as session:
        events = FindingRepository(session).events(EU_RULE)
        assert NoticeRepository(session).counts() == {"sent": 6}
    cut_offs = Counter(e.device for e in events if e.state_to is FindingState.NON_COMPLIANT)
    assert cut_offs == {"phone-mette": 1, "phone-claire": 1}  # each transition once
    transitions = sum(r.transitions for each in rounds for r in each)
    assert transitions == 2


def test_the_worker_applies_staleness_expiry_and_restriction_start(database: Database) -> None:
    """Time alone: a silent compliant device becomes unknown; a restriction that comes into force finds its
    devices; one that expires lets its findings go (and the holder cut off under it hears so)."""
    seed_examples(database)
    with database.session() as session:
        HolderRepository(session).upsert([Holder(email="jan@example.be", organisation="be-federal", language="nl")])
    seed_fleet(database, [device("be-phone", "be-federal", holder="jan@example.be"), device("eu-quiet")],
               [inventory("be-phone", NOW, [TIKTOK]), inventory("eu-quiet", NOW)])
    worker = Scheduler(database, transport=None, link=link)
    worker.run_once(NOW)
    with database.session() as session:
        assert FindingRepository(session).get_for_restriction(BE_RULE) == {}  # effective only from 10 March
    in_force = dt.datetime(2023, 3, 10, 0, 1, tzinfo=dt.UTC)
    assert worker.run_once(in_force).transitions >= 1
    with database.session() as session:
        [found] = FindingRepository(session).get_for_restriction(BE_RULE).values()
        assert found.verdict.state is FindingState.GRACE
    stale = NOW + dt.timedelta(days=30, minutes=1)  # past the 30-day staleness limit
    worker.run_once(stale)
    with database.session() as session:
        eu = FindingRepository(session).get_for_restriction(EU_RULE)
        assert eu[("eu-quiet", EU_RULE)].verdict.state is FindingState.UNKNOWN
    _report(database, dt.datetime(2023, 4, 1, tzinfo=dt.UTC))  # the Belgian phone still has TikTok: cut off
    worker.run_once(dt.datetime(2023, 4, 1, 0, 5, tzinfo=dt.UTC))
    with database.session() as session:
        assert {f.verdict.state for f in FindingRepository(session).get_for_restriction(BE_RULE).values()} == {
            FindingState.NON_COMPLIANT}
    _report(database, dt.datetime(2023, 9, 9, tzinfo=dt.UTC))  # and reports until the restriction expires
    worker.run_once(dt.datetime(2023, 9, 11, 0, 5, tzinfo=dt.UTC))
    with database.session() as session:
        assert FindingRepository(session).get_for_restriction(BE_RULE) == {}
        kinds = [(r.notice.recipient, r.notice.kind) for r in NoticeRepository(session).messages()]
    assert ("jan@example.be", NoticeKind.CUTOFF) in kinds and ("jan@example.be", NoticeKind.RESTORED) in kinds


def _report(database: Database, at: dt.datetime) -> None:
    """The Belgian phone reports TikTok again (seen since NOW), re-evaluated as an import does."""
    with database.session() as session:
        InventoryRepository(session).save([inventory("be-phone", at, {TIKTOK: NOW})], source_format="csv", now=at)
        evaluate_pairs(session, load_context(session), [("be-phone", BE_RULE)], at)
