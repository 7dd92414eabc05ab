"""A scheduled job run whole in one pod: the WorkflowTemplate render.py writes for deploy.yml's `one_pod_jobs`.

A job that does not fan out per account (snowflake-to-klaviyo: tap-snowflake reads the warehouse's tables and views,
target-klaviyo sends what changed) is one `meltano run <job>` in one pod, with its state id Meltano's own
(`<environment>:<extractor>-to-<loader>`). A mutex named after the job keeps one run at a time across the schedule
and manual runs: two runs would each write the tap's bookmarks and target-klaviyo's change memory, and a list
mirror must see one run's rows whole.
"""

from __future__ import annotations

from typing import Any

from render import Deploy, OnePodJob, _container, _labels, _named, _retry, _secret_env, env_name, workflow_spec

TEMPLATE = "run"
# The loaders' setting that sends every row again (target-klaviyo's `full_refresh`): `meltano run --full-refresh`
# passes nothing to a target, so a full run sets it beside MELTANO_RUN_FULL_REFRESH (target-klaviyo/README.md).
LOADER_FULL_REFRESH = "full_refresh"
ONE_POD_DEFAULTS = {"full_refresh": "false"}


def _loaders_declaring(meltano: dict[str, Any], plugins: list[str], setting: str) -> list[str]:
    loaders = meltano.get("plugins", {}).get("loaders") or []
    return [
        name
        for name in dict.fromkeys(plugins)
        if any(s.get("name") == setting for s in (_named(loaders, name) or {}).get("settings") or [])
    ]


def one_pod_template(job: OnePodJob, deploy: Deploy, meltano: dict[str, Any]) -> dict[str, Any]:
    settings = job.settings
    full_refresh = "{{workflow.parameters.full_refresh}}"
    run = {
        "name": TEMPLATE,
        "synchronization": {"mutexes": [{"name": job.job}]},
        "activeDeadlineSeconds": settings.active_deadline_seconds,
        # A retried run starts from the bookmarks and the change memory the failed one saved: what Klaviyo accepted
        # is not sent again, and what is sent again Klaviyo takes as it took it.
        "retryStrategy": _retry(deploy),
        "container": _container(
            deploy,
            settings,
            [f"{deploy.project_dir}/.venv/bin/meltano"],
            ["--environment", deploy.environment, "run", "--no-install", job.job],
            [
                {"name": "MELTANO_RUN_FULL_REFRESH", "value": full_refresh},
                *(
                    {"name": env_name(loader, LOADER_FULL_REFRESH), "value": full_refresh}
                    for loader in _loaders_declaring(meltano, job.plugins, LOADER_FULL_REFRESH)
                ),
                *_secret_env(deploy, job.variables),
            ],
        ),
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": job.job,
            "labels": _labels(job),
            "annotations": {
                "workflows.argoproj.io/description": f"meltano run {job.job} ({' -> '.join(job.plugins)}) in one "
                "pod, one run at a time."
            },
        },
        "spec": workflow_spec(
            deploy,
            [
                {
                    "name": "full_refresh",
                    "value": ONE_POD_DEFAULTS["full_refresh"],
                    "enum": ["false", "true"],
                    "description": "true: the extractors' bookmarks ignored (meltano run --full-refresh) and every "
                    "row sent again by the loaders that remember what they sent (their full_refresh setting).",
                }
            ],
            [{"name": "main", "steps": [[{"name": TEMPLATE, "template": TEMPLATE}]]}, run],
            labels=_labels(job),
            deadline=settings.workflow_deadline_seconds,
        ),
    }
