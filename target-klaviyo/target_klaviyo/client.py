"""HTTP to Klaviyo for the target: the key and revision on every request, pacing per endpoint, retries.

- Every attempt first waits on the endpoint's limiter (klaviyo_rate_limits: Klaviyo's tier, corrected by the
  `RateLimit-Remaining`/`RateLimit-Reset` headers of each answer), so a healthy run sees no 429.
- A 429 waits its `Retry-After`; 5xx answers and connection errors are retried with jittered exponential
  backoff. Re-sending is safe: events carry a stable `unique_id` and profile imports are upserts.
- 4xx answers other than 429 are returned to the caller, which knows which rows they concern.
- The key never leaves the Authorization header: not in messages, logs or exceptions.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from klaviyo_rate_limits import TIERS, Limiters

ACCOUNT = "target"  # one key, so one account: the limiters' account slot
MAX_BACKOFF_SECONDS = 60.0
MAX_THROTTLED_TRIES = 100  # 429s are Klaviyo saying "later", with a time: many are fine, forever is not


class KlaviyoAuthError(RuntimeError):
    """Klaviyo refused the key (401/403): nothing can be sent."""


class SendError(RuntimeError):
    """A request still failed after every retry."""


def error_detail(response: requests.Response) -> tuple[str, str, str | None]:
    """(code, detail, pointer) of the first JSON:API error of an answer."""
    try:
        error = orjson.loads(response.content)["errors"][0]
        pointer = (error.get("source") or {}).get("pointer")
        return str(error.get("code") or response.status_code), str(error.get("detail") or error.get("title")), pointer
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return str(response.status_code), response.reason or f"HTTP {response.status_code}", None


class KlaviyoClient:
    """Paced, retried requests with one key; safe to share between threads (a session per thread)."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        revision: str,
        *,
        rate_limit_scale: float = 1.0,
        max_retries: int = 8,
        timeout: float = 120.0,
        pool_size: int = 16,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base = api_url.rstrip("/")
        self._headers = {
            "Authorization": f"Klaviyo-API-Key {api_key}",
            "revision": revision,
            "accept": "application/vnd.api+json",
            "content-type": "application/vnd.api+json",
        }
        self._limiters = Limiters(rate_limit_scale) if rate_limit_scale > 0 else None
        self.max_retries = max_retries
        self.timeout = timeout
        self._pool_size = pool_size
        self._local = threading.local()
        self.logger = logger or logging.getLogger("target-klaviyo")

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.mount(self.base, HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size))
            session.headers.update(self._headers)
            self._local.session = session
        return session

    def request(
        self, method: str, path: str, endpoint: str, *, body: bytes | None = None, params: dict[str, Any] | None = None
    ) -> requests.Response:
        """Send until Klaviyo answers something other than 429/5xx; raise SendError after the last retry."""
        url = path if path.startswith("http") else f"{self.base}{path}"
        limiter = self._limiters.get(ACCOUNT, endpoint, TIERS[endpoint]) if self._limiters else None
        errors = throttled = 0
        while True:
            if limiter is not None:
                limiter.acquire()
            try:
                response = self._session().request(method, url, data=body, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                errors += 1
                if errors > self.max_retries:
                    raise SendError(f"{method} {path}: no answer after {errors} tries ({type(exc).__name__})") from None
                self._sleep(errors, f"{type(exc).__name__}", path)
                continue
            status = response.status_code
            if limiter is not None and status != 429:
                remaining, reset = response.headers.get("RateLimit-Remaining"), response.headers.get("RateLimit-Reset")
                if remaining is not None and reset is not None:
                    limiter.observe(int(remaining), int(reset))
            if status == 429:
                throttled += 1
                if throttled > MAX_THROTTLED_TRIES:
                    raise SendError(f"{method} {path}: still throttled after {throttled} tries")
                wait = float(response.headers.get("Retry-After") or 1)
                self.logger.info("429 from %s: waiting %.0f s (Retry-After)", path, wait)
                time.sleep(wait + random.uniform(0, 0.25))
                continue
            if status >= 500:
                errors += 1
                if errors > self.max_retries:
                    code, detail, _ = error_detail(response)
                    raise SendError(f"{method} {path}: {status} after {errors} tries ({code}: {detail})")
                self._sleep(errors, str(status), path)
                continue
            if status in (401, 403):
                code, detail, _ = error_detail(response)
                raise KlaviyoAuthError(f"Klaviyo refused the API key ({status} {code}: {detail}); check api_key")
            return response

    def _sleep(self, attempt: int, what: str, path: str) -> None:
        wait = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2.0**attempt))
        self.logger.info("%s from %s: retry %d of %d in %.1f s", what, path, attempt, self.max_retries, wait)
        time.sleep(wait)
