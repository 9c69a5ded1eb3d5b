"""`appban assess FILE [--format json|md|html] [-o OUT]`: a report on success; one line per problem, exit 2 and
nothing written on hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appban.cli import app
from tests.risk.builders import apk, manifest, signer, zip_bytes

P = "android.permission."


@pytest.fixture
def tiktok(tmp_path: Path) -> Path:
    path = tmp_path / "tiktok.apk"
    path.write_bytes(apk(manifest("com.zhiliaoapp.musically", permissions=[P + "CAMERA", P + "RECORD_AUDIO"]),
                         who=signer(), classes=["com.adjust.sdk.Adjust"]))
    return path


def run(*args: str | Path, code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result.stdout, result.stderr


def test_json_to_stdout_is_reproducible(tiktok: Path) -> None:
    first, _ = run("assess", tiktok)
    second, _ = run("assess", tiktok, "--format", "json")
    assert first == second
    report = json.loads(first)
    assert report["app_id"] == "com.zhiliaoapp.musically"
    assert report["publisher"]["controller"] == "bytedance"
    assert (report["rating"], report["action"]) == ("medium", "advise-against")  # 25 publisher + 11 + 2 + 2


@pytest.mark.parametrize(("fmt", "marker"), [("md", "# Risk assessment: TikTok"), ("html", "<!DOCTYPE html>")])
def test_markdown_and_html_to_a_file(tiktok: Path, tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / f"report.{fmt}"
    _, stderr = run("assess", tiktok, "--format", fmt, "-o", out)
    assert out.read_text(encoding="utf-8").startswith(marker)
    assert "medium (40/100), advise-against" in stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_work_need_is_recorded(tiktok: Path) -> None:
    stdout, _ = run("assess", tiktok, "--work-need", "communications unit")
    assert json.loads(stdout)["work_need"] == {"needed": True, "who": "communications unit", "reason": ""}


@pytest.mark.parametrize(("content", "expected"), [
    (b"not a zip at all", "not a zip archive"),
    (zip_bytes({"AndroidManifest.xml": b"x", "../../evil": b"x"}), "path traversal"),
])
def test_hostile_input_exits_2_and_writes_nothing(tmp_path: Path, content: bytes, expected: str) -> None:
    bad = tmp_path / "bad.apk"
    bad.write_bytes(content)
    out = tmp_path / "report.json"
    stdout, stderr = run("assess", bad, "-o", out, code=2)
    lines = stderr.strip().splitlines()
    assert lines[0].startswith(f"{bad}: ") and expected in lines[0]
    assert stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.apk"]


def test_a_failed_assessment_leaves_the_previous_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"garbage")
    out = tmp_path / "report.json"
    out.write_text("previous")
    run("assess", bad, "-o", out, code=2)
    assert out.read_text() == "previous"


def test_missing_file_and_unknown_format(tmp_path: Path, tiktok: Path) -> None:
    _, stderr = run("assess", tmp_path / "nope.apk", code=2)
    assert "no such file" in stderr
    _, stderr = run("assess", tiktok, "--format", "pdf", code=2)
    assert "unknown format 'pdf'" in stderr
