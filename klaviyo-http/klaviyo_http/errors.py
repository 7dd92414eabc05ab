"""Klaviyo's error bodies, read once, and the exceptions a caller can act on.

Every message names the account (by name, never by key) and the endpoint; keys never reach an exception.
Klaviyo's errors body: `{"errors": [{"id", "status", "code", "title", "detail", "source": {"pointer"}}]}`
(https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling; the official SDK's error models).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import requests
from typing_extensions import override


@dataclass(frozen=True)
class ErrorDetail:
    """The first JSON:API error of an answer (or its HTTP status and reason when the body is not one)."""

    status: int
    code: str
    detail: str
    pointer: str | None = None

    @override
    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


def error_detail(response: requests.Response) -> ErrorDetail:
    try:
        error = orjson.loads(response.content)["errors"][0]
        pointer = (error.get("source") or {}).get("pointer")
        return ErrorDetail(
            response.status_code,
            str(error.get("code") or response.status_code),
            str(error.get("detail") or error.get("title")),
            pointer,
        )
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return ErrorDetail(response.status_code, str(response.status_code), response.reason or "no detail")


class KlaviyoHttpError(Exception):
    """A request to Klaviyo that did not succeed; `account` and `endpoint` say which."""

    def __init__(self, message: str, *, account: str, endpoint: str) -> None:
        super().__init__(message)
        self.account = account
        self.endpoint = endpoint


class KeyRefusedError(KlaviyoHttpError):
    """401/403: Klaviyo refused the key (wrong, revoked, or missing a scope). Never retried."""

    def __init__(self, message: str, *, account: str, endpoint: str, detail: ErrorDetail) -> None:
        super().__init__(message, account=account, endpoint=endpoint)
        self.detail = detail


class RequestRefusedError(KlaviyoHttpError):
    """Another 4xx (not 429): the request itself is wrong. Carries the answer for callers that isolate bad rows."""

    def __init__(self, message: str, *, account: str, endpoint: str, response: requests.Response) -> None:
        super().__init__(message, account=account, endpoint=endpoint)
        self.response = response
        self.detail = error_detail(response)


class GaveUpError(KlaviyoHttpError):
    """Still failing (5xx, connection errors, or throttled) after every retry the policy allows."""


class QuotaExhaustedError(KlaviyoHttpError):
    """A quota that frees up later than a run should wait (a daily quota, a long Retry-After).

    Never turned into a sleep: a client told to wait 67,608 s is told "not today"
    (Klaviyo's developer community, topic 14748 "Unexpected API throttling"). `retry_after` is in seconds."""

    def __init__(self, message: str, *, account: str, endpoint: str, retry_after: float) -> None:
        super().__init__(message, account=account, endpoint=endpoint)
        self.retry_after = retry_after
