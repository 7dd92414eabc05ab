"""The scheduled `snowflake-to-klaviyo` pod (orchestrate/argo, deploy.yml `one_pod_jobs`) over a warehouse view of
profiles, run as Argo runs it, and what it sent: shared by tests/e2e/test_snowflake_view_changes.py (1,000 rows) and
bench/warehouse_changes_to_klaviyo.py (100,000 and more), so the bench measures exactly what the test checks.

The pod runs its exact command and environment (the prod environment, the Secret a dict here) pointed at the stand-ins:
tap-snowflake reads `VIEW` in the emulator in full on every run (a view has no replication key), target-klaviyo sends
its rows as profiles and keeps its change memory beside the state, on S3. What the pod sent is read from the sandbox's
request log and Klaviyo's own routes for profile import jobs, not from the target's summary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from klaviyo_api import KlaviyoAPI
from meltano_project import ensure_installed

from local_stand_ins import analytics
from local_stand_ins.argo import LocalArgo, PodRun, scheduled_template
from local_stand_ins.stack import CREDENTIALS, STATE_BUCKET, LocalStack, start_local_stack

JOB = "snowflake-to-klaviyo"
VIEW = "ANALYTICS.CUSTOMER_PROFILES"
STREAM = "analytics-customer_profiles"  # tap-snowflake's `<schema>-<name>`, lower case
# Every customer, as a model would expose them to Klaviyo; nothing in it says which rows changed.
CREATE_VIEW = f"CREATE OR REPLACE VIEW {VIEW} AS SELECT EMAIL, FIRST_NAME, LIFETIME_VALUE FROM {analytics.TRAITS}"
MAPPINGS = {STREAM: {"profile": {"email": "email", "first_name": "first_name",
                                 "properties": {"Lifetime Value": "lifetime_value"}}}}  # fmt: skip
PASSWORD = "snowflake-password-5d2e7b"  # must never show in a pod's log
CHANGED_VALUE = 4321.5
CHANGED_AT = "2024-07-01 00:00:00"
CHANGED_PER_STATEMENT = 2000  # e-mails in one UPDATE: about 60 KB of SQL
IMPORT_JOBS = "/api/profile-bulk-import-jobs"
JOB_POLL = re.compile(re.escape(IMPORT_JOBS) + r"/([^/]+)/?")  # GET of one job: target-klaviyo polls each it made
SUMMARY = re.compile(r"target-klaviyo summary json: (\{.*\})")


def start_stack() -> LocalStack:
    """The sandbox (one account, rate limits off, import jobs done after 0.2 s) and moto's S3."""
    ensure_installed("tap-snowflake", "target-klaviyo")
    return start_local_stack(
        "--accounts", "1", "--seed", "7", "--events", "10", "--profiles", "10", "--rate-limit-scale", "0",
        "--job-seconds", "0.2",
    )  # fmt: skip


def make_warehouse(folder: Path, rows: int) -> None:
    """analytics.TRAITS with `rows` customers (0 .. rows-1) and the view over it, in the emulator's `folder`."""
    analytics.run_sql(folder, [*analytics.create_statements(rows), CREATE_VIEW])


def changed_rows(rows: int, share: float) -> list[int]:
    """The customers to change: every (1/share)-th, spread over the table (1,000 rows at 1%: 7, 107, ..., 907)."""
    step = max(1, round(1 / share))
    return list(range(7 % step, rows, step))


def change(warehouse: Path, numbers: list[int]) -> None:
    """A model's next build: those customers' lifetime value changes in the table behind the view."""
    emails = [analytics.email(n) for n in numbers]
    # A statement is one argument of `snowflake-emulator sql`, which Linux caps at 128 KiB (MAX_ARG_STRLEN).
    statements = [
        analytics.update_statement(emails[i : i + CHANGED_PER_STATEMENT], updated_at=CHANGED_AT,
                                   lifetime_value=CHANGED_VALUE)
        for i in range(0, len(emails), CHANGED_PER_STATEMENT)
    ]  # fmt: skip
    analytics.run_sql(warehouse, statements)


