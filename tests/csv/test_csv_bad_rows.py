"""Malformed rows are reported by file, row and line, one row at a time; every good row around them arrives."""

from __future__ import annotations

from csv_runs import assert_one_line_error, data_columns, file_config, run_tap

# Row 2 has a field too many (an unquoted comma), row 4 one too few, row 5 a byte that is not UTF-8.
RAGGED = (
    b"id,email,city\n"
    b"1,a@example.com,Oslo\n"
    b"2,b@example.com,Portland, OR\n"
    b"3,c@example.com,Z\xc3\xbcrich\n"
    b"4,d@example.com\n"
    b"5,e@example.com,Z\xfcrich\n"
    b"6,f@example.com,Lima\n"
)
GOOD_IDS = ["1", "3", "6"]


def bad_rows_run(tmp_path, mode: str | None):
    (tmp_path / "ragged.csv").write_bytes(RAGGED)
    config = file_config("ragged.csv")
    if mode:
        config["bad_rows"] = mode
    return run_tap(config, tmp_path)


def test_bad_rows_are_emitted_with_what_is_wrong_by_default(tmp_path):
    run = bad_rows_run(tmp_path, None)
    assert run.code == 0, run.stderr
    records = {record["_sdc_row_number"]: record for record in run.records("orders")}
    assert sorted(records) == [1, 2, 3, 4, 5, 6]
    assert [records[n]["id"] for n in (1, 3, 6)] == GOOD_IDS
    assert all(records[n]["_sdc_row_error"] is None for n in (1, 3, 6))
    assert records[3]["city"] == "Zürich"
    assert records[2]["_sdc_row_error"] == "4 fields where the header has 3"
    assert data_columns(records[2]) == {"id": "2", "email": "b@example.com", "city": "Portland"}
    assert records[4]["_sdc_row_error"] == "2 fields where the header has 3"
    assert data_columns(records[4]) == {"id": "4", "email": "d@example.com"}
    assert records[5]["_sdc_row_error"] == "bytes that are not utf-8-sig in 'city' (b'\\xfc')"
    assert records[5]["city"] == "Z\ufffdrich"
    # Each bad row is named in the log by file, row and line, and the file's summary lists them.
    assert "ragged.csv row 2 (line 3): 4 fields where the header has 3; emitted with _sdc_row_error" in run.stderr
    assert "ragged.csv row 5 (line 6): bytes that are not utf-8-sig in 'city'" in run.stderr
    assert "ragged.csv: read to the end; 3 bad rows (rows 2, 4, 5)" in run.stderr


def test_bad_rows_can_be_skipped(tmp_path):
    run = bad_rows_run(tmp_path, "skip")
    assert run.code == 0, run.stderr
    assert [(r["id"], r["_sdc_row_number"]) for r in run.records()] == [("1", 1), ("3", 3), ("6", 6)]
    assert "ragged.csv row 4 (line 5): 2 fields where the header has 3; skipped" in run.stderr
    assert run.state["bookmarks"]["orders"]["partitions"][0]["replication_key_value"] == 6


def test_bad_rows_can_fail_the_run_naming_file_row_and_line(tmp_path):
    run = bad_rows_run(tmp_path, "fail")
    message = "ragged.csv row 2 (line 3): 4 fields where the header has 3 (bad_rows=fail)"
    assert_one_line_error(run, message, stdout_empty=False)
    assert [r["id"] for r in run.records()] == ["1"]  # what came before the bad row still arrives


def test_a_quote_never_closed_is_one_bad_row_at_the_end(tmp_path):
    # An unclosed quote swallows every following line into one value (fields have no size limit): the row is
    # reported as it ends with the file, never emitted as if it were good. What came before it arrives.
    body = 'id,note\n1,fine\n2,"unclosed\n' + "filler line\n" * 20_000 + "3,after\n"
    (tmp_path / "quote.csv").write_text(body, encoding="utf-8")
    run = run_tap(file_config("quote.csv"), tmp_path)
    assert run.code == 0, run.stderr
    records = run.records()
    assert [(r["id"], r["_sdc_row_error"]) for r in records[:1]] == [("1", None)]
    assert len(records) == 2
    assert records[1]["_sdc_row_number"] == 2
    assert records[1]["_sdc_row_error"] == (
        "cannot parse: a quoted value runs to the end of the file (its closing quote is missing)"
    )
    assert data_columns(records[1]) == {}
    assert "quote.csv row 2 (line 3): cannot parse: a quoted value runs to the end of the file" in run.stderr


def test_a_quote_closed_on_the_last_line_is_a_good_row(tmp_path):
    # no newline at the end of the file: the row ends with the file, and is whole
    (tmp_path / "last.csv").write_text('id,note\n1,"two\nlines"', encoding="utf-8")
    run = run_tap(file_config("last.csv"), tmp_path)
    assert run.code == 0, run.stderr
    records = run.records()
    assert [(data_columns(r), r["_sdc_row_error"]) for r in records] == [({"id": "1", "note": "two\nlines"}, None)]


def test_a_header_whose_quote_is_never_closed_names_the_file(tmp_path):
    (tmp_path / "header.csv").write_text('id,"note\n1,x\n', encoding="utf-8")
    run = run_tap(file_config("header.csv"), tmp_path)
    assert_one_line_error(run, "header.csv: cannot read the header: a quote in it is never closed")


def test_a_header_with_undecodable_bytes_names_the_encoding_setting(tmp_path):
    (tmp_path / "latin.csv").write_bytes("id,städt\n1,x\n".encode("latin-1"))
    run = run_tap(file_config("latin.csv"), tmp_path)
    assert_one_line_error(
        run, "latin.csv: header has bytes that are not utf-8-sig in field 2 (b'\\xe4'); set this file's `encoding`"
    )
