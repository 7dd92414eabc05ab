"""Unit tests for klaviyo_sandbox.tiers and klaviyo_sandbox.ratelimit, driven by a fake clock."""

from __future__ import annotations

import pytest

from klaviyo_sandbox.ratelimit import Decision, RateLimiter
from klaviyo_sandbox.tiers import L750, XL, XS, L, M, S, Tier, parse_tier, scaled


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock=clock)


def burst_of(limiter: RateLimiter, n: int, tier: Tier, account: str = "acct", bucket: str = "b") -> list[Decision]:
    return [limiter.check(account, bucket, tier) for _ in range(n)]


# --- tiers -----------------------------------------------------------------------------------


def test_tier_table_matches_klaviyo() -> None:
    assert (
        Tier(1, 15),
        Tier(3, 60),
        Tier(10, 150),
        Tier(75, 700),
        Tier(75, 750),
        Tier(350, 3500),
    ) == (XS, S, M, L, L750, XL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("75/s 750/m", Tier(75, 750)),
        ("1/s 15/m", XS),
        ("  350/s   3500/m ", XL),
        ("10/s, 150/min", M),
        ("3/S 60/M", S),
    ],
)
def test_parse_tier(text: str, expected: Tier) -> None:
    assert parse_tier(text) == expected


@pytest.mark.parametrize("text", ["", "75", "75/s", "750/m", "75/m 750/s", "x/s 1/m", "-1/s 5/m", "0/s 5/m", "5/s 0/m"])
def test_parse_tier_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tier(text)


def test_scaled_multiplies_both_limits() -> None:
    assert scaled(M, 0.1) == Tier(1, 15)
    assert scaled(L, 0.1) == Tier(7, 70)
    assert scaled(XL, 2) == Tier(700, 7000)
    assert scaled(L750, 1.0) == L750


def test_scaled_never_below_one() -> None:
    assert scaled(XS, 0.1) == Tier(1, 1)
    assert scaled(S, 0.001) == Tier(1, 1)


@pytest.mark.parametrize("scale", [0, -1, float("nan")])
def test_scaled_rejects_non_positive_scale(scale: float) -> None:
    with pytest.raises(ValueError):
        scaled(M, scale)


# --- burst window --------------------------------------------------------------------------------


def test_burst_refuses_burst_plus_one_within_a_second(limiter: RateLimiter, clock: FakeClock) -> None:
    decisions = []
    for _ in range(M.burst):
        decisions.append(limiter.check("acct", "b", M))
        clock.advance(0.09)  # all ten inside the first 0.9 s
    assert all(d.allowed for d in decisions)
    refused = limiter.check("acct", "b", M)
    assert not refused.allowed
    assert refused.retry_after == 1


def test_burst_recovers_after_the_second(limiter: RateLimiter, clock: FakeClock) -> None:
    burst_of(limiter, M.burst, M)
    clock.advance(0.999)
    assert not limiter.check("acct", "b", M).allowed
    clock.advance(0.001)  # exactly one second after the window opened: it is closed
    assert limiter.check("acct", "b", M).allowed


def test_burst_window_is_fixed_not_sliding(limiter: RateLimiter, clock: FakeClock) -> None:
    # One request opens the window at t=0; nine more at t=0.9 fill it. At t=1.0 a new window
    # opens with room for a full burst, which a sliding window would not allow.
    limiter.check("acct", "b", M)
    clock.advance(0.9)
    assert all(d.allowed for d in burst_of(limiter, M.burst - 1, M))
    assert not limiter.check("acct", "b", M).allowed
    clock.advance(0.1)
    assert all(d.allowed for d in burst_of(limiter, M.burst, M))
    assert not limiter.check("acct", "b", M).allowed


# --- steady window --------------------------------------------------------------------------------


def test_steady_refuses_after_steady_requests_over_seconds(limiter: RateLimiter, clock: FakeClock) -> None:
    # S: 3/s 60/m. Twenty seconds of three requests each use up the minute without hitting the burst.
    for _ in range(20):
        assert all(d.allowed for d in burst_of(limiter, S.burst, S))
        clock.advance(1.0)
    # Now t = 20 s into the steady window, with every burst window fresh.
    refused = limiter.check("acct", "b", S)
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == 40
    assert refused.reset == 40
    clock.advance(39.5)
    late = limiter.check("acct", "b", S)
    assert not late.allowed and late.retry_after == 1
    clock.advance(0.5)  # t = 60 s: the steady window is over
    again = limiter.check("acct", "b", S)
    assert again.allowed
    assert again.remaining == S.steady - 1
    assert again.reset == 60


def test_retry_after_rounds_up(limiter: RateLimiter, clock: FakeClock) -> None:
    burst_of(limiter, XS.burst, XS)
    for _ in range(XS.steady - 1):
        clock.advance(1.0)
        assert limiter.check("acct", "b", XS).allowed
    clock.advance(1.0)  # t = 15 s; steady window (opened at t=0) resets at t=60
    assert limiter.check("acct", "b", XS).retry_after == 45
    clock.advance(0.25)
    refused = limiter.check("acct", "b", XS)
    assert refused.retry_after == 45  # 44.75 s rounds up
    assert refused.reset == 45


