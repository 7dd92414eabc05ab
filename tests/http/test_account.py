"""AccountHttp, one Klaviyo account bound to a KlaviyoHttp: found by its key, paced by its id, never showing its key.

In-process against a local HTTP server, time patched as in test_client.py.
"""

from __future__ import annotations

import threading

import pytest
from pytest_httpserver import HTTPServer
from test_client import KEY, Clock, client, errors_body
from werkzeug import Request, Response

from klaviyo_http import API_URL, REVISION, KeyRefusedError

ACCOUNT = {"data": [{"type": "account", "id": "AbC123", "attributes": {"timezone": "America/Chicago"}}]}


def test_a_key_is_identified_as_its_account_and_the_handle_carries_it(httpserver: HTTPServer):
    httpserver.expect_request("/api/accounts").respond_with_json(ACCOUNT)
    httpserver.expect_request("/api/events").respond_with_json({"data": [], "links": {"next": None}})
    account = client(httpserver, Clock()).identify("Acme Outdoors", KEY)
    assert (account.id, account.name) == ("AbC123", "Acme Outdoors")
    assert account.get_json("/api/events", endpoint="get_events") == {"data": [], "links": {"next": None}}
    assert [request.headers["Authorization"] for request, _ in httpserver.log] == [f"Klaviyo-API-Key {KEY}"] * 2


def test_a_refused_key_is_said_with_the_accounts_name_and_never_the_key(httpserver: HTTPServer):
    httpserver.expect_request("/api/accounts").respond_with_data(
        errors_body(401, "not_authenticated", "Incorrect authentication credentials."), status=401
    )
    with pytest.raises(KeyRefusedError) as refused:
        client(httpserver, Clock()).identify("Acme Outdoors", KEY)
    assert "'Acme Outdoors'" in str(refused.value) and KEY not in str(refused.value)


def test_the_key_is_in_no_repr_or_attribute_a_log_would_show(httpserver: HTTPServer):
    account = client(httpserver, Clock()).for_account("AbC123", "Acme Outdoors", KEY)
    assert KEY not in repr(account) and KEY not in str(account)
    assert account.headers()["Authorization"] == f"Klaviyo-API-Key {KEY}"


def test_limiters_are_the_account_ids_whatever_the_names(httpserver: HTTPServer):
    http = client(httpserver, Clock(), scale=1)
    acme = http.for_account("AbC123", "Acme Outdoors", KEY)
    renamed = http.for_account("AbC123", "Acme (renamed)", KEY)  # the same account under another name
    namesake = http.for_account("XyZ789", "Acme Outdoors", "pk_other")  # another account, the same name
    assert acme.limiter("get_events") is renamed.limiter("get_events") is http.limiter("AbC123", "get_events")
    assert acme.limiter("get_events") is not namesake.limiter("get_events")
    assert acme.limiter("get_events") is not acme.limiter("get_profiles")


def test_one_handle_serves_many_threads_on_one_budget(httpserver: HTTPServer):
    """Several streams (threads) of one account share the account's steady window: the limiter counts them all."""
    seen: list[str] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            seen.append(request.headers["Authorization"])
        return Response('{"data": []}', content_type="application/vnd.api+json")

    httpserver.expect_request("/api/events").respond_with_handler(handler)
    clock = Clock()
    http = client(httpserver, clock, scale=1)
    account = http.for_account("AbC123", "Acme Outdoors", KEY)
    threads = [
        threading.Thread(target=lambda: [account.get("/api/events", endpoint="get_events") for _ in range(10)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter = account.limiter("get_events")
    assert limiter is not None and len(seen) == 40
    assert limiter._steady_count == 40  # every thread's requests in the account's one window


def test_klaviyos_url_and_revision_are_klaviyo_https(httpserver: HTTPServer):
    assert API_URL == "https://a.klaviyo.com" and REVISION == "2026-10-15"
    assert client(httpserver, Clock()).for_account("A", "a", KEY).headers()["revision"] == "2026-10-15"
