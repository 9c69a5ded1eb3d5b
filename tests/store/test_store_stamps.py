"""data_stamp: the fingerprint dashboard counts are kept under moves with every change they are counted from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

from appban.model import FindingState
from appban.store import Database, DeviceRepository, FindingRepository, InventoryRepository, data_stamp

from .fleet_examples import EU_RULE, change, device, seed_fleet, verdict
from .store_examples import NOW, seed_examples


def _stamp(database: Database) -> Hashable:
    with database.session() as session:
        return data_stamp(session)


def test_the_stamp_moves_with_devices_findings_and_reports_and_only_then(database: Database) -> None:
    seed_examples(database)
    seed_fleet(database, [device("d1"), device("d2")])
    first = _stamp(database)
    assert _stamp(database) == first  # reading changes nothing

    with database.session() as session:
        FindingRepository(session).apply([change("d1", EU_RULE, verdict(FindingState.NON_COMPLIANT))], now=NOW,
                                         versions={EU_RULE: 1})
    after_finding = _stamp(database)
    assert after_finding != first

    with database.session() as session:
        InventoryRepository(session).record_reports([{
            "device_id": "d2", "source_format": "csv", "source_file": "fleet.csv", "observed_at": NOW,
            "received_at": NOW, "kind": "snapshot", "visibility": "full", "app_count": 0, "applied": False}])
    after_report = _stamp(database)
    assert after_report != after_finding

    with database.session() as session:
        DeviceRepository(session).upsert([device("d3", "be-gent")], now=NOW + dt.timedelta(minutes=1))
    assert _stamp(database) != after_report
