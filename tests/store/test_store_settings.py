"""Organisation settings and holders in the store."""

from __future__ import annotations

import datetime as dt

import pytest

from appban.audit import AuditEvent
from appban.errors import InvalidInput, NotFound
from appban.model import Holder
from appban.store import AuditLog, Database, HolderRepository, SettingsRepository, UpsertCounts

from .store_examples import ACTOR, NOW, seed_organisations

LATER = NOW + dt.timedelta(hours=1)


def test_staleness_is_set_changed_and_audited_as_an_organisation_update(database: Database) -> None:
    seed_organisations(database)
    with database.session() as session:
        settings = SettingsRepository(session)
        assert settings.staleness_days() == {}
        assert settings.set_staleness("be-gent", 14, actor=ACTOR, now=NOW) is True
        assert settings.set_staleness("be-gent", 14, actor=ACTOR, now=LATER) is False
        assert settings.set_staleness("be-gent", 7, actor=ACTOR, now=LATER) is True
        assert settings.set_staleness("eu-commission", 30, actor=ACTOR, now=LATER) is True
        assert settings.staleness_days() == {"be-gent": 7, "eu-commission": 30}
        entries = [e for e in AuditLog(session).entries() if "staleness_days" in e.details]
    assert [(e.event, e.subject, e.at, e.details) for e in entries] == [
        (AuditEvent.ORGANISATION_UPDATE, "be-gent", NOW, {"staleness_days": {"from": None, "to": 14}}),
        (AuditEvent.ORGANISATION_UPDATE, "be-gent", LATER, {"staleness_days": {"from": 14, "to": 7}}),
        (AuditEvent.ORGANISATION_UPDATE, "eu-commission", LATER, {"staleness_days": {"from": None, "to": 30}})]


@pytest.mark.parametrize("days", [0, -1, 3651, True])
def test_staleness_outside_one_to_3650_days_is_refused(database: Database, days: int) -> None:
    seed_organisations(database)
    with pytest.raises(InvalidInput, match=r"organisation be-gent: `staleness_days`: .* is not a number of days"), \
            database.session() as session:
        SettingsRepository(session).set_staleness("be-gent", days, actor=ACTOR, now=NOW)


def test_staleness_of_an_unknown_organisation_is_refused(database: Database) -> None:
    with pytest.raises(NotFound, match="no organisation `nowhere`"), database.session() as session:
        SettingsRepository(session).set_staleness("nowhere", 7, actor=ACTOR, now=NOW)


def test_holders_upsert_and_read(database: Database) -> None:
    seed_organisations(database)
    ana = Holder("ana@gent.be", "be-gent", "Ana", "nl")
    jan = Holder("jan@ec.europa.eu", "eu-commission")
    with database.session() as session:
        repository = HolderRepository(session)
        assert repository.upsert([ana, jan]) == UpsertCounts(created=2, updated=0, unchanged=0)
        moved = Holder("ana@gent.be", "be-antwerpen", "Ana", "nl")
        assert repository.upsert([moved, jan]) == UpsertCounts(created=0, updated=1, unchanged=1)
        assert repository.get_many(["ana@gent.be", "jan@ec.europa.eu", "nobody@x"]) == {
            "ana@gent.be": moved, "jan@ec.europa.eu": jan}
    with pytest.raises(InvalidInput, match="holder `x@y`: unknown organisation `nowhere`"), \
            database.session() as session:
        HolderRepository(session).upsert([Holder("x@y", "nowhere")])
