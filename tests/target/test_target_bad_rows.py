"""Bad rows are rejected with their reason, the good ones arrive, and nothing crashes."""

from __future__ import annotations

import json

from target_runs import counts, record_messages, schema_message

COLUMNS = ["email", "phone", "when", "amount", "name", "note"]


def mapping(tag: str) -> dict:
    return {
        "mappings": {
            "bad": {
                "event": {"metric": f"Bought {tag}", "time": "when", "value": "amount", "properties": {"Note": "note"}},
                "profile": {"email": "email", "phone_number": "phone", "first_name": "name"},
            }
        }
    }


def test_bad_rows_rejected_with_reasons_good_rows_arrive(target, klaviyo, tag):
    good = {
        "email": f"søren@{tag}.example",
        "phone": "",
        "when": "2024-03-01T12:00:00+01:00",
        "amount": "19.90",
        "name": "Søren Ødegård",
        "note": 'a, b, "quoted", and\na new line',
    }
    rows = [
        good,  # row 1
        {"email": "", "phone": " ", "when": "2024-03-01", "amount": "1", "name": "x"},  # 2: no identifier
        {"email": f"date@{tag}.example", "when": "31/12/2023", "amount": "1"},  # 3: not ISO, not UNIX
        {"email": f"old@{tag}.example", "when": "1999-12-31T23:59:59Z"},  # 4: before 2000
        {"email": f"ms@{tag}.example", "when": "1700000000000"},  # 5: milliseconds, not seconds
        {"email": f"comma@{tag}.example", "when": "2024-03-01", "amount": "12,50"},  # 6: not a number
        {"email": "bob@@example", "when": "2024-03-01"},  # 7: bad email
        {"email": f"tel@{tag}.example", "phone": "12", "when": "2024-03-01"},  # 8: bad phone
        {"email": f"big@{tag}.example", "when": "2024-03-01", "note": "x" * 200_000},  # 9: oversized value
        {"email": 12345, "when": ["2024"], "amount": True},  # 10: wrong types
        {"email": f"national@{tag}.example", "phone": "(415) 555-2671", "when": "1709294400"},  # 11: good
    ]
    messages = [schema_message("bad", COLUMNS), *record_messages("bad", rows)]
    run = target.run(messages, **mapping(tag))
    assert run.returncode == 0, run.stderr

    reasons = {(r["row"], r["kind"]): (r["code"], r["reason"]) for r in run.rejects}
    assert reasons == {
        (2, "event"): ("missing_identifier", "no profile identifier: email, phone empty"),
        (2, "profile"): ("missing_identifier", "no profile identifier: email, phone empty"),
        (3, "event"): (
            "invalid_time",
            "when: time '31/12/2023' is neither ISO 8601 (e.g. 2024-01-31T12:00:00Z) nor UNIX seconds",
        ),
        (4, "event"): (
            "time_out_of_range",
            "when: time '1999-12-31T23:59:59Z' (1999-12-31T23:59:59+00:00) is "
            "outside what Klaviyo accepts (from 2000-01-01 to one year ahead)",
        ),
        (5, "event"): (
            "time_out_of_range",
            "when: time '1700000000000' as UNIX seconds is outside what Klaviyo "
            "accepts (from 2000-01-01 to one year ahead)",
        ),
        (6, "event"): (
            "invalid_number",
            "amount: '12,50' is not a number (write 1234.5, without currency signs or thousands separators)",
        ),
        (7, "event"): ("invalid_email", "email: 'bob@@example' is not an email address"),
        (7, "profile"): ("invalid_email", "email: 'bob@@example' is not an email address"),
        (8, "event"): ("invalid_phone_number", "phone: '12' is not a phone number in E.164 form such as +15555550123"),
        (8, "profile"): (
            "invalid_phone_number",
            "phone: '12' is not a phone number in E.164 form such as +15555550123",
        ),
        (9, "event"): ("value_too_large", "note: value is 200,000 bytes; Klaviyo accepts at most 100 KB per string"),
        (10, "event"): ("invalid_email", "email: 12345 is not an email address"),
        (10, "profile"): ("invalid_email", "email: 12345 is not an email address"),
    }
    identifiers = {r["row"]: r["key"] for r in run.rejects}
    assert identifiers[3] == f"date@{tag}.example"
    assert identifiers[2] is None

    assert run.summary == {
        "bad": {
            "event": counts(11, 2, 2, 9),
            "profile": counts(11, 7, 7, 4),
        }
    }

    events = sorted(klaviyo.events(f"Bought {tag}"), key=lambda e: e["attributes"]["timestamp"])
    assert [e["attributes"]["datetime"] for e in events] == ["2024-03-01T11:00:00+00:00", "2024-03-01T12:00:00+00:00"]
    assert events[0]["attributes"]["event_properties"]["Note"] == good["note"]
    assert events[0]["attributes"]["event_properties"]["$value"] == 19.9
    # A row whose event was refused still updates its profile: the good part of a row is not lost.
    arrived = klaviyo.profiles(
        [f"{n}@{tag}.example" for n in ("søren", "date", "old", "ms", "comma", "big", "national", "tel")]
    )
    assert set(arrived) == {f"{n}@{tag}.example" for n in ("søren", "date", "old", "ms", "comma", "big", "national")}
    assert arrived[f"søren@{tag}.example"]["attributes"]["first_name"] == "Søren Ødegård"
    assert arrived[f"national@{tag}.example"]["attributes"]["phone_number"] == "+14155552671"


