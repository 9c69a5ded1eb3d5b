"""A restriction evaluated from its one-query working set (`store.rule_scan` + `compliance.rule_changes`) stores
exactly the findings a full evaluation of the whole fleet gives, and makes the changes the engine makes."""

from __future__ import annotations

import datetime as dt
import random

from appban.compliance import Verdict, full_evaluation, rule_changes
from appban.inventory import Visibility
from appban.model import App, Attestation, Exemption, Funding, Ownership, Platform
from appban.service import evaluate_rules, load_context
from appban.service.context import PolicyContext
from appban.service.evaluation import exempted_or_attested, working_set
from appban.store import (
    AttestationRepository,
    Database,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    InventoryRepository,
)
from appban.store.rule_scan import scan_rule
from tests.store.fleet_examples import SIGNAL, TIKTOK, TIKTOK_IOS, TIKTOK_LITE, device, inventory, seed_fleet
from tests.store.store_examples import ACTOR, NOW, seed_examples

OTHERS = [App(Platform.ANDROID, f"com.example.app{i}") for i in range(20)] + [SIGNAL]
ORGANISATIONS = ["eu-commission", "be-gent", "be-federal", "dk-parliament", "us-federal"]
HOLDERS = [f"holder{i}@example.org" for i in range(12)]


def _seed(database: Database) -> list[str]:
    """A mixed fleet: holders of banned apps, devices never inventoried, stale ones, ones the source cannot
    fully see, shared holders, exemptions (by device and by holder, one revoked) and attestations."""
    seed_examples(database)
    rng = random.Random(23)
    devices, inventories = [], []
    for i in range(160):
        platform = Platform.IOS if i % 7 == 0 else Platform.ANDROID
        each = device(f"d{i:03d}", rng.choice(ORGANISATIONS), platform=platform,
                      ownership=Ownership.PERSONAL if i % 5 == 0 else Ownership.CORPORATE,
                      funding=rng.choice(list(Funding)), enrolled=i % 4 != 0,
                      holder=rng.choice(HOLDERS) if i % 3 else None)
        devices.append(each)
        apps = {app: NOW - dt.timedelta(days=rng.randrange(90)) for app in rng.sample(OTHERS, 6)}
        if i % 3 == 0:
            apps[TIKTOK_IOS if platform is Platform.IOS else rng.choice([TIKTOK, TIKTOK_LITE])] = (
                NOW - dt.timedelta(days=rng.randrange(90)))
        if i % 11 != 0:  # some devices never reported
            inventories.append(inventory(each.id, NOW - dt.timedelta(days=rng.randrange(120)), apps,
                                         visibility=Visibility.MANAGED_ONLY if i % 13 == 0 else Visibility.FULL))
    seed_fleet(database, devices, inventories)
    with database.session() as session:
        rules = sorted(load_context(session).rules)
        exemptions = ExemptionRepository(session)
        for n in range(8):
            subject = {"device": f"d{rng.randrange(160):03d}"} if n % 2 else {"holder": rng.choice(HOLDERS)}
            exemptions.grant(Exemption(id=f"ex{n}", restriction=rng.choice(rules), reason="test", approver="ciso",
                                       ends=NOW + dt.timedelta(days=rng.choice([5, 60, 400])), **subject),
                             actor=ACTOR, now=NOW)
        exemptions.revoke("ex3", actor=ACTOR, now=NOW)
        attestations = AttestationRepository(session)
        for n in range(6):
            device_id = f"d{13 * n:03d}"  # managed-only devices among them
            attestations.record(Attestation(device_id, rng.choice(rules), "holder0@example.org", NOW,
                                             NOW + dt.timedelta(days=rng.choice([10, 90]))), actor=ACTOR)
    return [d.id for d in devices]


def _full(database: Database, ids: list[str], now: dt.datetime) -> dict[tuple[str, str], Verdict]:
    with database.session() as session:
        context = load_context(session)
        attestations = AttestationRepository(session).for_devices(ids)
        return full_evaluation(context.rules.values(), DeviceRepository(session).all(),
                               InventoryRepository(session).get_many(ids), ExemptionRepository(session).active(now),
                               {(a.device, a.restriction): a for a in attestations}, context.staleness, now)


def _stored(database: Database, ids: list[str]) -> dict[tuple[str, str], Verdict]:
    with database.session() as session:
        return {key: item.verdict for key, item in FindingRepository(session).get_for_devices(ids).items()}


def test_evaluate_rules_stores_what_a_full_evaluation_finds(database: Database) -> None:
    ids = _seed(database)
    moments = [NOW + dt.timedelta(days=days) for days in (1, 25, 70)]  # grace periods end, inventories go stale
    found = 0
    for now in moments:
        with database.session() as session:
            context = load_context(session)
            outcome = evaluate_rules(session, context, context.rules, now)
        expected = _full(database, ids, now)
        assert _stored(database, ids) == expected, now
        found = max(found, len(expected))
        if now == moments[0]:
            assert outcome.changes == len(expected)
    assert found > 40  # plenty to find, so the comparison means something
    stored = _stored(database, ids)
    with database.session() as session:  # a restriction gone: every finding of it closes, the others stay
        context = load_context(session)
        gone = sorted(context.rules)[0]
        assert any(rule == gone for _, rule in stored)
        without = PolicyContext(context.tree, context.catalog, {k: v for k, v in context.rules.items() if k != gone},
                                context.staleness_days, context.default_staleness)
        evaluate_rules(session, without, [gone], moments[-1])
    left = _stored(database, ids)
    assert left == {key: v for key, v in _full(database, ids, moments[-1]).items() if key[1] != gone}


def test_the_scan_gives_the_changes_of_the_engine(database: Database) -> None:
    _seed(database)
    now = NOW + dt.timedelta(days=30)
    with database.session() as session:
        context = load_context(session)
        evaluate_rules(session, context, context.rules, NOW)  # stored findings that must move on
    with database.session() as session:
        context = load_context(session)
        for rule_id, rule in sorted(context.rules.items()):
            devices = DeviceRepository(session)
            candidates = ({d for d, _ in FindingRepository(session).get_for_restriction(rule_id)}
                          | devices.ids_holding(rule.banned) | devices.ids_unseen(now, context.staleness)
                          | exempted_or_attested(session, rule_id, now))
            engine = working_set(session, context, candidates, now, relevant_apps_only=True)
            scan = scan_rule(session, rule_id, rule.banned, now, context.staleness)
            assert {d.id for d, _ in scan.candidates} == candidates & set(engine.devices), rule_id
            lean = rule_changes(rule, scan.candidates, findings=scan.findings, exemptions=scan.exemptions,
                                attestations=scan.attestations, staleness=context.staleness, now=now)
            assert sorted(map(repr, lean)) == sorted(map(repr, engine.reevaluate_rule(rule_id, now))), rule_id
            assert [c.device for c in lean] == sorted(c.device for c in lean)  # by device id
        nothing = scan_rule(session, rule_id, frozenset(), now, context.staleness)  # a rule whose apps are unknown
        assert {d.id for d, _ in nothing.candidates} <= {d.id for d, _ in scan.candidates}
        assert all(inventory is None or not inventory.apps for _, inventory in nothing.candidates)
