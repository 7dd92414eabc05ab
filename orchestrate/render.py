"""Render the Argo Workflows manifests in orchestrate/argo/ from meltano.yml and orchestrate/deploy.yml.

One source: the schedule, the job, its extractor and loader, the Meltano environment and every environment
variable the pods need come from meltano.yml; what only Kubernetes knows (image, resources, retries, the Secret's
name) from deploy.yml. The rendered files are committed, and tests/orchestrate checks that rendering again gives
them byte for byte, so the manifests cannot drift from meltano.yml.

    .venv/bin/python orchestrate/render.py          # (re)write orchestrate/argo/
    .venv/bin/python orchestrate/render.py --check  # exit 1 naming the files that are out of date

Each schedule of a tap-klaviyo job becomes a WorkflowTemplate of its job, `plan` then one `sync-account` pod per
account (orchestrate/plan.py lists the account names, never keys), all with the workflow's table version, then
`mark-deletions` once every account has synced; a scheduled job deploy.yml lists under `one_pod_jobs` becomes one
`run` pod (orchestrate/render_one_pod.py); each with a CronWorkflow that starts it on the schedule's cron, in UTC.
The schedule's `env` (e.g. the light run's TAP_KLAVIYO_SCOPE) reaches every pod of a tap-klaviyo job. Schedules of
one extractor and loader share one state id per account: each account's pods hold a mutex named after that state
id, whichever schedule started them, so two runs never write one state at the same time; and a schedule whose
workflow deadline is not shorter than the gap between two of its runs is refused, naming both.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# render_file_loads imports this module's helpers as `render`; run as a script this module is `__main__`, and one
# module object keeps one RenderError (the one main() catches).
sys.modules.setdefault("render", sys.modules[__name__])

ORCHESTRATE = Path(__file__).resolve().parent
ROOT = ORCHESTRATE.parent
OUTPUT_DIR = ORCHESTRATE / "argo"
HEADER = (
    "# Rendered by orchestrate/render.py from meltano.yml and orchestrate/deploy.yml. Do not edit: change those\n"
    "# and run `.venv/bin/python orchestrate/render.py`.\n"
)

# The extractor that reads many accounts and can be told to read one (its `accounts` setting). Only jobs of this
# extractor fan out into one pod per account; orchestrate/plan.py reads its accounts list.
FANOUT_EXTRACTOR = "tap-klaviyo"
ACCOUNTS_SETTING = "accounts"
# tap-klaviyo's deletions (tap-klaviyo/tap_klaviyo/versions.py): every sync pod of a run stamps its rows with the same
# table version, and the last step, run only when every account synced, activates that version.
TABLE_VERSION_SETTING = "table_version"
ACTIVATE_VERSION_SETTING = "activate_version"
# The workflow's creation time in Unix seconds: the same in every pod of a run, retries and `argo retry` included
# (Argo sets it with the other global variables: workflow/controller/operator.go, setGlobalParameters, since v3.0).
WORKFLOW_VERSION = "{{workflow.creationTimestamp.s}}"
# The last step's state id suffix (and template name); orchestrate/plan.py refuses an account that would get it.
MARK_DELETIONS = "mark-deletions"
# The last step of the schedules deploy.yml `models` names: the dbt models (transform/), once every account synced.
MODELS = "models"
# Meltano passes a `<PLUGIN>_<SETTING>` variable only for a setting meltano.yml declares.
PASSED_BY_VARIABLE = (ACCOUNTS_SETTING, TABLE_VERSION_SETTING, ACTIVATE_VERSION_SETTING)
PLAN_OUTPUT_DIR = "/tmp/plan"
PARAMETER_ERROR = 2  # plan.py's exit code for a wrong parameter
# Meltano's cron presets (https://docs.meltano.com/concepts/project#schedules); Argo accepts the same descriptors.
CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# Variables Meltano itself sets for the plugins: never taken from the Secret.
MELTANO_PROVIDED = re.compile(
    r"MELTANO_(PROJECT_ROOT|ENVIRONMENT|SYS_DIR_ROOT|EXTRACTOR_\w+|LOADER_\w+|"
    r"EXTRACT_\w+|LOAD_\w+|RUN_\w+)"
)

# The old app's Argo parameters, kept under the names users know (the root README.md, "the old app").
SYNC_TYPES = ["incremental", "full"]
DEFAULTS = {"sync_type": "incremental", "included_steps": "all", "single_account": ""}


class RenderError(Exception):
    """meltano.yml or deploy.yml cannot be rendered; the message names the file and the entry."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSettings(Settings):
    active_deadline_seconds: int = Field(gt=0)
    requests: dict[str, str]
    limits: dict[str, str]