def test_header_with_byte_order_mark(target, klaviyo, tag):
    """A CSV saved by Excel starts with a BOM; a mapping naming the plain header still finds the column."""
    messages = [
        schema_message("bom", ["\ufeffEMAIL", "NAME"]),
        *record_messages("bom", [{"\ufeffEMAIL": f"bom@{tag}.example", "NAME": "Ann"}]),
    ]
    run = target.run(messages, mappings={"bom": {"profile": {"email": "EMAIL", "first_name": "NAME"}}})
    assert run.returncode == 0, run.stderr
    profile = klaviyo.profile(f"bom@{tag}.example")
    assert profile is not None
    assert profile["attributes"]["first_name"] == "Ann"


def test_empty_input_and_header_only(target, tag):
    config = {"mappings": {"*": {"profile": {"email": "email"}}}}
    empty = target.run("", **config)
    assert empty.returncode == 0, empty.stderr
    assert empty.summary == {}
    assert empty.rejects_path.exists()  # created and empty: nothing was rejected
    assert empty.rejects == []

    header_only = target.run([schema_message("h", ["email"]), {"type": "STATE", "value": {"h": 1}}], **config)
    assert header_only.returncode == 0, header_only.stderr
    assert header_only.summary == {}
    assert header_only.states == [{"h": 1}]


def test_rejects_as_csv(target, tag):
    rows = [{"email": "x@"}, {"email": f"ok@{tag}.example"}]
    messages = [schema_message("c", ["email"]), *record_messages("c", rows)]
    run = target.run(
        messages, mappings={"c": {"profile": {"email": "email"}}}, rejects_path=str(target.tmp_path / "rejects.csv")
    )
    assert run.returncode == 0, run.stderr
    assert (target.tmp_path / "rejects.csv").read_text(encoding="utf-8").splitlines() == [
        "stream,file,row,kind,key,code,reason",
        "c,,1,profile,x@,invalid_email,email: 'x@' is not an email address",
    ]
    assert json.loads(run.stderr.split("summary json: ", 1)[1].splitlines()[0]) == {
        "c": {"profile": counts(2, 1, 1, 1)}
    }


def test_rows_the_tap_could_not_read_are_rejected_by_file_and_row(target, klaviyo, tag):
    """tap-csv emits a ragged or undecodable row with `_sdc_row_error`; it is rejected with that reason."""
    schema = schema_message("multi", ["email", "_sdc_source_file", "_sdc_row_error"])
    rows = [
        {"email": f"a@{tag}.example", "_sdc_source_file": "in/a.csv", "_sdc_row_error": None},
        {
            "email": f"b@{tag}.example",
            "_sdc_source_file": "in/a.csv",
            "_sdc_row_error": "3 fields where the header has 1",
        },
        {"email": f"c@{tag}.example", "_sdc_source_file": "in/b.csv", "_sdc_row_error": None},
    ]
    run = target.run([schema, *record_messages("multi", rows)], mappings={"multi": {"profile": {"email": "email"}}})
    assert run.returncode == 0, run.stderr
    assert run.rejects == [
        {
            "stream": "multi",
            "file": "in/a.csv",
            "row": 2,
            "kind": "profile",
            "key": f"b@{tag}.example",
            "code": "bad_csv_row",
            "reason": "the tap could not read this row: 3 fields where the header has 1",
        }
    ]
    assert set(klaviyo.profiles([r["email"] for r in rows])) == {f"a@{tag}.example", f"c@{tag}.example"}
