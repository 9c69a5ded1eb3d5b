"""Checkpoints of the audit log on a schedule: signed, published to a directory and an HTTP endpoint, only when
the log grew, retried when publication failed; `appban worker --checkpoint-*` wires them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from appban.audit import AuditEvent
from appban.cli import app
from appban.merkle import read_checkpoint
from appban.service import CheckpointSchedule
from appban.store import AuditLog, Database

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


class Collector:
    """A real HTTP endpoint on the loopback that keeps what is posted, or answers `status`."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, bytes]] = []  # (content type, size header, body)
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.posted.append((self.headers["Content-Type"], self.headers["X-Appban-Checkpoint-Size"], body))
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/checkpoints"


@pytest.fixture
def collector() -> Iterator[Collector]:
    made = Collector()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _append(database: Database, count: int) -> None:
    with database.session() as session:
        log = AuditLog(session)
        for n in range(count):
            log.append(AuditEvent.ORGANISATION_UPDATE, f"org-{n}", actor="test", at=NOW, details={"n": n})


def test_a_checkpoint_is_published_when_due_and_the_log_grew(database: Database, tmp_path: Path,
                                                              collector: Collector) -> None:
    key = Ed25519PrivateKey.generate()
    schedule = CheckpointSchedule(key, HOUR, directory=tmp_path / "published", url=collector.url)
    assert schedule.publish_if_due(database, NOW) is None  # an empty log: nothing to pin
    _append(database, 3)
    first = schedule.publish_if_due(database, NOW + dt.timedelta(minutes=1))
    assert first is not None and first.size == 3
    text = (tmp_path / "published" / "checkpoint-000000000003.txt").read_text()
    assert text == first.text
    assert read_checkpoint(text, key.public_key(), "published") == first
    assert collector.posted == [("text/plain; charset=utf-8", "3", first.text.encode())]

    _append(database, 2)
    assert schedule.publish_if_due(database, NOW + dt.timedelta(minutes=30)) is None  # not due yet
    second = schedule.publish_if_due(database, NOW + dt.timedelta(minutes=62))
    assert second is not None and second.size == 5
    assert schedule.publish_if_due(database, NOW + dt.timedelta(minutes=130)) is None  # due, but nothing new
    assert len(collector.posted) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_refused_publication_is_retried_at_the_next_round(database: Database, collector: Collector,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    schedule = CheckpointSchedule(Ed25519PrivateKey.generate(), HOUR, url=collector.url)
    _append(database, 1)
    collector.status = 503
    assert schedule.publish_if_due(database, NOW) is None
    assert "checkpoint of 1 entries not published, will retry" in caplog.text
    collector.status = 200
    retried = schedule.publish_if_due(database, NOW + dt.timedelta(minutes=1))  # not an hour later
    assert retried is not None and retried.size == 1 and len(collector.posted) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_worker_publishes_checkpoints_that_audit_verify_accepts(database_url: str, database: Database,
                                                                   tmp_path: Path) -> None:
    runner = CliRunner()
    key = tmp_path / "audit.key"
    made = runner.invoke(app, ["feed", "keygen", "-o", str(key)])
    assert made.exit_code == 0, made.output
    public = made.stdout.strip()
    _append(database, 4)
    published = tmp_path / "published"
    ran = runner.invoke(app, ["worker", "--once", "--checkpoint-key", str(key), "--checkpoint-dir", str(published),
                              "--database", database_url])
    assert ran.exit_code == 0, ran.output
    assert "audit checkpoint published" in ran.stdout
    [checkpoint] = published.glob("checkpoint-*.txt")
    verified = runner.invoke(app, ["audit", "verify", "--checkpoint", str(checkpoint), "--key", public,
                                   "--database", database_url])
    assert verified.exit_code == 0, verified.output
    assert "4 entries, chain intact, and begins with the 4 entries of" in verified.stdout


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("options", "named"), [
    (["--checkpoint-dir", "somewhere"], "--checkpoint-key"),
    (["--checkpoint-key", "k.key"], "--checkpoint-key: checkpoints need somewhere to go"),
    (["--checkpoint-key", "k.key", "--checkpoint-url", "ftp://x"], "--checkpoint-url"),
])
def test_incomplete_checkpoint_options_are_named(database_url: str, options: list[str], named: str) -> None:
    ran = CliRunner().invoke(app, ["worker", "--once", *options, "--database", database_url])
    assert ran.exit_code == 2
    assert named in ran.stderr
