"""When a request to Klaviyo is tried again, how long it waits first, and when it gives up.

- 5xx answers and connection errors: exponential backoff with full jitter (a wait drawn from 0 to
  `backoff_base * 2**n`, capped), so the concurrent windows that failed together do not retry together;
  at most `max_retries` of them per request.
- 429: Klaviyo says when (`Retry-After`, seconds). It is obeyed exactly, and does not use up `max_retries`
  (a throttled request is not a failing one), but a request throttled `max_throttled` times gives up.
  A `Retry-After` longer than `longest_wait` is a quota for another day, not a wait: the caller is told
  at once (`QuotaExhaustedError`) and decides what to skip.
- 401/403 and other 4xx answers are never retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import requests

# Exceptions of a request that never got an answer: worth another try.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 10
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    longest_wait: float = 300.0
    max_throttled: int = 100
    default_retry_after: float = 1.0  # a 429 without Retry-After (Klaviyo always sends one)

    def backoff(self, failures: int, rng: random.Random) -> float:
        """The wait before the retry that follows the `failures`-th failure (1-based)."""
        return rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2.0**failures))

    def retry_after(self, response: requests.Response) -> float:
        value = response.headers.get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else self.default_retry_after
        except ValueError:  # an HTTP date: Klaviyo sends seconds, but a proxy might not
            return self.default_retry_after
