"""`GET /api/events?include=attributions` through the official SDK (klaviyo-api): the attribution the sandbox
keeps in each conversion's `$attribution` is served as Klaviyo serves it, an `attribution` resource linked from the
event and side-loaded in `included`, at the endpoint's one rate tier."""

from __future__ import annotations

from typing import Any

from sdk_support import REVISION, raw_request, raw_walk, sdk_call, sdk_client, sdk_tier

from klaviyo_sandbox.attribution import attribution_id

ACCOUNT = 1


def events_page(sandbox: Any, **kwargs: Any) -> dict:
    status, _, raw = sdk_call(
        sdk_client(sandbox, ACCOUNT).Events, "get_events", sort="-datetime", page_size=1000, **kwargs
    )
    assert status == 200 and raw is not None
    return raw


def test_attributions_are_linked_and_included_as_klaviyo_shapes_them(klaviyo_sandbox) -> None:
    raw = events_page(klaviyo_sandbox, include=["attributions"], fields_attribution=["id"])
    included = {item["id"]: item for item in raw["included"]}
    attributed = [e for e in raw["data"] if "$attribution" in e["attributes"]["event_properties"]]
    organic = [e for e in raw["data"] if "$attribution" not in e["attributes"]["event_properties"]]
    assert attributed and organic
    for event in organic:
        assert event["relationships"]["attributions"]["data"] == []
    campaign_of = {  # every campaign message's campaign, archived ones too, over plain HTTP
        message["id"]: campaign["id"]
        for channel in ("email", "sms")
        for archived in ("false", "true")
        for campaign in raw_walk(
            klaviyo_sandbox,
            "/api/campaigns",
            ACCOUNT,
            filter=f"equals(messages.channel,'{channel}'),equals(archived,{archived})",
        )
        for message in raw_walk(klaviyo_sandbox, f"/api/campaigns/{campaign['id']}/campaign-messages", ACCOUNT)
    }
    campaigns = flows = 0
    for event in attributed:
        own = event["attributes"]["event_properties"]["$attribution"]
        (ref,) = event["relationships"]["attributions"]["data"]
        assert ref == {"type": "attribution", "id": attribution_id(event["id"])}
        item = included.pop(ref["id"])
        assert item["type"] == "attribution" and item["attributes"] == {}
        rel = {name: value["data"] for name, value in item["relationships"].items()}
        assert rel["event"] == {"type": "event", "id": event["id"]}
        if own["$flow"]:
            flows += 1
            assert set(rel) == {"event", "flow", "flow-message"}
            assert rel["flow"] == {"type": "flow", "id": own["$flow"]}
            assert rel["flow-message"] == {"type": "flow-message", "id": own["$message"]}
        else:
            campaigns += 1
            assert set(rel) == {"event", "campaign", "campaign-message"}
            assert rel["campaign-message"] == {"type": "campaign-message", "id": own["$message"]}
            assert rel["campaign"] == {"type": "campaign", "id": campaign_of[own["$message"]]}
    assert campaigns and flows
    assert included == {}, "only the page's events' attributions are included"


def test_without_include_the_page_is_unchanged(klaviyo_sandbox) -> None:
    plain = events_page(klaviyo_sandbox)
    assert "included" not in plain
    assert all(e["relationships"]["attributions"]["data"] == [] for e in plain["data"])
    with_include = events_page(klaviyo_sandbox, include=["attributions"])
    assert [e["id"] for e in with_include["data"]] == [e["id"] for e in plain["data"]]
    assert [e["attributes"] for e in with_include["data"]] == [e["attributes"] for e in plain["data"]]


def test_one_event_with_its_attribution(klaviyo_sandbox) -> None:
    raw = events_page(klaviyo_sandbox, include=["attributions"])
    event = next(e for e in raw["data"] if e["relationships"]["attributions"]["data"])
    status, _, one = sdk_call(
        sdk_client(klaviyo_sandbox, ACCOUNT).Events, "get_event", id=event["id"], include=["attributions"]
    )
    assert status == 200 and one is not None
    assert one["data"]["relationships"]["attributions"] == event["relationships"]["attributions"]
    assert [i["id"] for i in one["included"]] == [attribution_id(event["id"])]


def test_fields_attribution_takes_only_id(klaviyo_sandbox) -> None:
    # get_events.json's fields[attribution] enum is ["id"]: an attribution has no attributes to pick.
    bad = raw_request(
        klaviyo_sandbox, "GET", "/api/events", ACCOUNT, include="attributions", **{"fields[attribution]": "campaign"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["source"] == {"parameter": "fields[attribution]"}
    not_included = raw_request(klaviyo_sandbox, "GET", "/api/events", ACCOUNT, **{"fields[attribution]": "id"})
    assert not_included.status_code == 400  # a sparse fieldset for a type the request does not return


def test_include_costs_no_other_rate_tier(klaviyo_sandbox_factory) -> None:
    # Klaviyo gives get_events one tier whatever it includes (get_events.json's x-klaviyo-ratelimit, the SDK's
    # docstring): the sandbox counts both requests in the one bucket and answers the same limit.
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--events", "3000", "--profiles", "300")
    burst, steady = sdk_tier("get_events")
    answers = [
        raw_request(sandbox, "GET", "/api/events", 0, **params)
        for params in ({}, {"include": "attributions"}, {"include": "attributions,metric,profile"})
    ]
    assert all(a.status_code == 200 for a in answers)
    assert {a.headers["RateLimit-Limit"] for a in answers} == {str(steady)}
    assert burst == 350 and steady == 3500
    assert REVISION == "2026-10-15"
