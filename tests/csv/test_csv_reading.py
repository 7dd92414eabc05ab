"""tap-csv reads what spreadsheets and exports write: BOM, quoting, newlines in values, non-ASCII, other delimiters
and encodings, several files and globs; every record checked against what was written."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from csv_runs import assert_one_line_error, data_columns, file_config, run_tap

REPO = Path(__file__).resolve().parents[2]


def write_csv(
    path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode(encoding))
    return path


def test_the_sample_orders_file_as_written(tmp_path):
    sample = REPO / "data" / "sample_orders.csv"
    with open(sample, newline="", encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    run = run_tap(file_config(str(sample), keys=["ORDER_ID"]), tmp_path)
    assert run.code == 0, run.stderr
    records = run.records("orders")
    assert [data_columns(record) for record in records] == [
        {name: value or None for name, value in row.items()} for row in expected
    ]
    assert [record["_sdc_row_number"] for record in records] == list(range(1, len(expected) + 1))
    assert {record["_sdc_source_file"] for record in records} == {str(sample)}
    assert all(record["_sdc_row_error"] is None for record in records)
    schema = run.schema("orders")
    assert schema["key_properties"] == ["ORDER_ID"]
    assert list(schema["schema"]["properties"])[:3] == ["ORDER_ID", "COUPON_CODE", "BILL_FIRST_NAME"]
    assert schema["schema"]["properties"]["EMAIL"] == {"type": ["string", "null"]}


def test_bom_quoted_commas_newlines_in_quotes_and_non_ascii(tmp_path):
    rows = [
        ["Email", "First Name", "note", " padded "],
        ["zoë@example.com", "Zoë", 'likes "quotes", and commas', "  kept  "],
        ["li@example.com", "李", "line one\nline two\r\nline three", ""],
        ["ann@example.com", "Ann", "", "x"],
    ]
    path = write_csv(tmp_path / "people.csv", rows, bom=True)
    run = run_tap(file_config(str(path), entity="people"), tmp_path)
    assert run.code == 0, run.stderr
    records = run.records("people")
    # The BOM is gone from the first header, headers keep their case and spaces, values are as written.
    assert [data_columns(record) for record in records] == [
        {"Email": "zoë@example.com", "First Name": "Zoë", "note": 'likes "quotes", and commas', " padded ": "  kept  "},
        {"Email": "li@example.com", "First Name": "李", "note": "line one\nline two\r\nline three", " padded ": None},
        {"Email": "ann@example.com", "First Name": "Ann", "note": None, " padded ": "x"},
    ]
    # Row numbers count records, not lines: the second record spans three lines.
    assert [record["_sdc_row_number"] for record in records] == [1, 2, 3]
    assert run.schema("people")["key_properties"] == ["_sdc_source_file", "_sdc_row_number"]


def test_empty_file_and_header_only_file_give_no_rows_and_no_error(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    write_csv(tmp_path / "header_only.csv", [["id", "email"]])
    config = {"files": [{"entity": "empty", "path": "empty.csv"}, {"entity": "header_only", "path": "header_only.csv"}]}
    run = run_tap(config, tmp_path)
    assert run.code == 0, run.stderr
    assert run.records() == []
    assert set(run.schema("header_only")["schema"]["properties"]) >= {"id", "email", "_sdc_row_number"}
    assert "empty.csv is empty" in run.stderr
    for name in ("empty.csv", "header_only.csv"):
        assert f"{name}: read to the end; 0 bad rows" in run.stderr


def test_blank_rows_are_skipped_but_keep_their_row_numbers(tmp_path):
    (tmp_path / "gaps.csv").write_text("id,email\n1,a@example.com\n\n,\n2,b@example.com\n", encoding="utf-8")
    run = run_tap(file_config("gaps.csv"), tmp_path)
    assert run.code == 0, run.stderr
    assert [(r["id"], r["_sdc_row_number"]) for r in run.records()] == [("1", 1), ("2", 4)]
    assert "2 blank rows skipped" in run.stderr


def test_delimiter_quotechar_and_encoding_settings(tmp_path):
    write_csv(tmp_path / "semi.csv", [["name", "city"], ["Zoë", "Zürich; Altstadt"]], delimiter=";", encoding="latin-1")
    (tmp_path / "tabs.tsv").write_text("name\tcity\n'Ann\tB'\tOslo\n", encoding="utf-8")
    config = {
        "files": [
            {"entity": "semi", "path": "semi.csv", "delimiter": ";", "encoding": "latin-1"},
            {"entity": "tabs", "path": "tabs.tsv", "delimiter": "\\t", "quotechar": "'"},
        ]
    }
    run = run_tap(config, tmp_path)
    assert run.code == 0, run.stderr
    assert [data_columns(r) for r in run.records("semi")] == [{"name": "Zoë", "city": "Zürich; Altstadt"}]
    assert [data_columns(r) for r in run.records("tabs")] == [{"name": "Ann\tB", "city": "Oslo"}]


def test_several_files_globs_and_entries_of_one_entity_make_one_stream(tmp_path):
    write_csv(tmp_path / "in" / "2024" / "a.csv", [["id", "email"], ["1", "a@example.com"]])
    write_csv(tmp_path / "in" / "2025" / "b.csv", [["id", "email", "phone"], ["2", "b@example.com", "+15555550100"]])
    write_csv(tmp_path / "in" / "c.csv", [["email", "id"], ["c@example.com", "3"]])
    write_csv(tmp_path / "in" / "skip.txt", [["not", "csv"]])
    write_csv(tmp_path / "extra" / "d.csv", [["id"], ["4"], ["5"]])
    config = {
        "files": [
            {"entity": "contacts", "path": "in/**/*.csv", "keys": ["id"]},
            {"entity": "contacts", "path": "extra/d.csv"},
            {"entity": "contacts", "path": "in/c.csv"},  # matched by the glob already: read once
            {"entity": "nothing", "path": "missing/*.csv"},
        ]
    }
    run = run_tap(config, tmp_path)
    assert run.code == 0, run.stderr
    records = run.records("contacts")
    assert [(r["_sdc_source_file"], r["id"], r["_sdc_row_number"]) for r in records] == [
        ("in/2024/a.csv", "1", 1),
        ("in/2025/b.csv", "2", 1),
        ("in/c.csv", "3", 1),
        ("extra/d.csv", "4", 1),
        ("extra/d.csv", "5", 2),
    ]
    assert records[1]["phone"] == "+15555550100"
    assert "phone" not in records[0]  # a file without the column: no value, not an empty string
    schema = run.schema("contacts")
    assert list(schema["schema"]["properties"])[:3] == ["id", "email", "phone"]
    assert schema["key_properties"] == ["id"]
    assert run.records("nothing") == []
    assert "missing/*.csv (entity 'nothing') matches no file" in run.stderr


def test_gzipped_files_are_read_as_they_stream(tmp_path):
    (tmp_path / "orders.csv.gz").write_bytes(gzip.compress(b"id,email\n1,a@example.com\n"))
    run = run_tap(file_config("orders.csv.gz"), tmp_path)
    assert run.code == 0, run.stderr
    assert [data_columns(r) for r in run.records()] == [{"id": "1", "email": "a@example.com"}]


def test_files_from_a_csv_files_definition_file(tmp_path):
    write_csv(tmp_path / "a.csv", [["id"], ["1"]])
    (tmp_path / "definition.json").write_text(json.dumps([{"entity": "ids", "path": "a.csv", "keys": ["id"]}]))
    run = run_tap({"csv_files_definition": "definition.json"}, tmp_path)
    assert run.code == 0, run.stderr
    assert [r["id"] for r in run.records("ids")] == ["1"]


def test_file_and_setting_errors_name_the_file_or_setting(tmp_path):
    write_csv(tmp_path / "dup.csv", [["id", "email", "id"], ["1", "a", "2"]])
    write_csv(tmp_path / "blank_header.csv", [["id", ""], ["1", "x"]])
    write_csv(tmp_path / "ok.csv", [["id", "email"], ["1", "a"]])
    write_csv(tmp_path / "clash.csv", [["id", "_sdc_row_number"], ["1", "2"]])
    (tmp_path / "folder").mkdir()
    cases = [
        (file_config("dup.csv"), "dup.csv: bad header (column 'id' appears 2 times)"),
        (file_config("blank_header.csv"), "blank_header.csv: bad header (column 2 has no name)"),
        (file_config("clash.csv"), "clash.csv: columns ['_sdc_row_number'] clash with the tap's own columns"),
        (file_config("nowhere.csv"), "nowhere.csv: no such file"),
        (file_config("folder"), "folder: not a file (a folder? give a glob such as folder/*.csv)"),
        (file_config("ok.csv", keys=["order_id"]), "ok.csv: no column ['order_id'] for entity 'orders'"),
        (file_config("ok.csv", delimiter=";;"), "files[0].delimiter must be one character"),
        (file_config("ok.csv", encoding="utf-99"), "files[0].encoding 'utf-99' is not an encoding"),
        (
            {
                "files": [
                    {"entity": "a", "path": "ok.csv", "keys": ["id"]},
                    {"entity": "a", "path": "ok.csv", "keys": ["email"]},
                ]
            },
            "Entity 'a' is given keys ['id'] and ['email']",
        ),
        ({"csv_files_definition": "nope.json"}, "csv_files_definition 'nope.json'"),
        ({}, "No CSV files configured: set `files`"),
    ]
    for config, message in cases:
        for args in ((), ("--discover",)):
            assert_one_line_error(run_tap(config, tmp_path, args=args), message)


def discovered_catalog(tmp_path, config: dict) -> dict:
    run = run_tap(config, tmp_path, args=("--discover",))
    assert run.code == 0, run.stderr
    return json.loads(run.stdout)


def test_deselected_columns_are_left_out_and_a_stale_catalog_is_refused(tmp_path):
    write_csv(tmp_path / "people.csv", [["id", "email", "phone"], ["1", "a@example.com", "+15555550100"]])
    config = file_config("people.csv", entity="people")
    catalog = discovered_catalog(tmp_path, config)
    for metadata in catalog["streams"][0]["metadata"]:
        if metadata["breadcrumb"] == ["properties", "phone"]:
            metadata["metadata"]["selected"] = False
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    run = run_tap(config, tmp_path, args=("--catalog", "catalog.json"))
    assert run.code == 0, run.stderr
    assert [data_columns(r) for r in run.records("people")] == [{"id": "1", "email": "a@example.com"}]
    assert "phone" not in run.schema("people")["schema"]["properties"]

    # The file gains a column the catalog does not know: refused by name rather than silently dropped.
    write_csv(tmp_path / "people.csv", [["id", "email", "phone", "city"], ["1", "a@example.com", "", "Oslo"]])
    stale = run_tap(config, tmp_path, args=("--catalog", "catalog.json"))
    # its SCHEMA went out before the file was opened; no record did
    assert_one_line_error(stale, "people.csv: columns ['city'] are not in stream 'people''s schema", stdout_empty=False)
    assert stale.records() == []


def test_a_password_in_a_path_is_refused_without_being_printed(tmp_path):
    run = run_tap(file_config("sftp://bob:hunter2-not-for-logs@127.0.0.1/orders.csv"), tmp_path)
    assert_one_line_error(run, "files[0].path has a password in it: give it in `storage_options`")
    assert "hunter2-not-for-logs" not in run.stdout + run.stderr
