"""Faults (issue 8): `kill -9` of an import halfway through a file leaves the database as it was, and the same
import run again succeeds. A file is one transaction: nothing of it is visible until all of it is."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from appban.store import Database
from appban.store.tables import DeviceAppRow, DeviceRow, FindingRow

from .test_cli_policy import ORGS, Appban

pytestmark = pytest.mark.postgres

DEVICES = 12_000


def fleet_file(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["device_id", "platform", "app_identifier", "observed_at", "organisation", "ownership",
                      "funding", "enrolled", "visibility"])
        for n in range(DEVICES):
            for app in ("com.microsoft.teams", "org.thoughtcrime.securesms", "com.android.chrome",
                        *(["com.zhiliaoapp.musically"] if n % 20 == 0 else [])):
                out.writerow([f"dev-{n:06d}", "android", app, "2026-11-20T09:00:00Z", "eu-commission", "corporate",
                              "full", "true", "full"])
    return path


def counts(url: str) -> tuple[int, int, int]:
    with Database.open(url) as database, database.session() as session:
        return (session.scalar(select(func.count()).select_from(DeviceRow)) or 0,
                session.scalar(select(func.count()).select_from(DeviceAppRow)) or 0,
                session.scalar(select(func.count()).select_from(FindingRow)) or 0)


def writing(url: str) -> bool:
    """Whether another connection to this database is writing the fleet's rows right now."""
    with Database.open(url) as database, database.session() as session:
        return bool(session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'active' AND (query ILIKE '%device_apps%' OR query ILIKE '%COPY%')")))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # processes sharing a server
def test_an_import_killed_halfway_leaves_nothing_and_runs_again(database_url: str, tmp_path: Path) -> None:
    appban = Appban(database_url)
    appban("policy", "apply", ORGS, Path(__file__).resolve().parents[2] / "examples" / "restrictions"
           / "eu-commission-tiktok-2023.yaml")
    before = counts(database_url)
    path = fleet_file(tmp_path / "fleet.csv")
    command = [sys.executable, "-c", "from appban.cli import main; main()", "import", "--format", "csv", str(path),
               "--database", database_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "APPBAN_ACTOR": "tester"})
    deadline = time.monotonic() + 60
    while not writing(database_url):  # killed while it writes, not while Python starts
        assert process.poll() is None, "the import finished before it could be killed: make the file larger"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert counts(database_url) == before  # nothing of the killed import is stored

    stdout, _ = appban("import", "--format", "csv", path)
    assert f"{DEVICES} device(s) new" in stdout
    devices, rows, findings = counts(database_url)
    assert devices == before[0] + DEVICES and rows > before[1] and findings == before[2] + DEVICES // 20
