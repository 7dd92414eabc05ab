"""target-klaviyo as a process against the sandbox: what arrives, re-runs, state, dry run, failing on rejects."""

from __future__ import annotations

import json
import subprocess
import sys

from target_runs import LEGACY_CONFIG, SAMPLE_CSV, counts, csv_messages, record_messages, schema_message


def test_old_package_config_sends_sample_orders(target, klaviyo, target_sandbox):
    """The CSV-to-Klaviyo package's config.py and sample_orders.csv, unchanged: every order arrives as a
    PlacedOrder event with its id, value, time and properties, every buyer as a profile."""
    messages = csv_messages(SAMPLE_CSV, "sample_orders")
    run = target.run(messages, **LEGACY_CONFIG)
    assert run.returncode == 0, run.stderr
    assert run.summary == {
        "sample_orders": {
            "event": counts(5, 5, 5, 0),
            "profile": counts(5, 5, 5, 0),
        }
    }
    assert run.rejects == []

    events = {e["attributes"]["event_properties"]["$event_id"]: e for e in klaviyo.events("PlacedOrder")}
    assert sorted(events) == ["31625", "31842", "31954", "35554", "36648"]
    first = events["31625"]["attributes"]
    assert first["datetime"] == "2011-05-15T19:39:03+00:00"  # no zone in the file: UTC by default
    assert first["event_properties"] == {
        "OrderType": "B2C",
        "CouponCode": "DISCOUNT30",
        "$value": 150.75,
        "$event_id": "31625",
    }
    # An empty cell is left out, not sent as "".
    assert "CouponCode" not in events["35554"]["attributes"]["event_properties"]

    john = klaviyo.profile("john.smith@gmail.com")
    assert john is not None
    attrs = john["attributes"]
    assert (attrs["first_name"], attrs["last_name"]) == ("John", "Smith")
    assert attrs["phone_number"] == "+15558649987"  # 555-864-9987, read as a US number (default_phone_region)
    assert attrs["location"] == {"region": "CA", "zip": "94040"}
    assert events["31625"]["relationships"]["profile"]["data"]["id"] == john["id"]


def test_rerun_creates_no_duplicates(target, klaviyo, tag):
    """A second run sends nothing (the change memory); sent again anyway (full_refresh), the ids computed from
    the rows' content are the same, and Klaviyo drops what it has."""
    rows = [
        {"email": f"buyer{i}@{tag}.example", "sku": f"S{i % 3}", "when": f"2024-02-0{1 + i % 9}T10:00:00"}
        for i in range(40)
    ]
    rows.append(dict(rows[0]))  # an identical row collapses into the same event, as the old package promised
    messages = [schema_message("views", ["email", "sku", "when"]), *record_messages("views", rows)]
    config = {
        "mappings": {
            "views": {
                "event": {
                    "metric": f"Viewed {tag}",
                    "profile": {"email": "email"},
                    "time": "when",
                    "properties": ["sku"],
                }
            }
        }
    }
    first = target.run(messages, **config)
    assert first.returncode == 0, first.stderr
    assert len(klaviyo.events(f"Viewed {tag}")) == 40
    second = target.run(messages, **config)
    assert second.returncode == 0, second.stderr
    assert second.summary["views"]["event"] == counts(41, 0, 0, 0, unchanged=41)
    again = target.run(messages, full_refresh=True, **config)
    assert again.returncode == 0, again.stderr
    assert again.summary["views"]["event"] == counts(41, 41, 41, 0, changed=41)  # Klaviyo took them ...
    assert len(klaviyo.events(f"Viewed {tag}")) == 40  # ... and de-duplicated them


def test_unique_id_is_the_same_on_every_machine_and_process(tag):
    """The content id must not depend on the process (Python's hash() does: the old package's bug)."""
    code = (
        "from target_klaviyo.mapping import content_id;"
        "print(content_id('Placed Order', {'email': 'a@b.co'}, {'time': '2024-01-01T00:00:00+00:00'}, "
        "{'sku': 'X'}))"
    )
    ids = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": str(seed)}
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(ids) == 1
    assert len(ids.pop().strip()) == 40


