"""Exemptions in the store: granted and revoked with audit entries; bad ones refused, naming the field."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from appban.audit import AuditEvent
from appban.errors import AppbanError, Conflict, InvalidInput, NotFound
from appban.model import Exemption
from appban.store import AuditLog, Database, ExemptionRecord, ExemptionRepository
from appban.store.bulk import CHUNK

from .fleet_examples import BE_RULE, EU_RULE
from .store_examples import ACTOR, NOW, seed_examples

ENDS = NOW + dt.timedelta(days=90)
LATER = NOW + dt.timedelta(days=1)
PRESS = Exemption(id="ex-press-1", restriction=EU_RULE, reason="press office runs the official TikTok account",
                  approver="ciso@ec.europa.eu", ends=ENDS, device="press-phone-1")
PERSON = Exemption(id="ex-person-1", restriction=BE_RULE, reason="investigator", approver="ciso@belgium.be",
                   ends=ENDS, holder="ana@gent.be")


def _grant(database: Database, exemption: Exemption, at: dt.datetime = NOW) -> Exemption:
    with database.session() as session:
        return ExemptionRepository(session).grant(exemption, actor=ACTOR, now=at)


def _entries(database: Database) -> list[tuple[AuditEvent, str, dict[str, object]]]:
    with database.session() as session:
        return [(e.event, e.subject, dict(e.details)) for e in AuditLog(session).entries()
                if e.event in (AuditEvent.EXEMPTION_CREATE, AuditEvent.EXEMPTION_REVOKE)]


def test_grant_then_read_then_revoke(database: Database) -> None:
    seed_examples(database)
    assert _grant(database, PRESS) == PRESS
    _grant(database, PERSON)
    with database.session() as session:
        repository = ExemptionRepository(session)
        assert repository.get("ex-press-1") == PRESS
        assert repository.get("nowhere") is None
        assert repository.record("nowhere") is None
        assert repository.active(NOW) == [PERSON, PRESS]
        assert repository.active(ENDS) == []  # ended
        assert repository.for_restriction(EU_RULE) == [PRESS]
    with database.session() as session:
        assert ExemptionRepository(session).revoke("ex-press-1", actor=ACTOR, now=LATER) == PRESS
    with database.session() as session:
        repository = ExemptionRepository(session)
        assert repository.active(LATER) == [PERSON]
        assert repository.for_restriction(EU_RULE) == []
        assert repository.for_restriction(EU_RULE, include_revoked=True) == [PRESS]
        assert repository.record("ex-press-1") == ExemptionRecord(PRESS, NOW, ACTOR, LATER)
    details = {"restriction": EU_RULE, "device": "press-phone-1", "holder": None, "reason": PRESS.reason,
               "approver": "ciso@ec.europa.eu", "ends": "2023-05-24T09:30:00+00:00"}
    person = details | {"restriction": BE_RULE, "device": None, "holder": "ana@gent.be", "reason": "investigator",
                        "approver": "ciso@belgium.be"}
    assert _entries(database) == [(AuditEvent.EXEMPTION_CREATE, "ex-press-1", details),
                                  (AuditEvent.EXEMPTION_CREATE, "ex-person-1", person),
                                  (AuditEvent.EXEMPTION_REVOKE, "ex-press-1", details)]


def test_revoking_twice_or_an_unknown_exemption_is_refused(database: Database) -> None:
    seed_examples(database)
    _grant(database, PRESS)
    with database.session() as session:
        ExemptionRepository(session).revoke("ex-press-1", actor=ACTOR, now=LATER)
    with pytest.raises(Conflict, match="exemption `ex-press-1` was already revoked on 2023-02-24 09:30 UTC"), \
            database.session() as session:
        ExemptionRepository(session).revoke("ex-press-1", actor=ACTOR, now=LATER)
    with pytest.raises(NotFound, match="no exemption `ex-nowhere`"), database.session() as session:
        ExemptionRepository(session).revoke("ex-nowhere", actor=ACTOR, now=LATER)


@pytest.mark.parametrize(("exemption", "error", "message"), [
    (dataclasses.replace(PRESS, ends=NOW - dt.timedelta(days=1)), InvalidInput,
     r"exemption ex-press-1: `ends` \(2023-02-22 09:30 UTC\) is not in the future"),
    (dataclasses.replace(PRESS, ends=NOW), InvalidInput, "`ends`"),
    (dataclasses.replace(PRESS, ends=dt.datetime(2030, 1, 1)), InvalidInput, "`ends` has no time zone"),
    (dataclasses.replace(PRESS, restriction="nowhere"), NotFound,
     "exemption `ex-press-1`: `restriction`: no restriction `nowhere`"),
    (dataclasses.replace(PRESS, holder="ana@ec.europa.eu"), InvalidInput, "`device` and `holder`: name exactly one"),
    (dataclasses.replace(PRESS, device=None), InvalidInput, "`device` and `holder`: name exactly one"),
    (dataclasses.replace(PRESS, id=""), InvalidInput, "`id` must have 1 to 63 characters"),
    (dataclasses.replace(PRESS, id="x" * 64), InvalidInput, "`id` must have 1 to 63 characters"),
])
def test_bad_exemptions_are_refused_and_nothing_is_written(database: Database, exemption: Exemption,
                                                          error: type[AppbanError], message: str) -> None:
    seed_examples(database)
    with pytest.raises(error, match=message):
        _grant(database, exemption)
    with database.session() as session:
        assert ExemptionRepository(session).active(NOW) == []
    assert _entries(database) == []


def test_an_exemption_id_is_used_once(database: Database) -> None:
    seed_examples(database)
    _grant(database, PRESS)
    with pytest.raises(Conflict, match="exemption `ex-press-1` already exists"):
        _grant(database, dataclasses.replace(PRESS, device="other-phone"))


def test_the_schema_refuses_an_exemption_naming_both_or_neither(database: Database) -> None:
    seed_examples(database)
    insert = text("INSERT INTO exemptions (id, restriction_id, device_id, holder_email, reason, approver, ends, "
                  "created_at, created_by) VALUES (:id, :rule, :device, :holder, 'r', 'a', :at, :at, 'x')")
    for device, holder in (("d1", "ana@ec.europa.eu"), (None, None)):
        with pytest.raises(IntegrityError), database.engine.begin() as connection:
            connection.execute(insert, {"id": "bad", "rule": EU_RULE, "device": device, "holder": holder,
                                        "at": ENDS})


def test_active_for_gives_the_exemptions_of_these_devices_and_holders_only(database: Database) -> None:
    seed_examples(database)
    other = dataclasses.replace(PRESS, id="ex-press-2", device="press-phone-2")
    short = dataclasses.replace(PRESS, id="ex-press-short", ends=NOW + dt.timedelta(hours=1))
    revoked = dataclasses.replace(PERSON, id="ex-person-revoked")
    for exemption in (PRESS, PERSON, other, short, revoked):
        _grant(database, exemption)
    with database.session() as session:
        ExemptionRepository(session).revoke(revoked.id, actor=ACTOR, now=NOW)
    with database.session() as session:
        repository = ExemptionRepository(session)
        assert repository.active_for(["press-phone-1"], ["ana@gent.be"], NOW) == [PERSON, PRESS, short]
        assert repository.active_for(["press-phone-1"], [], LATER) == [PRESS]
        assert repository.active_for([], [], NOW) == []
        many = [f"other-{n}" for n in range(CHUNK)] + ["press-phone-1"]  # past one chunk: the chunked path
        assert repository.active_for(many, ["ana@gent.be"], NOW) == [PERSON, PRESS, short]
