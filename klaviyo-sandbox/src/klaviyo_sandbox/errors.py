"""Klaviyo's JSON:API error bodies, and the exception handlers raise to produce them."""

from __future__ import annotations

import uuid
from typing import Any


class KlaviyoError(Exception):
    """An API error; the app turns it into Klaviyo's `{"errors": [...]}` body with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter
        self.headers = headers or {}

    def error_object(self) -> dict[str, Any]:
        source: dict[str, str] = {}
        if self.parameter is not None:
            source["parameter"] = self.parameter
        else:
            source["pointer"] = self.pointer or "/data/"
        return {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": source,
            "links": {},
            "meta": {},
        }

    def body(self) -> dict[str, Any]:
        return {"errors": [self.error_object()]}


def invalid(detail: str, *, parameter: str | None = None, pointer: str | None = None) -> KlaviyoError:
    """400 `invalid`: a bad query parameter or body field."""
    return KlaviyoError(400, "invalid", "Invalid input.", detail, parameter=parameter, pointer=pointer)


def not_found(detail: str = "Not found.") -> KlaviyoError:
    return KlaviyoError(404, "not_found", "Not found.", detail)


def not_authenticated() -> KlaviyoError:
    return KlaviyoError(
        401,
        "not_authenticated",
        "Authentication credentials were not provided.",
        "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
    )


def authentication_failed() -> KlaviyoError:
    return KlaviyoError(
        401,
        "authentication_failed",
        "Incorrect authentication credentials.",
        "Incorrect authentication credentials.",
    )


def throttled(retry_after: int) -> KlaviyoError:
    unit = "second" if retry_after == 1 else "seconds"
    return KlaviyoError(
        429,
        "throttled",
        "Request was throttled.",
        f"Request was throttled. Expected available in {retry_after} {unit}.",
        headers={"Retry-After": str(retry_after)},
    )


def server_error(status: int) -> KlaviyoError:
    title = SERVER_ERROR_TITLES.get(status, SERVER_ERROR_TITLES[500])
    return KlaviyoError(status, "error", title, title)


SERVER_ERROR_TITLES = {
    500: "A server error occurred.",
    502: "Bad Gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}
