"""Dashboard counts kept between views, so a page over a million devices does not count them on every view.

The counts of an organisation subtree (`compliance_counts`) are SQL aggregates over every device and finding:
cheap for a small fleet, seconds at a million devices. A `CountsCache` keeps the last counts of each key with
the data stamp they were computed under (appban.store.data_stamp: the policy and the newest change of any
device or finding):

- same stamp and younger than `fresh_for`: served as they are (nothing changed);
- stamp changed and the last computation was quick (under `budget`): recomputed in the request, so a small
  fleet always shows exact counts, at once after an exemption or an import;
- stamp changed and the last computation was slow: the last counts are served, marked with the time they
  are from, while one background refresh per key recomputes them (stale-while-revalidate); past `keep_for`
  they are recomputed in the request after all.

`fresh_for` also bounds what no stamp sees: devices going stale with time alone, and on PostgreSQL a change
whose transaction took its id before the newest one but committed after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Counted", "CountsCache", "Reading"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Counted(Generic[T]):
    """Counts as served: `at` is the time they describe; `stale` says newer data exists and is being counted."""

    value: T
    at: dt.datetime
    stale: bool


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """What a background refresh read, in one transaction of its own: the stamp first, then the counts."""

    stamp: Hashable
    at: dt.datetime
    value: T


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    stamp: Hashable
    at: dt.datetime
    took: float  # seconds the computation took
    value: T


class CountsCache(Generic[T]):
    """Last counts per key; safe to share between the threads of one process."""

    def __init__(self, *, fresh_for: dt.timedelta = dt.timedelta(seconds=15),
                 keep_for: dt.timedelta = dt.timedelta(minutes=2), budget: float = 0.25, size: int = 256,
                 background: Callable[[Callable[[], None]], None] | None = None,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self._fresh_for = fresh_for
        self._keep_for = keep_for
        self._budget = budget
        self._size = size
        self._background = background or _thread
        self._timer = timer
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._refreshing: set[Hashable] = set()

    def get(self, key: Hashable, stamp: Hashable, now: dt.datetime, compute: Callable[[], T],
            refresh: Callable[[], Reading[T]]) -> Counted[T]:
        """The counts for `key` under `stamp` at `now`: `compute` runs in the caller's transaction when they
        must be counted now; `refresh` reads stamp and counts in a transaction of its own, in the background."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            age = now - entry.at
            if entry.stamp == stamp and age < self._fresh_for:
                return Counted(entry.value, entry.at, stale=False)
            if entry.took > self._budget and age < self._keep_for:
                self._refresh(key, refresh)
                return Counted(entry.value, entry.at, stale=True)
        started = self._timer()
        value = compute()
        self._keep(key, _Entry(stamp, now, self._timer() - started, value))
        return Counted(value, now, stale=False)

    def warm(self, key: Hashable, refresh: Callable[[], Reading[T]]) -> None:
        """Count `key` in the background now (a server's start), so that its first view finds counts kept."""
        self._refresh(key, refresh)

    def clear(self) -> None:
        """Forget every kept count (the next view of each key counts in its request)."""
        with self._lock:
            self._entries.clear()

    def _keep(self, key: Hashable, entry: _Entry[T]) -> None:
        with self._lock:
            held = self._entries.get(key)
            if held is None or held.at <= entry.at:  # a slower, older computation never replaces a newer one
                self._entries[key] = entry
                self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def _refresh(self, key: Hashable, refresh: Callable[[], Reading[T]]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run() -> None:
            try:
                started = self._timer()
                reading = refresh()
                self._keep(key, _Entry(reading.stamp, reading.at, self._timer() - started, reading.value))
            except Exception:  # the next view computes in the request instead; never lose the thread silently
                _log.exception("refreshing the dashboard counts of %r failed", key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        self._background(run)


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="appban-counts-refresh", daemon=True).start()
