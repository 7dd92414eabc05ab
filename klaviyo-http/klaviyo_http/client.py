"""KlaviyoHttp: the one loop in which a request to Klaviyo is paced, sent, retried and read.

Used by every caller: tap-klaviyo through one `AccountHttp` per account (`for_account`, `identify`; its streams
through singer-sdk's `request_decorator` hook, with `call`), and target-klaviyo's bulk writes (`request`). Each
attempt:

1. waits on the (account id, endpoint) limiter (`pacing`); a spent daily quota raises `QuotaExhaustedError`;
2. sends (a `requests.Session` per thread: the windows and the target's pools send from many threads);
3. reads the answer: `RateLimit-Remaining`/`RateLimit-Reset` correct the limiter; 429 waits `Retry-After`;
   5xx and connection errors back off; 401/403 raise `KeyRefusedError`; other 4xx `RequestRefusedError`.

Accounts are named by the caller (a brand name, or the setting that holds the key): keys travel only in the
Authorization header, and messages name the account and the request (`GET /api/events for 'Acme': ...`). Limits
are Klaviyo's per account, so limiters are keyed by the account's id; a caller with a single key and no id
(target-klaviyo) is keyed by the name it gives.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import typing as t
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from .account import AccountHttp
from .errors import GaveUpError, KeyRefusedError, QuotaExhaustedError, RequestRefusedError, error_detail
from .pacing import DailyQuotaSpent, Limiters, WindowLimiter
from .policy import CONNECTION_ERRORS, RetryPolicy
from .tiers import TIERS

JSON_API = "application/vnd.api+json"
# Klaviyo's API, and the revision every request pins (the default of the plugins' `api_url` and `revision` settings).
API_URL = "https://a.klaviyo.com"
REVISION = "2026-10-15"


class KlaviyoHttp:
    def __init__(
        self,
        api_url: str,
        revision: str,
        *,
        policy: RetryPolicy | None = None,
        rate_limit_scale: float = 1.0,
        timeout: float = 300.0,
        pool_size: int = 16,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.revision = revision
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.logger = logger or logging.getLogger("klaviyo-http")
        self._limiters = Limiters(rate_limit_scale, clock, sleep) if rate_limit_scale > 0 else None
        self._pool_size = pool_size
        self._local = threading.local()
        self._sleep = sleep
        self._rng = rng or random.Random()

    # ---- what callers use -------------------------------------------------------------------------------
    def for_account(self, account_id: str, name: str, api_key: str) -> AccountHttp:
        """The handle of an account whose id is known: every request of the account goes through it."""
        return AccountHttp(self, account_id, name, api_key)

    def identify(self, name: str, api_key: str) -> AccountHttp:
        """The handle of the account the key belongs to: GET /api/accounts answers the key's own account."""
        body = self.get_json("/api/accounts", api_key=api_key, account=name, endpoint="get_accounts")
        return self.for_account(str(body["data"][0]["id"]), name, api_key)

    def headers(self, api_key: str) -> dict[str, str]:
        """What every request carries: the key, the pinned revision, JSON:API."""
        return {
            "Authorization": f"Klaviyo-API-Key {api_key}",
            "revision": self.revision,
            "accept": JSON_API,
            "content-type": JSON_API,
        }

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        api_key: str,
        account: str,
        endpoint: str,
        params: dict[str, t.Any] | None = None,
        body: bytes | None = None,
        account_id: str | None = None,
    ) -> requests.Response:
        """Send one request until Klaviyo answers 2xx/3xx; raises a `KlaviyoHttpError` otherwise."""
        url = path_or_url if path_or_url.startswith("http") else self.api_url + path_or_url
        headers = self.headers(api_key)

        def send() -> requests.Response:
            return self.session().request(method, url, params=params, data=body, headers=headers, timeout=self.timeout)

        return self.call(
            send, account=account, account_id=account_id, endpoint=endpoint, what=f"{method} {urlsplit(url).path}"
        )

    def get_json(
        self, path_or_url: str, *, api_key: str, account: str, endpoint: str, params: dict[str, t.Any] | None = None
    ) -> dict[str, t.Any]:
        response = self.request("GET", path_or_url, api_key=api_key, account=account, endpoint=endpoint, params=params)
        return t.cast("dict[str, t.Any]", orjson.loads(response.content))

    def limiter(self, account_id: str, endpoint: str) -> WindowLimiter | None:
        """The limiter of (account id, endpoint), or None when pacing is off (rate_limit_scale 0)."""
        if self._limiters is None:
            return None
        return self._limiters.get(account_id, endpoint, TIERS[endpoint])

    def session(self) -> requests.Session:
        """This thread's session (requests.Session is not safe to share between threads)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    # ---- the loop -----------------------------------------------------------------------------------------
    def call(
        self,
        send: Callable[[], requests.Response],
        *,
        account: str,
        endpoint: str,
        what: str = "",
        account_id: str | None = None,
    ) -> requests.Response:
        """Pace, send (`send` makes one attempt), read the answer, retry by the policy.

        `what` names the request in messages (e.g. `GET /api/events`), the endpoint's name when not given;
        `account` follows it unless empty (a caller with a single key has no account to tell apart). The limiter is
        the account id's (`account`'s when no id is given)."""
        policy = self.policy
        where = f"{what or endpoint} for '{account}'" if account else (what or endpoint)
        limiter = self.limiter(account if account_id is None else account_id, endpoint)
        failures = throttled = 0
        while True:
            if limiter is not None:
                try:
                    limiter.acquire()
                except DailyQuotaSpent as spent:
                    raise QuotaExhaustedError(
                        f"{where}: the daily quota of {endpoint} is spent (it frees up in {spent.retry_after:,.0f} s)",
                        account=account,
                        endpoint=endpoint,
                        retry_after=spent.retry_after,
                    ) from None
            try:
                response = send()
            except CONNECTION_ERRORS as exc:
                failures += 1
                failure = type(exc).__name__
                if failures > policy.max_retries:
                    raise GaveUpError(
                        f"{where}: no answer after {failures} tries ({failure})",
                        account=account,
                        endpoint=endpoint,
                    ) from None
                self._back_off(failures, failure, where)
                continue
            status = response.status_code
            if status == 429:
                wait = policy.retry_after(response)
                if wait > policy.longest_wait:
                    if limiter is not None:
                        limiter.spend_daily()
                    raise QuotaExhaustedError(
                        f"{where}: throttled for {wait:,.0f} s (Retry-After), longer than a run waits "
                        f"({policy.longest_wait:.0f} s)",
                        account=account,
                        endpoint=endpoint,
                        retry_after=wait,
                    )
                throttled += 1
                if throttled > policy.max_throttled:
                    raise GaveUpError(
                        f"{where}: still throttled after {throttled} tries",
                        account=account,
                        endpoint=endpoint,
                    )
                self.logger.info("429 from %s: waiting %.1f s (Retry-After)", where, wait)
                self._sleep(wait + self._rng.uniform(0, 0.1))
                continue
            if limiter is not None:
                remaining, reset = response.headers.get("RateLimit-Remaining"), response.headers.get("RateLimit-Reset")
                if remaining is not None and reset is not None:
                    limiter.observe(int(remaining), int(reset))
            if status >= 500:
                failures += 1
                if failures > policy.max_retries:
                    raise GaveUpError(
                        f"{where}: {error_detail(response)} after {failures} tries",
                        account=account,
                        endpoint=endpoint,
                    )
                self._back_off(failures, str(status), where)
                continue
            if status in (401, 403):
                detail = error_detail(response)
                raise KeyRefusedError(
                    f"{where}: Klaviyo refused the key ({detail})",
                    account=account,
                    endpoint=endpoint,
                    detail=detail,
                )
            if status >= 400:
                raise RequestRefusedError(
                    f"{where}: {error_detail(response)}",
                    account=account,
                    endpoint=endpoint,
                    response=response,
                )
            return response

    def _back_off(self, failures: int, failure: str, where: str) -> None:
        wait = self.policy.backoff(failures, self._rng)
        self.logger.info(
            "%s from %s: retry %d of %d in %.1f s", failure, where, failures, self.policy.max_retries, wait
        )
        self._sleep(wait)
