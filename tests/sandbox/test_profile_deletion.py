"""Deleting people (DataPrivacyApi.request_profile_deletion, and the UI's delete through an admin route): the route
and tier the SDK names, its answer, its one-identifier rule, and Klaviyo's behaviour: asynchronous, then the profile
and its events gone from every read (profiles, events, members, metric aggregates, reports).

Each test has its own sandbox: deleting people changes numbers other test files read from the session sandbox.
"""

from __future__ import annotations

import time
import urllib.error
from datetime import UTC, datetime, timedelta

import pytest
from openapi_client.models import DataPrivacyCreateDeletionJobQuery, MetricAggregateQuery
from sdk_support import api_error, only_error, raw_get, raw_request, raw_walk, sdk_call, sdk_client, sdk_route, sdk_tier

from klaviyo_sandbox.account import Account
from klaviyo_sandbox.app import make_app
from klaviyo_sandbox.event_pages import fast_page
from klaviyo_sandbox.privacy import delete_profiles
from klaviyo_sandbox.routing import SANDBOX_KEY
from klaviyo_sandbox.settings import DataSettings

ARGS = ("--accounts", "2", "--seed", "11", "--events", "6000", "--profiles", "300", "--rate-limit-scale", "0")


def deletion(**identifier: str) -> DataPrivacyCreateDeletionJobQuery:
    profile: dict = {"type": "profile", "attributes": {k: v for k, v in identifier.items() if k != "id"}}
    if "id" in identifier:
        profile["id"] = identifier["id"]
    return DataPrivacyCreateDeletionJobQuery.from_dict(
        {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}
    )


def busiest_profile(sandbox, index: int = 0) -> tuple[dict, list[dict]]:
    """A profile with the most events, and its events."""
    events = raw_walk(sandbox, "/api/events", index, **{"page[size]": "1000"})
    by_profile: dict[str, list[dict]] = {}
    for event in events:
        by_profile.setdefault(event["relationships"]["profile"]["data"]["id"], []).append(event)
    profile_id = max(by_profile, key=lambda pid: len(by_profile[pid]))
    return raw_get(sandbox, f"/api/profiles/{profile_id}", index)["data"], by_profile[profile_id]


def gone(sandbox, profile: dict, events: list[dict], index: int = 0) -> None:
    """The profile and its events are absent from every read."""
    response = raw_request(sandbox, "GET", f"/api/profiles/{profile['id']}", index)
    assert response.status_code == 404
    assert (
        raw_get(sandbox, "/api/profiles", index, filter=f'equals(email,"{profile["attributes"]["email"]}")')["data"]
        == []
    )
    assert raw_get(sandbox, "/api/events", index, filter=f'equals(profile_id,"{profile["id"]}")')["data"] == []
    all_ids = {e["id"] for e in raw_walk(sandbox, "/api/events", index, **{"page[size]": "1000"})}
    assert not all_ids & {e["id"] for e in events}
    for event in events:
        assert raw_request(sandbox, "GET", f"/api/events/{event['id']}", index).status_code == 404
    for group in ("lists", "segments"):
        for record in raw_get(sandbox, f"/api/{group}", index)["data"]:
            members = raw_walk(sandbox, f"/api/{group}/{record['id']}/profiles", index, **{"page[size]": "100"})
            assert profile["id"] not in {m["id"] for m in members}


def count(sandbox, metric_id: str, index: int = 0) -> int:
    end = datetime(2026, 11, 2, tzinfo=UTC)
    body = {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric_id,
                "measurements": ["count"],
                "interval": "month",
                "filter": [
                    f"greater-or-equal(datetime,{(end - timedelta(days=365)).strftime('%Y-%m-%dT%H:%M:%S')})",
                    f"less-than(datetime,{end.strftime('%Y-%m-%dT%H:%M:%S')})",
                ],
            },
        }
    }
    _, model, _ = sdk_call(
        sdk_client(sandbox, index).Metrics,
        "query_metric_aggregates",
        metric_aggregate_query=MetricAggregateQuery.from_dict(body),
    )
    return sum(model.data.attributes.data[0].measurements["count"])


def test_the_route_and_tier_are_the_sdks():
    tiers = make_app()[SANDBOX_KEY].tiers
    assert sdk_route("request_profile_deletion") == ("POST", "/api/data-privacy-deletion-jobs")
    tier = tiers["request_profile_deletion"]
    assert (tier.burst, tier.steady) == sdk_tier("request_profile_deletion")


