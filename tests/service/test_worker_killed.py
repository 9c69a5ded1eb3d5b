"""Faults (issue 8): `appban worker` killed with SIGKILL in the middle of a round, then started again.

A fleet of holders' phones whose grace periods all ended while no worker ran; a real SMTP server (aiosmtpd).
The worker is killed twice: while it applies the transitions (under the advisory lock, before anything is
committed), then while it delivers (the server holds some of the messages, not all). Started again, it finishes.
Every finding moves on exactly once (one event each), and every notice reaches the server: at least once, and
a second time only for a message in flight at the kill (at most one per kill: one message per transaction),
with the same Message-ID and X-Appban-Notice, so the receiver can drop it (docs/notices.md, "Crashes")."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from appban.model import FindingState, Holder
from appban.service import evaluate_rules, load_context
from appban.store import Database, FindingRepository, HolderRepository, InventoryRepository, NoticeRepository
from tests.notify.support import Mailbox, _free_port
from tests.store.fleet_examples import EU_RULE, SIGNAL, TIKTOK, device, inventory, seed_fleet
from tests.store.store_examples import seed_examples

pytestmark = pytest.mark.postgres

HOLDERS = 300  # one phone each, so one cut-off message each


def seed(url: str, now: dt.datetime) -> None:
    """Phones that got TikTok 25 days ago (grace until 5 days ago) and reported an hour ago, not re-evaluated since:
    every finding is in `grace` with its deadline passed, for the worker to move on."""
    began = now - dt.timedelta(days=25)
    ids = [f"phone-{n:04d}" for n in range(HOLDERS)]
    with Database.open(url) as database:
        seed_examples(database)
        with database.session() as session:
            HolderRepository(session).upsert([Holder(email=f"holder-{n:04d}@example.eu", organisation="eu-commission",
                                                     name=f"Holder {n}", language="en") for n in range(HOLDERS)])
        seed_fleet(database, [device(d, holder=f"holder-{n:04d}@example.eu") for n, d in enumerate(ids)],
                   [inventory(d, began, [TIKTOK, SIGNAL]) for d in ids], at=began)
        with database.session() as session:
            evaluate_rules(session, load_context(session), [EU_RULE], began)
        with database.session() as session:
            recent = now - dt.timedelta(hours=1)
            InventoryRepository(session).save(
                [inventory(d, recent, dict.fromkeys([TIKTOK, SIGNAL], began)) for d in ids], source_format="csv",
                now=recent)
        with database.session() as session:
            findings = FindingRepository(session).get_for_restriction(EU_RULE)
    assert len(findings) == HOLDERS
    assert {item.verdict.state for item in findings.values()} == {FindingState.GRACE}
    assert all(item.verdict.deadline is not None and item.verdict.deadline < now for item in findings.values())


@contextmanager
def plain_smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1, no TLS nor login (the transport's TLS is tested in tests/notify)."""
    mailbox, port = Mailbox(), _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def start_worker(url: str, port: int, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "APPBAN_SMTP_HOST": "127.0.0.1", "APPBAN_SMTP_PORT": str(port),
           "APPBAN_SMTP_STARTTLS": "false", "APPBAN_SMTP_FROM": "appban@example.eu",
           "APPBAN_SECRET": "a-test-secret-of-at-least-16-bytes", "APPBAN_PUBLIC_URL": "https://appban.example.eu"}
    command = [sys.executable, "-c", "from appban.cli import main; main()", "worker", "--database", url, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the worker ended before {what}: {out.decode()} {err.decode()}")
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def holding_the_lock(database: Database) -> Callable[[], bool]:
    """Whether another connection holds an advisory lock on this database: the worker's transitions lock (steps 1
    and 2 of a round), held until that transaction ends."""
    def check() -> bool:
        with database.session() as session:
            return bool(session.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")))
    return check


def stored(url: str) -> tuple[Counter[tuple[str, FindingState | None, FindingState]], dict[str, int], list[str]]:
    with Database.open(url) as database, database.session() as session:
        events = FindingRepository(session).events(EU_RULE)
        notices = NoticeRepository(session)
        return (Counter((e.device, e.state_from, e.state_to) for e in events), notices.counts(),
                [record.notice.key.text() for record in notices.messages()])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # processes sharing a server
def test_a_worker_killed_mid_round_moves_each_finding_once_and_loses_no_notice(database_url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    seed(database_url, now)
    grace_events, _, _ = stored(database_url)
    assert set(grace_events.values()) == {1}
    with plain_smtp() as (mailbox, port):
        # 1. killed while it moves findings on and queues notices: nothing of that round is stored
        with Database.open(database_url) as watcher:
            kill_when(start_worker(database_url, port, "--interval", "1"), holding_the_lock(watcher),
                      "took the transitions lock")
        events, counts, _ = stored(database_url)
        assert events == grace_events and counts == {} and mailbox.messages == []

        # 2. killed while it delivers: the server has some of the messages, not all
        worker = start_worker(database_url, port, "--interval", "1")
        kill_when(worker, lambda: len(mailbox.messages) >= HOLDERS // 3, "delivered a third of the messages")
        received_at_kill = len(mailbox.messages)
        assert received_at_kill < HOLDERS, "the worker sent everything before the kill: make the fleet larger"
        events, counts, keys = stored(database_url)
        assert len(keys) == HOLDERS and counts.get("sent", 0) <= received_at_kill  # all queued, some marked sent

        # 3. started again: it finishes the job
        worker = start_worker(database_url, port, "--once")
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        assert "0 finding(s) moved on, 0 notice(s) queued" in out.decode()  # the round of step 2 had done them
        received = list(mailbox.messages)
    events, counts, keys = stored(database_url)
    assert counts == {"sent": HOLDERS}
    cut = Counter(device for (device, before, after), n in events.items() for _ in range(n)
                  if after is FindingState.NON_COMPLIANT)
    assert cut == {f"phone-{n:04d}": 1 for n in range(HOLDERS)}  # each transition once, none skipped
    assert sum(events.values()) == 2 * HOLDERS  # entering grace, then the cut-off: nothing else

    by_notice = Counter(message["X-Appban-Notice"] for _, message in received)
    assert set(by_notice) == set(keys)  # every notice delivered
    duplicates = {key: n for key, n in by_notice.items() if n > 1}
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates  # at most the one in flight at the kill
    for key in duplicates:  # and recognisable as the same message
        assert len({message["Message-ID"] for _, message in received if message["X-Appban-Notice"] == key}) == 1
    assert all(str(message["Subject"]).startswith("Access cut off") for _, message in received), \
        {str(m["Subject"]) for _, m in received}
    assert Counter(rcpt[0] for rcpt, _ in received).keys() == {f"holder-{n:04d}@example.eu" for n in range(HOLDERS)}
