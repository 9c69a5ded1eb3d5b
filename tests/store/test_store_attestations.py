"""Attestations in the store: the latest per (device, restriction), audited, refused when they make no sense."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from appban.audit import AuditEvent
from appban.errors import AppbanError, InvalidInput, NotFound
from appban.model import Attestation
from appban.store import AttestationRepository, AuditLog, Database

from .fleet_examples import BE_RULE, EU_RULE, device, seed_fleet
from .store_examples import NOW, seed_examples

EXPIRES = NOW + dt.timedelta(days=30)
ANA = "ana@ec.europa.eu"
FIRST = Attestation(device="d1", restriction=EU_RULE, holder=ANA, at=NOW, expires=EXPIRES)


def _seed(database: Database) -> None:
    seed_examples(database)
    seed_fleet(database, [device("d1", holder=ANA), device("d2"), device("gent-1", "be-gent")])


def _record(database: Database, attestation: Attestation) -> Attestation:
    with database.session() as session:
        return AttestationRepository(session).record(attestation, actor=attestation.holder)


def test_record_read_and_replace(database: Database) -> None:
    _seed(database)
    assert _record(database, FIRST) == FIRST
    other = Attestation("gent-1", BE_RULE, "jan@gent.be", NOW, NOW + dt.timedelta(days=7))
    _record(database, other)
    renewed = dataclasses.replace(FIRST, at=NOW + dt.timedelta(days=20), expires=NOW + dt.timedelta(days=50))
    _record(database, renewed)
    with database.session() as session:
        repository = AttestationRepository(session)
        assert repository.get_many([("d1", EU_RULE), ("gent-1", BE_RULE), ("d2", EU_RULE)]) == {
            ("d1", EU_RULE): renewed, ("gent-1", BE_RULE): other}
        assert repository.for_devices(["d1", "d2", "gent-1"]) == [renewed, other]
        assert repository.for_devices([]) == []
        assert repository.device_ids_for_restriction(EU_RULE) == {"d1"}
        assert repository.expiring(NOW, NOW + dt.timedelta(days=7)) == [("gent-1", BE_RULE)]
        assert repository.expiring(NOW + dt.timedelta(days=7), NOW + dt.timedelta(days=49)) == []
        entries = [e for e in AuditLog(session).entries() if e.event is AuditEvent.ATTESTATION_CREATE]
    assert [(e.subject, e.actor, e.at) for e in entries] == [("d1", ANA, NOW), ("gent-1", "jan@gent.be", NOW),
                                                             ("d1", ANA, renewed.at)]
    assert entries[-1].details == {"restriction": EU_RULE, "holder": ANA, "expires": "2023-04-14T09:30:00+00:00",
                                   "replaces": "2023-02-23T09:30:00+00:00"}


@pytest.mark.parametrize(("attestation", "error", "message"), [
    (dataclasses.replace(FIRST, expires=NOW), InvalidInput, "`expires` is not after `at`"),
    (dataclasses.replace(FIRST, at=dt.datetime(2023, 2, 23)), InvalidInput, "`at` has no time zone"),
    (dataclasses.replace(FIRST, device="nowhere"), NotFound, "`device`: no device `nowhere`"),
    (dataclasses.replace(FIRST, restriction="nowhere"), NotFound, "`restriction`: no restriction `nowhere`"),
])
def test_bad_attestations_are_refused(database: Database, attestation: Attestation, error: type[AppbanError],
                                      message: str) -> None:
    _seed(database)
    with pytest.raises(error, match=message):
        _record(database, attestation)
    with database.session() as session:
        assert AttestationRepository(session).for_devices(["d1", "nowhere"]) == []
