"""Files that load themselves: the Argo manifests render.py writes for deploy.yml's `file_loads`.

S3 sends a notification for each object written under the prefix (`s3:ObjectCreated:*`, set on the bucket: see
orchestrate/README.md) to an SQS queue. Argo Events reads the queue (the EventSource), and the Sensor submits a
Workflow from the `<job>` WorkflowTemplate with the object's bucket, key and ETag as parameters. The workflow runs
`identify` (orchestrate/load_file.py: the key decoded and checked, the file's stream and id), then `load-file`
(`meltano run` of the job for that file only, holding a mutex named after the file).
"""

from __future__ import annotations

from typing import Any

from render import (
    Deploy,
    RenderError,
    _container,
    _named,
    _plugin_variables,
    _retry,
    _secret_env,
    _user_variables,
    _variables,
    retry_unless_wrong_parameter,
    workflow_spec,
)

FILE_EXTRACTOR = "tap-csv"  # load_file.py hands it the one file (TAP_CSV_FILES)
IDENTIFY_OUTPUT_DIR = "/tmp/identify"
DEPENDENCY = "object-created"
PARAMETERS = ("bucket", "key", "etag")
# Where the Sensor finds each parameter in an SQS event of an S3 notification (jsonBody: the message parsed):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
EVENT_FIELDS = {
    "bucket": "body.Records.0.s3.bucket.name",
    "key": "body.Records.0.s3.object.key",
    "etag": "body.Records.0.s3.object.eTag",
}
EVENT_NAME_FIELD = "body.Records.0.eventName"


def _labels(job: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "klaviyo-warehouse", "app.kubernetes.io/component": job}


def load_variables(meltano: dict[str, Any], deploy: Deploy, source: str) -> tuple[str, list[str]]:
    """The job's loader and the variables its pod reads (the tap, the loader, the state backend)."""
    settings = deploy.file_loads
    job = _named(meltano.get("jobs"), settings.job)
    tasks = (job or {}).get("tasks") or []
    blocks = tasks[0].split() if len(tasks) == 1 and isinstance(tasks[0], str) else []
    if len(blocks) != 2 or blocks[0] != FILE_EXTRACTOR:
        raise RenderError(
            f"{source}: deploy.yml file_loads.job {settings.job!r} must be a job of one task "
            f"'{FILE_EXTRACTOR} <loader>' (it is {tasks!r})"
        )
    environment = _named(meltano.get("environments"), deploy.environment) or {}
    shared = _variables([meltano.get("state_backend"), meltano.get("env"), environment.get("env")])
    tap = _plugin_variables(meltano, environment, "extractors", FILE_EXTRACTOR)
    target = _plugin_variables(meltano, environment, "loaders", blocks[1])
    return blocks[1], _user_variables(tap | target | shared, deploy)


def workflow_template(meltano: dict[str, Any], deploy: Deploy, source: str) -> dict[str, Any]:
    settings = deploy.file_loads
    loader, variables = load_variables(meltano, deploy, source)
    project = deploy.project_dir
    python = f"{project}/.venv/bin/python"
    script = f"{project}/orchestrate/load_file.py"
    outputs = ("path", "stream", "file_id")
    identify = {
        "name": "identify",
        "activeDeadlineSeconds": settings.identify.active_deadline_seconds,
        "retryStrategy": retry_unless_wrong_parameter(deploy),  # load_file.py exits 2 for a key it cannot load
        "container": _container(
            deploy,
            settings.identify,
            [python, script],
            [
                "identify",
                *("--bucket", "{{workflow.parameters.bucket}}", "--key", "{{workflow.parameters.key}}"),
                *("--prefix", settings.prefix, "--suffix", settings.suffix, "--output-dir", IDENTIFY_OUTPUT_DIR),
            ],
            [],
        ),
        "outputs": {
            "parameters": [{"name": name, "valueFrom": {"path": f"{IDENTIFY_OUTPUT_DIR}/{name}"}} for name in outputs]
        },
    }
    load = {
        "name": "load-file",
        "inputs": {"parameters": [{"name": name} for name in (*outputs, "etag")]},
        # One pod at a time per file, across workflows: the second drop of a file waits, then finds it loaded.
        "synchronization": {"mutexes": [{"name": f"{settings.job}-{{{{inputs.parameters.file_id}}}}"}]},
        "activeDeadlineSeconds": settings.load.active_deadline_seconds,
        "retryStrategy": _retry(deploy),
        "container": _container(
            deploy,
            settings.load,
            [python, script],
            [
                "run",
                *("--path", "{{inputs.parameters.path}}", "--stream", "{{inputs.parameters.stream}}"),
                *("--file-id", "{{inputs.parameters.file_id}}", "--etag", "{{inputs.parameters.etag}}"),
                *("--meltano", f"{project}/.venv/bin/meltano", "--environment", deploy.environment),
                *("--job", settings.job),
            ],
            _secret_env(deploy, variables),
        ),
    }
    main = {
        "name": "main",
        "steps": [
            [{"name": "identify", "template": "identify"}],
            [
                {
                    "name": "load-file",
                    "template": "load-file",
                    "arguments": {
                        "parameters": [
                            *(
                                {"name": name, "value": f"{{{{steps.identify.outputs.parameters.{name}}}}}"}
                                for name in outputs
                            ),
                            {"name": "etag", "value": "{{workflow.parameters.etag}}"},
                        ]
                    },
                }
            ],
        ],
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": settings.job,
            "labels": _labels(settings.job),
            "annotations": {
                "workflows.argoproj.io/description": f"meltano run {settings.job} ({FILE_EXTRACTOR} -> {loader}) for "
                f"one file written under {settings.prefix or 'the bucket'}, submitted by the Sensor "
                f"{settings.job}; a file already loaded with the same ETag is not sent again."
            },
        },
        "spec": workflow_spec(
            deploy,
            [
                {"name": "bucket", "description": "The bucket the file was written to."},
                {"name": "key", "description": "The file's key, as S3 notifications give it (URL-encoded)."},
                {
                    "name": "etag",
                    "value": "",
                    "description": "The file's ETag: when the state holds a complete read of it, nothing is sent. "
                    "Empty: load it.",
                },
            ],
            [main, identify, load],
            labels=_labels(settings.job),
            deadline=settings.identify.active_deadline_seconds + settings.load.active_deadline_seconds,
        ),
    }


