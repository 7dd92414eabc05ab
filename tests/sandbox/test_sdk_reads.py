"""The sandbox read through the official SDK (klaviyo-api 25.0.0): every read endpoint's response must parse with
the SDK's pydantic models, pagination and filters must work through the SDK's parameters, errors must parse with
the SDK's error model.

The SDK drops JSON keys its models do not know without a word, so each response is also walked against the parsed
model (sdk_support.check_document): a key the model has no field for is a sandbox invention and fails the test.
"""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI
from pydantic import BaseModel
from sdk_support import api_error, raw_get, raw_walk, sdk_call, sdk_client, sdk_walk

from klaviyo_sandbox.endpoints import ENDPOINTS, Endpoint

READ_ACCOUNT = 0  # endpoint checks
WALK_ACCOUNT = 2  # pagination counts: no SDK test writes to it

# The SDK property (KlaviyoAPI.<Group>) that holds each endpoint's method: by resource type, then exceptions.
SDK_GROUP = {
    "account": "Accounts",
    "event": "Events",
    "profile": "Profiles",
    "campaign": "Campaigns",
    "campaign-message": "Campaigns",
    "flow": "Flows",
    "flow-action": "Flows",
    "flow-message": "Flows",
    "list": "Lists",
    "segment": "Segments",
    "metric": "Metrics",
    "tag": "Tags",
    "template": "Templates",
}
SDK_GROUP_OF_ENDPOINT = {
    "get_profiles_for_list": "Lists",
    "get_profiles_for_segment": "Segments",
    "get_profiles_for_bulk_import_profiles_job": "Profiles",
    "get_list_for_bulk_import_profiles_job": "Profiles",
}
# A bulk import job's profiles and lists need a job of their own: test_sdk_writes.py reads them through the SDK.
JOB_READS = {"get_profiles_for_bulk_import_profiles_job", "get_list_for_bulk_import_profiles_job"}
# Sub-collections: the resource type whose id goes into the path.
PARENT_TYPE = {
    "get_messages_for_campaign": "campaign",
    "get_actions_for_flow": "flow",
    "get_flow_action_messages": "flow-action",
    "get_profiles_for_list": "list",
    "get_profiles_for_segment": "segment",
}
CHANNELS = ("email", "sms", "mobile_push")


def linkage(resources: list[dict], include: str) -> set[tuple[str, str]]:
    """The (type, id) pairs that `resources` point at through relationship `include`."""
    out: set[tuple[str, str]] = set()
    for resource in resources:
        data = (resource.get("relationships") or {}).get(include, {}).get("data")
        for ref in data if isinstance(data, list) else [data] if data else []:
            out.add((ref["type"], ref["id"]))
    return out


# ---- ids of real resources, found over plain HTTP ------------------------------------------------------------
@pytest.fixture(scope="module")
def resource_ids(klaviyo_sandbox) -> dict[str, str]:
    sb = klaviyo_sandbox

    def first(path: str, **params: str) -> str:
        return raw_get(sb, path, READ_ACCOUNT, **params)["data"][0]["id"]

    flow = first("/api/flows")
    actions = raw_get(sb, f"/api/flows/{flow}/flow-actions", READ_ACCOUNT)["data"]
    action = next(a for a in actions if a["relationships"]["flow-messages"]["data"])
    return {
        "account": first("/api/accounts"),
        "event": first("/api/events"),
        "profile": first("/api/profiles"),
        "campaign": first("/api/campaigns", filter="equals(messages.channel,'email')"),
        "campaign-message": first("/api/campaign-messages"),
        "flow": flow,
        "flow-action": action["id"],
        "flow-message": action["relationships"]["flow-messages"]["data"][0]["id"],
        "list": first("/api/lists"),
        "segment": first("/api/segments"),
        "metric": first("/api/metrics"),
        "tag": first("/api/tags"),
        "template": first("/api/templates"),
    }


# ---- 1. every read endpoint through its SDK method --------------------------------------------------------------
def read_cases() -> list[Any]:
    cases = []
    for ep in ENDPOINTS:
        if ep.name in JOB_READS:
            continue
        channels = CHANNELS if ep.name == "get_campaigns" else (None,)
        cases += [pytest.param(ep, channel, id=ep.name + (f"[{channel}]" if channel else "")) for channel in channels]
    return cases


