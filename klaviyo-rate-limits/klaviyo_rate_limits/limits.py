"""Pacing under Klaviyo's fixed windows: one limiter per (account, endpoint), shared by every thread.

Klaviyo counts requests in a 1-second and a 60-second fixed window per account and endpoint. The limiter
keeps its own count of both windows and waits before a request would exceed either, so a healthy run
sees no 429 at all; the server's `RateLimit-Remaining`/`RateLimit-Reset` correct it when another client
shares the account's quota, and `Retry-After` (handled by the stream's backoff) remains the last word.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .tiers import Tier

BURST_SECONDS = 1.0
STEADY_SECONDS = 60.0


class WindowLimiter:
    """Blocks in `acquire()` until one more request fits both windows of one tier."""

    def __init__(
        self, tier: Tier, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.tier = tier
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._burst_start = self._steady_start = -1e18
        self._burst_count = self._steady_count = 0

    def acquire(self) -> float:
        """Wait for room, count the request; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                if now - self._burst_start >= BURST_SECONDS:
                    self._burst_start, self._burst_count = now, 0
                if now - self._steady_start >= STEADY_SECONDS:
                    self._steady_start, self._steady_count = now, 0
                wait = 0.0
                if self._burst_count >= self.tier.burst:
                    wait = self._burst_start + BURST_SECONDS - now
                if self._steady_count >= self.tier.steady:
                    wait = max(wait, self._steady_start + STEADY_SECONDS - now)
                if wait <= 0:
                    self._burst_count += 1
                    self._steady_count += 1
                    return waited
            # Our windows start when we first send, the server's when it first receives: a little slack.
            wait += 0.02
            self._sleep(wait)
            waited += wait

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
    """The limiters of a run, created on first use."""

    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], WindowLimiter] = {}

    def get(self, account_id: str, endpoint: str, tier: Tier) -> WindowLimiter:
        with self._lock:
            limiter = self._limiters.get((account_id, endpoint))
            if limiter is None:
                scaled = Tier(max(1, int(tier.burst * self._scale)), max(1, int(tier.steady * self._scale)))
                limiter = self._limiters[(account_id, endpoint)] = WindowLimiter(scaled)
            return limiter