def test_one_stream_feeds_events_and_profiles(target, klaviyo, tag):
    columns = ["customer", "mail", "phone", "first", "city", "plan", "total", "at", "order"]
    rows = [
        {
            "customer": f"c-{tag}-{i}",
            "mail": f"p{i}@{tag}.example",
            "phone": f"+4420794609{i:02d}",
            "first": "Zoë",
            "city": "Zürich",
            "plan": "gold",
            "total": f"{10 + i}.5",
            "at": str(1_700_000_000 + i),
            "order": f"{tag}-{i}",
        }
        for i in range(12)
    ]
    messages = [schema_message("orders", columns), *record_messages("orders", rows)]
    config = {
        "mappings": {
            "orders": {
                "profile": {
                    "external_id": "customer",
                    "email": "mail",
                    "phone_number": "phone",
                    "first_name": "first",
                    "location": {"city": "city"},
                    "properties": {"Plan": "plan"},
                },
                "event": {
                    "metric": f"Ordered {tag}",
                    "time": "at",
                    "value": "total",
                    "unique_id": "order",
                    "properties": {"Order": "order"},
                },
            }
        }
    }
    run = target.run(messages, **config)
    assert run.returncode == 0, run.stderr
    assert run.summary["orders"]["event"]["accepted"] == 12
    assert run.summary["orders"]["profile"]["accepted"] == 12

    profile = klaviyo.profile(f"p3@{tag}.example")
    assert profile is not None
    attrs = profile["attributes"]
    assert attrs["external_id"] == f"c-{tag}-3"
    assert attrs["phone_number"] == "+442079460903"
    assert attrs["first_name"] == "Zoë"
    assert attrs["location"]["city"] == "Zürich"
    assert attrs["properties"]["Plan"] == "gold"
    events = {e["attributes"]["event_properties"]["Order"]: e for e in klaviyo.events(f"Ordered {tag}")}
    assert len(events) == 12
    event = events[f"{tag}-3"]
    assert event["attributes"]["timestamp"] == 1_700_000_003  # UNIX seconds
    assert event["attributes"]["event_properties"]["$value"] == 13.5
    assert event["attributes"]["event_properties"]["$event_id"] == f"{tag}-3"
    assert event["relationships"]["profile"]["data"]["id"] == profile["id"]


def test_times_without_zone_read_in_the_configured_zone(target, klaviyo, tag):
    messages = [
        schema_message("s", ["email", "t"]),
        *record_messages("s", [{"email": f"tz@{tag}.example", "t": "2024-07-01 09:30:00"}]),
    ]
    config = {
        "default_timezone": "America/New_York",
        "mappings": {"s": {"event": {"metric": f"Zoned {tag}", "profile": {"email": "email"}, "time": "t"}}},
    }
    run = target.run(messages, **config)
    assert run.returncode == 0, run.stderr
    [event] = klaviyo.events(f"Zoned {tag}")
    assert event["attributes"]["datetime"] == "2024-07-01T13:30:00+00:00"  # EDT is UTC-4


def test_state_is_emitted_only_after_its_rows_are_accepted(target_sandbox, target, klaviyo, tag):
    """A STATE after 300 rows: when the target prints it, every profile of those rows is readable in Klaviyo."""
    emails = [f"s{i}@{tag}.example" for i in range(300)]
    messages = [
        schema_message("people", ["email"]),
        *record_messages("people", [{"email": e} for e in emails[:150]]),
        {"type": "STATE", "value": {"bookmarks": {"people": {"row": 150}}}},
        *record_messages("people", [{"email": e} for e in emails[150:]], first_row=151),
        {"type": "STATE", "value": {"bookmarks": {"people": {"row": 300}}}},
    ]
    config = target.config(
        rejects_path=str(target.tmp_path / "r.jsonl"),
        mappings={"people": {"profile": {"email": "email"}}},
        batch_size_rows=100,
    )
    config_path = target.tmp_path / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_klaviyo.target", "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
    proc.stdin.close()
    states = []
    for line in proc.stdout:
        states.append(json.loads(line))
        # Read back at the moment the state appears: the rows it covers must already be in Klaviyo.
        arrived = klaviyo.profiles(emails)
        covered = states[-1]["bookmarks"]["people"]["row"]
        assert set(emails[:covered]) <= set(arrived)
    assert proc.wait(timeout=120) == 0
    assert states[-1] == {"bookmarks": {"people": {"row": 300}}}