class RetrySettings(Settings):
    limit: int = Field(ge=0)
    policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"]
    backoff_duration: str
    backoff_factor: int = Field(ge=1)


class FileLoadSettings(Settings):
    """deploy.yml `file_loads`: the files that load themselves (orchestrate/render_file_loads.py)."""

    job: str
    event_source: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    queue: str = Field(min_length=1)
    region: str = Field(min_length=1)
    prefix: str
    suffix: str
    sensor_service_account: str
    identify: StepSettings
    load: StepSettings


class OnePodJobSettings(StepSettings):
    """deploy.yml `one_pod_jobs.<job>`: a scheduled job run whole in one pod (orchestrate/render_one_pod.py)."""

    workflow_deadline_seconds: int = Field(gt=0)


class ModelsSettings(StepSettings):
    """deploy.yml `models`: the job that builds the dbt models, run once after the accounts of these schedules."""

    job: str
    schedules: list[str]


class Deploy(Settings):
    """orchestrate/deploy.yml: see the comments in that file."""

    image: str = Field(min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"]
    project_dir: str = Field(pattern=r"^/")
    run_as_user: int = Field(gt=0)
    environment: str
    service_account: str
    secret: str
    secret_extra: list[str]
    secret_optional: list[str]
    local_only: list[str]
    parallelism: int = Field(gt=0)
    workflow_deadline_seconds: dict[str, int]
    starting_deadline_seconds: int = Field(gt=0)
    history_successful: int = Field(ge=0)
    history_failed: int = Field(ge=0)
    keep_finished_seconds: int = Field(gt=0)
    retry: RetrySettings
    plan: StepSettings
    sync: StepSettings
    mark_deletions: StepSettings
    models: ModelsSettings
    file_loads: FileLoadSettings
    one_pod_jobs: dict[str, OnePodJobSettings]


@dataclass(frozen=True)
class Scheduled:
    """A meltano.yml schedule of a job: its CronWorkflow."""

    schedule: str
    cron: str
    env: dict[str, str]  # the schedule's own variables (meltano.yml `schedules: env:`), given to every pod
    deadline: int  # seconds the whole workflow may take (deploy.yml workflow_deadline_seconds)
    job: str


@dataclass(frozen=True)
class Pipeline(Scheduled):
    """One scheduled job that fans out per account, with what its pods need from meltano.yml."""

    extractor: str
    loader: str
    plan_variables: list[str]  # read by the extractor's configuration
    sync_variables: list[str]  # read by the extractor, the loader and the state backend
    models_variables: list[str] | None = None  # read by the models job, when this schedule's runs end with it


def load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RenderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise RenderError(f"{path}: not valid YAML ({exc})") from exc


def load_deploy(path: Path) -> Deploy:
    data = load_yaml(path)
    try:
        return Deploy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc'])) or '(top)'}: {error['msg']}" for error in exc.errors())
        raise RenderError(f"{path}: {problems}") from None


def _variables(value: Any) -> set[str]:
    """Every `$NAME` / `${NAME}` in the strings of a meltano.yml fragment."""
    if isinstance(value, str):
        return set(VARIABLE.findall(value))
    if isinstance(value, dict):
        return set().union(*map(_variables, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_variables, value)) if value else set()
    return set()


def _named(entries: Any, name: str) -> dict[str, Any] | None:
    return next((entry for entry in entries or [] if isinstance(entry, dict) and entry.get("name") == name), None)


def _plugin_variables(meltano: dict[str, Any], environment: dict[str, Any], kind: str, name: str) -> set[str]:
    """What one plugin reads from the environment: its definition (config, env, setting defaults) and its
    configuration in the Meltano environment."""
    definition = _named(meltano.get("plugins", {}).get(kind), name) or {}
    settings = [setting.get("value") for setting in definition.get("settings") or []]
    overlay = _named(((environment.get("config") or {}).get("plugins") or {}).get(kind), name) or {}
    return _variables(
        [definition.get("config"), definition.get("env"), settings, overlay.get("config"), overlay.get("env")]
    )


def _check_declared(meltano: dict[str, Any], extractor: str, source: Path) -> None:
    """The pods set some of the extractor's settings by variable; Meltano ignores the variable of a setting
    meltano.yml does not declare, which would silently sync every account or never mark deletions."""
    definition = _named(meltano.get("plugins", {}).get("extractors"), extractor) or {}
    declared = {setting.get("name") for setting in definition.get("settings") or []}
    missing = [name for name in PASSED_BY_VARIABLE if name not in declared]
    if missing:
        raise RenderError(
            f"{source}: extractor {extractor!r} does not declare the setting(s) {', '.join(missing)}; the pods set "
            f"them by variable ({', '.join(env_name(extractor, name) for name in missing)}), which Meltano reads "
            "only for declared settings"
        )


def _user_variables(names: set[str], deploy: Deploy) -> list[str]:
    return sorted(name for name in names if not MELTANO_PROVIDED.fullmatch(name) and name not in deploy.local_only)


def _cron(schedule: dict[str, Any], where: str) -> str:
    interval = str(schedule.get("interval") or "").strip()
    if interval in CRON_PRESETS or len(interval.split()) == 5:
        return interval
    raise RenderError(
        f"{where}: interval {interval!r} is not a 5-field cron expression or one of "
        f"{', '.join(sorted(CRON_PRESETS))}, so Argo cannot run it on a schedule"
    )


def _cron_values(field: str, low: int, high: int) -> set[int]:
    """The values one cron field (`*`, `*/15`, `5,17`, `1-5`, `0-30/10`) allows."""
    values: set[int] = set()
    for part in field.split(","):
        spread, _, step = part.partition("/")
        if spread == "*":
            start, end = low, high
        elif "-" in spread:
            start, end = (int(value) for value in spread.split("-", 1))
        else:
            start = end = int(spread)
            if step:
                end = high
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def gaps_seconds(cron: str) -> list[int]:
    """The times between one run of a cron schedule and the next through a day, from its minutes and hours (at most
    a day: a schedule that skips days is taken to run every day, which can only make the gaps shorter)."""
    presets = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
               "@yearly": "0 0 1 1 *"}  # fmt: skip
    minute, hour = presets.get(cron, cron).split()[:2]
    times = sorted(h * 60 + m for h in _cron_values(hour, 0, 23) for m in _cron_values(minute, 0, 59))
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return [60 * gap for gap in [*gaps, times[0] + 24 * 60 - times[-1]]]


