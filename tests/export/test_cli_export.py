"""End to end: Belgium's federal government exports and signs its feed; the City of Ghent, on an appban of its own,
pulls it from a file, adopts the recommended ban, and its MDM exports then block TikTok."""

from __future__ import annotations

import json
import os
import plistlib
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appban.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORGS = EXAMPLES / "organisations" / "organisations.yaml"
BELGIUM = [EXAMPLES / "restrictions" / "be-federal-tiktok-2023.yaml",
           EXAMPLES / "restrictions" / "be-federal-tiktok-personal-2023.yaml"]
IN_FORCE = "2023-04-01"  # the Belgian ban ran from 10 March to 10 September 2023


class Appban:
    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, code: int = 0) -> tuple[str, str]:
        result = self.runner.invoke(app, [*map(str, args), "--database", self.url], env={"APPBAN_ACTOR": "tester"})
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr


def keygen(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "federal.pem"
    result = CliRunner().invoke(app, ["feed", "keygen", "-o", str(key)])
    assert result.exit_code == 0, result.stderr
    return key, result.stdout.strip()


@pytest.fixture
def federal(tmp_path: Path) -> Appban:
    appban = Appban(tmp_path / "federal.db")
    appban("policy", "apply", ORGS, *BELGIUM)
    return appban


def test_a_municipality_pulls_the_federal_feed_and_adopts_the_ban(tmp_path: Path, federal: Appban) -> None:
    key, public = keygen(tmp_path)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    (tmp_path / "federal.pub").write_text(public + "\n")
    feed = tmp_path / "be-federal-feed.json"
    stdout, _ = federal("export", "--to", "feed", "--org", "be-federal", "--key", key, "-o", feed)
    assert f"wrote {feed}" in stdout

    ghent = Appban(tmp_path / "ghent.db")
    ghent("org", "apply", ORGS)
    stdout, _ = ghent("feed", "pull", feed, "--key", tmp_path / "federal.pub", "--org", "be-gent")
    assert "feed of be-federal verified" in stdout
    assert "be-federal-tiktok-2023" in stdout and "created" in stdout
    assert "appban policy adopt be-federal-tiktok-2023 --org be-gent" in stdout
    shown, _ = ghent("policy", "show", "be-federal-tiktok-2023")
    assert "recommended to child organisations; adopted by: none yet" in shown

    # before adopting, a recommended ban binds only its issuer: Ghent's export blocks nothing
    before, notes = ghent("export", "--to", "amapi", "--org", "be-gent", "--today", IN_FORCE)
    assert json.loads(before)["applications"] == []
    assert "blocks nothing" in notes

    ghent("policy", "adopt", "be-federal-tiktok-2023", "--org", "be-gent")
    after, _ = ghent("export", "--to", "amapi", "--org", "be-gent", "--today", IN_FORCE)
    packages = {e["packageName"] for e in json.loads(after)["applications"]}
    assert "com.zhiliaoapp.musically" in packages
    profile, _ = ghent("export", "--to", "apple", "--org", "be-gent", "--today", IN_FORCE)
    assert "com.zhiliaoapp.musically" in plistlib.loads(profile.encode())["PayloadContent"][0]["blockedAppBundleIDs"]

    # pulling again changes nothing; the key given inline works as well as a file
    again, _ = ghent("feed", "pull", feed, "--key", public, "--org", "be-gent")
    assert "unchanged" in again and "created" not in again


def test_a_tampered_or_foreign_feed_stores_nothing(tmp_path: Path, federal: Appban) -> None:
    key, public = keygen(tmp_path)
    feed = tmp_path / "feed.json"
    federal("export", "--to", "feed", "--org", "be-federal", "--key", key, "-o", feed)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(feed.read_bytes().replace(b"\"payload\":\"ey", b"\"payload\":\"ez"))
    assert tampered.read_bytes() != feed.read_bytes()
    (tmp_path / "other").mkdir()
    _, other_public = keygen(tmp_path / "other")

    ghent = Appban(tmp_path / "ghent.db")
    ghent("org", "apply", ORGS)
    for path, with_key in ((tampered, public), (feed, other_public)):
        _, stderr = ghent("feed", "pull", path, "--key", with_key, "--org", "be-gent", code=2)
        assert "not what the key holder signed" in stderr
        assert "nothing was stored" in stderr
    listing, _ = ghent("policy", "list", "--format", "json")
    assert json.loads(listing) == []


def test_pull_refuses_an_organisation_outside_the_issuer(tmp_path: Path, federal: Appban) -> None:
    key, public = keygen(tmp_path)
    feed = tmp_path / "feed.json"
    federal("export", "--to", "feed", "--org", "be-federal", "--key", key, "-o", feed)
    _, stderr = federal("feed", "pull", feed, "--key", public, "--org", "dk-parliament", code=2)
    assert "`dk-parliament` is not a child organisation of `be-federal`" in stderr


def test_export_writes_to_standard_output_byte_identically(federal: Appban) -> None:
    first, notes = federal("export", "--to", "intune", "--org", "be-federal", "--today", IN_FORCE)
    second, _ = federal("export", "--to", "intune", "--org", "be-federal", "--today", IN_FORCE)
    assert first == second
    body = json.loads(first)
    assert {i["appId"] for i in body["restrictedApps"]} >= {"com.zhiliaoapp.musically"}
    assert "be-federal-tiktok-personal-2023: left out, it advises" in notes


def test_export_usage_errors(tmp_path: Path, federal: Appban) -> None:
    _, stderr = federal("export", "--to", "blackberry", code=2)
    assert "no export target 'blackberry'" in stderr
    _, stderr = federal("export", "--to", "feed", "--org", "be-federal", code=2)
    assert "a feed is signed" in stderr
    _, stderr = federal("export", "--to", "amapi", "--org", "nowhere", code=2)
    assert "no organisation `nowhere`" in stderr
    key, _ = keygen(tmp_path)
    result = CliRunner().invoke(app, ["feed", "keygen", "-o", str(key)])
    assert result.exit_code == 2 and "never overwritten" in result.stderr
