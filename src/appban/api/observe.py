"""Every request, measured and logged once: the outermost middleware of the API.

It times the request, counts it for `/metrics` by route template (read from the matched route after the
app ran, so `/api/v1/devices/{device_id}`, never the raw path) and writes one JSON log line on `appban.api`
with the method, route, status, duration and the caller's token id (set by `appban.api.auth`).
"""

from __future__ import annotations

import logging
import re
import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appban.api.metrics import RequestMetrics

__all__ = ["UNMATCHED", "Observe", "route_template"]

logger = logging.getLogger("appban.api")

UNMATCHED = "unmatched"  # the route label of requests no route matched: one series, whatever the paths


class Observe:
    """ASGI middleware: metrics and a log line for each HTTP request."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            self.metrics.observe(method, template, status, seconds)
            state = scope.get("state") or {}
            logger.info("request", extra={"method": method, "route": template, "status": status,
                                          "duration_ms": round(seconds * 1000, 2), "token": state.get("token_id")})


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefixes of the routers it was included through.

    The route knows its own template (`/devices/{device_id}`); the prefix (`/api/v1`) is the part of the path
    before the first position from which the route's pattern matches the rest.
    """
    route = scope.get("route")
    pattern = getattr(route, "path_regex", None)
    template = getattr(route, "path_format", None)
    if not isinstance(route, BaseRoute) or not isinstance(pattern, re.Pattern) or not isinstance(template, str):
        return UNMATCHED
    path: str = scope["path"]
    for index, char in enumerate(path):
        if char == "/" and pattern.match(path[index:]):
            return path[:index] + template
    return template