def shortest_gap_seconds(cron: str) -> int:
    """The shortest time between two runs of a cron schedule (`gaps_seconds`)."""
    return min(gaps_seconds(cron))


def _deadline(schedule: str, cron: str, deadline: int | None, where: str) -> int:
    """The schedule's workflow deadline, shorter than the gap between two of its runs: a run still going when the
    next starts would write its accounts' state at the same time (the mutex would only queue the next behind it)."""
    if deadline is None or deadline <= 0:
        raise RenderError(f"{where}: orchestrate/deploy.yml workflow_deadline_seconds has no positive {schedule!r}")
    try:
        gap = shortest_gap_seconds(cron)
    except ValueError:
        raise RenderError(f"{where}: interval {cron!r} is not a cron expression render.py can read") from None
    if deadline >= gap:
        raise RenderError(
            f"{where}: runs every {gap // 60} minute(s) at the shortest ({cron}), but its workflow may take "
            f"{deadline} s (deploy.yml workflow_deadline_seconds): one run would overlap the next on its own state; "
            f"lower the deadline below {gap} or space the schedule"
        )
    return deadline


@dataclass(frozen=True)
class OnePodJob(Scheduled):
    """One scheduled job that deploy.yml runs whole in one pod, with the variables its plugins read."""

    plugins: list[str]  # every block of its tasks, in order
    variables: list[str]  # read by those plugins and the state backend
    settings: OnePodJobSettings


