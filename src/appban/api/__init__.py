"""The HTTP API (FastAPI): REST under /api/v1, tokens with roles, every route scoped to the caller's subtree.

`create_api(database)` builds the application; `appban serve` (appban.server) mounts it beside the gate and
hands it the gate's `HealthReport` and metrics. docs/api.md describes authentication, roles, scoping,
pagination, ETags and errors.
"""

from appban.api.app import PUBLIC_PATHS, create_api
from appban.api.health import DEGRADED, DOWN, READY, HealthReport
from appban.api.limits import Limits
from appban.api.logs import JsonFormatter

__all__ = ["DEGRADED", "DOWN", "PUBLIC_PATHS", "READY", "HealthReport", "JsonFormatter", "Limits", "create_api"]
