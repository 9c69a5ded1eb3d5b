"""`appban assess FILE --store --org ORG`, `appban assessment list|show`, and a policy file citing a stored
assessment, end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from appban.cli import app
from tests.risk.builders import El, apk, manifest, signer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORGS = EXAMPLES / "organisations" / "organisations.yaml"
EU_RESTRICTION = (EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml").read_text()
P = "android.permission."
TIKTOK = "com.zhiliaoapp.musically"
ID = re.compile(r"asm_[0-9a-f]{16}")


class Appban:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str | Path, code: int = 0) -> tuple[str, str]:
        result = CliRunner().invoke(app, [*(str(a) for a in args), "--database", self.url],
                                    env={"APPBAN_ACTOR": "analyst@example.eu"})
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr


@pytest.fixture
def appban(database_url: str) -> Appban:
    runner = Appban(database_url)
    runner("org", "apply", ORGS)
    return runner


def write_build(path: Path, version: str, permissions: tuple[str, ...] = (P + "CAMERA",),
                classes: tuple[str, ...] = ("org.example.app.MainActivity",), who: Any = None) -> Path:
    root = manifest(TIKTOK, permissions=list(permissions))
    path.write_bytes(apk(El(root.tag, {**root.attrs, "android:versionName": version}, root.children),
                         classes=list(classes), who=who or signer("TikTok Pte. Ltd.", "SG")))
    return path


def listing(appban: Appban, *options: str) -> list[dict[str, Any]]:
    stdout, _ = appban("assessment", "list", "--format", "json", *options)
    data: list[dict[str, Any]] = json.loads(stdout)
    return data


def test_store_then_a_newer_build_prints_what_changed(appban: Appban, tmp_path: Path) -> None:
    first_file = write_build(tmp_path / "tiktok-1.apk", "1.0")
    stdout, _ = appban("assess", first_file, "--store", "--org", "eu-commission-dg-digit", "--need",
                       "communications unit")
    first = ID.findall(stdout)[0]
    assert f"{first}: stored for eu-commission-dg-digit: android:{TIKTOK} 1.0" in stdout
    assert "first assessment of this app" in stdout
    assert not stdout.lstrip().startswith("{")  # the report goes to -o only when storing

    again, _ = appban("assess", first_file, "--store", "--org", "eu-commission-dg-digit", "--need",
                      "communications unit")
    assert f"{first}: already stored (same build, same result)" in again

    newer = write_build(tmp_path / "tiktok-2.apk", "2.0", permissions=(P + "CAMERA", P + "ACCESS_FINE_LOCATION"),
                        classes=("com.adjust.sdk.Adjust",), who=signer("Someone Else", "CN"))
    report = tmp_path / "report.md"
    stdout, _ = appban("assess", newer, "--store", "--org", "eu-commission", "--format", "md", "-o", report)
    second = ID.findall(stdout)[0]
    assert second != first and f"since {first} (android:{TIKTOK} 1.0" in stdout
    assert f"new permissions: {P}ACCESS_FINE_LOCATION" in stdout
    assert "new trackers: Adjust" in stdout and "NEW SIGNER" in stdout
    assert report.read_text(encoding="utf-8").startswith("# Risk assessment: TikTok 2.0")

    listed = listing(appban)
    assert [a["id"] for a in listed] == [second, first]
    assert listed[1]["work_need"] == "communications unit" and listed[1]["family"] == "tiktok"
    assert [a["id"] for a in listing(appban, "--org", "eu-commission-dg-digit")] == [first]
    assert listing(appban, "--org", "be-leuven") == [] and listing(appban, "--family", "signal") == []
    table, _ = appban("assessment", "list", "--family", "tiktok")
    assert first in table and second in table

    shown, _ = appban("assessment", "show", second)
    body = json.loads(shown)
    assert body["id"] == second and body["report"]["app_id"] == TIKTOK
    assert body["changes"]["previous"] == first and body["changes"]["added_trackers"] == ["Adjust"]
    assert body["changes"]["signer_changed"] is True
    markdown, _ = appban("assessment", "show", first, "--format", "md")
    assert markdown.startswith("# Risk assessment: TikTok 1.0") and "nothing to compare with" in markdown


def test_bad_input_is_one_line_and_exit_2(appban: Appban, tmp_path: Path) -> None:
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip at all")
    _, stderr = appban("assess", junk, "--store", "--org", "eu-commission", code=2)
    assert stderr.splitlines()[0].startswith(f"{junk}: ") and "nothing was stored" in stderr
    build = write_build(tmp_path / "tiktok.apk", "1.0")
    _, stderr = appban("assess", build, "--store", code=2)
    assert stderr.startswith("--org: --store needs the organisation")
    _, stderr = appban("assess", build, "--store", "--org", "nowhere", code=2)
    assert "no organisation `nowhere`" in stderr
    _, stderr = appban("assessment", "show", "asm_0123456789abcdef", code=2)
    assert stderr.strip() == "error: no assessment `asm_0123456789abcdef`"
    assert listing(appban) == []


def test_a_policy_file_cites_a_stored_assessment(appban: Appban, tmp_path: Path) -> None:
    stdout, _ = appban("assess", write_build(tmp_path / "tiktok.apk", "1.0"), "--store", "--org", "eu-commission")
    stored = ID.findall(stdout)[0]
    leuven, _ = appban("assess", write_build(tmp_path / "t2.apk", "2.0"), "--store", "--org", "be-leuven")
    theirs = ID.findall(leuven)[0]
    policy = tmp_path / "eu.yaml"
    evidence_line = EU_RESTRICTION[:EU_RESTRICTION.index("\nevidence:")].count("\n") + 3
    policy.write_text(EU_RESTRICTION.replace(
        "\nevidence:", f"\nevidence:\n  - {{kind: assessment, title: {theirs} TikTok 2.0}}", 1), encoding="utf-8")
    _, stderr = appban("policy", "apply", policy, code=2)
    first = stderr.splitlines()[0]
    assert first.startswith(f"{policy}:{evidence_line}:") and f"no assessment `{theirs}`" in first
    policy.write_text(EU_RESTRICTION.replace(
        "\nevidence:", f"\nevidence:\n  - {{kind: assessment, title: {stored} TikTok 1.0}}", 1), encoding="utf-8")
    stdout, _ = appban("policy", "apply", policy)
    assert "created" in stdout
