"""`appban serve`'s one application: the API keeps its paths, every other path is the dashboard's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from appban.server import Settings, build_app
from appban.store import Database
from tests.gate.support import stub_api

from .support import PASSWORD, seed


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_server_sends_api_paths_to_the_api_and_the_rest_to_the_dashboard(database: Database,
                                                                               tmp_path: Path) -> None:
    seed(database)
    settings = Settings(public_url="https://appban.example.eu", secret="s" * 32, decision_log=None)
    server = build_app(database, settings=settings, api_factory=stub_api)

    async def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="https://appban.example.eu") as client:
            for path in ("/api/v1/devices", "/openapi.json", "/healthz", "/docs", "/redoc"):
                seen[path] = (await client.get(path)).text  # the stub API answers `{}` to all of these
            seen["/metrics"] = (await client.get("/metrics")).text
            seen["/"] = (await client.get("/")).headers.get("location")
            seen["/static"] = (await client.get("/static/appban.css")).status_code
            seen["/remediatex"] = (await client.get("/remediatex")).status_code
            login = await client.get("/login")
            seen["cookie"] = login.headers["set-cookie"]
            token = login.text.split('name="csrf" value="')[1].split('"')[0]
            signed = await client.post("/login", data={"username": "ec-admin", "password": PASSWORD, "csrf": token})
            seen["signed"] = signed.status_code
            seen["overview"] = (await client.get("/")).status_code
        return seen

    seen = asyncio.run(scenario())
    for path in ("/api/v1/devices", "/openapi.json", "/healthz", "/docs", "/redoc"):
        assert seen[path] == "{}", path
    assert "appban_gate_decisions_total" in str(seen["/metrics"])
    assert seen["/"] == "/login?next=/"
    assert seen["/static"] == 200 and seen["/remediatex"] == 404
    assert "Secure" in str(seen["cookie"]) and "HttpOnly" in str(seen["cookie"])  # the public URL is https
    assert (seen["signed"], seen["overview"]) == (303, 200)
