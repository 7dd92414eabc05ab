"""HTTP handlers of the Reporting API (POST /api/*-values-reports, /api/*-series-reports) and the admin route that
attributes a conversion to a message after the fact.

Each report's rate-limit bucket is its SDK method name, with the tier of the SDK docstrings: "Burst: 1/s, Steady:
2/m, Daily: 225/d" (the daily quota is the `report_daily_quota` setting, scaled like every limit).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import errors
from .account import AccountState
from .report_requests import REPORTS, ReportKind, account_zone, parse_report
from .reports import build_report
from .routing import SANDBOX_KEY, account_of, add_route, json_response, now, sandbox_of
from .tiers import Tier
from .validation import EventInput, ProfileInput
from .write_routes import read_body
from .writes import create_event

__all__ = ["add_report_routes", "report_tier"]

REPORT_BURST, REPORT_STEADY = 1, 2


def report_tier(daily_quota: int) -> Tier:
    return Tier(REPORT_BURST, REPORT_STEADY, daily_quota)


def _fields(request: web.Request, kind: ReportKind) -> set[str] | None:
    """`fields[<report type>]`: the attributes to return (the OpenAPI enum: id, results, and date_times for series)."""
    param = f"fields[{kind.type}]"
    if param not in request.query:
        return None
    allowed = ("date_times", "id", "results") if kind.series else ("id", "results")
    wanted = {name for name in request.query[param].split(",") if name}
    for name in sorted(wanted):
        if name not in allowed:
            raise errors.invalid(
                f"'{name}' is not a valid field for the resource '{kind.type}'. Valid fields: {', '.join(allowed)}.",
                parameter=param,
            )
    return wanted


def _handler(kind: ReportKind) -> Any:
    async def handle(request: web.Request) -> web.Response:
        account = account_of(request)
        fields = _fields(request, kind)
        body = await read_body(request)
        zone = account_zone(account.data.account["attributes"].get("timezone"))
        metric_ids = set(account.state.metrics.records)
        report = parse_report(body, kind, zone=zone, now=datetime.fromtimestamp(now(), UTC), metric_ids=metric_ids)
        document = build_report(account, report, f"{request.scheme}://{request.host}{request.path}")
        if fields is not None:
            attributes = document["data"]["attributes"]
            document["data"]["attributes"] = {k: v for k, v in attributes.items() if k in fields}
        return json_response(document)

    return handle


# ---- admin: late attributions -------------------------------------------------------------------------------------


def _bad(detail: str, status: int = 400) -> web.Response:
    return json_response({"error": detail}, status)


def _message(account: AccountState, message_id: str) -> tuple[str, str] | None:
    """(flow id or "", channel) of a campaign or flow message of the account."""
    campaign_message = account.campaign_messages.get(message_id)
    if campaign_message is not None:
        return "", campaign_message["f"]["channel"]
    flow_message = account.flow_messages.get(message_id)
    if flow_message is None:
        return None
    action = account.flow_actions.get(flow_message["rel"]["flow-action"])
    return (action["rel"]["flow"] if action else ""), flow_message["attributes"]["channel"]


def _metric_name(account: AccountState, metric: str) -> str | None:
    for record in account.metrics.records.values():
        if metric in (record["id"], record["attributes"]["name"]):
            name: str = record["attributes"]["name"]
            return name
    return None


async def attribute(request: web.Request) -> web.Response:
    """Add a conversion attributed to a message on a past day, as Klaviyo's attribution does after the fact.

    Body: {"message_id": campaign-message or flow-message id, "datetime": ISO 8601 in the past,
    "metric": name or id (default "Placed Order"), "value": number (optional), "profile_id": (optional; default
    the account's first profile), "unique_id": (optional)}. Answers 201 {"event": {...}}: the event, also served
    by GET /api/events, with `$attribution` naming the message.
    """
    sandbox = sandbox_of(request)
    account = sandbox.by_id.get(request.match_info["id"])
    if account is None:
        return _bad(f"no account {request.match_info['id']}", 404)
    try:
        body = await request.json()
    except ValueError:
        return _bad("the body must be a JSON object")
    if not isinstance(body, dict):
        return _bad("the body must be a JSON object")
    message_id = body.get("message_id")
    target = _message(account.state, message_id) if isinstance(message_id, str) else None
    if target is None:
        return _bad(f"message_id {message_id!r} is no campaign message or flow message of account {account.data.id}")
    flow_id, channel = target
    metric = _metric_name(account.state, str(body.get("metric", "Placed Order")))
    if metric is None:
        return _bad(f"no metric {body.get('metric')!r} in account {account.data.id}")
    try:
        when = datetime.fromisoformat(str(body.get("datetime")))
    except ValueError:
        return _bad("datetime must be an ISO 8601 date-time")
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when.timestamp() >= now():
        return _bad("datetime must be in the past: this route attributes conversions after the fact")
    value = body.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return _bad("value must be a number")
    profile_id = body.get("profile_id") or account.data.profile_id(0)
    unique_id = str(body.get("unique_id") or f"attribution-{uuid.uuid4().hex}")
    properties = {"$attribution": {"$message": message_id, "$flow": flow_id, "$attributed_channel": channel}}
    event = EventInput(
        metric_name=metric,
        metric_service=None,
        profile=ProfileInput(id=str(profile_id)),
        properties=properties,
        time=when,
        value=float(value) if value is not None else None,
        value_currency=None,
        unique_id=unique_id,
    )
    record = create_event(account, event, now())
    if record is None:
        return _bad(f"an event with unique_id {unique_id!r} for this metric and profile exists already", 409)
    return json_response(
        {
            "event": {
                "id": record["id"],
                "datetime": record["attributes"]["datetime"],
                "metric_id": record["rel"]["metric"],
                "profile_id": record["rel"]["profile"],
                "event_properties": record["attributes"]["event_properties"],
            }
        },
        201,
    )


def add_report_routes(app: web.Application) -> None:
    sandbox = app[SANDBOX_KEY]
    tier = report_tier(sandbox.settings.report_daily_quota)
    for kind in REPORTS:
        sandbox.tiers[kind.name] = tier
        add_route(app, "POST", kind.path, kind.name, _handler(kind))
    app.router.add_post("/_sandbox/accounts/{id}/attribute", attribute)
