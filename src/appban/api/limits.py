"""How large a request body may be, enforced on every route before anything reads it whole.

An inventory push may be a fleet's export (`APPBAN_MAX_UPLOAD_BYTES`, default 256 MiB); everything else is a
small JSON object or one policy file (`APPBAN_MAX_BODY_BYTES`, default 2 MiB). A declared `Content-Length`
over the limit is answered 413 at once; a chunked body is counted as it arrives and refused when it passes
the limit, so no route ever holds more than the limit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import IO, cast

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appban.api.errors import error_body
from appban.errors import InvalidInput

__all__ = [
    "BODY_VARIABLE", "BURST_VARIABLE", "RATE_VARIABLE", "SPOOL_BYTES", "UPLOAD_PREFIX", "UPLOAD_VARIABLE",
    "BodyLimit", "Limits", "PayloadTooLarge", "spooled",
]

UPLOAD_VARIABLE = "APPBAN_MAX_UPLOAD_BYTES"
RATE_VARIABLE = "APPBAN_RATE_LIMIT"
BURST_VARIABLE = "APPBAN_RATE_BURST"
BODY_VARIABLE = "APPBAN_MAX_BODY_BYTES"
UPLOAD_PREFIX = ("/api/v1/inventory/", "/api/v1/assessments")  # bodies that are files: the upload limit
_MIB = 1024 * 1024
SPOOL_BYTES = 8 * _MIB  # an uploaded file is kept in memory below this, on disk above


@dataclass(frozen=True, slots=True)
class Limits:
    """Body size limits in bytes: `upload` for inventory pushes and builds, `body` for every other request; and
    requests a second per token (`rate`, with bursts of `burst`; 0 turns it off)."""

    body: int = 2 * _MIB
    upload: int = 256 * _MIB
    rate: float = 50.0
    burst: int = 200

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Read the two variables; raises InvalidInput naming a variable that is not a positive number."""
        env = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, int] = {}
        for field, name, default in (("body", BODY_VARIABLE, defaults.body),
                                     ("upload", UPLOAD_VARIABLE, defaults.upload)):
            text = env.get(name, "").strip()
            if not text:
                values[field] = default
            elif text.isdigit() and 0 < int(text) <= 1 << 40:
                values[field] = int(text)
            else:
                raise InvalidInput.at(name, f"{text!r} is not a number of bytes", hint="e.g. 268435456 for 256 MiB")
        rate, burst = defaults.rate, defaults.burst
        rate_text, burst_text = env.get(RATE_VARIABLE, "").strip(), env.get(BURST_VARIABLE, "").strip()
        if rate_text:
            try:
                rate = float(rate_text)
            except ValueError:
                rate = -1.0
            if not 0 <= rate <= 1_000_000:
                raise InvalidInput.at(RATE_VARIABLE, f"{rate_text!r} is not a number of requests a second",
                                      hint="e.g. 50; 0 turns the limit off")
        if burst_text:
            if not (burst_text.isdigit() and 0 < int(burst_text) <= 1_000_000):
                raise InvalidInput.at(BURST_VARIABLE, f"{burst_text!r} is not a positive number of requests")
            burst = int(burst_text)
        return cls(**values, rate=rate, burst=burst)

    def for_path(self, path: str) -> int:
        return self.upload if path.startswith(UPLOAD_PREFIX) else self.body


class PayloadTooLarge(HTTPException):
    """Raised while reading a body that passes its limit; an HTTPException so FastAPI's body parsing lets it
    through instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than the {limit} bytes allowed here")


async def spooled(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """An uploaded file (a request's body chunks) in a spooled temporary file, read from its start; refused with
    PayloadTooLarge past `limit`. The caller closes it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
    try:
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return cast(IO[bytes], spool)


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit of their path with 413."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            body = error_body(413, f"the body is larger than the {limit} bytes allowed here",
                              hint="split the upload, or raise the limit on the server")
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None
