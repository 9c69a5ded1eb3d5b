"""The stored audit log: it verifies, tampering in the database is caught, concurrent writers do not fork it."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading

import pytest
from sqlalchemy import text

from appban.audit import GENESIS_HASH, AuditEvent
from appban.errors import StorageUnavailable
from appban.store import AuditLog, Database

from .store_examples import ACTOR, NOW, seed_examples


def _verify(database: Database) -> list[str]:
    with database.session() as session:
        return AuditLog(session).verify()


def _tamper(database: Database, *statements: str, **values: object) -> None:
    """Change the table behind appban's back, as someone with database access could."""
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), values)


@pytest.fixture
def seeded(database: Database) -> Database:
    seed_examples(database)
    return database


def test_the_seeded_log_is_a_valid_chain(seeded: Database) -> None:
    with seeded.session() as session:
        entries = AuditLog(session).entries()
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    assert _verify(seeded) == []


def test_appended_entries_read_back_equal(database: Database) -> None:
    details = {"organisation": "be-gent", "note": "ça va", "nested": {"b": [1, 2.5, None], "a": True}}
    with database.session() as session:
        written = AuditLog(session).append(AuditEvent.RESTRICTION_ADOPT, "be-federal-tiktok-2023", actor=ACTOR,
                                           at=NOW, details=details)
    with database.session() as session:
        assert AuditLog(session).entries() == [written]
    assert written.details == details


def test_a_changed_details_column_is_detected(seeded: Database) -> None:
    with seeded.session() as session:
        target = next(e for e in AuditLog(session).entries() if e.event is AuditEvent.RESTRICTION_CREATE)
    forged = json.dumps({**target.details, "status": "draft"}, sort_keys=True, separators=(",", ":"))
    _tamper(seeded, "UPDATE audit_log SET details = :forged WHERE seq = :seq", forged=forged, seq=target.seq)
    assert _verify(seeded) == [
        f"audit entry {target.seq} (restriction:create {target.subject}): hash does not match its content"]


def test_a_deleted_row_is_detected(seeded: Database) -> None:
    _tamper(seeded, "DELETE FROM audit_log WHERE seq = 5")
    [problem] = _verify(seeded)
    assert problem.startswith("audit entry 6 (organisation:create ")
    assert problem.endswith(": follows entry 4: entry 5 is missing")


def test_deleting_the_first_row_is_detected(seeded: Database) -> None:
    _tamper(seeded, "DELETE FROM audit_log WHERE seq = 1")
    [problem] = _verify(seeded)
    assert problem.endswith("follows the start of the log: entry 1 is missing")


def test_two_rows_with_swapped_seq_are_detected(seeded: Database) -> None:
    _tamper(seeded, "UPDATE audit_log SET seq = -1 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 9",
            "UPDATE audit_log SET seq = 9 WHERE seq = -1")
    problems = _verify(seeded)
    assert any(p.startswith("audit entry 3 ") and p.endswith("hash does not match its content") for p in problems)
    assert any(p.startswith("audit entry 9 ") and p.endswith("the log was reordered") for p in problems)


def test_a_row_damaged_beyond_reading_is_reported(seeded: Database) -> None:
    _tamper(seeded, "UPDATE audit_log SET event = 'restriction:erase' WHERE seq = 2")
    problems = _verify(seeded)
    assert problems[0].startswith("audit entry 2 (restriction:erase ")
    assert problems[0].endswith("cannot be read (unknown event `restriction:erase`)")
    with pytest.raises(StorageUnavailable, match="audit entry 2 cannot be read"), seeded.session() as session:
        AuditLog(session).entries()


def test_concurrent_writers_extend_one_chain(database: Database) -> None:
    """Two writers, 50 appends each, each in its own transaction: 100 entries in one unbroken chain."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(actor: str) -> None:
        try:
            start.wait()
            for index in range(50):
                with database.session() as session:
                    AuditLog(session).append(AuditEvent.TOKEN_CREATE, f"{actor}-{index}", actor=actor,
                                             at=NOW + dt.timedelta(seconds=index), details={"index": index})
        except BaseException as error:
            failures.append(error)
            raise

    threads = [threading.Thread(target=write, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with database.session() as session:
        log = AuditLog(session)
        entries = log.entries()
        assert log.verify() == []
    assert [e.seq for e in entries] == list(range(1, 101))
    assert sorted(e.subject for e in entries) == sorted(f"{a}-{i}" for a in ("alice", "bob") for i in range(50))
