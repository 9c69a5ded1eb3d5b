"""The served application: dispatch, lifespan (start, drain on stop), metrics, settings, `appban serve` checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from appban.audit import AuditEvent
from appban.cli import app as cli
from appban.errors import InvalidInput
from appban.server import ASGIApp, Settings, build_app
from appban.store import AuditLog, Database

from .support import seed_fleet, stub_api


@contextlib.asynccontextmanager
async def running(server: ASGIApp) -> AsyncIterator[None]:
    """The server's lifespan as uvicorn drives it: started before the block, shut down (log drained) after."""
    inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(server({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    yield
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await lifespan


def test_settings_come_from_the_environment_with_documented_defaults() -> None:
    assert Settings.from_environment({}, public_url="http://gate.local:9000") == Settings(
        public_url="http://gate.local:9000")
    settings = Settings.from_environment({
        "APPBAN_PUBLIC_URL": "https://appban.example.eu/", "APPBAN_SECRET": "s" * 32,
        "APPBAN_GATE_DEVICE_HEADER": "X-SSL-Client-Fingerprint", "APPBAN_GATE_ALLOW_UNKNOWN": "yes",
        "APPBAN_DECISION_LOG": "off", "APPBAN_ATTESTATION_DAYS": "14", "APPBAN_GATE_POLL_MS": "100",
        "APPBAN_GATE_REFRESH_SECONDS": "5", "APPBAN_GATE_RESYNC_SECONDS": "0", "APPBAN_DECISION_SEAL_SECONDS": "30"})
    assert settings == Settings(public_url="https://appban.example.eu", secret="s" * 32,
                                device_header="X-SSL-Client-Fingerprint", allow_unknown_devices=True, decision_log=None,
                                attestation_days=14, poll_seconds=0.1, refresh_seconds=5.0, resync_seconds=0.0,
                                seal_seconds=30.0)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8001", ("127.0.0.1", 8001)), ("[::1]:8001", ("::1", 8001)), ("gate.local:9", ("gate.local", 9)),
    ("unix:/run/appban/gate.sock", Path("/run/appban/gate.sock")), ("", None),
])
def test_the_gate_listener_is_host_port_or_a_unix_socket(text: str, expected: object) -> None:
    assert Settings.from_environment({"APPBAN_GATE_LISTEN": text}).gate_listen == expected


@pytest.mark.parametrize("text", ["8001", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "unix:", "::1:80"])
def test_a_bad_gate_listener_is_named_with_examples(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Settings.from_environment({"APPBAN_GATE_LISTEN": text})
    [problem] = caught.value.problems
    assert problem.where.source == "APPBAN_GATE_LISTEN" and "unix:/run/appban/gate.sock" in str(problem)


def test_every_bad_setting_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        Settings.from_environment({"APPBAN_PUBLIC_URL": "appban.example.eu", "APPBAN_SECRET": "short",
                                   "APPBAN_GATE_DEVICE_HEADER": "X Device", "APPBAN_GATE_ALLOW_UNKNOWN": "maybe",
                                   "APPBAN_ATTESTATION_DAYS": "0", "APPBAN_GATE_POLL_MS": "fast"})
    named = {problem.where.source for problem in caught.value.problems}
    assert named == {"APPBAN_PUBLIC_URL", "APPBAN_SECRET", "APPBAN_GATE_DEVICE_HEADER", "APPBAN_GATE_ALLOW_UNKNOWN",
                     "APPBAN_ATTESTATION_DAYS", "APPBAN_GATE_POLL_MS"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_app_serves_gate_pages_and_api_and_drains_the_log_on_shutdown(database: Database, tmp_path: Path) -> None:
    tokens = seed_fleet(database)
    settings = Settings(public_url="https://appban.example.eu", secret="x" * 32,
                        decision_log=tmp_path / "decisions.jsonl")
    server = build_app(database, settings=settings, api_factory=stub_api)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with running(server), httpx.AsyncClient(transport=httpx.ASGITransport(app=server),
                                                      base_url="http://appban") as client:
            headers = {"X-Device-Id": "late-phone", "X-Appban-Gate-Token": tokens["eu"]}
            for _ in range(50):
                assert (await client.get("/gate/auth?service=mail", headers=headers)).status_code == 403
            denied = await client.get("/gate/auth?service=mail", headers=headers)
            seen["remediation"] = denied.headers["x-appban-remediation"]
            page = await client.get(seen["remediation"].removeprefix("https://appban.example.eu"))
            seen["page"] = page.status_code, "TikTok" in page.text
            seen["metrics"] = (await client.get("/metrics")).text
            seen["api"] = (await client.get("/api/v1/devices")).status_code
            seen["remediate-prefix"] = (await client.get("/remediatex")).status_code  # not the pages: the API
        return seen

    seen = asyncio.run(scenario())
    assert seen["remediation"].startswith("https://appban.example.eu/remediate/")
    assert seen["page"] == (200, True)
    assert 'appban_gate_decisions_total{result="deny"} 51' in seen["metrics"]
    assert "appban_gate_table_devices 4" in seen["metrics"]
    assert "appban_gate_degraded 0" in seen["metrics"]
    assert seen["api"] == 404 and seen["remediate-prefix"] == 404
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 51  # every decision, written out by the shutdown
    assert {json.loads(line)["result"] for line in lines} == {"deny"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_gates_own_listener_opens_and_closes_with_the_lifespan(database: Database, tmp_path: Path) -> None:
    tokens = seed_fleet(database)
    socket_path = tmp_path / "gate.sock"
    settings = Settings(public_url="https://appban.example.eu", secret="x" * 32,
                        decision_log=tmp_path / "decisions.jsonl", gate_listen=socket_path)
    server = build_app(database, settings=settings, api_factory=stub_api)

    async def scenario() -> list[int]:
        async with running(server), httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(socket_path)),
                                                      base_url="http://gate") as client:
            statuses = [(await client.get("/gate/auth?service=mail", headers={
                "X-Device-Id": device, "X-Appban-Gate-Token": tokens["eu"]})).status_code
                for device in ("late-phone", "clean-phone")]
        with pytest.raises(httpx.ConnectError):  # closed with the lifespan
            async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(socket_path))) as client:
                await client.get("http://gate/gate/auth")
        return statuses

    assert asyncio.run(scenario()) == [403, 200]
    results = [json.loads(line)["result"] for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert results == ["deny", "allow"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_serve_refuses_a_database_without_the_schema_in_one_line(empty_database_url: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--database", empty_database_url])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "has no appban tables yet" in result.stderr


def test_serve_refuses_bad_settings_naming_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--database", f"sqlite:///{tmp_path / 'x.db'}"],
                                env={"APPBAN_ATTESTATION_DAYS": "forever"})
    assert result.exit_code == 2
    assert result.stderr.startswith("APPBAN_ATTESTATION_DAYS: 'forever' is not a number from 1 to 365")


def test_serve_refuses_a_unix_socket_shared_by_several_workers(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--database", f"sqlite:///{tmp_path / 'x.db'}", "--workers", "2",
                                      "--gate-listen", f"unix:{tmp_path / 'gate.sock'}"])
    assert result.exit_code == 2
    assert result.stderr.startswith("APPBAN_GATE_LISTEN: a Unix socket can serve one worker process only")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_decisions_written_are_sealed_in_the_audit_log_and_verify_catches_an_edited_line(
        database: Database, database_url: str, tmp_path: Path) -> None:
    tokens = seed_fleet(database)
    decisions = tmp_path / "decisions.jsonl"
    server = build_app(database, settings=Settings(secret="x" * 32, decision_log=decisions, seal_seconds=3600),
                       api_factory=stub_api)

    async def scenario() -> None:
        async with running(server), httpx.AsyncClient(transport=httpx.ASGITransport(app=server),
                                                      base_url="http://appban") as client:
            for device in ("late-phone", "clean-phone") * 20:
                await client.get("/gate/auth?service=mail",
                                 headers={"X-Device-Id": device, "X-Appban-Gate-Token": tokens["eu"]})

    asyncio.run(scenario())
    with database.session() as session:
        [entry] = AuditLog(session).page(events=[AuditEvent.GATE_DECISIONS], limit=None)
    assert entry.actor == "gate" and entry.details["count"] == 40 and entry.details["file"] == "decisions.jsonl"
    runner = CliRunner()
    verified = runner.invoke(cli, ["audit", "verify", "--decisions", str(decisions), "--database", database_url])
    assert verified.exit_code == 0, verified.output
    assert "decision log: 40 lines, 1 sealed run(s) intact, 0 line(s) not sealed yet" in verified.stdout

    lines = decisions.read_text().splitlines(keepends=True)
    lines[8] = lines[8].replace('"result":"deny"', '"result":"allow"')  # late-phone let in, after the fact
    decisions.write_text("".join(lines))
    tampered = runner.invoke(cli, ["audit", "verify", "--decisions", str(decisions), "--database", database_url])
    assert tampered.exit_code == 1
    assert f"decision log: decisions {entry.details['first']}..{entry.details['last']}: the lines differ" in \
        tampered.stderr
