"""The emulator tells its own share of a run: one line on stderr when the target exits (success or failure) with the
statements run through fakesnow/DuckDB, by kind, and the wall and CPU seconds spent in them. Real launcher runs:
records, Singer BATCH files (jsonl + gzip, as the SDK's batcher writes them), and a failing load."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from warehouse_runs import DATA, Warehouse

from snowflake_emulator.accounting import NOT_STATEMENTS, OTHER, PREFIX, STATEMENT_KINDS, parse_line

KINDS = STATEMENT_KINDS | NOT_STATEMENTS | {OTHER}
EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "account_id": {"type": "string"},
        "value": {"type": ["number", "null"]},
        "event_properties": {"type": ["object", "null"]},
    },
}


def accounting(stderr: str) -> dict[str, Any]:
    """The run's one accounting line, checked for what holds in any run."""
    lines = [line for line in stderr.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, lines
    summary = parse_line(stderr)
    assert summary is not None
    by_kind = summary["by_kind"]
    assert set(by_kind) <= KINDS  # a fixed vocabulary: no SQL text
    assert summary["statements"] == sum(t["count"] for kind, t in by_kind.items() if kind not in NOT_STATEMENTS)
    assert summary["statements"] > 0
    assert 0 < summary["duckdb_seconds"] < summary["run_seconds"]
    assert 0 < summary["duckdb_cpu_seconds"] < summary["process_cpu_seconds"]
    for total, part in (("duckdb_seconds", "seconds"), ("duckdb_cpu_seconds", "cpu_seconds")):
        assert abs(summary[total] - sum(t[part] for t in by_kind.values())) < 1e-4
    assert by_kind["open"]["count"] == by_kind["close"]["count"] == 1
    return summary


def test_a_load_of_records_tells_its_statements_and_seconds(warehouse: Warehouse) -> None:
    run = warehouse.load(DATA / "two_streams.singer")  # two streams, each drained once at the end

    summary = accounting(run.stderr)
    by_kind = summary["by_kind"]
    assert {kind: by_kind[kind]["count"] for kind in ("put", "merge", "remove")} == {"put": 2, "merge": 2, "remove": 2}
    assert by_kind["merge"]["seconds"] > 0 and by_kind["merge"]["cpu_seconds"] > 0
    assert by_kind["create"]["count"] >= 3  # the schema, two tables (and the file format)
    assert by_kind["connect"]["count"] >= 1
    assert "copy" not in by_kind


def write_batch(path: Path, records: list[dict[str, Any]]) -> str:
    """A gzipped JSON-lines batch file, as singer-sdk's JSONLinesBatcher writes; its manifest entry."""
    path.write_bytes(gzip.compress("".join(json.dumps(record) + "\n" for record in records).encode()))
    return path.as_uri()


def test_a_load_of_batch_files_tells_one_merge_per_batch(warehouse: Warehouse, tmp_path: Path) -> None:
    rows = [
        {"id": f"ev-{n}", "account_id": f"acc-{n % 2}", "value": n / 4, "event_properties": {"n": n}} for n in range(9)
    ]
    batches = [
        [write_batch(tmp_path / "b1-part1.json.gz", rows[:3]), write_batch(tmp_path / "b1-part2.json.gz", rows[3:5])],
        [write_batch(tmp_path / "b2.json.gz", rows[5:])],
    ]
    messages = [{"type": "SCHEMA", "stream": "events", "schema": EVENTS_SCHEMA, "key_properties": ["id"]}]
    messages += [
        {
            "type": "BATCH",
            "stream": "events",
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "manifest": manifest,
        }
        for manifest in batches
    ]
    source = tmp_path / "batches.singer"
    source.write_text("".join(json.dumps(message) + "\n" for message in messages))

    run = warehouse.load(source)

    loaded = sorted(warehouse.rows("EVENTS"), key=lambda row: row["id"])
    assert [(row["id"], row["value"]) for row in loaded] == [(row["id"], row["value"]) for row in rows]
    by_kind = accounting(run.stderr)["by_kind"]
    assert by_kind["merge"]["count"] == len(batches)
    assert by_kind["put"]["count"] == sum(len(manifest) for manifest in batches)  # a PUT per file
    assert by_kind["remove"]["count"] == len(batches)
    assert by_kind["merge"]["seconds"] > 0


def test_a_failed_load_tells_its_share_too(warehouse: Warehouse) -> None:
    # append-only of a batch repeating a key: DuckDB enforces the PRIMARY KEY (README, known differences)
    run = warehouse.load(DATA / "upsert_second.singer", load_method="append-only", expect_failure=True)

    summary = accounting(run.stderr)
    assert 'duplicate key "L1, p2"' in run.stderr
    assert summary["by_kind"]["copy"]["count"] == 1
    assert "merge" not in summary["by_kind"]
    assert run.stderr.rstrip("\n").splitlines()[-1].startswith(PREFIX)  # after the loader's own last words
