"""The sandbox's request log (GET /_sandbox/requests): what a client asked for, so tests can assert on requests
(a report's timeframe, where a read began) instead of on data that depends on the day."""

from __future__ import annotations

import requests

REVISION = "2026-10-15"


def test_the_log_keeps_each_api_request_with_its_query_status_and_small_body(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "2", "--events", "50", "--profiles", "10", rate_limit_scale=0)
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": REVISION}
    requests.get(f"{sandbox.url}/api/events", params={"page[size]": "1"}, headers=headers, timeout=30)
    body = {"data": {"type": "profile", "attributes": {"interval": "day"}}}
    requests.post(f"{sandbox.url}/api/profile-import", json=body, headers=headers, timeout=30)
    requests.get(f"{sandbox.url}/api/lists", headers={**headers, "Authorization": "Klaviyo-API-Key nope"}, timeout=30)

    log = sandbox.requests()
    assert [(e["method"], e["path"], e["account_id"]) for e in log] == [
        ("GET", "/api/events", sandbox.accounts[0]["id"]),
        ("POST", "/api/profile-import", sandbox.accounts[0]["id"]),
    ]  # a request with a refused key belongs to no account and is not logged
    first, second = log
    assert first["query"] == {"page[size]": "1"} and first["status"] == 200 and "body" not in first
    assert second["status"] == 400 and second["body"] == body and second["body_bytes"] > 0

    assert [e["path"] for e in sandbox.requests("/api/profile-")] == ["/api/profile-import"]
    assert [e["path"] for e in sandbox.requests(method="GET")] == ["/api/events"]
    assert sandbox.requests(account_id=sandbox.accounts[1]["id"]) == []
    sandbox.reset()
    assert sandbox.requests() == []
