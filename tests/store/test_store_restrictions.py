"""Restrictions in the store: versions, idempotent apply, lifecycle refusals, adoption decisions."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from appban.audit import AuditEvent
from appban.errors import InvalidInput, NotFound
from appban.model import Lifecycle
from appban.policy.restriction import parse_restriction
from appban.store import (
    AdoptionRepository,
    AppliedVersion,
    ApplyOutcome,
    AuditLog,
    Database,
    RestrictionRepository,
)

from .store_examples import ACTOR, NOW, RESTRICTION_FILES, restriction, seed_examples, seed_organisations

EU = next(path for path in RESTRICTION_FILES if path.name == "eu-commission-tiktok-2023.yaml")
LATER = NOW + dt.timedelta(days=30)

SMALL = """\
id: x-tiktok
issuer: eu-commission
title: TikTok off corporate devices
status: {status}
targets:
  - family: tiktok
strictness: require
effective: 2023-03-01
"""


def _apply(database: Database, text: str, source: str = "x-tiktok.yaml",
           at: dt.datetime = NOW) -> AppliedVersion:
    with database.session() as session:
        return RestrictionRepository(session).apply(parse_restriction(text, source), actor=ACTOR, now=at,
                                                    source_path=source)


def _audit_events(database: Database) -> list[tuple[AuditEvent, str]]:
    with database.session() as session:
        return [(entry.event, entry.subject) for entry in AuditLog(session).entries()]


def test_every_example_round_trips(database: Database) -> None:
    assert len(RESTRICTION_FILES) >= 6
    seed_examples(database)
    with database.session() as session:
        stored = RestrictionRepository(session).all_latest()
    parsed = [restriction(path) for path in RESTRICTION_FILES]
    assert [s.restriction.id for s in stored] == sorted(p.restriction.id for p in parsed)
    by_id = {p.restriction.id: p for p in parsed}
    for item in stored:
        expected = by_id[item.restriction.id]
        assert item.restriction == expected.restriction
        assert (item.version, item.content_hash, item.text) == (1, expected.content_hash, expected.text)
        assert (item.source_path, item.applied_by, item.applied_at) == (expected.source, ACTOR, NOW)
    created = [subject for event, subject in _audit_events(database) if event is AuditEvent.RESTRICTION_CREATE]
    assert created == [p.restriction.id for p in parsed]


def test_applying_the_same_file_twice_changes_nothing(database: Database) -> None:
    seed_organisations(database)
    first = _apply(database, EU.read_text(), str(EU))
    events = _audit_events(database)
    second = _apply(database, EU.read_text(), str(EU), at=LATER)
    assert first == AppliedVersion("eu-commission-tiktok-2023", 1, ApplyOutcome.CREATED)
    assert second == AppliedVersion("eu-commission-tiktok-2023", 1, ApplyOutcome.UNCHANGED)
    assert _audit_events(database) == events
    with database.session() as session:
        assert len(RestrictionRepository(session).history("eu-commission-tiktok-2023")) == 1


def test_a_changed_file_becomes_version_two_and_history_keeps_both(database: Database) -> None:
    seed_organisations(database)
    original = EU.read_text()
    changed = original.replace("grace: 20d", "grace: 30d\nreview: 2023-09-01")
    _apply(database, original, str(EU))
    assert _apply(database, changed, str(EU), at=LATER) == AppliedVersion(
        "eu-commission-tiktok-2023", 2, ApplyOutcome.NEW_VERSION)
    with database.session() as session:
        repository = RestrictionRepository(session)
        history = repository.history("eu-commission-tiktok-2023")
        latest = repository.latest("eu-commission-tiktok-2023")
        entries = AuditLog(session).entries()
    assert [(h.version, h.restriction.grace.days, h.restriction.review) for h in history] == [
        (1, 20, None), (2, 30, dt.date(2023, 9, 1))]
    assert [h.applied_at for h in history] == [NOW, LATER]
    assert latest == history[1]
    update = entries[-1]
    assert (update.event, update.subject, update.at) == (AuditEvent.RESTRICTION_UPDATE, "eu-commission-tiktok-2023",
                                                         LATER)
    assert update.details["version"] == 2
    assert update.details["previous_hash"] == history[0].content_hash
    assert update.details["content_hash"] == history[1].content_hash


def test_revoking_is_audited_and_final(database: Database) -> None:
    seed_organisations(database)
    _apply(database, SMALL.format(status="active"))
    assert _apply(database, SMALL.format(status="revoked"), at=LATER).version == 2
    assert _audit_events(database)[-1] == (AuditEvent.RESTRICTION_REVOKE, "x-tiktok")
    before = _audit_events(database)

    with pytest.raises(InvalidInput) as caught:
        _apply(database, SMALL.format(status="active") + "rationale: revived\n", at=LATER)
    [problem] = caught.value.problems
    assert re.fullmatch(r"x-tiktok\.yaml:4:9: restriction `x-tiktok` was revoked; revocation is final "
                        r"\(publish the new decision as a restriction with a new id\)", str(problem))
    assert _audit_events(database) == before
    with database.session() as session:
        history = RestrictionRepository(session).history("x-tiktok")
    assert [h.restriction.status for h in history] == [Lifecycle.ACTIVE, Lifecycle.REVOKED]


def test_a_refusal_in_a_batch_stores_nothing_from_that_batch(database: Database) -> None:
    """`appban policy apply` runs a batch in one session: one refused file rolls back the others."""
    seed_organisations(database)
    _apply(database, SMALL.format(status="active"))
    _apply(database, SMALL.format(status="revoked"))
    before = _audit_events(database)

    def apply_batch() -> None:
        with database.session() as session:
            repository = RestrictionRepository(session)
            repository.apply(restriction(EU), actor=ACTOR, now=LATER, source_path=str(EU))
            repository.apply(parse_restriction(SMALL.format(status="active") + "rationale: revived\n", "x.yaml"),
                             actor=ACTOR, now=LATER, source_path="x.yaml")

    with pytest.raises(InvalidInput):
        apply_batch()
    assert _audit_events(database) == before
    with database.session() as session:
        assert RestrictionRepository(session).latest("eu-commission-tiktok-2023") is None


def test_an_unknown_issuer_is_reported_at_its_place(database: Database) -> None:
    with pytest.raises(InvalidInput, match=r"^x-tiktok\.yaml:2:9: unknown organisation `eu-commission`"):
        _apply(database, SMALL.format(status="active"))
    assert _audit_events(database) == []


def test_unknown_restrictions_have_no_versions(database: Database) -> None:
    with database.session() as session:
        repository = RestrictionRepository(session)
        assert repository.latest("nope") is None
        assert repository.history("nope") == []
        assert repository.all_latest() == []


def test_adoption_decisions_are_kept_and_audited(database: Database) -> None:
    seed_examples(database)
    be = "be-federal-tiktok-2023"
    later = LATER + dt.timedelta(days=1)
    with database.session() as session:
        adoptions = AdoptionRepository(session)
        adoptions.record(be, "be-flanders", adopted=True, actor="flanders@example.be", now=LATER)
        adoptions.record(be, "be-wallonia", adopted=False, actor="wallonia@example.be", now=LATER,
                         note="under review")
    with database.session() as session:
        adoptions = AdoptionRepository(session)
        assert adoptions.adopters(be) == frozenset({"be-flanders"})
        adoptions.record(be, "be-wallonia", adopted=True, actor="wallonia@example.be", now=later)
    with database.session() as session:
        adoptions = AdoptionRepository(session)
        assert adoptions.adopters(be) == frozenset({"be-flanders", "be-wallonia"})
        listed = adoptions.all()
        entries = AuditLog(session).entries()
    assert [(a.organisation, a.adopted, a.decided_at, a.note) for a in listed] == [
        ("be-flanders", True, LATER, ""), ("be-wallonia", True, later, "")]
    decisions = [(e.event, e.details["organisation"], e.details["previous"]) for e in entries
                 if e.event in (AuditEvent.RESTRICTION_ADOPT, AuditEvent.RESTRICTION_DECLINE)]
    assert decisions == [(AuditEvent.RESTRICTION_ADOPT, "be-flanders", None),
                         (AuditEvent.RESTRICTION_DECLINE, "be-wallonia", None),
                         (AuditEvent.RESTRICTION_ADOPT, "be-wallonia", "declined")]


def test_adopting_needs_a_known_restriction_and_organisation(database: Database) -> None:
    seed_examples(database)
    with pytest.raises(NotFound, match="no restriction `nope`"), database.session() as session:
        AdoptionRepository(session).record("nope", "be-flanders", adopted=True, actor=ACTOR, now=NOW)
    with pytest.raises(NotFound, match="no organisation `be-nowhere`"), database.session() as session:
        AdoptionRepository(session).record("be-federal-tiktok-2023", "be-nowhere", adopted=True, actor=ACTOR,
                                           now=NOW)


def test_stored_restrictions_do_not_depend_on_the_file_staying_put(database: Database, tmp_path: Path) -> None:
    seed_organisations(database)
    moved = tmp_path / "x-tiktok.yaml"
    moved.write_text(SMALL.format(status="active"))
    _apply(database, moved.read_text(), str(moved))
    moved.unlink()
    with database.session() as session:
        latest = RestrictionRepository(session).latest("x-tiktok")
    assert latest is not None and latest.source_path == str(moved) and latest.restriction.title
