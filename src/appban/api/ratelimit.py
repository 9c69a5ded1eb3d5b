"""Requests per token, as a token bucket: a token may send `burst` requests at once and `rate` a second after.

A source that loops on a push, a script that pages the whole fleet in a tight loop, or a leaked token used to
scrape: each is slowed to its budget with 429 and `Retry-After`, without touching other tokens. Buckets live in
the process (each server process keeps its own), bounded in number: the least recently used are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]

_MAX_KEYS = 100_000


class RateLimiter:
    """`take(key)` spends one request of `key`'s bucket: None if allowed, else the seconds until it would be."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = _MAX_KEYS) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()  # FastAPI runs sync dependencies in a thread pool

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float | None:
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate
