"""No file is left open: a discover and a sync run in Python's development mode with ResourceWarning as an error,
and say nothing about it. (A CsvReader's text layer left to the garbage collector once closed the file itself,
with a ResourceWarning, in every discovery.)"""

from __future__ import annotations

import gzip
import json

from csv_runs import assert_one_line_error, file_config, run_tap

STRICT = ("-X", "dev", "-W", "error::ResourceWarning")


def assert_no_resource_warning(stderr: str) -> None:
    assert "ResourceWarning" not in stderr, stderr[-3000:]
    assert "Exception ignored" not in stderr, stderr[-3000:]  # a warning raised in a finalizer lands here


def test_discover_and_sync_leave_no_file_open(tmp_path):
    (tmp_path / "plain.csv").write_text("id,email\n1,a@example.com\n2,b@example.com\n", encoding="utf-8")
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(b"id,city\n1,Oslo\n"))
    config = {"files": [{"entity": "plain", "path": "plain.csv"}, {"entity": "packed", "path": "*.csv.gz"}]}

    discover = run_tap(config, tmp_path, args=("--discover",), python_options=STRICT)
    sync = run_tap(config, tmp_path, python_options=STRICT)

    assert discover.code == 0, discover.stderr[-3000:]
    assert {stream["tap_stream_id"] for stream in json.loads(discover.stdout)["streams"]} == {"plain", "packed"}
    assert sync.code == 0, sync.stderr[-3000:]
    assert [r["id"] for r in sync.records("plain")] == ["1", "2"]
    assert [r["city"] for r in sync.records("packed")] == ["Oslo"]
    assert_no_resource_warning(discover.stderr)
    assert_no_resource_warning(sync.stderr)


def test_a_file_refused_at_its_header_is_closed_too(tmp_path):
    (tmp_path / "dup.csv").write_text("id,id\n1,2\n", encoding="utf-8")
    run = run_tap(file_config("dup.csv"), tmp_path, args=("--discover",), python_options=STRICT)
    assert_one_line_error(run, "dup.csv: bad header")
    assert_no_resource_warning(run.stderr)
