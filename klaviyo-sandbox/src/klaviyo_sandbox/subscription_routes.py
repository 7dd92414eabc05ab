"""HTTP handlers of Klaviyo's subscription bulk jobs: marketing consent, given and taken back.

- `POST /api/profile-subscription-bulk-create-jobs` (SDK: bulk_subscribe_profiles, 75/s 750/m): 1 to 1,000
  profiles, email and/or SMS marketing `SUBSCRIBED`; `historical_import: true` requires each channel's
  `consented_at`, in the past (and `consented_at` is refused without it); an optional list the profiles join.
- `POST /api/profile-subscription-bulk-delete-jobs` (SDK: bulk_unsubscribe_profiles, 75/s 750/m): 1 to 100
  profiles, `UNSUBSCRIBED`; an optional list they leave.

Both answer 202 with no body (the SDK's methods return None) and take effect `--job-seconds` later, as Klaviyo's
jobs run after they are accepted; a bad profile refuses the whole request (400 `invalid`, its pointer naming the
profile), and a list that does not exist too. What the jobs do is consent.py's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from . import errors
from .consent import run_subscription_job
from .routing import Handler, account_of, add_route, now, sandbox_of
from .validation import parse_subscription_job
from .write_routes import read_body


def _job_handler(subscribe: bool) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        account = account_of(request)
        job = parse_subscription_job(await read_body(request), datetime.now(UTC), subscribe=subscribe)
        if job.list_id is not None and account.state.lists.get(job.list_id) is None:
            raise errors.invalid(
                f"List with id {job.list_id} does not exist.", pointer="/data/relationships/list/data/id"
            )
        delay = sandbox_of(request).settings.job_seconds
        asyncio.get_running_loop().call_later(delay, lambda: run_subscription_job(account, job, now()))
        return web.Response(status=202)

    return handle


def add_subscription_routes(app: web.Application) -> None:
    add_route(app, "POST", "/api/profile-subscription-bulk-create-jobs", "bulk_subscribe_profiles", _job_handler(True))
    add_route(
        app, "POST", "/api/profile-subscription-bulk-delete-jobs", "bulk_unsubscribe_profiles", _job_handler(False)
    )
