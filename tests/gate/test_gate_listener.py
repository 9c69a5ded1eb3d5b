"""The gate's own listener (APPBAN_GATE_LISTEN) on a real socket: the same answers as the ASGI route, and the
HTTP/1.1 a reverse proxy relies on (keep-alive, pipelining, HEAD, closing), with hostile heads refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from appban.gate import MAX_HEAD, DecisionLog, GateApp, GateListener

from .support import AsgiClient
from .test_gate_asgi import NOW, TOKEN, table

T = TypeVar("T")
AUTH = f"X-Appban-Gate-Token: {TOKEN}\r\n"


def gate(log: DecisionLog | None = None) -> GateApp:
    loaded = table()
    return GateApp(lambda: loaded, log or DecisionLog(None), device_header="X-Device-Id",
                   public_url="https://appban.example.eu", clock=lambda: NOW)


def with_listener(app: GateApp, scenario: Callable[[int], Awaitable[T]], *, idle: float = 75.0,
                  loop: str = "asyncio") -> T:
    async def run() -> T:
        listener = GateListener(app, idle_seconds=idle)
        await listener.start("127.0.0.1", 0)
        try:
            return await scenario(listener.port)
        finally:
            await listener.close()

    return uvloop.run(run()) if loop == "uvloop" else asyncio.run(run())  # appban serve runs on uvloop


async def exchange(port: int, raw: bytes, *, until_closed: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes; read what comes back until the server closes (or, with until_closed=False, a pause)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    received = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout if until_closed else 0.3)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        if until_closed:
            raise
    writer.close()
    return received


def request(device: str, *, method: str = "GET", extra: str = "", path: str = "/gate/auth?service=mail") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: gate\r\nX-Device-Id: {device}\r\n{AUTH}{extra}\r\n".encode()


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a stream of HTTP/1.1 responses (each with content-length) into status, headers, body."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append((status, headers, rest[:length]))
        raw = rest[length:]
    return found


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_real_client_gets_the_same_answers_as_from_the_asgi_route(loop: str) -> None:
    app = gate()
    asgi = AsgiClient(app, base_url="http://gate")
    asks = [("clean", "mail"), ("late", "mail"), ("late", "calendar"), ("grace", "mail"), ("nobody", "mail"),
            ("belgian", "mail")]
    names = ("x-appban-reason", "x-appban-warning", "x-appban-remediation", "content-type")

    def summary(response: httpx.Response) -> tuple[int, bytes, list[str | None]]:
        return response.status_code, response.content, [response.headers.get(name) for name in names]

    def headers(device: str) -> dict[str, str]:
        return {"X-Device-Id": device, "X-Appban-Gate-Token": TOKEN}

    expected = [summary(asgi.get(f"/gate/auth?service={service}", headers=headers(device)))
                for device, service in asks]

    async def scenario(port: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            got = [summary(await client.get(f"/gate/auth?service={service}", headers=headers(device)))
                   for device, service in asks]
            assert got == expected
            assert [status for status, _, _ in got] == [200, 403, 200, 200, 403, 403]
            assert (await client.get("/gate/auth", headers={"X-Device-Id": "clean"})).status_code == 401
            missing = await client.get("/gate/auth", headers={"X-Appban-Gate-Token": TOKEN})
            assert missing.status_code == 400 and missing.json()["field"] == "X-Device-Id"
            assert (await client.get("/api/v1/devices")).status_code == 404  # only the gate lives here

    with_listener(app, scenario, loop=loop)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_keep_alive_and_pipelined_requests_are_answered_in_order_on_one_connection(loop: str) -> None:
    async def scenario(port: int) -> bytes:
        raw = request("clean") + request("late") + request("grace") + request("late", extra="Connection: close\r\n")
        return await exchange(port, raw)

    answers = responses(with_listener(gate(), scenario, loop=loop))
    assert [status for status, _, _ in answers] == [200, 403, 200, 403]
    assert answers[2][1]["x-appban-warning"].startswith("remove TikTok")
    assert answers[1][2].endswith(b"what to do: https://appban.example.eu/remediate/tok-late\n")
    assert answers[3][1]["connection"] == "close"  # and the server closed: exchange returned
    assert len({headers["x-appban-decision-id"] for _, headers, _ in answers}) == 4


def test_a_head_request_gets_the_denial_without_a_body_so_the_proxy_keeps_the_connection() -> None:
    async def scenario(port: int) -> bytes:
        return await exchange(port, request("late", method="HEAD") + request("clean", extra="Connection: close\r\n"))

    raw = with_listener(gate(), scenario)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 403 Forbidden")
    assert rest.startswith(b"HTTP/1.1 200 OK")  # no body between the two heads


def test_bodies_are_read_and_dropped_plain_or_chunked() -> None:
    async def scenario(port: int) -> bytes:
        plain = request("late", method="POST", extra="Content-Length: 10\r\n") + b"0123456789"
        chunked = request("clean", method="POST", extra="Transfer-Encoding: chunked\r\nConnection: close\r\n")
        return await exchange(port, plain + chunked + b"5\r\nhello\r\n0\r\n\r\n")

    assert [status for status, _, _ in responses(with_listener(gate(), scenario))] == [403, 200]


def test_http_1_0_without_keep_alive_is_answered_and_closed() -> None:
    async def scenario(port: int) -> bytes:
        return await exchange(port, f"GET /gate/auth?service=mail HTTP/1.0\r\nX-Device-Id: clean\r\n{AUTH}\r\n"
                              .encode())

    [(status, headers, _)] = responses(with_listener(gate(), scenario))
    assert status == 200 and headers["connection"] == "close"


@pytest.mark.parametrize("raw", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /gate/auth HTTP/1.1\r\nX-Device-Id clean\r\n\r\n",  # a header without its colon
    b"GET /gate/auth HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",  # request smuggling
    b"GET /gate/auth HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
])
def test_malformed_http_gets_400_as_json_and_the_connection_is_closed(raw: bytes) -> None:
    async def scenario(port: int) -> bytes:
        return await exchange(port, raw + request("clean"))  # nothing after the bad request is answered

    answers = responses(with_listener(gate(), scenario))
    assert [status for status, _, _ in answers] == [400]
    assert json.loads(answers[0][2])["detail"].startswith("the request is not well-formed HTTP/1.1")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_oversized_head_gets_431_and_is_never_buffered_whole(loop: str) -> None:
    async def scenario(port: int) -> bytes:
        flood = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(200))  # 200 KB of headers
        return await exchange(port, b"GET /gate/auth HTTP/1.1\r\n" + flood + b"\r\n")

    [(status, headers, body)] = responses(with_listener(gate(), scenario, loop=loop))
    assert status == 431 and headers["connection"] == "close"
    assert str(MAX_HEAD) in json.loads(body)["detail"]


def test_an_idle_connection_is_closed() -> None:
    async def scenario(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("clean"))
        first = await reader.read(65536)
        rest = await asyncio.wait_for(reader.read(65536), 5)  # b"" once the listener closes it
        writer.close()
        return first + b"|" + rest

    first, _, rest = with_listener(gate(), scenario, idle=0.2).partition(b"|")
    assert first.startswith(b"HTTP/1.1 200 OK") and rest == b""


def test_every_decision_of_the_listener_is_in_the_decision_log(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "decisions.jsonl")
    log.start()

    async def scenario(port: int) -> bytes:
        return await exchange(port, request("late", extra="X-Original-URI: /owa/\r\nX-Original-Method: POST\r\n")
                              + request("clean", extra="Connection: close\r\n"))

    answers = responses(with_listener(gate(log), scenario))
    log.close()
    assert log.path is not None
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [headers["x-appban-decision-id"] for _, headers, _ in answers]
    assert lines[0]["uri"] == "/owa/" and lines[0]["method"] == "POST" and lines[0]["result"] == "deny"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_whatever_bytes_arrive_the_listener_answers_4xx_or_a_decision_never_5xx(garbage: bytes) -> None:
    async def scenario(port: int) -> bytes:
        return await exchange(port, garbage + b"\r\n\r\n", until_closed=False)

    received = with_listener(gate(), scenario)
    for line in received.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            assert int(line.split()[1]) < 500
