"""The sandbox over real HTTP: auth, revision, rate limits, faults and latency, as Klaviyo's transport behaves."""

from __future__ import annotations

import json
import time

import pytest
import requests

REVISION = "2026-10-15"


def headers(key: str | None, revision: str | None = REVISION) -> dict[str, str]:
    out = {"accept": "application/vnd.api+json"}
    if key is not None:
        out["Authorization"] = f"Klaviyo-API-Key {key}"
    if revision is not None:
        out["revision"] = revision
    return out


def get(sandbox, path: str, key: str | None = "default", **kwargs) -> requests.Response:
    key = sandbox.key(0) if key == "default" else key
    hdrs = kwargs.pop("headers", None) or headers(key)
    return requests.get(f"{sandbox.url}{path}", headers=hdrs, timeout=30, **kwargs)


def only_error(response: requests.Response) -> dict:
    body = response.json()
    assert list(body) == ["errors"]
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert {"id", "status", "code", "title", "detail", "source"} <= set(error)
    assert error["status"] == response.status_code
    return error


# ---- authentication and revision ---------------------------------------------------------------------
def test_missing_key_is_401_not_authenticated(klaviyo_sandbox):
    response = get(klaviyo_sandbox, "/api/accounts", key=None)
    assert response.status_code == 401
    assert only_error(response)["code"] == "not_authenticated"


def test_wrong_scheme_is_401_not_authenticated(klaviyo_sandbox):
    hdrs = {**headers(None), "Authorization": f"Bearer {klaviyo_sandbox.key(0)}"}
    response = get(klaviyo_sandbox, "/api/accounts", headers=hdrs)
    assert response.status_code == 401
    assert only_error(response)["code"] == "not_authenticated"


def test_unknown_key_is_401_authentication_failed(klaviyo_sandbox):
    response = get(klaviyo_sandbox, "/api/events", key="pk_sandbox_" + "0" * 32)
    assert response.status_code == 401
    assert only_error(response)["code"] == "authentication_failed"


@pytest.mark.parametrize("revision", [None, "yesterday"])
def test_revision_header_is_required_and_checked(klaviyo_sandbox, revision):
    response = get(klaviyo_sandbox, "/api/metrics", headers=headers(klaviyo_sandbox.key(0), revision))
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "invalid"
    assert error["source"] == {"parameter": "revision"}


def test_each_key_sees_only_its_own_account(klaviyo_sandbox):
    seen = []
    for index, account in enumerate(klaviyo_sandbox.accounts):
        body = get(klaviyo_sandbox, "/api/accounts", key=klaviyo_sandbox.key(index)).json()
        assert [a["id"] for a in body["data"]] == [account["id"]]
        events = get(klaviyo_sandbox, "/api/events", key=klaviyo_sandbox.key(index)).json()
        seen.append({e["id"] for e in events["data"]})
    assert all(seen) and not (seen[0] & seen[1]) and not (seen[1] & seen[2])


def test_trailing_slash_and_content_type(klaviyo_sandbox):
    with_slash = get(klaviyo_sandbox, "/api/metrics/")
    without = get(klaviyo_sandbox, "/api/metrics")
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.headers["Content-Type"].startswith("application/vnd.api+json")
    assert with_slash.json()["data"] == without.json()["data"]


def test_unknown_path_is_404_with_errors_body(klaviyo_sandbox):
    response = get(klaviyo_sandbox, "/api/no-such-thing")
    assert response.status_code == 404
    assert only_error(response)["code"] == "not_found"


def test_unknown_id_is_404(klaviyo_sandbox):
    response = get(klaviyo_sandbox, "/api/flows/NOPE00")
    assert response.status_code == 404
    assert only_error(response)["code"] == "not_found"


def test_bad_cursor_is_400(klaviyo_sandbox):
    response = get(klaviyo_sandbox, "/api/events", params={"page[cursor]": "garbage!"})
    assert response.status_code == 400
    assert only_error(response)["source"] == {"parameter": "page[cursor]"}


