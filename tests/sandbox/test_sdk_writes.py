"""The sandbox written through the official SDK (klaviyo-api 25.0.0): request bodies built with the SDK's models,
responses parsed by them, and every write readable afterwards through the SDK's read methods.

Every test uses its own metric names and e-mail addresses: the session sandbox is shared with other test files.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_client.models import (
    EventCreateQueryV2,
    EventsBulkCreateJob,
    GetImportErrorResponseCollection,
    GetProfileImportJobResponseCompoundDocument,
    PostProfileImportJobResponse,
    PostProfileResponse,
    ProfileImportJobCreateQuery,
    ProfileImportJobCreateQueryResourceObject,
    ProfileImportJobCreateQueryResourceObjectAttributes,
    ProfileImportJobCreateQueryResourceObjectAttributesProfiles,
    ProfileImportJobCreateQueryResourceObjectRelationships,
    ProfileUpsertQuery,
    ProfileUpsertQueryResourceObject,
    ProfileUpsertQueryResourceObjectAttributes,
)
from sdk_support import api_error, raw_get, sdk_call, sdk_client, sdk_route, sdk_tier, sdk_walk, wait_for

from klaviyo_sandbox.endpoints import ENDPOINTS
from klaviyo_sandbox.relationships import RELATIONSHIP_ENDPOINTS

WRITE_ACCOUNT = 1


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---- request bodies, as plain JSON:API dicts parsed into the SDK's request models -------------------------------
def profile_ref(email: str) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {"email": email}}}


def event_attributes(metric: str, when: datetime, unique_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "properties": {"source": "sdk-test", **properties},
        "time": when.isoformat(),
        "unique_id": unique_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
    }


def bulk_events_job(by_email: dict[str, list[dict[str, Any]]]) -> EventsBulkCreateJob:
    """One bulk job: for each e-mail, its events' attributes (without the profile)."""
    return EventsBulkCreateJob.from_dict(
        {
            "data": {
                "type": "event-bulk-create-job",
                "attributes": {
                    "events-bulk-create": {
                        "data": [
                            {
                                "type": "event-bulk-create",
                                "attributes": {
                                    "profile": profile_ref(email),
                                    "events": {"data": [{"type": "event", "attributes": e} for e in events]},
                                },
                            }
                            for email, events in by_email.items()
                        ]
                    },
                },
            }
        }
    )


def profile_row(**attributes: Any) -> ProfileUpsertQueryResourceObject:
    """A profile built with the SDK's constructors, so only the attributes given are sent.

    (`Model.from_dict` marks every field as set, and the SDK then sends each missing nullable attribute as an
    explicit null, which profile-import takes as "clear this field".)"""
    return ProfileUpsertQueryResourceObject(
        type="profile", attributes=ProfileUpsertQueryResourceObjectAttributes(**attributes)
    )


def upsert_query(email: str, **attributes: Any) -> ProfileUpsertQuery:
    return ProfileUpsertQuery(data=profile_row(email=email, **attributes))


