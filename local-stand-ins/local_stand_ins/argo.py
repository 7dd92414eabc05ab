"""The rendered Argo manifests (orchestrate/argo/), read as Kubernetes would and run here as Argo would run them.

`LocalArgo` plays the Argo controller for one WorkflowTemplate: it walks the entry template's steps, expands
`withParam`, evaluates a step's `when`, resolves `{{...}}` as Argo does, fills every `secretKeyRef` from a dict
standing in for the Kubernetes Secret, holds a template's `synchronization.mutexes` (across the workflows of this
process, as the controller does across a namespace), and runs each container's exact command and arguments as a
local process. The image's project folder is this checkout (the Dockerfile lays out /project as `make setup` lays out
the repository: .venv/ with meltano, .meltano/ with the plugins), and the image's ENV lines come from
orchestrate/Dockerfile. The tests of orchestrate/ and the stand-in for the file loads' Sensor (`file_drops`) use it,
so what runs locally is what the manifests say.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from .meltano_sys_dir import own_meltano_dir

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATE = ROOT / "orchestrate"
ARGO_DIR = ORCHESTRATE / "argo"
DOCKERFILE = ORCHESTRATE / "Dockerfile"
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
CONDITION = re.compile(r"\s*(\S+)\s*(==|!=)\s*(\S+)\s*")
# Argo's mutexes, by resolved name: one holder at a time across every workflow this process runs.
_MUTEXES: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_MUTEXES_GUARD = threading.Lock()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def manifests() -> dict[str, dict[str, Any]]:
    """File name -> document, for every rendered Argo resource."""
    return {path.name: load_yaml(path) for path in sorted(ARGO_DIR.glob("*.yaml")) if path.name != "kustomization.yaml"}


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests().values() if doc["kind"] == kind]


def deploy() -> dict[str, Any]:
    settings: dict[str, Any] = load_yaml(ORCHESTRATE / "deploy.yml")
    return settings


def meltano_yml() -> dict[str, Any]:
    project: dict[str, Any] = load_yaml(ROOT / "meltano.yml")
    return project


def named(kind: str, name: str) -> dict[str, Any]:
    """The rendered resource of that kind and name."""
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


def scheduled_template(schedule: str = "klaviyo-to-snowflake") -> dict[str, Any]:
    """The WorkflowTemplate a schedule's CronWorkflow starts (by default the one per account, klaviyo-to-snowflake)."""
    cron = named("CronWorkflow", schedule)
    return named("WorkflowTemplate", cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"])


def template(workflow_template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in workflow_template["spec"]["templates"] if t["name"] == name)


def placeholders(value: Any) -> list[str]:
    """Every `{{expression}}` in a manifest fragment."""
    return PLACEHOLDER.findall(json.dumps(value))


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in values, f"Argo could not resolve {{{{{expression}}}}} (known: {sorted(values)})"
        return values[expression]

    return PLACEHOLDER.sub(one, text)


def condition_holds(expression: str) -> bool:
    """A step's `when`, once its placeholders are resolved. Argo evaluates it with govaluate; here only the form the
    manifests use, `a == b` or `a != b` of two plain words (`true == true`), and anything else fails the test."""
    match = CONDITION.fullmatch(expression)
    assert match, f"LocalArgo cannot evaluate when: {expression!r} (only `a == b` / `a != b`)"
    left, operator, right = match.groups()
    return (left == right) == (operator == "==")


def image_env() -> dict[str, str]:
    """The ENV lines of orchestrate/Dockerfile, as the image's processes see them."""
    parser = DockerfileParser(path=str(DOCKERFILE))
    return dict(parser.envs)


@dataclass
class PodRun:
    template: str
    inputs: dict[str, str]
    code: int
    output: str  # stdout and stderr: what `kubectl logs` shows
    seconds: float


@dataclass
class LocalArgo:
    """One WorkflowTemplate, run here. `secret` stands in for the Kubernetes Secret; `stand_ins` are the variables
    a test adds to every pod to point it at the local Klaviyo, S3 and Snowflake instead of the real ones."""

    workflow_template: dict[str, Any]
    secret: dict[str, str]
    stand_ins: dict[str, str]
    scratch: Path
    runs: list[PodRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # steps whose `when` was false
    _pods: itertools.count[int] = field(default_factory=itertools.count)

    def localize(self, text: str) -> str:
        """Container paths -> this machine: the project folder is this checkout, /tmp a scratch folder."""
        project = deploy()["project_dir"]
        if text == project or text.startswith(project + "/"):
            return str(ROOT) + text[len(project) :]
        if text.startswith("/tmp/"):
            return str(self.scratch / text.removeprefix("/tmp/"))
        return text

    def container_env(self, container: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in container.get("env", []):
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                if ref["key"] in self.secret:
                    env[entry["name"]] = self.secret[ref["key"]]
                else:
                    # Kubernetes refuses to start a pod whose required Secret key is missing.
                    assert ref.get("optional"), f"the Secret has no key {ref['key']!r}, which the pod requires"
            else:
                env[entry["name"]] = substitute(entry["value"], values)
        return env

    def run_container(self, name: str, values: dict[str, str], timeout: float = 900) -> PodRun:
        run = self._pod(name, values, timeout)
        self.runs.append(run)
        return run

    def _pod(self, name: str, values: dict[str, str], timeout: float = 900) -> PodRun:
        spec = template(self.workflow_template, name)
        names = [substitute(m["name"], values) for m in spec.get("synchronization", {}).get("mutexes", [])]
        with _MUTEXES_GUARD:
            locks = [_MUTEXES[mutex] for mutex in sorted(names)]
        for lock in locks:  # a pod waits for its mutexes before it starts, as Argo's controller makes it
            lock.acquire()
        try:
            return self._run_container(spec, name, values, timeout)
        finally:
            for lock in reversed(locks):
                lock.release()

    def _run_container(self, spec: dict[str, Any], name: str, values: dict[str, str], timeout: float) -> PodRun:
        container = spec["container"]
        argv = [self.localize(substitute(part, values)) for part in [*container["command"], *container["args"]]]
        env = {"HOME": str(self.scratch), "LANG": "C.UTF-8"}
        env |= image_env()
        # The image's PATH puts the project's .venv/bin before the base image's folders.
        env["PATH"] = ":".join([*(self.localize(part) for part in env["PATH"].split(":") if part), *SYSTEM_PATH])
        env |= self.container_env(container, values) | self.stand_ins
        # A pod has its own filesystem: its own Meltano folder (run files, catalogs, batch files, meltano.db).
        env["MELTANO_SYS_DIR_ROOT"] = str(own_meltano_dir(self.scratch / "pods" / f"{next(self._pods)}-{name}"))
        started = time.monotonic()
        result = subprocess.run(
            argv,
            cwd=self.localize(container["workingDir"]),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        inputs = {
            key.removeprefix("inputs.parameters."): value
            for key, value in values.items()
            if key.startswith("inputs.parameters.")
        }
        return PodRun(name, inputs, result.returncode, result.stdout + result.stderr, time.monotonic() - started)

    def outputs(self, name: str) -> dict[str, str]:
        spec = template(self.workflow_template, name)
        return {
            parameter["name"]: Path(self.localize(parameter["valueFrom"]["path"])).read_text(encoding="utf-8")
            for parameter in spec.get("outputs", {}).get("parameters", [])
        }

    def submit(self, created: int | None = None, **parameters: str) -> bool:
        """`argo submit --from workflowtemplate/<name> -p ...`: True when every pod succeeded. As Argo does, the pods
        of one group of steps (its steps and their expanded `withParam` items) run at the same time, at most
        `spec.parallelism` at once, each holding its mutexes; `runs` lists them in the steps' order. `created`: the
        workflow's creation time (Unix seconds, `{{workflow.creationTimestamp.s}}`), now by default."""
        spec = self.workflow_template["spec"]
        declared = {p["name"]: p for p in spec["arguments"]["parameters"]}
        unknown = set(parameters) - set(declared)
        assert not unknown, f"argo submit would reject unknown parameters {unknown}"
        workflow = {"workflow.creationTimestamp.s": str(int(time.time()) if created is None else created)}
        for name, parameter in declared.items():
            value = parameters.get(name, parameter.get("value", ""))
            # Argo checks a parameter against its enum when the workflow is submitted.
            assert value in parameter.get("enum", [value]), f"argo submit rejects {name}={value!r}"
            workflow[f"workflow.parameters.{name}"] = value
        context = dict(workflow)
        for group in template(self.workflow_template, spec["entrypoint"])["steps"]:
            pods: list[tuple[dict[str, Any], dict[str, str]]] = []  # (step, its pod's values)
            for step in group:
                items: list[Any] = [None]
                if "withParam" in step:
                    items = json.loads(substitute(step["withParam"], context))
                for item in items:
                    values = dict(context)
                    if isinstance(item, dict):
                        values |= {f"item.{key}": str(value) for key, value in item.items()}
                    if "when" in step and not condition_holds(substitute(step["when"], values)):
                        self.skipped.append(step["name"])  # Argo shows the step as Skipped; the run goes on
                        continue
                    inputs = {
                        f"inputs.parameters.{p['name']}": substitute(p["value"], values)
                        for p in step.get("arguments", {}).get("parameters", [])
                    }
                    pods.append((step, workflow | inputs))
            if not pods:
                continue
            with ThreadPoolExecutor(max_workers=min(len(pods), spec.get("parallelism", len(pods)))) as pool:
                runs = list(pool.map(lambda pod: self._pod(pod[0]["template"], pod[1]), pods))
            self.runs.extend(runs)
            for (step, _), run in zip(pods, runs, strict=True):
                if run.code == 0 and "withParam" not in step:
                    context |= {
                        f"steps.{step['name']}.outputs.parameters.{key}": value
                        for key, value in self.outputs(step["template"]).items()
                    }
            if any(run.code for run in runs):
                return False
        return True
