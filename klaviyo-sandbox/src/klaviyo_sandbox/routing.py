"""What a route module needs from the web layer: the handler type, adding a route, Klaviyo's response bodies, the
clock, and a request's sandbox and account.

Route modules import this module, never `app.py`: `app.py` imports every route module to assemble the server.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from .account import Account
from .errors import KlaviyoError
from .sandbox import Sandbox

JSON_API = "application/vnd.api+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SANDBOX_KEY = web.AppKey("sandbox", Sandbox)
ACCOUNT_KEY = "account"  # request[ACCOUNT_KEY]: the account an /api request authenticated as (transport.py sets it)


def now() -> float:
    return time.time()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON_API, headers=headers)


def error_response(error: KlaviyoError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.body(), error.status, {**error.headers, **(headers or {})})


def add_route(app: web.Application, method: str, path: str, name: str, handler: Handler) -> None:
    """Klaviyo answers a path with or without its trailing slash; so does the sandbox.

    Under /api, `name` (the SDK method's name) is also the route's rate-limit bucket: its tier must be in
    `Sandbox.tiers` (see sandbox.py)."""
    app.router.add_route(method, path, handler, name=name)
    app.router.add_route(method, path + "/", handler, name=name + ".slash")


def sandbox_of(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


def admin_account(request: web.Request) -> Account:
    """The account an admin route names by id (`{id}` in its path); 404 if the sandbox has none."""
    account = sandbox_of(request).by_id.get(request.match_info["id"])
    if account is None:
        raise web.HTTPNotFound(text=f"no account {request.match_info['id']}")
    return account


def account_of(request: web.Request) -> Account:
    """The account an /api request authenticated as (its key), after the transport's checks passed."""
    account: Account = request[ACCOUNT_KEY]
    return account
