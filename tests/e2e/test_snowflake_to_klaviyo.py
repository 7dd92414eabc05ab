"""`meltano run snowflake-to-klaviyo` (tap-snowflake target-klaviyo) as users run it: MeltanoLabs' tap-snowflake on
the Snowflake emulator, reading a table incrementally (bookmark in Meltano's state on S3) and a view in full, into
the sandbox; what arrived read back through the official SDK and the sandbox's request log."""

from __future__ import annotations

import json
import re
import time

import pytest
from klaviyo_api import KlaviyoAPI
from meltano_project import LocalProject, Run, ensure_installed

from local_stand_ins import analytics
from local_stand_ins.stack import start_local_stack

JOB = ("run", "snowflake-to-klaviyo")
STATE_ID = "local:tap-snowflake-to-target-klaviyo"
CUSTOMERS = 24
CHANGED = [2, 5, 11]
CHANGED_AT = "2024-07-01 00:00:00"  # after every row's UPDATED_AT
CHANGED_VALUE = 4321.5
AT_RISK = [n for n in range(CUSTOMERS) if analytics.churn_score(n) >= analytics.CHURN_RISK_THRESHOLD]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ensure_installed("tap-snowflake", "target-klaviyo")
    stack = start_local_stack(
        "--accounts", "1", "--seed", "5", "--events", "20", "--profiles", "20", "--rate-limit-scale", "0",
        "--job-seconds", "0.2",
    )  # fmt: skip
    project = LocalProject(stack, tmp_path_factory.mktemp("warehouse"))
    analytics.run_sql(project.warehouse, analytics.create_statements(CUSTOMERS))
    yield project
    stack.stop()


def summary(run: Run) -> dict:
    found = re.findall(r"target-klaviyo summary json: (\{.*\})", run.output)
    assert found, run.output[-4000:]
    return json.loads(found[-1])


def sdk(project: LocalProject) -> KlaviyoAPI:
    return KlaviyoAPI(project.stack.sandbox.key(0), test_host=project.stack.sandbox.url, max_retries=3, max_delay=2)


def profile(project: LocalProject, email: str):
    (found,) = sdk(project).Profiles.get_profiles(filter=f'equals(email,"{email}")').data
    return found


def churn_events(project: LocalProject) -> list:
    time.sleep(0.6)  # the sandbox writes a bulk request's events just after accepting it (0.2 s)
    client = sdk(project)
    metric = next(m.id for m in client.Metrics.get_metrics().data if m.attributes.name == "Churn Risk")
    return client.Events.get_events(filter=f'equals(metric_id,"{metric}")', page_size=200).data


def imported_emails(project: LocalProject) -> list[str]:
    """The e-mails of every profile bulk import job the sandbox received (bodies the request log kept)."""
    jobs = project.stack.sandbox.requests("/api/profile-bulk-import-jobs", method="POST")
    assert all(job.get("body") for job in jobs), "a job's body was too large for the request log"
    return sorted(
        item["attributes"]["email"] for job in jobs for item in job["body"]["data"]["attributes"]["profiles"]["data"]
    )


def bookmark(project: LocalProject) -> str:
    state = project.meltano("state", "get", STATE_ID)
    assert state.code == 0, state.output[-2000:]
    value, _ = json.JSONDecoder().raw_decode(state.output[state.output.index("{") :])  # then Meltano's log
    return value["singer_state"]["bookmarks"][analytics.TRAITS_STREAM]["replication_key_value"]


@pytest.fixture(scope="module")
def first_run(project):
    run = project.meltano(*JOB)
    assert run.code == 0, run.output[-4000:]
    return run


def test_a_table_arrives_as_profiles_and_a_view_as_events(project, first_run):
    counts = summary(first_run)
    assert counts[analytics.TRAITS_STREAM]["profile"] == {
        "read": CUSTOMERS, "unchanged": 0, "created": CUSTOMERS, "changed": 0,
        "sent": CUSTOMERS, "accepted": CUSTOMERS, "rejected": 0,
    }  # fmt: skip
    assert counts[analytics.CHURN_RISK_STREAM]["event"]["accepted"] == len(AT_RISK) > 0
    customer = profile(project, analytics.email(7)).attributes
    assert customer.first_name == "Customer7"
    assert customer.properties == {"Lifetime Value": 7 * 7919 % 100000 / 100, "Churn Score": analytics.churn_score(7)}
    events = churn_events(project)
    assert sorted(e.attributes.event_properties["Churn Score"] for e in events) == sorted(
        analytics.churn_score(n) for n in AT_RISK
    )
    # The bookmark in Meltano's state: the newest UPDATED_AT read (row CUSTOMERS - 1, that many seconds in).
    assert bookmark(project).startswith(f"2024-06-01T00:00:{CUSTOMERS - 1:02d}")


def test_a_second_run_reads_only_the_changed_rows_and_the_view_again(project, first_run):
    sandbox = project.stack.sandbox
    sandbox.reset()  # the request log from here on: the second run's requests only
    analytics.run_sql(
        project.warehouse,
        [analytics.update_statement([analytics.email(n) for n in CHANGED], updated_at=CHANGED_AT,
                                    lifetime_value=CHANGED_VALUE)],
    )  # fmt: skip
    run = project.meltano(*JOB)
    assert run.code == 0, run.output[-4000:]

    # singer-sdk reads `updated_at >= bookmark`: the changed rows and the one row at the old bookmark. The target sends
    # the changed ones, and the bookmark's own row unless it remembers having sent it unchanged.
    boundary = CUSTOMERS - 1
    read = {analytics.email(n) for n in [*CHANGED, boundary]}
    assert summary(run)[analytics.TRAITS_STREAM]["profile"]["read"] == len(read)
    assert {analytics.email(n) for n in CHANGED} <= set(imported_emails(project)) <= read
    assert profile(project, analytics.email(5)).attributes.properties["Lifetime Value"] == CHANGED_VALUE
    assert profile(project, analytics.email(6)).attributes.properties["Lifetime Value"] == 6 * 7919 % 100000 / 100
    assert bookmark(project).startswith("2024-07-01T00:00:00")

    # The view has no replication key: read in full again. An event's unique id is a hash of its mapped content, so
    # Klaviyo keeps one event per unchanged row (sent again or not) and adds one for a row whose value changed.
    assert summary(run)[analytics.CHURN_RISK_STREAM]["event"]["read"] == len(AT_RISK)
    sent = sandbox.requests("/api/event-bulk-create-jobs", method="POST")
    changed_at_risk = set(CHANGED) & set(AT_RISK)
    assert changed_at_risk  # the data makes one of them both
    sent_events = sum(len(r["body"]["data"]["attributes"]["events-bulk-create"]["data"]) for r in sent)
    assert len(changed_at_risk) <= sent_events <= len(AT_RISK)
    assert len(churn_events(project)) == len(AT_RISK) + len(changed_at_risk)


def test_no_key_in_the_output(project, first_run):
    assert project.stack.sandbox.key(0) not in first_run.output
