"""Fault injection: 5xx errors, connection resets, slow responses and 429 storms, decided per API request."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from klaviyo_sandbox.settings import FaultSettings

__all__ = ["ERROR_STATUSES", "Fault", "FaultInjector"]

ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)

# See ratelimit: rounding up whole seconds must not be fooled by float noise.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # "error" | "reset" | "slow" | "storm"
    status: int = 0  # for "error": 500, 502 or 503 (chosen at random, evenly)
    delay_s: float = 0.0  # for "slow": extra delay in seconds
    retry_after: int = 0  # for "storm": whole seconds until the storm ends, rounded up, >= 1


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"fault {name} must be within 0..1, got {value!r}")


class FaultInjector:
    """Decides, before the handler runs, whether (and how) a request fails.

    Its own seeded Random makes a run repeatable for the same request order. Storm state is one
    end time per account currently (or recently) in a storm, so memory is bounded by accounts.
    """

    def __init__(self, settings: FaultSettings, clock: Callable[[], float] = time.monotonic) -> None:
        for name in ("error_share", "reset_share", "slow_share", "storm_share"):
            _check_share(name, getattr(settings, name))
        # error/reset/slow are exclusive outcomes of one draw, so their shares must fit in 1.
        self._error_cut = settings.error_share
        self._reset_cut = self._error_cut + settings.reset_share
        self._slow_cut = self._reset_cut + settings.slow_share
        if self._slow_cut > 1.0 + _EPSILON:
            raise ValueError(f"error_share + reset_share + slow_share must be <= 1, got {self._slow_cut!r}")
        if settings.slow_ms < 0 or settings.storm_seconds < 0:
            raise ValueError("slow_ms and storm_seconds must be >= 0")
        self._settings = settings
        self._clock = clock
        self._rng = random.Random(settings.seed)
        self._slow = Fault("slow", delay_s=settings.slow_ms / 1000.0)
        self._reset = Fault("reset")
        self._errors = {status: Fault("error", status=status) for status in ERROR_STATUSES}
        self._storm_ends: dict[str, float] = {}  # account id -> clock time its storm ends
        self._enabled = self._slow_cut > 0 or settings.storm_share > 0

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    @property
    def enabled(self) -> bool:
        """False when every share is 0; the app then skips decide() on the hot path."""
        return self._enabled

    def _storm(self, end: float, now: float) -> Fault:
        return Fault("storm", retry_after=max(1, math.ceil(end - now - _EPSILON)))

    def decide(self, account_id: str | None) -> Fault | None:
        """The fault for this request, or None to serve it normally."""
        settings = self._settings
        # Unauthenticated requests (account None) have no quota to storm on.
        if account_id is not None and (self._storm_ends or settings.storm_share > 0):
            now = self._clock()
            end = self._storm_ends.get(account_id)
            if end is not None:
                if now < end:
                    return self._storm(end, now)
                del self._storm_ends[account_id]
            # Zero shares draw nothing, so turning one fault kind on does not reshuffle the others' sequence.
            if settings.storm_share > 0 and self._rng.random() < settings.storm_share:
                end = now + settings.storm_seconds
                self._storm_ends[account_id] = end
                return self._storm(end, now)  # the request that starts the storm is throttled too

        if self._slow_cut <= 0:
            return None
        draw = self._rng.random()
        if draw < self._error_cut:
            return self._errors[self._rng.choice(ERROR_STATUSES)]
        if draw < self._reset_cut:
            return self._reset
        if draw < self._slow_cut:
            return self._slow
        return None
