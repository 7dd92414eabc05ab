"""A few of Klaviyo's collection endpoints on pytest-httpserver, for the tap's fast in-process tests: GET /api/accounts
and a sorted, filtered, cursor-paged collection (/api/events, by `datetime`), as Klaviyo answers them (JSON:API
bodies, `links.next` carrying the cursor and every parameter). Not the sandbox: just enough to test the tap's
windows and page loop in-process, where the sandbox tests run the real thing."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import orjson
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from klaviyo_http import REVISION, AccountHttp, KlaviyoHttp

ACCOUNT_ID, ACCOUNT_NAME, KEY = "A1", "Acme Outdoors", "pk_test_fake"
CONDITION = re.compile(r"(greater-or-equal|greater-than|less-than)\(datetime,([^)]+)\)")
JSON_API = "application/vnd.api+json"


def event(number: int, when: datetime) -> dict:
    return {
        "type": "event",
        "id": f"E{number:06d}",
        "attributes": {"datetime": when.isoformat(), "event_properties": {"n": number}, "uuid": f"u-{number}"},
        "relationships": {"metric": {"data": {"type": "metric", "id": "M1"}}},
        "links": {"self": f"https://a.klaviyo.com/api/events/E{number:06d}/"},
    }


def events_between(start: datetime, end: datetime, count: int) -> list[dict]:
    """`count` events spread evenly over [start, end), several sharing a second where they are dense."""
    step = (end - start) / count
    return [event(n, (start + step * n).replace(microsecond=0)) for n in range(count)]


def seconds_ago(seconds: float) -> datetime:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).replace(microsecond=0)


class FakeKlaviyo:
    """The events of one account, served sorted by `datetime`, filtered, `page[size]` at a time."""

    def __init__(self, server: HTTPServer, events: list[dict]) -> None:
        self.server = server
        self.events = sorted(events, key=lambda e: (e["attributes"]["datetime"], e["id"]))
        self.lock = threading.Lock()
        self.filters: list[str] = []  # the `filter` of every first page asked for
        self.fail_when: str | None = None  # a filter substring answered with 400
        server.expect_request("/api/accounts").respond_with_json(
            {"data": [{"type": "account", "id": ACCOUNT_ID, "attributes": {"timezone": "UTC"}}]}
        )
        # No metrics: the events stream's completeness check (Klaviyo's counts per metric) has nothing to ask.
        server.expect_request("/api/metrics").respond_with_json({"data": [], "links": {"next": None}})
        server.expect_request("/api/events").respond_with_handler(self.events_page)

    def events_page(self, request: Request) -> Response:
        args = request.args
        assert request.headers["Authorization"] == f"Klaviyo-API-Key {KEY}"
        assert request.headers["revision"] == REVISION
        wanted = args.get("filter", "")
        offset = int(args.get("page[cursor]", 0))
        if not offset:
            with self.lock:
                self.filters.append(wanted)
        if self.fail_when and self.fail_when in wanted:
            body = {"errors": [{"status": 400, "code": "invalid", "detail": "refused on purpose"}]}
            return Response(orjson.dumps(body), status=400, content_type=JSON_API)
        rows = self.events
        for op, value in CONDITION.findall(wanted):
            bound = datetime.fromisoformat(value)
            if op == "greater-or-equal":
                rows = [r for r in rows if datetime.fromisoformat(r["attributes"]["datetime"]) >= bound]
            elif op == "greater-than":
                rows = [r for r in rows if datetime.fromisoformat(r["attributes"]["datetime"]) > bound]
            else:
                rows = [r for r in rows if datetime.fromisoformat(r["attributes"]["datetime"]) < bound]
        size = int(args.get("page[size]", 100))
        page = rows[offset : offset + size]
        next_url = None
        if offset + size < len(rows):
            query = {**args.to_dict(), "page[cursor]": str(offset + size)}
            next_url = self.server.url_for("/api/events") + "?" + urlencode(query)
        body = {"data": page, "links": {"self": request.url, "next": next_url}}
        return Response(orjson.dumps(body), content_type=JSON_API)


def fake_account(server: HTTPServer) -> AccountHttp:
    http = KlaviyoHttp(server.url_for(""), REVISION, rate_limit_scale=0, timeout=10)
    return http.for_account(ACCOUNT_ID, ACCOUNT_NAME, KEY)


def tap_config(server: HTTPServer, **extra: object) -> dict:
    """tap-klaviyo's config for the fake: one account, told its id (no lookup), no pacing."""
    return {
        "accounts_json": orjson.dumps([{"account": ACCOUNT_NAME, "api_key": KEY}]).decode(),
        "account_ids": {ACCOUNT_NAME: ACCOUNT_ID},
        "api_url": server.url_for(""),
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "window_concurrency": 4,
        **extra,
    }