# ---- rate limits -----------------------------------------------------------------------------------
@pytest.fixture
def limited(klaviyo_sandbox_factory):
    """A sandbox with Klaviyo's real tiers."""
    return klaviyo_sandbox_factory("--accounts", "2", "--events", "50", "--profiles", "50")


def test_success_carries_ratelimit_headers_of_the_steady_window(limited):
    first = get(limited, "/api/flows")
    second = get(limited, "/api/flows")
    assert first.status_code == second.status_code == 200
    assert first.headers["RateLimit-Limit"] == "60"  # flows: 3/s 60/m
    assert int(first.headers["RateLimit-Remaining"]) == 59
    assert int(second.headers["RateLimit-Remaining"]) == 58
    assert 1 <= int(first.headers["RateLimit-Reset"]) <= 60


def test_burst_limit_gives_429_throttled_with_retry_after(limited):
    statuses = [get(limited, "/api/accounts") for _ in range(3)]  # accounts: 1/s 15/m
    assert statuses[0].status_code == 200
    refused = statuses[1]
    assert refused.status_code == 429
    error = only_error(refused)
    assert error["code"] == "throttled"
    assert refused.headers["Retry-After"] == "1"
    assert "RateLimit-Remaining" not in refused.headers
    time.sleep(1.05)
    assert get(limited, "/api/accounts").status_code == 200


def test_steady_limit_counts_across_bursts(klaviyo_sandbox_factory):
    # A scale of 0.1 turns flows' 3/s 60/m into 1/s 6/m: the steady window fills within seconds.
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0.1")
    allowed = 0
    retry_after = None
    for _ in range(8):
        response = get(sandbox, "/api/flows")
        if response.status_code == 200:
            allowed += 1
            time.sleep(1.0)  # stay under the burst window
        else:
            retry_after = int(response.headers["Retry-After"])
            break
    assert allowed == 6
    assert retry_after is not None and 50 <= retry_after <= 60


def test_limits_are_per_account_and_per_endpoint(limited):
    assert get(limited, "/api/accounts", key=limited.key(0)).status_code == 200
    assert get(limited, "/api/accounts", key=limited.key(0)).status_code == 429
    # Another account has its own quota, and another endpoint its own bucket.
    assert get(limited, "/api/accounts", key=limited.key(1)).status_code == 200
    assert get(limited, "/api/metrics", key=limited.key(0)).status_code == 200
    stats = limited.stats()
    first = stats[limited.accounts[0]["id"]]
    assert first["get_accounts"]["requests"] == 2 and first["get_accounts"]["throttled"] == 1


def test_predictive_analytics_has_its_own_lower_tier(limited):
    response = get(limited, "/api/profiles", params={"additional-fields[profile]": "predictive_analytics"})
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "150"
    assert get(limited, "/api/profiles").headers["RateLimit-Limit"] == "750"


