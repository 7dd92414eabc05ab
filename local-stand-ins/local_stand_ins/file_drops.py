"""Files that load themselves, locally: moto's S3 notifies moto's SQS, and a stand-in for the Argo Events Sensor
long-polls the queue and runs the workflow the Sensor would submit, pod by pod (`LocalArgo`).

Everything it does is read from the rendered manifests (orchestrate/argo/), so the local chain and production cannot
drift: the queue and its long poll from the EventSource; the Sensor's data filters, which event fields become which
workflow parameters, and which WorkflowTemplate it submits; the pods' commands, mutexes and environment from that
template. What only the bucket knows (its notification configuration: the queue, `s3:ObjectCreated:*`, the prefix and
suffix of deploy.yml's `file_loads`) is set by `configure_bucket`, as an operator does once in production.

As in production, a message is deleted from the queue once its workflow is submitted (the EventSource's part), each
workflow runs on its own (threads here, pods there) and the pods of one file take turns (its mutex).
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .argo import LocalArgo, PodRun, deploy, meltano_yml, of_kind
from .stack import CREDENTIALS, STATE_BUCKET, LocalStack

NOTIFIED_EVENTS = ["s3:ObjectCreated:*"]
DROP_BUCKET = "klaviyo-drops"  # `local-stand-ins up`'s bucket (production: the bucket the operator configures)
STATE_PREFIX = "file-loads"


def _one(kind: str) -> dict[str, Any]:
    (document,) = of_kind(kind)
    return document


def event_source_queue() -> dict[str, Any]:
    """The SQS settings of the rendered EventSource (queue, region, waitTimeSeconds, jsonBody)."""
    (settings,) = _one("EventSource")["spec"]["sqs"].values()
    return dict(settings)


def configure_bucket(s3: Any, sqs: Any, bucket: str) -> str:
    """Create the queue and the bucket, and send the bucket's notifications of new objects under deploy.yml's prefix
    to the queue; the queue's URL."""
    settings = deploy()["file_loads"]
    queue_url: str = sqs.create_queue(QueueName=event_source_queue()["queue"])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=bucket)
    rules = [{"Name": "prefix", "Value": settings["prefix"]}, {"Name": "suffix", "Value": settings["suffix"]}]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": NOTIFIED_EVENTS, "Filter": {"Key": {"FilterRules": rules}}}
            ]
        },
    )
    return queue_url


