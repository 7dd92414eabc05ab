"""tap-klaviyo as a process against the sandbox: every row of every account, once, shaped as users query it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sandbox_truth import expected_counts
from tap_runs import catalog_selecting, last_state, records, run_tap

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from tap_klaviyo.attributions import ATTRIBUTION_COLUMNS
from tap_klaviyo.streams import STREAM_TYPES

EVENTS, PROFILES = 2500, 240


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox")
    running = start_sandbox(
        "--accounts",
        "2",
        "--events",
        str(EVENTS),
        "--profiles",
        str(PROFILES),
        "--rate-limit-scale",
        "0",
        "--accounts-file",
        str(folder / "accounts.json"),
    )
    running.accounts_file = folder / "accounts.json"  # type: ignore[attr-defined]
    yield running
    running.stop()


def config_for(sandbox: RunningSandbox, **extra) -> dict:
    return {
        "accounts_file": str(sandbox.accounts_file),
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        **extra,
    }


@pytest.fixture(scope="module")
def first_run(sandbox, tmp_path_factory):
    code, messages, stderr = run_tap(config_for(sandbox), tmp_path_factory.mktemp("run"))
    assert code == 0, stderr[-3000:]
    return messages, stderr


def test_every_row_of_every_account_arrives_once(sandbox, first_run):
    rows = records(first_run[0])
    for index, account in enumerate(sandbox.accounts):
        expected = expected_counts(sandbox, index, events=EVENTS, profiles=PROFILES)
        got = Counter(r_stream for r_stream, rs in rows.items() for r in rs if r["account_id"] == account["id"])
        for stream, count in expected.items():
            assert got[stream] == count, (account["account"], stream)
    primary_keys = {stream.name: stream.primary_keys for stream in STREAM_TYPES}
    for stream, rs in rows.items():
        keys = [tuple(r[key] for key in primary_keys[stream]) for r in rs]
        assert len(keys) == len(set(keys)), stream
    assert set(rows) >= {"flow_messages"} and rows["flow_messages"]


def test_rows_carry_account_and_relational_columns(sandbox, first_run):
    rows = records(first_run[0])
    names = {a["id"]: a["account"] for a in sandbox.accounts}
    for stream, rs in rows.items():
        for row in rs:
            assert names[row["account_id"]] == row["account_name"], stream
    event = rows["events"][0]
    assert {"metric_id", "profile_id", "datetime", "event_properties"} <= set(event)
    assert isinstance(event["event_properties"], dict)  # nested objects stay objects
    campaign = rows["campaigns"][0]
    assert isinstance(campaign["campaign_message_ids"], list) and "tag_ids" in campaign
    member = rows["list_members"][0]
    assert member["list_id"] and member["joined_group_at"]
    assert all("flow_action_id" in m for m in rows["flow_messages"])


def test_events_carry_klaviyos_attribution(sandbox, first_run):
    rows = records(first_run[0])
    campaign_of = {m["id"]: m["campaign_id"] for m in rows["campaign_messages"]}
    columns = set(ATTRIBUTION_COLUMNS.values())
    by_kind: Counter[str] = Counter()
    for event in rows["events"]:
        own = event["event_properties"].get("$attribution")
        given = {c: event[c] for c in columns if event[c] is not None}
        if own is None:
            by_kind["organic"] += 1
            assert given == {} and event["attribution_ids"] == []
        elif own["$flow"]:
            by_kind["flow"] += 1
            assert given == {"attributed_flow_id": own["$flow"], "attributed_flow_message_id": own["$message"]}
        else:
            by_kind["campaign"] += 1
            message = own["$message"]
            assert given == {"attributed_campaign_id": campaign_of[message], "attributed_campaign_message_id": message}
    assert min(by_kind["organic"], by_kind["flow"], by_kind["campaign"]) > 0, by_kind
    asked = {entry["query"].get("include") for entry in sandbox.requests("/api/events")}
    assert asked == {"attributions"}


def test_events_without_attributions_ask_for_none(sandbox, tmp_path):
    sandbox.reset()
    code, messages, stderr = run_tap(config_for(sandbox, events_attributions=False), tmp_path, streams=["events"])
    assert code == 0, stderr[-3000:]
    events = records(messages)["events"]
    assert events and not any(set(ATTRIBUTION_COLUMNS.values()) & set(event) for event in events)
    assert {entry["query"].get("include") for entry in sandbox.requests("/api/events")} == {None}


def test_campaigns_of_every_channel_and_archived_ones(first_run):
    campaigns = records(first_run[0])["campaigns"]
    assert {c["definition"]["archived"] for c in campaigns} == {True, False}
    flows = records(first_run[0])["flows"]
    assert {f["archived"] for f in flows} == {True, False}


def test_no_key_anywhere_in_the_output(sandbox, first_run):
    messages, stderr = first_run
    text = json.dumps(messages) + stderr
    for account in sandbox.accounts:
        assert account["api_key"] not in text
    assert "pk_sandbox_" not in text


def test_bookmarks_are_kept_per_account(sandbox, first_run):
    state = last_state(first_run[0])
    for stream in ("events", "profiles", "campaigns", "flows", "list_members"):
        partitions = state["bookmarks"][stream]["partitions"]
        assert {p["context"]["account_id"] for p in partitions} == {a["id"] for a in sandbox.accounts}, stream
        if stream in ("events", "profiles"):
            assert all(p.get("replication_key_value") for p in partitions), stream


def test_second_run_reads_only_what_changed(sandbox, first_run, tmp_path):
    state = last_state(first_run[0])
    changed = sandbox.activity(sandbox.accounts[1]["id"], profiles=5, events=30, others=1, seed=4)
    # Without the events lookback (tests/tap/test_tap_lookback.py): only the bookmark's second is read again.
    code, messages, stderr = run_tap(config_for(sandbox, events_lookback_days=0), tmp_path, state)
    assert code == 0, stderr[-3000:]
    rows = records(messages)
    events = {r["id"] for r in rows["events"]}
    assert set(changed["events"]) <= events
    # Inclusive bookmarks re-read the boundary second only: a handful of rows, not the history.
    assert len(events) <= 30 + 2 * 3
    profiles = {r["id"] for r in rows["profiles"]}
    assert set(changed["profiles"]) <= profiles and len(profiles) <= 5 + 2 * 3


def test_one_account_selected_by_name(sandbox, tmp_path):
    name = sandbox.accounts[0]["account"]
    code, messages, stderr = run_tap(config_for(sandbox, accounts=name), tmp_path, None)
    assert code == 0, stderr[-3000:]
    assert {r["account_name"] for rs in records(messages).values() for r in rs} == {name}


def test_a_bad_key_fails_only_its_account(sandbox, tmp_path):
    accounts = json.loads(Path(sandbox.accounts_file).read_text())
    accounts.append({"account": "Broken Brand", "api_key": "pk_sandbox_" + "0" * 32})
    broken = tmp_path / "accounts.json"
    broken.write_text(json.dumps(accounts))
    code, messages, stderr = run_tap(config_for(sandbox, accounts_file=str(broken)), tmp_path, None)
    assert code != 0
    assert "Broken Brand" in stderr and "authentication_failed" in stderr
    assert {r["account_id"] for r in records(messages)["events"]} == {a["id"] for a in sandbox.accounts}
    assert "0" * 32 not in stderr


def test_a_malformed_accounts_file_fails_before_any_output(sandbox, tmp_path):
    bad = tmp_path / "accounts.json"
    bad.write_text('[{"account": "a", "api_key": ')
    code, messages, stderr = run_tap(config_for(sandbox, accounts_file=str(bad)), tmp_path, None)
    assert code != 0
    assert str(bad) in stderr and "not valid JSON" in stderr
    assert not [m for m in messages if m["type"] == "RECORD"]


def test_an_unreachable_s3_object_fails_before_any_output(sandbox, tmp_path, closed_port_url, aws_env):
    uri = "s3://klaviyo-accounts/accounts.json"
    code, messages, stderr = run_tap(
        config_for(sandbox, accounts_file=uri, s3_endpoint_url=closed_port_url), tmp_path, None
    )
    assert code != 0
    assert uri in stderr and closed_port_url in stderr
    assert not [m for m in messages if m["type"] in ("RECORD", "STATE")]


def test_a_deselected_property_is_left_out(sandbox, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(sandbox)))
    catalog = catalog_selecting(config_path, ["events", "metrics"])
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if entry["tap_stream_id"] == "events" and metadata["breadcrumb"] == ["properties", "event_properties"]:
                metadata["metadata"]["selected"] = False
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    code, messages, stderr = run_tap(config_for(sandbox), tmp_path, None, "--catalog", str(tmp_path / "catalog.json"))
    assert code == 0, stderr[-3000:]
    rows = records(messages)
    assert rows["events"] and not any("event_properties" in r for r in rows["events"])
    assert all("datetime" in r for r in rows["events"])
    assert rows["metrics"]  # the other stream keeps all its columns
    assert all("name" in r for r in rows["metrics"])


def one_line_error(code: int, messages: list[dict], stderr: str) -> str:
    """The run ended as a user's error must: non-zero, nothing written, no traceback, the reason last."""
    assert code != 0
    assert messages == []
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tap-klaviyo: "), last
    return last


def test_the_only_accounts_refused_key_is_one_line(sandbox, tmp_path):
    accounts = json.dumps([{"account": "Broken Brand", "api_key": "pk_sandbox_" + "0" * 32}])
    code, messages, stderr = run_tap(config_for(sandbox, accounts_file="", accounts_json=accounts), tmp_path)
    last = one_line_error(code, messages, stderr)
    assert "no account can be synced" in last and "'Broken Brand'" in last and "authentication_failed" in last
    assert "0" * 32 not in stderr


def test_accounts_json_that_is_not_json_names_the_setting(sandbox, tmp_path):
    code, messages, stderr = run_tap(config_for(sandbox, accounts_file="", accounts_json="not json"), tmp_path)
    last = one_line_error(code, messages, stderr)
    assert "accounts_json" in last and "not valid JSON" in last


@pytest.mark.parametrize(("value", "says"), [(-1, "less than the minimum of 0"), ("seven", "is not of type")])
def test_a_bad_events_lookback_days_names_the_setting(sandbox, tmp_path, value, says):
    code, messages, stderr = run_tap(config_for(sandbox, events_lookback_days=value), tmp_path)
    last = one_line_error(code, messages, stderr)
    assert "events_lookback_days" in last and says in last
