"""The WorkflowTemplate run end to end, pod by pod, as Argo would run it: the plan pod, then one
`meltano --environment prod run ...` pod per account, then mark-deletions, each with its exact rendered command and
environment (the Secret a dict here). Only the addresses differ from production: Klaviyo is the sandbox, S3 is moto,
Snowflake the emulator. What is checked is what arrived: rows per account and stream, a state id per account,
requests made, one table version across accounts, and a campaign deleted in Klaviyo marked `_sdc_deleted_at` only by
a run in which every account synced."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from argo_manifests import ROOT, LocalArgo, PodRun, scheduled_template
from klaviyo_api import KlaviyoAPI
from raw_warehouse import open_raw

from local_stand_ins.stack import ACCOUNTS_URI, STATE_BUCKET, start_local_stack
from snowflake_emulator.report import table_rows

EVENTS = 400
# What the scheduled runs here read (the CronWorkflow reads every stream): events, and three streams that mark
# deletions, campaigns with their messages and accounts.
# campaign* without the campaign reports: their requests are paced at 2 a minute, which this test does not need.
# Without the models step: the dbt models need every stream (tests/e2e/test_models.py runs them, and
# tests/orchestrate/test_render.py checks the step); their runs are given models=false.
SCHEDULED = {
    "sync_type": "incremental",
    "included_steps": "accounts,events,campaign*,!*_reports",
    "single_account": "",
    "models": "false",
}
VERSIONED = ("accounts", "campaigns", "campaign_messages")
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
        "warehouse-sql": ROOT / ".meltano" / "utilities" / "warehouse-sql" / "venv" / "bin" / "warehouse-sql-launcher",
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


def local_argo(stack, warehouse: Path, scratch: Path) -> LocalArgo:
    workflow_template = scheduled_template()
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
        "TAP_KLAVIYO_API_URL": stack.sandbox.url,
        "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
        "AWS_ENDPOINT_URL_S3": stack.s3.endpoint_url,  # the accounts file (boto3's own variable)
        "LOCAL_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # the state backend (meltano.yml)
        "SNOWFLAKE_EMULATOR_PATH": str(warehouse),
    }
    return LocalArgo(workflow_template, secret, stand_ins, scratch)


def rows_per_account(warehouse: Path) -> dict[str, dict[str, int]]:
    """Table (lower case) -> account_id -> rows, from the emulator's files (what `snowflake-emulator report` prints,
    read in this process)."""
    return {table.table.rsplit(".", 1)[-1].lower(): table.rows_per_account for table in table_rows(warehouse)}


def warehouse_rows(warehouse: Path, table: str) -> list[dict[str, object]]:
    """Every row of RAW.KLAVIYO.<table> (column names in lower case)."""
    with open_raw(warehouse) as conn:
        cursor = conn.execute(f'SELECT * FROM "KLAVIYO"."{table.upper()}"')
        columns = [column[0].lower() for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def deleted(warehouse: Path, table: str) -> set[str]:
    return {str(row["id"]) for row in warehouse_rows(warehouse, table) if row["_sdc_deleted_at"] is not None}


def delete_campaign(stack, account: dict[str, str], warehouse: Path) -> tuple[str, set[str]]:
    """Delete, through the official SDK, one of the account's campaigns that is in the warehouse and has messages;
    returns its id and its messages' ids (the sandbox deletes them with it, as Klaviyo does)."""
    messages: dict[str, set[str]] = {}
    for row in warehouse_rows(warehouse, "campaign_messages"):
        if row["account_id"] == account["id"] and row["_sdc_deleted_at"] is None:
            messages.setdefault(str(row["campaign_id"]), set()).add(str(row["id"]))
    campaign = min(messages)
    KlaviyoAPI(account["api_key"], test_host=stack.sandbox.url, max_retries=0).Campaigns.delete_campaign(id=campaign)
    return campaign, messages[campaign]


def state_ids(stack) -> set[str]:
    objects = stack.s3.client().list_objects_v2(Bucket=STATE_BUCKET, Prefix=f"{STATE_PREFIX}/").get("Contents", [])
    return {obj["Key"].removeprefix(f"{STATE_PREFIX}/").split("/")[0] for obj in objects}


def events_requests(stack, account_id: str) -> int:
    return stack.sandbox.stats().get(account_id, {}).get("get_events", {}).get("requests", 0)