def sdk_kwargs(ep: Endpoint, channel: str | None, ids: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if ep.single or ep.name in PARENT_TYPE:
        kwargs["id"] = ids[PARENT_TYPE.get(ep.name, ep.type)]
    if ep.includes:
        kwargs["include"] = list(ep.includes)
    if ep.additional_fields:
        kwargs["additional_fields_profile"] = ["subscriptions", "predictive_analytics"]
    if channel:
        kwargs["filter"] = f"equals(messages.channel,'{channel}')"
    return kwargs


def sdk_api(client: KlaviyoAPI, ep: Endpoint) -> Any:
    return getattr(client, SDK_GROUP_OF_ENDPOINT.get(ep.name, SDK_GROUP[ep.type]))


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: ep.name)
def test_sdk_method_requests_the_endpoint_path(ep):
    """The SDK method named like the endpoint exists and requests the endpoint's path (read from its source)."""
    api = sdk_api(KlaviyoAPI("pk_unused"), ep)
    source = inspect.getsource(getattr(type(api), f"_{ep.name}_serialize"))
    assert re.findall(r"resource_path='([^']+)'", source) == [ep.path]


@pytest.mark.parametrize(("ep", "channel"), read_cases())
def test_read_endpoint_parses_with_sdk_models(klaviyo_sandbox, resource_ids, ep, channel):
    api = sdk_api(sdk_client(klaviyo_sandbox, READ_ACCOUNT), ep)
    kwargs = sdk_kwargs(ep, channel, resource_ids)
    status, model, raw = sdk_call(api, ep.name, **kwargs)  # the SDK method, with its status and the raw body
    assert status == 200
    assert isinstance(model, BaseModel), type(model)

    data = raw["data"] if isinstance(raw["data"], list) else [raw["data"]]
    assert data, "no records: nothing was parsed"
    assert {r["type"] for r in data} == {ep.type}
    if ep.single:
        assert raw["data"]["id"] == kwargs["id"]
    if "additional_fields_profile" in kwargs:
        for record in model.data if isinstance(model.data, list) else [model.data]:
            assert record.attributes.subscriptions is not None
            assert record.attributes.predictive_analytics is not None

    # `included` holds exactly what the data links to through the included relationships (JSON:API full linkage).
    included = {(r["type"], r["id"]) for r in raw.get("included", [])}
    linked = set().union(*(linkage(data, name) for name in ep.includes)) if ep.includes else set()
    assert included == linked


# ---- 2. pagination and filters through the SDK -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "method", "path", "size"),
    [
        ("Events", "get_events", "/api/events", 1000),
        ("Profiles", "get_profiles", "/api/profiles", 100),
    ],
)
def test_sdk_pagination_is_complete_without_duplicates(klaviyo_sandbox, group, method, path, size):
    served = [r["id"] for r in raw_walk(klaviyo_sandbox, path, WALK_ACCOUNT, **{"page[size]": str(size)})]
    api = getattr(sdk_client(klaviyo_sandbox, WALK_ACCOUNT), group)
    walked = [r.id for r in sdk_walk(getattr(api, method), page_size=size)]
    assert len(walked) == len(set(walked)) == len(served) > size
    assert walked == served


@pytest.mark.parametrize(
    ("group", "method", "size"),
    [
        ("Events", "get_events", 1000),
        ("Events", "get_events", 7),
        ("Profiles", "get_profiles", 100),
        ("Profiles", "get_profiles", 3),
    ],
)
def test_sdk_wrapper_accepts_the_full_next_url_as_page_cursor(klaviyo_sandbox, group, method, size):
    # Small pages give many cursors of every length, so every base64 padding case is met.
    api = getattr(sdk_client(klaviyo_sandbox, WALK_ACCOUNT), group)
    by_cursor = [r.id for r in sdk_walk(getattr(api, method), max_pages=40, page_size=size)]
    by_url = [r.id for r in sdk_walk(getattr(api, method), full_url_cursor=True, max_pages=40, page_size=size)]
    assert by_url == by_cursor


def iso_z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_sdk_events_in_a_datetime_range_sorted_descending(klaviyo_sandbox):
    events = sdk_client(klaviyo_sandbox, WALK_ACCOUNT).Events
    sample = events.get_events(page_size=1000, sort="datetime").data
    lo, hi = sample[100].attributes.datetime_, sample[700].attributes.datetime_
    got = sdk_walk(
        events.get_events,
        page_size=250,
        sort="-datetime",
        filter=f"greater-or-equal(datetime,{iso_z(lo)}),less-than(datetime,{iso_z(hi)})",
    )
    times = [e.attributes.datetime_ for e in got]
    assert times == sorted(times, reverse=True)
    assert all(lo <= t < hi for t in times)
    assert [e.id for e in got] == [e.id for e in reversed(sample[100:700])]


