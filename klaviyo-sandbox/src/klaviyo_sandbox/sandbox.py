"""One running sandbox: its accounts, rate limiter, injected faults, latency, counters and request log.

The web layer (transport.py, the route modules) reads and changes it through `routing.sandbox_of(request)`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict, deque
from typing import Any

from aiohttp import web

from . import errors
from .account import Account
from .endpoints import ENDPOINTS, PREDICTIVE_TIER, WRITE_TIERS
from .faults import FaultInjector
from .late import LateArrivals
from .metric_renames import MetricRename
from .ratelimit import RateLimiter
from .relationships import RELATIONSHIP_TIERS
from .settings import SandboxSettings
from .tiers import Tier

# The request log (GET /_sandbox/requests) keeps the newest entries, each with its JSON body when it is small: tests
# assert on what a client asked for (a report's timeframe, a job's size) rather than on data that depends on the day.
REQUEST_LOG_SIZE = 50_000


class Sandbox:
    """The state of one running sandbox: accounts and their data, rate limiter, faults, counters."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        late = settings.late
        self.accounts = [
            Account.generate(settings.data, index, LateArrivals(late.share, late.hours, settings.faults.seed))
            for index in range(settings.data.accounts)
        ]
        self.by_key = {acc.data.api_key: acc for acc in self.accounts}
        self.by_id = {acc.data.id: acc for acc in self.accounts}
        rename_at = settings.text_message_rename
        self.metric_rename = MetricRename(rename_at.timestamp() if rename_at is not None else None)
        self.limiter = RateLimiter(settings.rate_limit_scale)
        self.faults = FaultInjector(settings.faults)
        self.latency_rng = random.Random(settings.faults.seed + 1)
        # account id -> bucket -> counter of outcomes ("requests", "throttled", "faults", status codes)
        self.stats: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        # Rate-limit bucket (an /api route's name) -> its tier; report_routes adds the reports' tiers.
        self.tiers: dict[str, Tier] = {e.name: e.tier for e in ENDPOINTS} | dict(WRITE_TIERS) | RELATIONSHIP_TIERS
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def accounts_file(self) -> list[dict[str, str]]:
        """The accounts as the file tap-klaviyo reads lists them: [{"account", "api_key", "id"}]."""
        return [{"account": acc.data.name, "api_key": acc.data.api_key, "id": acc.data.id} for acc in self.accounts]

    def bucket_of(self, request: web.Request, name: str) -> tuple[str, Tier]:
        """The rate-limit bucket of a request: the endpoint, or its predictive-analytics variant."""
        if name in ("get_profiles", "get_profile") and "predictive_analytics" in request.query.get(
            "additional-fields[profile]", ""
        ):
            return f"{name}:predictive_analytics", PREDICTIVE_TIER
        return name, self.tiers[name]

    def account_for(self, request: web.Request) -> Account:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme != "Klaviyo-API-Key" or not key.strip():
            raise errors.not_authenticated()
        account = self.by_key.get(key.strip())
        if account is None:
            raise errors.authentication_failed()
        return account

    async def delay(self) -> None:
        latency = self.settings.latency
        seconds = (latency.fixed_ms + self.latency_rng.uniform(0, latency.jitter_ms)) / 1000.0
        if seconds > 0:
            await asyncio.sleep(seconds)
