"""Organisations in the store: upsert with counts and audit entries, parents before children."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from appban.audit import AuditEvent
from appban.errors import InvalidInput
from appban.model import Organisation
from appban.store import ApplyCounts, AuditLog, Database, OrganisationRepository

from .store_examples import ACTOR, NOW, organisations

LATER = NOW + dt.timedelta(hours=1)


def _apply(database: Database, orgs: list[Organisation], at: dt.datetime = NOW) -> ApplyCounts:
    with database.session() as session:
        return OrganisationRepository(session).apply(orgs, actor=ACTOR, now=at)


def test_apply_creates_then_updates_then_leaves_alone(database: Database) -> None:
    examples = organisations()
    assert _apply(database, examples) == ApplyCounts(created=len(examples), updated=0, unchanged=0)
    renamed = [dataclasses.replace(o, name="Ville de Liège") if o.id == "be-liege" else o for o in examples]
    assert _apply(database, renamed, LATER) == ApplyCounts(created=0, updated=1, unchanged=len(examples) - 1)
    assert _apply(database, renamed, LATER) == ApplyCounts(created=0, updated=0, unchanged=len(examples))

    with database.session() as session:
        repository = OrganisationRepository(session)
        stored = repository.all()
        liege = repository.get("be-liege")
        missing = repository.get("be-nowhere")
        entries = AuditLog(session).entries()
    assert stored == sorted(renamed, key=lambda o: o.id)
    assert liege == Organisation("be-liege", "Ville de Liège", "be-wallonia", "municipality", "BE")
    assert missing is None
    assert [e.event for e in entries].count(AuditEvent.ORGANISATION_CREATE) == len(examples)
    update = entries[-1]
    assert (update.event, update.subject, update.at) == (AuditEvent.ORGANISATION_UPDATE, "be-liege", LATER)
    assert update.details == {"name": {"from": "City of Liège", "to": "Ville de Liège"}}
    created = next(e for e in entries if e.subject == "be-gent")
    assert created.details == {"name": "City of Ghent", "parent": "be-flanders", "kind": "municipality",
                               "country": "BE"}


def test_children_listed_before_their_parents_are_stored_after_them(database: Database) -> None:
    reversed_tree = organisations()
    reversed_tree.reverse()  # the file lists parents first
    reversed_tree.sort(key=lambda o: o.parent is None)  # and roots last
    assert reversed_tree[0].parent is not None and reversed_tree[-1].parent is None
    assert _apply(database, reversed_tree).created == len(reversed_tree)
    with database.session() as session:
        entries = AuditLog(session).entries()
    order = [e.subject for e in entries]
    for org in reversed_tree:
        if org.parent is not None:
            assert order.index(org.parent) < order.index(org.id)


def test_moving_an_organisation_under_a_new_parent_in_the_same_batch(database: Database) -> None:
    _apply(database, [Organisation("be-federal", "Belgium"), Organisation("be-gent", "Ghent", "be-federal")])
    moved = [Organisation("be-gent", "Ghent", "be-flanders"), Organisation("be-flanders", "Flanders", "be-federal")]
    assert _apply(database, moved, LATER) == ApplyCounts(created=1, updated=1, unchanged=0)
    with database.session() as session:
        assert OrganisationRepository(session).get("be-gent") == moved[0]


@pytest.mark.parametrize(("batch", "message"), [
    ([Organisation("a", "A"), Organisation("a", "A again")], "organisation `a` is listed twice"),
    ([Organisation("a", "A", "nowhere")], "organisation `a`: unknown parent organisation `nowhere`"),
    ([Organisation("a", "A", "b"), Organisation("b", "B", "a")], "organisation `a`: its line of parents loops"),
])
def test_a_batch_that_is_not_a_tree_is_refused_whole(database: Database, batch: list[Organisation],
                                                     message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _apply(database, [Organisation("root", "Root"), *batch])
    with database.session() as session:
        assert OrganisationRepository(session).all() == []
        assert AuditLog(session).entries() == []


def test_a_change_that_would_make_a_stored_tree_cyclic_is_refused(database: Database) -> None:
    _apply(database, [Organisation("a", "A"), Organisation("b", "B", "a")])
    with pytest.raises(InvalidInput, match="organisation `a`: its line of parents loops"):
        _apply(database, [Organisation("a", "A", "b")], LATER)
