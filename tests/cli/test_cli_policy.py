"""`appban policy|org|audit ...` end to end on SQLite and PostgreSQL, as an IT security team would use them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appban.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORGS = EXAMPLES / "organisations" / "organisations.yaml"
RESTRICTIONS = sorted((EXAMPLES / "restrictions").glob("*.yaml"))
PLACE = re.compile(r"^\S+\.yaml:\d+:\d+: ")


class Appban:
    """Runs the CLI against one database, as a person at a terminal would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, code: int | None = 0) -> tuple[str, str]:
        argv = [str(a) for a in args]
        result = self.runner.invoke(app, [*argv, "--database", self.url], env={"APPBAN_ACTOR": "tester"})
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr

    def listing(self) -> list[dict[str, object]]:
        stdout, _ = self("policy", "list", "--format", "json")
        data: list[dict[str, object]] = json.loads(stdout)
        return data

    def audit_count(self) -> int:
        stdout, _ = self("audit", "verify")
        match = re.search(r"(\d+) entries, chain intact", stdout)
        assert match, stdout
        return int(match.group(1))


@pytest.fixture
def appban(database_url: str) -> Appban:
    return Appban(database_url)


def test_check_examples_without_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-created.db'}"
    stdout, _ = Appban(url)("policy", "check", *sorted(EXAMPLES.glob("*/*.yaml")))  # examples/**/*.yaml
    assert f"ok: {len(RESTRICTIONS)} restriction(s), 17 organisation(s)" in stdout
    assert not (tmp_path / "never-created.db").exists()


def test_apply_then_list_round_trips_every_seed_restriction(appban: Appban) -> None:
    stdout, _ = appban("policy", "apply", ORGS, *RESTRICTIONS)
    assert "17 created" in stdout
    listed = {item["id"]: item for item in appban.listing()}
    assert set(listed) == {p.stem for p in RESTRICTIONS}
    eu = listed["eu-commission-tiktok-2023"]
    assert (eu["version"], eu["strictness"], eu["cuts"], eu["grace_days"]) == (1, "require", ["chat", "mail"], 20)
    assert eu["scope"] == {"organisations": ["eu-commission"],
                           "devices": "(ownership is corporate or (ownership is personal and enrolled is true))"}
    pafaca = listed["us-pafaca-2024"]
    assert pafaca["targets"] == [{"kind": "publisher", "value": "bytedance", "platform": None, "controlled": True,
                                  "control_test": "pafaca-2024"}]
    assert listed["be-federal-tiktok-2023"]["state"] == "expired"  # six months from March 2023 are over


def test_apply_is_idempotent_and_a_change_is_a_new_version(appban: Appban, tmp_path: Path) -> None:
    appban("policy", "apply", ORGS, *RESTRICTIONS)
    entries = appban.audit_count()
    stdout, _ = appban("policy", "apply", ORGS, *RESTRICTIONS)
    assert "17 unchanged" in stdout and stdout.count("unchanged") == len(RESTRICTIONS) + 1
    assert appban.audit_count() == entries

    edited = tmp_path / "dk.yaml"
    source = EXAMPLES / "restrictions" / "dk-parliament-tiktok-2023.yaml"
    edited.write_text(source.read_text().replace("strictness: advise", "strictness: advise\nreview: 2024-03-06"))
    stdout, _ = appban("policy", "apply", edited)
    assert re.search(r"dk-parliament-tiktok-2023\s+2\s+new_version", stdout), stdout
    stdout, _ = appban("policy", "show", "dk-parliament-tiktok-2023")
    assert re.search(r"^\s*1\s", stdout, re.M) and re.search(r"^\s*2\s", stdout, re.M)
    assert appban.audit_count() == entries + 1


def test_three_mistakes_three_lines_exit_2_nothing_stored(appban: Appban, tmp_path: Path) -> None:
    appban("policy", "apply", ORGS, *RESTRICTIONS[:2])
    before, entries = appban.listing(), appban.audit_count()
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml").read_text()
                   .replace("id: eu-commission-tiktok-2023", "id: eu-new-ban")
                   .replace("strictness: require", "strictness: requir")
                   .replace("family: tiktok-lite", "family: tiktok-lyte")
                   .replace("effective: 2023-02-23", "effective: 2023-02-23\nexpires: 2023-01-01"))
    good = tmp_path / "good.yaml"
    good.write_text((EXAMPLES / "restrictions" / "us-pafaca-2024.yaml").read_text())
    _, stderr = appban("policy", "apply", ORGS, good, bad, code=2)
    located = [line for line in stderr.splitlines() if PLACE.match(line)]
    assert len(located) == 3, stderr
    assert all(line.startswith(f"{bad}:") for line in located)
    assert "did you mean `require`?" in stderr and "did you mean `tiktok-lite`?" in stderr
    assert "nothing was stored" in stderr
    assert appban.listing() == before
    assert appban.audit_count() == entries