def pipelines(meltano: dict[str, Any], deploy: Deploy, source: Path) -> list[Pipeline | OnePodJob]:
    """The scheduled jobs of meltano.yml, each checked to be one `<FANOUT_EXTRACTOR> <loader> [<utility>:<command>
    ...]` task or a job of deploy.yml's `one_pod_jobs`."""
    environment = _named(meltano.get("environments"), deploy.environment)
    if environment is None:
        raise RenderError(f"{source}: no environment {deploy.environment!r} (deploy.yml `environment`)")
    loaders = {entry.get("name") for entry in meltano.get("plugins", {}).get("loaders") or []}
    utilities = {entry.get("name") for entry in meltano.get("plugins", {}).get("utilities") or []}
    shared = _variables([meltano.get("state_backend"), meltano.get("env"), environment.get("env")])
    found: list[Pipeline | OnePodJob] = []
    for schedule in meltano.get("schedules") or []:
        where = f"{source}: schedule {schedule.get('name')!r}"
        job = _named(meltano.get("jobs"), schedule.get("job"))
        if job is None:
            raise RenderError(
                f"{where}: names job {schedule.get('job')!r}, which `jobs:` does not define "
                "(schedules of a bare extractor/loader pair are not rendered: give them a job)"
            )
        tasks = job.get("tasks") or []
        one_pod = deploy.one_pod_jobs.get(job["name"])
        if one_pod is not None:
            found.append(_one_pod_job(meltano, environment, deploy, schedule, job, one_pod, where))
            continue
        blocks = tasks[0].split() if len(tasks) == 1 and isinstance(tasks[0], str) else []
        # After the load, utility commands may follow (`warehouse-sql:apply`): every pod runs the whole job, so they
        # run after each account's load and once more after the last step's ACTIVATE_VERSION.
        after = [block.split(":", 1)[0] for block in blocks[2:]]
        if (
            len(blocks) < 2
            or blocks[0] != FANOUT_EXTRACTOR
            or blocks[1] not in loaders
            or any(name not in utilities for name in after)
        ):
            raise RenderError(
                f"{where}: job {job['name']!r} runs {tasks!r}; only one task "
                f"'{FANOUT_EXTRACTOR} <loader> [<utility>:<command> ...]' fans out into one pod per account (list the "
                "job under deploy.yml `one_pod_jobs` to run it whole in one pod)"
            )
        extractor, loader = blocks[:2]
        _check_declared(meltano, extractor, source)
        tap = _plugin_variables(meltano, environment, "extractors", extractor)
        target = _plugin_variables(meltano, environment, "loaders", loader)
        for name in after:
            target |= _plugin_variables(meltano, environment, "utilities", name)
        env = {str(key): str(value) for key, value in (schedule.get("env") or {}).items()}
        cron, name = _cron(schedule, where), schedule["name"]
        models = None
        if name in deploy.models.schedules:
            models = _user_variables(_models_variables(meltano, environment, deploy, where) | shared, deploy)
        found.append(
            Pipeline(
                schedule=schedule["name"],
                cron=cron,
                env=env,
                deadline=_deadline(name, cron, deploy.workflow_deadline_seconds.get(name), where),
                job=job["name"],
                extractor=extractor,
                loader=loader,
                plan_variables=_user_variables(tap | _variables(env), deploy),
                sync_variables=_user_variables(tap | target | shared | _variables(env), deploy),
                models_variables=models,
            )
        )
    if not found:
        raise RenderError(f"{source}: no schedules, so nothing to run on Argo")
    unknown = sorted(set(deploy.models.schedules) - {entry.schedule for entry in found})
    if unknown:
        raise RenderError(
            f"{source}: deploy.yml models.schedules names {', '.join(map(repr, unknown))}, which is not a schedule"
        )
    scheduled = {entry.job for entry in found}
    unscheduled = sorted(set(deploy.one_pod_jobs) - scheduled)
    if unscheduled:
        raise RenderError(
            f"{source}: deploy.yml one_pod_jobs names {', '.join(map(repr, unscheduled))}, which no schedule runs"
        )
    return found


def _models_variables(meltano: dict[str, Any], environment: dict[str, Any], deploy: Deploy, where: str) -> set[str]:
    """What deploy.yml's models job reads: a job of utility commands (`dbt-snowflake:run dbt-snowflake:test`)."""
    job = _named(meltano.get("jobs"), deploy.models.job)
    utilities = {entry.get("name") for entry in meltano.get("plugins", {}).get("utilities") or []}
    blocks = [block for task in (job or {}).get("tasks") or [] for block in str(task).split()]
    names = {block.split(":", 1)[0] for block in blocks}
    if job is None or not blocks or not names <= utilities:
        raise RenderError(
            f"{where}: deploy.yml models.job {deploy.models.job!r} must be a job of meltano.yml whose tasks are "
            "utility commands (<utility>:<command>)"
        )
    return set().union(*(_plugin_variables(meltano, environment, "utilities", name) for name in sorted(names)))


