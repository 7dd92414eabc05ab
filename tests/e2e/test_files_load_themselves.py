"""Files that load themselves, end to end on the stand-ins: a CSV put under the watched prefix of a bucket on moto's
S3 is notified to moto's SQS, the Sensor's stand-in (local_stand_ins.file_drops, read from the rendered Sensor,
EventSource and csv-to-klaviyo WorkflowTemplate) submits the workflow, and its pods run `meltano run csv-to-klaviyo`
for that file in the `prod` environment against the sandbox. Nobody starts a run: the test only writes files."""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import unquote_plus

import pytest
from meltano_project import ensure_installed

from local_stand_ins.file_drops import STATE_PREFIX, SensorStandIn, Submitted, watch_drops
from local_stand_ins.stack import STATE_BUCKET, start_local_stack

BUCKET = "acme-drops"
# Every stream (the folder holding the file): an event per row, its metric named in the row itself.
MAPPINGS = {
    "*": {
        "event": {
            "metric_column": "metric",
            "profile": {"email": "email"},
            "time": "ordered_at",
            "value": "total",
            "unique_id": "order_id",
        }
    }
}


def csv(metric: str, rows: int, *, total: str = "10.5") -> bytes:
    lines = ["order_id,email,metric,total,ordered_at"]
    lines += [
        f"{metric}-{n},buyer{n}@drops.example,{metric},{total},2024-05-0{1 + n % 9}T10:00:00Z" for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    ensure_installed("tap-csv", "target-klaviyo")
    stack = start_local_stack(
        "--accounts", "1", "--seed", "9", "--events", "20", "--profiles", "20", "--rate-limit-scale", "0",
        "--job-seconds", "0.2",
    )  # fmt: skip
    sensor = watch_drops(stack, bucket=BUCKET, scratch=tmp_path_factory.mktemp("sensor"), mappings=json.dumps(MAPPINGS))
    yield stack, stack.s3.client("s3"), sensor
    sensor.stop()
    stack.stop()


def workflows_for(
    sensor: SensorStandIn, key: str, count: int, *, succeeded: bool = True, timeout: float = 600
) -> list[Submitted]:
    """The workflows the Sensor submitted for `key` (waiting for `count` of them), each finished as expected."""
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in list(sensor.submitted) if unquote_plus(s.parameters["key"]) == key]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(found) == count, f"{len(found)} workflow(s) for {key}, expected {count}"
    for submitted in found:
        assert submitted.done.result(timeout=max(deadline - time.monotonic(), 1)) is succeeded, [
            (run.template, run.code, run.output[-3000:]) for run in submitted.runs
        ]
    return found


def sent_events(stack, metric: str) -> Counter[str]:
    """How many times the sandbox received each event (by unique id) of `metric` in bulk create requests."""
    time.sleep(0.6)  # the sandbox writes a bulk request's events just after accepting it (0.2 s)
    sent: Counter[str] = Counter()
    for request in stack.sandbox.requests("/api/event-bulk-create-jobs", method="POST"):
        for event in request["body"]["data"]["attributes"]["events-bulk-create"]["data"]:
            attributes = event["attributes"]["events"]["data"][0]["attributes"]
            if attributes["metric"]["data"]["attributes"]["name"] == metric:
                sent[attributes["unique_id"]] += 1
    return sent


def test_a_dropped_file_is_loaded_without_a_command(drops):
    stack, s3, sensor = drops
    s3.put_object(Bucket=BUCKET, Key="incoming/orders/first drop.csv", Body=csv("Drop one", 3))
    (workflow,) = workflows_for(sensor, "incoming/orders/first drop.csv", 1)
    assert [run.template for run in workflow.runs] == ["identify", "load-file"]
    assert sent_events(stack, "Drop one") == Counter({"Drop one-0": 1, "Drop one-1": 1, "Drop one-2": 1})
    # the file's own state id, on the state bucket
    (load,) = [run for run in workflow.runs if run.template == "load-file"]
    states = s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=STATE_PREFIX).get("Contents", [])
    assert any(load.inputs["file_id"] in state["Key"] for state in states)
    assert stack.sandbox.key(0) not in load.output


def test_two_files_dropped_at_once_both_load(drops):
    stack, s3, sensor = drops
    s3.put_object(Bucket=BUCKET, Key="incoming/orders/two-a.csv", Body=csv("Drop a", 2))
    s3.put_object(Bucket=BUCKET, Key="incoming/returns/two-b.csv", Body=csv("Drop b", 4))
    workflows_for(sensor, "incoming/orders/two-a.csv", 1)
    workflows_for(sensor, "incoming/returns/two-b.csv", 1)
    assert sum(sent_events(stack, "Drop a").values()) == 2
    assert sum(sent_events(stack, "Drop b").values()) == 4


def test_the_same_file_dropped_twice_loads_once_and_a_changed_one_again(drops):
    stack, s3, sensor = drops
    key = "incoming/orders/again.csv"
    once = Counter({"Drop again-0": 1, "Drop again-1": 1, "Drop again-2": 1})
    s3.put_object(Bucket=BUCKET, Key=key, Body=csv("Drop again", 3))
    s3.put_object(Bucket=BUCKET, Key=key, Body=csv("Drop again", 3))  # at once, the same bytes: the same ETag
    workflows_for(sensor, key, 2)
    assert sent_events(stack, "Drop again") == once

    # Uploaded again later: a new object (another LastModified) with the same content, so the same ETag.
    s3.put_object(Bucket=BUCKET, Key=key, Body=csv("Drop again", 3))
    third = workflows_for(sensor, key, 3)[-1]
    assert "was loaded already" in next(r.output for r in third.runs if r.template == "load-file")
    assert sent_events(stack, "Drop again") == once

    s3.put_object(Bucket=BUCKET, Key=key, Body=csv("Drop again", 3, total="99"))  # changed: another ETag
    workflows_for(sensor, key, 4)
    assert sent_events(stack, "Drop again") == Counter({"Drop again-0": 2, "Drop again-1": 2, "Drop again-2": 2})


def test_a_file_outside_a_stream_folder_is_refused_by_name(drops):
    stack, s3, sensor = drops
    s3.put_object(Bucket=BUCKET, Key="incoming/loose.csv", Body=csv("Drop loose", 1))
    (workflow,) = workflows_for(sensor, "incoming/loose.csv", 1, succeeded=False)
    (identify,) = workflow.runs  # nothing loaded; exit 2 is not retried (retryStrategy, test_file_loads.py)
    assert identify.code == 2
    assert "loose.csv is directly under incoming/; put it in a folder named after its stream" in identify.output
    assert not sent_events(stack, "Drop loose")
