"""Requests per token: a burst, then the budget a second; 429 with `Retry-After` past it, other tokens untouched."""

from __future__ import annotations

import pytest

from appban.api.limits import Limits
from appban.api.ratelimit import RateLimiter
from appban.errors import InvalidInput

from .conftest import World


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == pytest.approx(0.5)  # one more in half a second at 2 a second
    assert limiter.take("b") is None  # another key has its own bucket
    clock.now += 0.5
    assert limiter.take("a") is None and limiter.take("a") is not None
    clock.now += 100
    assert [limiter.take("a") for _ in range(4)].count(None) == 3  # refilled to the burst, not beyond
    assert RateLimiter(0, 1).take("a") is None  # 0: off


def test_buckets_are_bounded_in_number() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_keys=100)
    for n in range(1_000):
        limiter.take(f"key-{n}")
    assert len(limiter._buckets) == 100


def test_the_limits_come_from_the_environment_and_bad_values_are_named() -> None:
    assert Limits.from_environment({"APPBAN_RATE_LIMIT": "5", "APPBAN_RATE_BURST": "7"}).rate == 5.0
    assert Limits.from_environment({"APPBAN_RATE_LIMIT": "0"}).rate == 0.0
    with pytest.raises(InvalidInput, match="APPBAN_RATE_LIMIT: 'fast' is not a number"):
        Limits.from_environment({"APPBAN_RATE_LIMIT": "fast"})
    with pytest.raises(InvalidInput, match="APPBAN_RATE_BURST"):
        Limits.from_environment({"APPBAN_RATE_BURST": "0"})


def test_past_its_budget_a_token_gets_429_with_retry_after_and_others_go_on(world: World) -> None:
    limiter = world.app.state.appban.rate
    limiter.rate, limiter.burst = 1.0, 3  # the server's own limiter, made small
    statuses = [world.get("auditor-a", "/api/v1/organisations").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    refused = world.get("auditor-a", "/api/v1/organisations")
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert world.get("admin-b", "/api/v1/organisations").status_code == 200
    assert world.get(None, "/api/v1/organisations").status_code == 401  # no token: no bucket spent