def events_start(stack, account_id: str) -> str | None:
    """Where the account's events read began (since the last reset): the lowest `greater-or-equal(datetime,...)`
    the tap asked for, from the sandbox's request log. How many requests the windows take varies with how fast pages
    come back; where a run starts does not."""
    starts = [
        re.search(r"greater-or-equal\(datetime,([^)]+)\)", entry["query"].get("filter", ""))
        for entry in stack.sandbox.requests("/api/events", account_id=account_id)
    ]
    return min((found.group(1) for found in starts if found), default=None)


def events_rows(pod: PodRun) -> int:
    """The events rows a sync pod read: the tap's summary line (`events for 'Acme': done, 1,234 rows in ...`)."""
    (rows,) = re.findall(r"events for '[^']+': done, ([\d,]+) rows", pod.output)
    return int(rows.replace(",", ""))


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
def scheduled(stack, warehouse, tmp_path_factory) -> tuple[LocalArgo, dict[str, tuple[int, str | None]]]:
    """The CronWorkflow's run (incremental, every account), on a few streams only to keep it short; with the
    events requests each account's pod made and where its events read began."""
    argo = local_argo(stack, warehouse, tmp_path_factory.mktemp("scheduled"))
    stack.sandbox.reset()
    assert argo.submit(**SCHEDULED), failures(argo)
    return argo, {
        account["id"]: (events_requests(stack, account["id"]), events_start(stack, account["id"]))
        for account in stack.sandbox.accounts
    }


def pods(argo: LocalArgo, template: str) -> list[PodRun]:
    return [run for run in argo.runs if run.template == template]


def test_a_scheduled_run_syncs_every_account_in_its_own_pod_with_its_own_state(stack, warehouse, scheduled):
    argo, requests = scheduled
    accounts = stack.sandbox.accounts
    syncs = pods(argo, "sync-account")
    assert sorted(pod.inputs["account"] for pod in syncs) == sorted(a["account"] for a in accounts)
    suffixes = {pod.inputs["state_id_suffix"] for pod in syncs}
    assert all(" " not in suffix for suffix in suffixes) and len(suffixes) == len(accounts)
    # The last step reads and writes no bookmark: only the accounts have state.
    assert state_ids(stack) == {f"prod:tap-klaviyo-to-target-snowflake:{suffix}" for suffix in suffixes}
    assert all(requests[account["id"]][0] > 0 for account in accounts)

    tables = rows_per_account(warehouse)
    assert set(tables) == {"accounts", "events", *VERSIONED}  # included_steps: nothing else was read
    assert tables["accounts"] == {account["id"]: 1 for account in accounts}
    assert tables["events"] == {account["id"]: EVENTS for account in accounts}
    assert set(tables["campaigns"]) == set(tables["campaign_messages"]) == {account["id"] for account in accounts}
    assert_no_secret_in_logs(argo, stack)


def test_every_account_stamps_the_runs_version_and_the_last_step_activates_it(stack, warehouse, scheduled):
    argo, _ = scheduled
    syncs = pods(argo, "sync-account")
    (last,) = pods(argo, "mark-deletions")  # after the syncs, once
    assert argo.runs[-1] is last and argo.skipped == ["models"]  # models=false: SCHEDULED says why
    (version,) = {pod.inputs["table_version"] for pod in syncs} | {last.inputs["table_version"]}
    for pod in syncs:  # an account's run never marks deletions itself (tap-klaviyo versions.py)
        assert "Deletions are not marked by this run: the run reads some accounts only" in pod.output
    for table in VERSIONED:  # both accounts' rows, written by two pods, carry the one version
        rows = warehouse_rows(warehouse, table)
        assert rows and {row["_sdc_table_version"] for row in rows} == {int(version)}, table
        assert all(row["_sdc_deleted_at"] is None for row in rows), table
    # SCHEMA and ACTIVATE_VERSION only: the selected streams that mark deletions, events not among them.
    assert f"ACTIVATE_VERSION {version} sent for: {', '.join(sorted(VERSIONED))}" in last.output
    assert "(3 schemas, 0 records, 0 batch manifests, 0 state messages, 3 activate version messages)" in last.output