# ---- faults and latency ----------------------------------------------------------------------------
def test_error_share_gives_500_502_503_with_errors_body(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0", "--error-share", "1")
    statuses = set()
    for _ in range(30):
        response = get(sandbox, "/api/metrics")
        statuses.add(response.status_code)
        assert only_error(response)["status"] in (500, 502, 503)
    assert statuses == {500, 502, 503}


def test_reset_share_drops_the_connection(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0", "--reset-share", "1")
    with pytest.raises(requests.ConnectionError):
        get(sandbox, "/api/metrics")
    # The server itself survives.
    assert sandbox.admin("GET", "health") == {"status": "ok"}


def test_storm_throttles_every_request_for_its_duration(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(
        "--accounts", "2", "--rate-limit-scale", "0", "--storm-share", "1", "--storm-seconds", "2"
    )
    first = get(sandbox, "/api/metrics")
    assert first.status_code == 429 and only_error(first)["code"] == "throttled"
    assert first.headers["Retry-After"] == "2"


def test_mixed_faults_keep_roughly_their_shares(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(
        "--accounts", "1", "--rate-limit-scale", "0", "--error-share", "0.3", "--fault-seed", "3"
    )
    codes = [get(sandbox, "/api/metrics").status_code for _ in range(200)]
    failed = sum(code >= 500 for code in codes)
    assert 35 <= failed <= 85  # 60 expected; a wide band, the draw is seeded
    assert codes.count(200) == 200 - failed


def test_latency_is_added_to_every_response(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(
        "--accounts", "1", "--rate-limit-scale", "0", "--latency-ms", "200", "--jitter-ms", "50"
    )
    durations = []
    for _ in range(4):
        start = time.perf_counter()
        assert get(sandbox, "/api/metrics").status_code == 200
        durations.append(time.perf_counter() - start)
    assert min(durations) >= 0.2
    assert max(durations) < 1.0
    start = time.perf_counter()
    sandbox.admin("GET", "health")  # admin routes are not slowed down
    assert time.perf_counter() - start < 0.2


def test_the_latency_comes_after_the_answer_is_made(klaviyo_sandbox_factory):
    """So requests in flight do not wait for each other's latency (transport.py): the answer is made and logged
    at once, and held for the latency after."""
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0", "--latency-ms", "300")
    sent = time.time()
    assert get(sandbox, "/api/metrics").status_code == 200
    received = time.time()
    (entry,) = sandbox.requests("/api/metrics")
    assert entry["t"] - sent < received - entry["t"]  # made early in the request's time ...
    assert received - entry["t"] >= 0.3  # ... then held for the latency


def test_slow_share_delays_responses(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(
        "--accounts", "1", "--rate-limit-scale", "0", "--slow-share", "1", "--slow-ms", "400"
    )
    start = time.perf_counter()
    assert get(sandbox, "/api/metrics").status_code == 200
    assert time.perf_counter() - start >= 0.4


def test_bad_option_fails_with_a_clear_message(klaviyo_sandbox_factory):
    with pytest.raises(RuntimeError, match="error_share"):
        klaviyo_sandbox_factory("--error-share", "1.5")


# ---- write bodies ----------------------------------------------------------------------------------
def post(sandbox, path: str, data: bytes) -> requests.Response:
    hdrs = {**headers(sandbox.key(0)), "content-type": "application/vnd.api+json"}
    return requests.post(f"{sandbox.url}{path}", data=data, headers=hdrs, timeout=60)


def test_body_over_5_mb_is_413(klaviyo_sandbox):
    big = b'{"data": {"type": "event-bulk-create-job", "attributes": {"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}}}'
    response = post(klaviyo_sandbox, "/api/event-bulk-create-jobs", big)
    assert response.status_code == 413
    assert "5 MB" in only_error(response)["detail"]


def test_malformed_json_is_400(klaviyo_sandbox):
    response = post(klaviyo_sandbox, "/api/profile-import", b'{"data": {"type": "profile",')
    assert response.status_code == 400
    assert only_error(response)["code"] == "parse_error"


def test_more_than_1000_events_in_one_job_is_400(klaviyo_sandbox):
    event = {
        "type": "event",
        "attributes": {"properties": {}, "metric": {"data": {"type": "metric", "attributes": {"name": "Big"}}}},
    }
    entry = {
        "type": "event-bulk-create",
        "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {"email": "big@example.com"}}},
            "events": {"data": [event] * 1001},
        },
    }
    body = {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [entry]}}}}
    response = post(klaviyo_sandbox, "/api/event-bulk-create-jobs", json.dumps(body).encode())
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "invalid" and error["source"]["pointer"].startswith("/data/attributes/events-bulk-create")


def test_writes_are_rate_limited_on_their_own_tier(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0.1")  # bulk jobs: 1/s 15/m
    body = json.dumps({"data": {"type": "profile", "attributes": {"email": "tier@example.com"}}}).encode()
    first = post(sandbox, "/api/profile-import", body)
    assert first.status_code == 201 and first.headers["RateLimit-Limit"] == "75"  # 75/s 750/m scaled
    job = json.dumps(
        {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {
                    "profiles": {"data": [{"type": "profile", "attributes": {"email": "tier2@example.com"}}]}
                },
            }
        }
    ).encode()
    assert post(sandbox, "/api/profile-bulk-import-jobs", job).status_code == 202
    throttled = post(sandbox, "/api/profile-bulk-import-jobs", job)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
