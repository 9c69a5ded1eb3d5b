"""Working sets that load only the apps some restriction bans evaluate exactly as whole inventories do."""

from __future__ import annotations

import datetime as dt
import random

from appban.model import App, Ownership, Platform
from appban.service import load_context
from appban.service.evaluation import working_set
from appban.store import Database, InventoryRepository
from tests.store.fleet_examples import SIGNAL, TIKTOK, TIKTOK_IOS, TIKTOK_LITE, device, inventory, seed_fleet
from tests.store.store_examples import NOW, seed_examples

OTHERS = [App(Platform.ANDROID, f"com.example.app{i}") for i in range(30)] + [SIGNAL]
ORGANISATIONS = ["eu-commission", "be-gent", "be-federal", "dk-parliament", "us-federal"]


def test_relevant_apps_only_gives_the_same_changes_for_every_rule(database: Database) -> None:
    seed_examples(database)
    rng = random.Random(11)
    devices, inventories = [], []
    for i in range(120):
        platform = Platform.IOS if i % 7 == 0 else Platform.ANDROID
        each = device(f"d{i:03d}", rng.choice(ORGANISATIONS), platform=platform,
                      ownership=Ownership.PERSONAL if i % 5 == 0 else Ownership.CORPORATE)
        devices.append(each)
        apps = {app: NOW - dt.timedelta(days=rng.randrange(90)) for app in rng.sample(OTHERS, 12)}
        if i % 3 == 0:
            apps[TIKTOK_IOS if platform is Platform.IOS else rng.choice([TIKTOK, TIKTOK_LITE])] = (
                NOW - dt.timedelta(days=rng.randrange(90)))
        if i % 11 != 0:  # some devices never reported
            inventories.append(inventory(each.id, NOW - dt.timedelta(days=rng.randrange(60)), apps))
    seed_fleet(database, devices, inventories)
    later = NOW + dt.timedelta(days=40)
    ids = {d.id for d in devices}
    with database.session() as session:
        context = load_context(session)
        partial = InventoryRepository(session).get_many(ids, only={TIKTOK})
        assert all(set(inv.apps) <= {TIKTOK} for inv in partial.values())
        assert sum(TIKTOK in inv.apps for inv in partial.values()) == sum(
            TIKTOK in inv.apps for inv in inventories)
        found = 0
        for rule_id in sorted(context.rules):
            whole = working_set(session, context, ids, later).reevaluate_rule(rule_id, later)
            relevant = working_set(session, context, ids, later, relevant_apps_only=True).reevaluate_rule(
                rule_id, later)
            assert sorted(map(repr, whole)) == sorted(map(repr, relevant)), rule_id
            found += len(whole)
        assert found > 40  # the fleet gives the rules plenty to find, so the comparison means something
