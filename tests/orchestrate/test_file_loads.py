"""Files that load themselves, as rendered: the Sensor submits the csv-to-klaviyo WorkflowTemplate with the bucket, key
and ETag of an S3 notification; the template decodes and checks the key (a wrong one is not retried), then loads the
file holding a mutex named after it. And orchestrate/load_file.py's pure parts: keys, ids, the loaded-once rule.
(End to end on the stand-ins: tests/e2e/test_files_load_themselves.py.)"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from typing import Any

import pytest
from argo_manifests import ORCHESTRATE, deploy, named, of_kind, placeholders, template

from local_stand_ins.file_drops import data_at, passes


def _load_file_module() -> Any:
    spec = importlib.util.spec_from_file_location("load_file", ORCHESTRATE / "load_file.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_file"] = module
    spec.loader.exec_module(module)
    return module


load_file = _load_file_module()
SETTINGS = deploy()["file_loads"]
# An S3 notification as SQS delivers it, parsed (jsonBody): https://docs.aws.amazon.com/AmazonS3/latest/userguide/
# notification-content-structure.html
NOTIFICATION = {
    "body": {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "acme-drops"},
                    "object": {"key": "incoming/orders/May+2024.csv", "size": 120, "eTag": "0a1b2c"},
                },
            }
        ]
    }
}
TEST_EVENT = {"body": {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "acme-drops"}}


@pytest.fixture(scope="module")
def sensor() -> dict[str, Any]:
    (only,) = of_kind("Sensor")
    return only


@pytest.fixture(scope="module")
def workflow_template() -> dict[str, Any]:
    return named("WorkflowTemplate", SETTINGS["job"])


def test_the_sensor_reads_the_event_source_and_submits_the_template_with_bucket_key_and_etag(sensor, workflow_template):
    (event_source,) = of_kind("EventSource")
    (queue,) = event_source["spec"]["sqs"].values()
    assert queue["queue"] == SETTINGS["queue"] and queue["jsonBody"] is True
    (dependency,) = sensor["spec"]["dependencies"]
    assert dependency["eventSourceName"] == event_source["metadata"]["name"]
    assert dependency["eventName"] in event_source["spec"]["sqs"]
    # S3's test message, sent when notifications are configured, starts nothing; a created object does.
    assert passes(dependency["filters"], NOTIFICATION)
    assert not passes(dependency["filters"], TEST_EVENT)
    assert not passes(dependency["filters"], {"body": {"Records": [{"eventName": "ObjectRemoved:Delete"}]}})

    (trigger,) = sensor["spec"]["triggers"]
    submit = trigger["template"]["argoWorkflow"]
    assert submit["operation"] == "submit"
    workflow = submit["source"]["resource"]
    assert workflow["kind"] == "Workflow"
    assert workflow["spec"]["workflowTemplateRef"] == {"name": workflow_template["metadata"]["name"]}
    parameters = [p["name"] for p in workflow["spec"]["arguments"]["parameters"]]
    assert parameters == [p["name"] for p in workflow_template["spec"]["arguments"]["parameters"]]
    values = {}
    for parameter in submit["parameters"]:
        assert parameter["src"]["dependencyName"] == dependency["name"]
        index = int(re.fullmatch(r"spec\.arguments\.parameters\.(\d+)\.value", parameter["dest"])[1])
        values[parameters[index]] = data_at(NOTIFICATION, parameter["src"]["dataKey"])
    assert values == {"bucket": "acme-drops", "key": "incoming/orders/May+2024.csv", "etag": "0a1b2c"}


def test_identify_checks_the_key_and_a_wrong_one_is_not_retried(workflow_template):
    identify = template(workflow_template, "identify")
    args = identify["container"]["args"]
    wiring = dict(zip(args[1::2], args[2::2], strict=True))
    assert wiring["--bucket"] == "{{workflow.parameters.bucket}}"
    assert wiring["--key"] == "{{workflow.parameters.key}}"
    assert (wiring["--prefix"], wiring["--suffix"]) == (SETTINGS["prefix"], SETTINGS["suffix"])
    assert identify["retryStrategy"]["expression"] == 'lastRetry.exitCode != "2"'
    assert not [e for e in identify["container"]["env"] if "valueFrom" in e]  # it reads no secret


def test_a_file_loads_alone_under_its_own_mutex_and_state_id(workflow_template):
    main = template(workflow_template, "main")
    (identify_step,), (load_step,) = main["steps"]
    assert identify_step["template"] == "identify"
    arguments = {p["name"]: p["value"] for p in load_step["arguments"]["parameters"]}
    for name in ("path", "stream", "file_id"):
        assert arguments[name] == f"{{{{steps.identify.outputs.parameters.{name}}}}}"
    assert arguments["etag"] == "{{workflow.parameters.etag}}"
    load = template(workflow_template, "load-file")
    assert load["synchronization"] == {"mutexes": [{"name": f"{SETTINGS['job']}-{{{{inputs.parameters.file_id}}}}"}]}
    args = load["container"]["args"]
    assert args[0] == "run"
    wiring = dict(zip(args[1::2], args[2::2], strict=True))
    assert wiring["--file-id"] == "{{inputs.parameters.file_id}}"
    assert (wiring["--environment"], wiring["--job"]) == ("prod", SETTINGS["job"])
    refs = {e["name"] for e in load["container"]["env"] if "valueFrom" in e}
    assert {"KLAVIYO_WRITE_API_KEY", "MELTANO_STATE_BACKEND_URI"} <= refs
    assert not {name for name in refs if name.startswith("SNOWFLAKE_")}  # a file load never sees the warehouse
    # every placeholder names a parameter Argo has
    workflow_parameters = {p["name"] for p in workflow_template["spec"]["arguments"]["parameters"]}
    outputs = {p["name"] for p in template(workflow_template, "identify")["outputs"]["parameters"]}
    for node in workflow_template["spec"]["templates"]:
        inputs = {p["name"] for p in node.get("inputs", {}).get("parameters", [])}
        for expression in placeholders(node):
            scope, _, name = expression.rpartition(".")
            known = {
                "workflow.parameters": workflow_parameters,
                "inputs.parameters": inputs,
                "steps.identify.outputs.parameters": outputs,
            }
            assert name in known.get(scope, set()), f"{node['name']}: {{{{{expression}}}}} names nothing"


@pytest.mark.parametrize(
    ("raw", "path", "stream"),
    [
        ("incoming/orders/May+2024.csv", "s3://b/incoming/orders/May 2024.csv", "orders"),  # AWS: a space is `+`
        ("incoming%2Forders%2Fa%2Bb.csv", "s3://b/incoming/orders/a+b.csv", "orders"),  # moto encodes `/` too
        ("incoming/returns/2024/12/r.csv", "s3://b/incoming/returns/2024/12/r.csv", "12"),  # the folder holding it
    ],
)
def test_identify_decodes_the_notifications_key(raw, path, stream):
    found = load_file.identify("b", raw, "incoming/", ".csv")
    assert (found["path"], found["stream"]) == (path, stream)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", found["file_id"])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("outgoing/orders/a.csv", "key: s3://b/outgoing/orders/a.csv is not a .csv under s3://b/incoming/"),
        ("incoming/orders/a.txt", "is not a .csv under"),
        ("incoming/a.csv", "is directly under incoming/; put it in a folder named after its stream"),
    ],
)
def test_a_key_that_cannot_be_loaded_exits_2_naming_it(tmp_path, capsys, key, message):
    code = load_file.main(
        ["identify", "--bucket", "b", "--key", key, "--prefix", "incoming/", "--suffix", ".csv",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no output: Argo never reaches load-file


def test_file_ids_differ_per_bucket_and_key_and_stay_short():
    ids = {load_file.file_id(bucket, key) for bucket in ("a", "b") for key in ("x/o.csv", "x/o-csv", "y/o.csv")}
    assert len(ids) == 6
    assert len(load_file.file_id("b", "incoming/" + "long-name/" * 80 + "f.csv")) <= 60 + 13


def test_loaded_once_means_a_complete_read_of_the_same_etag():
    path = "s3://b/incoming/orders/a.csv"

    def state(etag: str, complete: bool) -> dict:
        partition = {"context": {"_sdc_source_file": path}, "file": {"size": 9, "etag": etag, "modified": "t"}}
        return {"singer_state": {"bookmarks": {"orders": {"partitions": [partition | {"complete": complete}]}}}}

    assert load_file.loaded_etag(state("e1", complete=True), path) == "e1"
    assert load_file.loaded_etag(state("e1", complete=False), path) is None  # a run that stopped part-way
    assert load_file.loaded_etag(state("e1", complete=True), "s3://b/incoming/orders/other.csv") is None
    assert load_file.loaded_etag({}, path) is None
    assert json.dumps(state("e1", True))  # (the shape tap-csv writes: tap-csv/tap_csv/stream.py)
