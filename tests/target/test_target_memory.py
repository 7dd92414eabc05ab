"""Sending only what changed, with target-klaviyo as a process against the sandbox: what a second run sends (the
sandbox's request log), what it counts, the preview, the memory on S3, per account.

Each test writes rows of its own (its tag in every e-mail address and metric name) and finds its requests in the
log by that tag: the target's sandbox is shared with the other tests.
"""

from __future__ import annotations

import json
import time

import boto3
from target_runs import counts, record_messages, schema_message

COLUMNS = ["email", "first", "plan", "order", "total"]


def people(tag: str, n: int = 20, **changes: dict[str, str]) -> list[dict[str, str]]:
    rows = [
        {"email": f"m{i}@{tag}.example", "first": f"F{i}", "plan": "basic", "order": f"{tag}-{i}", "total": f"{i}.5"}
        for i in range(n)
    ]
    for index, change in changes.items():
        rows[int(index.removeprefix("row"))].update(change)
    return rows


def mapping(tag: str) -> dict:
    return {
        "mappings": {
            "people": {
                "profile": {"email": "email", "first_name": "first", "properties": {"Plan": "plan"}},
                "event": {"metric": f"Bought {tag}", "unique_id": "order", "value": "total"},
            }
        }
    }


def messages(rows: list[dict[str, str]]) -> list[dict]:
    return [schema_message("people", COLUMNS), *record_messages("people", rows)]


def sent(sandbox, tag: str, since: float) -> dict[str, list[str]]:
    """The e-mail addresses of the profiles and events the requests since `since` carried, by route."""
    out: dict[str, list[str]] = {"profiles": [], "events": []}
    for entry in sandbox.requests("/api/", method="POST"):
        text = json.dumps(entry.get("body"))
        if entry["t"] < since or tag not in text:
            continue
        assert "body" in entry, "a request too large for the log: keep the test's rows few"
        attributes = entry["body"]["data"]["attributes"]
        if entry["path"].startswith("/api/profile-bulk-import-jobs"):
            out["profiles"] += [p["attributes"]["email"] for p in attributes["profiles"]["data"]]
        elif entry["path"].startswith("/api/event-bulk-create-jobs"):
            entries = attributes["events-bulk-create"]["data"]
            out["events"] += [e["attributes"]["profile"]["data"]["attributes"]["email"] for e in entries]
    return {route: sorted(emails) for route, emails in out.items()}


def test_a_second_run_sends_only_the_rows_that_changed(target, target_sandbox, klaviyo, tag):
    first = target.run(messages(people(tag)), **mapping(tag))
    assert first.returncode == 0, first.stderr
    assert first.summary["people"] == {"event": counts(20, 20, 20, 0), "profile": counts(20, 20, 20, 0)}

    since = time.time()
    # Row 3's plan changes (its profile); row 7's total changes (its event, same unique_id; its profile not).
    second = target.run(messages(people(tag, row3={"plan": "gold"}, row7={"total": "99"})), **mapping(tag))
    assert second.returncode == 0, second.stderr
    assert second.summary["people"] == {
        "event": counts(20, 1, 1, 0, unchanged=19, changed=1),
        "profile": counts(20, 1, 1, 0, unchanged=19, changed=1),
    }
    assert sent(target_sandbox, tag, since) == {"profiles": [f"m3@{tag}.example"], "events": [f"m7@{tag}.example"]}
    assert klaviyo.profile(f"m3@{tag}.example")["attributes"]["properties"]["Plan"] == "gold"

    since = time.time()
    third = target.run(messages(people(tag, row3={"plan": "gold"}, row7={"total": "99"})), **mapping(tag))
    assert third.returncode == 0, third.stderr
    assert third.summary["people"]["profile"] == counts(20, 0, 0, 0, unchanged=20)
    assert sent(target_sandbox, tag, since) == {"profiles": [], "events": []}


def test_a_rejected_row_is_sent_again_and_a_new_row_is_created(target, target_sandbox, tag):
    rows = people(tag, 5, row2={"email": "not-an-email"})
    first = target.run(messages(rows), **mapping(tag))
    assert first.summary["people"]["profile"] == counts(5, 4, 4, 1)
    again = target.run(messages(rows), **mapping(tag))
    assert again.summary["people"]["profile"] == counts(5, 0, 0, 1, unchanged=4)  # rejected again, not "unchanged"
    since = time.time()
    fixed = people(tag, 6)  # row 2 fixed, row 5 new
    third = target.run(messages(fixed), **mapping(tag))
    assert third.summary["people"]["profile"] == counts(6, 2, 2, 0, unchanged=4)
    assert sent(target_sandbox, tag, since)["profiles"] == [f"m2@{tag}.example", f"m5@{tag}.example"]


def test_a_changed_mapping_sends_every_row_again(target, tag):
    assert target.run(messages(people(tag, 5)), **mapping(tag)).returncode == 0
    remapped = mapping(tag)
    remapped["mappings"]["people"]["profile"]["last_name"] = "first"
    run = target.run(messages(people(tag, 5)), **remapped)
    assert run.summary["people"]["profile"] == counts(5, 5, 5, 0, changed=5)
    assert run.summary["people"]["event"] == counts(5, 0, 0, 0, unchanged=5)


