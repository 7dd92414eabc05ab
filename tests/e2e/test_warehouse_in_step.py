"""The warehouse keeps agreeing with Klaviyo, run after run (`meltano run tap-klaviyo target-snowflake`, the emulator):

- things deleted in Klaviyo (campaigns, flows, lists, segments, tags, templates) are marked `_sdc_deleted_at`;
- members who leave a list or a segment are marked, members who join arrive (membership `current`), and
  `join_history` keeps every member ever seen;
- a run of some accounts only, or one where an account failed, marks nothing (ACTIVATE_VERSION covers a whole table);
- events that Klaviyo shows late (its eventual consistency, the sandbox's `--late-share`) arrive through the
  lookback, and are lost without it;
- the light schedule (every 15 minutes: events and profiles only) puts a new event in the warehouse, and leaves the
  other streams' state to the full run;
- both flows, one story: orders sent with `tap-csv target-klaviyo`, dated before the events bookmark, land in
  RAW.KLAVIYO.EVENTS once.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from meltano_project import (
    SHORT_REPORT_HISTORY,
    LocalProject,
    ensure_installed,
    klaviyo_api,
    raw_sql,
    tagged,
    write_events,
)

from local_stand_ins.stack import LocalStack, start_local_stack

RUN = ("run", "tap-klaviyo", "target-snowflake")
FAST = {"TAP_KLAVIYO_RATE_LIMIT_SCALE": "0", **SHORT_REPORT_HISTORY}
DATA = ("--accounts", "2", "--seed", "23", "--events", "2000", "--profiles", "200", "--rate-limit-scale", "0")


def deleted(project: LocalProject, table: str, account_id: str) -> dict[str, bool]:
    """id -> marked deleted, for one account's rows of a table."""
    rows = raw_sql(
        project, f'SELECT "id", "_sdc_deleted_at" FROM "KLAVIYO"."{table.upper()}" WHERE "account_id" = ?', account_id
    )
    return {row[0]: row[1] is not None for row in rows}


def run(project: LocalProject, *args: str, **env: str) -> str:
    result = project.meltano(*RUN, *args, **{**FAST, **env})
    assert result.code == 0, result.output[-4000:]
    return result.output


@pytest.fixture(scope="module")
def stack():
    ensure_installed("tap-klaviyo", "target-snowflake", "tap-csv", "target-klaviyo")
    running = start_local_stack(*DATA)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def project(stack, tmp_path_factory):
    project = LocalProject(stack, tmp_path_factory.mktemp("warehouse"))
    output = run(project)
    assert "Deletions marked (ACTIVATE_VERSION" in output
    return project


@dataclass
class Deletions:
    account: str  # the first account's id: one of each of its things is deleted
    gone: dict[str, str]  # table -> the id deleted
    messages: set[str]  # the deleted campaign's messages
    members: set[str]  # the deleted list's members
    before_other: dict[str, dict[str, bool]]  # table -> the other account's rows (marked or not) before the run


@dataclass
class Membership:
    account: str  # the second account's id
    left: list[tuple[str, str, str, str]]  # (table, group column, group id, profile id)
    joined: list[tuple[str, str, str, str]]


def delete_one_of_each(stack: LocalStack, project: LocalProject) -> Deletions:
    """Delete one campaign, flow, list, segment, tag and template of the first account, through the API."""
    account = stack.sandbox.accounts[0]["id"]
    other = stack.sandbox.accounts[1]["id"]
    gone = {}
    for table, path in (
        ("campaigns", "campaigns"),
        ("flows", "flows"),
        ("lists", "lists"),
        ("segments", "segments"),
        ("tags", "tags"),
        ("templates", "templates"),
    ):
        victim = sorted(deleted(project, table, account))[0]
        assert klaviyo_api(stack, "DELETE", f"/api/{path}/{victim}").status_code == 204
        gone[table] = victim
    messages = {
        m
        for (m,) in raw_sql(
            project, 'SELECT "id" FROM "KLAVIYO"."CAMPAIGN_MESSAGES" WHERE "campaign_id" = ?', gone["campaigns"]
        )
    }
    members = {
        m for (m,) in raw_sql(project, 'SELECT "id" FROM "KLAVIYO"."LIST_MEMBERS" WHERE "list_id" = ?', gone["lists"])
    }
    before_other = {table: deleted(project, table, other) for table in gone}
    return Deletions(account, gone, messages, members, before_other)


