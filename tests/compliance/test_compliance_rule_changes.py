"""`rule_changes` (a rule evaluated over its candidates without an engine) makes the changes a restored engine's
`reevaluate_rule` makes, over random fleets, histories and stored findings."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appban.compliance import Engine, rule_changes
from tests.compliance.test_compliance_incremental import histories, replay, staleness


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_size=30), st.integers(0, 24 * 120), st.integers(0, 3))
def test_rule_changes_equal_a_restored_engine(history: list[tuple[str, object, dt.timedelta]], later: int,
                                              forgotten: int) -> None:
    engine, now = replay(history)
    now += dt.timedelta(hours=later)
    # stored findings as the engine last saw them, some of them lost: the evaluation must put them right
    stored = {key: verdict for n, (key, verdict) in enumerate(sorted(engine.findings.items(), key=lambda kv: kv[0]))
              if forgotten == 0 or n % (forgotten + 1)}
    for rule_id in sorted(engine.rules):
        restored = Engine.restore(
            staleness, now, rules=engine.rules.values(), devices=engine.devices.values(),
            inventories=engine.inventories, exemptions=engine.exemptions.values(),
            attestations=engine.attestations.values(), findings=stored)
        expected = restored.reevaluate_rule(rule_id, now)
        lean = rule_changes(
            engine.rules[rule_id],
            [(device, engine.inventories.get(device.id)) for _, device in sorted(engine.devices.items())],
            findings={device: verdict for (device, rule), verdict in stored.items() if rule == rule_id},
            exemptions=engine.exemptions.values(),
            attestations={device: a for (device, rule), a in engine.attestations.items() if rule == rule_id},
            staleness=staleness, now=now)
        assert sorted(lean, key=repr) == sorted(expected, key=repr), rule_id
