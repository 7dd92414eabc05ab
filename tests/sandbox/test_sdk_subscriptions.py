"""Marketing consent written through the official SDK (ProfilesApi.bulk_subscribe_profiles /
bulk_unsubscribe_profiles, klaviyo-api 25.0.0) and read back through it (get_profiles with
additional-fields[profile]=subscriptions, get_profiles_for_list): request bodies built from the SDK's models, the
limits and validation its docstrings and models state, the routes' paths and tiers.

Every test uses its own e-mail addresses in the write account of the session sandbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_client.models import SubscriptionCreateJobCreateQuery, SubscriptionDeleteJobCreateQuery
from sdk_support import api_error, raw_get, raw_request, sdk_call, sdk_client, sdk_route, sdk_tier, wait_for

from klaviyo_sandbox.endpoints import WRITE_TIERS

ACCOUNT = 1
SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"


def email() -> str:
    return f"consent-{uuid.uuid4().hex[:10]}@example.com"


def phone() -> str:
    return f"+1202555{uuid.uuid4().int % 10_000:04d}"


def consent_profile(
    email_: str | None = None, phone_: str | None = None, *, consent: str = "SUBSCRIBED", at: str | None = None
) -> dict[str, Any]:
    marketing: dict[str, Any] = {"consent": consent}
    if at:
        marketing["consented_at"] = at
    subscriptions = {}
    attributes: dict[str, Any] = {}
    if email_:
        attributes["email"] = email_
        subscriptions["email"] = {"marketing": marketing}
    if phone_:
        attributes["phone_number"] = phone_
        subscriptions["sms"] = {"marketing": marketing}
    return {"type": "profile", "attributes": {**attributes, "subscriptions": subscriptions}}


def subscribe_job(profiles: list[dict], *, historical: bool = False, list_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {"profiles": {"data": profiles}, "historical_import": historical},
        }
    }
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def unsubscribe_job(profiles: list[dict], *, list_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "data": {"type": "profile-subscription-bulk-delete-job", "attributes": {"profiles": {"data": profiles}}}
    }
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def consent_of(client, address: str) -> Any:
    """The profile's subscriptions as the SDK reads them (None until the job has run and made it)."""
    found = client.Profiles.get_profiles(
        filter=f'equals(email,"{address}")', additional_fields_profile=["subscriptions"]
    ).data
    return found[0].attributes.subscriptions if found else None


def list_emails(client, list_id: str, addresses: list[str]) -> set[str]:
    quoted = ",".join(f'"{a}"' for a in addresses)
    members = client.Lists.get_profiles_for_list(id=list_id, filter=f"any(email,[{quoted}])", page_size=100).data
    return {m.attributes.email for m in members}


# ---- through the SDK ------------------------------------------------------------------------------------------------
def test_sdk_subscribe_then_unsubscribe_email_and_sms(klaviyo_sandbox):
    """New profiles are created and subscribed; they join the job's list; an unsubscribe job takes consent back
    and takes them out of the list."""
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    list_id = raw_get(klaviyo_sandbox, "/api/lists", ACCOUNT)["data"][2]["id"]
    a, b, b_phone = email(), email(), phone()
    query = SubscriptionCreateJobCreateQuery.from_dict(
        subscribe_job([consent_profile(a), consent_profile(b, b_phone)], list_id=list_id)
    )
    status, body, _ = sdk_call(client.Profiles, "bulk_subscribe_profiles", subscription_create_job_create_query=query)
    assert (status, body) == (202, None)
    assert wait_for(lambda: consent_of(client, b)), "the job never ran"
    for address in (a, b):
        marketing = consent_of(client, address).email.marketing
        assert marketing.consent == "SUBSCRIBED" and marketing.can_receive_email_marketing is True
    sms = consent_of(client, b).sms.marketing
    assert sms.consent == "SUBSCRIBED" and sms.can_receive_sms_marketing is True
    assert list_emails(client, list_id, [a, b]) == {a, b}

    query = SubscriptionDeleteJobCreateQuery.from_dict(
        unsubscribe_job([consent_profile(b, consent="UNSUBSCRIBED")], list_id=list_id)
    )
    status, body, _ = sdk_call(client.Profiles, "bulk_unsubscribe_profiles", subscription_delete_job_create_query=query)
    assert (status, body) == (202, None)
    assert wait_for(lambda: consent_of(client, b).email.marketing.consent == "UNSUBSCRIBED")
    assert consent_of(client, b).email.marketing.can_receive_email_marketing is False
    assert consent_of(client, b).sms.marketing.consent == "SUBSCRIBED"  # only the channel named changed
    assert consent_of(client, a).email.marketing.consent == "SUBSCRIBED"
    assert list_emails(client, list_id, [a, b]) == {a}


