"""`create_api`: the FastAPI application on one database, as `appban serve` mounts it beside the gate.

Middleware, outermost first: `Observe` (metrics and the JSON log line of every request), then `BodyLimit`
(413 before a route reads too much). Errors keep one JSON shape (appban.api.errors). `/openapi.json`,
`/healthz` and `/metrics` need no token; every route under `/api/v1` does (appban.api.auth) and sees only the
caller's organisation subtree (appban.api.scope). There is no interactive documentation page: it would be
one more unauthenticated route, and the OpenAPI document serves any viewer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from fastapi import FastAPI

from appban import __version__
from appban.api.backend import Backend
from appban.api.errors import install_error_handlers
from appban.api.health import HealthReport
from appban.api.limits import BodyLimit, Limits
from appban.api.logs import install_json_logging
from appban.api.metrics import FleetMetrics, RequestMetrics
from appban.api.observe import Observe
from appban.api.ratelimit import RateLimiter
from appban.api.routes import operations, v1
from appban.api.token_cache import TokenCache
from appban.errors import InvalidInput
from appban.service import ContextCache, GroupCommit, ImportSummary, Push, import_pushes, push_batch
from appban.store import Database

__all__ = ["PUBLIC_PATHS", "create_api"]

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})  # the only routes without a token

DESCRIPTION = """\
Assess, decide, enforce and prove restrictions on risky mobile apps across an organisation hierarchy.

Every route under `/api/v1` needs `Authorization: Bearer apb_...` and sees only the token's organisation and
those below it: anything else is answered 404, as if it did not exist. Errors are
`{"error": {"code", "message", "where", "hint"}}`. See docs/api.md.
"""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _push_runner(database: Database, contexts: ContextCache, clock: Callable[[], dt.datetime],
                 ) -> Callable[[Sequence[Push]], list[ImportSummary | InvalidInput]]:
    """Stores a batch of small inventory pushes in one transaction (routes/inventory.py submits them)."""
    def run(pushes: Sequence[Push]) -> list[ImportSummary | InvalidInput]:
        with database.session() as session:
            return import_pushes(session, contexts.get(session), pushes, clock())
    return run


def create_api(database: Database, *, clock: Callable[[], dt.datetime] = _utc_now,
               health: Callable[[], HealthReport] | None = None, extra_metrics: Callable[[], str] | None = None,
               limits: Limits | None = None) -> FastAPI:
    """The API on an open database whose schema is current.

    `health` and `extra_metrics` are the gate's own status and metrics lines when a server mounts the API
    beside it; `limits` default to APPBAN_MAX_BODY_BYTES and APPBAN_MAX_UPLOAD_BYTES.
    """
    limits = limits or Limits.from_environment()
    requests = RequestMetrics()
    contexts = ContextCache()
    backend = Backend(database=database, clock=clock, contexts=contexts, tokens=TokenCache(database, clock),
                      limits=limits, requests=requests, fleet=FleetMetrics(database, clock), health=health,
                      extra_metrics=extra_metrics, rate=RateLimiter(limits.rate, limits.burst),
                      pushes=GroupCommit(_push_runner(database, contexts, clock), push_batch))
    app = FastAPI(title="appban", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.appban = backend
    install_error_handlers(app)
    app.include_router(operations)
    app.include_router(v1)
    app.add_middleware(BodyLimit, limits=limits)
    app.add_middleware(Observe, metrics=requests)
    install_json_logging(logging.getLogger("appban.api"))
    return app