def _one_pod_job(
    meltano: dict[str, Any],
    environment: dict[str, Any],
    deploy: Deploy,
    schedule: dict[str, Any],
    job: dict[str, Any],
    settings: OnePodJobSettings,
    where: str,
) -> OnePodJob:
    """A job `meltano run` runs whole in one pod: every block of its tasks must be an extractor or a loader, whose
    variables the pod gets from the Secret."""
    kinds = {
        entry.get("name"): kind
        for kind in ("extractors", "loaders")
        for entry in meltano.get("plugins", {}).get(kind) or []
    }
    tasks = job.get("tasks") or []
    blocks = [block for task in tasks if isinstance(task, str) for block in task.split()]
    unknown = [block for block in blocks if block not in kinds]
    if not blocks or unknown or not all(isinstance(task, str) for task in tasks):
        raise RenderError(
            f"{where}: job {job['name']!r} runs {tasks!r}; a job run in one pod is tasks (strings) of extractors "
            "and loaders" + (f", and {', '.join(map(repr, unknown))} is neither" if unknown else "")
        )
    shared = _variables([meltano.get("state_backend"), meltano.get("env"), environment.get("env")])
    read = set().union(*(_plugin_variables(meltano, environment, kinds[block], block) for block in blocks))
    cron = _cron(schedule, where)
    return OnePodJob(
        schedule=schedule["name"],
        cron=cron,
        env={str(name): str(value) for name, value in (schedule.get("env") or {}).items()},
        deadline=_deadline(schedule["name"], cron, settings.workflow_deadline_seconds, where),
        job=job["name"],
        plugins=blocks,
        variables=_user_variables(read | shared, deploy),
        settings=settings,
    )


def env_name(plugin: str, setting: str) -> str:
    """Meltano's environment variable for a plugin setting (`TAP_KLAVIYO_ACCOUNTS`) or, with a leading
    underscore, an extra (`TAP_KLAVIYO__SELECT_FILTER`)."""
    return f"{plugin}_{setting}".upper().replace("-", "_")


def _secret_env(deploy: Deploy, variables: list[str]) -> list[dict[str, Any]]:
    env = []
    for name in [*variables, *(extra for extra in deploy.secret_extra if extra not in variables)]:
        ref: dict[str, Any] = {"name": deploy.secret, "key": name}
        if name in deploy.secret_optional:
            ref["optional"] = True
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def _schedule_env(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in pipeline.env.items()]


def state_mutex(pipeline: Pipeline, suffix: str) -> str:
    """The Argo mutex of one state id (`<environment>:<extractor>-to-<loader>:<suffix>`, whatever the job or schedule):
    held by every pod that writes it, so two schedules of one state never run over each other."""
    return f"{pipeline.extractor}-to-{pipeline.loader}-{suffix}"


def _retry(deploy: Deploy) -> dict[str, Any]:
    retry = deploy.retry
    return {
        "limit": retry.limit,
        "retryPolicy": retry.policy,
        "backoff": {"duration": retry.backoff_duration, "factor": retry.backoff_factor},
    }


