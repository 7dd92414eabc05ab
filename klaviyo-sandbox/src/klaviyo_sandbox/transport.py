"""Klaviyo's transport rules around every /api handler: authentication, revision, rate limits, faults, latency.

Every /api request passes, in order: authentication (401), the `revision` header (400), the account's
rate limit for the endpoint (429), injected faults, response latency, then the handler (which first sees the
account's late events whose time has come). Admin routes under /_sandbox skip all of that: they are for tests
and benchmarks, not part of Klaviyo's API. Every /api request a handler answered is logged (GET /_sandbox/requests).
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from typing import Any

import orjson
from aiohttp import web

from . import errors
from .account import Account
from .errors import KlaviyoError
from .routing import ACCOUNT_KEY, Handler, error_response, now, sandbox_of
from .sandbox import Sandbox

REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
LOGGED_BODY_BYTES = 8_192  # a logged request keeps its JSON body up to this size


async def log_request(sandbox: Sandbox, request: web.Request, account: Account, status: int) -> None:
    entry: dict[str, Any] = {
        "t": now(),
        "account_id": account.data.id,
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
    sandbox.requests.append(entry)


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
            await sandbox_of(request).delay()
            return error_response(errors.not_found("The requested path does not exist."))
        return await handler(request)
    sandbox = sandbox_of(request)
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
    counts = sandbox.stats[account.data.id][bucket]
    counts["requests"] += 1
    decision = sandbox.limiter.check(account.data.id, bucket, tier)
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
        fault = sandbox.faults.decide(account.data.id)
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

    account.state.late.release_due(now(), account.state.events)
    sandbox.metric_rename.apply_due(now(), account.state.metrics)
    request[ACCOUNT_KEY] = account
    try:
        response = await handler(request)
    except KlaviyoError as error:
        counts[str(error.status)] += 1
        await log_request(sandbox, request, account, error.status)
        return error_response(error, limit_headers)
    counts[str(response.status)] += 1
    await log_request(sandbox, request, account, response.status)
    response.headers.update(limit_headers)
    # The latency comes after the answer is made: Klaviyo's servers answer requests in parallel, so one request's
    # latency never holds up another's work. Made after the latency, each answer of a round of requests that woke
    # together waited for all the others': 24 pages of 1,000 events in flight at 250 ms came back at 47 pages a
    # second against 81 this way (bench/pipeline_throughput.py, the sandbox alone).
    await sandbox.delay()
    return response
