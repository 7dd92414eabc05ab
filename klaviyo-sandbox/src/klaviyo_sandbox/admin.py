"""Admin routes under /_sandbox: not Klaviyo's API, but what tests and benchmarks need to drive the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .routing import admin_account, json_response, now, sandbox_of
from .writes import simulate_activity

ACTIVITY_COUNTS = ("profiles", "events", "others", "segment_changes", "list_changes")


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def accounts(request: web.Request) -> web.Response:
    """The accounts file tap-klaviyo reads: [{"account", "api_key", "id"}]."""
    return json_response(sandbox_of(request).accounts_file())


async def activity(request: web.Request) -> web.Response:
    """Make an account change as a live one does.

    Body: {"profiles": n, "events": n, "others": n, "segment_changes": n, "list_changes": n, "seed": s}, each
    count optional (0). Answer: the ids changed, {"profiles": [...], "events": [...], "campaign": [...], "flow",
    "list", "segment", "template", "segments_left": [{"segment_id", "profile_id"}], "segments_joined":
    [{"segment_id", "profile_id", "joined_group_at"}], "lists_left": [{"list_id", "profile_id"}], "lists_joined":
    [{"list_id", "profile_id", "joined_group_at"}]}."""
    account = admin_account(request)
    body: dict[str, Any] = await request.json() if request.can_read_body else {}
    counts = {k: int(body.get(k, 0)) for k in ACTIVITY_COUNTS}
    account.state.late.release_due(now(), account.state.events)
    changed = simulate_activity(account, **counts, seed=int(body.get("seed", 0)))
    return json_response(changed)


def _iso_precise(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


async def late(request: web.Request) -> web.Response:
    """The account's late events not readable yet (see late.py), the next to become visible first.

    Answer: {"account_id", "late_share", "late_hours", "pending": n, "released": n (visible since),
    "next_visible_at": time | null, "events": [{"id", "datetime", "written_at", "visible_at", "seconds_left"}]};
    times are ISO 8601 with microseconds, `seconds_left` counts from this answer."""
    account = admin_account(request)
    late = account.state.late
    t = now()
    late.release_due(t, account.state.events)
    pending = late.pending()
    events = [
        {
            "id": p.event_id,
            "datetime": p.record["attributes"]["datetime"],
            "written_at": _iso_precise(p.written_at),
            "visible_at": _iso_precise(p.visible_at),
            "seconds_left": max(0.0, p.visible_at - t),
        }
        for p in pending
    ]
    return json_response(
        {
            "account_id": account.data.id,
            "late_share": late.share,
            "late_hours": late.hours,
            "pending": len(pending),
            "released": late.released,
            "next_visible_at": events[0]["visible_at"] if events else None,
            "events": events,
        }
    )


async def release_late(request: web.Request) -> web.Response:
    """Make every late event of the account readable now, whatever its time: a test then decides when they arrive
    instead of racing a wall-clock delay on a loaded machine. Answer: {"released": n}."""
    account = admin_account(request)
    return json_response({"released": account.state.late.release_due(float("inf"), account.state.events)})


async def stats(request: web.Request) -> web.Response:
    """Requests per account and endpoint bucket: served, throttled, faults, by status."""
    sandbox = sandbox_of(request)
    return json_response(
        {acc: {bucket: dict(c) for bucket, c in buckets.items()} for acc, buckets in sandbox.stats.items()}
    )


async def requests_log(request: web.Request) -> web.Response:
    """The API requests served (newest 50,000), oldest first: [{"t", "account_id", "method", "path", "query",
    "status", "body_bytes", "body" (parsed JSON, when 8 KiB or less)}]. Filters: `path` (a prefix), `method`,
    `account_id`."""
    sandbox = sandbox_of(request)
    prefix = request.query.get("path", "")
    method = request.query.get("method")
    account_id = request.query.get("account_id")
    return json_response(
        [
            entry
            for entry in sandbox.requests
            if entry["path"].startswith(prefix)
            and (method is None or entry["method"] == method)
            and (account_id is None or entry["account_id"] == account_id)
        ]
    )


async def reset(request: web.Request) -> web.Response:
    """Forget rate-limit windows, counters and the request log, so one test's traffic does not throttle the next."""
    sandbox = sandbox_of(request)
    sandbox.limiter.reset()
    sandbox.stats.clear()
    sandbox.requests.clear()
    return json_response({"status": "ok"})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/health", health)
    app.router.add_get("/_sandbox/accounts", accounts)
    app.router.add_post("/_sandbox/accounts/{id}/activity", activity)
    app.router.add_get("/_sandbox/accounts/{id}/late", late)
    app.router.add_post("/_sandbox/accounts/{id}/late/release", release_late)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/requests", requests_log)
    app.router.add_post("/_sandbox/reset", reset)
