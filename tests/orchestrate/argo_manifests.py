"""The rendered Argo manifests (orchestrate/argo/) for the tests: read as Kubernetes would, and run as Argo would run
them by `LocalArgo` (local_stand_ins.argo, shared with the stand-in for the file loads' Sensor)."""

from __future__ import annotations

from typing import Any

from local_stand_ins.argo import (
    ARGO_DIR,
    DOCKERFILE,
    ORCHESTRATE,
    ROOT,
    LocalArgo,
    PodRun,
    condition_holds,
    deploy,
    image_env,
    load_yaml,
    manifests,
    meltano_yml,
    of_kind,
    placeholders,
    pod_meltano_dir,
    substitute,
    template,
)

__all__ = [
    "ARGO_DIR",
    "DOCKERFILE",
    "FULL_SCHEDULE",
    "LIGHT_SCHEDULE",
    "ORCHESTRATE",
    "ROOT",
    "LocalArgo",
    "PodRun",
    "condition_holds",
    "deploy",
    "image_env",
    "load_yaml",
    "manifests",
    "meltano_yml",
    "named",
    "of_kind",
    "placeholders",
    "pod_meltano_dir",
    "scheduled_template",
    "substitute",
    "template",
]


def named(kind: str, name: str) -> dict[str, Any]:
    """The rendered resource of that kind and name."""
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


FULL_SCHEDULE, LIGHT_SCHEDULE = "klaviyo-to-snowflake", "klaviyo-light"


def scheduled_template(schedule: str = FULL_SCHEDULE) -> dict[str, Any]:
    """The WorkflowTemplate the CronWorkflow of that meltano.yml schedule starts (the full run by default)."""
    cron = named("CronWorkflow", schedule)
    return named("WorkflowTemplate", cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"])
