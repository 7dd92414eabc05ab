"""The shared tier table (tap and target) and its pacing: burst, steady and daily windows."""

from __future__ import annotations

from functools import cache

import pytest

from klaviyo_http import TIERS, Tier, WindowLimiter
from klaviyo_http.pacing import DAY_SECONDS, DailyQuotaSpent
from klaviyo_sandbox.app import make_app
from klaviyo_sandbox.endpoints import PREDICTIVE_TIER
from klaviyo_sandbox.routing import SANDBOX_KEY


@cache  # the sandbox assembled once: it was 35 times per process, 34 of them at collection
def sandbox_tiers() -> dict[str, tuple[int, int]]:
    """Every /api route's tier as the assembled sandbox serves it (each route module adds its own)."""
    sandbox = {name: (tier.burst, tier.steady) for name, tier in make_app()[SANDBOX_KEY].tiers.items()}
    sandbox["get_profiles:predictive_analytics"] = (PREDICTIVE_TIER.burst, PREDICTIVE_TIER.steady)
    return sandbox


@pytest.mark.parametrize("endpoint", sorted(name for name in TIERS if name in sandbox_tiers()))
def test_tier_table_matches_klaviyo_as_the_sandbox_serves_it(endpoint):
    # The sandbox's table is read from the SDK's docstrings for revision 2026-10-15 (the klaviyo-api package).
    assert (TIERS[endpoint].burst, TIERS[endpoint].steady) == sandbox_tiers()[endpoint]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_burst_window_paces_to_the_next_second():
    clock = FakeClock()
    limiter = WindowLimiter(Tier(3, 60), clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 1.0 <= waits[3] < 1.1 and waits[4] == waits[5] == 0.0
    assert clock.now - 1000.0 < 2.2  # 7 requests at 3/s: two window turns


def test_steady_window_caps_a_minute():
    clock = FakeClock()
    limiter = WindowLimiter(Tier(10, 15), clock=clock, sleep=clock.sleep)
    for _ in range(15):
        limiter.acquire()
    start = clock.now
    limiter.acquire()
    assert clock.now - start >= 58.0  # the 16th waits for the 60-second window to turn


def test_server_view_lowers_what_is_left():
    clock = FakeClock()
    limiter = WindowLimiter(Tier(100, 150), clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(remaining=0, reset=30)  # another client used the account's quota
    start = clock.now
    limiter.acquire()
    assert 29.0 <= clock.now - start <= 31.0


def test_a_spent_daily_quota_raises_at_once_and_never_sleeps():
    clock = FakeClock()
    slept: list[float] = []
    limiter = WindowLimiter(Tier(100, 100, daily=3), clock=clock, sleep=slept.append, wall_clock=clock)
    for _ in range(3):
        limiter.acquire()
    assert limiter.daily_remaining() == 0
    with pytest.raises(DailyQuotaSpent) as spent:
        limiter.acquire()
    assert spent.value.retry_after == pytest.approx(DAY_SECONDS)
    assert slept == []


def test_requests_of_earlier_runs_count_and_age_out_after_a_day():
    clock = FakeClock()
    limiter = WindowLimiter(Tier(100, 100, daily=5), clock=clock, sleep=clock.sleep, wall_clock=clock)
    limiter.seed_daily([clock.now - DAY_SECONDS + 10, clock.now - 100, clock.now - 50])
    assert limiter.daily_remaining() == 2
    clock.now += 11  # the oldest is now more than a day old
    assert limiter.daily_remaining() == 3
    assert len(limiter.daily_requests()) == 2


def test_a_server_saying_the_day_is_spent_is_believed():
    clock = FakeClock()
    limiter = WindowLimiter(Tier(100, 100, daily=225), clock=clock, sleep=clock.sleep, wall_clock=clock)
    limiter.acquire()
    limiter.spend_daily()  # another private-key integration of the account used the quota
    assert limiter.daily_remaining() == 0