def local_argo(stack: LocalStack, warehouse: Path, scratch: Path) -> LocalArgo:
    """The job's WorkflowTemplate, its Secret and the variables that point its pod at the stand-ins."""
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
        # This view and its mapping, in place of meltano.yml's table and view.
        "TAP_SNOWFLAKE_TABLES": json.dumps([VIEW.lower()]),
        "TARGET_KLAVIYO_MAPPINGS": json.dumps(MAPPINGS),
    }
    return LocalArgo(scheduled_template(JOB), secret, stand_ins, scratch)


def run_pod(argo: LocalArgo) -> PodRun:
    """What the CronWorkflow submits (full_refresh false); the pod's run, or an error with the end of its log."""
    if not argo.submit():
        raise RuntimeError(f"the {JOB} pod failed (exit {argo.runs[-1].code}):\n{argo.runs[-1].output[-4000:]}")
    return argo.runs[-1]


def summary(output: str) -> dict[str, int]:
    """target-klaviyo's counts for the view's profiles (read, unchanged, created, changed, sent, accepted, ...)."""
    found = SUMMARY.findall(output)
    if not found:
        raise RuntimeError(f"no target-klaviyo summary in the pod's log:\n{output[-4000:]}")
    counts: dict[str, int] = json.loads(found[-1])[STREAM]["profile"]
    return counts


def import_jobs(stack: LocalStack) -> list[str]:
    """The ids of the profile import jobs made since the sandbox's request log was reset: target-klaviyo polls each
    job it made (bulk.py), so each POST has its GETs. Their bodies are in the log only up to 8 KiB
    (klaviyo_sandbox/transport.py), about 50 profiles, so what each job held is read back through Klaviyo's routes."""
    posts = stack.sandbox.requests(IMPORT_JOBS, method="POST")
    made = [entry for entry in posts if entry["path"].rstrip("/") == IMPORT_JOBS and entry["status"] == 202]
    polled = (JOB_POLL.fullmatch(e["path"]) for e in stack.sandbox.requests(IMPORT_JOBS + "/", method="GET"))
    ids = list(dict.fromkeys(match.group(1) for match in polled if match))
    if len(ids) != len(made):
        raise RuntimeError(f"{len(made)} profile import jobs made, {len(ids)} polled: the log cannot tell them apart")
    return ids


def job_sizes(stack: LocalStack, ids: list[str]) -> list[int]:
    """How many profiles each job was given (its `total_count`)."""
    client = sdk(stack)
    return [int(client.Profiles.get_bulk_import_profiles_job(job).data.attributes.total_count) for job in ids]


def imported_emails(stack: LocalStack, ids: list[str]) -> list[str]:
    """The e-mails of the profiles those jobs imported, sorted (Klaviyo's job profiles route, 100 a page)."""
    client = sdk(stack)
    emails: list[str] = []
    for job in ids:
        cursor: str | None = None
        while True:
            page: Any = client.Profiles.get_profiles_for_bulk_import_profiles_job(
                job, page_size=100, **({"page_cursor": cursor} if cursor else {})
            )
            emails += [profile.attributes.email for profile in page.data]
            cursor = page.links.next if page.links else None
            if not cursor:
                break
    return sorted(emails)


def lifetime_value(stack: LocalStack, n: int) -> float:
    """Customer n's "Lifetime Value" as Klaviyo holds it now."""
    (found,) = sdk(stack).Profiles.get_profiles(filter=f'equals(email,"{analytics.email(n)}")').data
    return float(found.attributes.properties["Lifetime Value"])


def sdk(stack: LocalStack) -> KlaviyoAPI:
    return KlaviyoAPI(stack.sandbox.key(0), test_host=stack.sandbox.url, max_retries=3, max_delay=2)
