"""The rendered Argo manifests (orchestrate/argo/) for the tests: read as Kubernetes would, and run as Argo would run
them by `LocalArgo` (local_stand_ins.argo, shared with the stand-in for the file loads' Sensor)."""

from __future__ import annotations

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
    named,
    of_kind,
    placeholders,
    scheduled_template,
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
    "scheduled_template",
    "substitute",
    "template",
]


FULL_SCHEDULE, LIGHT_SCHEDULE = "klaviyo-to-snowflake", "klaviyo-light"
