"""Bad input gets a 4xx in the one error shape, naming the field; never a 5xx, never anything half-written."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from .conftest import TEST_LIMITS, World

# Request validation and answers, not storage: SQLite is enough (the storage tests run on both backends).
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

SHAPE = {"code", "message", "where", "hint", "problems"}


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail: dict[str, Any] = response.json()["error"]
    assert set(detail) >= SHAPE and "\n" not in detail["message"]
    return detail


def test_malformed_json_names_the_body(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/organisations", content=b'{"id": "x", "name": ',
                             headers={"Content-Type": "application/json"})
    detail = error(response, 422)
    assert detail["where"] == "body" and "not valid JSON" in detail["message"]


def test_wrong_types_and_unknown_fields_name_each_field(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/organisations", json={
        "id": "Not An Id", "name": 7, "parent": "eu-commission", "colour": "blue"})
    detail = error(response, 422)
    assert {p["where"] for p in detail["problems"]} == {"body.id", "body.name", "body.colour"}
    response = world.request("admin-a", "POST", "/api/v1/tokens", json={"name": "x", "role": "emperor"})
    assert error(response, 422)["where"] == "body.role"
    response = world.get("admin-a", "/api/v1/devices", params={"limit": "many"})
    assert error(response, 422)["where"] == "query.limit"
    response = world.get("admin-a", "/api/v1/devices", params={"limit": "501"})
    assert error(response, 422)["where"] == "query.limit"


def test_control_characters_and_overlong_ids_are_refused_before_the_database(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/organisations", json={
        "id": "eu-commission-x", "name": "nul\u0000byte", "parent": "eu-commission"})
    assert error(response, 422)["where"] == "body.name"
    response = world.get("admin-a", "/api/v1/devices/" + "d" * 600)
    error(response, 422)
    response = world.get("admin-a", "/api/v1/findings", params={"device": "a\u0000b"})
    assert error(response, 422)["where"] == "query.device"


def test_an_oversize_body_is_413_on_any_route(world: World) -> None:
    big = {"id": "eu-commission-x", "name": "x" * (TEST_LIMITS.body + 1), "parent": "eu-commission"}
    detail = error(world.request("admin-a", "POST", "/api/v1/organisations", json=big), 413)
    assert detail["code"] == "payload_too_large"
    text = "x" * (TEST_LIMITS.body + 1)
    error(world.request("admin-a", "POST", "/api/v1/restrictions", content=text.encode(),
                        headers={"Content-Type": "application/yaml"}), 413)


def test_an_unsupported_media_type_is_415(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/restrictions", content=b"id: x",
                             headers={"Content-Type": "text/plain"})
    error(response, 415)


def test_unknown_routes_and_methods_answer_in_the_shape(world: World) -> None:
    assert error(world.get("admin-a", "/api/v1/nothing-here"), 404)["code"] == "not_found"
    response = world.request("admin-a", "DELETE", "/api/v1/devices")
    assert error(response, 405)["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_a_bad_cursor_is_422(world: World) -> None:
    assert error(world.get("admin-a", "/api/v1/devices", params={"cursor": "garbage"}), 422)["where"] == \
        "query.cursor"
    page = world.get("admin-a", "/api/v1/devices", params={"limit": 1}).json()
    other = world.get("admin-a", "/api/v1/devices", params={"limit": 1, "cursor": page["next"], "sort": "-id"})
    assert "another query" in error(other, 422)["message"]


def test_a_client_gone_mid_upload_is_no_server_error_and_stores_nothing(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A proxy that gives up on a slow push disconnects mid-body: logged as the client leaving, never as a 500."""
    devices = world.device_count()
    chunks: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"device_id,app_id,platform,observed_at\n", "more_body": True},
        {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/api/v1/inventory/csv", "raw_path": b"/api/v1/inventory/csv", "query_string": b"",
             "headers": [(b"content-type", b"text/csv"), (b"content-length", b"100000"),
                         *((k.lower().encode(), v.encode()) for k, v in world.auth("source-a").items())],
             "client": ("127.0.0.1", 5000), "server": ("appban", 80), "scheme": "http", "root_path": ""}
    with caplog.at_level(logging.INFO, logger="appban"):
        asyncio.run(world.app(scope, receive, send))  # type: ignore[arg-type]
    started = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in started] in ([], [400])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "client went away during POST /api/v1/inventory/csv" in caplog.text
    assert world.device_count() == devices
