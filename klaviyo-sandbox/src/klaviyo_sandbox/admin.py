"""Admin routes under /_sandbox: not Klaviyo's API, but what tests and benchmarks need to drive the sandbox."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .app import SANDBOX_KEY, json_response
from .writes import simulate_activity


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def accounts(request: web.Request) -> web.Response:
    """The accounts file tap-klaviyo reads: [{"account", "api_key", "id"}]."""
    sandbox = request.app[SANDBOX_KEY]
    return json_response([{"account": a.name, "api_key": a.api_key, "id": a.id} for a in sandbox.accounts])


async def activity(request: web.Request) -> web.Response:
    """Make an account change as a live one does: {"profiles": n, "events": n, "others": n, "seed": s}."""
    sandbox = request.app[SANDBOX_KEY]
    account = sandbox.by_id.get(request.match_info["id"])
    if account is None:
        raise web.HTTPNotFound(text=f"no account {request.match_info['id']}")
    body: dict[str, Any] = await request.json() if request.can_read_body else {}
    counts = {k: int(body.get(k, 0)) for k in ("profiles", "events", "others")}
    changed = simulate_activity(account, **counts, seed=int(body.get("seed", 0)))
    return json_response(changed)


async def stats(request: web.Request) -> web.Response:
    """Requests per account and endpoint bucket: served, throttled, faults, by status."""
    sandbox = request.app[SANDBOX_KEY]
    return json_response(
        {acc: {bucket: dict(c) for bucket, c in buckets.items()} for acc, buckets in sandbox.stats.items()}
    )


async def reset(request: web.Request) -> web.Response:
    """Forget rate-limit windows and counters, so one test's traffic does not throttle the next."""
    sandbox = request.app[SANDBOX_KEY]
    sandbox.limiter.reset()
    sandbox.stats.clear()
    return json_response({"status": "ok"})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/health", health)
    app.router.add_get("/_sandbox/accounts", accounts)
    app.router.add_post("/_sandbox/accounts/{id}/activity", activity)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/reset", reset)
