"""Values of any length arrive whole: the csv module's 128 KiB field limit is lifted, and only the target judges a
value's size (Klaviyo caps a string at 100 KB; target-klaviyo rejects that event, the profile still loads)."""

from __future__ import annotations

import csv
import io

import pytest
from csv_runs import data_columns, file_config, run_tap

from tap_csv import reader
from tap_csv.definitions import CsvFormat


def test_a_150_kb_and_a_5_mb_value_are_emitted_whole(tmp_path):
    # quoted with delimiters, quotes and newlines inside; one unquoted; the rows around them untouched
    long_quoted = ('note, "quoted", ' + "é" * 40 + "\n") * 2_500  # ~150 KB of UTF-8
    long_plain = "x" * 150_000
    huge = "5MB-" + "abcdefghij" * 500_000
    rows = [
        ["id", "note", "other"],
        ["1", "short", "a"],
        ["2", long_quoted, long_plain],
        ["3", huge, "c"],
        ["4", "after", "d"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (tmp_path / "long.csv").write_text(buffer.getvalue(), encoding="utf-8")
    assert len(long_quoted.encode()) > 150_000 and len(huge) > 5_000_000

    run = run_tap(file_config("long.csv"), tmp_path)

    assert run.code == 0, run.stderr[-3000:]
    records = run.records()
    assert [data_columns(record) for record in records] == [
        {"id": "1", "note": "short", "other": "a"},
        {"id": "2", "note": long_quoted, "other": long_plain},
        {"id": "3", "note": huge, "other": "c"},
        {"id": "4", "note": "after", "other": "d"},
    ]
    assert [record["_sdc_row_error"] for record in records] == [None] * 4
    assert [record["_sdc_row_number"] for record in records] == [1, 2, 3, 4]


def test_the_limit_is_lifted_process_wide_on_import():
    assert csv.field_size_limit() == reader.FIELD_SIZE_LIMIT
    assert reader.FIELD_SIZE_LIMIT >= 2**31 - 1


def test_where_a_c_long_is_32_bits_the_limit_is_the_largest_that_fits(monkeypatch):
    c_long_max = 2**31 - 1
    accepted = []

    def field_size_limit(limit: int) -> int:
        if limit > c_long_max:
            raise OverflowError("Python int too large to convert to C long")
        accepted.append(limit)
        return 131072

    monkeypatch.setattr(reader.csv, "field_size_limit", field_size_limit)
    assert reader._lift_field_size_limit() == c_long_max
    assert accepted == [c_long_max]


@pytest.mark.parametrize("size", [150_000, 2_000_000])
def test_a_long_value_is_read_in_process(size):
    value = "v" * size
    body = f'id,note\n1,"{value}"\n2,{value}\n'.encode()
    with reader.CsvReader(io.BytesIO(body), CsvFormat(",", '"', "utf-8-sig"), "mem.csv") as rows:
        assert [(row.values, row.error) for row in rows.rows()] == [
            ({"id": "1", "note": value}, None),
            ({"id": "2", "note": value}, None),
        ]
