"""The WorkflowTemplate run end to end, pod by pod, as Argo would run it: the plan pod, then one
`meltano --environment prod run ...` pod per account, each with its exact rendered command and environment (the
Secret a dict here). Only the addresses differ from production: Klaviyo is the sandbox, S3 is moto, Snowflake the
emulator. What is checked is what arrived: rows per account and stream, a state id per account, requests made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from argo_manifests import ROOT, LocalArgo, of_kind

from local_stand_ins.stack import ACCOUNTS_URI, STATE_BUCKET, start_local_stack

EVENTS = 400
DATA = ("--accounts", "2", "--seed", "23", "--events", str(EVENTS), "--profiles", "40", "--rate-limit-scale", "0")
STATE_PREFIX = "argo-pods"
PASSWORD = "snowflake-password-8f3a1c"  # must never show in a pod's log
MELTANO = ROOT / ".venv" / "bin" / "meltano"
EMULATOR = ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "snowflake-emulator"


def ensure_plugins() -> None:
    """The image has the plugins installed (orchestrate/Dockerfile); here, `meltano install` them if missing."""
    needed = {
        "tap-klaviyo": ROOT / ".meltano" / "extractors" / "tap-klaviyo" / "venv" / "bin" / "tap-klaviyo",
        "target-snowflake": EMULATOR,
    }
    missing = [name for name, executable in needed.items() if not executable.exists()]
    if missing:
        subprocess.run([str(MELTANO), "install", *missing], cwd=ROOT, check=True, timeout=1200)


@pytest.fixture(scope="module")
def stack():
    ensure_plugins()
    running = start_local_stack(*DATA)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


def own_meltano_dir(tmp_path: Path) -> Path:
    """A pod has its own filesystem; here, its own .meltano/ (run files, system database) beside the checkout's
    plugin virtualenvs, so that other meltano runs on this machine cannot swap a catalog file under it."""
    own = tmp_path / "meltano-sys"
    own.mkdir()
    for kind in ("extractors", "loaders"):
        (own / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return own


def local_argo(stack, warehouse: Path, scratch: Path) -> LocalArgo:
    (workflow_template,) = of_kind("WorkflowTemplate")
    secret = {  # `kubectl create secret generic klaviyo-warehouse ...` (orchestrate/README.md); no SNOWFLAKE_ROLE
        "KLAVIYO_ACCOUNTS_FILE": ACCOUNTS_URI,
        "MELTANO_STATE_BACKEND_URI": f"s3://{STATE_BUCKET}/{STATE_PREFIX}",
        "SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "SNOWFLAKE_USER": "LOADER",
        "SNOWFLAKE_PASSWORD": PASSWORD,
        "SNOWFLAKE_WAREHOUSE": "LOADING",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    stand_ins = {
        "MELTANO_SYS_DIR_ROOT": str(own_meltano_dir(scratch)),
        "TAP_KLAVIYO_API_URL": stack.sandbox.url,
        "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
        "AWS_ENDPOINT_URL_S3": stack.s3.endpoint_url,  # the accounts file (boto3's own variable)
        "LOCAL_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # the state backend (meltano.yml)
        "SNOWFLAKE_EMULATOR_PATH": str(warehouse),
    }
    return LocalArgo(workflow_template, secret, stand_ins, scratch)


def rows_per_account(warehouse: Path) -> dict[str, dict[str, int]]:
    """Table -> account_id -> rows, from the emulator's files."""
    result = subprocess.run(
        [str(EMULATOR), "--path", str(warehouse), "report", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    tables = [json.loads(line) for line in result.stdout.splitlines()]
    return {t["table"].rsplit(".", 1)[-1].lower(): t["rows_per_account"] for t in tables}


def state_ids(stack) -> set[str]:
    objects = stack.s3.client().list_objects_v2(Bucket=STATE_BUCKET, Prefix=f"{STATE_PREFIX}/").get("Contents", [])
    return {obj["Key"].removeprefix(f"{STATE_PREFIX}/").split("/")[0] for obj in objects}


def events_requests(stack, account_id: str) -> int:
    return stack.sandbox.stats().get(account_id, {}).get("get_events", {}).get("requests", 0)


def failures(argo: LocalArgo) -> str:
    return "\n\n".join(
        f"{run.template} {run.inputs} exit {run.code}:\n{run.output[-6000:]}" for run in argo.runs if run.code
    )


def assert_no_secret_in_logs(argo: LocalArgo, stack) -> None:
    logs = "\n".join(run.output for run in argo.runs)
    assert PASSWORD not in logs
    for account in stack.sandbox.accounts:
        assert account["api_key"] not in logs


@pytest.fixture(scope="module")
def scheduled(stack, warehouse, tmp_path_factory) -> tuple[LocalArgo, dict[str, int]]:
    """The CronWorkflow's run (incremental, every account), on two streams only to keep it short; with the
    events requests each account's pod made."""
    argo = local_argo(stack, warehouse, tmp_path_factory.mktemp("scheduled"))
    stack.sandbox.reset()
    assert argo.submit(sync_type="incremental", included_steps="accounts,events", single_account=""), failures(argo)
    return argo, {account["id"]: events_requests(stack, account["id"]) for account in stack.sandbox.accounts}


def test_a_scheduled_run_syncs_every_account_in_its_own_pod_with_its_own_state(stack, warehouse, scheduled):
    argo, requests = scheduled
    accounts = stack.sandbox.accounts
    pods = [run for run in argo.runs if run.template == "sync-account"]
    assert sorted(pod.inputs["account"] for pod in pods) == sorted(a["account"] for a in accounts)
    suffixes = {pod.inputs["state_id_suffix"] for pod in pods}
    assert all(" " not in suffix for suffix in suffixes) and len(suffixes) == len(accounts)
    assert state_ids(stack) == {f"prod:tap-klaviyo-to-target-snowflake:{suffix}" for suffix in suffixes}
    assert all(requests[account["id"]] > 0 for account in accounts)

    tables = rows_per_account(warehouse)
    assert set(tables) == {"accounts", "events"}  # included_steps: nothing else was read
    assert tables["accounts"] == {account["id"]: 1 for account in accounts}
    assert tables["events"] == {account["id"]: EVENTS for account in accounts}
    assert_no_secret_in_logs(argo, stack)


def test_one_account_again_then_a_full_refresh_as_the_old_single_account_and_sync_type(
    stack, warehouse, scheduled, tmp_path
):
    _, first = scheduled
    account, other = stack.sandbox.accounts
    argo = local_argo(stack, warehouse, tmp_path)
    one = {"included_steps": "events", "single_account": account["account"].upper()}
    runs = []
    for sync_type in ("incremental", "full"):
        stack.sandbox.reset()
        assert argo.submit(sync_type=sync_type, **one), failures(argo)
        runs.append(events_requests(stack, account["id"]))
        assert events_requests(stack, other["id"]) == 0  # one account, one pod
    again, full = runs
    # Incremental starts at the account's own bookmark; the full refresh reads from start_date like the first run.
    assert 0 < again < first[account["id"]]
    assert full == first[account["id"]]
    assert rows_per_account(warehouse)["events"] == {a["id"]: EVENTS for a in (account, other)}  # merged, no dupes
    pods = [run for run in argo.runs if run.template == "sync-account"]
    assert [pod.inputs["account"] for pod in pods] == [account["account"]] * 2  # the file's spelling
    assert [pod.inputs["full_refresh"] for pod in pods] == ["false", "true"]
    assert_no_secret_in_logs(argo, stack)