def event_source(deploy: Deploy) -> dict[str, Any]:
    settings = deploy.file_loads
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "EventSource",
        "metadata": {
            "name": settings.event_source,
            "labels": _labels(settings.job),
            "annotations": {
                "description": f"S3 notifications of objects written under {settings.prefix or 'the bucket'}, "
                f"from the SQS queue {settings.queue}."
            },
        },
        "spec": {
            # Credentials: the EventSource pod's service account (an IAM role that may read and delete messages).
            "sqs": {
                settings.event_source: {
                    "region": settings.region,
                    "queue": settings.queue,
                    "waitTimeSeconds": 20,  # long polling, as the local stand-in does
                    "jsonBody": True,
                }
            }
        },
    }


def sensor(deploy: Deploy) -> dict[str, Any]:
    settings = deploy.file_loads
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{settings.job}-", "labels": _labels(settings.job)},
        "spec": {
            "workflowTemplateRef": {"name": settings.job},
            "arguments": {"parameters": [{"name": name, "value": ""} for name in PARAMETERS]},
        },
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {
            "name": settings.job,
            "labels": _labels(settings.job),
            "annotations": {
                "description": f"Each object created under {settings.prefix or 'the bucket'} starts the "
                f"{settings.job} workflow for it."
            },
        },
        "spec": {
            "template": {"serviceAccountName": settings.sensor_service_account},
            "dependencies": [
                {
                    "name": DEPENDENCY,
                    "eventSourceName": settings.event_source,
                    "eventName": settings.event_source,
                    # S3's test message (sent when notifications are configured) has no Records: filtered out.
                    "filters": {"data": [{"path": EVENT_NAME_FIELD, "type": "string", "value": ["^ObjectCreated:"]}]},
                }
            ],
            "triggers": [
                {
                    "template": {
                        "name": settings.job,
                        "argoWorkflow": {
                            "operation": "submit",
                            "source": {"resource": workflow},
                            "parameters": [
                                {
                                    "src": {"dependencyName": DEPENDENCY, "dataKey": EVENT_FIELDS[name]},
                                    "dest": f"spec.arguments.parameters.{index}.value",
                                }
                                for index, name in enumerate(PARAMETERS)
                            ],
                        },
                    },
                    # Submitting can fail while the API server is busy: tried again before the event is dropped.
                    "retryStrategy": {"steps": 3},
                }
            ],
        },
    }


def manifests(meltano: dict[str, Any], deploy: Deploy, source: str) -> dict[str, dict[str, Any]]:
    """File name -> document of every manifest of the file loads."""
    settings = deploy.file_loads
    return {
        f"{settings.job}.workflow-template.yaml": workflow_template(meltano, deploy, source),
        f"{settings.event_source}.event-source.yaml": event_source(deploy),
        f"{settings.job}.sensor.yaml": sensor(deploy),
    }
