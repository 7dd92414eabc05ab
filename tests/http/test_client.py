"""KlaviyoHttp against a local HTTP server, in-process, with sleep patched: the retry policy itself.

Retry-After obeyed, backoff capped and jittered, give-up after `max_retries`, 401 stops at once, a daily quota
or a long Retry-After never becomes a sleep, RateLimit-* corrects the pacer, a session per thread.
"""

from __future__ import annotations

import random
import socket
import threading
import time

import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from klaviyo_http import (
    GaveUpError,
    KeyRefusedError,
    KlaviyoHttp,
    QuotaExhaustedError,
    RequestRefusedError,
    RetryPolicy,
)
from klaviyo_http.tiers import TIERS, Tier

KEY = "pk_test_0123456789abcdef0123456789abcdef"
ERRORS = {"errors": [{"id": "x", "status": 0, "code": "", "title": "t", "detail": "", "source": {"pointer": "/data"}}]}


def errors_body(status: int, code: str, detail: str) -> str:
    body = orjson.loads(orjson.dumps(ERRORS))
    body["errors"][0].update(status=status, code=code, detail=detail)
    return orjson.dumps(body).decode()


class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(server: HTTPServer, clock: Clock, *, scale: float = 0, **policy: float) -> KlaviyoHttp:
    return KlaviyoHttp(
        server.url_for(""),
        "2026-10-15",
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        rate_limit_scale=scale,
        timeout=5,
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
    )


def get(http: KlaviyoHttp, endpoint: str = "get_events") -> dict:
    return http.get_json("/api/events", api_key=KEY, account="Acme Outdoors", endpoint=endpoint)


def report(http: KlaviyoHttp) -> None:
    """One campaign values report request (an endpoint with a daily quota)."""
    http.request(
        "POST",
        "/api/campaign-values-reports",
        api_key=KEY,
        account="Acme Outdoors",
        endpoint="query_campaign_values",
        body=b"{}",
    )


def test_a_429_waits_exactly_its_retry_after_and_does_not_use_up_retries(httpserver: HTTPServer):
    for _ in range(3):
        httpserver.expect_ordered_request("/api/events").respond_with_data(
            errors_body(429, "throttled", "slow down"), status=429, headers={"Retry-After": "7"}
        )
    httpserver.expect_ordered_request("/api/events").respond_with_json({"data": []})
    clock = Clock()
    assert get(client(httpserver, clock, max_retries=1)) == {"data": []}
    assert [round(s) for s in clock.sleeps] == [7, 7, 7]  # a little jitter on top, never less
    assert all(7 <= s < 7.2 for s in clock.sleeps)


def test_5xx_backs_off_with_capped_full_jitter_and_gives_up_after_max_retries(httpserver: HTTPServer):
    httpserver.expect_request("/api/events").respond_with_data(errors_body(503, "unavailable", "down"), status=503)
    clock = Clock()
    with pytest.raises(GaveUpError) as gave_up:
        get(client(httpserver, clock, max_retries=6, backoff_base=1.0, backoff_cap=10.0))
    assert len(httpserver.log) == 7  # the first try and six retries
    assert len(clock.sleeps) == 6
    for failure, wait in enumerate(clock.sleeps, start=1):
        assert 0 <= wait <= min(10.0, 2.0**failure)
    assert len(set(clock.sleeps)) == 6  # jittered, not a fixed ladder
    assert "after 7 tries" in str(gave_up.value) and "Acme Outdoors" in str(gave_up.value)
    assert KEY not in str(gave_up.value)


def test_connection_errors_are_retried(httpserver: HTTPServer):
    # A port nothing listens on: every attempt is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = Clock()
    http = KlaviyoHttp(
        f"http://127.0.0.1:{port}",
        "2026-10-15",
        policy=RetryPolicy(max_retries=3),
        rate_limit_scale=0,
        sleep=clock.sleep,
        clock=clock,
    )
    with pytest.raises(GaveUpError, match="ConnectionError"):
        get(http)
    assert len(clock.sleeps) == 3


