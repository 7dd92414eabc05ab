"""HTTP handlers of what a reader needs to prove its copy complete: Klaviyo's own counts, and deleting people.

- `POST /api/metric-aggregates` (query_metric_aggregates, 3/s 60/m) -> 200 with the counts (aggregates.py);
- `POST /api/data-privacy-deletion-jobs` (request_profile_deletion, 3/s 60/m) -> 202, no body (the SDK's answer
  type is None); the people go after --job-seconds (privacy.py);
- admin, not Klaviyo's API: `POST /_sandbox/accounts/{id}/profiles/{profile_id}/delete` deletes a profile at once,
  as the UI's delete does (404 for a profile the account does not have); `POST /_sandbox/accounts/{id}/deletions/run`
  carries out the account's requested deletions now, so a test decides when they happen instead of racing a timer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from . import errors
from .aggregates import aggregate, aggregate_document, parse_aggregate_query
from .jobs import DeletionJob
from .privacy import IDENTIFIER_KINDS, delete_profiles, run_deletion_job
from .query import parse_list
from .routing import SANDBOX_KEY, account_of, add_route, admin_account, json_response, now, sandbox_of
from .tiers import parse_tier
from .write_routes import read_body

__all__ = ["add_completeness_routes", "parse_deletion_request"]

TIERS = {  # the SDK docstrings' "Burst: 3/s, Steady: 60/m"
    "query_metric_aggregates": parse_tier("3/s 60/m"),
    "request_profile_deletion": parse_tier("3/s 60/m"),
}
DELETION_TYPE = "data-privacy-deletion-job"
FIELDS_PARAMETER = "fields[metric-aggregate]"


async def metric_aggregates_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    query = parse_aggregate_query(await read_body(request), set(account.state.metrics.records))
    fields = None
    if FIELDS_PARAMETER in request.query:
        fields = set(parse_list(dict(request.query), FIELDS_PARAMETER, ("data", "dates", "id"), "field"))
    starts, rows = aggregate(account, query)
    self_link = f"{request.scheme}://{request.host}{request.path}"
    return json_response(aggregate_document(query, starts, rows, self_link, fields))


def _object(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.invalid(f"'{pointer.rsplit('/', 1)[-1] or 'body'}' must be an object.", pointer=pointer)
    return value


def parse_deletion_request(body: Any) -> tuple[str, str]:
    """(identifier kind, value) of a deletion request: DataPrivacyCreateDeletionJobQuery, exactly one identifier."""
    data = _object(_object(body, "/data").get("data"), "/data")
    if data.get("type") != DELETION_TYPE:
        raise errors.invalid(
            f"Invalid resource type '{data.get('type')}'; expected '{DELETION_TYPE}'.", pointer="/data/type"
        )
    attributes = _object(data.get("attributes"), "/data/attributes")
    ptr = "/data/attributes/profile/data"
    profile = _object(_object(attributes.get("profile"), "/data/attributes/profile").get("data"), ptr)
    if profile.get("type") != "profile":
        raise errors.invalid(
            f"Invalid resource type '{profile.get('type')}'; expected 'profile'.", pointer=f"{ptr}/type"
        )
    identifiers = _object(profile.get("attributes"), f"{ptr}/attributes")
    for key in identifiers:
        if key not in ("email", "phone_number"):
            raise errors.invalid(
                f"'{key}' is not a valid field for the resource 'profile'.", pointer=f"{ptr}/attributes/{key}"
            )
    given = {"id": profile.get("id"), **identifiers}
    named = [(kind, given[kind]) for kind in IDENTIFIER_KINDS if given.get(kind) is not None]
    if len(named) != 1:
        raise errors.invalid(
            "Exactly one identifier must be given to delete a profile: an email, a phone_number or an id.", pointer=ptr
        )
    kind, value = named[0]
    if not isinstance(value, str) or not value:
        raise errors.invalid(
            f"'{kind}' must be a non-empty string.", pointer=f"{ptr}/{'id' if kind == 'id' else 'attributes/' + kind}"
        )
    return kind, value


async def request_deletion_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    kind, value = parse_deletion_request(await read_body(request))
    job = DeletionJob(kind, value, now())
    account.state.deletion_jobs.append(job)
    asyncio.get_running_loop().call_later(sandbox_of(request).settings.job_seconds, run_deletion_job, account, job)
    return web.Response(status=202)


async def delete_profile_now(request: web.Request) -> web.Response:
    """The UI's delete of one profile: gone at once. Answer: {"deleted": [profile id]}."""
    account = admin_account(request)
    profile_id = request.match_info["profile_id"]
    gone = delete_profiles(account, [profile_id])
    if not gone:
        raise web.HTTPNotFound(text=f"no profile {profile_id} in account {account.data.id}")
    return json_response({"deleted": gone})


async def run_deletions_now(request: web.Request) -> web.Response:
    """Carry out every requested deletion of the account now. Answer: {"jobs": n, "deleted": [profile ids]}."""
    account = admin_account(request)
    pending = [job for job in account.state.deletion_jobs if not job.done]
    for job in pending:
        run_deletion_job(account, job)
    return json_response({"jobs": len(pending), "deleted": [pid for job in pending for pid in job.deleted]})


def add_completeness_routes(app: web.Application) -> None:
    app[SANDBOX_KEY].tiers.update(TIERS)
    add_route(app, "POST", "/api/metric-aggregates", "query_metric_aggregates", metric_aggregates_handler)
    add_route(app, "POST", "/api/data-privacy-deletion-jobs", "request_profile_deletion", request_deletion_handler)
    app.router.add_post("/_sandbox/accounts/{id}/profiles/{profile_id}/delete", delete_profile_now)
    app.router.add_post("/_sandbox/accounts/{id}/deletions/run", run_deletions_now)
