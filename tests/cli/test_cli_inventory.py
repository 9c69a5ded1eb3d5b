"""`appban import`, `policy impact`, `report` and `exemption` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from .test_cli_policy import EXAMPLES, ORGS, Appban

NOW = dt.datetime.now(dt.UTC)
EU = EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml"


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def android(device: str, mode: str, ownership: str, apps: list[tuple[str, str]], age_days: float = 0.1,
            ) -> dict[str, Any]:
    """An Android Management API Device with application reports (package, state)."""
    return {
        "name": f"enterprises/LC0eu/devices/{device}", "managementMode": mode, "state": "ACTIVE",
        "ownership": ownership, "lastStatusReportTime": stamp(NOW - dt.timedelta(days=age_days)),
        "hardwareInfo": {"model": "Pixel 7"},
        "applicationReports": [{"packageName": p, "state": s, "displayName": p} for p, s in apps],
    }


TIKTOK = "com.zhiliaoapp.musically"
SIGNAL = "org.thoughtcrime.securesms"


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    page = {"devices": [
        android("tiktok-corp", "DEVICE_OWNER", "COMPANY_OWNED", [(TIKTOK, "INSTALLED"), (SIGNAL, "INSTALLED")]),
        android("clean-corp", "DEVICE_OWNER", "COMPANY_OWNED", [(SIGNAL, "INSTALLED")]),
        android("removed-corp", "DEVICE_OWNER", "COMPANY_OWNED", [(TIKTOK, "REMOVED")]),
        android("byod-clean", "PROFILE_OWNER", "PERSONALLY_OWNED", [(SIGNAL, "INSTALLED")]),
        android("byod-tiktok", "PROFILE_OWNER", "PERSONALLY_OWNED", [(TIKTOK, "INSTALLED")]),
        android("silent-corp", "DEVICE_OWNER", "COMPANY_OWNED", [(TIKTOK, "INSTALLED")], age_days=45),
    ], "nextPageToken": "page-2"}
    path = tmp_path / "devices-page1.json"
    path.write_text(json.dumps(page))
    return path


def device_states(stdout: str) -> dict[str, str]:
    data = json.loads(stdout)
    return {d["device"].rsplit("/", 1)[-1]: d["state"] for d in data["devices"]}


@pytest.fixture
def appban(database_url: str) -> Appban:
    tool = Appban(database_url)
    tool("org", "apply", ORGS)
    return tool


def test_impact_of_the_commission_restriction_lists_the_right_devices(appban: Appban, fleet: Path) -> None:
    appban("import", "--format", "amapi", "--org", "eu-commission", "--enrolled", fleet)
    stdout, _ = appban("policy", "impact", EU, "--format", "json")
    assert device_states(stdout) == {
        "tiktok-corp": "grace",  # first seen now: its own 20 days start now
        "byod-tiktok": "grace",
        "byod-clean": "unknown",  # the work profile hides the personal side
        "silent-corp": "unknown",  # no inventory for 45 days
    }
    totals = json.loads(stdout)["totals"]
    assert totals == {"grace": 2, "unknown": 2, "compliant": 2}
    assert appban.listing() == []  # what-if only: nothing was stored


def test_import_makes_findings_current_and_report_counts_them(appban: Appban, fleet: Path, tmp_path: Path) -> None:
    appban("policy", "apply", EU)
    stdout, _ = appban("import", "--format", "amapi", "--org", "eu-commission", "--enrolled", fleet)
    assert "6 report(s) (6 applied, 0 older than known), 6 device(s) new" in stdout
    assert re.search(r"findings: 4 changed \(2 grace, 2 unknown\)", stdout), stdout
    stdout, _ = appban("report", "--org", "eu-commission", "--format", "json")
    report = json.loads(stdout)
    (eu,) = [r for r in report["restrictions"] if r["restriction"] == "eu-commission-tiktok-2023"]
    assert eu["totals"] == {"compliant": 2, "grace": 2, "unknown": 2}
    assert report["devices"] == 6
    assert report["stale_devices"] == 1
    assert report["top_apps"] == [{"app": f"android:{TIKTOK}", "devices": 2}]

    # the same file again is older-or-equal news: nothing changes
    stdout, _ = appban("import", "--format", "amapi", "--org", "eu-commission", fleet)
    assert "(0 applied, 6 older than known)" in stdout and "findings: 0 changed" in stdout

    # a newer report without TikTok clears the device
    page = json.loads(fleet.read_text())
    page["devices"] = [android("tiktok-corp", "DEVICE_OWNER", "COMPANY_OWNED", [(SIGNAL, "INSTALLED")], age_days=0)]
    newer = tmp_path / "later.json"
    newer.write_text(json.dumps(page))
    stdout, _ = appban("import", "--format", "amapi", newer)
    assert "findings: 1 changed (1 compliant)" in stdout


def test_a_bad_record_imports_nothing_from_that_file(appban: Appban, fleet: Path, tmp_path: Path) -> None:
    appban("policy", "apply", EU)
    page = json.loads(fleet.read_text())
    page["devices"].append({**page["devices"][0], "name": "enterprises/LC0eu/devices/broken",
                            "applicationReports": "TikTok"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(page))
    _, stderr = appban("import", "--format", "amapi", "--org", "eu-commission", bad, code=2)
    assert "applicationReports" in stderr and "broken" in stderr
    assert f"{bad}: nothing imported from this file" in stderr
    stdout, _ = appban("report", "--format", "json")
    assert json.loads(stdout)["devices"] == 0
    truncated = tmp_path / "cut.json"
    truncated.write_text(fleet.read_text()[:200])
    _, stderr = appban("import", "--format", "amapi", "--org", "eu-commission", truncated, code=2)
    assert "not valid JSON or cut short" in stderr


def test_unplaced_devices_and_unknown_formats_are_refused(appban: Appban, fleet: Path) -> None:
    _, stderr = appban("import", "--format", "amapi", fleet, code=2)
    assert "has no organisation" in stderr and "--org" in stderr
    _, stderr = appban("import", "--format", "intune", fleet, code=2)
    assert "unknown format 'intune'" in stderr


def test_exemption_makes_the_finding_exempt_and_revocation_restores_it(appban: Appban, fleet: Path) -> None:
    appban("policy", "apply", EU)
    appban("import", "--format", "amapi", "--org", "eu-commission", "--enrolled", fleet)
    device = "enterprises/LC0eu/devices/tiktok-corp"
    stdout, _ = appban("exemption", "grant", "--restriction", "eu-commission-tiktok-2023", "--device", device,
                       "--reason", "runs the official TikTok account", "--approver", "dg-comm-ciso",
                       "--until", (NOW + dt.timedelta(days=90)).date().isoformat(), "--id", "ex-comm-1")
    assert "findings: 1 changed (1 exempt)" in stdout
    stdout, _ = appban("exemption", "list", "--format", "json")
    (listed,) = json.loads(stdout)
    assert (listed["id"], listed["device"]) == ("ex-comm-1", device)
    assert listed["reason"] == "runs the official TikTok account"
    stdout, _ = appban("exemption", "list")
    assert "ex-comm-1" in stdout
    stdout, _ = appban("exemption", "revoke", "ex-comm-1")
    assert "findings: 1 changed (1 grace)" in stdout
    _, stderr = appban("exemption", "grant", "--restriction", "eu-commission-tiktok-2023", "--device", device,
                       "--reason", "x", "--approver", "y", "--until", "2020-01-01", code=2)
    assert "is not in the future" in stderr
    stdout, _ = appban("audit", "verify")
    assert "chain intact" in stdout
