"""MeltanoLabs target-snowflake 0.20.4, unchanged, loading through the launcher into the emulator: its own CREATE,
ALTER, PUT, MERGE/COPY and REMOVE run, and the tables in RAW.KLAVIYO hold exactly what the `.singer` input said."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from warehouse_runs import DATA, Warehouse, by_key, expected_rows, loaded, read_singer

from snowflake_emulator.report import table_rows


def assert_table_matches(warehouse: Warehouse, stream: str, *inputs: Path, upsert: bool = True) -> None:
    schemas, keys, _ = read_singer(*inputs)
    schema = schemas[stream]["properties"]
    actual = loaded(warehouse.rows(stream.upper()), schema, keys[stream])
    assert actual == by_key(expected_rows(*inputs, stream=stream, upsert=upsert), keys[stream])


def test_streams_load_into_raw_klaviyo_as_sent(warehouse: Warehouse) -> None:
    source = DATA / "two_streams.singer"
    run = warehouse.load(source)

    assert "Snowflake emulated by fakesnow" in run.stderr
    assert warehouse.tables() == {"KLAVIYO.EVENTS", "KLAVIYO.PROFILES"}
    assert_table_matches(warehouse, "events", source)
    assert_table_matches(warehouse, "profiles", source)

    events = warehouse.column_types("EVENTS")
    assert {name: events[name] for name in ("timestamp", "value", "datetime", "event_properties", "is_test")} == {
        "timestamp": "BIGINT",  # NUMBER(38,0) in fakesnow
        "value": "DOUBLE",
        "datetime": "TIMESTAMP",  # TIMESTAMP_NTZ
        "event_properties": "JSON",  # VARIANT
        "is_test": "BOOLEAN",
    }
    assert warehouse.column_types("PROFILES")["birthday"] == "DATE"
    extracted = {row["id"]: row["_sdc_extracted_at"] for row in warehouse.rows("EVENTS")}
    assert extracted["ev-1"] == datetime(2026, 10, 20, 8, 0, 0)

    # the user stage is emptied by the loader's REMOVE; the state message comes out as the target received it
    assert warehouse.staged_files() == []
    state = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert state[-1]["bookmarks"]["profiles"] == {"replication_key_value": "2026-10-20T07:59:59+00:00"}

    # the report a user or the demo reads: rows per table and per account
    _, _, records = read_singer(source)
    report = {table.table: table for table in table_rows(warehouse.folder)}
    for stream in ("events", "profiles"):
        sent = Counter(message["record"]["account_id"] for message in records[stream])
        assert report[f"RAW.KLAVIYO.{stream.upper()}"].rows_per_account == dict(sent)
        assert report[f"RAW.KLAVIYO.{stream.upper()}"].rows == len(records[stream])


def test_upsert_on_primary_keys_updates_without_duplicates(warehouse: Warehouse) -> None:
    first, second = DATA / "upsert_first.singer", DATA / "upsert_second.singer"
    warehouse.load(first)
    warehouse.load(second)

    # a composite key (list_id, id); p2 changed twice within the second batch: the later record wins
    assert_table_matches(warehouse, "lists", first, second)
    rows = warehouse.rows("LISTS")
    assert len(rows) == len({(row["list_id"], row["id"]) for row in rows}) == 4
    changed = next(row for row in rows if (row["list_id"], row["id"]) == ("L1", "p2"))
    assert changed["email"] == "two+changed@example.com"


def test_a_new_column_is_added_and_old_rows_keep_theirs(warehouse: Warehouse) -> None:
    first, second = DATA / "evolve_first.singer", DATA / "evolve_second.singer"
    warehouse.load(first)
    assert set(warehouse.column_types("METRICS")) >= {"id", "account_id", "name"}
    assert "integration" not in warehouse.column_types("METRICS")

    warehouse.load(second)  # ALTER TABLE ... ADD COLUMN for integration and created, then MERGE

    types = warehouse.column_types("METRICS")
    assert (types["integration"], types["created"]) == ("JSON", "TIMESTAMP")
    assert_table_matches(warehouse, "metrics", first, second)
    untouched = next(row for row in warehouse.rows("METRICS") if row["id"] == "m1")
    assert (untouched["name"], untouched["integration"], untouched["created"]) == ("Placed Order", None, None)


def test_append_only_and_overwrite_load_with_copy(warehouse: Warehouse) -> None:
    # Keys do not repeat here: DuckDB enforces the PRIMARY KEY target-snowflake declares, Snowflake does not
    first, more = DATA / "upsert_first.singer", DATA / "lists_more.singer"
    warehouse.load(first, load_method="append-only")
    warehouse.load(more, load_method="append-only")
    assert_table_matches(warehouse, "lists", first, more, upsert=False)  # COPY INTO appended both

    warehouse.load(more, load_method="overwrite")  # TRUNCATE, then COPY
    assert_table_matches(warehouse, "lists", more, upsert=False)


@pytest.mark.slow
def test_a_large_batch_loads_every_row(warehouse: Warehouse, tmp_path: Path) -> None:
    source = tmp_path / "large.singer"
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "account_id": {"type": "string"},
            "timestamp": {"type": ["integer", "null"]},
            "datetime": {"type": ["string", "null"], "format": "date-time"},
            "event_properties": {"type": ["object", "null"]},
            "attribution_ids": {"type": ["array", "null"]},
        },
    }
    lines = [json.dumps({"type": "SCHEMA", "stream": "events", "schema": schema, "key_properties": ["id"]})]
    for n in range(20_000):
        record = {
            "id": f"ev-{n:05d}",
            "account_id": f"acc-{n % 3}",
            "timestamp": 1_700_000_000 + n,
            "datetime": f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}T{n % 24:02d}:{n % 60:02d}:{n % 59:02d}+00:00",
            "event_properties": {"$value": n / 100, "items": [{"sku": f"S{n % 97}", "qty": n % 5}]},
            "attribution_ids": [f"flow-{n % 11}"] if n % 2 else None,
        }
        lines.append(json.dumps({"type": "RECORD", "stream": "events", "record": record}))
    source.write_text("\n".join(lines) + "\n")

    warehouse.load(source)  # two batches of the SDK's default 10,000 rows

    assert_table_matches(warehouse, "events", source)
    report = {table.table: table for table in table_rows(warehouse.folder)}["RAW.KLAVIYO.EVENTS"]
    assert report.rows_per_account == {"acc-0": 6667, "acc-1": 6667, "acc-2": 6666}


def test_streams_drained_in_parallel_all_load(warehouse: Warehouse, tmp_path: Path) -> None:
    """target-snowflake drains every stream's batch on parallel threads (at each STATE and at the end). Once, in CI
    under load, two MERGEs at once collided in fakesnow (its per-MERGE temporary table, a busy DuckDB connection); the
    emulator now runs statements in turn. The race did not recur on demand here: this checks parallel drains load
    every row, with the emulator's lock in place."""
    source = tmp_path / "parallel.singer"
    schema = {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": ["integer", "null"]}}}
    streams = [f"stream_{s}" for s in range(6)]
    lines = [json.dumps({"type": "SCHEMA", "stream": s, "schema": schema, "key_properties": ["id"]}) for s in streams]
    for round_ in range(3):  # several times: the second drain MERGEs into tables that exist
        for n in range(3000):
            lines.extend(
                json.dumps({"type": "RECORD", "stream": s, "record": {"id": f"{s}-{n}", "n": n + round_}})
                for s in streams
            )
        lines.append(json.dumps({"type": "STATE", "value": {"round": round_}}))
    source.write_text("\n".join(lines) + "\n")

    warehouse.load(source)

    for stream in streams:
        rows = warehouse.rows(stream)
        assert len(rows) == 3000, stream
        assert {row["n"] - int(row["id"].rsplit("-", 1)[1]) for row in rows} == {2}, stream  # the last round won
