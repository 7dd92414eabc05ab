"""The accounts of a run: who they are at Klaviyo (id), their keys, their limiters, their lists and segments.

Keys live only here, in memory: streams ask for a key by account id when they build a request, so no
key reaches a context, a bookmark, a record or a log line.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import typing as t

import orjson
import requests

from klaviyo_rate_limits import TIERS, Limiters, WindowLimiter

from .accounts import Account

RETRIES = 8


class AccountFailedError(Exception):
    """An account could not be read; the run goes on with the others and ends non-zero."""


class AccountDirectory:
    def __init__(
        self,
        accounts: list[Account],
        *,
        api_url: str,
        revision: str,
        rate_limit_scale: float,
        timeout: float,
        logger: logging.Logger,
    ) -> None:
        self._accounts = accounts
        self._api_url = api_url.rstrip("/")
        self._revision = revision
        self._timeout = timeout
        self._logger = logger
        self._limiters = Limiters(rate_limit_scale) if rate_limit_scale > 0 else None
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._resolved: dict[str, Account] | None = None  # account id -> account
        self._id_by_key: dict[str, str] = {}
        self.failures: dict[str, str] = {}  # account name -> why it was not synced

    # ---- accounts ---------------------------------------------------------------------------------
    def account_ids(self) -> list[str]:
        """Ids of the accounts whose key works, asking Klaviyo once per account (GET /accounts)."""
        with self._lock:
            if self._resolved is None:
                resolved: dict[str, Account] = {}
                for account in self._accounts:
                    try:
                        body = self.get(account, "/api/accounts", {}, endpoint="get_accounts")
                    except AccountFailedError as error:
                        self.failures[account.name] = str(error)
                        self._logger.error("Account '%s' is left out of this run: %s", account.name, error)
                        continue
                    account_id = body["data"][0]["id"]
                    resolved[account_id] = account
                    self._id_by_key[account.api_key] = account_id
                # Published whole, so `_account` can read it without the lock once it is set.
                self._resolved = resolved
            return list(self._resolved)

    def api_key(self, account_id: str) -> str:
        return self._account(account_id).api_key

    def account_name(self, account_id: str | None) -> str:
        return self._account(account_id).name if account_id else "unknown"

    def account_id_for_key(self, key: str) -> str | None:
        return self._id_by_key.get(key)

    def _account(self, account_id: str) -> Account:
        # Called for every record (account_name) and request: no lock once the accounts are resolved.
        resolved = self._resolved
        if resolved is None:
            self.account_ids()
            resolved = self._resolved
            assert resolved is not None
        return resolved[account_id]

    def limiter(self, account_id: str | None, endpoint: str) -> WindowLimiter | _Unlimited:
        if self._limiters is None or account_id is None:
            return _UNLIMITED
        return self._limiters.get(account_id, endpoint, TIERS[endpoint])

    def group_ids(self, account_id: str, group: str) -> list[str]:
        """Every list (or segment) id of an account, for the member streams' partitions."""
        account = self._account(account_id)
        ids: list[str] = []
        url: str | None = f"/api/{group}s"
        params: dict[str, str] = {f"fields[{group}]": "name"}
        while url:
            body = self.get(account, url, params, endpoint=f"get_{group}s")
            ids.extend(resource["id"] for resource in body["data"])
            url, params = body["links"].get("next"), {}
        return ids

    # ---- one request, paced and retried --------------------------------------------------------------
    def get_for(
        self, account_id: str, path_or_url: str, params: dict[str, t.Any], *, endpoint: str
    ) -> dict[str, t.Any]:
        """`get` for a resolved account (thread-safe: streams read several windows at once)."""
        return self.get(self._account(account_id), path_or_url, params, endpoint=endpoint)

    def get(self, account: Account, path_or_url: str, params: dict[str, t.Any], *, endpoint: str) -> dict[str, t.Any]:
        url = path_or_url if path_or_url.startswith("http") else self._api_url + path_or_url
        headers = {
            "Authorization": f"Klaviyo-API-Key {account.api_key}",
            "revision": self._revision,
            "accept": "application/vnd.api+json",
        }
        account_id = self._id_by_key.get(account.api_key, f"key-of:{account.name}")
        for attempt in range(1, RETRIES + 1):
            self.limiter(account_id, endpoint).acquire()
            try:
                response = self._session.get(url, params=params, headers=headers, timeout=self._timeout)
            except requests.RequestException as error:
                if attempt == RETRIES:
                    raise AccountFailedError(f"{type(error).__name__} calling {endpoint}") from None
                time.sleep(_backoff(attempt))
                continue
            if response.status_code == 200:
                remaining, reset = response.headers.get("RateLimit-Remaining"), response.headers.get("RateLimit-Reset")
                if remaining is not None and reset is not None:
                    self.limiter(account_id, endpoint).observe(int(remaining), int(reset))
                return t.cast("dict[str, t.Any]", orjson.loads(response.content))
            if response.status_code in (401, 403):
                raise AccountFailedError(f"Klaviyo refused its key ({response.status_code} {_detail(response)})")
            if (response.status_code == 429 or response.status_code >= 500) and attempt < RETRIES:
                retry_after = response.headers.get("Retry-After")
                time.sleep(float(retry_after) if response.status_code == 429 and retry_after else _backoff(attempt))
                continue
            raise AccountFailedError(f"{response.status_code} from {endpoint}: {_detail(response)}")
        raise AccountFailedError(f"no answer from {endpoint} after {RETRIES} tries")


def _backoff(attempt: int) -> float:
    # Full jitter: concurrent windows that failed together do not retry together.
    return random.uniform(0, min(30.0, 2.0**attempt))


def _detail(response: requests.Response) -> str:
    try:
        return "; ".join(f"{e.get('code')}: {e.get('detail')}" for e in orjson.loads(response.content)["errors"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return response.reason or ""


class _Unlimited:
    def acquire(self) -> float:
        return 0.0

    def observe(self, remaining: int | None, reset: int | None) -> None:
        return None


_UNLIMITED = _Unlimited()