def import_query(rows: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> ProfileImportJobCreateQuery:
    relationships = (
        ProfileImportJobCreateQueryResourceObjectRelationships.from_dict(
            {"lists": {"data": [{"type": "list", "id": lid} for lid in list_ids]}}
        )
        if list_ids
        else None
    )
    return ProfileImportJobCreateQuery(
        data=ProfileImportJobCreateQueryResourceObject(
            type="profile-bulk-import-job",
            relationships=relationships,
            attributes=ProfileImportJobCreateQueryResourceObjectAttributes(
                profiles=ProfileImportJobCreateQueryResourceObjectAttributesProfiles(
                    data=[profile_row(**row) for row in rows]
                )
            ),
        )
    )


# ---- reading back ---------------------------------------------------------------------------------------------
def metric_id(client, name: str) -> str | None:
    return next((m.id for m in sdk_walk(client.Metrics.get_metrics) if m.attributes.name == name), None)


def profile_by_email(client, email: str) -> list[Any]:
    return client.Profiles.get_profiles(filter=f'equals(email,"{email}")').data


def events_of_metric(client, mid: str, *extra: str) -> list[Any]:
    conditions = ",".join((f'equals(metric_id,"{mid}")', *extra))
    return sdk_walk(client.Events.get_events, filter=conditions, page_size=1000, sort="datetime")


# ---- 5. writes ------------------------------------------------------------------------------------------------
def test_sdk_create_event_is_readable_by_metric_and_profile(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    metric, email = unique("SDK Viewed"), f"{unique('viewer')}@example.com"
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    attributes = {
        **event_attributes(metric, when, "view-1", ProductName="Trail Runner"),
        "value": 12.5,
        "profile": profile_ref(email),
    }
    query = EventCreateQueryV2.from_dict({"data": {"type": "event", "attributes": attributes}})
    status, body, _ = sdk_call(client.Events, "create_event", event_create_query_v2=query)
    assert status == 202 and body is None

    mid = metric_id(client, metric)
    profiles = profile_by_email(client, email)
    assert mid and len(profiles) == 1
    events = events_of_metric(client, mid, f'equals(profile_id,"{profiles[0].id}")')
    assert len(events) == 1
    event = events[0]
    assert event.attributes.datetime_ == when
    assert event.attributes.event_properties["ProductName"] == "Trail Runner"
    assert event.attributes.event_properties["$value"] == 12.5
    assert event.relationships.metric.data.id == mid
    assert event.relationships.profile.data.id == profiles[0].id


def test_sdk_bulk_create_events_then_a_retry_adds_nothing(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    metric = unique("SDK Ordered")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    emails = [f"{unique('bulk')}@example.com" for _ in range(10)]
    by_email = {
        email: [
            event_attributes(metric, start + timedelta(seconds=100 * p + k), f"order-{p}-{k}", OrderId=f"R{p}-{k}")
            for k in range(100)
        ]
        for p, email in enumerate(emails)
    }
    assert sum(map(len, by_email.values())) == 1000
    job = bulk_events_job(by_email)

    status, body, _ = sdk_call(client.Events, "bulk_create_events", events_bulk_create_job=job)
    assert status == 202 and body is None
    mid = wait_for(lambda: metric_id(client, metric))
    assert mid, "the job's metric never appeared"
    events = wait_for(lambda: (found := events_of_metric(client, mid)) and len(found) >= 1000 and found)
    assert len(events) == 1000
    assert len({e.id for e in events}) == 1000
    assert sorted(e.attributes.event_properties["$event_id"] for e in events) == sorted(
        f"order-{p}-{k}" for p in range(10) for k in range(100)
    )

    # A retried request (same unique_ids) is accepted and dropped. A later job with one new event shows when the
    # retry has run: jobs complete in the order they were accepted.
    assert sdk_call(client.Events, "bulk_create_events", events_bulk_create_job=job)[0] == 202
    marker = bulk_events_job({emails[0]: [event_attributes(metric, start - timedelta(days=1), "marker")]})
    assert sdk_call(client.Events, "bulk_create_events", events_bulk_create_job=marker)[0] == 202
    after = wait_for(lambda: (found := events_of_metric(client, mid)) and len(found) > 1000 and found)
    assert len(after) == 1001
    assert [e.attributes.event_properties["$event_id"] for e in after].count("marker") == 1


def test_sdk_create_or_update_profile_is_201_then_200(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    email = f"{unique('upsert')}@example.com"
    status, created, _ = sdk_call(
        client.Profiles,
        "create_or_update_profile",
        profile_upsert_query=upsert_query(email, first_name="Ada", properties={"plan": "basic"}),
    )
    assert status == 201 and isinstance(created, PostProfileResponse)
    assert created.data.id and created.data.attributes.email == email
    assert created.data.attributes.first_name == "Ada"

    status, updated, _ = sdk_call(
        client.Profiles,
        "create_or_update_profile",
        profile_upsert_query=upsert_query(email, last_name="Lovelace", properties={"tier": "gold"}),
    )
    assert status == 200 and isinstance(updated, PostProfileResponse)
    assert updated.data.id == created.data.id
    assert updated.data.attributes.updated >= created.data.attributes.updated

    found = profile_by_email(client, email)
    assert [p.id for p in found] == [created.data.id]
    attributes = found[0].attributes
    assert (attributes.first_name, attributes.last_name) == ("Ada", "Lovelace")
    assert attributes.properties == {"plan": "basic", "tier": "gold"}


def test_sdk_bulk_import_profiles_reports_invalid_rows(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    list_id = raw_get(klaviyo_sandbox, "/api/lists", WRITE_ACCOUNT)["data"][0]["id"]
    valid = [f"{unique('import')}@example.com" for _ in range(5)]
    invalid_rows = [
        {"email": "not-an-email", "first_name": "Bad"},
        {"phone_number": "555-0100", "first_name": "NoE164"},
        {"first_name": "NoIdentifier"},
    ]
    rows = [{"email": email, "first_name": f"Valid {k}"} for k, email in enumerate(valid)]
    rows[2:2] = invalid_rows  # invalid rows in the middle: their indexes must be kept
    query = import_query(rows, (list_id,))

    status, accepted, _ = sdk_call(client.Profiles, "bulk_import_profiles", profile_import_job_create_query=query)
    assert status == 202 and isinstance(accepted, PostProfileImportJobResponse)
    job_id = accepted.data.id
    assert accepted.data.attributes.total_count == len(rows)
    assert accepted.data.attributes.status in ("queued", "processing")

    def finished() -> GetProfileImportJobResponseCompoundDocument | None:
        job = sdk_call(client.Profiles, "get_bulk_import_profiles_job", job_id=job_id, include=["lists"])[1]
        return job if job.data.attributes.status == "complete" else None

    job = wait_for(finished)
    assert job, "the import job never completed"
    assert isinstance(job, GetProfileImportJobResponseCompoundDocument)
    assert job.data.attributes.completed_count == len(valid)
    assert job.data.attributes.failed_count == len(invalid_rows)
    assert job.data.attributes.completed_at is not None
    assert [lst.id for lst in job.included or []] == [list_id]

    status, errors, _ = sdk_call(client.Profiles, "get_errors_for_bulk_import_profiles_job", id=job_id)
    assert status == 200 and isinstance(errors, GetImportErrorResponseCollection)
    assert [e.attributes.original_payload["attributes"] for e in errors.data] == invalid_rows
    assert {e.attributes.code for e in errors.data} == {"invalid"}
    assert all(
        e.attributes.source.pointer.startswith(f"/data/attributes/profiles/data/{rows.index(row)}")
        for e, row in zip(errors.data, invalid_rows, strict=True)
    )

    emails = ",".join(f'"{e}"' for e in valid)
    imported = sdk_walk(client.Profiles.get_profiles, filter=f"any(email,[{emails}])")
    assert sorted(p.attributes.email for p in imported) == sorted(valid)
    members = sdk_walk(client.Lists.get_profiles_for_list, id=list_id, filter=f"any(email,[{emails}])")
    assert sorted(p.attributes.email for p in members) == sorted(valid)


@pytest.mark.parametrize("full_url_cursor", [False, True], ids=["cursor", "full-next-url"])
@pytest.mark.parametrize("page_size", [1, 2])
def test_sdk_import_errors_paginate(klaviyo_sandbox, page_size, full_url_cursor):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    bad = [{"email": f"broken-{k}-{uuid.uuid4().hex[:6]}"} for k in range(5)]
    rows = [*bad, {"email": f"{unique('ok')}@example.com"}]
    job_id = client.Profiles.bulk_import_profiles(profile_import_job_create_query=import_query(rows)).data.id
    assert wait_for(
        lambda: client.Profiles.get_bulk_import_profiles_job(job_id=job_id).data.attributes.status == "complete"
    )
    errors = sdk_walk(
        client.Profiles.get_errors_for_bulk_import_profiles_job,
        full_url_cursor=full_url_cursor,
        id=job_id,
        page_size=page_size,
    )
    assert [e.attributes.original_payload["attributes"] for e in errors] == bad


# ---- the import job's profiles and lists (GET .../profile-bulk-import-jobs/{id}/profiles, /lists, relationships) --
JOB_READS = [
    "get_profiles_for_bulk_import_profiles_job",
    "get_profile_ids_for_bulk_import_profiles_job",
    "get_list_for_bulk_import_profiles_job",
    "get_list_ids_for_bulk_import_profiles_job",
]


def completed_job(client, rows: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> str:
    query = import_query(rows, list_ids)
    job_id = client.Profiles.bulk_import_profiles(profile_import_job_create_query=query).data.id
    assert wait_for(
        lambda: client.Profiles.get_bulk_import_profiles_job(job_id=job_id).data.attributes.status == "complete"
    )
    return job_id


@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_sdk_an_import_jobs_profiles_are_the_profiles_it_imported(klaviyo_sandbox, page_size):
    """What a list mirror needs: the ids of the profiles a job imported, matched by their identifiers (an invalid
    row imports nothing; a row naming an existing profile names that profile)."""
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    existing = f"{unique('again')}@example.com"
    first = completed_job(client, [{"email": existing, "first_name": "Once"}])
    (before,) = sdk_walk(client.Profiles.get_profiles_for_bulk_import_profiles_job, id=first)
    emails = [f"{unique('job')}@example.com" for _ in range(4)]
    rows = [{"email": e} for e in emails] + [{"email": "broken@"}, {"email": existing, "last_name": "Twice"}]
    job_id = completed_job(client, rows)

    status, _, raw = sdk_call(
        client.Profiles, "get_profiles_for_bulk_import_profiles_job", id=job_id, page_size=page_size
    )
    assert status == 200 and len(raw["data"]) == min(page_size, 5)
    profiles = sdk_walk(client.Profiles.get_profiles_for_bulk_import_profiles_job, id=job_id, page_size=page_size)
    assert sorted(p.attributes.email for p in profiles) == sorted([*emails, existing])
    assert before.id in {p.id for p in profiles}
    by_email = {p.attributes.email: p.id for p in profiles}
    quoted = ",".join(f'"{e}"' for e in [*emails, existing])
    read = sdk_walk(client.Profiles.get_profiles, filter=f"any(email,[{quoted}])")
    assert by_email == {p.attributes.email: p.id for p in read}

    status, _, raw = sdk_call(client.Profiles, "get_profile_ids_for_bulk_import_profiles_job", id=job_id)
    assert status == 200 and all(set(ref) == {"type", "id"} for ref in raw["data"])
    ids = sdk_walk(client.Profiles.get_profile_ids_for_bulk_import_profiles_job, id=job_id, page_size=page_size)
    assert sorted(ref.id for ref in ids) == sorted(by_email.values())


def test_sdk_an_import_jobs_profiles_take_a_sparse_fieldset_and_subscriptions(klaviyo_sandbox):
    """As GET /api/profiles does: fields[profile] and additional-fields[profile]."""
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    email = f"{unique('sparse')}@example.com"
    job_id = completed_job(client, [{"email": email, "first_name": "Sparse", "external_id": unique("ext")}])
    method = "get_profiles_for_bulk_import_profiles_job"
    _, _, raw = sdk_call(client.Profiles, method, id=job_id, fields_profile=["email", "external_id"])
    (profile,) = raw["data"]
    assert set(profile["attributes"]) == {"email", "external_id"}
    assert profile["attributes"]["email"] == email
    _, _, raw = sdk_call(client.Profiles, method, id=job_id, additional_fields_profile=["subscriptions"])
    assert raw["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]["consent"]


def test_sdk_an_import_jobs_lists(klaviyo_sandbox):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    list_id = raw_get(klaviyo_sandbox, "/api/lists", WRITE_ACCOUNT)["data"][1]["id"]
    job_id = completed_job(client, [{"email": f"{unique('listed')}@example.com"}], (list_id,))
    status, _, raw = sdk_call(client.Profiles, "get_list_for_bulk_import_profiles_job", id=job_id)
    assert status == 200 and [item["id"] for item in raw["data"]] == [list_id]
    status, _, raw = sdk_call(client.Profiles, "get_list_ids_for_bulk_import_profiles_job", id=job_id)
    assert status == 200 and raw["data"] == [{"type": "list", "id": list_id}]
    unlisted = completed_job(client, [{"email": f"{unique('unlisted')}@example.com"}])
    assert client.Profiles.get_list_ids_for_bulk_import_profiles_job(id=unlisted).data == []


@pytest.mark.parametrize("method", JOB_READS)
def test_sdk_an_unknown_jobs_profiles_and_lists_are_404(klaviyo_sandbox, method):
    client = sdk_client(klaviyo_sandbox, WRITE_ACCOUNT)
    status, body = api_error(lambda: getattr(client.Profiles, method)(id="noSuchJob"))
    assert status == 404 and body.errors[0].code == "not_found"


@pytest.mark.parametrize("method", JOB_READS)
def test_the_import_jobs_reads_are_the_sdks_paths_and_tiers(method):
    verb, path = sdk_route(method)
    served = {e.name: e for e in [*ENDPOINTS, *RELATIONSHIP_ENDPOINTS]}[method]
    assert (verb, path) == ("GET", served.path)
    assert (served.tier.burst, served.tier.steady) == sdk_tier(method)
