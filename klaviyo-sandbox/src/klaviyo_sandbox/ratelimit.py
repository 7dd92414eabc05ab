"""Klaviyo's rate limiting: a burst (1 s) and a steady (60 s) fixed window per (account, endpoint bucket), plus a
daily (24 h) fixed window for the tiers that have one (the Reporting API's 225/d)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from klaviyo_sandbox.tiers import Tier, scaled

__all__ = ["BURST_SECONDS", "DAILY_SECONDS", "STEADY_SECONDS", "Decision", "RateLimiter"]

BURST_SECONDS = 1.0
STEADY_SECONDS = 60.0
# A fixed window opened by the first request, as the other two are. Real Klaviyo once answered a client over its
# daily report quota with Retry-After: 67608 (sync-completeness.md, Reporting API): the rest of such a window.
DAILY_SECONDS = 86_400.0

# Seconds-until-reset are rounded up; without a tolerance, 59.99999999 - 58.99999999 style float
# noise (e.g. 1.0000000000002) would round a whole second up to the next one.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the steady limit (for the RateLimit-Limit header)
    remaining: int  # steady requests left in the current steady window after this one (>= 0)
    reset: int  # whole seconds until the steady window resets, rounded up, >= 1 (RateLimit-Reset)
    retry_after: int  # when refused: whole seconds (rounded up, >= 1) until the blocking window resets; else 0
    daily: bool = False  # refused because the daily quota is used up (Retry-After then runs to the daily reset)


def _ceil_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds - _EPSILON))


class _Windows:
    """The open windows of one (account, bucket) pair; mutable and slotted to keep checks cheap."""

    __slots__ = (
        "burst_count",
        "burst_limit",
        "burst_start",
        "daily_count",
        "daily_limit",
        "daily_start",
        "steady_count",
        "steady_limit",
        "steady_start",
        "tier",
    )

    def __init__(self, tier: Tier, limits: Tier) -> None:
        self.tier = tier  # the unscaled tier these limits were computed from
        self.burst_limit = limits.burst
        self.steady_limit = limits.steady
        self.daily_limit = limits.daily  # None: no daily window
        # -inf start: "no open window", so the first request opens them.
        self.burst_start = -math.inf
        self.burst_count = 0
        self.steady_start = -math.inf
        self.steady_count = 0
        self.daily_start = -math.inf
        self.daily_count = 0


class RateLimiter:
    """Decides each request against its account's and endpoint bucket's fixed windows (burst, steady, daily).

    Called from a single asyncio thread, so no locking. Memory is one small object per
    (account, bucket) pair ever seen; windows are reused, never accumulated.
    """

    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not scale >= 0:  # also rejects NaN
            raise ValueError(f"rate-limit scale must be >= 0, got {scale!r}")
        self._scale = scale
        self._clock = clock
        self._windows: dict[tuple[str, str], _Windows] = {}

    @property
    def scale(self) -> float:
        return self._scale

    def reset(self) -> None:
        """Forget every window (tests call this between runs)."""
        self._windows.clear()

    def check(self, account_id: str, bucket: str, tier: Tier) -> Decision:
        """Count one request if every window has room; refused requests leave no trace."""
        if self._scale == 0:
            # Unlimited: still report the real (unscaled) numbers so clients see plausible headers.
            return Decision(True, tier.steady, tier.steady, int(STEADY_SECONDS), 0)

        now = self._clock()
        key = (account_id, bucket)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = _Windows(tier, scaled(tier, self._scale))
        elif win.tier is not tier and win.tier != tier:
            # A bucket's tier changed (e.g. a reconfigured route): adopt the new limits, keep the counts.
            limits = scaled(tier, self._scale)
            win.tier, win.burst_limit, win.steady_limit = tier, limits.burst, limits.steady
            win.daily_limit = limits.daily

        # A window expired at exactly start + length; a request then finds no open window and would
        # open a fresh one. Compute that view without committing it: a refused request changes nothing.
        burst_open = now - win.burst_start < BURST_SECONDS
        steady_open = now - win.steady_start < STEADY_SECONDS
        daily_open = now - win.daily_start < DAILY_SECONDS
        burst_count = win.burst_count if burst_open else 0
        steady_count = win.steady_count if steady_open else 0
        daily_count = win.daily_count if daily_open else 0
        steady_limit = win.steady_limit

        burst_full = burst_count >= win.burst_limit
        steady_full = steady_count >= steady_limit
        daily_full = win.daily_limit is not None and daily_count >= win.daily_limit
        if burst_full or steady_full or daily_full:
            # Every window must have room, so wait for the latest of the blocking windows to reset.
            wait = 0.0
            if burst_full:
                wait = win.burst_start + BURST_SECONDS - now
            if steady_full:
                wait = max(wait, win.steady_start + STEADY_SECONDS - now)
            if daily_full:
                wait = max(wait, win.daily_start + DAILY_SECONDS - now)
            reset = _ceil_seconds(win.steady_start + STEADY_SECONDS - now) if steady_open else int(STEADY_SECONDS)
            # max(): a tier lowered mid-window can leave more counted than the new limit.
            remaining = max(0, steady_limit - steady_count)
            return Decision(False, steady_limit, remaining, reset, _ceil_seconds(wait), daily_full)

        if not burst_open:
            win.burst_start = now
        if not steady_open:
            win.steady_start = now
        if not daily_open:
            win.daily_start = now
        win.burst_count = burst_count + 1
        win.daily_count = daily_count + 1
        steady_count += 1
        win.steady_count = steady_count
        reset = _ceil_seconds(win.steady_start + STEADY_SECONDS - now)
        return Decision(True, steady_limit, steady_limit - steady_count, reset, 0)
