"""Batch mode (meltano.yml's default for target-snowflake) and record mode land the same warehouse, row by row.

The `local` environment gives tap-klaviyo a `batch_config`: events, profiles and members reach target-snowflake as
gzip JSON-lines files it PUTs and MERGEs; `TAP_KLAVIYO_BATCH_FILES=false` sends RECORD messages instead. Both runs
read the same sandbox; every table must hold the same rows with the same values and column types. The loader
deletes each file once loaded, so nothing is left on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from counted_days import on_days_all_counted
from meltano_project import LocalProject, ensure_installed
from raw_warehouse import open_raw

from local_stand_ins.stack import start_local_stack

RUN = ("run", "tap-klaviyo", "target-snowflake")
# Events per account. 12,000 before went the same paths in both modes (both fewer than meltano.yml's batch_size of
# 100,000, several pages of 1,000), with 4 times the record mode's per-record work.
EVENTS = 3000
# Every stream but the reports: those go as records in both modes, and their timeframes follow the run's clock.
FAST = {"TAP_KLAVIYO_RATE_LIMIT_SCALE": "0", "TAP_KLAVIYO__SELECT_FILTER": '["!*_reports"]'}
# Columns the loader stamps when it loads (times, order) and the run's table version differ between two runs.
RUN_COLUMNS = {
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sync_started_at",
    "_sdc_sequence",
    "_sdc_table_version",
    # When the completeness check ran: Klaviyo's counts asked, profile ids listed (the same in both modes otherwise).
    "checked_at",
    "counted_until",
    "listed_at",
    "started_at",
    "completed_at",
}


def tables(warehouse: Path) -> dict[str, tuple[list[tuple[str, str]], list[tuple]]]:
    """table -> (columns with their types, every row of the columns that do not depend on the run), sorted."""
    out = {}
    with open_raw(warehouse) as conn:
        names = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'KLAVIYO' ORDER BY 1"
            ).fetchall()
        ]
        for name in names:
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = 'KLAVIYO' AND table_name = ? ORDER BY 1",
                [name],
            ).fetchall()
            kept = ", ".join(f'"{c}"' for c, _ in columns if c.lower() not in RUN_COLUMNS)
            rows = conn.execute(f'SELECT {kept} FROM "KLAVIYO"."{name}"').fetchall()
            out[name] = (columns, sorted(rows, key=repr))
    return out


def on_days_both_counted(columns: list[tuple[str, str]], *runs: list[tuple]) -> list[list[tuple]]:
    """EVENT_COUNTS rows of both runs, cut to the days both counted, per account (counted_days.py: the two runs may
    fall either side of an account's midnight)."""
    kept = [c.lower() for c, _ in columns if c.lower() not in RUN_COLUMNS]
    account, day = kept.index("account_id"), kept.index("local_date")
    return on_days_all_counted(runs, lambda row: (row[account], row[day]))


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    ensure_installed("tap-klaviyo", "target-snowflake")
    stack = start_local_stack(
        "--accounts", "2", "--seed", "5", "--events", str(EVENTS), "--profiles", "400", "--rate-limit-scale", "0"
    )
    try:
        batch = LocalProject(stack, tmp_path_factory.mktemp("batch"))
        batch_run = batch.meltano(*RUN, "--state-id-suffix", "batch", **FAST)
        assert batch_run.code == 0, batch_run.output[-4000:]
        records = LocalProject(stack, tmp_path_factory.mktemp("records"))
        record_run = records.meltano(*RUN, "--state-id-suffix", "records", TAP_KLAVIYO_BATCH_FILES="false", **FAST)
        assert record_run.code == 0, record_run.output[-4000:]
    finally:
        stack.stop()
    return batch, batch_run.output, records, record_run.output


def test_batch_and_record_modes_land_the_same_tables_row_by_row(both):
    batch, _, records, _ = both
    in_batch, in_records = tables(batch.warehouse), tables(records.warehouse)
    assert set(in_batch) == set(in_records) and len(in_batch) == 18  # 15 streams and the completeness check's 3
    for name in in_batch:
        assert in_batch[name][0] == in_records[name][0], f"{name}: columns or types differ"
        batch_rows, record_rows = in_batch[name][1], in_records[name][1]
        if name == "EVENT_COUNTS":
            batch_rows, record_rows = on_days_both_counted(in_batch[name][0], batch_rows, record_rows)
        assert batch_rows == record_rows, f"{name}: rows differ"
    assert len(in_batch["EVENTS"][1]) == 2 * EVENTS


def test_batch_mode_really_sent_files_and_the_loader_deleted_them(both):
    batch, batch_output, _, record_output = both
    assert '"put": {"count"' in batch_output  # the emulator's accounting line: files were PUT to the stage
    batches = batch.system / "run" / "tap-klaviyo" / "batches"  # meltano.yml: $MELTANO_SYS_DIR_ROOT/run/...
    assert batches.is_dir()
    left = list(batches.rglob("*.jsonl*"))
    assert left == [], left
    assert "snowflake-emulator:" in record_output
