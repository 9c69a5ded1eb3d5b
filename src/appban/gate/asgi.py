"""`/gate/auth`: the reverse-proxy check, as a bare ASGI callable answering from the table in memory.

No framework and no middleware stand between the server and this code: each request costs one scan of its
headers, a token look-up, one `decide` and a queue put for the decision log. The contract (docs/gate.md):

- any method, body ignored; the device from the header named by APPBAN_GATE_DEVICE_HEADER (the proxy sets it,
  always: a request without it is 400, which nginx `auth_request` turns into a 500 for the client);
- the service from `?service=` on `/gate/auth` itself, else the `X-Appban-Service` header. On
  `/gate/auth/<path>` (Envoy appends the client's path and query to its prefix) the query belongs to the
  client, so only the header counts;
- the caller is a proxy holding a `gate` token in `X-Appban-Gate-Token` (401 without a valid one); it is
  answered only about devices of its organisation's subtree, others are "not known";
- exactly 200 allows (with `X-Appban-Warning` inside a grace period), 403 denies with `X-Appban-Reason` and
  `X-Appban-Remediation`; every decision carries `X-Appban-Decision-Id`; 503 until a first table is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from appban.access import looks_like_token, token_hash
from appban.gate.decision import DecisionTable, decide
from appban.gate.log import DecisionLog

__all__ = [
    "AUTH_PATH", "GATE_TOKEN_HEADER", "SERVICE_HEADER", "Answer", "GateApp", "Message", "Receive", "Scope", "Send",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, response headers, body

AUTH_PATH = "/gate/auth"
GATE_TOKEN_HEADER = "X-Appban-Gate-Token"  # noqa: S105 (a header name, not a secret)
SERVICE_HEADER = "X-Appban-Service"
MAX_DEVICE_ID = 512  # appban.store.tables.DEVICE_ID_LENGTH
MAX_LOGGED = 2_048  # characters of a forwarded URI kept in the decision log
_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_TOKEN_KEY = GATE_TOKEN_HEADER.lower().encode()
_SERVICE_KEY = SERVICE_HEADER.lower().encode()
_METHOD_KEYS = (b"x-forwarded-method", b"x-original-method")  # Traefik, Caddy | the nginx convention
_URI_KEYS = (b"x-forwarded-uri", b"x-original-uri")
_HASH_CACHE = 256  # distinct token values whose hash is remembered (a proxy fleet uses a handful)

_EMPTY: list[tuple[bytes, bytes]] = [(b"content-length", b"0"), (b"cache-control", b"no-store")]


class GateApp:
    """The gate endpoint. `table` returns the current decision table (None before the first load)."""

    def __init__(self, table: Callable[[], DecisionTable | None], log: DecisionLog, *, device_header: str,
                 public_url: str, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._table = table
        self._log = log
        self.device_header = device_header
        self._device_key = device_header.lower().encode("latin-1")
        self._public_url = public_url.rstrip("/")
        self._clock = clock or _utc_now
        self._hashes: dict[bytes, str] = {}
        self._queries: dict[bytes, str | None] = {}  # a proxy sends the same few query strings again and again
        self._services: set[str] = set()  # service names already found well-formed
        self.allowed = 0
        self.denied = 0
        self.warned = 0
        self.refused: dict[int, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = self.answer(scope["method"], scope["path"], scope["query_string"], scope["headers"])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def answer(self, method: str, path: str, query: bytes, request_headers: Iterable[tuple[bytes, bytes]]) -> Answer:
        """The whole gate, without a transport: status, response headers and body for one request.

        `request_headers` have lower-case names, as ASGI gives them; the gate's own listener
        (appban.gate.listener) and the ASGI callable above both answer through here.
        """
        suffix = path[len(AUTH_PATH):] if path.startswith(AUTH_PATH) else None
        if suffix is None or (suffix and not suffix.startswith("/")):
            return self._refuse(404, f"no such gate endpoint; the reverse-proxy check is {AUTH_PATH}", None)
        table = self._table()
        if table is None:
            return self._refuse(503, "the gate has no decision table yet (the database was not reachable at "
                                "start); try again shortly", None, retry=True)
        token = device = service = forwarded_method = uri = None
        for name, value in request_headers:
            if name == self._device_key:
                device = value
            elif name == _TOKEN_KEY:
                token = value
            elif name == _SERVICE_KEY:
                service = value
            elif name in _METHOD_KEYS:
                forwarded_method = value
            elif name in _URI_KEYS:
                uri = value
        gate_token = None if token is None else table.tokens.get(self._hash(token))
        now = self._clock()
        if gate_token is None or (gate_token.expires is not None and now >= gate_token.expires):
            return self._refuse(401, f"a valid gate token is required in {GATE_TOKEN_HEADER}", GATE_TOKEN_HEADER)
        device_id = _device(device)
        if device_id is None:
            problem = "is missing" if device is None else "is malformed (1 to 512 printable ASCII characters)"
            return self._refuse(400, f"the device header {self.device_header} {problem}; the reverse proxy "
                                "must always set it", self.device_header)
        named = self._query_service(query) if not suffix and query else None
        if named is None:
            named = service.decode("latin-1") if service is not None else None
        if named is not None and named not in self._services and not self._check_service(named):
            field = "service" if not suffix and query and b"service=" in query else SERVICE_HEADER
            return self._refuse(400, f"{field} {named[:40]!r} is not a service name (lower-case letters, "
                                "digits and '-', starting with a letter)", field)
        decision = decide(table, device_id, named, now, within=gate_token.within)
        decision_id = self._log.next_id()
        if suffix:  # Envoy: the client's path and query follow the prefix, its method is ours
            method_text: str | None = method
            uri_text: str | None = suffix + ("?" + query.decode("latin-1") if query else "")
        else:
            method_text = forwarded_method.decode("latin-1") if forwarded_method is not None else None
            uri_text = uri.decode("latin-1")[:MAX_LOGGED] if uri is not None else None
        self._log.record(decision_id, now, device_id, named, method_text, uri_text, gate_token.id, decision)
        headers = [(b"x-appban-decision-id", decision_id.encode())]
        remediation = decision.remediation
        link = (self._public_url + remediation).encode() if remediation is not None else None
        if decision.allowed:
            self.allowed += 1
            if decision.warning is not None:
                self.warned += 1
                headers.append((b"x-appban-warning", decision.warning.encode()))
                if link is not None:
                    headers.append((b"x-appban-remediation", link))
            headers += _EMPTY
            return 200, headers, b""
        self.denied += 1
        reason = decision.reason.encode()
        headers.append((b"x-appban-reason", reason))
        body = reason + b"\n"
        if link is not None:
            headers.append((b"x-appban-remediation", link))
            body += b"what to do: " + link + b"\n"
        headers += [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store")]
        return 403, headers, body if method != "HEAD" else b""

    def _query_service(self, query: bytes) -> str | None:
        if query in self._queries:
            return self._queries[query]
        named = _query_service(query)
        if len(self._queries) >= _HASH_CACHE:
            self._queries.clear()
        self._queries[query] = named
        return named

    def _check_service(self, name: str) -> bool:
        if not _is_service(name):
            return False
        if len(self._services) < _HASH_CACHE:
            self._services.add(name)
        return True

    def _hash(self, token: bytes) -> str:
        digest = self._hashes.get(token)
        if digest is None:
            text = token.decode("latin-1")
            digest = token_hash(text) if looks_like_token(text) else ""
            if len(self._hashes) >= _HASH_CACHE:
                self._hashes.clear()
            self._hashes[token] = digest
        return digest

    def refusal(self, status: int, message: str) -> Answer:
        """The answer to a request a transport could not hand over (malformed HTTP, oversized head)."""
        return self._refuse(status, message, None)

    def _refuse(self, status: int, message: str, field: str | None, *, retry: bool = False) -> Answer:
        """A request the gate could not judge: a JSON error naming the field at fault."""
        self.refused[status] = self.refused.get(status, 0) + 1
        body = json.dumps({"detail": message, "field": field}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store")]
        if retry:
            headers.append((b"retry-after", b"1"))
        return status, headers, body


def _device(value: bytes | None) -> str | None:
    """The device id, if the header holds 1 to 512 printable ASCII characters (spaces inside allowed)."""
    if value is None:
        return None
    value = value.strip()
    if not 0 < len(value) <= MAX_DEVICE_ID or not value.isascii():
        return None
    text = value.decode("ascii")
    return text if text.isprintable() else None


def _query_service(query: bytes) -> str | None:
    if b"service" not in query:
        return None
    values = {value for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
              if name == "service"}
    if not values:
        return None
    return values.pop() if len(values) == 1 else "\0"  # two different services: not a service name


def _is_service(name: str) -> bool:
    return 0 < len(name) <= 32 and "a" <= name[0] <= "z" and all(c in _SERVICE_CHARS for c in name)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