def _container(
    deploy: Deploy, step: StepSettings, command: list[str], args: list[str], env: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "image": deploy.image,
        "imagePullPolicy": deploy.image_pull_policy,
        "workingDir": deploy.project_dir,
        "command": command,
        "args": args,
        "env": env,
        "resources": {"requests": dict(step.requests), "limits": dict(step.limits)},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def _labels(pipeline: Scheduled) -> dict[str, str]:
    return {"app.kubernetes.io/name": "klaviyo-warehouse", "app.kubernetes.io/component": pipeline.schedule}


def _stream_names() -> list[str]:
    # The tap's own list, so the parameter's description names exactly the streams the image's tap has.
    from tap_klaviyo.streams import STREAM_TYPES  # noqa: PLC0415 - only the description needs the tap

    return [stream_type.name for stream_type in STREAM_TYPES]


def workflow_template(pipeline: Pipeline, deploy: Deploy) -> dict[str, Any]:
    project = deploy.project_dir
    tap_python = f"{project}/.meltano/extractors/{pipeline.extractor}/venv/bin/python"
    meltano = f"{project}/.venv/bin/meltano"
    parameters = [
        {
            "name": "sync_type",
            "value": DEFAULTS["sync_type"],
            "enum": SYNC_TYPES,
            "description": "incremental: from each stream's bookmark; full: from start_date, bookmarks ignored "
            "(meltano run --full-refresh).",
        },
        {
            "name": "included_steps",
            "value": DEFAULTS["included_steps"],
            "description": "all, or streams comma-separated (* patterns; !name leaves one out): "
            + ", ".join(_stream_names())
            + ".",
        },
        {
            "name": "single_account",
            "value": DEFAULTS["single_account"],
            "description": "Sync only this account (its name in the accounts file; several comma-separated). "
            "Empty: every account, one pod each.",
        },
    ]
    plan = {
        "name": "plan",
        "activeDeadlineSeconds": deploy.plan.active_deadline_seconds,
        "retryStrategy": retry_unless_wrong_parameter(deploy),  # plan.py exits 2 for a wrong parameter
        "container": _container(
            deploy,
            deploy.plan,
            [tap_python, f"{project}/orchestrate/plan.py"],
            [
                "--meltano",
                meltano,
                "--environment",
                deploy.environment,
                "--extractor",
                pipeline.extractor,
                "--sync-type",
                "{{workflow.parameters.sync_type}}",
                "--accounts",
                "{{workflow.parameters.single_account}}",
                "--streams",
                "{{workflow.parameters.included_steps}}",
                "--output-dir",
                PLAN_OUTPUT_DIR,
            ],
            [*_schedule_env(pipeline), *_secret_env(deploy, pipeline.plan_variables)],
        ),
        "outputs": {
            "parameters": [
                {"name": name, "valueFrom": {"path": f"{PLAN_OUTPUT_DIR}/{name}.json"}}
                for name in ("accounts", "select_filter", "full_refresh", "mark_deletions")
            ]
        },
    }
    sync = {
        "name": "sync-account",
        "inputs": {
            "parameters": [
                {"name": name}
                for name in ("account", "state_id_suffix", "select_filter", "full_refresh", "table_version")
            ]
        },
        # One pod at a time per account across every workflow (both schedules and manual runs): two writers of
        # one state id would each overwrite the other's bookmarks.
        "synchronization": {"mutexes": [{"name": state_mutex(pipeline, "{{inputs.parameters.state_id_suffix}}")}]},
        "activeDeadlineSeconds": deploy.sync.active_deadline_seconds,
        "retryStrategy": _retry(deploy),
        "container": _container(
            deploy,
            deploy.sync,
            [meltano],
            [
                "--environment",
                deploy.environment,
                "run",
                "--no-install",
                "--state-id-suffix",
                "{{inputs.parameters.state_id_suffix}}",
                pipeline.job,
            ],
            [
                {"name": env_name(pipeline.extractor, ACCOUNTS_SETTING), "value": "{{inputs.parameters.account}}"},
                {
                    "name": env_name(pipeline.extractor, "_select_filter"),
                    "value": "{{inputs.parameters.select_filter}}",
                },
                {"name": "MELTANO_RUN_FULL_REFRESH", "value": "{{inputs.parameters.full_refresh}}"},
                {
                    "name": env_name(pipeline.extractor, TABLE_VERSION_SETTING),
                    "value": "{{inputs.parameters.table_version}}",
                },
                *_schedule_env(pipeline),
                *_secret_env(deploy, pipeline.sync_variables),
            ],
        ),
    }
    mark_deletions = {
        "name": MARK_DELETIONS,
        "inputs": {"parameters": [{"name": name} for name in ("select_filter", "table_version")]},
        # Its own state id, held like an account's: two runs never mark at the same time.
        "synchronization": {"mutexes": [{"name": state_mutex(pipeline, MARK_DELETIONS)}]},
        "activeDeadlineSeconds": deploy.mark_deletions.active_deadline_seconds,
        "retryStrategy": _retry(deploy),  # sending ACTIVATE_VERSION again is harmless
        "container": _container(
            deploy,
            deploy.mark_deletions,
            [meltano],
            [
                "--environment",
                deploy.environment,
                "run",
                "--no-install",
                "--state-id-suffix",
                MARK_DELETIONS,
                pipeline.job,
            ],
            [
                # The tap then reads nothing from Klaviyo: SCHEMA and ACTIVATE_VERSION of the selected streams that
                # mark deletions, and target-snowflake marks the rows of older versions (_sdc_deleted_at).
                {
                    "name": env_name(pipeline.extractor, ACTIVATE_VERSION_SETTING),
                    "value": "{{inputs.parameters.table_version}}",
                },
                {
                    "name": env_name(pipeline.extractor, "_select_filter"),
                    "value": "{{inputs.parameters.select_filter}}",
                },
                *_schedule_env(pipeline),
                *_secret_env(deploy, pipeline.sync_variables),
            ],
        ),
    }
    templates = [plan, sync, mark_deletions]
    models_steps: list[list[dict[str, Any]]] = []
    if pipeline.models_variables is not None:
        parameters.append(
            {
                "name": "models",
                "value": "true",
                "enum": ["true", "false"],
                "description": f"true: end with `meltano run {deploy.models.job}` (the dbt models over what the run "
                "loaded, and their tests); false: leave them to the next run.",
            }
        )
        templates.append(
            {
                "name": MODELS,
                # Two runs never build the models at the same time (dbt's incremental events model merges).
                "synchronization": {"mutexes": [{"name": deploy.models.job}]},
                "activeDeadlineSeconds": deploy.models.active_deadline_seconds,
                "retryStrategy": _retry(deploy),
                "container": _container(
                    deploy,
                    deploy.models,
                    [meltano],
                    ["--environment", deploy.environment, "run", "--no-install", deploy.models.job],
                    _secret_env(deploy, pipeline.models_variables),
                ),
            }
        )
        # After mark-deletions (skipped or done): once every account synced, the models see every brand's rows.
        models_steps.append([{"name": MODELS, "template": MODELS, "when": "{{workflow.parameters.models}} == true"}])
    main = {
        "name": "main",
        # Every account runs to the end even when another fails; the workflow then fails naming it.
        "failFast": False,
        "steps": [
            [{"name": "plan", "template": "plan"}],
            [
                {
                    "name": "sync",
                    "template": "sync-account",
                    "withParam": "{{steps.plan.outputs.parameters.accounts}}",
                    "arguments": {
                        "parameters": [
                            {"name": "account", "value": "{{item.account}}"},
                            {"name": "state_id_suffix", "value": "{{item.state_id_suffix}}"},
                            {"name": "select_filter", "value": "{{steps.plan.outputs.parameters.select_filter}}"},
                            {"name": "full_refresh", "value": "{{steps.plan.outputs.parameters.full_refresh}}"},
                            {"name": "table_version", "value": WORKFLOW_VERSION},
                        ]
                    },
                }
            ],
            # A later group of steps runs only when every step of the one before succeeded (retries included):
            # after an account failed, nothing is marked deleted (its rows were not read again). The plan says
            # false when the run is limited to some accounts: the others' rows were not read either.
            [
                {
                    "name": MARK_DELETIONS,
                    "template": MARK_DELETIONS,
                    "when": "{{steps.plan.outputs.parameters.mark_deletions}} == true",
                    "arguments": {
                        "parameters": [
                            {"name": "select_filter", "value": "{{steps.plan.outputs.parameters.select_filter}}"},
                            {"name": "table_version", "value": WORKFLOW_VERSION},
                        ]
                    },
                }
            ],
            *models_steps,
        ],
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": pipeline.schedule,
            "labels": _labels(pipeline),
            "annotations": {
                "workflows.argoproj.io/description": f"meltano run {pipeline.job} ({pipeline.extractor} -> "
                f"{pipeline.loader}){_with_env(pipeline)}, one pod per account, "
                f"each with its own state id ({deploy.environment}:{pipeline.extractor}-to-{pipeline.loader}:"
                f"<account>), then {MARK_DELETIONS} once every account has synced."
            },
        },
        "spec": workflow_spec(
            deploy,
            parameters,
            [main, *templates],
            labels=_labels(pipeline),
            deadline=pipeline.deadline,
            parallelism=deploy.parallelism,
        ),
    }