def test_sdk_historical_import_keeps_the_date_consent_was_given(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    address = email()
    given = (datetime.now(UTC) - timedelta(days=400)).replace(microsecond=0)
    query = SubscriptionCreateJobCreateQuery.from_dict(
        subscribe_job([consent_profile(address, at=given.isoformat())], historical=True)
    )
    assert sdk_call(client.Profiles, "bulk_subscribe_profiles", subscription_create_job_create_query=query)[0] == 202
    assert wait_for(lambda: consent_of(client, address))
    marketing = consent_of(client, address).email.marketing
    assert marketing.consent == "SUBSCRIBED"
    assert marketing.consent_timestamp == given


def test_sdk_unsubscribing_someone_unknown_creates_them_unsubscribed(klaviyo_sandbox):
    """The SDK's docstring: "If a profile cannot be found matching the given identifier(s), a new profile will be
    created and then unsubscribed"."""
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    address = email()
    query = SubscriptionDeleteJobCreateQuery.from_dict(
        unsubscribe_job([consent_profile(address, consent="UNSUBSCRIBED")])
    )
    assert client.Profiles.bulk_unsubscribe_profiles(subscription_delete_job_create_query=query) is None
    assert wait_for(lambda: consent_of(client, address))
    assert consent_of(client, address).email.marketing.consent == "UNSUBSCRIBED"


# ---- validation and limits ------------------------------------------------------------------------------------
PAST = "2024-05-01T10:00:00+00:00"
SUBSCRIBE_REFUSALS = {
    "over-1000": (
        subscribe_job([consent_profile(f"x{k}@example.com") for k in range(1001)]),
        "/data/attributes/profiles/data",
    ),
    "none": (subscribe_job([]), "/data/attributes/profiles/data"),
    "bad-email": (
        subscribe_job([consent_profile("ok@example.com"), consent_profile("not-an-email")]),
        "/data/attributes/profiles/data/1/attributes/email",
    ),
    "sms-without-phone": (
        subscribe_job(
            [
                {
                    "type": "profile",
                    "attributes": {
                        "email": "a@example.com",
                        "subscriptions": {"sms": {"marketing": {"consent": "SUBSCRIBED"}}},
                    },
                }
            ]
        ),
        "/data/attributes/profiles/data/0/attributes/phone_number",
    ),
    "phone-not-e164": (
        subscribe_job([consent_profile(None, "202-555-0100")]),
        "/data/attributes/profiles/data/0/attributes/phone_number",
    ),
    "wrong-consent": (
        subscribe_job([consent_profile("a@example.com", consent="UNSUBSCRIBED")]),
        "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consent",
    ),
    "consented-at-without-historical": (
        subscribe_job([consent_profile("a@example.com", at=PAST)]),
        "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consented_at",
    ),
    "historical-without-consented-at": (
        subscribe_job([consent_profile("a@example.com")], historical=True),
        "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consented_at",
    ),
    "consented-at-in-the-future": (
        subscribe_job([consent_profile("a@example.com", at="2999-01-01T00:00:00+00:00")], historical=True),
        "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consented_at",
    ),
    "no-channel": (
        subscribe_job([{"type": "profile", "attributes": {"email": "a@example.com", "subscriptions": {}}}]),
        "/data/attributes/profiles/data/0/attributes/subscriptions",
    ),
    "unknown-list": (
        subscribe_job([consent_profile("a@example.com")], list_id="NoSuchList"),
        "/data/relationships/list/data/id",
    ),
    "wrong-type": ({"data": {"type": "profile-bulk-import-job", "attributes": {}}}, "/data/type"),
}


@pytest.mark.parametrize(("body", "pointer"), SUBSCRIBE_REFUSALS.values(), ids=SUBSCRIBE_REFUSALS.keys())
def test_a_bad_subscribe_job_is_400_and_changes_nothing(klaviyo_sandbox, body, pointer):
    response = raw_request(klaviyo_sandbox, "POST", SUBSCRIBE, ACCOUNT, body=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert (error["code"], error["source"]["pointer"]) == ("invalid", pointer)


def test_a_refused_job_subscribes_none_of_its_profiles(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    good = email()
    body = subscribe_job([consent_profile(good), consent_profile("broken@")])
    assert raw_request(klaviyo_sandbox, "POST", SUBSCRIBE, ACCOUNT, body=body).status_code == 400
    marker = email()
    assert (
        raw_request(
            klaviyo_sandbox, "POST", SUBSCRIBE, ACCOUNT, body=subscribe_job([consent_profile(marker)])
        ).status_code
        == 202
    )
    assert wait_for(lambda: consent_of(client, marker))  # jobs run in order: the refused one would have run first
    assert consent_of(client, good) is None


def test_unsubscribe_takes_at_most_100_profiles_and_only_unsubscribed(klaviyo_sandbox):
    over = unsubscribe_job([consent_profile(f"u{k}@example.com", consent="UNSUBSCRIBED") for k in range(101)])
    response = raw_request(klaviyo_sandbox, "POST", UNSUBSCRIBE, ACCOUNT, body=over)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/profiles/data"
    exactly = unsubscribe_job([consent_profile(f"u{k}@example.com", consent="UNSUBSCRIBED") for k in range(100)])
    assert raw_request(klaviyo_sandbox, "POST", UNSUBSCRIBE, ACCOUNT, body=exactly).status_code == 202
    wrong = unsubscribe_job([consent_profile("u@example.com")])
    response = raw_request(klaviyo_sandbox, "POST", UNSUBSCRIBE, ACCOUNT, body=wrong)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"].endswith("/subscriptions/email/marketing/consent")
    dated = {**consent_profile("u@example.com", consent="UNSUBSCRIBED")}
    dated["attributes"]["subscriptions"]["email"]["marketing"]["consented_at"] = PAST
    response = raw_request(klaviyo_sandbox, "POST", UNSUBSCRIBE, ACCOUNT, body=unsubscribe_job([dated]))
    assert response.status_code == 400


def test_the_sdk_refuses_nothing_the_sandbox_accepts_at_the_limit(klaviyo_sandbox):
    """1,000 profiles in one subscribe job, built with the SDK's model: accepted."""
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    query = SubscriptionCreateJobCreateQuery.from_dict(subscribe_job([consent_profile(email()) for _ in range(1000)]))
    assert client.Profiles.bulk_subscribe_profiles(subscription_create_job_create_query=query) is None


def test_an_sdk_error_parses_as_the_sdks_error_model(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, ACCOUNT)
    query = SubscriptionCreateJobCreateQuery.from_dict(subscribe_job([consent_profile("broken@")]))
    status, body = api_error(
        lambda: client.Profiles.bulk_subscribe_profiles(subscription_create_job_create_query=query)
    )
    assert status == 400 and body.errors[0].code == "invalid"


@pytest.mark.parametrize(
    ("name", "path"), [("bulk_subscribe_profiles", SUBSCRIBE), ("bulk_unsubscribe_profiles", UNSUBSCRIBE)]
)
def test_the_routes_are_the_sdks_paths_and_tiers(klaviyo_sandbox, name, path):
    assert sdk_route(name) == ("POST", path)
    assert (WRITE_TIERS[name].burst, WRITE_TIERS[name].steady) == sdk_tier(name)
    response = raw_request(klaviyo_sandbox, "POST", path, ACCOUNT, body={})
    assert response.headers["RateLimit-Limit"] == str(sdk_tier(name)[1])
