"""orchestrate/Dockerfile and orchestrate/lock.py, checked without a Docker daemon: every file the build copies
exists, every local package a pip_url names is copied, installs run with the network off from the wheelhouse
and the locks, the locks are current with meltano.yml, and the image lays out exactly the paths the rendered
manifests run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import yaml
from argo_manifests import DOCKERFILE, ORCHESTRATE, ROOT, deploy, meltano_yml, scheduled_template, template
from dockerfile_parse import DockerfileParser

LOCK = ORCHESTRATE / "lock.py"


def instructions(name: str) -> list[str]:
    return [i["value"] for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] == name]


def copies() -> list[tuple[str, str]]:
    pairs = []
    for value in instructions("COPY"):
        *sources, target = shlex.split(value)
        assert not [s for s in sources if s.startswith("--")], value  # plain copies from the build context
        pairs += [(source, target) for source in sources]
    return pairs


def local_folders() -> set[str]:
    return {
        token.removeprefix("./").rstrip("/")
        for kind in meltano_yml()["plugins"].values()
        for plugin in kind
        for token in plugin["pip_url"].split()
        if token.startswith("./")
    }


def test_every_copied_path_exists_and_nothing_private_is_copied():
    for source, target in copies():
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert source.rstrip("/") not in {".", ".env", ".venv", ".meltano", "tests", "wheels"}, source
        assert target.rstrip("/") in {source.rstrip("/"), "."}, (source, target)  # same layout as the repository
    ignored = (ORCHESTRATE / "Dockerfile.dockerignore").read_text().split()
    assert {".env", ".venv", ".meltano", "**/*.egg-info"} <= set(ignored)


def test_every_local_package_a_plugin_installs_from_is_in_the_image():
    copied = {source.rstrip("/") for source, _ in copies()}
    assert local_folders() == {
        "klaviyo-http",
        "tap-support",
        "tap-klaviyo",
        "tap-csv",
        "snowflake-emulator",
        "target-klaviyo",
    }
    # transform/: the dbt project the dbt-snowflake utility runs (its project_dir)
    assert local_folders() | {"meltano.yml", "orchestrate", "orchestrate/locks", "transform"} == copied


def test_installs_run_offline_from_the_wheelhouse_with_the_locks():
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    assert env["PIP_NO_INDEX"] == "1" and env["UV_OFFLINE"] == "1"
    assert env["PIP_FIND_LINKS"] == env["UV_FIND_LINKS"] == "/wheels"
    installs = [run for run in instructions("RUN") if ("install" in run and "pip" in run) or "lock.py" in run]
    assert len(installs) == 2
    for run in installs:
        assert run.startswith("--network=none --mount=type=bind,source=wheels,target=/wheels "), run
    assert ".venv/bin/pip install --quiet -r orchestrate/locks/meltano.txt" in installs[0]
    assert ".venv/bin/python orchestrate/lock.py --install" in installs[1]
    (base,) = [arg for arg in instructions("ARG") if arg.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base)  # the Python the locks resolve for


def test_the_image_has_the_layout_the_manifests_run():
    settings = deploy()
    workflow_template = scheduled_template()
    project = settings["project_dir"]
    assert instructions("WORKDIR") == [project]
    assert instructions("USER") == [f"{settings['run_as_user']}:{settings['run_as_user']}"]
    assert DockerfileParser(path=str(DOCKERFILE)).envs["MELTANO_ENVIRONMENT"] == settings["environment"]
    sync = template(workflow_template, "sync-account")["container"]
    plan = template(workflow_template, "plan")["container"]
    assert instructions("ENTRYPOINT") == [f'["{sync["command"][0]}"]']
    assert sync["command"] == [f"{project}/.venv/bin/meltano"]  # `python -m venv .venv` + the meltano lock
    # The tap's virtualenv (lock.py --install -> meltano install) runs orchestrate/plan.py (COPY orchestrate/).
    assert plan["command"] == [
        f"{project}/.meltano/extractors/tap-klaviyo/venv/bin/python",
        f"{project}/orchestrate/plan.py",
    ]
    assert (ROOT / "orchestrate" / "plan.py").is_file()
    for container in (sync, plan):
        assert container["workingDir"] == project
        assert container["image"] == settings["image"]


def test_the_locks_are_current_and_pin_what_the_tests_ran_with():
    check = subprocess.run(
        [sys.executable, str(LOCK), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert check.returncode == 0, check.stderr
    dev = dict(
        line.split("==")
        for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    dev = {name.lower().replace("_", "-"): version for name, version in dev.items()}
    names = {path.stem for path in (ORCHESTRATE / "locks").glob("*.txt")}
    assert names == {"meltano"} | {p["name"] for kind in meltano_yml()["plugins"].values() for p in kind}
    for path in (ORCHESTRATE / "locks").glob("*.txt"):
        text = path.read_text()
        pins = dict(line.split("==") for line in text.splitlines() if "==" in line and not line.startswith("#"))
        assert pins, path
        if "# constrained by requirements/dev.txt" in text:
            assert {name: v for name, v in pins.items() if name in dev} == {
                name: dev[name] for name in pins if name in dev
            }, path
    assert "meltano==" + dev["meltano"] in (ORCHESTRATE / "locks" / "meltano.txt").read_text()


def test_a_changed_pip_url_makes_its_lock_stale(tmp_path):
    project = meltano_yml()
    tap = project["plugins"]["extractors"][0]
    tap["pip_url"] += " requests-cache==1.2.1"
    changed = tmp_path / "meltano.yml"
    changed.write_text(yaml.safe_dump(project), encoding="utf-8")
    check = subprocess.run(
        [sys.executable, str(LOCK), "--check", "--meltano-yml", str(changed)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 1
    assert f"lock: {ORCHESTRATE / 'locks' / (tap['name'] + '.txt')}: made from # pip_url: " in check.stderr
    assert "run .venv/bin/python orchestrate/lock.py" in check.stderr
    assert check.stderr.count("lock: ") == 1  # only that plugin's lock
