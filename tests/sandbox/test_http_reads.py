"""Read semantics over HTTP: complete and stable cursors, filter boundaries, sparse fieldsets, members, scale."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import requests

from klaviyo_sandbox.pytest_plugin import start_sandbox_process, wait_for

REVISION = "2026-10-15"


class Client:
    """A tiny Klaviyo client for one account of a running sandbox."""

    def __init__(self, sandbox, index: int = 0) -> None:
        self.base = sandbox.url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Klaviyo-API-Key {sandbox.key(index)}",
                "revision": REVISION,
                "content-type": "application/vnd.api+json",
            }
        )

    def get(self, path: str, **params: str) -> dict:
        response = self.session.get(f"{self.base}{path}", params=params, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def walk(self, path: str, **params: str) -> list[dict]:
        """Every record, following links.next."""
        body = self.get(path, **params)
        records = list(body["data"])
        while body["links"]["next"]:
            response = self.session.get(body["links"]["next"], timeout=60)
            assert response.status_code == 200, response.text
            body = response.json()
            records.extend(body["data"])
        return records

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(f"{self.base}{path}", json=body, timeout=60)


def ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def event(metric: str, email: str, when: datetime, unique_id: str | None = None) -> dict:
    attributes = {
        "properties": {"source": "test"},
        "time": when.isoformat(),
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
    }
    if unique_id:
        attributes["unique_id"] = unique_id
    return {"type": "event", "attributes": attributes}


def bulk_events(client: Client, email: str, events: list[dict]) -> None:
    body = {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                                "events": {"data": events},
                            },
                        }
                    ]
                }
            },
        }
    }
    response = client.post("/api/event-bulk-create-jobs", body)
    assert response.status_code == 202, response.text


# ---- cursors ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(request):
    from klaviyo_sandbox.pytest_plugin import start_sandbox  # noqa: PLC0415

    sandbox = start_sandbox(
        "--accounts", "2", "--events", "3000", "--profiles", "450", "--rate-limit-scale", "0", "--job-seconds", "0.1"
    )
    request.addfinalizer(sandbox.stop)
    return sandbox


@pytest.mark.parametrize("sort", ["datetime", "-datetime"])
def test_event_cursor_walks_every_event_once_in_order(small, sort):
    records = Client(small).walk("/api/events", **{"page[size]": "700", "sort": sort})
    assert len(records) == 3000 and len(set(ids(records))) == 3000
    times = [r["attributes"]["timestamp"] for r in records]
    assert times == sorted(times, reverse=sort.startswith("-"))


@pytest.mark.parametrize(
    ("path", "size", "expected"),
    [
        ("/api/profiles", "100", 450),
        ("/api/profiles", "7", 450),
        ("/api/templates", "10", 25),
        ("/api/tags", "5", 12),
    ],
)
def test_collections_walk_completely(small, path, size, expected):
    records = Client(small).walk(path, **{"page[size]": size})
    assert len(records) == expected == len(set(ids(records)))


def test_page_size_bounds_per_endpoint(small):
    client = Client(small)
    assert len(client.get("/api/events")["data"]) == 200  # default
    assert len(client.get("/api/profiles")["data"]) == 20
    assert len(client.get("/api/lists")["data"]) == 10
    over = client.session.get(f"{small.url}/api/profiles", params={"page[size]": "101"}, timeout=30)
    assert over.status_code == 400 and over.json()["errors"][0]["source"] == {"parameter": "page[size]"}
    assert client.session.get(f"{small.url}/api/events", params={"page[size]": "1000"}).status_code == 200
    assert client.session.get(f"{small.url}/api/events", params={"page[size]": "1001"}).status_code == 400


def test_cursor_is_stable_while_events_arrive(small):
    client = Client(small, 1)
    first = client.get("/api/events", **{"page[size]": "500", "sort": "datetime"})
    small.activity(small.accounts[1]["id"], events=40, profiles=10)  # new events, all newer than the first page
    rest = []
    next_url = first["links"]["next"]
    while next_url:
        body = client.session.get(next_url, timeout=30).json()
        rest.extend(body["data"])
        next_url = body["links"]["next"]
    walked = ids(first["data"]) + ids(rest)
    assert len(walked) == len(set(walked)) == 3040


def test_equal_timestamps_at_a_filter_boundary_are_all_returned(small):
    client = Client(small)
    metric = f"Boundary {uuid.uuid4().hex[:8]}"
    when = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    emails = [f"tie{k}-{uuid.uuid4().hex[:6]}@example.com" for k in range(5)]
    for email in emails:
        bulk_events(client, email, [event(metric, email, when)])
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def ours(records):
        return [
            r
            for r in records
            if r["attributes"]["event_properties"].get("source") == "test"
            and r["attributes"]["datetime"].startswith("2026-06-01T12:00:00")
        ]

    found = wait_for(
        lambda: (
            len(
                ours(
                    client.walk(
                        "/api/events",
                        filter=f"greater-or-equal(datetime,{stamp})",
                        **{"page[size]": "2", "sort": "datetime"},
                    )
                )
            )
            == 5
        )
    )
    assert found
    after = ours(client.walk("/api/events", filter=f"greater-than(datetime,{stamp})"))
    assert after == []
    upto = ours(client.walk("/api/events", filter=f"less-or-equal(datetime,{stamp})", **{"page[size]": "1000"}))
    assert len(upto) == 5


def test_unique_id_deduplicates_and_posted_events_are_readable(small):
    client = Client(small)
    metric = f"Ordered {uuid.uuid4().hex[:8]}"
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    when = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    batch = [event(metric, email, when + timedelta(minutes=k), unique_id=f"order-{k}") for k in range(3)]
    bulk_events(client, email, batch)
    bulk_events(client, email, batch)  # a retried request: Klaviyo keeps one event per unique_id
    response = client.post("/api/events", {"data": event(metric, email, when, unique_id="order-0")})
    assert response.status_code == 202 and response.content == b""

    metrics = client.get("/api/metrics")["data"]
    metric_id = wait_for(
        lambda: next((m["id"] for m in client.get("/api/metrics")["data"] if m["attributes"]["name"] == metric), None)
    )
    assert metric_id, [m["attributes"]["name"] for m in metrics]
    time.sleep(0.5)  # let every queued job run before counting
    mine = client.walk("/api/events", filter=f'equals(metric_id,"{metric_id}")')
    assert sorted(r["attributes"]["event_properties"]["$event_id"] for r in mine) == ["order-0", "order-1", "order-2"]
    profile = client.get("/api/profiles", filter=f'equals(email,"{email}")')["data"]
    assert len(profile) == 1
    assert {r["relationships"]["profile"]["data"]["id"] for r in mine} == {profile[0]["id"]}


# ---- updates ------------------------------------------------------------------------------------------
def test_activity_moves_updated_so_incremental_filters_see_it(klaviyo_sandbox_factory):
    # Its own sandbox: writes by other tests in the same second would also move `updated`.
    sandbox = klaviyo_sandbox_factory(
        "--accounts", "1", "--events", "100", "--profiles", "300", "--rate-limit-scale", "0"
    )
    client = Client(sandbox)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    changed = sandbox.activity(sandbox.accounts[0]["id"], profiles=7, others=2, seed=11)
    stamp = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    updated = client.walk("/api/profiles", filter=f"greater-than(updated,{stamp})", **{"page[size]": "100"})
    assert set(ids(updated)) == set(changed["profiles"])
    flows = [
        f
        for archived in ("true", "false")
        for f in client.walk("/api/flows", filter=f"greater-than(updated,{stamp}),equals(archived,{archived})")
    ]
    assert set(ids(flows)) == set(changed["flow"])
    campaigns = []
    for channel in ("email", "sms", "mobile_push"):
        for archived in ("true", "false"):
            campaigns += client.walk(
                "/api/campaigns",
                filter=f"equals(messages.channel,'{channel}'),"
                f"equals(archived,{archived}),"
                f"greater-than(updated_at,{stamp})",
            )
    assert set(ids(campaigns)) == set(changed["campaign"])


# ---- include, fields, members, campaigns ------------------------------------------------------------------
def test_included_resources_carry_only_the_fields_asked_for(small):
    body = Client(small).get(
        "/api/events",
        include="metric,profile",
        **{"fields[metric]": "name", "fields[profile]": "email,location.city", "fields[event]": "datetime"},
    )
    assert {tuple(r["attributes"]) for r in body["data"]} == {("datetime",)}
    kinds = {r["type"] for r in body["included"]}
    assert kinds == {"metric", "profile"}
    for resource in body["included"]:
        if resource["type"] == "metric":
            assert set(resource["attributes"]) == {"name"}
        else:
            assert set(resource["attributes"]) <= {"email", "location"}
            assert set(resource["attributes"].get("location") or {}) <= {"city"}
    keys = [(r["type"], r["id"]) for r in body["included"]]
    assert len(keys) == len(set(keys))  # each related resource once


def test_campaigns_come_per_channel_and_cover_every_campaign(small):
    client = Client(small)
    seen: dict[str, str] = {}
    for channel in ("email", "sms", "mobile_push"):
        for archived in ("true", "false"):
            for campaign in client.walk(
                "/api/campaigns",
                include="campaign-messages",
                filter=f"equals(messages.channel,'{channel}'),equals(archived,{archived})",
            ):
                assert campaign["id"] not in seen
                assert campaign["attributes"]["definition"]["archived"] is (archived == "true")
                seen[campaign["id"]] = channel
    assert len(seen) == 40
    assert set(seen.values()) == {"email", "sms", "mobile_push"}


def test_archived_flows_and_campaigns_are_listed_only_when_asked_for(small):
    client = Client(small)
    default = client.walk("/api/flows")
    archived = client.walk("/api/flows", filter="equals(archived,true)")
    assert archived and default
    assert {f["attributes"]["archived"] for f in default} == {False}
    assert {f["attributes"]["archived"] for f in archived} == {True}
    assert len(default) + len(archived) == 12
    email = client.walk("/api/campaigns", filter="equals(messages.channel,'email')")
    assert email and not any(c["attributes"]["definition"]["archived"] for c in email)


def test_list_members_sorted_and_filtered_by_joined_group_at(small):
    client = Client(small)
    first_list = client.get("/api/lists")["data"][0]["id"]
    members = client.walk(f"/api/lists/{first_list}/profiles", **{"page[size]": "100"})
    assert members
    joined = [m["attributes"]["joined_group_at"] for m in members]
    assert joined == sorted(joined)
    middle = joined[len(joined) // 2]
    later = client.walk(f"/api/lists/{first_list}/profiles", filter=f"greater-or-equal(joined_group_at,{middle})")
    assert len(later) == sum(1 for j in joined if j >= middle)


def test_bulk_imported_profiles_join_their_lists(small):
    client = Client(small)
    list_id = client.get("/api/lists")["data"][1]["id"]
    emails = [f"import-{k}-{uuid.uuid4().hex[:8]}@example.com" for k in range(3)]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [{"type": "profile", "attributes": {"email": e, "first_name": "Imported"}} for e in emails]
                    + [{"type": "profile", "attributes": {"email": "not-an-email"}}]
                }
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }
    response = client.post("/api/profile-bulk-import-jobs", body)
    assert response.status_code == 202, response.text
    job = response.json()["data"]
    assert job["attributes"]["status"] in ("queued", "processing")
    done = wait_for(
        lambda: client.get(f"/api/profile-bulk-import-jobs/{job['id']}")["data"]["attributes"]["status"] == "complete"
    )
    assert done
    status = client.get(f"/api/profile-bulk-import-jobs/{job['id']}")["data"]["attributes"]
    assert (status["total_count"], status["completed_count"], status["failed_count"]) == (4, 3, 1)
    errors = client.get(f"/api/profile-bulk-import-jobs/{job['id']}/import-errors")["data"]
    assert [e["attributes"]["original_payload"]["attributes"]["email"] for e in errors] == ["not-an-email"]
    members = client.walk(f"/api/lists/{list_id}/profiles", filter=f"any(email,[{','.join(map(repr, emails))}])")
    assert sorted(m["attributes"]["email"] for m in members) == sorted(emails)


# ---- scale --------------------------------------------------------------------------------------------
def test_a_million_events_and_100k_profiles_per_account_in_bounded_memory(request):
    # A process of its own, so that its memory is this data set's alone.
    sandbox = start_sandbox_process(
        "--accounts", "2", "--events", "1000000", "--profiles", "100000", "--rate-limit-scale", "0"
    )
    request.addfinalizer(sandbox.stop)
    assert sandbox.process is not None
    process = psutil.Process(sandbox.process.pid)
    for index in range(2):
        client = Client(sandbox, index)
        newest = client.get("/api/events", sort="-datetime", **{"page[size]": "1000"})["data"]
        oldest = client.get("/api/events", sort="datetime", **{"page[size]": "1000"})["data"]
        assert len(newest) == len(oldest) == 1000
        assert newest[0]["attributes"]["datetime"] > oldest[-1]["attributes"]["datetime"]
        assert client.get(f"/api/events/{newest[0]['id']}")["data"]["id"] == newest[0]["id"]
        window = client.get(
            "/api/events",
            filter="greater-or-equal(datetime,2025-03-01T00:00:00Z),less-than(datetime,2025-03-02T00:00:00Z)",
            **{"page[size]": "1000"},
        )
        assert window["data"] and all(r["attributes"]["datetime"].startswith("2025-03-01") for r in window["data"])
        # profiles sorted by a field the generator cannot seek (email) sort all 100,000 once
        by_email = client.get("/api/profiles", sort="email", **{"page[size]": "100"})["data"]
        emails = [p["attributes"]["email"] for p in by_email]
        assert emails == sorted(emails)
        last = client.get("/api/profiles", sort="-created", **{"page[size]": "100"})["data"]
        assert client.get(f"/api/profiles/{last[0]['id']}")["data"]["id"] == last[0]["id"]
    rss_mb = process.memory_info().rss / 2**20
    print(f"sandbox RSS: {rss_mb:.0f} MB")
    assert rss_mb < 1024, f"sandbox uses {rss_mb:.0f} MB for 2M events and 200k profiles"
