"""The gate's own HTTP/1.1 listener: `/gate/auth` without an ASGI server in between.

Under uvicorn a request costs its HTTP machinery about 65 us of CPU before the gate runs (a task, the ASGI
messages, the response path in Python); the gate's own work is about 15 us. A reverse proxy asks on every
request of every client, so `APPBAN_GATE_LISTEN` opens this second listener on the same event loop, beside the
API: httptools parses (the C parser uvicorn uses), and each request is answered synchronously inside the
parser's callback by `GateApp.answer`, the same code the ASGI route runs. No task, no coroutine, no copy of the
body: the answer is one `write`.

What a listener facing only reverse proxies needs, and nothing more: keep-alive and pipelining (answers in
order), a cap on the request head (431, then the connection is closed), bodies read and dropped, a closed
connection after a malformed request (400) or an Upgrade, and idle connections closed after `idle_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import cast
from urllib.parse import unquote_to_bytes

import httptools

from appban.gate.asgi import Answer, GateApp

__all__ = ["MAX_HEAD", "GateListener"]

logger = logging.getLogger(__name__)

MAX_HEAD = 16_384  # bytes of request line and headers; nginx's large_client_header_buffers is 4 x 8 KiB
_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
            413: b"Payload Too Large", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}
_STATUS = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in _REASONS.items()}
_CLOSE = b"connection: close\r\n"
_LINGER = 2.0  # seconds a refused connection is still read (and dropped) before it is closed


class GateListener:
    """Serves `GateApp.answer` on its own socket, on the running event loop."""

    def __init__(self, gate: GateApp, *, idle_seconds: float = 75.0) -> None:
        self.gate = gate
        self.idle_seconds = idle_seconds  # above nginx's default upstream keepalive_timeout (60 s)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen; `reuse_port` lets each of several worker processes bind the same port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, reuse_port=reuse_port or None,
                                                backlog=1024)
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    async def start_unix(self, path: Path) -> None:
        """Listen on a Unix socket: for a proxy on the same host, cheaper than TCP over loopback. A socket
        file left by an earlier run is replaced; any other file at the path is not."""
        if path.is_socket():
            path.unlink()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Connection(self), str(path), backlog=1024)
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    async def close(self) -> None:
        """Stop listening and close every connection (answers already written are flushed first)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def _sweep_every(self) -> float:
        return max(0.05, min(5.0, self.idle_seconds / 4))

    def _sweep(self) -> None:
        limit = time.monotonic() - self.idle_seconds
        for connection in [c for c in self._connections if c.last_active < limit]:
            connection.close()
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep)


class _Connection(asyncio.Protocol):
    """One client connection; the parser calls back into it, and each complete request is answered at once."""

    def __init__(self, listener: GateListener) -> None:
        self._listener = listener
        self._answer = listener.gate.answer
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head = 0  # bytes of the current request's head so far
        self._closing = False
        self.last_active = time.monotonic()

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self._listener._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener._connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.close()  # the request before the upgrade was answered; the gate speaks nothing else
        except httptools.HttpParserError as error:
            if not self._closing:  # a head cap already answered 431
                self._fail(400, f"the request is not well-formed HTTP/1.1 ({error})")
        if self._head > MAX_HEAD and not self._closing:
            self._fail(431, f"the request line and headers exceed {MAX_HEAD} bytes")

    def pause_writing(self) -> None:  # a client that pipelines without reading: stop reading its requests
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head = 0

    def on_url(self, url: bytes) -> None:
        self._head += len(url)
        if self._head <= MAX_HEAD:
            self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value) + 4
        if self._head <= MAX_HEAD:
            self._headers.append((name.lower(), value))

    def on_message_complete(self) -> None:
        if self._closing or self._head > MAX_HEAD:
            return
        method = self._parser.get_method().decode("latin-1")
        url = self._url
        if url[:1] != b"/":  # absolute-form (a proxy's request line) or garbage: keep only path and query
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._fail(400, "the request target is not a URL")
                return
            path_bytes, query = parsed.path or b"/", parsed.query or b""
        else:
            path_bytes, _, query = url.partition(b"?")
            query = query.partition(b"#")[0]
        if b"%" in path_bytes:
            path_bytes = unquote_to_bytes(path_bytes)
        answer = self._answer(method, path_bytes.decode("latin-1"), query, self._headers)
        keep = self._parser.should_keep_alive()
        self._send(answer, close=not keep)
        if not keep:
            self.close()

    # --- writing ---

    def _send(self, answer: Answer, *, close: bool) -> None:
        status, headers, body = answer
        head = [_STATUS.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status]
        head += [b"%s: %s\r\n" % pair for pair in headers]
        if close:
            head.append(_CLOSE)
        head.append(b"\r\n")
        if body:
            head.append(body)
        if self._transport is not None:
            self._transport.write(b"".join(head))

    def _fail(self, status: int, message: str) -> None:
        """Answer, then close gracefully: stop sending, but read and drop what the client still sends for a
        moment, because closing with unread data makes the kernel reset the connection, and a reset can
        overtake the answer (nginx calls this lingering close)."""
        self._send(self._listener.gate.refusal(status, message), close=True)
        self._closing = True
        if self._transport is not None and self._transport.can_write_eof():
            self._transport.write_eof()
            asyncio.get_running_loop().call_later(_LINGER, self.close)
        else:
            self.close()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closing
                self._transport.close()
