"""The warehouse checks itself against Klaviyo's own counts, heals what differs, and forgets deleted people:
`meltano run tap-klaviyo target-snowflake warehouse-sql:apply` on the emulator, against the sandbox.

- After a first run, the completeness view (warehouse-sql's EVENT_COMPLETENESS) shows no differing day.
- Events that show up in Klaviyo 10 days after their time (written dated 10 days ago, held back by the sandbox until
  the test releases them), with the 7-day lookback: a check-only run (`event_counts`) reports their day; the next
  run re-reads that day for those metrics only, and they arrive, once; the view shows no differing day again.
- People deleted in Klaviyo (a data-privacy deletion and the UI's delete): the next run whose profile listing is due
  marks their PROFILES and EVENTS rows deleted; a run whose listing is not due lists no profiles.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from meltano_project import LocalProject, ensure_installed, klaviyo_api, raw_sql

from local_stand_ins.stack import LocalStack, start_local_stack

# Every event written from now on is late: invisible until the test releases it (a day is far longer than any run).
DATA = (
    "--accounts", "2", "--seed", "31", "--events", "3000", "--profiles", "150", "--end", "today",
    "--rate-limit-scale", "0", "--late-share", "1", "--late-hours", "24",
)  # fmt: skip
LOAD = ("run", "tap-klaviyo", "target-snowflake", "warehouse-sql:apply")
# The streams the check, the healing and the marking need (and accounts, metrics for the test's look-ups): a run of
# these takes a fraction of a full one.
STREAMS = ["accounts", "metrics", "event_counts", "events", "profiles", "profile_ids", "profile_listings"]
FAST = {
    "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
    "TAP_KLAVIYO_EVENTS_LOOKBACK_DAYS": "7",
    "TAP_KLAVIYO__SELECT": json.dumps([f"{stream}.*" for stream in STREAMS]),
}
CHECK_ONLY = {"TAP_KLAVIYO__SELECT": json.dumps(["event_counts.*"])}
LATE_DAYS = 10


def run(project: LocalProject, *args: str, **env: str) -> str:
    result = project.meltano(*LOAD, *args, **{**FAST, **env})
    errors = [line for line in result.output.splitlines() if "rror" in line and "│" not in line]
    assert result.code == 0, "\n".join(errors[:40]) + result.output[-3000:]
    return result.output


def differing(project: LocalProject) -> list[dict]:
    """The metric-days where the warehouse differs from Klaviyo's counts: `warehouse-sql:check --json`."""
    result = project.meltano("invoke", "warehouse-sql", "check", "--json")
    assert result.code == 0, result.output[-4000:]
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def stack():
    ensure_installed("tap-klaviyo", "target-snowflake", "warehouse-sql")
    running = start_local_stack(*DATA)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def project(stack, tmp_path_factory):
    project = LocalProject(stack, tmp_path_factory.mktemp("completeness"))
    run(project)
    return project


def write_late_events(stack: LocalStack, account: int, metric: str, count: int, when: datetime, tag: str) -> None:
    for n in range(count):
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {"tag": tag, "$value": 12.5},
                    "time": (when + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "unique_id": f"{tag}-{n}",
                    "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": f"{tag}{n}@example.com"}}},
                },
            }
        }
        assert klaviyo_api(stack, "POST", "/api/events", account, body).status_code == 202


def test_after_a_first_run_no_day_differs(project):
    assert differing(project) == []
    days = raw_sql(project, 'SELECT count(*), sum("klaviyo_count") FROM "KLAVIYO"."EVENT_COUNTS"')[0]
    assert days[0] > 2 * 12 * 80 and days[1] > 100  # two accounts, a dozen metrics, ~90 days, events in them


