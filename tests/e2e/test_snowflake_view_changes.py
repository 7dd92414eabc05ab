"""The scheduled `snowflake-to-klaviyo` pod (orchestrate/argo, deploy.yml `one_pod_jobs`) run twice as Argo runs it,
its exact command and environment (the prod environment, the Secret a dict here) pointed at the stand-ins: a
warehouse view of profiles, read in full on every run (a view has no replication key), then 1% of its rows changed.
The second run sends exactly those rows: target-klaviyo's change memory (beside the state, on S3) calls the other
99% unchanged. What arrived is read from the sandbox's request log and through the official SDK."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from klaviyo_api import KlaviyoAPI
from meltano_project import ensure_installed

from local_stand_ins import analytics
from local_stand_ins.argo import LocalArgo, scheduled_template
from local_stand_ins.stack import CREDENTIALS, STATE_BUCKET, start_local_stack

JOB = "snowflake-to-klaviyo"
ROWS = 1000
CHANGED = list(range(7, ROWS, 100))  # 1%
CHANGED_VALUE = 4321.5
VIEW = "ANALYTICS.CUSTOMER_PROFILES"
STREAM = "analytics-customer_profiles"  # tap-snowflake's `<schema>-<name>`, lower case
# Every customer, as a model would expose them to Klaviyo; nothing in it says which rows changed.
CREATE_VIEW = f"CREATE OR REPLACE VIEW {VIEW} AS SELECT EMAIL, FIRST_NAME, LIFETIME_VALUE FROM {analytics.TRAITS}"
MAPPINGS = {STREAM: {"profile": {"email": "email", "first_name": "first_name",
                                 "properties": {"Lifetime Value": "lifetime_value"}}}}  # fmt: skip
PASSWORD = "snowflake-password-5d2e7b"  # must never show in a pod's log


@pytest.fixture(scope="module")
def stack():
    ensure_installed("tap-snowflake", "target-klaviyo")
    running = start_local_stack(
        "--accounts", "1", "--seed", "7", "--events", "10", "--profiles", "10", "--rate-limit-scale", "0",
        "--job-seconds", "0.2",
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("warehouse")
    analytics.run_sql(folder, [*analytics.create_statements(ROWS), CREATE_VIEW])
    return folder


@pytest.fixture(scope="module")
def argo(stack, warehouse, tmp_path_factory) -> LocalArgo:
    scratch = tmp_path_factory.mktemp("pod")
    secret = {  # the Kubernetes Secret of orchestrate/README.md (no SNOWFLAKE_ROLE: optional)
        "KLAVIYO_WRITE_API_KEY": stack.sandbox.key(0),
        "MELTANO_STATE_BACKEND_URI": f"s3://{STATE_BUCKET}/snowflake-pods",
        "SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "SNOWFLAKE_USER": "READER",
        "SNOWFLAKE_PASSWORD": PASSWORD,
        "SNOWFLAKE_WAREHOUSE": "READING",
        **CREDENTIALS,
    }
    stand_ins = {
        "SNOWFLAKE_EMULATOR_PATH": str(warehouse),
        "LOCAL_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # the state backend (meltano.yml)
        "TARGET_KLAVIYO_S3_ENDPOINT_URL": stack.s3.endpoint_url,  # its change memory, beside the state
        "TARGET_KLAVIYO_API_URL": stack.sandbox.url,
        "TARGET_KLAVIYO_REJECTS_PATH": str(scratch / "rejects-{timestamp}.jsonl"),
        # This test's view and its mapping, in place of meltano.yml's table and view.
        "TAP_SNOWFLAKE_TABLES": json.dumps([VIEW.lower()]),
        "TARGET_KLAVIYO_MAPPINGS": json.dumps(MAPPINGS),
    }
    return LocalArgo(scheduled_template(JOB), secret, stand_ins, scratch)


def summary(output: str) -> dict:
    found = re.findall(r"target-klaviyo summary json: (\{.*\})", output)
    assert found, output[-4000:]
    return json.loads(found[-1])[STREAM]["profile"]


def run_pod(argo: LocalArgo) -> str:
    assert argo.submit(), argo.runs[-1].output[-4000:]  # what the CronWorkflow submits: full_refresh false
    return argo.runs[-1].output


def imported_emails(stack) -> list[str]:
    """The e-mails of every profile bulk import job the sandbox received since its log was reset."""
    jobs = stack.sandbox.requests("/api/profile-bulk-import-jobs", method="POST")
    assert all(job.get("body") for job in jobs), "a job's body was too large for the request log"
    return sorted(
        item["attributes"]["email"] for job in jobs for item in job["body"]["data"]["attributes"]["profiles"]["data"]
    )


def lifetime_value(stack, n: int) -> float:
    client = KlaviyoAPI(stack.sandbox.key(0), test_host=stack.sandbox.url, max_retries=3, max_delay=2)
    (found,) = client.Profiles.get_profiles(filter=f'equals(email,"{analytics.email(n)}")').data
    return float(found.attributes.properties["Lifetime Value"])


def test_after_one_percent_of_a_views_rows_changed_the_next_run_sends_only_those(stack, warehouse, argo):
    first = run_pod(argo)
    assert summary(first) == {
        "read": ROWS, "unchanged": 0, "created": ROWS, "changed": 0, "sent": ROWS, "accepted": ROWS, "rejected": 0,
    }  # fmt: skip

    stack.sandbox.reset()  # the request log from here on: the second run's requests only
    analytics.run_sql(
        warehouse,
        [analytics.update_statement([analytics.email(n) for n in CHANGED], updated_at="2024-07-01 00:00:00",
                                    lifetime_value=CHANGED_VALUE)],
    )  # fmt: skip
    second = run_pod(argo)
    changed = len(CHANGED)
    assert summary(second) == {
        "read": ROWS, "unchanged": ROWS - changed, "created": 0, "changed": changed,
        "sent": changed, "accepted": changed, "rejected": 0,
    }  # fmt: skip
    assert imported_emails(stack) == sorted(analytics.email(n) for n in CHANGED)
    assert lifetime_value(stack, CHANGED[3]) == CHANGED_VALUE
    assert lifetime_value(stack, CHANGED[3] + 1) == (CHANGED[3] + 1) * 7919 % 100000 / 100
    for run in (first, second):
        assert PASSWORD not in run and stack.sandbox.key(0) not in run
