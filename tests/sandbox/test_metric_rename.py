"""`serve --text-message-rename AT`: Klaviyo's rename of its SMS metrics (klaviyo_sandbox.metric_renames), read with
the official SDK: the same metric ids, the "Text Message" names from AT on (old ones before), events unchanged, and
the Reporting API counting the renamed metrics as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from sdk_support import REVISION, raw_get, sdk_call, sdk_client

from klaviyo_sandbox.metric_renames import TEXT_MESSAGE_NAMES
from klaviyo_sandbox.pytest_plugin import start_sandbox

DATA = ("--accounts", "1", "--seed", "5", "--events", "3000", "--profiles", "200", "--rate-limit-scale", "0")
RENAMED_AT = "2026-07-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def sandboxes():
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    started = {
        "never": start_sandbox(*DATA),
        "renamed": start_sandbox(*DATA, "--text-message-rename", RENAMED_AT),
        "not yet": start_sandbox(*DATA, "--text-message-rename", later),
    }
    yield started
    for sandbox in started.values():
        sandbox.stop()


def metrics(sandbox) -> dict[str, tuple[str, str]]:
    """id -> (name, updated), as the SDK's get_metrics parses them."""
    status, model, _ = sdk_call(sdk_client(sandbox).Metrics, "get_metrics")
    assert status == 200
    return {m.id: (m.attributes.name, str(m.attributes.updated)) for m in model.data}


def test_the_sms_metrics_keep_their_ids_and_take_the_new_names_at_the_rename(sandboxes):
    before = metrics(sandboxes["never"])
    assert {"Received SMS", "Clicked SMS"} <= {name for name, _ in before.values()}
    after = metrics(sandboxes["renamed"])
    assert set(after) == set(before)  # the same ids
    for metric_id, (name, updated) in before.items():
        if name in TEXT_MESSAGE_NAMES:
            assert after[metric_id] == (TEXT_MESSAGE_NAMES[name], RENAMED_AT)
        else:
            assert after[metric_id] == (name, updated)
    assert metrics(sandboxes["not yet"]) == before  # before AT, the old names


def test_events_name_the_same_metric_ids_and_include_the_new_name(sandboxes):
    def sms_events(sandbox) -> tuple[list[tuple[str, str]], set[str]]:
        ids = {m["id"] for m in raw_get(sandbox, "/api/metrics")["data"] if "SMS" in m["attributes"]["name"]}
        ids |= {m["id"] for m in raw_get(sandbox, "/api/metrics")["data"] if "Text Message" in m["attributes"]["name"]}
        page = raw_get(sandbox, "/api/events", include="metric", **{"page[size]": "200"})
        events = [(e["id"], e["relationships"]["metric"]["data"]["id"]) for e in page["data"]]
        included = {m["attributes"]["name"] for m in page.get("included", []) if m["id"] in ids}
        return events, included

    before, old_names = sms_events(sandboxes["never"])
    after, new_names = sms_events(sandboxes["renamed"])
    assert after == before
    assert not old_names & set(TEXT_MESSAGE_NAMES.values()) and not new_names & set(TEXT_MESSAGE_NAMES)


def test_reports_count_the_renamed_sms_metrics_as_before(sandboxes):
    def flow_values(sandbox) -> list[tuple[str, int, int]]:
        placed = next(
            m["id"] for m in raw_get(sandbox, "/api/metrics")["data"] if m["attributes"]["name"] == "Placed Order"
        )
        timeframe = {"start": "2025-11-01T00:00:00", "end": "2026-11-01T00:00:00"}
        body = {
            "data": {
                "type": "flow-values-report",
                "attributes": {
                    "statistics": ["delivered", "clicks"],
                    "timeframe": timeframe,
                    "conversion_metric_id": placed,
                    "filter": 'equals(send_channel,"sms")',
                },
            }
        }
        response = requests.post(
            f"{sandbox.url}/api/flow-values-reports",
            json=body,
            headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": REVISION},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        results = response.json()["data"]["attributes"]["results"]
        return sorted(
            (r["groupings"]["flow_message_id"], r["statistics"]["delivered"], r["statistics"]["clicks"])
            for r in results
        )

    before = flow_values(sandboxes["never"])
    assert sum(delivered for _, delivered, _ in before) > 0
    assert flow_values(sandboxes["renamed"]) == before