def test_events_ten_days_late_are_reported_by_the_check_and_healed_by_the_next_run(stack, project):
    account = stack.sandbox.accounts[0]
    zone = ZoneInfo(
        raw_sql(project, 'SELECT max("timezone") FROM "KLAVIYO"."ACCOUNTS" WHERE "id" = ?', account["id"])[0][0]
    )
    # Noon of a day 10 days ago in the account's timezone: well before the lookback, whatever the hour now.
    day = datetime.now(zone).date() - timedelta(days=LATE_DAYS)
    when = datetime(day.year, day.month, day.day, 12, tzinfo=zone).astimezone(UTC)
    write_late_events(stack, 0, "Placed Order", 3, when, "late-known")  # a metric the tap has read before
    write_late_events(stack, 0, "Backfilled Order", 2, when, "late-new")  # a metric created by the backfill
    assert stack.sandbox.release_late(account["id"]) == 5  # visible now: 10 days after their time

    run(project, **CHECK_ONLY)  # only the check: Klaviyo's counts, nothing else read
    reported = {(d["metric_name"], d["day"]): (d["klaviyo"], d["warehouse"]) for d in differing(project)}
    assert set(reported) == {("Placed Order", day.isoformat()), ("Backfilled Order", day.isoformat())}
    placed_k, placed_w = reported[("Placed Order", day.isoformat())]
    assert placed_k - placed_w == 3 and reported[("Backfilled Order", day.isoformat())] == (2, 0)

    stack.sandbox.reset()  # the request log from here: what the healing run asks
    output = run(project)
    assert "re-read" in output
    assert differing(project) == []
    landed = raw_sql(
        project,
        'SELECT json_extract_string("event_properties", \'$.tag\'), count(*), count(DISTINCT "id") '
        'FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ? AND json_extract_string("event_properties", \'$.tag\') '
        "LIKE 'late-%' GROUP BY 1",
        account["id"],
    )
    assert sorted(landed) == [("late-known", 3, 3), ("late-new", 2, 2)]
    duplicates = raw_sql(project, 'SELECT count(*) - count(DISTINCT ("account_id", "id")) FROM "KLAVIYO"."EVENTS"')[0][
        0
    ]
    assert duplicates == 0
    # The incremental read started 7 days back; the late day was read for those two metrics only.
    metric_ids = {
        name: id_
        for id_, name in raw_sql(
            project, 'SELECT "id", "name" FROM "KLAVIYO"."METRICS" WHERE "account_id" = ?', account["id"]
        )
    }
    healed = [
        entry["query"]["filter"]
        for entry in stack.sandbox.requests("/api/events", method="GET", account_id=account["id"])
        if "equals(metric_id" in entry["query"].get("filter", "")
    ]
    assert {next(m for m in metric_ids.values() if f'"{m}"' in f) for f in healed} == {
        metric_ids["Placed Order"],
        metric_ids["Backfilled Order"],
    }
    # A run with nothing new re-reads nothing; its profile listing is not due (the first run's was): none listed.
    stack.sandbox.reset()
    run(project)
    assert not [e for e in stack.sandbox.requests("/api/events") if "equals(metric_id" in e["query"].get("filter", "")]
    assert not [e for e in stack.sandbox.requests("/api/profiles") if "fields[profile]" in e["query"]]


def test_a_deleted_profiles_rows_are_marked_deleted(stack, project):
    account = stack.sandbox.accounts[1]
    busiest = raw_sql(
        project,
        'SELECT "profile_id", count(*) FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ? AND "_sdc_deleted_at" IS NULL '
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2",
        account["id"],
    )
    (by_request, events_a), (by_ui, events_b) = busiest
    email = raw_sql(
        project,
        'SELECT "email" FROM "KLAVIYO"."PROFILES" WHERE "account_id" = ? AND "id" = ?',
        account["id"],
        by_request,
    )[0][0]
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "attributes": {"email": email}}}},
        }
    }
    assert klaviyo_api(stack, "POST", "/api/data-privacy-deletion-jobs", 1, body).status_code == 202
    assert stack.sandbox.run_deletions(account["id"]) == [by_request]
    stack.sandbox.delete_profile(account["id"], by_ui)

    assert raw_sql(project, 'SELECT count(*) FROM "KLAVIYO"."PROFILES" WHERE "_sdc_deleted_at" IS NOT NULL')[0][0] == 0

    run(project, TAP_KLAVIYO_PROFILE_LISTING_HOURS="0")  # due: every profile id listed, the missing ones marked
    profiles = dict(
        raw_sql(
            project,
            'SELECT "id", "_sdc_deleted_at" IS NOT NULL FROM "KLAVIYO"."PROFILES" WHERE "account_id" = ?',
            account["id"],
        )
    )
    assert profiles[by_request] and profiles[by_ui]
    assert sum(profiles.values()) == 2
    events = raw_sql(
        project,
        'SELECT "profile_id", count(*), count("_sdc_deleted_at") FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ? '
        'AND "profile_id" IN (?, ?) GROUP BY 1',
        account["id"],
        by_request,
        by_ui,
    )
    assert sorted(events) == sorted([(by_request, events_a, events_a), (by_ui, events_b, events_b)])
    other_marked = raw_sql(
        project,
        'SELECT count(*) FROM "KLAVIYO"."EVENTS" WHERE "_sdc_deleted_at" IS NOT NULL AND "profile_id" NOT IN (?, ?)',
        by_request,
        by_ui,
    )[0][0]
    assert other_marked == 0
    assert differing(project) == []  # Klaviyo no longer counts their events, nor does the warehouse