def data_at(data: Any, path: str) -> Any:
    """A dotted path into event data, numbers indexing lists (the gjson subset Sensors' dataKey and filters use);
    None when the path is missing."""
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def _set_at(document: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document[int(part)] if isinstance(document, list) else document[part]
    if isinstance(document, list):
        document[int(last)] = value
    else:
        document[last] = value


def passes(filters: dict[str, Any], data: Any) -> bool:
    """A dependency's data filters: every filter holds; a string filter holds when one of its regular expressions
    matches the value (Argo Events matches unanchored, as `regexp.MatchString`)."""
    for data_filter in filters.get("data", []):
        value = data_at(data, data_filter["path"])
        if data_filter["type"] != "string":
            raise NotImplementedError(f"the Sensor's stand-in reads string filters only, not {data_filter}")
        if not isinstance(value, str) or not any(re.search(pattern, value) for pattern in data_filter["value"]):
            return False
    return True


@dataclass
class Submitted:
    """A workflow the Sensor submitted, and how it went."""

    parameters: dict[str, str]
    argo: LocalArgo
    done: Future[bool]

    @property
    def runs(self) -> list[PodRun]:
        return self.argo.runs


@dataclass
class SensorStandIn:
    """The rendered Sensor, reading the rendered EventSource's queue. `secret` stands in for the Kubernetes Secret and
    `stand_ins` are the variables that point the pods at the local stand-ins (as tests/orchestrate/test_pods.py);
    each workflow also gets its own scratch folder (its pods' /tmp and HOME) and its own .meltano/ run files."""

    sqs: Any
    queue_url: str
    secret: dict[str, str]
    stand_ins: dict[str, str]
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sensor-")))
    wait_seconds: int = 1  # the long poll; the EventSource's own is longer (its waitTimeSeconds)
    submitted: list[Submitted] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=8))
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        sensor = _one("Sensor")["spec"]
        (self.dependency,) = sensor["dependencies"]
        (trigger,) = sensor["triggers"]
        self.trigger = trigger["template"]["argoWorkflow"]
        assert self.trigger["operation"] == "submit", self.trigger
        name = self.trigger["source"]["resource"]["spec"]["workflowTemplateRef"]["name"]
        (self.workflow_template,) = [t for t in of_kind("WorkflowTemplate") if t["metadata"]["name"] == name]
        self.json_body = bool(event_source_queue().get("jsonBody"))

    def start(self) -> SensorStandIn:
        self._thread = threading.Thread(target=self._poll_until_stopped, name="sensor-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)
        self._pool.shutdown(wait=True)

    def _poll_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.poll()

    def poll(self) -> list[Submitted]:
        """One long poll of the queue: each message's event, filtered, submitted; the message then deleted."""
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
        )
        started = []
        for message in answer.get("Messages", []):
            body = message["Body"]
            event = {"body": json.loads(body) if self.json_body else body, "messageId": message["MessageId"]}
            if passes(self.dependency.get("filters", {}), event):
                started.append(self.submit(event))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return started

    def submit(self, event: dict[str, Any]) -> Submitted:
        """The trigger: the resource with each parameter's event field written at its `dest`, then run."""
        resource = copy.deepcopy(self.trigger["source"]["resource"])
        for parameter in self.trigger.get("parameters", []):
            value = data_at(event, parameter["src"]["dataKey"])
            _set_at(resource, parameter["dest"], "" if value is None else str(value))
        parameters = {p["name"]: p.get("value", "") for p in resource["spec"]["arguments"]["parameters"]}
        scratch = Path(tempfile.mkdtemp(prefix="workflow-", dir=self.scratch))
        argo = LocalArgo(self.workflow_template, dict(self.secret), dict(self.stand_ins), scratch)
        submitted = Submitted(parameters, argo, self._pool.submit(argo.submit, **parameters))
        self.submitted.append(submitted)
        return submitted


def watch_drops(
    stack: LocalStack, *, bucket: str = DROP_BUCKET, scratch: Path | None = None, **target_settings: str
) -> SensorStandIn:
    """The chain on a running stack: `bucket` notifying the queue, and the Sensor's stand-in started, its pods on the
    stack (the prod environment pointed at the sandbox and moto, as tests/orchestrate/test_pods.py points them).
    `target_settings` (e.g. mappings=json) become TARGET_KLAVIYO_* variables; by default the `local` environment's
    old-format mappings of data/sample_orders.csv."""
    s3, sqs = stack.s3.client("s3"), stack.s3.client("sqs")
    queue_url = configure_bucket(s3, sqs, bucket)
    secret = {  # the Kubernetes Secret of orchestrate/README.md
        "KLAVIYO_WRITE_API_KEY": stack.sandbox.key(0),
        "MELTANO_STATE_BACKEND_URI": f"s3://{STATE_BUCKET}/{STATE_PREFIX}",
        **CREDENTIALS,
    }
    if not target_settings:
        (local,) = [env for env in meltano_yml()["environments"] if env["name"] == "local"]
        (target,) = [p for p in local["config"]["plugins"]["loaders"] if p["name"] == "target-klaviyo"]
        target_settings = {name: json.dumps(target["config"][name]) for name in ("event_mapping", "profile_mapping")}
    scratch = scratch or Path(tempfile.mkdtemp(prefix="sensor-"))
    stand_ins = {
        "LOCAL_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # the state backend (meltano.yml)
        "TAP_CSV_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # the dropped files
        "TARGET_KLAVIYO_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # its change memory, beside the state
        "TARGET_KLAVIYO_API_URL": stack.sandbox.url,
        "TARGET_KLAVIYO_REJECTS_PATH": str(scratch / "rejects-{timestamp}.jsonl"),
        **{f"TARGET_KLAVIYO_{name.upper()}": value for name, value in target_settings.items()},
    }
    return SensorStandIn(sqs, queue_url, secret, stand_ins, scratch=scratch).start()
