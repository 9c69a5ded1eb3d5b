"""`/metrics` in the Prometheus text format (0.0.4), written by hand: a few counters need no client library.

Requests are counted by method, route template (never the raw path: ids would make unbounded series) and
status, with a duration histogram per route. Fleet gauges (findings by state, how fresh inventories are) come
from two aggregate queries, cached for a few seconds so a scrape every second costs the database nothing.
No label carries an organisation, device or restriction id: the endpoint needs no token.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from appban.errors import StorageUnavailable
from appban.model import FindingState
from appban.store import Database, DeviceRepository, FindingRepository, InventoryRepository

__all__ = ["AGE_BUCKETS", "CONTENT_TYPE", "DURATION_BUCKETS", "FleetMetrics", "RequestMetrics", "exposition"]

logger = logging.getLogger("appban.api")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AGE_BUCKETS = (3_600, 86_400, 7 * 86_400, 30 * 86_400)  # seconds: an hour, a day, a week, 30 days
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # before any inventory: counts them all


@dataclass(slots=True)
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        for index, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1
        self.total += seconds
        self.count += 1


class RequestMetrics:
    """Requests by (method, route, status) and their durations by (method, route). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._durations: dict[tuple[str, str], _Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1
            self._durations.setdefault((method, route), _Histogram()).add(seconds)

    def lines(self) -> list[str]:
        with self._lock:
            counts = sorted(self._counts.items())
            durations = sorted((key, _Histogram(list(h.buckets), h.total, h.count))
                               for key, h in self._durations.items())
        out = ["# HELP appban_http_requests_total API requests by method, route template and status.",
               "# TYPE appban_http_requests_total counter"]
        out += [f"appban_http_requests_total{_labels(method=m, route=r, status=str(s))} {n}"
                for (m, r, s), n in counts]
        out += ["# HELP appban_http_request_duration_seconds API request duration by method and route template.",
                "# TYPE appban_http_request_duration_seconds histogram"]
        for (method, route), histogram in durations:
            for bound, count in zip(DURATION_BUCKETS, histogram.buckets, strict=True):
                labels = _labels(method=method, route=route, le=_number(bound))
                out.append(f"appban_http_request_duration_seconds_bucket{labels} {count}")
            labels = _labels(method=method, route=route, le="+Inf")
            out.append(f"appban_http_request_duration_seconds_bucket{labels} {histogram.count}")
            labels = _labels(method=method, route=route)
            out.append(f"appban_http_request_duration_seconds_sum{labels} {_number(histogram.total)}")
            out.append(f"appban_http_request_duration_seconds_count{labels} {histogram.count}")
        return out


class FleetMetrics:
    """Findings by state and inventory freshness, read at most every `ttl` seconds."""

    def __init__(self, database: Database, clock: Callable[[], dt.datetime], ttl: float = 5.0) -> None:
        self._database = database
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._lines: list[str] = []
        self._up = False

    def lines(self) -> list[str]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                try:
                    self._lines, self._up = self._read(), True
                except StorageUnavailable as error:
                    logger.warning("metrics: %s", error)
                    self._up = False
                self._read_at = time.monotonic()
            return ["# HELP appban_database_up 1 if the last read of the fleet gauges reached the database.",
                    "# TYPE appban_database_up gauge", f"appban_database_up {int(self._up)}", *self._lines]

    def _read(self) -> list[str]:
        now = self._clock()
        with self._database.session() as session:
            by_state: Counter[FindingState] = Counter()
            for (_, state), count in FindingRepository(session).counts(shadow=False).items():
                by_state[state] += count
            devices = DeviceRepository(session).count()
            fresh = InventoryRepository(session).observed_since(
                [now - dt.timedelta(seconds=age) for age in AGE_BUCKETS] + [_EPOCH])
        out = ["# HELP appban_findings Stored findings (not shadow) by state; compliant devices have none.",
               "# TYPE appban_findings gauge"]
        out += [f"appban_findings{_labels(state=state.value)} {by_state[state]}"
                for state in FindingState if state is not FindingState.COMPLIANT]
        out += ["# HELP appban_devices Devices known.", "# TYPE appban_devices gauge", f"appban_devices {devices}",
                "# HELP appban_inventory_fresh_devices Devices whose current inventory is at most this old.",
                "# TYPE appban_inventory_fresh_devices gauge"]
        for age, count in zip(AGE_BUCKETS, fresh, strict=False):
            out.append(f"appban_inventory_fresh_devices{_labels(max_age_seconds=str(age))} {count}")
        out.append(f'appban_inventory_fresh_devices{_labels(max_age_seconds="+Inf")} {fresh[-1]}')
        out += ["# HELP appban_devices_without_inventory Devices no source has reported yet.",
                "# TYPE appban_devices_without_inventory gauge",
                f"appban_devices_without_inventory {max(devices - fresh[-1], 0)}"]
        return out


def exposition(parts: Iterable[Sequence[str] | str]) -> str:
    """The exposition text of several parts (lists of lines, or text as another component rendered it)."""
    lines: list[str] = []
    for part in parts:
        lines += part.splitlines() if isinstance(part, str) else part
    return "\n".join(line for line in lines if line) + "\n"


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    text = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())
    return "{" + text + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(float(value))
