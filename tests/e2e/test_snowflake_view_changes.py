"""The scheduled `snowflake-to-klaviyo` pod run twice as Argo runs it (view_changes.py): a warehouse view of profiles,
read in full on every run (a view has no replication key), then 1% of its rows changed. The second run sends exactly
those rows: target-klaviyo's change memory (beside the state, on S3) calls the other 99% unchanged. What arrived is read
from the sandbox's request log and through the official SDK. bench/warehouse_changes_to_klaviyo.py runs the same at
100,000 rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from view_changes import (
    CHANGED_VALUE,
    PASSWORD,
    change,
    changed_rows,
    import_jobs,
    imported_emails,
    job_sizes,
    lifetime_value,
    local_argo,
    make_warehouse,
    run_pod,
    start_stack,
    summary,
)

from local_stand_ins import analytics
from local_stand_ins.argo import LocalArgo

ROWS = 1000
CHANGED = changed_rows(ROWS, 0.01)


@pytest.fixture(scope="module")
def stack():
    running = start_stack()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("warehouse")
    make_warehouse(folder, ROWS)
    return folder


@pytest.fixture(scope="module")
def argo(stack, warehouse, tmp_path_factory) -> LocalArgo:
    return local_argo(stack, warehouse, tmp_path_factory.mktemp("pod"))


def test_after_one_percent_of_a_views_rows_changed_the_next_run_sends_only_those(stack, warehouse, argo):
    assert len(CHANGED) == ROWS // 100
    first = run_pod(argo).output
    assert summary(first) == {
        "read": ROWS, "unchanged": 0, "created": ROWS, "changed": 0, "sent": ROWS, "accepted": ROWS, "rejected": 0,
    }  # fmt: skip
    assert sum(job_sizes(stack, import_jobs(stack))) == ROWS

    stack.sandbox.reset()  # the request log from here on: the second run's requests only
    change(warehouse, CHANGED)
    second = run_pod(argo).output
    changed = len(CHANGED)
    assert summary(second) == {
        "read": ROWS, "unchanged": ROWS - changed, "created": 0, "changed": changed,
        "sent": changed, "accepted": changed, "rejected": 0,
    }  # fmt: skip
    jobs = import_jobs(stack)
    assert job_sizes(stack, jobs) == [changed]
    assert imported_emails(stack, jobs) == sorted(analytics.email(n) for n in CHANGED)
    assert lifetime_value(stack, CHANGED[3]) == CHANGED_VALUE
    assert lifetime_value(stack, CHANGED[3] + 1) == (CHANGED[3] + 1) * 7919 % 100000 / 100
    for run in (first, second):
        assert PASSWORD not in run and stack.sandbox.key(0) not in run
