"""orchestrate/render.py: the committed manifests are exactly what meltano.yml and deploy.yml render to, a change
in either shows up as stale files, and bad input is refused with a message naming the file and the entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from argo_manifests import ARGO_DIR, ORCHESTRATE, ROOT, load_yaml

RENDER = ORCHESTRATE / "render.py"


def render(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RENDER), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_committed_manifests_are_what_meltano_yml_renders_to(tmp_path):
    check = render("--check")
    assert check.returncode == 0, check.stderr
    fresh = render("--output-dir", tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    committed = {path.name: path.read_bytes() for path in ARGO_DIR.iterdir()}
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == committed
    assert set(committed) == {
        "klaviyo-to-snowflake.workflow-template.yaml",
        "klaviyo-to-snowflake.cron-workflow.yaml",
        "klaviyo-light.workflow-template.yaml",
        "klaviyo-light.cron-workflow.yaml",
        "csv-to-klaviyo.workflow-template.yaml",
        "csv-drops.event-source.yaml",
        "csv-to-klaviyo.sensor.yaml",
        "snowflake-to-klaviyo.workflow-template.yaml",
        "snowflake-to-klaviyo.cron-workflow.yaml",
        "kustomization.yaml",
    }


def test_a_changed_schedule_makes_the_committed_files_stale_until_rendered(tmp_path):
    project = load_yaml(ROOT / "meltano.yml")
    project["schedules"][0]["interval"] = "30 6 * * 1-5"
    changed = write_yaml(tmp_path / "meltano.yml", project)
    check = render("--check", "--meltano-yml", changed)
    assert check.returncode == 1
    assert "klaviyo-to-snowflake.cron-workflow.yaml is out of date" in check.stderr
    assert "workflow-template" not in check.stderr  # only the schedule's own file changed

    out = tmp_path / "argo"
    assert render("--meltano-yml", changed, "--output-dir", out).returncode == 0
    assert load_yaml(out / "klaviyo-to-snowflake.cron-workflow.yaml")["spec"]["schedules"] == ["30 6 * * 1-5"]
    assert render("--check", "--meltano-yml", changed, "--output-dir", out).returncode == 0


def test_a_new_variable_in_the_prod_environment_reaches_the_pods_from_the_secret(tmp_path):
    project = load_yaml(ROOT / "meltano.yml")
    prod = next(env for env in project["environments"] if env["name"] == "prod")
    tap = next(p for p in prod["config"]["plugins"]["extractors"] if p["name"] == "tap-klaviyo")
    tap["config"]["api_url"] = "${KLAVIYO_API_URL_OVERRIDE}"
    out = tmp_path / "argo"
    assert render("--meltano-yml", write_yaml(tmp_path / "meltano.yml", project), "--output-dir", out).returncode == 0
    template = load_yaml(out / "klaviyo-to-snowflake.workflow-template.yaml")
    for step in ("plan", "sync-account"):
        container = next(t for t in template["spec"]["templates"] if t["name"] == step)["container"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert refs["KLAVIYO_API_URL_OVERRIDE"] == {"name": "klaviyo-warehouse", "key": "KLAVIYO_API_URL_OVERRIDE"}


def edit_meltano(project: dict) -> None:
    project["schedules"][0]["job"] = "no-such-job"


def edit_tasks(project: dict) -> None:
    next(job for job in project["jobs"] if job["name"] == "klaviyo-to-snowflake")["tasks"] = [
        "tap-klaviyo target-snowflake",
        "tap-csv target-klaviyo",
    ]


def edit_trailing_block(project: dict) -> None:
    next(job for job in project["jobs"] if job["name"] == "klaviyo-to-snowflake")["tasks"] = [
        "tap-klaviyo target-snowflake tap-csv"
    ]


def edit_interval(project: dict) -> None:
    project["schedules"][0]["interval"] = "@once"


def edit_csv_job(project: dict) -> None:
    project["schedules"][0]["job"] = "csv-to-klaviyo"


def edit_overlap(project: dict) -> None:
    next(s for s in project["schedules"] if s["name"] == "klaviyo-light")["interval"] = "*/10 * * * *"


def edit_undeclared(project: dict) -> None:
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-klaviyo")
    tap["settings"] = [s for s in tap["settings"] if s["name"] != "table_version"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (edit_meltano, "schedule 'klaviyo-to-snowflake': names job 'no-such-job', which `jobs:` does not define"),
        (
            edit_tasks,
            "only one task 'tap-klaviyo <loader> [<utility>:<command> ...]' fans out into one pod per account",
        ),
        (edit_trailing_block, "runs ['tap-klaviyo target-snowflake tap-csv']; only one task"),
        (edit_interval, "interval '@once' is not a 5-field cron expression"),
        (edit_csv_job, "job 'csv-to-klaviyo' runs ['tap-csv target-klaviyo']"),
        # The light run may take 14 minutes: every 10, one run would still write an account's state at the next.
        (
            edit_overlap,
            "schedule 'klaviyo-light': runs every 10 minute(s) at the shortest (*/10 * * * *), but its workflow may "
            "take 840 s (deploy.yml workflow_deadline_seconds): one run would overlap the next on its own state; "
            "lower the deadline below 600 or space the schedule",
        ),
        # Meltano would ignore TAP_KLAVIYO_TABLE_VERSION: each pod would stamp its own version.
        (
            edit_undeclared,
            "extractor 'tap-klaviyo' does not declare the setting(s) table_version; the pods set them by variable "
            "(TAP_KLAVIYO_TABLE_VERSION), which Meltano reads only for declared settings",
        ),
    ],
)
def test_a_meltano_yml_that_cannot_run_on_argo_is_refused_by_name(tmp_path, edit, message):
    project = load_yaml(ROOT / "meltano.yml")
    edit(project)
    path = write_yaml(tmp_path / "meltano.yml", project)
    result = render("--meltano-yml", path, "--output-dir", tmp_path / "argo")
    assert result.returncode == 2
    assert f"render: {path}: " in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "argo").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paralelism": 4}, "paralelism: Extra inputs are not permitted"),
        ({"parallelism": "eight"}, "parallelism: Input should be a valid integer"),
        ({"environment": "staging"}, "no environment 'staging' (deploy.yml `environment`)"),
        (
            {"workflow_deadline_seconds": {"klaviyo-to-snowflake": 39600}},
            "schedule 'klaviyo-light': orchestrate/deploy.yml workflow_deadline_seconds has no positive "
            "'klaviyo-light'",
        ),
        (  # 05:00 and 17:00: a 12-hour run would still be going at the next
            {"workflow_deadline_seconds": {"klaviyo-to-snowflake": 43200, "klaviyo-light": 840}},
            "runs every 720 minute(s) at the shortest (0 5,17 * * *), but its workflow may take 43200 s",
        ),
        ({"mark_deletions": {"requests": {}, "limits": {}}}, "mark_deletions.active_deadline_seconds: Field required"),
        (
            {"retry": {"limit": 3, "policy": "Sometimes", "backoff_duration": "10m", "backoff_factor": 2}},
            "retry.policy: Input should be 'Always', 'OnFailure', 'OnError' or 'OnTransientError'",
        ),
        (  # the models step runs utility commands only: a tap's job there would sync without a state id
            {"models": load_yaml(ORCHESTRATE / "deploy.yml")["models"] | {"job": "csv-to-klaviyo"}},
            "deploy.yml models.job 'csv-to-klaviyo' must be a job of meltano.yml whose tasks are utility commands",
        ),
        (
            {"models": load_yaml(ORCHESTRATE / "deploy.yml")["models"] | {"schedules": ["klaviyo-hourly"]}},
            "deploy.yml models.schedules names 'klaviyo-hourly', which is not a schedule",
        ),
        (  # the file loads hand tap-csv the one file: another job cannot run for a dropped file
            {"file_loads": load_yaml(ORCHESTRATE / "deploy.yml")["file_loads"] | {"job": "snowflake-to-klaviyo"}},
            "file_loads.job 'snowflake-to-klaviyo' must be a job of one task 'tap-csv <loader>'",
        ),
    ],
)
def test_a_bad_deploy_yml_is_refused_naming_the_setting(tmp_path, change, message):
    settings = load_yaml(ORCHESTRATE / "deploy.yml") | change
    path = write_yaml(tmp_path / "deploy.yml", settings)
    result = render("--deploy", path, "--output-dir", tmp_path / "argo")
    assert result.returncode == 2
    assert message in result.stderr
    assert str(path) in result.stderr or "meltano.yml" in result.stderr


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("*/15 * * * *", 15),
        ("0 5,17 * * *", 12 * 60),
        ("0 5,7 * * 1-5", 2 * 60),
        ("0-30/10 9 * * *", 10),
        ("50 23 * * *", 24 * 60),
        ("0,50 0 * * *", 50),
        ("@hourly", 60),
    ],
)
def test_the_shortest_gap_between_two_runs_of_a_schedule(cron, minutes):
    sys.path.insert(0, str(ORCHESTRATE))
    try:
        from render import shortest_gap_seconds  # noqa: PLC0415 - orchestrate/ is scripts, not a package
    finally:
        sys.path.remove(str(ORCHESTRATE))
    assert shortest_gap_seconds(cron) == 60 * minutes
