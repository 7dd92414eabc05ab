"""The scheduled job run whole in one pod (deploy.yml `one_pod_jobs`: snowflake-to-klaviyo): on meltano.yml's
schedule in UTC, one `meltano run` pod at a time, a full refresh that reaches both the tap and target-klaviyo, every
variable its plugins read in prod from the Secret, and a deadline before the next run. Run end to end (the pod's
exact command and environment, against the stand-ins) by tests/e2e/test_snowflake_view_changes.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from argo_manifests import ROOT, deploy, load_yaml, named, scheduled_template, template
from test_render import render, write_yaml

JOB = "snowflake-to-klaviyo"
MELTANO = str(ROOT / ".venv" / "bin" / "meltano")
# What tap-snowflake and target-klaviyo read in meltano.yml's `prod` environment, and the state backend.
PROD_READS = {
    "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_ROLE",
    "KLAVIYO_WRITE_API_KEY", "MELTANO_STATE_BACKEND_URI",
}  # fmt: skip


@pytest.fixture(scope="module")
def workflow_template() -> dict[str, Any]:
    return scheduled_template(JOB)


def test_the_schedule_runs_the_job_in_one_pod_one_run_at_a_time_in_utc(workflow_template):
    listed = subprocess.run(
        [MELTANO, "schedule", "list", "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    schedule = next(s for s in json.loads(listed.stdout)["schedules"]["job"] if s["name"] == JOB)
    assert schedule["job"]["tasks"] == ["tap-snowflake target-klaviyo"]
    cron = named("CronWorkflow", JOB)["spec"]
    assert cron["schedules"] == [schedule["cron_interval"]] == ["30 */6 * * *"]
    assert cron["timezone"] == "UTC"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["workflowSpec"]["workflowTemplateRef"] == {"name": JOB}
    # A scheduled run sends only what changed, whatever the template's default becomes.
    assert cron["workflowSpec"]["arguments"]["parameters"] == [{"name": "full_refresh", "value": "false"}]
    # The whole run, retries included, ends before the next one is due (6 hours later).
    assert workflow_template["spec"]["activeDeadlineSeconds"] < 6 * 3600

    main = template(workflow_template, "main")
    assert main["steps"] == [[{"name": "run", "template": "run"}]]
    run = template(workflow_template, "run")
    container = run["container"]
    assert [*container["command"], *container["args"]] == [
        f"{deploy()['project_dir']}/.venv/bin/meltano", "--environment", "prod", "run", "--no-install", JOB,
    ]  # fmt: skip
    # Manual runs too wait for the scheduled one: two runs would each write the bookmarks and the change memory.
    assert run["synchronization"] == {"mutexes": [{"name": JOB}]}
    assert run["retryStrategy"]["limit"] == 3
    assert run["activeDeadlineSeconds"] <= workflow_template["spec"]["activeDeadlineSeconds"]


def test_a_full_refresh_reaches_the_tap_and_the_target_and_secrets_come_from_the_secret(workflow_template):
    (parameter,) = workflow_template["spec"]["arguments"]["parameters"]
    assert parameter["name"] == "full_refresh" and parameter["enum"] == ["false", "true"]
    env = template(workflow_template, "run")["container"]["env"]
    literal = {e["name"]: e["value"] for e in env if "value" in e}
    # `meltano run --full-refresh` drops the tap's state but passes nothing to a target (target-klaviyo/README.md).
    assert literal == {
        "MELTANO_RUN_FULL_REFRESH": "{{workflow.parameters.full_refresh}}",
        "TARGET_KLAVIYO_FULL_REFRESH": "{{workflow.parameters.full_refresh}}",
    }
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert set(refs) >= PROD_READS
    assert all(ref == {"name": deploy()["secret"], "key": name} | ({"optional": True} if ref.get("optional") else {})
               for name, ref in refs.items())  # fmt: skip
    assert refs["SNOWFLAKE_ROLE"].get("optional") and not refs["KLAVIYO_WRITE_API_KEY"].get("optional")
    assert "KLAVIYO_ACCOUNTS_FILE" not in refs  # tap-klaviyo's: not this job's


def render_with(tmp_path: Path, *, meltano: Any = None, deploy_yml: Any = None) -> subprocess.CompletedProcess[str]:
    args: list[str | Path] = ["--output-dir", tmp_path / "argo"]
    if meltano is not None:
        args += ["--meltano-yml", write_yaml(tmp_path / "meltano.yml", meltano)]
    if deploy_yml is not None:
        args += ["--deploy", write_yaml(tmp_path / "deploy.yml", deploy_yml)]
    return render(*args)


def test_a_one_pod_job_that_is_not_scheduled_or_runs_an_unknown_plugin_is_refused_by_name(tmp_path):
    project = load_yaml(ROOT / "meltano.yml")
    project["schedules"] = [s for s in project["schedules"] if s["job"] != JOB]
    result = render_with(tmp_path, meltano=project)
    assert result.returncode == 2
    assert "deploy.yml one_pod_jobs names 'snowflake-to-klaviyo', which no schedule runs" in result.stderr

    project = load_yaml(ROOT / "meltano.yml")
    next(j for j in project["jobs"] if j["name"] == JOB)["tasks"] = ["tap-snowflake dbt-snowflake:run"]
    result = render_with(tmp_path, meltano=project)
    assert result.returncode == 2
    assert "a job run in one pod is tasks (strings) of extractors and loaders, and 'dbt-snowflake:run'" in result.stderr

    settings = load_yaml(ROOT / "orchestrate" / "deploy.yml")
    settings["one_pod_jobs"][JOB].pop("workflow_deadline_seconds")
    result = render_with(tmp_path, deploy_yml=settings)
    assert result.returncode == 2
    assert "one_pod_jobs.snowflake-to-klaviyo.workflow_deadline_seconds: Field required" in result.stderr
    assert not (tmp_path / "argo").exists()  # nothing half-written