def test_a_refused_key_stops_at_once_and_names_the_account_not_the_key(httpserver: HTTPServer):
    httpserver.expect_request("/api/events").respond_with_data(
        errors_body(401, "not_authenticated", "Incorrect authentication credentials."), status=401
    )
    clock = Clock()
    with pytest.raises(KeyRefusedError) as refused:
        get(client(httpserver, clock))
    assert len(httpserver.log) == 1 and clock.sleeps == []
    message = str(refused.value)
    assert "Acme Outdoors" in message and "not_authenticated" in message and KEY not in message


def test_another_4xx_is_returned_to_the_caller_with_klaviyos_detail(httpserver: HTTPServer):
    httpserver.expect_request("/api/events").respond_with_data(
        errors_body(400, "invalid", "'foo' is not a valid field"), status=400
    )
    with pytest.raises(RequestRefusedError) as refused:
        get(client(httpserver, Clock()))
    assert refused.value.detail.code == "invalid" and refused.value.detail.pointer == "/data"
    assert refused.value.response.status_code == 400 and len(httpserver.log) == 1


def test_a_retry_after_of_hours_is_a_quota_for_another_day_not_a_sleep(httpserver: HTTPServer):
    httpserver.expect_request("/api/campaign-values-reports").respond_with_data(
        errors_body(429, "throttled", "daily"), status=429, headers={"Retry-After": "67608"}
    )
    clock = Clock()
    http = client(httpserver, clock, scale=1)
    with pytest.raises(QuotaExhaustedError) as exhausted:
        report(http)
    assert exhausted.value.retry_after == 67608 and clock.sleeps == []
    # The limiter now knows the day is spent: the next request is not even sent.
    with pytest.raises(QuotaExhaustedError):
        report(http)
    assert len(httpserver.log) == 1


def test_the_daily_quota_is_planned_locally_before_klaviyo_says_no(httpserver: HTTPServer):
    httpserver.expect_request("/api/campaign-values-reports").respond_with_json({"data": {}})
    clock = Clock()
    http = client(httpserver, clock, scale=1)
    limiter = http.limiter("Acme Outdoors", "query_campaign_values")
    assert limiter is not None and limiter.tier == TIERS["query_campaign_values"] == Tier(1, 2, daily=225)
    now = time.time()
    limiter.seed_daily([now - 60 * i for i in range(224)])  # earlier runs of today
    report(http)
    with pytest.raises(QuotaExhaustedError):
        report(http)
    assert len(httpserver.log) == 1


def test_ratelimit_headers_correct_the_pacer(httpserver: HTTPServer):
    # The server says another client left 0 requests in this minute's window, resetting in 30 s.
    httpserver.expect_request("/api/events").respond_with_json(
        {"data": []}, headers={"RateLimit-Limit": "3500", "RateLimit-Remaining": "0", "RateLimit-Reset": "30"}
    )
    clock = Clock()
    http = client(httpserver, clock, scale=1)
    get(http)
    assert clock.sleeps == []
    get(http)
    assert 29.0 <= sum(clock.sleeps) <= 31.0


def test_each_thread_has_its_own_session(httpserver: HTTPServer):
    http = client(httpserver, Clock())
    sessions: list[object] = []
    threads = [threading.Thread(target=lambda: sessions.append(http.session())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(s) for s in sessions}) == 4
    assert http.session() is http.session()


def test_every_request_carries_the_key_the_revision_and_json_api(httpserver: HTTPServer):
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response('{"data": []}', content_type="application/vnd.api+json")

    httpserver.expect_request("/api/events").respond_with_handler(handler)
    get(client(httpserver, Clock()))
    headers = seen[0].headers
    assert headers["Authorization"] == f"Klaviyo-API-Key {KEY}"
    assert headers["revision"] == "2026-10-15" and headers["accept"] == "application/vnd.api+json"
