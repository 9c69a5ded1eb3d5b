"""`/healthz`: is this process fit to serve, from the database's and the gate's points of view.

`ready` (200): the database answers and the gate (when there is one) is current. `degraded` (200): the
service still answers, but from something older: the gate keeps deciding from its last table while the
database is away, or the gate says so itself. `down` (503): nothing useful can be answered, the database is
unreachable and there is no gate table to fall back on. Load balancers take 503 out of rotation and keep 200.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appban.errors import StorageUnavailable
from appban.store import Database

__all__ = ["DEGRADED", "DOWN", "READY", "HealthReport", "check_health"]

logger = logging.getLogger("appban.api")

READY = "ready"
DEGRADED = "degraded"
DOWN = "down"
_RANK = {READY: 0, DEGRADED: 1, DOWN: 2}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A component's health: `ready`, `degraded` or `down`, with one sentence per reason."""

    status: str
    reasons: Sequence[str] = ()


def check_health(database: Database, gate: Callable[[], HealthReport] | None = None) -> HealthReport:
    """The database (one cheap query) combined with the gate's own report."""
    reasons: list[str] = []
    database_up = True
    try:
        database.revision()
    except StorageUnavailable as error:
        database_up = False
        reasons.append(f"database unreachable: {error.diagnosis}")
    if gate is None:
        return HealthReport(READY if database_up else DOWN, tuple(reasons))
    try:
        report = gate()
        status = report.status if report.status in _RANK else DOWN
        reasons += [f"gate: {reason}" for reason in report.reasons]
    except Exception as error:  # the gate's callback failing is itself a health fact, not a crash of /healthz
        logger.exception("the gate's health callback failed")
        status = DOWN
        reasons.append(f"gate: its health check failed ({type(error).__name__})")
    if not database_up and status == READY:
        status = DEGRADED  # the gate answers from the table it holds, which no longer follows changes
    if not database_up and status == DOWN and not any(r.startswith("gate:") for r in reasons):
        reasons.append("gate: no decision table to answer from")
    return HealthReport(status, tuple(reasons))