def test_dry_run_validates_and_sends_nothing(target_sandbox, tmp_path, tag):
    """No key, no requests: the rows are mapped and checked, the bad one is in the rejects, the summary says so."""
    rows = [{"email": f"d{i}@{tag}.example", "t": "2024-01-01"} for i in range(5)] + [{"email": "", "t": "x"}]
    messages = [schema_message("dry", ["email", "t"]), *record_messages("dry", rows)]
    config = {
        "dry_run": True,
        "rejects_path": str(tmp_path / "rejects.csv"),
        "mappings": {"dry": {"event": {"metric": f"Dry {tag}", "profile": {"email": "email"}, "time": "t"}}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    before = target_sandbox.stats()
    proc = subprocess.run(
        [sys.executable, "-m", "target_klaviyo.target", "--config", str(tmp_path / "config.json")],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert target_sandbox.stats() == before
    assert "dry run" in proc.stderr
    assert '"read":6,"unchanged":0,"created":5,"changed":0,"sent":0,"accepted":0,"rejected":1' in proc.stderr
    lines = (tmp_path / "rejects.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "stream,file,row,kind,key,code,reason"
    assert lines[1] == "dry,,6,event,,missing_identifier,no profile identifier: email empty"


def test_fail_on_reject_fails_the_run_after_sending_the_good_rows(target, klaviyo, tag):
    rows = [{"email": f"f{i}@{tag}.example"} for i in range(3)] + [{"email": "not-an-email"}]
    messages = [schema_message("f", ["email"]), *record_messages("f", rows)]
    run = target.run(messages, fail_on_reject=True, mappings={"f": {"profile": {"email": "email"}}})
    assert run.returncode != 0
    assert "1 rows rejected and fail_on_reject is set" in run.stderr
    assert set(klaviyo.profiles([r["email"] for r in rows[:3]])) == {r["email"] for r in rows[:3]}
    assert run.rejects == [
        {
            "stream": "f",
            "file": None,
            "row": 4,
            "kind": "profile",
            "key": "not-an-email",
            "reason": "email: 'not-an-email' is not an email address",
            "code": "invalid_email",
        }
    ]


def test_config_errors_name_the_setting(target):
    messages = [schema_message("orders", ["EMAIL"]), *record_messages("orders", [{"EMAIL": "a@b.co"}])]
    missing_column = target.run(messages, mappings={"orders": {"profile": {"email": "E_MAIL"}}})
    assert missing_column.returncode != 0
    expected = "mappings.orders.profile: column(s) E_MAIL not in stream 'orders' (its columns: EMAIL"
    assert expected in missing_column.stderr
    no_metric = target.run(messages, mappings={"orders": {"event": {"profile": {"email": "EMAIL"}}}})
    assert no_metric.returncode != 0
    assert "mappings.orders.event: give the metric name as 'metric'" in no_metric.stderr
    unmapped = target.run(messages, mappings={"other": {"profile": {"email": "EMAIL"}}})
    assert unmapped.returncode != 0
    assert "mappings: no mapping for stream 'orders'" in unmapped.stderr
    bad_zone = target.run(
        messages, default_timezone="Mars/Olympus", mappings={"orders": {"profile": {"email": "EMAIL"}}}
    )
    assert bad_zone.returncode != 0
    assert "default_timezone: unknown time zone 'Mars/Olympus'" in bad_zone.stderr


def test_stream_maps_rename_compute_and_filter_columns(target, klaviyo, tag):
    """singer-sdk stream maps on the target's side: a computed column is mapped, filtered rows never count."""
    rows = [{"EMAIL": f"Ann@{tag.upper()}.example", "KIND": "real"}, {"EMAIL": f"qa@{tag}.example", "KIND": "test"}]
    messages = [schema_message("raw", ["EMAIL", "KIND"]), *record_messages("raw", rows)]
    run = target.run(
        messages,
        stream_maps={"raw": {"__alias__": "people", "mail": "EMAIL.lower()", "__filter__": "KIND != 'test'"}},
        mappings={"people": {"profile": {"email": "mail", "properties": {"Kind": "KIND"}}}},
    )
    assert run.returncode == 0, run.stderr
    assert run.summary == {"people": {"profile": counts(1, 1, 1, 0)}}
    profile = klaviyo.profile(f"ann@{tag}.example")
    assert profile is not None
    assert profile["attributes"]["properties"]["Kind"] == "real"
    assert klaviyo.profile(f"qa@{tag}.example") is None


def test_numbers_from_a_warehouse_arrive_as_numbers(target, klaviyo, tag):
    """A JSON number with a fraction reaches a sink as a Decimal (singer-sdk's reader): sent as a JSON number."""
    schema = {
        "type": "SCHEMA",
        "stream": "scores",
        "schema": {
            "type": "object",
            "properties": {"email": {"type": "string"}, "ltv": {"type": "number"}, "orders": {"type": "number"}},
        },
        "key_properties": [],
    }
    record = {"type": "RECORD", "stream": "scores", "record": {"email": f"n@{tag}.example", "ltv": 19.9, "orders": 3.0}}
    mappings = {
        "scores": {
            "event": {
                "metric": f"Scored {tag}",
                "profile": {"email": "email"},
                "value": "ltv",
                "properties": ["orders"],
            },
            "profile": {"email": "email", "properties": {"LTV": "ltv"}},
        }
    }
    run = target.run([schema, record], mappings=mappings)
    assert run.returncode == 0, run.stderr
    assert run.rejects == []
    (event,) = klaviyo.events(f"Scored {tag}")
    assert event["attributes"]["event_properties"]["$value"] == 19.9
    assert event["attributes"]["event_properties"]["orders"] == 3
    assert klaviyo.profile(f"n@{tag}.example")["attributes"]["properties"]["LTV"] == 19.9
