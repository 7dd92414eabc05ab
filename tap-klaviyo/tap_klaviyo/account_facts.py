"""What several streams need to know of an account, asked of Klaviyo once per run: its timezone and its metrics.

The report streams read reports in the account's days and resolve `conversion_metric` among its metrics
(report_fetch.py); the completeness check counts each metric's events per day of the account's calendar
(event_counts.py). Both ask here, so a run sends one GET /api/accounts and one GET /api/metrics per 200 metrics per
account, whichever stream asks first (from any thread: each account has its own lock).
"""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from klaviyo_http import AccountHttp

__all__ = ["AccountFacts", "Metric"]


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    created: str  # as Klaviyo shows it (ISO 8601), "" when it shows none


class AccountFacts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._timezones: dict[str, str | None] = {}
        self._metrics: dict[str, list[Metric]] = {}

    def _account_lock(self, account_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(account_id, threading.Lock())

    def timezone(self, account: AccountHttp) -> str | None:
        """The account's timezone (an IANA name, GET /api/accounts): its days are the days of reports and counts."""
        with self._account_lock(account.id):
            if account.id not in self._timezones:
                body = account.get_json("/api/accounts", endpoint="get_accounts")
                attributes = body["data"][0]["attributes"] if body["data"] else {}
                self._timezones[account.id] = attributes.get("timezone")
            return self._timezones[account.id]

    def metrics(self, account: AccountHttp) -> list[Metric]:
        """Every metric of the account (GET /api/metrics, 200 a page), as Klaviyo lists them."""
        with self._account_lock(account.id):
            if account.id not in self._metrics:
                found: list[Metric] = []
                url: str | None = "/api/metrics"
                while url:
                    body = account.get_json(url, endpoint="get_metrics")
                    found += [
                        Metric(
                            str(m["id"]),
                            str(m["attributes"].get("name") or ""),
                            str(m["attributes"].get("created") or ""),
                        )
                        for m in body["data"]
                    ]
                    url = body["links"].get("next")
                self._metrics[account.id] = found
            return self._metrics[account.id]
