"""The Reporting API's daily quota, per account and report endpoint, across runs.

Klaviyo allows each report endpoint 225 requests a day per account, besides 1/s and 2/min (the SDK's docstrings:
"Burst: 1/s, Steady: 2/m, Daily: 225/d"), and a client over it was told to wait 67,608 s
(https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling). The morning and evening runs share a day,
so a run must count the requests of earlier runs: each report stream keeps, in its partition's state, the wall-clock
times of its requests of the last 24 hours (`report_requests`) and, when Klaviyo refused one for the day, when it
said the quota frees up (`quota_spent_until`). A run starts from them (and seeds klaviyo_http's limiter with them,
which paces the 1/s and 2/min and stops at the daily quota), plans only what is left, and never waits for the quota:
what does not fit is left, with the bookmark where the run got to, for a later run."""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass, field

from klaviyo_http import TIERS

DAY_SECONDS = 86_400.0
DAILY_QUOTA = t.cast("int", TIERS["query_campaign_values"].daily)  # every report endpoint's (klaviyo_http.tiers)

REQUESTS_KEY = "report_requests"
SPENT_UNTIL_KEY = "quota_spent_until"


def daily_limit(quota: int, rate_limit_scale: float) -> int:
    """The quota a run plans with: scaled like klaviyo_http's tiers (`rate_limit_scale`, at least 1), or as set
    when pacing is off (scale 0)."""
    if rate_limit_scale <= 0:
        return max(1, quota)
    return max(1, int(quota * rate_limit_scale))


@dataclass
class DailyBudget:
    """One account's requests to one report endpoint in the last 24 hours, against its daily quota."""

    limit: int
    times: list[float] = field(default_factory=list)  # wall-clock seconds, oldest first
    spent_until: float | None = None  # Klaviyo said the quota is spent until then (a long Retry-After)

    @classmethod
    def from_state(cls, state: t.Mapping[str, t.Any], limit: int, now: float) -> DailyBudget:
        times = sorted(float(x) for x in state.get(REQUESTS_KEY) or () if isinstance(x, int | float))
        spent = state.get(SPENT_UNTIL_KEY)
        budget = cls(limit, times, float(spent) if isinstance(spent, int | float) else None)
        budget._forget(now)
        return budget

    def _forget(self, now: float) -> None:
        self.times = [x for x in self.times if x > now - DAY_SECONDS]
        if self.spent_until is not None and self.spent_until <= now:
            self.spent_until = None

    def remaining(self, now: float) -> int:
        """Requests that fit the quota now."""
        self._forget(now)
        if self.spent_until is not None:
            return 0
        return max(0, self.limit - len(self.times))

    def frees_in(self, now: float) -> float:
        """Seconds until one more request fits (0 when one fits now)."""
        self._forget(now)
        wait = 0.0
        if self.spent_until is not None:
            wait = self.spent_until - now
        if len(self.times) >= self.limit:
            wait = max(wait, self.times[len(self.times) - self.limit] + DAY_SECONDS - now)
        return max(0.0, wait)

    def take(self, now: float) -> None:
        """Count a request about to be sent."""
        self.times.append(now)

    def give_back(self, when: float) -> None:
        """A counted request that Klaviyo did not serve (refused for the quota, or never sent)."""
        if when in self.times:
            self.times.remove(when)

    def refused(self, now: float, retry_after: float) -> None:
        """Klaviyo (or the limiter) says the quota is spent for `retry_after` seconds."""
        self.spent_until = max(self.spent_until or 0.0, now + retry_after)

    def state(self, now: float) -> dict[str, t.Any]:
        """What the partition's state keeps for the next run (times to the second, rounded up: never too early)."""
        self._forget(now)
        kept: dict[str, t.Any] = {REQUESTS_KEY: [math.ceil(x) for x in self.times]}
        if self.spent_until is not None:
            kept[SPENT_UNTIL_KEY] = math.ceil(self.spent_until)
        return kept


def left_for_tomorrow(stream: str, account: str, left: int, planned: int, endpoint: str, frees_in: float) -> str:
    """The one line a run logs for an account's report stream it could not finish within the quota."""
    return (
        f"{stream} for '{account}': {left} of {planned} requests left for tomorrow "
        f"(daily quota of {endpoint} spent; frees up in {frees_in:,.0f} s)"
    )
