"""AccountHttp: one Klaviyo account bound to the run's `KlaviyoHttp`, the handle every request of that account uses.

It holds the account's id at Klaviyo, its name (the brand's, for messages) and its private key (for the
Authorization header only: no `repr`, message or exception shows it). Its requests are paced by the limiters of its
id, so every stream, window and thread of one account shares one budget per endpoint, and two accounts never share
one. It holds no mutable state of its own: several threads and streams of one account use one handle at once.
Get it from `KlaviyoHttp.for_account` (id known) or `KlaviyoHttp.identify` (asks Klaviyo whose key it is).
"""

from __future__ import annotations

import typing as t

import orjson
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from .client import KlaviyoHttp
    from .pacing import WindowLimiter


class AccountHttp:
    __slots__ = ("_api_key", "_http", "id", "name")

    def __init__(self, http: KlaviyoHttp, account_id: str, name: str, api_key: str) -> None:
        self._http = http
        self.id = account_id
        self.name = name
        self._api_key = api_key

    @override
    def __repr__(self) -> str:
        return f"AccountHttp(id={self.id!r}, name={self.name!r})"

    def headers(self) -> dict[str, str]:
        """What every request of the account carries: its key, the pinned revision, JSON:API."""
        return self._http.headers(self._api_key)

    def limiter(self, endpoint: str) -> WindowLimiter | None:
        """The account's limiter for `endpoint` (None when pacing is off)."""
        return self._http.limiter(self.id, endpoint)

    def call(self, send: Callable[[], requests.Response], *, endpoint: str, what: str = "") -> requests.Response:
        """One request made by the caller (`send`, e.g. singer-sdk's), paced, retried and read (`KlaviyoHttp.call`)."""
        return self._http.call(send, account=self.name, account_id=self.id, endpoint=endpoint, what=what)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        endpoint: str,
        params: dict[str, t.Any] | None = None,
        body: bytes | None = None,
    ) -> requests.Response:
        return self._http.request(
            method,
            path_or_url,
            api_key=self._api_key,
            account=self.name,
            account_id=self.id,
            endpoint=endpoint,
            params=params,
            body=body,
        )

    def get(self, path_or_url: str, *, endpoint: str, params: dict[str, t.Any] | None = None) -> bytes:
        """A GET's body, as Klaviyo sent it (for the caller to decode as it needs: flatten.py's pages)."""
        return self.request("GET", path_or_url, endpoint=endpoint, params=params).content

    def get_json(self, path_or_url: str, *, endpoint: str, params: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", orjson.loads(self.get(path_or_url, endpoint=endpoint, params=params)))

    def post(self, path_or_url: str, body: bytes, *, endpoint: str) -> bytes:
        """A POST's answer as it came (the Reporting API's queries read with a POST)."""
        return self.request("POST", path_or_url, endpoint=endpoint, body=body).content
