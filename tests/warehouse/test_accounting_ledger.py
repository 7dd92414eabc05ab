"""The emulator's accounting in process: kinds from a fixed vocabulary, nested measures counted once, totals, and
the line a benchmark parses. (The launcher's runs: test_accounting.py.)"""

from __future__ import annotations

import json
import threading

import pytest

from snowflake_emulator.accounting import OTHER, PREFIX, Ledger, parse_line, statement_kind


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("MERGE INTO t USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE", "merge"),
        ("  put file:///tmp/x.json.gz '@~/target-snowflake/a'", "put"),
        ("remove '@~/target-snowflake/a'", "remove"),
        ("rm @~/a", "remove"),
        ("desc table t", "describe"),
        ("-- a comment\n/* another\n one */ (select 1)", "select"),
        ("COPY INTO t FROM (SELECT $1 FROM '@~/x')", "copy"),
        ("ALTER SESSION SET QUERY_TAG = 'x'", "alter"),
        ("CREATE USER bob PASSWORD = 'hunter2'", "create"),
        ("hunter2 is no keyword", OTHER),
        ("", OTHER),
        ("   ", OTHER),
        ("'quoted' first", OTHER),
    ],
)
def test_a_statement_kind_is_its_first_keyword_or_other(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind


def test_nested_measures_count_once_and_a_failure_still_counts() -> None:
    ledger = Ledger()
    with ledger.measure("merge"), ledger.measure("select"), ledger.measure("insert"):
        sum(range(200_000))  # some CPU, so the seconds are above zero
    with pytest.raises(ValueError, match="boom"), ledger.measure("copy"):
        raise ValueError("boom")
    with ledger.measure("connect"):
        pass

    summary = ledger.summary()

    assert {kind: tally["count"] for kind, tally in summary["by_kind"].items()} == {"merge": 1, "copy": 1, "connect": 1}
    assert summary["statements"] == 2  # merge and copy; a connection is no statement
    assert summary["by_kind"]["merge"]["seconds"] > 0
    assert summary["by_kind"]["merge"]["cpu_seconds"] > 0
    assert summary["duckdb_seconds"] == pytest.approx(sum(t["seconds"] for t in summary["by_kind"].values()), abs=1e-5)
    assert summary["duckdb_cpu_seconds"] <= summary["process_cpu_seconds"]


def test_measures_on_threads_are_each_counted() -> None:
    ledger = Ledger()

    def work() -> None:
        for _ in range(50):
            with ledger.measure("merge"):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert ledger.summary()["by_kind"]["merge"]["count"] == 200


def test_the_line_is_the_prefix_and_one_json_object_that_parse_line_reads_back() -> None:
    ledger = Ledger()
    ledger.add("merge", 2.5, 2.75)
    ledger.add("merge", 0.5, 0.25)
    ledger.add("put", 0.125, 0.0625)

    line = ledger.line()
    stderr = f"some log line\n{PREFIX}not json\n{line}\nanother log line\n"

    assert line.startswith(PREFIX + "{") and "\n" not in line
    summary = parse_line(stderr)
    assert summary == json.loads(line.removeprefix(PREFIX))
    assert summary["statements"] == 3
    assert summary["duckdb_seconds"] == 3.125
    assert summary["duckdb_cpu_seconds"] == 3.0625
    assert summary["by_kind"] == {
        "merge": {"count": 2, "seconds": 3.0, "cpu_seconds": 3.0},
        "put": {"count": 1, "seconds": 0.125, "cpu_seconds": 0.0625},
    }
    assert parse_line("no accounting here\n") is None