def test_sdk_profiles_updated_after(klaviyo_sandbox):
    profiles = sdk_client(klaviyo_sandbox, WALK_ACCOUNT).Profiles
    everyone = sdk_walk(profiles.get_profiles, page_size=100, sort="updated")
    cut = everyone[len(everyone) // 2].attributes.updated
    got = sdk_walk(profiles.get_profiles, page_size=100, filter=f"greater-than(updated,{iso_z(cut)})")
    assert got and all(p.attributes.updated.replace(microsecond=0) > cut for p in got)
    expected = {p.id for p in everyone if p.attributes.updated.replace(microsecond=0) > cut}
    assert {p.id for p in got} == expected


def test_sdk_campaign_channel_filters_partition_the_campaigns(klaviyo_sandbox):
    campaigns = sdk_client(klaviyo_sandbox, READ_ACCOUNT).Campaigns
    by_channel = {
        channel: {
            c.id
            for c in sdk_walk(
                campaigns.get_campaigns, full_url_cursor=False, filter=f"equals(messages.channel,'{channel}')"
            )
        }
        for channel in CHANNELS
    }
    assert all(by_channel.values()), {k: len(v) for k, v in by_channel.items()}
    assert sum(len(v) for v in by_channel.values()) == len(set().union(*by_channel.values()))


# ---- 3. sparse fieldsets ----------------------------------------------------------------------------------------
def test_sdk_sparse_fieldsets_return_only_the_fields_asked_for(klaviyo_sandbox):
    body = sdk_client(klaviyo_sandbox, READ_ACCOUNT).Events.get_events(
        fields_event=["datetime"], fields_metric=["name"], include=["metric"]
    )
    assert isinstance(body, dict)  # the SDK skips its models when sparse fieldsets are used
    assert body["data"] and all(set(e["attributes"]) == {"datetime"} for e in body["data"])
    metrics = [r for r in body["included"] if r["type"] == "metric"]
    assert metrics and all(set(m["attributes"]) == {"name"} for m in metrics)
    assert {("metric", m["id"]) for m in metrics} == linkage(body["data"], "metric")


# ---- 4. errors through the SDK ----------------------------------------------------------------------------------
def test_sdk_bad_key_is_401_with_an_sdk_error_body(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, key="pk_sandbox_" + "0" * 32)
    status, body = api_error(client.Accounts.get_accounts)
    assert status == 401
    assert body.errors[0].code == "authentication_failed"


def test_sdk_unsupported_filter_operator_is_400(klaviyo_sandbox):
    profiles = sdk_client(klaviyo_sandbox, READ_ACCOUNT).Profiles
    status, body = api_error(lambda: profiles.get_profiles(filter="greater-or-equal(updated,2025-01-01T00:00:00Z)"))
    assert status == 400
    error = body.errors[0]
    assert error.code == "invalid" and error.source is not None and error.source.parameter == "filter"


@pytest.mark.parametrize(
    ("group", "method", "size"),
    [
        ("Profiles", "get_profiles", 101),
        ("Events", "get_events", 1001),
    ],
)
def test_sdk_page_size_over_the_maximum_is_400(klaviyo_sandbox, group, method, size):
    api = getattr(sdk_client(klaviyo_sandbox, READ_ACCOUNT), group)
    with pytest.raises(ValueError, match="less than or equal to"):  # the SDK checks the maximum itself ...
        getattr(api, method)(page_size=size)
    # ... so call the same SDK method without its argument validation to see what the server answers.
    unvalidated = getattr(type(api), method).raw_function
    status, body = api_error(lambda: unvalidated(api, page_size=size))
    assert status == 400
    assert body.errors[0].code == "invalid" and body.errors[0].source.parameter == "page[size]"


def test_sdk_campaigns_without_a_channel_filter_is_400(klaviyo_sandbox):
    campaigns = sdk_client(klaviyo_sandbox, READ_ACCOUNT).Campaigns
    status, body = api_error(campaigns.get_campaigns)
    assert status == 400
    assert body.errors[0].code == "invalid" and body.errors[0].source.parameter == "filter"
    status, _ = api_error(lambda: campaigns.get_campaigns(filter="equals(archived,false)"))
    assert status == 400
