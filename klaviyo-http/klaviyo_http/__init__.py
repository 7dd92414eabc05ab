"""The one way this project talks to Klaviyo, shared by tap-klaviyo and target-klaviyo.

A request to Klaviyo is made, paced, retried and read here, and nowhere else:

- `tiers`: Klaviyo's rate-limit tier of every endpoint the plugins call (burst, steady, daily quota);
- `pacing`: one limiter per (account, endpoint) that keeps a run inside those windows;
- `policy`: when to retry (5xx, connection errors: jittered backoff; 429: `Retry-After`) and when to give up;
- `errors`: Klaviyo's error bodies read once, and the exceptions a caller can act on;
- `client`: `KlaviyoHttp`, the loop that applies all of it, with a session per thread; Klaviyo's URL and the
  revision every request pins (`API_URL`, `REVISION`);
- `account`: `AccountHttp`, one account (id, name, key) bound to a `KlaviyoHttp`: what a caller of many accounts
  holds per account.

Installed next to each plugin (they run in separate virtual environments under Meltano). Tested in tests/http/.
"""

from .account import AccountHttp
from .client import API_URL, REVISION, KlaviyoHttp
from .errors import (
    ErrorDetail,
    GaveUpError,
    KeyRefusedError,
    KlaviyoHttpError,
    QuotaExhaustedError,
    RequestRefusedError,
)
from .pacing import Limiters, WindowLimiter
from .policy import RetryPolicy
from .tiers import TIERS, Tier

__all__ = [
    "API_URL",
    "REVISION",
    "TIERS",
    "AccountHttp",
    "ErrorDetail",
    "GaveUpError",
    "KeyRefusedError",
    "KlaviyoHttp",
    "KlaviyoHttpError",
    "Limiters",
    "QuotaExhaustedError",
    "RequestRefusedError",
    "RetryPolicy",
    "Tier",
    "WindowLimiter",
]
