"""The sandbox's HTTP server: Klaviyo's transport rules (auth, revision, rate limits) around the endpoints.

Every /api request passes, in order: authentication (401), the `revision` header (400), the account's
rate limit for the endpoint (429), injected faults, response latency, then the handler (which first sees the
account's late events whose time has come). Admin routes under /_sandbox skip all of that: they are for tests
and benchmarks, not part of Klaviyo's API.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from . import errors
from .endpoints import ENDPOINTS, PREDICTIVE_TIER, WRITE_TIERS, Endpoint
from .errors import KlaviyoError
from .faults import FaultInjector
from .generator import AccountData, build_accounts
from .late import LateArrivals
from .query import ReadRequest
from .ratelimit import RateLimiter
from .relationships import RELATIONSHIP_ENDPOINTS, RELATIONSHIP_TIERS, TO_ONE, ToOne, to_one_body
from .settings import SandboxSettings
from .tiers import Tier

JSON_API = "application/vnd.api+json"
REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The request log (GET /_sandbox/requests) keeps the newest entries, each with its JSON body when it is small: tests
# assert on what a client asked for (a report's timeframe, a job's size) rather than on data that depends on the day.
REQUEST_LOG_SIZE = 50_000
LOGGED_BODY_BYTES = 8_192


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON_API, headers=headers)


def error_response(error: KlaviyoError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.body(), error.status, {**error.headers, **(headers or {})})


class Sandbox:
    """The state of one running sandbox: accounts and their data, rate limiter, faults, counters."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.accounts: list[AccountData] = build_accounts(settings.data)
        self.by_key = {acc.api_key: acc for acc in self.accounts}
        self.by_id = {acc.id: acc for acc in self.accounts}
        late = settings.late
        for acc in self.accounts:
            acc.late = LateArrivals(late.share, late.hours, settings.faults.seed)
        self.limiter = RateLimiter(settings.rate_limit_scale)
        self.faults = FaultInjector(settings.faults)
        self.latency_rng = random.Random(settings.faults.seed + 1)
        # account id -> bucket -> counter of outcomes ("requests", "throttled", "faults", status codes)
        self.stats: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.tiers: dict[str, Tier] = {e.name: e.tier for e in ENDPOINTS} | dict(WRITE_TIERS) | RELATIONSHIP_TIERS
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    async def log_request(self, request: web.Request, account: AccountData, status: int) -> None:
        entry: dict[str, Any] = {
            "t": now(),
            "account_id": account.id,
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "status": status,
        }
        if request.body_exists:
            body = await request.read()  # aiohttp keeps what the handler read
            entry["body_bytes"] = len(body)
            if len(body) <= LOGGED_BODY_BYTES:
                try:
                    entry["body"] = orjson.loads(body)
                except orjson.JSONDecodeError:
                    entry["body"] = None
        self.requests.append(entry)

    def bucket_of(self, request: web.Request, name: str) -> tuple[str, Tier]:
        """The rate-limit bucket of a request: the endpoint, or its predictive-analytics variant."""
        if name in ("get_profiles", "get_profile") and "predictive_analytics" in request.query.get(
            "additional-fields[profile]", ""
        ):
            return f"{name}:predictive_analytics", PREDICTIVE_TIER
        return name, self.tiers[name]

    def account_for(self, request: web.Request) -> AccountData:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme != "Klaviyo-API-Key" or not key.strip():
            raise errors.not_authenticated()
        account = self.by_key.get(key.strip())
        if account is None:
            raise errors.authentication_failed()
        return account

    async def delay(self) -> None:
        latency = self.settings.latency
        seconds = (latency.fixed_ms + self.latency_rng.uniform(0, latency.jitter_ms)) / 1000.0
        if seconds > 0:
            await asyncio.sleep(seconds)


SANDBOX_KEY = web.AppKey("sandbox", Sandbox)


