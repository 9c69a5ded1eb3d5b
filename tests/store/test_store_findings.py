"""Findings in the store: sparse rows, `since` kept while the state holds, one event per change of state."""

from __future__ import annotations

import datetime as dt

from appban.compliance import Change
from appban.model import App, Finding, FindingState, Platform
from appban.store import Database, FindingEvent, FindingRepository, StoredFinding

from .fleet_examples import BE_RULE, EU_RULE, TIKTOK, TIKTOK_LITE, change, device, seed_fleet, verdict
from .store_examples import NOW, seed_examples

T1 = NOW + dt.timedelta(days=1)
T2 = NOW + dt.timedelta(days=2)
T3 = NOW + dt.timedelta(days=3)
DEADLINE = NOW + dt.timedelta(days=20)
VERSIONS = {EU_RULE: 1, BE_RULE: 3}
BY_NAME = App(Platform.ANDROID, "name:TikTok")


def _seed(database: Database) -> None:
    seed_examples(database)
    seed_fleet(database, [device("d1"), device("d2"), device("d3"), device("gent-1", "be-gent")])


def _apply(database: Database, changes: list[Change], at: dt.datetime) -> int:
    with database.session() as session:
        return FindingRepository(session).apply(changes, now=at, versions=VERSIONS)


def _events(database: Database, **query: object) -> list[tuple[str, str, FindingState | None, FindingState]]:
    with database.session() as session:
        events = FindingRepository(session).events(**query)  # type: ignore[arg-type]
    return [(e.device, e.restriction, e.state_from, e.state_to) for e in events]


def test_a_finding_keeps_since_while_its_state_holds_and_every_change_of_state_is_an_event(
        database: Database) -> None:
    _seed(database)
    grace = verdict(FindingState.GRACE, reason="holds TikTok; remove by the 15th", deadline=DEADLINE,
                    apps=[TIKTOK, BY_NAME])
    assert _apply(database, [change("d1", EU_RULE, grace)], NOW) == 1
    moved = verdict(FindingState.GRACE, reason="holds TikTok and TikTok Lite", deadline=DEADLINE + dt.timedelta(1),
                    apps=[TIKTOK, TIKTOK_LITE])
    assert _apply(database, [change("d1", EU_RULE, moved, grace)], T1) == 0  # same state: row rewritten, no event
    with database.session() as session:
        assert FindingRepository(session).get_for_devices(["d1"]) == {
            ("d1", EU_RULE): StoredFinding(moved, since=NOW, restriction_version=1)}
    breach = verdict(FindingState.NON_COMPLIANT, deadline=DEADLINE, apps=[TIKTOK])
    assert _apply(database, [change("d1", EU_RULE, breach, moved)], T2) == 1
    with database.session() as session:
        stored = FindingRepository(session).get_pairs([("d1", EU_RULE), ("d2", EU_RULE)])
    assert stored == {("d1", EU_RULE): StoredFinding(breach, since=T2, restriction_version=1)}
    assert stored[("d1", EU_RULE)].finding("d1", EU_RULE) == Finding(
        "d1", EU_RULE, FindingState.NON_COMPLIANT, T2, DEADLINE, frozenset({TIKTOK}), breach.reason)
    assert _apply(database, [change("d1", EU_RULE, None, breach)], T3) == 1  # removed: back to compliant
    with database.session() as session:
        repository = FindingRepository(session)
        assert repository.get_for_devices(["d1"]) == {}
        events = repository.events()
    assert events == [FindingEvent("d1", EU_RULE, NOW, FindingState.COMPLIANT, FindingState.GRACE, False),
                      FindingEvent("d1", EU_RULE, T2, FindingState.GRACE, FindingState.NON_COMPLIANT, False),
                      FindingEvent("d1", EU_RULE, T3, FindingState.NON_COMPLIANT, FindingState.COMPLIANT, False)]


def test_compliant_verdicts_are_not_stored_and_changes_of_one_pair_collapse(database: Database) -> None:
    _seed(database)
    attested = verdict(FindingState.COMPLIANT, reason="holder attested removal", deadline=DEADLINE)
    unknown = verdict(FindingState.UNKNOWN)
    grace = verdict(FindingState.GRACE, deadline=DEADLINE, apps=[TIKTOK])
    assert _apply(database, [change("d1", EU_RULE, attested),
                             change("d2", EU_RULE, unknown), change("d2", EU_RULE, grace, unknown)], NOW) == 1
    with database.session() as session:
        stored = FindingRepository(session).get_for_restriction(EU_RULE)
    assert stored == {("d2", EU_RULE): StoredFinding(grace, NOW, 1)}
    assert _events(database) == [("d2", EU_RULE, FindingState.COMPLIANT, FindingState.GRACE)]
    assert _apply(database, [change("d2", EU_RULE, grace, grace)], T1) == 0
    assert _apply(database, [change("d3", EU_RULE, None)], T1) == 0  # nothing stored, nothing to remove