def test_unknown_organisation_and_cycle_are_refused(appban: Appban, tmp_path: Path) -> None:
    appban("org", "apply", ORGS)
    cycle = tmp_path / "orgs.yaml"
    cycle.write_text("organisations:\n  - id: be-federal\n    name: Federal\n    parent: be-gent\n")
    _, stderr = appban("org", "apply", cycle, code=2)
    assert re.search(r"orgs\.yaml:4:13: the organisation tree has a cycle: .*be-federal", stderr), stderr
    orphan = tmp_path / "ban.yaml"
    orphan.write_text((EXAMPLES / "restrictions" / "dk-parliament-tiktok-2023.yaml").read_text()
                      .replace("issuer: dk-parliament", "issuer: dk-parlament"))
    _, stderr = appban("policy", "check", orphan, code=2)
    assert "unknown organisation `dk-parlament` (did you mean `dk-parliament`?)" in stderr


def test_revocation_is_final(appban: Appban, tmp_path: Path) -> None:
    source = (EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml").read_text()
    appban("policy", "apply", ORGS, EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml")
    revoked = tmp_path / "eu.yaml"
    revoked.write_text(source.replace("status: active", "status: revoked"))
    appban("policy", "apply", revoked)
    revived = tmp_path / "eu2.yaml"
    revived.write_text(source.replace("grace: 20d", "grace: 21d"))
    _, stderr = appban("policy", "apply", revived, code=2)
    status_line = source.splitlines().index("status: active") + 1
    assert f"{revived}:{status_line}:9: restriction `eu-commission-tiktok-2023` was revoked" in stderr
    (item,) = appban.listing()
    assert (item["version"], item["state"]) == (2, "revoked")


def test_due_reports_belgian_review_and_exits_1(appban: Appban) -> None:
    appban("policy", "apply", ORGS, *RESTRICTIONS)
    stdout, _ = appban("policy", "due", "--today", "2023-08-01", "--within", "45", "--format", "json", code=1)
    due = json.loads(stdout)
    assert {(d["restriction"], d["kind"], d["date"]) for d in due} == {
        ("be-federal-tiktok-2023", "review", "2023-08-10"), ("be-federal-tiktok-2023", "expiry", "2023-09-10"),
        ("be-federal-tiktok-personal-2023", "review", "2023-08-10"),
        ("be-federal-tiktok-personal-2023", "expiry", "2023-09-10")}
    stdout, _ = appban("policy", "due", "--today", "2023-04-01", code=0)
    assert "nothing due within 30 days" in stdout
    _, stderr = appban("policy", "due", "--today", "first of May", code=2)
    assert "--today: 'first of May' is not a date" in stderr


def test_adoption_by_child_organisations(appban: Appban) -> None:
    appban("policy", "apply", ORGS, *RESTRICTIONS)
    before = appban.audit_count()
    stdout, _ = appban("policy", "adopt", "be-federal-tiktok-2023", "--org", "be-flanders")
    assert "be-flanders adopted be-federal-tiktok-2023" in stdout
    appban("policy", "adopt", "be-federal-tiktok-2023", "--org", "be-liege", "--decline", "--note", "later")
    stdout, _ = appban("policy", "show", "be-federal-tiktok-2023")
    assert "adopted by: be-flanders" in stdout
    assert appban.audit_count() == before + 2
    _, stderr = appban("policy", "adopt", "be-federal-tiktok-2023", "--org", "eu-commission", code=2)
    assert "not a child organisation of `be-federal`" in stderr
    _, stderr = appban("policy", "adopt", "eu-commission-tiktok-2023", "--org", "eu-commission-dg-digit", code=2)
    assert "mandatory" in stderr
    _, stderr = appban("policy", "adopt", "no-such-ban", "--org", "be-gent", code=2)
    assert "no restriction `no-such-ban`" in stderr


def test_org_list_draws_the_tree(appban: Appban) -> None:
    appban("org", "apply", ORGS)
    stdout, _ = appban("org", "list")
    lines = stdout.splitlines()
    flanders = next(i for i, line in enumerate(lines) if "be-flanders" in line)
    ghent = next(i for i, line in enumerate(lines) if "be-gent" in line)
    assert ghent > flanders
    assert lines[ghent].index("be-gent") > lines[flanders].index("be-flanders")


def test_bad_files_are_named(appban: Appban, tmp_path: Path) -> None:
    binary = tmp_path / "photo.yaml"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    _, stderr = appban("policy", "check", binary, tmp_path / "missing.yaml", tmp_path, code=2)
    assert f"{binary}: not UTF-8 text" in stderr
    assert f"{tmp_path / 'missing.yaml'}: no such file" in stderr
    assert f"{tmp_path}: not a regular file" in stderr
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(2 * 1024 * 1024 * 1024)  # a sparse 2 GiB file: refused by size, never read
    _, stderr = appban("policy", "check", huge, code=2)
    assert "more than the 1048576 allowed" in stderr


def test_org_apply_refuses_a_restriction_file(appban: Appban) -> None:
    _, stderr = appban("org", "apply", ORGS, RESTRICTIONS[0], code=2)
    assert "use `appban policy apply`" in stderr
    stdout, _ = appban("org", "list")
    assert "no organisations yet" in stdout


def test_examples_can_be_copied_and_applied_elsewhere(appban: Appban, tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(EXAMPLES, copy)
    appban("policy", "apply", *sorted(copy.glob("*/*.yaml")))
    assert len(appban.listing()) == len(RESTRICTIONS)