def test_a_deletion_by_email_is_asynchronous_then_takes_everything(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(*ARGS, "--job-seconds", "600")  # runs when the test says (run_deletions)
    account_id = sandbox.accounts[0]["id"]
    profile, events = busiest_profile(sandbox)
    assert len(events) >= 2
    metric_id = events[0]["relationships"]["metric"]["data"]["id"]
    of_metric = sum(1 for e in events if e["relationships"]["metric"]["data"]["id"] == metric_id)
    recent = [e for e in events if e["attributes"]["datetime"] >= "2025-11-02"]
    before = count(sandbox, metric_id)
    other, _ = busiest_profile(sandbox, 1)

    status, answer, raw = sdk_call(
        sdk_client(sandbox).Data_Privacy,
        "request_profile_deletion",
        data_privacy_create_deletion_job_query=deletion(email=profile["attributes"]["email"]),
    )
    assert (status, answer, raw) == (202, None, None)
    assert raw_get(sandbox, f"/api/profiles/{profile['id']}")["data"]["id"] == profile["id"]  # not yet

    assert sandbox.run_deletions(account_id) == [profile["id"]]
    gone(sandbox, profile, events)
    recent_of_metric = sum(1 for e in recent if e["relationships"]["metric"]["data"]["id"] == metric_id)
    assert count(sandbox, metric_id) == before - recent_of_metric
    assert of_metric >= recent_of_metric
    assert raw_get(sandbox, f"/api/profiles/{other['id']}", 1)["data"]["id"] == other["id"]  # other accounts: as were


def test_by_phone_number_and_by_id(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(*ARGS, "--job-seconds", "0.1")
    profiles = raw_get(sandbox, "/api/profiles", **{"page[size]": "50"})["data"]
    by_phone = next(p for p in profiles if p["attributes"]["phone_number"])
    by_id = next(p for p in profiles if p["id"] != by_phone["id"])
    client = sdk_client(sandbox)
    for query in (deletion(phone_number=by_phone["attributes"]["phone_number"]), deletion(id=by_id["id"])):
        status, _, _ = sdk_call(
            client.Data_Privacy, "request_profile_deletion", data_privacy_create_deletion_job_query=query
        )
        assert status == 202
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        codes = [raw_request(sandbox, "GET", f"/api/profiles/{p['id']}").status_code for p in (by_phone, by_id)]
        if codes == [404, 404]:
            break
        time.sleep(0.1)
    assert codes == [404, 404]


@pytest.mark.parametrize(
    ("profile", "detail"),
    [
        ({"type": "profile", "id": "01ABC", "attributes": {"email": "a@example.com"}}, "Exactly one identifier"),
        ({"type": "profile", "attributes": {"email": "a@example.com", "phone_number": "+15555550100"}}, "Exactly one"),
        ({"type": "profile", "attributes": {}}, "Exactly one identifier"),
        ({"type": "profile", "attributes": {"external_id": "x"}}, "not a valid field"),
        ({"type": "list", "attributes": {"email": "a@example.com"}}, "expected 'profile'"),
    ],
)
def test_exactly_one_identifier(klaviyo_sandbox, profile, detail):
    body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}
    response = raw_request(klaviyo_sandbox, "POST", "/api/data-privacy-deletion-jobs", body=body)
    assert response.status_code == 400
    assert detail in only_error(response)["detail"]


def test_an_error_parses_with_the_sdks_error_model(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox)
    status, error = api_error(
        lambda: client.Data_Privacy.request_profile_deletion(
            data_privacy_create_deletion_job_query=deletion(id="01ABC", email="two@example.com")
        )
    )
    assert status == 400 and "Exactly one identifier" in error.errors[0].detail


def test_the_uis_delete_is_immediate(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory(*ARGS)
    account_id = sandbox.accounts[1]["id"]
    profile, events = busiest_profile(sandbox, 1)
    sandbox.delete_profile(account_id, profile["id"])
    gone(sandbox, profile, events, 1)
    with pytest.raises(urllib.error.HTTPError) as again:
        sandbox.delete_profile(account_id, profile["id"])
    assert again.value.code == 404


def test_generated_event_pages_skip_a_deleted_profiles_events():
    """The fast page renderer (event_pages.fast_page) serves generated events by index: it must skip the hidden."""
    account = Account.generate(DataSettings(accounts=1, events=3000, profiles=50), 0)
    victim = account.data.profile_id(7)
    assert delete_profiles(account, [victim]) == [victim]
    table = account.state.events
    texts, _, _, _ = fast_page(account.data, table, "datetime", False, None, None, None, [], 1000 * 10, "http://x")
    assert len(texts) == table.n - len(table.hidden)
    assert not any(victim in text for text in texts)
    assert len(table.hidden) > 20
