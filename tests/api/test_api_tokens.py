"""Tokens through the API and the command line: shown once, scoped, revocable, audited."""

from __future__ import annotations

import datetime as dt
import json
import re

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from appban.access import looks_like_token
from appban.api import create_api
from appban.cli import app as cli

from .conftest import TEST_LIMITS, World, stamp


def test_an_admin_creates_a_token_below_it_and_it_works_until_revoked(world: World) -> None:
    created = world.request("admin-a", "POST", "/api/v1/tokens", json={
        "name": "digit-auditor", "role": "auditor", "organisation": "eu-commission-dg-digit"})
    assert created.status_code == 201, created.text
    token = created.json()
    assert looks_like_token(token["secret"]) and "only time" in token["notice"]
    assert created.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {token['secret']}"}
    devices = world.client.get("/api/v1/devices", headers=headers).json()
    assert [d["id"] for d in devices["items"]] == ["eu/phone-1"], "it sees its organisation's subtree only"
    listed = world.get("admin-a", "/api/v1/tokens", params={"organisation": "eu-commission-dg-digit"}).json()
    assert token["id"] in [t["id"] for t in listed["items"]]
    assert "secret" not in json.dumps(listed)
    revoked = world.request("admin-a", "DELETE", f"/api/v1/tokens/{token['id']}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert world.client.get("/api/v1/devices", headers=headers).status_code == 401
    again = world.request("admin-a", "DELETE", f"/api/v1/tokens/{token['id']}")
    assert again.status_code == 409


def test_no_token_outside_the_subtree_and_no_past_expiry(world: World) -> None:
    outside = world.request("admin-a", "POST", "/api/v1/tokens", json={
        "name": "x", "role": "admin", "organisation": "be-federal"})
    assert outside.status_code == 422 and outside.json()["error"]["where"] == "body.organisation"
    past = world.request("admin-a", "POST", "/api/v1/tokens", json={
        "name": "x", "role": "gate", "expires": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422
    child = world.request("admin-b", "GET", f"/api/v1/tokens/{world.token_ids['admin-be']}")
    assert child.status_code == 404, "a municipality does not see the federal level's tokens"


def test_an_expired_token_is_401(world: World) -> None:
    now = [dt.datetime.now(dt.UTC)]
    app = TestClient(create_api(world.database, clock=lambda: now[0], limits=TEST_LIMITS))
    created = app.post("/api/v1/tokens", headers=world.auth("admin-a"), json={
        "name": "short", "role": "auditor", "expires": stamp(now[0] + dt.timedelta(hours=1))}).json()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert app.get("/api/v1/devices", headers=headers).status_code == 200
    now[0] += dt.timedelta(hours=2)
    assert app.get("/api/v1/devices", headers=headers).status_code == 401
    assert app.get("/api/v1/devices", headers=world.auth("admin-a")).status_code == 200


def test_cli_create_list_revoke(world: World, database_url: str) -> None:
    runner = CliRunner()

    def appban(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--database", database_url], env={"APPBAN_ACTOR": "cli:tester"})
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    out = appban("token", "create", "--org", "eu-commission", "--role", "source", "--name", "intune-export",
                 "--expires", "2099-12-31")
    secret = re.search(r"^(apb_\S+)$", out, re.MULTILINE)
    assert secret is not None and "will not be shown again" in out
    token_id = re.search(r"token (tok_[0-9a-f]+)", out)
    assert token_id is not None
    listed = json.loads(appban("token", "list", "--format", "json"))
    entry = next(t for t in listed if t["id"] == token_id.group(1))
    assert (entry["role"], entry["state"], entry["expires"]) == ("source", "active", "2100-01-01T00:00:00+00:00")
    assert secret.group(1) not in json.dumps(listed)
    assert "revoked" in appban("token", "revoke", token_id.group(1))
    audit = world.get("auditor-a", "/api/v1/audit", params={"event": "token"}).json()
    assert [(e["event"], e["actor"]) for e in audit["items"][:2]] == [
        ("token:revoke", "cli:tester"), ("token:create", "cli:tester")]
    bad = runner.invoke(cli, ["token", "create", "--org", "nowhere", "--role", "admin", "--name", "x",
                              "--database", database_url])
    assert bad.exit_code == 2 and "no organisation" in bad.stderr