def test_a_shadow_mark_that_changes_is_an_event_and_versions_are_recorded(database: Database) -> None:
    _seed(database)
    would_be = verdict(FindingState.NON_COMPLIANT, deadline=NOW, apps=[TIKTOK], shadow=True)
    enforced = verdict(FindingState.NON_COMPLIANT, deadline=NOW, apps=[TIKTOK])
    assert _apply(database, [change("gent-1", BE_RULE, would_be)], NOW) == 1
    with database.session() as session:
        FindingRepository(session).apply([change("gent-1", BE_RULE, enforced, would_be)], now=T1,
                                         versions={BE_RULE: 4})
        stored = FindingRepository(session).get_for_devices(["gent-1"])
        events = FindingRepository(session).events(restriction_id=BE_RULE)
    assert stored == {("gent-1", BE_RULE): StoredFinding(enforced, since=NOW, restriction_version=4)}
    assert [(e.state_from, e.state_to, e.shadow) for e in events] == [
        (FindingState.COMPLIANT, FindingState.NON_COMPLIANT, True),
        (FindingState.NON_COMPLIANT, FindingState.NON_COMPLIANT, False)]


def test_counts_by_restriction_state_and_organisation(database: Database) -> None:
    _seed(database)
    grace = verdict(FindingState.GRACE, deadline=DEADLINE, apps=[TIKTOK])
    _apply(database, [change("d1", EU_RULE, grace), change("d2", EU_RULE, grace),
                      change("d3", EU_RULE, verdict(FindingState.UNKNOWN)),
                      change("gent-1", BE_RULE, verdict(FindingState.NON_COMPLIANT, shadow=True))], NOW)
    with database.session() as session:
        repository = FindingRepository(session)
        assert repository.counts() == {(EU_RULE, FindingState.GRACE): 2, (EU_RULE, FindingState.UNKNOWN): 1,
                                       (BE_RULE, FindingState.NON_COMPLIANT): 1}
        assert repository.counts(EU_RULE) == {(EU_RULE, FindingState.GRACE): 2, (EU_RULE, FindingState.UNKNOWN): 1}
        assert repository.counts(organisations=["be-gent", "be-flanders"]) == {
            (BE_RULE, FindingState.NON_COMPLIANT): 1}
        assert repository.counts(organisations=[]) == {}
        assert repository.counts(shadow=False) == repository.counts(EU_RULE)


def test_events_filter_by_restriction_and_time_in_order(database: Database) -> None:
    _seed(database)
    _apply(database, [change("d1", EU_RULE, verdict(FindingState.UNKNOWN))], NOW)
    _apply(database, [change("gent-1", BE_RULE, verdict(FindingState.UNKNOWN))], T1)
    _apply(database, [change("d1", EU_RULE, verdict(FindingState.GRACE, deadline=DEADLINE))], T2)
    assert [e[0] for e in _events(database)] == ["d1", "gent-1", "d1"]
    assert _events(database, restriction_id=EU_RULE, since=T1) == [
        ("d1", EU_RULE, FindingState.UNKNOWN, FindingState.GRACE)]
    assert _events(database, since=T1) == [("gent-1", BE_RULE, FindingState.COMPLIANT, FindingState.UNKNOWN),
                                           ("d1", EU_RULE, FindingState.UNKNOWN, FindingState.GRACE)]


def test_due_lists_the_pairs_whose_deadline_moves_them_on(database: Database) -> None:
    _seed(database)
    _apply(database, [
        change("d1", EU_RULE, verdict(FindingState.GRACE, deadline=T1, apps=[TIKTOK])),
        change("d2", EU_RULE, verdict(FindingState.EXEMPT, deadline=T2)),
        change("d3", EU_RULE, verdict(FindingState.NON_COMPLIANT, deadline=NOW, apps=[TIKTOK])),  # already passed
        change("gent-1", BE_RULE, verdict(FindingState.GRACE, deadline=T3, apps=[TIKTOK])),
        change("gent-1", EU_RULE, verdict(FindingState.UNKNOWN)),
    ], NOW)
    with database.session() as session:
        repository = FindingRepository(session)
        assert repository.due(NOW) == []
        assert repository.due(T1) == [("d1", EU_RULE)]
        assert repository.due(T2 + dt.timedelta(hours=1)) == [("d1", EU_RULE), ("d2", EU_RULE)]