def change_membership(stack: LocalStack, project: LocalProject) -> Membership:
    """Members of the second account leave and join segments and lists, and one is removed through the API."""
    account = stack.sandbox.accounts[1]
    changes = stack.sandbox.activity(account["id"], segment_changes=3, list_changes=2, seed=8)
    list_id, profile_id = raw_sql(
        project,
        'SELECT "list_id", "id" FROM "KLAVIYO"."LIST_MEMBERS" WHERE "account_id" = ? '
        'AND "_sdc_deleted_at" IS NULL ORDER BY "id" LIMIT 1',
        account["id"],
    )[0]
    body = {"data": [{"type": "profile", "id": profile_id}]}
    assert klaviyo_api(stack, "DELETE", f"/api/lists/{list_id}/relationships/profiles", 1, body).status_code == 204
    left = [("SEGMENT_MEMBERS", "segment_id", c["segment_id"], c["profile_id"]) for c in changes["segments_left"]]
    left += [("LIST_MEMBERS", "list_id", c["list_id"], c["profile_id"]) for c in changes["lists_left"]]
    left.append(("LIST_MEMBERS", "list_id", list_id, profile_id))
    joined = [("SEGMENT_MEMBERS", "segment_id", c["segment_id"], c["profile_id"]) for c in changes["segments_joined"]]
    joined += [("LIST_MEMBERS", "list_id", c["list_id"], c["profile_id"]) for c in changes["lists_joined"]]
    return Membership(account["id"], left, joined)


