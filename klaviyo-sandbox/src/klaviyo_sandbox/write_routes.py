"""HTTP handlers of the write endpoints target-klaviyo uses: events, profiles, bulk jobs and their errors."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from . import errors
from .jobs import ProfileJob
from .jsonapi import resource
from .query import cursor_text
from .routing import account_of, add_route, json_response, now, sandbox_of
from .validation import (
    parse_event_bulk_create_job,
    parse_event_create,
    parse_profile_bulk_import_job,
    parse_profile_upsert,
)
from .writes import create_event, run_event_job, run_profile_job, start_profile_job, upsert_profile

MAX_BODY_BYTES = 5 * 1024 * 1024  # Klaviyo's payload limit for every write endpoint
ERRORS_PAGE_DEFAULT, ERRORS_PAGE_MAX = 20, 100


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise errors.KlaviyoError(
            413,
            "request_too_large",
            "Request is too large.",
            f"The request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes (5 MB).",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.KlaviyoError(400, "parse_error", "Malformed JSON.", f"JSON parse error - {exc}") from None


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _later(delay: float, fn: Any, *args: Any) -> None:
    asyncio.get_running_loop().call_later(delay, fn, *args)


async def create_event_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    event = parse_event_create(await read_body(request), datetime.now(UTC))
    create_event(account, event, now())  # a duplicate unique_id is accepted and dropped, as Klaviyo does
    return web.Response(status=202)


async def bulk_create_events_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    events = parse_event_bulk_create_job(await read_body(request), datetime.now(UTC))
    delay = sandbox_of(request).settings.job_seconds
    # Klaviyo accepts the job and writes the events shortly afterwards; readers see them only then.
    _later(delay, lambda: run_event_job(account, events, now()))
    return web.Response(status=202)


async def profile_import_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    profile = parse_profile_upsert(await read_body(request))
    record, created = upsert_profile(account, profile, now())
    return json_response({"data": resource(record, _base(request))}, 201 if created else 200)


async def bulk_import_profiles_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    profiles, row_errors, list_ids = parse_profile_bulk_import_job(await read_body(request))
    for list_id in list_ids:
        if account.state.lists.get(list_id) is None:
            raise errors.invalid(f"List with id {list_id} does not exist.", pointer="/data/relationships/lists/data")
    job = start_profile_job(account, profiles, row_errors, list_ids, now())
    delay = sandbox_of(request).settings.job_seconds

    def mark_processing() -> None:
        if job.status == "queued":
            job.status, job.started_at = "processing", now()

    _later(delay / 2, mark_processing)
    _later(delay, lambda: run_profile_job(account, job, now()))
    return json_response({"data": job.resource(_base(request))}, 202)


def _job(request: web.Request) -> ProfileJob:
    account = account_of(request)
    job = account.state.profile_jobs.get(request.match_info["id"])
    if job is None:
        raise errors.not_found(f"A profile-bulk-import-job with id {request.match_info['id']} does not exist.")
    return job


async def get_profile_job_handler(request: web.Request) -> web.Response:
    account = account_of(request)
    job = _job(request)
    include = [i for i in request.query.get("include", "").split(",") if i]
    for name in include:
        if name not in ("lists", "profiles", "import-errors"):
            raise errors.invalid(
                f"'{name}' is not a valid include. Valid values: lists, profiles, import-errors.", parameter="include"
            )
    body: dict[str, Any] = {"data": job.resource(_base(request)), "links": {"self": str(request.url)}}
    if "lists" in include:
        found = (account.state.lists.get(lid) for lid in job.list_ids)
        body["included"] = [resource(r, _base(request)) for r in found if r is not None]
    return json_response(body)


def _offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode().rstrip("=")


def _read_offset(text: str) -> int:
    try:
        text = cursor_text(text)
        offset = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["o"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise errors.invalid("Invalid page cursor.", parameter="page[cursor]")


async def import_errors_handler(request: web.Request) -> web.Response:
    job = _job(request)
    text = request.query.get("page[size]", str(ERRORS_PAGE_DEFAULT))
    size = int(text) if text.isdigit() else 0
    if not 1 <= size <= ERRORS_PAGE_MAX:
        raise errors.invalid(f"Page size must be an integer between 1 and {ERRORS_PAGE_MAX}.", parameter="page[size]")
    offset = _read_offset(request.query["page[cursor]"]) if "page[cursor]" in request.query else 0
    # Row errors are known once the job completes, as in Klaviyo.
    rows = job.row_errors if job.completed_at else []
    page = rows[offset : offset + size]
    data = [
        {
            "type": "import-error",
            "id": f"{job.id}-{e.index}",
            "attributes": {
                "code": e.code,
                "title": e.title,
                "detail": e.detail,
                "source": {"pointer": e.pointer},
                "original_payload": e.original_payload,
            },
        }
        for e in page
    ]
    url = request.url
    next_link = None
    if offset + size < len(rows):
        next_link = str(url.update_query({"page[cursor]": _offset_cursor(offset + size)}))
    return json_response({"data": data, "links": {"self": str(url), "next": next_link, "prev": None}})


def add_write_routes(app: web.Application) -> None:
    add_route(app, "POST", "/api/events", "create_event", create_event_handler)
    add_route(app, "POST", "/api/event-bulk-create-jobs", "bulk_create_events", bulk_create_events_handler)
    add_route(app, "POST", "/api/profile-import", "create_or_update_profile", profile_import_handler)
    add_route(app, "POST", "/api/profile-bulk-import-jobs", "bulk_import_profiles", bulk_import_profiles_handler)
    add_route(app, "GET", "/api/profile-bulk-import-jobs/{id}", "get_bulk_import_profiles_job", get_profile_job_handler)
    add_route(
        app,
        "GET",
        "/api/profile-bulk-import-jobs/{id}/import-errors",
        "get_errors_for_bulk_import_profiles_job",
        import_errors_handler,
    )
