"""CountsCache: exact when the data is unchanged or counting is cheap, a little stale (and said so) when slow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from appban.service import Counted, CountsCache, Reading

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A timer the test moves: each computation "takes" `cost` seconds."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cost = 0.0

    def __call__(self) -> float:
        return self.now


def counting(clock: Clock, values: list[int]) -> Callable[[], int]:
    def compute() -> int:
        clock.now += clock.cost
        values.append(len(values) + 1)
        return values[-1]
    return compute


class Deferred:
    """Background work held until the test runs it, so the order of events is the test's."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.pending.append(work)

    def run(self) -> None:
        work, self.pending = self.pending, []
        for item in work:
            item()


def never() -> Reading[int]:
    raise AssertionError("no background refresh expected")


def test_unchanged_stamp_serves_the_kept_counts_without_counting() -> None:
    clock, values = Clock(), []
    cache: CountsCache[int] = CountsCache(timer=clock, background=Deferred())
    first = cache.get("org", "s1", T0, counting(clock, values), never)
    again = cache.get("org", "s1", T0 + dt.timedelta(seconds=5), counting(clock, values), never)
    assert first == Counted(1, T0, stale=False)
    assert again == Counted(1, T0, stale=False)
    assert values == [1]


def test_cheap_counts_are_recounted_at_once_when_the_data_changed() -> None:
    clock, values = Clock(), []
    clock.cost = 0.01
    cache: CountsCache[int] = CountsCache(timer=clock, background=Deferred())
    cache.get("org", "s1", T0, counting(clock, values), never)
    later = T0 + dt.timedelta(seconds=1)
    assert cache.get("org", "s2", later, counting(clock, values), never) == Counted(2, later, stale=False)


def test_even_an_unchanged_stamp_is_recounted_after_fresh_for() -> None:
    clock, values = Clock(), []
    cache: CountsCache[int] = CountsCache(timer=clock, background=Deferred(), fresh_for=dt.timedelta(seconds=15))
    cache.get("org", "s1", T0, counting(clock, values), never)
    later = T0 + dt.timedelta(seconds=16)
    assert cache.get("org", "s1", later, counting(clock, values), never).value == 2


def test_slow_counts_are_served_stale_while_one_background_refresh_runs() -> None:
    clock, values, background = Clock(), [], Deferred()
    clock.cost = 2.0  # seconds: a million devices
    cache: CountsCache[int] = CountsCache(timer=clock, background=background, budget=0.25)
    cache.get("org", "s1", T0, counting(clock, values), never)
    refreshed = T0 + dt.timedelta(seconds=3)

    def refresh() -> Reading[int]:
        clock.now += clock.cost
        return Reading("s2", refreshed, 42)

    views = [cache.get("org", "s2", T0 + dt.timedelta(seconds=i), counting(clock, values), refresh)
             for i in (1, 2)]
    assert views == [Counted(1, T0, stale=True)] * 2
    assert len(background.pending) == 1  # one refresh per key, however many views
    background.run()
    assert values == [1]  # no view counted in its request
    view = cache.get("org", "s2", T0 + dt.timedelta(seconds=4), counting(clock, values), never)
    assert view == Counted(42, refreshed, stale=False)


def test_slow_counts_older_than_keep_for_are_counted_in_the_request() -> None:
    clock, values = Clock(), []
    clock.cost = 2.0
    cache: CountsCache[int] = CountsCache(timer=clock, background=Deferred(), keep_for=dt.timedelta(minutes=2))
    cache.get("org", "s1", T0, counting(clock, values), never)
    later = T0 + dt.timedelta(minutes=3)
    assert cache.get("org", "s2", later, counting(clock, values), never) == Counted(2, later, stale=False)


def test_a_failed_refresh_is_retried_by_a_later_view() -> None:
    clock, values, background = Clock(), [], Deferred()
    clock.cost = 2.0
    cache: CountsCache[int] = CountsCache(timer=clock, background=background)
    cache.get("org", "s1", T0, counting(clock, values), never)

    def broken() -> Reading[int]:
        raise RuntimeError("database went away")

    cache.get("org", "s2", T0 + dt.timedelta(seconds=1), counting(clock, values), broken)
    background.run()
    assert cache.get("org", "s2", T0 + dt.timedelta(seconds=2), counting(clock, values), broken).stale
    assert len(background.pending) == 1  # the failed one released its key


def test_an_older_result_never_replaces_a_newer_one() -> None:
    clock, values, background = Clock(), [], Deferred()
    clock.cost = 2.0
    cache: CountsCache[int] = CountsCache(timer=clock, background=background, keep_for=dt.timedelta(seconds=5))
    cache.get("org", "s1", T0, counting(clock, values), never)
    cache.get("org", "s2", T0 + dt.timedelta(seconds=1), counting(clock, values),
              lambda: Reading("s2", T0 + dt.timedelta(seconds=1), 99))
    late = T0 + dt.timedelta(seconds=10)
    assert cache.get("org", "s3", late, counting(clock, values), never).value == 2  # counted in the request
    background.run()  # the refresh started earlier ends now, with older counts
    assert cache.get("org", "s3", late, counting(clock, values), never) == Counted(2, late, stale=False)


def test_keys_are_separate_and_the_oldest_is_dropped_past_the_size() -> None:
    clock, values = Clock(), []
    cache: CountsCache[int] = CountsCache(timer=clock, background=Deferred(), size=2)
    for key in ("a", "b", "c"):
        cache.get(key, "s", T0, counting(clock, values), never)
    assert cache.get("b", "s", T0, counting(clock, values), never).value == 2
    assert cache.get("a", "s", T0, counting(clock, values), never).value == 4  # dropped, counted again
