"""What every request of one API instance shares: the database, the clock, and the caches in front of them.

One `Backend` is made by `create_api` and kept on `app.state.appban`; routes reach it through their `Caller`.
Tests give their own clock, so that grace periods and expiries can be crossed without waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from appban.api.health import HealthReport
from appban.api.limits import Limits
from appban.api.metrics import FleetMetrics, RequestMetrics
from appban.api.ratelimit import RateLimiter
from appban.api.token_cache import TokenCache
from appban.service import ContextCache, GroupCommit, ImportSummary, Push
from appban.store import Database

__all__ = ["Backend"]


@dataclass(frozen=True, slots=True)
class Backend:
    database: Database
    clock: Callable[[], dt.datetime]
    contexts: ContextCache  # compiled restrictions and the organisation tree, rebuilt when the policy changes
    tokens: TokenCache
    limits: Limits
    requests: RequestMetrics
    fleet: FleetMetrics
    health: Callable[[], HealthReport] | None = None  # the gate's own health, when a server mounts the API
    extra_metrics: Callable[[], str] | None = None  # the gate's metrics lines, likewise
    rate: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))  # per token; off unless given
    pushes: GroupCommit[Push, ImportSummary] | None = None  # small inventory pushes, stored a batch at a time