def template_name(pipeline: Scheduled) -> str:
    """A tap-klaviyo schedule's WorkflowTemplate is its own (its env differs from another schedule's of the same job);
    a one-pod job's is the job's."""
    return pipeline.schedule if isinstance(pipeline, Pipeline) else pipeline.job


def _with_env(pipeline: Scheduled) -> str:
    return " with " + ", ".join(f"{name}={value}" for name, value in pipeline.env.items()) if pipeline.env else ""


def workflow_spec(
    deploy: Deploy,
    parameters: list[dict[str, Any]],
    templates: list[dict[str, Any]],
    *,
    labels: dict[str, str],
    deadline: int,
    **limits: int,
) -> dict[str, Any]:
    """A WorkflowTemplate's spec: the entry template `main` first in `templates`, the pods' user and service
    account, its deadline, clean-up and `limits` (parallelism)."""
    uid = deploy.run_as_user
    return {
        "entrypoint": "main",
        "arguments": {"parameters": parameters},
        "serviceAccountName": deploy.service_account,
        **limits,
        "activeDeadlineSeconds": deadline,
        "podGC": {"strategy": "OnPodSuccess"},
        "ttlStrategy": {"secondsAfterCompletion": deploy.keep_finished_seconds},
        "workflowMetadata": {"labels": labels},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "templates": templates,
    }


