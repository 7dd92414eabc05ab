"""The plugins outside this repository: their wheels, built from the sources, install with no network into a new
Meltano project that adds them from packaging/hub/'s definitions (`meltano add --from-ref`), and there they describe
themselves and sync against the sandbox: tap-klaviyo reads an account's metrics, tap-csv -> target-klaviyo sends a
CSV's orders as events.

The wheels' dependencies come from a wheelhouse of the plugins' locks (orchestrate/lock.py --download: `wheels/` when
`make wheelhouse` made one, else downloaded here from PyPI); Meltano's installer (uv) then runs offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from klaviyo_api import KlaviyoAPI

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLUGINS = {"tap-klaviyo": "extractor", "tap-csv": "extractor", "target-klaviyo": "loader"}
FOLDERS = ("klaviyo-http", "tap-support", "tap-klaviyo", "tap-csv", "target-klaviyo")
ORDERS = "ORDER_ID,EMAIL,DATE_ORDERED,ORDER_TOTAL\n1,ann@example.com,2026-01-02 10:00:00,12.5\n"
ORDERS += "2,bob@example.com,2026-01-03 11:30:00,40\n"
MAPPINGS = {
    "orders": {
        "event": {"metric": "Wheel Order", "time": "DATE_ORDERED", "value": "ORDER_TOTAL", "unique_id": "ORDER_ID"},
        "profile": {"email": "EMAIL"},
    }
}


def build_wheels(work: Path) -> Path:
    """Wheels of this repository's packages, built from copies of their folders (the tree stays clean), no network."""
    dist = work / "dist"
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, work / "src" / folder, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    command = [str(BIN / "pip"), "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist)]
    subprocess.run([*command, *(str(work / "src" / folder) for folder in FOLDERS)], check=True)
    return dist


def wheelhouse(work: Path) -> Path:
    made = ROOT / "wheels"
    if any(made.glob("*.whl")):
        return made
    lock = [str(BIN / "python"), str(ROOT / "orchestrate" / "lock.py"), "--download", str(work / "wheelhouse")]
    subprocess.run([*lock, "--plugins", ",".join(PLUGINS)], check=True, capture_output=True)
    return work / "wheelhouse"


def constraints(work: Path) -> Path:
    """The locks' pins, so the new project gets the versions the suite tests."""
    pins = {
        line
        for name in PLUGINS
        for line in (ROOT / "orchestrate" / "locks" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "-e"))
    }
    path = work / "constraints.txt"
    path.write_text("\n".join(sorted(pins)) + "\n", encoding="utf-8")
    return path


def meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**clean_environment(), **(env or {})},
    )
    assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def clean_environment() -> dict[str, str]:
    """This process's environment without what ties a Meltano run to this repository's project."""
    prefixes = ("MELTANO_", "TAP_", "TARGET_", "KLAVIYO_", "SNOWFLAKE_", "VIRTUAL_ENV")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    running = start_sandbox("--accounts", "1", "--seed", "11", "--rate-limit-scale", "0", "--job-seconds", "0.2")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("elsewhere")
    dist, house = build_wheels(work), wheelhouse(work)
    project = work / "project"
    project.mkdir()
    new = {"project_id": "elsewhere", "send_anonymous_usage_stats": False, "default_environment": "dev"}
    new["environments"] = [{"name": "dev"}]
    (project / "meltano.yml").write_text(yaml.safe_dump(new), encoding="utf-8")
    for name, kind in PLUGINS.items():
        definition = ROOT / "packaging" / "hub" / f"{kind}s" / f"{name}.yml"
        meltano(project, "add", "--plugin-type", kind, name, "--from-ref", str(definition), "--no-install")
    offline = {"UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": f"{dist},{house}"}
    offline.update({"UV_CONSTRAINT": str(constraints(work)), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"{dist} {house}"})
    meltano(project, "install", env=offline)
    return project


def test_the_definitions_are_those_the_plugins_give(project: Path):
    """packaging/hub/ is current: what meltano.yml declares and what the plugins say in --about."""
    check = [str(BIN / "python"), str(ROOT / "packaging" / "hub_definitions.py"), "--check"]
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    added = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))["plugins"]
    assert {entry["name"] for kind in added.values() for entry in kind} == set(PLUGINS)


@pytest.mark.parametrize("name", list(PLUGINS))
def test_each_installed_plugin_describes_itself(project: Path, name: str):
    about = json.loads(meltano(project, "invoke", name, "--about", "--format", "json").stdout)
    assert about["name"] == name
    assert about["description"] and "\n" not in about["description"]
    assert (project / ".meltano" / f"{PLUGINS[name]}s" / name / "venv").is_dir()


def test_tap_klaviyo_reads_an_accounts_metrics(project: Path, sandbox: RunningSandbox):
    account = sandbox.accounts[0]
    env = {
        "TAP_KLAVIYO_ACCOUNTS_JSON": json.dumps([{"account": account["account"], "api_key": account["api_key"]}]),
        "TAP_KLAVIYO_API_URL": sandbox.url,
        "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
        "TAP_KLAVIYO__SELECT": json.dumps(["metrics.*"]),
    }
    out = meltano(project, "invoke", "tap-klaviyo", env=env).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"type":"RECORD"')]
    expected = {m.id for m in KlaviyoAPI(account["api_key"], test_host=sandbox.url).Metrics.get_metrics().data}
    assert {r["record"]["id"] for r in records if r["stream"] == "metrics"} == expected
    assert account["api_key"] not in out


def test_tap_csv_into_target_klaviyo_sends_the_orders(project: Path, sandbox: RunningSandbox):
    orders = project / "orders.csv"
    orders.write_text(ORDERS, encoding="utf-8")
    env = {
        "TAP_CSV_FILES": json.dumps([{"entity": "orders", "path": str(orders), "keys": ["ORDER_ID"]}]),
        "TARGET_KLAVIYO_API_KEY": sandbox.key(0),
        "TARGET_KLAVIYO_API_URL": sandbox.url,
        "TARGET_KLAVIYO_MAPPINGS": json.dumps(MAPPINGS),
    }
    meltano(project, "run", "tap-csv", "target-klaviyo", env=env)
    client = KlaviyoAPI(sandbox.key(0), test_host=sandbox.url)

    def orders_arrived() -> list[str]:
        metric = next((m.id for m in client.Metrics.get_metrics().data if m.attributes.name == "Wheel Order"), None)
        events = client.Events.get_events(filter=f'equals(metric_id,"{metric}")').data if metric else []
        return sorted(str(event.attributes.event_properties.get("$value")) for event in events)

    assert wait_for(orders_arrived, timeout=30) == ["12.5", "40.0"]