# A scheduled run (four pods, one after another here) and its last step again: 455 s, and over 600 s in another run,
# with the machine's other work loading it to 20 on 2 cores.
@pytest.mark.timeout(1200)
def test_a_campaign_deleted_between_two_scheduled_runs_is_marked_deleted_by_the_second_runs_last_step(
    stack, warehouse, scheduled, tmp_path
):
    first, _ = scheduled
    account, other = stack.sandbox.accounts
    campaign, messages = delete_campaign(stack, account, warehouse)
    before = {table: warehouse_rows(warehouse, table) for table in VERSIONED}

    argo = local_argo(stack, warehouse, tmp_path)
    assert argo.submit(**SCHEDULED), failures(argo)
    (version,) = {run.inputs["table_version"] for run in argo.runs if run.template != "plan"}
    assert int(version) > int(pods(first, "mark-deletions")[0].inputs["table_version"])

    assert deleted(warehouse, "campaigns") == {campaign}
    assert deleted(warehouse, "campaign_messages") == messages
    for table in VERSIONED:
        rows = warehouse_rows(warehouse, table)
        assert len(rows) == len(before[table])  # marked, not removed (hard_delete is off)
        seen = [row for row in rows if row["_sdc_deleted_at"] is None]
        assert {row["_sdc_table_version"] for row in seen} == {int(version)}, table  # every account read again
        assert {row["account_id"] for row in seen} == {account["id"], other["id"]}, table

    # Run again (a retry), the last step reads nothing from Klaviyo and changes nothing.
    stack.sandbox.reset()
    (last,) = pods(argo, "mark-deletions")
    again = argo.run_container("mark-deletions", {f"inputs.parameters.{k}": v for k, v in last.inputs.items()})
    assert again.code == 0, again.output[-6000:]
    assert stack.sandbox.stats() == {}
    assert deleted(warehouse, "campaigns") == {campaign}
    assert_no_secret_in_logs(argo, stack)


def test_after_an_account_failed_nothing_is_marked_deleted(stack, warehouse, scheduled, tmp_path):
    """A third account whose key Klaviyo refuses: its pod fails, the others sync, and the last step does not run,
    so a campaign deleted before the run stays unmarked (its account's rows were read, but not every account's)."""
    account, other = stack.sandbox.accounts
    already = deleted(warehouse, "campaigns")
    campaign, _ = delete_campaign(stack, other, warehouse)
    with_revoked = stack.s3.put(
        "klaviyo-accounts",
        "with-revoked.json",
        json.dumps([*stack.accounts(), {"account": "Revoked Brand", "api_key": "pk_revoked_0000000000"}]),
    )
    argo = local_argo(stack, warehouse, tmp_path)
    argo.secret["KLAVIYO_ACCOUNTS_FILE"] = with_revoked
    assert not argo.submit(**SCHEDULED)

    syncs = {pod.inputs["account"]: pod.code for pod in pods(argo, "sync-account")}
    assert syncs.pop("Revoked Brand") != 0
    assert syncs == {account["account"]: 0, other["account"]: 0}
    assert pods(argo, "mark-deletions") == []  # the fan-out failed: the next group never starts
    assert deleted(warehouse, "campaigns") == already  # `campaign` is still there, unmarked
    assert campaign in {str(row["id"]) for row in warehouse_rows(warehouse, "campaigns")}
    assert_no_secret_in_logs(argo, stack)


def test_one_account_again_then_a_full_refresh_as_the_old_single_account_and_sync_type(
    stack, warehouse, scheduled, tmp_path
):
    _, first = scheduled
    account, other = stack.sandbox.accounts
    argo = local_argo(stack, warehouse, tmp_path)
    one = {"included_steps": "events", "single_account": account["account"].upper(), "models": "false"}
    runs = []
    for sync_type in ("incremental", "full"):
        stack.sandbox.reset()
        assert argo.submit(sync_type=sync_type, **one), failures(argo)
        runs.append((events_requests(stack, account["id"]), events_start(stack, account["id"])))
        assert events_requests(stack, other["id"]) == 0  # one account, one pod
    (again, again_start), (_, full_start) = runs
    _, first_start = first[account["id"]]
    # Incremental starts at the account's own bookmark (less the lookback) and reads the events since, fewer than
    # all; the full refresh reads from start_date like the first run, every event. Compared by where each began and
    # by rows: the number of requests depends on the machine's speed (the windows adapt to it).
    assert first_start is not None and again_start is not None
    assert again_start > first_start and again > 0
    assert full_start == first_start
    incremental, full = (events_rows(pod) for pod in pods(argo, "sync-account"))
    assert 0 < incremental < EVENTS and full == EVENTS
    assert rows_per_account(warehouse)["events"] == {a["id"]: EVENTS for a in (account, other)}  # merged, no dupes
    syncs = pods(argo, "sync-account")
    assert [pod.inputs["account"] for pod in syncs] == [account["account"]] * 2  # the file's spelling
    assert [pod.inputs["full_refresh"] for pod in syncs] == ["false", "true"]
    # Some accounts only: a run that did not read every account cannot tell what was deleted.
    assert argo.skipped == ["mark-deletions", "models"] * 2  # models=false here
    assert pods(argo, "mark-deletions") == []
    assert_no_secret_in_logs(argo, stack)
