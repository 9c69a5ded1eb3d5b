"""Faults (issue 8): two sources report the same devices at the same moment, in the wrong order. Both imports
succeed, the newest report of each device wins whatever order the transactions commit in, and both reports
are on record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from appban.store import Database, InventoryRepository
from appban.store.tables import InventoryReportRow

from .test_cli_policy import ORGS, Appban

pytestmark = pytest.mark.postgres

DEVICES = 400
HEADER = "device_id,platform,app_identifier,observed_at,organisation,ownership,funding,enrolled,visibility\n"


def report_file(path: Path, observed: str, app: str) -> Path:
    path.write_text(HEADER + "".join(f"dev-{n:05d},android,{app},{observed},eu-commission,corporate,full,true,full\n"
                                     for n in range(DEVICES)))
    return path


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # processes sharing a server
@pytest.mark.parametrize("newest_first", [True, False])
def test_two_sources_at_once_newest_wins_and_nothing_is_lost(database_url: str, tmp_path: Path,
                                                            newest_first: bool) -> None:
    Appban(database_url)("org", "apply", ORGS)
    newer = report_file(tmp_path / "mdm-a.csv", "2026-11-20T10:00:00Z", "com.zhiliaoapp.musically")
    older = report_file(tmp_path / "mdm-b.csv", "2026-11-20T09:00:00Z", "org.thoughtcrime.securesms")
    files = [newer, older] if newest_first else [older, newer]
    env = {**os.environ, "APPBAN_ACTOR": "tester"}
    processes = [subprocess.Popen([sys.executable, "-c", "from appban.cli import main; main()", "import", "--format",
                                   "csv", str(path), "--database", database_url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for path in files]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, (stdout.decode(), stderr.decode())
    with Database.open(database_url) as database, database.session() as session:
        inventories = InventoryRepository(session).get_many([f"dev-{n:05d}" for n in range(DEVICES)])
        recorded = session.scalar(select(func.count()).select_from(InventoryReportRow)) or 0
    assert len(inventories) == DEVICES
    assert {app.identifier for inventory in inventories.values() for app in inventory.apps} == {
        "com.zhiliaoapp.musically"}  # the newer report, whichever import committed last
    assert recorded == 2 * DEVICES  # both sources' reports are on record