def test_retry_after_is_the_later_of_both_blocking_windows(limiter: RateLimiter, clock: FakeClock) -> None:
    # Fill the steady window of XS (15/m) and the burst window at the same time: the wait is the steady one.
    for i in range(XS.steady):
        assert limiter.check("acct", "b", XS).allowed
        clock.advance(1.0 if i < XS.steady - 1 else 0.5)
    # t = 14.5: the burst window opened at t=14 is still open and full, and the steady window is full too.
    refused = limiter.check("acct", "b", XS)
    assert not refused.allowed
    assert refused.retry_after == 46  # 45.5 s rounds up


# --- RateLimit numbers ------------------------------------------------------------------------


def test_ratelimit_numbers_for_allowed_requests(limiter: RateLimiter, clock: FakeClock) -> None:
    first = limiter.check("acct", "b", L)
    assert first == Decision(True, 700, 699, 60, 0)
    clock.advance(0.5)
    second = limiter.check("acct", "b", L)
    assert (second.limit, second.remaining, second.reset, second.retry_after) == (700, 698, 60, 0)  # 59.5 -> 60
    clock.advance(10.0)
    third = limiter.check("acct", "b", L)
    assert (third.remaining, third.reset) == (697, 50)  # 49.5 -> 50


def test_reset_is_at_least_one(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.check("acct", "b", L)
    clock.advance(59.9999)
    assert limiter.check("acct", "b", L).reset == 1


def test_remaining_never_negative(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(5):
        decisions = burst_of(limiter, XS.burst + 3, XS)
        assert all(d.remaining >= 0 for d in decisions)
        clock.advance(1.0)
    for _ in range(30):
        assert limiter.check("acct", "b", XS).remaining >= 0
        clock.advance(1.0)


def test_refused_requests_count_in_neither_window(limiter: RateLimiter, clock: FakeClock) -> None:
    # Burst refusals do not eat the steady quota: after many refusals, the minute still holds 60.
    total_allowed = 0
    for _ in range(20):
        decisions = burst_of(limiter, 50, S)  # 47 refusals per second
        total_allowed += sum(d.allowed for d in decisions)
        clock.advance(1.0)
    assert total_allowed == S.steady
    refused = limiter.check("acct", "b", S)
    assert not refused.allowed and refused.remaining == 0 and refused.retry_after == 40


def test_refused_request_keeps_remaining(limiter: RateLimiter) -> None:
    burst_of(limiter, M.burst, M)
    refused = limiter.check("acct", "b", M)
    assert not refused.allowed
    assert refused.remaining == M.steady - M.burst  # the refusal did not count
    assert refused.limit == M.steady


# --- independence ----------------------------------------------------------------------------


def test_accounts_are_independent(limiter: RateLimiter) -> None:
    burst_of(limiter, M.burst, M, account="a")
    assert not limiter.check("a", "b", M).allowed
    other = limiter.check("z", "b", M)
    assert other.allowed and other.remaining == M.steady - 1


def test_buckets_are_independent(limiter: RateLimiter) -> None:
    burst_of(limiter, XS.burst, XS, bucket="accounts")
    assert not limiter.check("acct", "accounts", XS).allowed
    assert limiter.check("acct", "events", XL).allowed
    assert limiter.check("acct", "flows", XS).allowed


def test_reset_forgets_windows(limiter: RateLimiter) -> None:
    burst_of(limiter, XS.burst, XS)
    assert not limiter.check("acct", "b", XS).allowed
    limiter.reset()
    assert limiter.check("acct", "b", XS) == Decision(True, 15, 14, 60, 0)


def test_memory_is_one_entry_per_pair(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(100):
        limiter.check("a", "x", XL)
        limiter.check("a", "y", XL)
        limiter.check("b", "x", XL)
        clock.advance(1.7)
    assert len(limiter._windows) == 3


# --- scale -------------------------------------------------------------------------------------


def test_scale_tenth(clock: FakeClock) -> None:
    limiter = RateLimiter(scale=0.1, clock=clock)
    # L at 0.1: 7/s 70/m.
    decisions = burst_of(limiter, 8, L)
    assert [d.allowed for d in decisions] == [True] * 7 + [False]
    assert decisions[0].limit == 70
    assert decisions[6].remaining == 63
    for _ in range(9):
        clock.advance(1.0)
        assert sum(d.allowed for d in burst_of(limiter, 7, L)) == 7
    clock.advance(1.0)
    refused = limiter.check("acct", "b", L)
    assert not refused.allowed and refused.retry_after == 50


def test_scale_tenth_floors_at_one(clock: FakeClock) -> None:
    limiter = RateLimiter(scale=0.1, clock=clock)
    # XS at 0.1 would be 0.1/s 1.5/m: it stays usable at 1/s 1/m.
    assert limiter.check("acct", "b", XS).allowed
    clock.advance(5.0)
    refused = limiter.check("acct", "b", XS)
    assert not refused.allowed and refused.limit == 1 and refused.retry_after == 55


def test_scale_zero_is_unlimited(clock: FakeClock) -> None:
    limiter = RateLimiter(scale=0, clock=clock)
    decisions = burst_of(limiter, 1000, XS)
    assert all(d.allowed for d in decisions)
    assert all(d.limit == XS.steady and d.remaining == XS.steady and d.retry_after == 0 for d in decisions)
    assert all(d.reset >= 1 for d in decisions)


@pytest.mark.parametrize("scale", [-0.5, float("nan")])
def test_bad_scale_rejected(scale: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(scale=scale)


def test_default_clock_is_real_time() -> None:
    limiter = RateLimiter()
    assert limiter.check("acct", "b", XS).allowed
    assert not limiter.check("acct", "b", XS).allowed


# --- daily window (the Reporting API's 225/d) ------------------------------------------------------

REPORTS = Tier(1, 2, daily=225)  # SDK docstrings of ReportingApi: Burst 1/s, Steady 2/m, Daily 225/d
TINY_DAILY = Tier(1, 2, daily=3)


def use_steady_minutes(limiter: RateLimiter, clock: FakeClock, tier: Tier, requests: int) -> list[Decision]:
    """`requests` requests 30 s apart: two per minute (the steady limit), one per second (the burst)."""
    decisions = []
    for _ in range(requests):
        decisions.append(limiter.check("acct", "r", tier))
        clock.advance(30.0)
    return decisions


def test_tiers_without_daily_have_none() -> None:
    assert XS.daily is None and parse_tier("1/s 2/m").daily is None
    assert (REPORTS.burst, REPORTS.steady, REPORTS.daily) == (1, 2, 225)


def test_daily_quota_refuses_after_quota_requests_with_retry_after_to_the_daily_reset(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    decisions = use_steady_minutes(limiter, clock, TINY_DAILY, 3)
    assert all(d.allowed for d in decisions)
    # t = 90 s: burst and steady windows have room; the day does not.
    refused = limiter.check("acct", "r", TINY_DAILY)
    assert not refused.allowed and refused.daily
    assert refused.retry_after == 86_400 - 90
    clock.advance(86_400 - 90 - 0.5)
    late = limiter.check("acct", "r", TINY_DAILY)
    assert not late.allowed and late.daily and late.retry_after == 1
    clock.advance(0.5)  # 24 h after the first request: a new day
    again = limiter.check("acct", "r", TINY_DAILY)
    assert again.allowed and not again.daily


def test_daily_quota_of_225_lasts_225_requests(limiter: RateLimiter, clock: FakeClock) -> None:
    decisions = use_steady_minutes(limiter, clock, REPORTS, 226)
    assert [d.allowed for d in decisions] == [True] * 225 + [False]
    assert decisions[-1].daily
    # 225 requests at 30 s spacing opened the day at t=0; the refusal came at t = 225 * 30 s.
    assert decisions[-1].retry_after == 86_400 - 225 * 30


def test_burst_refusal_is_not_a_daily_refusal(limiter: RateLimiter) -> None:
    assert limiter.check("acct", "r", REPORTS).allowed
    refused = limiter.check("acct", "r", REPORTS)
    assert not refused.allowed and not refused.daily and refused.retry_after == 1


def test_refusals_do_not_use_the_daily_quota(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        assert limiter.check("acct", "r", TINY_DAILY).allowed
        assert not any(d.allowed for d in burst_of(limiter, 5, TINY_DAILY, bucket="r"))  # burst refusals
        clock.advance(30.0)
    assert limiter.check("acct", "r", TINY_DAILY).daily


def test_daily_quota_is_per_account_and_bucket(limiter: RateLimiter, clock: FakeClock) -> None:
    use_steady_minutes(limiter, clock, TINY_DAILY, 3)
    assert limiter.check("acct", "r", TINY_DAILY).daily
    assert limiter.check("other", "r", TINY_DAILY).allowed
    assert limiter.check("acct", "other_report", TINY_DAILY).allowed


def test_reset_forgets_the_daily_window(limiter: RateLimiter, clock: FakeClock) -> None:
    use_steady_minutes(limiter, clock, TINY_DAILY, 3)
    assert limiter.check("acct", "r", TINY_DAILY).daily
    limiter.reset()
    assert limiter.check("acct", "r", TINY_DAILY).allowed


def test_scale_multiplies_the_daily_quota_never_below_one(clock: FakeClock) -> None:
    assert scaled(REPORTS, 0.1) == Tier(1, 1, 22)
    assert scaled(REPORTS, 4) == Tier(4, 8, 900)
    assert scaled(Tier(1, 2, 1), 0.01) == Tier(1, 1, 1)
    limiter = RateLimiter(scale=0.001, clock=clock)
    assert limiter.check("acct", "r", REPORTS).allowed
    clock.advance(61.0)
    refused = limiter.check("acct", "r", REPORTS)
    assert not refused.allowed and refused.daily and refused.retry_after == 86_400 - 61


def test_scale_zero_has_no_daily_quota(clock: FakeClock) -> None:
    limiter = RateLimiter(scale=0, clock=clock)
    assert all(d.allowed for d in burst_of(limiter, 500, TINY_DAILY))
