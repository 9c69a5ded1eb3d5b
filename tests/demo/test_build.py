"""The demo database, built small: every finding state, the cited assessment, the token, the login, and the
refusal to overwrite a database the demo did not make."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from appban.demo import DEMO_LOGIN, EU_RESTRICTION, DemoResult, build_demo
from appban.errors import Conflict, InvalidInput
from appban.model import FindingState
from appban.store import (
    AssessmentRepository,
    Database,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    InventoryRepository,
    RestrictionRepository,
    TokenRepository,
    UserRepository,
)

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoResult]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    steps: list[tuple[str, int, int]] = []
    result = build_demo(url, size=0.02, now=NOW, progress=lambda what, done, total: steps.append((what, done, total)))
    assert steps[-1][1] == steps[-1][2]  # the progress bar ends full
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    return url, result


def test_every_finding_state(built: tuple[str, DemoResult]) -> None:
    url, result = built
    with Database.open(url) as db, db.session() as session:
        findings = FindingRepository(session)
        states = Counter(f.verdict.state for f in findings.get_for_restriction(EU_RESTRICTION).values())
        events = findings.events(EU_RESTRICTION)
        assert DeviceRepository(session).count() == result.devices
    for state in (FindingState.GRACE, FindingState.NON_COMPLIANT, FindingState.EXEMPT, FindingState.UNKNOWN):
        assert states[state] > 0, state
    assert states == Counter({FindingState(s): n for s, n in result.states.items()})
    # Compliant after removal: a device that was in breach and is compliant now.
    last: dict[str, FindingState] = {}
    breached: set[str] = set()
    for event in events:
        last[event.device] = event.state_to
        if event.state_to in (FindingState.GRACE, FindingState.NON_COMPLIANT):
            breached.add(event.device)
    assert any(last[device] is FindingState.COMPLIANT for device in breached)
    # Grace that ran out became non-compliant in the history, on the day it did.
    assert any(e.state_from is FindingState.GRACE and e.state_to is FindingState.NON_COMPLIANT for e in events)
    assert len({e.at.date() for e in events}) > 7  # a trend, not one day


def test_unknown_covers_silent_devices_and_invisible_personal_sides(built: tuple[str, DemoResult]) -> None:
    url, _ = built
    with Database.open(url) as db, db.session() as session:
        unknown = [d for (d, _), f in FindingRepository(session).get_for_restriction(EU_RESTRICTION).items()
                   if f.verdict.state is FindingState.UNKNOWN]
        reasons = {f.verdict.reason.split(" ")[0] for f in
                   FindingRepository(session).get_for_restriction(EU_RESTRICTION).values()
                   if f.verdict.state is FindingState.UNKNOWN}
        observed = InventoryRepository(session).observed_at_many(unknown)
    assert any(NOW - at > dt.timedelta(days=30) for at in observed.values())
    assert {"inventory", "the"} <= reasons  # "inventory older than ...", "the source cannot see ..."


def test_exemptions_assessment_token_and_login(built: tuple[str, DemoResult]) -> None:
    url, result = built
    with Database.open(url) as db, db.session() as session:
        exemptions = ExemptionRepository(session).active(NOW)
        assert len(exemptions) == result.exemptions >= 3
        assert all(e.reason and e.approver for e in exemptions)
        record = AssessmentRepository(session).get(result.assessment)
        assert record is not None and record.organisation == "eu-commission"
        assert record.app_id == "com.zhiliaoapp.musically"
        latest = RestrictionRepository(session).latest(EU_RESTRICTION)
        assert latest is not None and latest.version == 2 and result.cited
        cited = [e for e in latest.restriction.evidence if e.kind == "assessment"]
        assert len(cited) == 1 and result.assessment in cited[0].title
        token = TokenRepository(session).verify(result.token, NOW + dt.timedelta(hours=1))
        assert token is not None and token.organisation == "eu-commission" and str(token.role) == "admin"
        assert result.login is not None and result.login[0] == DEMO_LOGIN
        assert UserRepository(session).verify(*result.login) is not None


def test_rebuilds_a_demo_database_and_refuses_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = build_demo(url, size=0.005, now=NOW)
    second = build_demo(url, size=0.005, now=NOW)  # a demo database is replaced without asking
    assert second.token != first.token
    other = tmp_path / "other.db"
    with Database.open(f"sqlite:///{other}") as db:
        db.upgrade()
    before = other.read_bytes()
    with pytest.raises(Conflict, match="not a demo database"):
        build_demo(f"sqlite:///{other}", size=0.005, now=NOW)
    assert other.read_bytes() == before
    assert build_demo(f"sqlite:///{other}", size=0.005, now=NOW, force=True).devices > 0
    with pytest.raises(InvalidInput):
        build_demo("postgresql+psycopg://demo@localhost/demo", size=0.005, now=NOW)


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"

    def fail(what: str, done: int, total: int) -> None:
        if what == "holders":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_demo(url, size=0.005, now=NOW, progress=fail)
    assert not (tmp_path / "demo.db").exists()
