"""`appban holders import` end to end, on SQLite and PostgreSQL: all of a file or none of it, and an exemption
granted to a person covers a device as soon as the device is assigned to them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .test_cli_inventory import EU, NOW, fleet  # noqa: F401 (the fixture)
from .test_cli_policy import ORGS, Appban

TIKTOK_PHONE = "enterprises/LC0eu/devices/tiktok-corp"


@pytest.fixture
def appban(database_url: str) -> Appban:
    tool = Appban(database_url)
    tool("org", "apply", ORGS)
    return tool


def test_an_exemption_for_a_holder_covers_a_device_once_it_is_assigned_to_them(
        appban: Appban, fleet: Path, tmp_path: Path) -> None:  # noqa: F811
    appban("policy", "apply", EU)
    appban("import", "--format", "amapi", "--org", "eu-commission", "--enrolled", fleet)
    appban("exemption", "grant", "--restriction", "eu-commission-tiktok-2023", "--holder", "press@ec.europa.eu",
           "--reason", "runs the official TikTok account", "--approver", "dg-comm-ciso",
           "--until", (NOW + dt.timedelta(days=90)).date().isoformat())
    before = appban.audit_count()
    holders = tmp_path / "holders.csv"
    holders.write_text(f"device_id,holder_email,holder_name,language\n{TIKTOK_PHONE},press@EC.europa.eu,"
                       "Press Office,en\n")
    stdout, _ = appban("holders", "import", holders)
    assert stdout.strip() == (f"{holders}: 1 device(s) assigned, 1 changed, 1 new holder(s); "
                              "findings: 1 changed (1 exempt)")
    assert appban.audit_count() == before + 1
    stdout, _ = appban("holders", "import", holders)  # the same file again changes nothing
    assert "1 device(s) assigned, 0 changed, 0 new holder(s); findings: 0 changed" in stdout


def test_a_file_with_an_unknown_device_imports_nothing(appban: Appban, fleet: Path, tmp_path: Path) -> None:  # noqa: F811
    appban("policy", "apply", EU)
    appban("import", "--format", "amapi", "--org", "eu-commission", "--enrolled", fleet)
    before = appban.audit_count()
    holders = tmp_path / "holders.csv"
    holders.write_text(f"device_id,holder_email\n{TIKTOK_PHONE},ana@ec.europa.eu\nno-such-phone,ben@ec.europa.eu\n")
    _, stderr = appban("holders", "import", holders, code=2)
    assert f"{holders}:3: device 'no-such-phone' is not known to appban" in stderr
    assert "nothing imported from this file" in stderr
    assert appban.audit_count() == before
    missing = tmp_path / "missing.csv"
    _, stderr = appban("holders", "import", missing, code=2)
    assert f"{missing}: no such file" in stderr