def _reset_connection(request: web.Request) -> None:
    """Drop the TCP connection with a RST, as a load balancer does when a backend dies."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_name = request.match_info.route.name
    if not request.path.startswith("/api/") or route_name is None:
        if request.path.startswith("/api/"):
            await request.app[SANDBOX_KEY].delay()
            return error_response(errors.not_found("The requested path does not exist."))
        return await handler(request)
    sandbox = request.app[SANDBOX_KEY]
    name = route_name.removesuffix(".slash")
    try:
        account = sandbox.account_for(request)
        revision = request.headers.get("revision")
        if not revision:
            raise errors.invalid("The 'revision' header is required.", parameter="revision")
        if not REVISION_RE.match(revision):
            raise errors.invalid(f"'{revision}' is not a valid revision. Expected YYYY-MM-DD.", parameter="revision")
    except KlaviyoError as error:
        await sandbox.delay()
        return error_response(error)

    bucket, tier = sandbox.bucket_of(request, name)
    counts = sandbox.stats[account.id][bucket]
    counts["requests"] += 1
    decision = sandbox.limiter.check(account.id, bucket, tier)
    if not decision.allowed:
        counts["throttled"] += 1
        if decision.daily:
            counts["throttled_daily"] += 1
        await sandbox.delay()
        return error_response(errors.throttled(decision.retry_after))
    limit_headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset),
    }

    if sandbox.faults.enabled:
        fault = sandbox.faults.decide(account.id)
        if fault is not None:
            counts[f"fault:{fault.kind}"] += 1
            if fault.kind == "storm":
                await sandbox.delay()
                return error_response(errors.throttled(fault.retry_after))
            if fault.kind == "reset":
                await sandbox.delay()
                _reset_connection(request)
                raise ConnectionResetError("sandbox fault: connection reset")
            if fault.kind == "error":
                await sandbox.delay()
                return error_response(errors.server_error(fault.status))
            await asyncio.sleep(fault.delay_s)  # "slow": on top of the normal latency

    await sandbox.delay()
    account.late.release_due(now(), account.events)
    request["account"] = account
    try:
        response = await handler(request)
    except KlaviyoError as error:
        counts[str(error.status)] += 1
        await sandbox.log_request(request, account, error.status)
        return error_response(error, limit_headers)
    counts[str(response.status)] += 1
    await sandbox.log_request(request, account, response.status)
    response.headers.update(limit_headers)
    return response


def _read_handler(endpoint: Endpoint) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        account: AccountData = request["account"]
        base = f"{request.scheme}://{request.host}"
        read = ReadRequest(
            endpoint, account, dict(request.query), base, request.path.rstrip("/"), dict(request.match_info)
        )
        return json_response(read.single() if endpoint.single else read.collection())

    return handle


def _to_one_handler(route: ToOne) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        self_link = f"{request.scheme}://{request.host}{request.path}"
        return json_response(to_one_body(request["account"], route, request.match_info["id"], self_link))

    return handle


def add_route(app: web.Application, method: str, path: str, name: str, handler: Handler) -> None:
    """Klaviyo answers a path with or without its trailing slash; so does the sandbox."""
    app.router.add_route(method, path, handler, name=name)
    app.router.add_route(method, path + "/", handler, name=name + ".slash")


def make_app(settings: SandboxSettings | None = None) -> web.Application:
    from .admin import add_admin_routes  # noqa: PLC0415  (admin imports this module's helpers)
    from .change_routes import add_change_routes  # noqa: PLC0415
    from .report_routes import add_report_routes  # noqa: PLC0415
    from .write_routes import add_write_routes  # noqa: PLC0415

    # Bodies past Klaviyo's 5 MB limit still have to be read to answer 413 with an errors body.
    app = web.Application(middlewares=[api_middleware], client_max_size=64 * 1024 * 1024)
    app[SANDBOX_KEY] = Sandbox(settings or SandboxSettings())
    for endpoint in [*ENDPOINTS, *RELATIONSHIP_ENDPOINTS]:
        add_route(app, "GET", endpoint.path, endpoint.name, _read_handler(endpoint))
    for route in TO_ONE:
        add_route(app, "GET", route.path, route.name, _to_one_handler(route))
    add_write_routes(app)
    add_change_routes(app)
    add_report_routes(app)
    add_admin_routes(app)
    return app


def now() -> float:
    return time.time()