def send_story_orders(stack: LocalStack, project: LocalProject, folder: Path) -> list[dict]:
    """tap-csv -> target-klaviyo: 40 orders dated 3 days before the first account's events bookmark, and one bad
    row; returns the rejected rows."""
    account = stack.sandbox.accounts[0]
    bookmark = raw_sql(project, 'SELECT max("datetime") FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ?', account["id"])[
        0
    ][0]
    dated = bookmark - timedelta(days=3)
    orders = folder / "orders.csv"
    with orders.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            [
                "ORDER_ID",
                "EMAIL",
                "DATE_ORDERED",
                "ORDER_TOTAL",
                "ORDER_TYPE",
                "COUPON_CODE",
                "BILL_FIRST_NAME",
                "BILL_LAST_NAME",
                "BILL_STATE_CODE",
                "BILL_ZIP",
                "BILL_PHONE",
            ]
        )
        for n in range(40):
            when = (dated + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S")
            writer.writerow(
                [
                    f"story-{n}",
                    f"story{n}@example.com",
                    when,
                    f"{10 + n}.50",
                    "web",
                    "",
                    "Ann",
                    "Lee",
                    "TX",
                    "78701",
                    "",
                ]
            )
        writer.writerow(["story-bad", "not-an-email", "yesterday-ish", "x", "web", "", "", "", "", "", ""])
    files = json.dumps([{"entity": "orders", "path": str(orders), "keys": ["ORDER_ID"]}])
    sent = project.meltano(
        "run",
        "tap-csv",
        "target-klaviyo",
        "--state-id-suffix",
        "story",
        TAP_CSV_FILES=files,
        TARGET_KLAVIYO_REJECTS_PATH=str(folder / "rejects.jsonl"),
    )
    assert sent.code == 0, sent.output[-4000:]
    return [json.loads(line) for line in (folder / "rejects.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def changed(stack, project, tmp_path_factory) -> tuple[Deletions, Membership, list[dict]]:
    """Klaviyo changed three ways, then one run of every account: each change has its own test below. They touch
    different accounts or tables, so one run serves them all."""
    changes = (
        delete_one_of_each(stack, project),
        change_membership(stack, project),
        send_story_orders(stack, project, tmp_path_factory.mktemp("story")),
    )
    run(project)
    return changes


def test_things_deleted_in_klaviyo_are_marked_deleted(stack, project, changed):
    removed: Deletions = changed[0]
    other = stack.sandbox.accounts[1]["id"]
    for table, victim in removed.gone.items():
        marks = deleted(project, table, removed.account)
        assert marks[victim], (table, victim)
        assert not any(marked for id_, marked in marks.items() if id_ != victim), table
        assert deleted(project, table, other) == removed.before_other[table], table  # the other account: untouched
    message_marks = deleted(project, "campaign_messages", removed.account)
    assert removed.messages and all(message_marks[m] for m in removed.messages)
    member_rows = raw_sql(
        project, 'SELECT "_sdc_deleted_at" FROM "KLAVIYO"."LIST_MEMBERS" WHERE "list_id" = ?', removed.gone["lists"]
    )
    assert removed.members and all(row[0] is not None for row in member_rows)


def test_members_who_leave_are_marked_and_members_who_join_arrive(project, changed):
    membership: Membership = changed[1]
    assert len(membership.left) == 6 and len(membership.joined) == 5
    for table, column, group, profile in membership.left + membership.joined:
        rows = raw_sql(
            project,
            f'SELECT "_sdc_deleted_at" FROM "KLAVIYO"."{table}" WHERE "account_id" = ? AND "{column}" = ? AND "id" = ?',
            membership.account,
            group,
            profile,
        )
        assert len(rows) == 1, (table, group, profile)
        assert (rows[0][0] is not None) == ((table, column, group, profile) in membership.left), (table, group, profile)


def test_a_run_of_some_accounts_marks_nothing_and_says_why(stack, project):
    account = stack.sandbox.accounts[1]["id"]
    victim = sorted(id_ for id_, marked in deleted(project, "templates", account).items() if not marked)[0]
    assert klaviyo_api(stack, "DELETE", f"/api/templates/{victim}", 1).status_code == 204
    output = run(project, TAP_KLAVIYO_ACCOUNTS=stack.sandbox.accounts[1]["account"])
    assert "Deletions are not marked by this run: the run reads some accounts only" in output
    assert not deleted(project, "templates", account)[victim]
    run(project)  # the next run of every account marks it
    assert deleted(project, "templates", account)[victim]


def state(project: LocalProject) -> dict:
    """The project's state (Meltano's, on the local S3), as the next run reads it."""
    result = project.meltano("state", "get", "local:tap-klaviyo-to-target-snowflake")
    assert result.code == 0, result.output[-2000:]
    found, _ = json.JSONDecoder().raw_decode(result.output[result.output.index('{"singer_state"') :])
    return found["singer_state"]


def test_the_light_schedule_puts_a_new_event_in_the_warehouse_and_leaves_the_rest_to_the_full_run(stack, project):
    """`meltano schedule run klaviyo-light` (what the schedule every 15 minutes runs): an event written after the last
    full run is in RAW.KLAVIYO.EVENTS once; nothing but events and profiles is asked of Klaviyo, nothing is marked
    deleted, and the other streams' state is left as the full run left it (shared, one state)."""
    account = stack.sandbox.accounts[0]["id"]
    before = state(project)
    write_events(stack, datetime.now(UTC) - timedelta(minutes=1), 1, "light")
    served = len(stack.sandbox.requests())
    result = project.meltano("schedule", "run", "klaviyo-light", **FAST)
    assert result.code == 0, result.output[-4000:]
    assert "A light run (scope: light) does not read" in result.output
    assert "Deletions marked" not in result.output
    assert tagged(project, "light") == 1
    rows = raw_sql(project, 'SELECT count(*) FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ?', account)[0][0]
    ids = raw_sql(project, 'SELECT count(DISTINCT "id") FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ?', account)[0][0]
    assert rows == ids  # the light run's hour of lookback read rows again: merged, never repeated
    paths = {request["path"].split("?")[0] for request in stack.sandbox.requests()[served:]}
    assert paths and paths <= {"/api/accounts", "/api/events", "/api/profiles"}, paths
    after = state(project)
    light = {"events", "profiles"}
    assert {k: v for k, v in after["bookmarks"].items() if k not in light} == {
        k: v for k, v in before["bookmarks"].items() if k not in light
    }
    assert after["bookmarks"]["events"] != before["bookmarks"]["events"]


def test_join_history_keeps_every_member_ever_seen(stack, tmp_path):
    history = LocalProject(stack, tmp_path / "history")
    # Segments and their members only: what this test reads (with every stream the test took 34.6 CPU-s, 18.4 with
    # these, 2026-12-04).
    mode = {"TAP_KLAVIYO_MEMBERSHIP": "join_history", "TAP_KLAVIYO__SELECT_FILTER": '["segments","segment_members"]'}
    run(history, "--state-id-suffix", "history", **mode)
    account = stack.sandbox.accounts[0]["id"]
    changes = stack.sandbox.activity(account, segment_changes=2, seed=9)
    run(history, "--state-id-suffix", "history", **mode)
    for change in changes["segments_left"] + changes["segments_joined"]:
        rows = raw_sql(
            history,
            'SELECT "_sdc_deleted_at" FROM "KLAVIYO"."SEGMENT_MEMBERS" WHERE "account_id" = ? AND '
            '"segment_id" = ? AND "id" = ?',
            account,
            change["segment_id"],
            change["profile_id"],
        )
        assert rows == [(None,)], change  # joins arrive; who left stays


def test_both_flows_one_story_orders_dated_before_the_bookmark_land_once(stack, project, changed):
    """tap-klaviyo -> warehouse; tap-csv -> target-klaviyo with orders dated 3 days before the events bookmark;
    tap-klaviyo -> warehouse again: every order Klaviyo accepted is in RAW.KLAVIYO.EVENTS, once."""
    rejected = changed[2]
    assert {r["row"] for r in rejected if r["kind"] == "event"} == {41}  # the bad row only
    landed = raw_sql(
        project,
        'SELECT json_extract_string("event_properties", \'$."$event_id"\'), count(*) '
        'FROM "KLAVIYO"."EVENTS" WHERE "account_id" = ? AND '
        "json_extract_string(\"event_properties\", '$.\"$event_id\"') LIKE 'story-%' GROUP BY 1",
        stack.sandbox.accounts[0]["id"],
    )
    assert dict(landed) == {f"story-{n}": 1 for n in range(40)}


@pytest.fixture(scope="module")
def late_stack():
    ensure_installed("tap-klaviyo", "target-snowflake")
    # Half of the events written from now on stay invisible to reads until the test releases them (a day is far
    # longer than any run here, however loaded the machine).
    running = start_local_stack("--accounts", "1", *DATA[2:], "--late-share", "0.5", "--late-hours", "24")
    yield running
    running.stop()


@pytest.mark.parametrize(("lookback", "all_arrive"), [("7", True), ("0", False)])
def test_late_events_arrive_through_the_lookback(late_stack, tmp_path, lookback, all_arrive):
    project = LocalProject(late_stack, tmp_path / "late")
    suffix = ("--state-id-suffix", f"late-{lookback}")
    # Events only: what this test is about, read a few seconds into each run. The completeness check is off: with
    # it, the late events' changed day is re-read whatever the lookback (tests/e2e/test_completeness.py).
    env = {
        "TAP_KLAVIYO_EVENTS_LOOKBACK_DAYS": lookback,
        "TAP_KLAVIYO__SELECT_FILTER": '["events"]',
        "TAP_KLAVIYO_COMPLETENESS_CHECK_DAYS": "0",
    }
    run(project, *suffix, **env)
    account = late_stack.sandbox.accounts[0]["id"]
    tag = f"late{lookback}"
    # Dated an hour ago and after the bookmark (after every event the first run read: the other case's events, an
    # hour before its own start, are held by the same sandbox and end seconds later on a fast machine): the next
    # run's bookmark passes them while some are still invisible.
    (latest,) = raw_sql(project, 'SELECT max("datetime") FROM "KLAVIYO"."EVENTS"')[0]
    when = max(datetime.now(UTC) - timedelta(hours=1), latest.replace(tzinfo=UTC) + timedelta(seconds=1))
    write_events(late_stack, when, 30, tag)
    pending = late_stack.sandbox.late(account)["pending"]
    assert pending > 0  # some are late: invisible for now
    output = run(project, *suffix, **env)  # they are not there yet, and the bookmark passes their time
    assert tagged(project, tag) == 30 - pending
    assert late_stack.sandbox.release_late(account) == pending
    output = run(project, *suffix, **env)
    assert tagged(project, tag) == (30 if all_arrive else 30 - pending)
    if all_arrive:
        assert "read again" in output  # the run summary says how many rows the lookback read again