def test_the_preview_counts_what_a_run_would_change_and_changes_nothing(target, target_sandbox, tag):
    assert target.run(messages(people(tag, 10)), **mapping(tag)).returncode == 0
    memory = sorted((target.tmp_path / "memory").rglob("*.tkm"))
    before = {path: path.read_bytes() for path in memory}
    rows = people(tag, 12, row1={"plan": "gold"}, row4={"email": "broken"})
    since = time.time()
    preview = target.run(messages(rows), dry_run=True, **mapping(tag))
    assert preview.returncode == 0, preview.stderr
    # Row 1: its profile changed. Row 4: a new key (its email), refused. Rows 10, 11: new.
    assert preview.summary["people"]["profile"] == counts(12, 0, 0, 1, unchanged=8, created=2, changed=1)
    assert preview.summary["people"]["event"]["unchanged"] == 9  # row 4's event has another profile now
    assert [r["code"] for r in preview.rejects] == ["invalid_email", "invalid_email"]
    assert "(dry run: what a run would send; nothing sent, no change memory written)" in preview.stderr
    asked = [(e["method"], e["path"]) for e in target_sandbox.requests("/api/") if e["t"] >= since]
    assert set(asked) <= {("GET", "/api/accounts")}  # what a real run reads first; nothing written
    assert {path: path.read_bytes() for path in memory} == before


def test_each_account_has_a_memory_of_its_own(target, target_sandbox, own_account, tag):
    assert target.run(messages(people(tag, 4)), **mapping(tag)).returncode == 0
    other = target.run(messages(people(tag, 4)), api_key=target_sandbox.key(own_account), **mapping(tag))
    assert other.summary["people"]["profile"] == counts(4, 4, 4, 0)
    accounts = {path.relative_to(target.tmp_path / "memory").parts[0] for path in target.tmp_path.rglob("*.tkm")}
    assert accounts == {target_sandbox.accounts[0]["id"], target_sandbox.accounts[own_account]["id"]}
    for path in (target.tmp_path / "memory").rglob("*.tkm"):
        assert target_sandbox.key(0).encode() not in path.read_bytes()
        assert target_sandbox.key(own_account).encode() not in path.read_bytes()


def test_the_memory_and_the_rejects_on_s3(target, moto_s3, aws_env, tag):
    moto_s3.put("memory-bucket", "keep", b"")
    config = {
        **mapping(tag),
        "change_memory": "s3://memory-bucket/team/target-klaviyo",
        "rejects_path": "s3://memory-bucket/rejects/{timestamp}.jsonl",
        "s3_endpoint_url": moto_s3.endpoint_url,
    }
    rows = people(tag, 6, row5={"email": "no"})
    first = target.run(messages(rows), **config)
    assert first.returncode == 0, first.stderr
    again = target.run(messages(rows), **config)
    assert again.summary["people"]["profile"] == counts(6, 0, 0, 1, unchanged=5)
    s3 = boto3.client("s3", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="memory-bucket")["Contents"]]
    account = target.sandbox.accounts[0]["id"]
    memories = sorted(k for k in keys if k.endswith(".tkm"))
    assert [k.rsplit("/", 1)[1] for k in memories] == ["event.tkm", "profile.tkm"]
    assert all(k.startswith(f"team/target-klaviyo/{account}/people-") for k in memories)
    rejects = sorted(k for k in keys if k.startswith("rejects/"))
    assert len(rejects) in (1, 2)  # one file per run (two, unless both runs began in the same second)
    lines = s3.get_object(Bucket="memory-bucket", Key=rejects[-1])["Body"].read().decode().splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["invalid_email", "invalid_email"]
    assert not list(target.tmp_path.rglob("*.tkm"))


def test_a_memory_that_cannot_be_written_is_one_line(target, tag, tmp_path):
    (tmp_path / "occupied").write_text("a file, not a folder")
    run = target.run(messages(people(tag, 2)), change_memory=str(tmp_path / "occupied"), **mapping(tag))
    assert run.returncode != 0
    assert run.stderr.rstrip().splitlines()[-1].startswith(f"target-klaviyo: {tmp_path / 'occupied'}/")
    assert "Traceback" not in run.stderr


def test_changed_rows_spread_over_many_batches_share_one_request(target, target_sandbox, tag):
    """Five changed rows among 1,000 read in batches of 100: one import job and one event request, not five."""
    rows = people(tag, 1000)
    config = {**mapping(tag), "batch_size_rows": 100}
    assert target.run(messages(rows), **config).returncode == 0
    for i in (5, 250, 499, 730, 998):
        rows[i]["total"] = "1000.5"  # the event changes (same unique_id) ...
        rows[i]["plan"] = "gold"  # ... and the profile
    since = time.time()
    run = target.run(messages(rows), **config)
    assert run.summary["people"]["profile"] == counts(1000, 5, 5, 0, unchanged=995, changed=5)
    posted = [
        e["path"]
        for e in target_sandbox.requests("/api/", method="POST")
        if e["t"] >= since and tag in json.dumps(e.get("body"))
    ]
    assert sorted(posted) == ["/api/event-bulk-create-jobs", "/api/profile-bulk-import-jobs"]
    assert len(sent(target_sandbox, tag, since)["profiles"]) == 5


def test_rows_singer_sdk_changes_on_their_way_are_decided_the_same(target, target_sandbox, tag):
    """A stream map (here a rename) takes a stream's rows through singer-sdk's own path, not the early skip of
    unchanged rows (sdk_seams.UnchangedLinesFirst): what is sent and counted is the same."""
    renamed = {
        "stream_maps": {"people": {"__alias__": "buyers"}},
        "mappings": {"buyers": mapping(tag)["mappings"]["people"]},
    }
    assert target.run(messages(people(tag, 10)), **renamed).returncode == 0
    since = time.time()
    run = target.run(messages(people(tag, 10, row4={"plan": "gold"})), **renamed)
    assert run.summary["buyers"] == {
        "event": counts(10, 0, 0, 0, unchanged=10),
        "profile": counts(10, 1, 1, 0, unchanged=9, changed=1),
    }
    assert sent(target_sandbox, tag, since) == {"profiles": [f"m4@{tag}.example"], "events": []}
