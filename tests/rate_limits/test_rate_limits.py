"""The shared tier table (tap and target) and its pacing."""

from __future__ import annotations

import pytest

from klaviyo_rate_limits import TIERS, Tier, WindowLimiter
from klaviyo_sandbox.endpoints import ENDPOINTS, PREDICTIVE_TIER, WRITE_TIERS


@pytest.mark.parametrize("endpoint", sorted(TIERS))
def test_tier_table_matches_klaviyo_as_the_sandbox_serves_it(endpoint):
    # The sandbox's table is read from the SDK's docstrings for revision 2026-10-15 (shared/reference).
    sandbox = {e.name: (e.tier.burst, e.tier.steady) for e in ENDPOINTS}
    sandbox.update({name: (tier.burst, tier.steady) for name, tier in WRITE_TIERS.items()})
    sandbox["get_profiles:predictive_analytics"] = (PREDICTIVE_TIER.burst, PREDICTIVE_TIER.steady)
    assert (TIERS[endpoint].burst, TIERS[endpoint].steady) == sandbox[endpoint]


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
