"""The vectorized event pages serve exactly what the general record-by-record path serves."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import numpy as np
import orjson
import pytest

from klaviyo_sandbox import query as query_module
from klaviyo_sandbox.account import Account
from klaviyo_sandbox.endpoints import ENDPOINTS
from klaviyo_sandbox.event_pages import event_times, render_events
from klaviyo_sandbox.jsonapi import resource
from klaviyo_sandbox.query import ReadRequest
from klaviyo_sandbox.settings import DataSettings

GET_EVENTS = next(e for e in ENDPOINTS if e.name == "get_events")
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def accounts() -> list[Account]:
    settings = DataSettings(events=20_000, profiles=900, accounts=2, seed=3)
    return [Account.generate(settings, 0), Account.generate(settings, 1)]


def test_rendered_events_equal_generated_records(accounts):
    for data in (acc.data for acc in accounts):
        indexes = list(range(0, data.n_events, 3))
        for i, text in zip(indexes, render_events(data, indexes, BASE), strict=True):
            assert orjson.loads(text) == resource(data.event(i), BASE), i


def test_event_times_equal_scalar_times(accounts):
    data = accounts[1].data
    indexes = np.arange(data.n_events, dtype=np.uint64)
    assert event_times(data, indexes).tolist() == [data.event_time(i) for i in range(data.n_events)]


def walk(acc: Account, query: dict[str, str], *, fast: bool, monkeypatch) -> list[dict]:
    """Every page of a walk, through the fast path (asserted to be taken) or the general one."""
    fast_calls = []
    if fast:
        real = query_module.fast_page
        monkeypatch.setattr(query_module, "fast_page", lambda *args: fast_calls.append(1) or real(*args))
    else:
        monkeypatch.setattr(ReadRequest, "_plain_event_page", lambda self, table, conditions: False)
    pages = []
    while True:
        body = orjson.loads(orjson.dumps(ReadRequest(GET_EVENTS, acc, query, BASE, "/api/events", {}).collection()))
        pages.append(body)
        if not body["links"]["next"]:
            break
        query = dict(parse_qsl(urlsplit(body["links"]["next"]).query))
    monkeypatch.undo()
    assert len(fast_calls) == (len(pages) if fast else 0)
    return pages


@pytest.mark.parametrize(
    "query",
    [
        {"page[size]": "1000"},
        {"page[size]": "333", "sort": "-datetime"},
        {"page[size]": "250", "sort": "timestamp", "filter": "greater-or-equal(datetime,2025-01-01T00:00:00Z)"},
        {
            "page[size]": "97",
            "sort": "-datetime",
            "filter": "greater-than(datetime,2025-02-01T00:00:00Z),less-than(datetime,2025-06-01T12:00:00Z)",
        },
        {"page[size]": "500", "filter": "less-or-equal(timestamp,1700000000)"},
        {"filter": "greater-than(timestamp,1700000000),less-than(timestamp,1700400000)"},
        {"page[size]": "1000", "include": "attributions"},
        {"page[size]": "200", "sort": "-datetime", "include": "attributions", "fields[attribution]": "id"},
    ],
)
def test_fast_pages_equal_general_pages(accounts, query, monkeypatch):
    for acc in accounts:
        fast = walk(acc, dict(query), fast=True, monkeypatch=monkeypatch)
        general = walk(acc, dict(query), fast=False, monkeypatch=monkeypatch)
        assert fast == general
        assert sum(len(p["data"]) for p in fast) > 0


def test_a_written_event_switches_to_the_general_path(accounts):
    acc = Account.generate(DataSettings(events=50, profiles=10, accounts=1), 0)
    request = ReadRequest(GET_EVENTS, acc, {}, BASE, "/api/events", {})
    assert request._plain_event_page(acc.state.events, [])
    record = acc.data.event(3)
    acc.state.events.put({**record, "attributes": {**record["attributes"], "uuid": "changed"}})
    assert not request._plain_event_page(acc.state.events, [])
    assert any(
        r.get("attributes", {}).get("uuid") == "changed"
        for r in orjson.loads(orjson.dumps(request.collection()))["data"]
    )
