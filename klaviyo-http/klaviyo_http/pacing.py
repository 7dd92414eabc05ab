"""Pacing under Klaviyo's windows: one limiter per (account id, endpoint), shared by every thread.

Klaviyo counts requests in a 1-second and a 60-second fixed window per account and endpoint, and for some
endpoints (the Reporting API) in a day as well. The limiter keeps its own count of each window and waits
before a request would exceed the burst or steady window, so a healthy run sees no 429 at all; the server's
`RateLimit-Remaining`/`RateLimit-Reset` correct it when another client shares the account's quota.

A daily quota is never waited for: when it is spent, `acquire()` raises `DailyQuotaSpent` at once. Requests of
earlier runs count too (`seed_daily`), since the morning and evening runs share a day; the window is a rolling
24 hours, which is never more generous than a calendar day.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from .tiers import Tier

BURST_SECONDS = 1.0
STEADY_SECONDS = 60.0
DAY_SECONDS = 86_400.0


class DailyQuotaSpent(Exception):
    """The limiter's signal to the client, which raises `QuotaExhaustedError` naming account and endpoint."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"daily quota spent; frees up in {retry_after:.0f} s")
        self.retry_after = retry_after


class WindowLimiter:
    """Blocks in `acquire()` until one more request fits the burst and steady windows of one tier."""

    def __init__(
        self,
        tier: Tier,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.tier = tier
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._burst_start = self._steady_start = -1e18
        self._burst_count = self._steady_count = 0
        self._day: deque[float] = deque()  # wall-clock times of the requests of the last 24 hours

    def acquire(self) -> float:
        """Wait for room, count the request; returns the seconds waited. Raises `DailyQuotaSpent`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                if now - self._burst_start >= BURST_SECONDS:
                    self._burst_start, self._burst_count = now, 0
                if now - self._steady_start >= STEADY_SECONDS:
                    self._steady_start, self._steady_count = now, 0
                if self.tier.daily is not None:
                    spent_for = self._daily_wait()
                    if spent_for > 0:
                        raise DailyQuotaSpent(spent_for)
                wait = 0.0
                if self._burst_count >= self.tier.burst:
                    wait = self._burst_start + BURST_SECONDS - now
                if self._steady_count >= self.tier.steady:
                    wait = max(wait, self._steady_start + STEADY_SECONDS - now)
                if wait <= 0:
                    self._burst_count += 1
                    self._steady_count += 1
                    if self.tier.daily is not None:
                        self._day.append(self._wall_clock())
                    return waited
            # Our windows start when we first send, the server's when it first receives: a little slack.
            wait += 0.02
            self._sleep(wait)
            waited += wait

    def _daily_wait(self) -> float:
        """Seconds until one more request fits the day (0 when it fits now). Called holding the lock."""
        assert self.tier.daily is not None
        now = self._wall_clock()
        while self._day and self._day[0] <= now - DAY_SECONDS:
            self._day.popleft()
        if len(self._day) < self.tier.daily:
            return 0.0
        return self._day[len(self._day) - self.tier.daily] + DAY_SECONDS - now

    def daily_remaining(self) -> int | None:
        """Requests left in the last 24 hours' quota (None where the endpoint has no daily quota)."""
        if self.tier.daily is None:
            return None
        with self._lock:
            self._daily_wait()
            return max(0, self.tier.daily - len(self._day))

    def daily_requests(self) -> list[float]:
        """Wall-clock times of this quota's requests in the last 24 hours (what the next run must count)."""
        with self._lock:
            if self.tier.daily is not None:
                self._daily_wait()
            return list(self._day)

    def seed_daily(self, times: Iterable[float]) -> None:
        """Count requests made by earlier runs (wall-clock times) against the daily quota."""
        with self._lock:
            self._day = deque(sorted({*self._day, *times}))

    def spend_daily(self) -> None:
        """The server says the day's quota is spent (a 429 with a long Retry-After): count it as spent."""
        if self.tier.daily is None:
            return
        with self._lock:
            now = self._wall_clock()
            while len(self._day) < self.tier.daily:
                self._day.append(now)

    def observe(self, remaining: int | None, reset: int | None) -> None:
        """Adopt the server's view of the steady window when it has fewer requests left than we think."""
        if remaining is None or reset is None:
            return
        with self._lock:
            if remaining < self.tier.steady - self._steady_count:
                # Someone else uses this account's quota: treat the window as ending when the server says.
                self._steady_count = self.tier.steady - remaining
                self._steady_start = self._clock() + reset - STEADY_SECONDS


class Limiters:
    """The limiters of a run, created on first use; `scale` multiplies every tier (at least 1 request)."""

    def __init__(
        self,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._scale = scale
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], WindowLimiter] = {}

    def get(self, account_id: str, endpoint: str, tier: Tier) -> WindowLimiter:
        """The limiter of (account id, endpoint): Klaviyo's limits are per account and endpoint."""
        with self._lock:
            limiter = self._limiters.get((account_id, endpoint))
            if limiter is None:
                scaled = Tier(
                    max(1, int(tier.burst * self._scale)),
                    max(1, int(tier.steady * self._scale)),
                    None if tier.daily is None else max(1, int(tier.daily * self._scale)),
                )
                limiter = self._limiters[(account_id, endpoint)] = WindowLimiter(scaled, self._clock, self._sleep)
            return limiter
