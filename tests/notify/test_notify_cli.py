"""`appban worker --once`: one round from the command line, configured by the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from appban.cli import app
from appban.service import evaluate_pairs, load_context
from appban.store import Database, InventoryRepository
from tests.store.fleet_examples import EU_RULE, TIKTOK, TIKTOK_IOS, inventory

from .support import DANISH, FRENCH, LINKS, PUBLIC_URL, WEBHOOK_SECRET, seed_holders_fleet, webhook_receiver


def test_worker_once_posts_the_notices_due(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with Database.open(database_url) as database:
        seed_holders_fleet(database)
        with database.session() as session:  # the phones report today, TikTok still there: a grace period from now
            InventoryRepository(session).save([inventory("phone-mette", now, [TIKTOK]),
                                               inventory("phone-claire", now, [TIKTOK_IOS])],
                                              source_format="csv", now=now)
            evaluate_pairs(session, load_context(session), [("phone-mette", EU_RULE), ("phone-claire", EU_RULE)],
                           now)
    with webhook_receiver([200]) as receiver:
        monkeypatch.setenv("APPBAN_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("APPBAN_WEBHOOK_SECRET", WEBHOOK_SECRET.decode())
        monkeypatch.setenv("APPBAN_SECRET", "a-test-secret-of-at-least-16-bytes")
        monkeypatch.setenv("APPBAN_PUBLIC_URL", PUBLIC_URL)
        monkeypatch.delenv("APPBAN_SMTP_HOST", raising=False)
        first = CliRunner().invoke(app, ["worker", "--once", "--database", database_url])
        second = CliRunner().invoke(app, ["worker", "--once", "--database", database_url])
    assert first.exit_code == 0, first.output
    assert "0 finding(s) moved on, 2 notice(s) queued, 2 sent" in first.output
    assert "0 finding(s) moved on, 0 notice(s) queued, 0 sent" in second.output
    bodies = {request["body"]["recipient"]: request["body"] for request in receiver.requests}
    assert set(bodies) == {DANISH, FRENCH} and all(receiver.signatures_ok)
    assert bodies[DANISH]["kind"] == "grace" and bodies[DANISH]["language"] == "da"
    assert PUBLIC_URL + LINKS.path("phone-mette") in bodies[DANISH]["text"]


def test_worker_refuses_a_bad_setting(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPBAN_NOTICE_OWNERS", "be-federal")
    result = CliRunner().invoke(app, ["worker", "--once", "--database", database_url])
    assert result.exit_code == 2
    assert "APPBAN_NOTICE_OWNERS" in result.output
