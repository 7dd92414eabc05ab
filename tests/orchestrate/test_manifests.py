"""The rendered Argo manifests: valid against Argo's schema (hera's models of the Argo API, with no field left
unknown), on meltano.yml's schedule in UTC, one pod and one state id per account, one table version for every pod of
a run, mark-deletions last and only after every account synced, secrets only from the Secret, retries, deadlines and
limits on every pod, and every `{{...}}` something Argo can resolve."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from argo_manifests import (
    ARGO_DIR,
    FULL_SCHEDULE,
    LIGHT_SCHEDULE,
    ROOT,
    deploy,
    load_yaml,
    manifests,
    meltano_yml,
    named,
    of_kind,
    placeholders,
    scheduled_template,
    template,
)
from hera.events.models import EventSource, Sensor
from hera.workflows.models import CronWorkflow, Workflow, WorkflowTemplate
from pydantic import BaseModel, ValidationError

MODELS: dict[str, type[BaseModel]] = {
    "WorkflowTemplate": WorkflowTemplate,
    "CronWorkflow": CronWorkflow,
    "Workflow": Workflow,  # what the Sensor submits
    "EventSource": EventSource,
    "Sensor": Sensor,
}
# hera's models of Argo Events have no apiVersion or kind (checked here on their own), and take a trigger's resource
# as an opaque value: the Workflow a Sensor submits is checked against the Workflow model.
EVENTS_KINDS = {"EventSource", "Sensor"}
# Argo Events' int64 fields, which its OpenAPI (and so hera) types as strings while its Go types decode a JSON integer
# (pkg/apis/events/v1alpha1: `WaitTimeSeconds int64`): read as strings here, written as integers.
INT64_FIELDS = {"waitTimeSeconds"}


def _int64_as_string(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: str(v) if k in INT64_FIELDS and isinstance(v, int) else _int64_as_string(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_int64_as_string(item) for item in value]
    return value


MELTANO = str(ROOT / ".venv" / "bin" / "meltano")


def unknown_fields(document: Any, dumped: Any, path: str = "") -> list[str]:
    """Paths the model dropped (a field Argo does not have) or changed (a value coerced to another type)."""
    if isinstance(document, dict) and isinstance(dumped, dict):
        return [
            problem
            for key, value in document.items()
            for problem in (
                [f"{path}.{key}: not a field of Argo's schema"]
                if key not in dumped
                else unknown_fields(value, dumped[key], f"{path}.{key}")
            )
        ]
    if isinstance(document, list) and isinstance(dumped, list) and len(document) == len(dumped):
        return [
            p
            for index, pair in enumerate(zip(document, dumped, strict=True))
            for p in unknown_fields(*pair, f"{path}[{index}]")
        ]
    return [] if document == dumped else [f"{path}: {document!r} read as {dumped!r}"]


def argo_schema_problems(document: dict[str, Any]) -> list[str]:
    model = MODELS[document["kind"]]
    problems = []
    if document["kind"] in EVENTS_KINDS:
        document = _int64_as_string(
            {key: value for key, value in document.items() if key not in ("apiVersion", "kind")}
        )
        for index, trigger in enumerate(document["spec"].get("triggers", [])):
            source = trigger["template"]["argoWorkflow"]["source"]
            problems += [f"trigger {index}: {p}" for p in argo_schema_problems(source["resource"])]
            source["resource"] = {}
    try:
        parsed = model.model_validate(document)
    except ValidationError as exc:
        return problems + [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return problems + unknown_fields(document, parsed.model_dump(by_alias=True, exclude_unset=True, mode="json"))


@pytest.fixture(scope="module")
def workflow_template() -> dict[str, Any]:
    only = scheduled_template()
    return only


@pytest.fixture(scope="module")
def cron_workflow() -> dict[str, Any]:
    return named("CronWorkflow", FULL_SCHEDULE)


def containers(workflow_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in workflow_template["spec"]["templates"] if "container" in t}


def test_every_manifest_is_valid_against_argos_schema():
    documents = manifests()
    assert {doc["kind"] for doc in documents.values()} == set(MODELS) - {"Workflow"}
    for name, document in documents.items():
        assert document["apiVersion"] == "argoproj.io/v1alpha1", name
        assert argo_schema_problems(document) == [], name


def test_the_schema_check_catches_a_misspelled_field_and_a_wrong_type(workflow_template):
    broken = json.loads(json.dumps(workflow_template))
    template(broken, "sync-account")["retryStrategy"]["limt"] = 3
    broken["spec"]["parallelism"] = "eight"
    assert argo_schema_problems(broken) == [
        "spec.parallelism: Input should be a valid integer, unable to parse string as an integer"
    ]
    broken["spec"]["parallelism"] = 8
    assert argo_schema_problems(broken) == [".spec.templates[2].retryStrategy.limt: not a field of Argo's schema"]


def meltano_schedules() -> dict[str, dict[str, Any]]:
    """`meltano schedule list`: what Meltano itself makes of meltano.yml's schedules, by name."""
    command = [MELTANO, "schedule", "list", "--format", "json"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return {schedule["name"]: schedule for schedule in json.loads(listed.stdout)["schedules"]["job"]}


def test_the_cron_workflow_runs_meltanos_schedule_in_utc_one_run_at_a_time(workflow_template, cron_workflow):
    schedule = meltano_schedules()[FULL_SCHEDULE]
    assert schedule["cron_interval"] == "0 5,17 * * *"  # 05:00 and 17:00, as the old app ran
    assert schedule["job"]["tasks"] == ["tap-klaviyo target-snowflake warehouse-sql:apply"]

    spec = cron_workflow["spec"]
    assert cron_workflow["metadata"]["name"] == schedule["name"]
    assert spec["schedules"] == [schedule["cron_interval"]]
    assert spec["timezone"] == "UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 3600
    assert spec["workflowSpec"]["workflowTemplateRef"] == {"name": workflow_template["metadata"]["name"]}
    # A scheduled run is incremental, every stream, every account, whatever the template's defaults become.
    assert spec["workflowSpec"]["arguments"]["parameters"] == [
        {"name": "sync_type", "value": "incremental"},
        {"name": "included_steps", "value": "all"},
        {"name": "single_account", "value": ""},
    ]
    # The whole run ends before the next one is due (12 hours later).
    assert workflow_template["spec"]["activeDeadlineSeconds"] < 12 * 3600


def test_the_old_apps_parameters_drive_the_plan(workflow_template):
    parameters = {p["name"]: p for p in workflow_template["spec"]["arguments"]["parameters"]}
    assert list(parameters) == ["sync_type", "included_steps", "single_account", "models"]  # models: ours
    assert parameters["sync_type"]["enum"] == ["incremental", "full"]
    assert parameters["sync_type"]["value"] == "incremental"
    assert parameters["included_steps"]["value"] == "all"
    assert parameters["single_account"]["value"] == ""
    args = template(workflow_template, "plan")["container"]["args"]
    wiring = dict(zip(args[::2], args[1::2], strict=True))
    assert wiring["--sync-type"] == "{{workflow.parameters.sync_type}}"
    assert wiring["--accounts"] == "{{workflow.parameters.single_account}}"
    assert wiring["--streams"] == "{{workflow.parameters.included_steps}}"
    assert wiring["--environment"] == deploy()["environment"] == "prod"


def test_every_account_runs_in_its_own_pod_with_its_own_state_id(workflow_template):
    main = template(workflow_template, workflow_template["spec"]["entrypoint"])
    (plan_step,), (sync_step,), *_ = main["steps"]
    assert plan_step["template"] == "plan"
    assert sync_step["template"] == "sync-account"
    assert sync_step["withParam"] == "{{steps.plan.outputs.parameters.accounts}}"
    arguments = {p["name"]: p["value"] for p in sync_step["arguments"]["parameters"]}
    assert arguments["account"] == "{{item.account}}"
    assert arguments["state_id_suffix"] == "{{item.state_id_suffix}}"
    assert main["failFast"] is False  # one account failing does not stop the others

    sync = template(workflow_template, "sync-account")
    container = sync["container"]
    assert container["command"] == [f"{deploy()['project_dir']}/.venv/bin/meltano"]
    assert container["args"] == [
        "--environment",
        "prod",
        "run",
        "--no-install",
        "--state-id-suffix",
        "{{inputs.parameters.state_id_suffix}}",
        "klaviyo-to-snowflake",
    ]
    assert "klaviyo-to-snowflake" in {job["name"] for job in meltano_yml()["jobs"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TAP_KLAVIYO_ACCOUNTS"] == "{{inputs.parameters.account}}"
    assert env["TAP_KLAVIYO__SELECT_FILTER"] == "{{inputs.parameters.select_filter}}"
    assert env["MELTANO_RUN_FULL_REFRESH"] == "{{inputs.parameters.full_refresh}}"
    # Two pods of one account never overlap (a manual run beside the scheduled one, the light run beside the full
    # one): each holds the mutex of the account's state id.
    assert sync["synchronization"] == {
        "mutexes": [{"name": "tap-klaviyo-to-target-snowflake-{{inputs.parameters.state_id_suffix}}"}]
    }
    assert workflow_template["spec"]["parallelism"] == deploy()["parallelism"]


def test_the_light_run_every_15_minutes_shares_the_full_runs_state_and_mutexes(workflow_template):
    """meltano.yml's light schedule (events and profiles, TAP_KLAVIYO_SCOPE=light) runs the same job on the same state
    ids as the full one, so each account's pods of either hold one mutex: never two writers of one state."""
    schedules = meltano_schedules()
    light, full = schedules[LIGHT_SCHEDULE], schedules[FULL_SCHEDULE]
    assert light["cron_interval"] == "*/15 * * * *"
    assert light["env"] == {"TAP_KLAVIYO_SCOPE": "light"} and not full["env"]
    assert light["job"] == full["job"]

    cron = named("CronWorkflow", LIGHT_SCHEDULE)
    assert cron["spec"]["schedules"] == ["*/15 * * * *"] and cron["spec"]["concurrencyPolicy"] == "Forbid"
    light_template = scheduled_template(LIGHT_SCHEDULE)
    assert light_template["metadata"]["name"] != workflow_template["metadata"]["name"]
    assert light_template["spec"]["activeDeadlineSeconds"] < 15 * 60  # ends before the next light run is due
    for name in ("plan", "sync-account", "mark-deletions"):
        light_step, full_step = template(light_template, name), template(workflow_template, name)
        light_env = {e["name"]: e.get("value") for e in light_step["container"]["env"]}
        full_env = {e["name"]: e.get("value") for e in full_step["container"]["env"]}
        assert light_env.pop("TAP_KLAVIYO_SCOPE") == "light" and "TAP_KLAVIYO_SCOPE" not in full_env
        assert light_env == full_env, name
        # the same `meltano run` (job, state id suffix), so the same state id; the same mutex
        assert light_step["container"]["args"] == full_step["container"]["args"], name
        assert light_step.get("synchronization") == full_step.get("synchronization"), name


WORKFLOW_VERSION = "{{workflow.creationTimestamp.s}}"  # Unix seconds, set by the controller for the whole workflow


def test_every_sync_pod_of_a_run_stamps_the_same_table_version(workflow_template):
    main = template(workflow_template, workflow_template["spec"]["entrypoint"])
    sync_step = main["steps"][1][0]
    arguments = {p["name"]: p["value"] for p in sync_step["arguments"]["parameters"]}
    # Not an item's field: every account's pod of one run (and every retry of it) gets the same value.
    assert arguments["table_version"] == WORKFLOW_VERSION
    env = {e["name"]: e.get("value") for e in template(workflow_template, "sync-account")["container"]["env"]}
    assert env["TAP_KLAVIYO_TABLE_VERSION"] == "{{inputs.parameters.table_version}}"
    assert "TAP_KLAVIYO_ACTIVATE_VERSION" not in env  # an account's pod never marks deletions
    # Meltano passes these variables only for settings meltano.yml declares (render.py refuses otherwise).
    tap = next(p for p in meltano_yml()["plugins"]["extractors"] if p["name"] == "tap-klaviyo")
    assert {"accounts", "table_version", "activate_version"} <= {s["name"] for s in tap["settings"]}


def test_mark_deletions_runs_last_only_after_every_account_synced_and_never_for_some_accounts(workflow_template):
    main = template(workflow_template, workflow_template["spec"]["entrypoint"])
    assert main["failFast"] is False
    _, sync_group, last_group, *_ = main["steps"]
    # Its own group after the fan-out: Argo starts a group only when every step of the one before succeeded (each
    # account's pod, after its retries), so after a failed account nothing is marked. No continueOn anywhere.
    assert [step["template"] for step in sync_group] == ["sync-account"]
    (step,) = last_group
    assert step["name"] == step["template"] == "mark-deletions"
    assert not any("continueOn" in s for group in main["steps"] for s in group)
    # Skipped when the plan says the run is limited to some accounts (single_account, or the `accounts` setting).
    assert step["when"] == "{{steps.plan.outputs.parameters.mark_deletions}} == true"
    arguments = {p["name"]: p["value"] for p in step["arguments"]["parameters"]}
    assert arguments == {
        "select_filter": "{{steps.plan.outputs.parameters.select_filter}}",  # included_steps, as the syncs
        "table_version": WORKFLOW_VERSION,  # the version the sync pods stamped
    }

    spec = template(workflow_template, "mark-deletions")
    container = spec["container"]
    assert container["command"] == [f"{deploy()['project_dir']}/.venv/bin/meltano"]
    # The same job, with a state id no account has (orchestrate/plan.py refuses an account named so).
    assert container["args"] == [
        "--environment",
        "prod",
        "run",
        "--no-install",
        "--state-id-suffix",
        "mark-deletions",
        "klaviyo-to-snowflake",
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TAP_KLAVIYO_ACTIVATE_VERSION"] == "{{inputs.parameters.table_version}}"
    assert env["TAP_KLAVIYO__SELECT_FILTER"] == "{{inputs.parameters.select_filter}}"
    assert not {"TAP_KLAVIYO_ACCOUNTS", "TAP_KLAVIYO_TABLE_VERSION", "MELTANO_RUN_FULL_REFRESH"} & set(env)
    # The warehouse and the state backend as the sync pods reach them.
    sync_refs = {e["name"] for e in template(workflow_template, "sync-account")["container"]["env"] if "valueFrom" in e}
    assert {e["name"] for e in container["env"] if "valueFrom" in e} == sync_refs
    assert spec["synchronization"] == {"mutexes": [{"name": "tap-klaviyo-to-target-snowflake-mark-deletions"}]}
    settings = deploy()["mark_deletions"]
    assert spec["activeDeadlineSeconds"] == settings["active_deadline_seconds"] <= 3600  # a few UPDATEs
    assert container["resources"] == {"requests": settings["requests"], "limits": settings["limits"]}
    assert "mark_deletions" in {p["name"] for p in template(workflow_template, "plan")["outputs"]["parameters"]}


def test_the_models_run_once_after_every_account_synced_and_deletions_were_marked(workflow_template):
    main = template(workflow_template, workflow_template["spec"]["entrypoint"])
    *_, marks, (step,) = main["steps"]
    assert [s["template"] for s in marks] == ["mark-deletions"]
    # A group after mark-deletions (which may be skipped): only once every account's pod succeeded.
    assert step["name"] == step["template"] == "models"
    assert step["when"] == "{{workflow.parameters.models}} == true"
    parameter = next(p for p in workflow_template["spec"]["arguments"]["parameters"] if p["name"] == "models")
    assert (parameter["value"], parameter["enum"]) == ("true", ["true", "false"])
    settings = deploy()["models"]
    spec = template(workflow_template, "models")
    container = spec["container"]
    assert container["args"] == ["--environment", "prod", "run", "--no-install", settings["job"]]
    assert settings["job"] == "klaviyo-models"
    job = next(j for j in meltano_yml()["jobs"] if j["name"] == settings["job"])
    assert job["tasks"] == ["dbt-snowflake:run dbt-snowflake:test"]
    # Two runs never build the models at once; the Snowflake login comes from the Secret, no Klaviyo key.
    assert spec["synchronization"] == {"mutexes": [{"name": "klaviyo-models"}]}
    refs = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert {"SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"} <= refs
    assert not any("KLAVIYO" in name for name in refs)
    assert spec["activeDeadlineSeconds"] == settings["active_deadline_seconds"]


def test_the_light_run_leaves_the_models_to_the_full_runs():
    light = load_yaml(ARGO_DIR / "klaviyo-light.workflow-template.yaml")
    assert "models" not in {t["name"] for t in light["spec"]["templates"]}
    assert deploy()["models"]["schedules"] == ["klaviyo-to-snowflake"]


# What Meltano itself sets for every plugin it runs (https://docs.meltano.com/guide/configuration#environment-variables)
MELTANO_SETS = {"MELTANO_PROJECT_ROOT", "MELTANO_SYS_DIR_ROOT"}


def prod_variables() -> set[str]:
    """Every $VARIABLE the prod environment and the state backend read (read here independently of render.py), but
    those Meltano sets itself."""
    project = meltano_yml()
    prod = next(env for env in project["environments"] if env["name"] == "prod")
    text = json.dumps([prod, project["state_backend"]])
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)\}?", text)) - MELTANO_SETS


def test_secrets_come_only_from_the_secret_and_cover_every_prod_variable(workflow_template):
    secret = deploy()["secret"]
    for name, spec in containers(workflow_template).items():
        for entry in spec["container"]["env"]:
            if "valueFrom" in entry:
                assert set(entry["valueFrom"]) == {"secretKeyRef"}, (name, entry)
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret and ref["key"] == entry["name"], (name, entry)
            else:
                # A literal value is only ever an Argo parameter: nothing secret is written into the manifest.
                assert re.fullmatch(r"\{\{[^{}]+\}\}", entry["value"]), (name, entry)
        for arg in spec["container"]["args"]:
            assert not re.search(r"password|secret|api_key|token", arg, re.IGNORECASE), (name, arg)
    sync_refs = {e["name"] for e in template(workflow_template, "sync-account")["container"]["env"] if "valueFrom" in e}
    local_only = set(deploy()["local_only"])
    assert local_only == {"LOCAL_S3_ENDPOINT_URL"}
    every_ref = {  # every pod of every workflow (the file loads' too)
        entry["name"]
        for document in of_kind("WorkflowTemplate")
        for spec in containers(document).values()
        for entry in spec["container"]["env"]
        if "valueFrom" in entry
    }
    assert prod_variables() - local_only <= every_ref
    # tap-snowflake reads with the loader's credentials (meltano.yml `prod`): no variable of its own
    assert prod_variables() - local_only - sync_refs == {"KLAVIYO_WRITE_API_KEY"}
    assert {"SNOWFLAKE_PASSWORD", "KLAVIYO_ACCOUNTS_FILE", "MELTANO_STATE_BACKEND_URI"} <= sync_refs
    for spec in containers(workflow_template).values():  # the pods never point at a local stand-in
        assert not local_only & {entry["name"] for entry in spec["container"]["env"]}
    plan_refs = {e["name"] for e in template(workflow_template, "plan")["container"]["env"] if "valueFrom" in e}
    assert "KLAVIYO_ACCOUNTS_FILE" in plan_refs
    assert not {name for name in plan_refs if name.startswith("SNOWFLAKE_")}  # the plan never sees the warehouse


def quantity(text: str) -> float:
    units = {"m": 1e-3, "": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text).groups()
    return float(number) * units[unit]


def test_every_pod_has_retries_a_deadline_requests_and_limits(workflow_template):
    for name, spec in containers(workflow_template).items():
        retry = spec["retryStrategy"]
        assert retry["limit"] == 3, name
        assert retry["backoff"] == {"duration": "10m", "factor": 2}, name  # 10, 20, 40 minutes
        assert retry["retryPolicy"] == "Always", name  # also when the node is lost or the pod evicted
        assert 0 < spec["activeDeadlineSeconds"] <= 6 * 3600, name
        resources = spec["container"]["resources"]
        for kind in ("cpu", "memory"):
            assert 0 < quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), (name, kind)
        assert spec["container"]["securityContext"]["allowPrivilegeEscalation"] is False
    # A wrong parameter is not retried for an hour: the plan exits 2 for it.
    assert template(workflow_template, "plan")["retryStrategy"]["expression"] == 'lastRetry.exitCode != "2"'
    pod = workflow_template["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == deploy()["run_as_user"]


def test_every_placeholder_is_one_argo_can_resolve(workflow_template):
    spec = workflow_template["spec"]
    workflow_parameters = {p["name"] for p in spec["arguments"]["parameters"]}
    plan_outputs = {p["name"] for p in template(workflow_template, "plan")["outputs"]["parameters"]}
    item_fields = {"account", "state_id_suffix"}  # what orchestrate/plan.py writes (checked in test_pods.py)
    for node in spec["templates"]:
        inputs = {p["name"] for p in node.get("inputs", {}).get("parameters", [])}
        found = placeholders(node)
        assert found or node["name"] in ("main", "models"), node["name"]  # the models step needs no parameter
        for expression in found:
            scope, _, name = expression.rpartition(".")
            allowed = {
                "workflow.parameters": workflow_parameters,
                "workflow.creationTimestamp": {"s"},  # Unix seconds (Argo's operator.go, setGlobalParameters)
                "inputs.parameters": inputs,
                "steps.plan.outputs.parameters": plan_outputs,
                "item": item_fields,
            }
            assert name in allowed.get(scope, set()), f"{node['name']}: {{{{{expression}}}}} names nothing"
    # ... and every declared input is used: a parameter the pod ignores would be a silent no-op.
    for node in spec["templates"]:
        for parameter in node.get("inputs", {}).get("parameters", []):
            assert f"inputs.parameters.{parameter['name']}" in placeholders(node), (node["name"], parameter)


def test_the_argo_folder_applies_as_one_kustomization():
    assert sorted(load_yaml(ARGO_DIR / "kustomization.yaml")["resources"]) == sorted(manifests())