def retry_unless_wrong_parameter(deploy: Deploy) -> dict[str, Any]:
    """Retries of a step that checks the run's parameters: exit 2 is a wrong parameter, which retrying cannot
    help, so the run fails at once naming it."""
    return {**_retry(deploy), "expression": f'lastRetry.exitCode != "{PARAMETER_ERROR}"'}


def cron_workflow(pipeline: Scheduled, deploy: Deploy, arguments: dict[str, str]) -> dict[str, Any]:
    """The CronWorkflow of a schedule, starting its job's WorkflowTemplate with `arguments` (its defaults)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {
            "name": pipeline.schedule,
            "labels": _labels(pipeline),
            "annotations": {
                "workflows.argoproj.io/description": f"meltano.yml schedule {pipeline.schedule!r}: job {pipeline.job}"
                f"{_with_env(pipeline)} at {pipeline.cron} (UTC)."
            },
        },
        "spec": {
            "schedules": [pipeline.cron],
            "timezone": "UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": deploy.starting_deadline_seconds,
            "successfulJobsHistoryLimit": deploy.history_successful,
            "failedJobsHistoryLimit": deploy.history_failed,
            "workflowMetadata": {"labels": _labels(pipeline)},
            "workflowSpec": {
                "workflowTemplateRef": {"name": template_name(pipeline)},
                # Spelled out so that a default changed in the template (or the UI) never changes scheduled runs.
                "arguments": {"parameters": [{"name": name, "value": value} for name, value in arguments.items()]},
            },
        },
    }


def kustomization(files: list[str]) -> dict[str, Any]:
    """`kubectl apply -k orchestrate/argo`; an overlay's `images:` can point at another registry or tag."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": files}


def dump(document: dict[str, Any]) -> str:
    return HEADER + str(yaml.safe_dump(document, sort_keys=False, width=120, allow_unicode=True))


def render(meltano_path: Path, deploy_path: Path) -> dict[str, str]:
    """File name -> text of every manifest."""
    meltano = load_yaml(meltano_path)
    if not isinstance(meltano, dict):
        raise RenderError(f"{meltano_path}: not a Meltano project file")
    deploy = load_deploy(deploy_path)
    files: dict[str, str] = {}
    # They import this module's helpers.
    from render_file_loads import manifests  # noqa: PLC0415
    from render_one_pod import ONE_POD_DEFAULTS, one_pod_template  # noqa: PLC0415

    for pipeline in pipelines(meltano, deploy, meltano_path):
        if isinstance(pipeline, OnePodJob):
            template, defaults = one_pod_template(pipeline, deploy, meltano), ONE_POD_DEFAULTS
        else:
            template, defaults = workflow_template(pipeline, deploy), DEFAULTS
        files[f"{template_name(pipeline)}.workflow-template.yaml"] = dump(template)
        files[f"{pipeline.schedule}.cron-workflow.yaml"] = dump(cron_workflow(pipeline, deploy, defaults))
    # Files that load themselves: the job's WorkflowTemplate, the queue's EventSource and the Sensor.

    files.update({name: dump(document) for name, document in manifests(meltano, deploy, str(meltano_path)).items()})
    files["kustomization.yaml"] = dump(kustomization(sorted(files)))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meltano-yml", type=Path, default=ROOT / "meltano.yml")
    parser.add_argument("--deploy", type=Path, default=ORCHESTRATE / "deploy.yml")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    try:
        files = render(args.meltano_yml, args.deploy)
    except RenderError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    existing = {path.name for path in args.output_dir.glob("*.yaml")} if args.output_dir.is_dir() else set()
    stale = sorted(
        name
        for name, text in files.items()
        if not (args.output_dir / name).is_file() or (args.output_dir / name).read_text() != text
    )
    extra = sorted(existing - files.keys())
    if args.check:
        for name in stale:
            print(f"render: {args.output_dir / name} is out of date", file=sys.stderr)
        for name in extra:
            print(f"render: {args.output_dir / name} is not rendered from meltano.yml any more", file=sys.stderr)
        return 1 if stale or extra else 0
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.output_dir / name).write_text(files[name], encoding="utf-8")
        print(f"wrote {args.output_dir / name}")
    for name in extra:
        (args.output_dir / name).unlink()
        print(f"removed {args.output_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
