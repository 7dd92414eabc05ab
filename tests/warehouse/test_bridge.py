"""The bridge on its own: PUT, the staged read, REMOVE and DROP FILE FORMAT through the emulator, and every other
statement handed to fakesnow unchanged. Each test runs Snowflake SQL in one real `snowflake-emulator sql` process
(the loader's venv: fakesnow 0.12.1, the Snowflake connector) and checks results and the stage folder on disk."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from warehouse_runs import Warehouse

LINES = [
    {"id": 1, "name": 'Zoë "quoted" 🚀', "tags": ["a", "b"], "profile": {"city": "Zürich", "zip": None}},
    {"id": 2, "name": None, "tags": [], "profile": {}},
    {"id": 1, "name": "one, again", "tags": None, "profile": {"nested": {"deep": [1, 2.5, True]}}},
]


def jsonl(path: Path, rows: list[dict], *, gzipped: bool = False) -> Path:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if gzipped:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_put_copies_files_into_the_user_stage_folder(warehouse: Warehouse, tmp_path: Path) -> None:
    plain = jsonl(tmp_path / "plain.json", LINES)
    packed = jsonl(tmp_path / "packed.json.gz", LINES, gzipped=True)

    put_plain, put_packed, put_raw = warehouse.sql(
        f"put file://{plain} '@~/target-snowflake/batch-1'",
        f"PUT 'file://{packed}' @~/target-snowflake/batch-1",
        f"put file://{plain} '@~/raw/' AUTO_COMPRESS = FALSE",
    )

    assert put_plain["columns"] == [
        "source",
        "target",
        "source_size",
        "target_size",
        "source_compression",
        "target_compression",
        "status",
        "message",
    ]
    assert put_plain["rows"][0][:2] == ["plain.json", "plain.json.gz"]
    assert put_plain["rows"][0][4:7] == ["NONE", "GZIP", "UPLOADED"]
    assert put_packed["rows"][0][:2] == ["packed.json.gz", "packed.json.gz"]
    assert put_packed["rows"][0][4:7] == ["GZIP", "GZIP", "UPLOADED"]
    assert put_raw["rows"][0][:2] == ["plain.json", "plain.json"]

    stage = warehouse.folder / "user-stage"
    assert gzip.decompress((stage / "target-snowflake/batch-1/plain.json.gz").read_bytes()) == plain.read_bytes()
    assert (stage / "target-snowflake/batch-1/packed.json.gz").read_bytes() == packed.read_bytes()
    assert (stage / "raw/plain.json").read_bytes() == plain.read_bytes()
    assert put_plain["rows"][0][3] == (stage / "target-snowflake/batch-1/plain.json.gz").stat().st_size


def test_put_of_a_missing_file_names_it(warehouse: Warehouse, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json.gz"
    assert str(missing) in warehouse.sql_error(f"put file://{missing} '@~/target-snowflake/x'")
    assert warehouse.staged_files() == []


def test_staged_select_reads_each_json_line_as_dollar_1(warehouse: Warehouse, tmp_path: Path) -> None:
    first = jsonl(tmp_path / "part-1.json", LINES[:2])
    second = jsonl(tmp_path / "part-2.json.gz", LINES[2:], gzipped=True)

    *_, raw, typed, deduplicated, empty = warehouse.sql(
        f"put file://{first} '@~/target-snowflake/s1'",
        f"put file://{second} '@~/target-snowflake/s1'",
        "create or replace file format RAW.PUBLIC.\"tf-json\" type = 'JSON' compression = 'AUTO'",
        "select $1 from '@~/target-snowflake/s1'(file_format => RAW.PUBLIC.\"tf-json\")",
        "select $1:id::DECIMAL as id, $1:name::VARCHAR as name, $1:profile::VARIANT as profile, SEQ8() as n "
        "from '@~/target-snowflake/s1'(file_format => RAW.PUBLIC.\"tf-json\")",
        # target-snowflake's de-duplication: the last row per key, by SEQ8()
        "select $1:id::DECIMAL as id, $1:name::VARCHAR as name from '@~/target-snowflake/s1'"
        '(file_format => RAW.PUBLIC."tf-json") QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY SEQ8() DESC) = 1',
        "select $1 from '@~/target-snowflake/nothing-here'(file_format => RAW.PUBLIC.\"tf-json\")",
    )

    assert [json.loads(value) for (value,) in raw["rows"]] == LINES  # file order, files by name
    assert typed["columns"] == ["ID", "NAME", "PROFILE", "N"]
    assert [row[:2] for row in typed["rows"]] == [[line["id"], line["name"]] for line in LINES]
    assert [json.loads(row[2]) for row in typed["rows"]] == [line["profile"] for line in LINES]
    assert [row[3] for row in typed["rows"]] == [1, 2, 3]  # one sequence across both files
    assert sorted(deduplicated["rows"]) == [[1, "one, again"], [2, None]]
    assert empty["rows"] == []


def test_staged_read_needs_a_json_file_format(warehouse: Warehouse, tmp_path: Path) -> None:
    data = jsonl(tmp_path / "rows.json", LINES)
    csv = warehouse.sql_error(
        f"put file://{data} '@~/s'",
        "create file format csv_format type = 'CSV'",
        "select $1 from '@~/s'(file_format => csv_format)",
    )
    assert "JSON files only" in csv
    assert "'@~/s'" in csv

    unknown = warehouse.sql_error("select $1 from '@~/s'(file_format => no_such_format)")
    assert "NO_SUCH_FORMAT' does not exist" in unknown


def test_merge_and_copy_from_the_stage(warehouse: Warehouse, tmp_path: Path) -> None:
    first = jsonl(tmp_path / "first.json", LINES)
    second = jsonl(tmp_path / "second.json", [{"id": 2, "name": "two", "tags": ["x"], "profile": None}])
    columns = "$1:id::DECIMAL as id, $1:name::VARCHAR as name, $1:tags::VARIANT as tags"
    merge = (
        "merge into RAW.PUBLIC.PEOPLE d using (select {columns} from '@~/m/{batch}'(file_format => RAW.PUBLIC.fj) "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY SEQ8() DESC) = 1) s on d.id = s.id "
        "when matched then update set d.id = s.id, d.name = s.name, d.tags = s.tags "
        "when not matched then insert (id, name, tags) values (s.id, s.name, s.tags)"
    )
    results = warehouse.sql(
        "create table RAW.PUBLIC.PEOPLE (id DECIMAL, name VARCHAR, tags VARIANT, PRIMARY KEY (id))",
        "create table RAW.PUBLIC.LOG (id DECIMAL, name VARCHAR, tags VARIANT)",
        "create or replace file format RAW.PUBLIC.fj type = 'JSON' compression = 'AUTO'",
        f"put file://{first} '@~/m/one'",
        merge.format(columns=columns, batch="one"),
        f"put file://{second} '@~/m/two'",
        merge.format(columns=columns, batch="two"),
        f"put file://{second} '@~/m/one'",
        f"copy into RAW.PUBLIC.LOG (id, name, tags) from (select {columns} from '@~/m/one')"
        "file_format = (format_name='RAW.PUBLIC.fj')",
        "select id, name, tags from RAW.PUBLIC.PEOPLE order by id",
        "select count(*) from RAW.PUBLIC.LOG",
    )
    first_merge, second_merge, copy, people, log_count = (results[i] for i in (4, 6, 8, 9, 10))

    assert first_merge["rows"] == [[2, 0]]  # inserted, updated: the key repeated in the file is one row
    assert second_merge["rows"] == [[0, 1]]
    assert [row[:2] for row in people["rows"]] == [[1, "one, again"], [2, "two"]]
    assert json.loads(people["rows"][1][2]) == ["x"]
    # COPY reports per file, rows_loaded 4th as in Snowflake (target-snowflake sums that column)
    assert sorted((row[0], row[1], row[3]) for row in copy["rows"]) == [
        ("m/one/first.json.gz", "LOADED", 3),
        ("m/one/second.json.gz", "LOADED", 1),
    ]
    assert log_count["rows"] == [[4]]


def test_remove_deletes_the_files_under_its_path(warehouse: Warehouse, tmp_path: Path) -> None:
    data = jsonl(tmp_path / "d.json", LINES)
    *_, exact, other, prefix = warehouse.sql(
        f"put file://{data} '@~/t/a/'",
        f"put file://{data} '@~/t/ab'",
        f"put file://{data} '@~/u'",
        "remove '@~/t/a/'",
        "rm @~/u",
        # a stage path is a prefix of the files' paths, as in Snowflake: @~/t/a matches t/ab/... too
        "remove '@~/t/a'",
    )
    assert exact["columns"] == ["name", "result"]
    assert exact["rows"] == [["t/a/d.json.gz", "removed"]]
    assert other["rows"] == [["u/d.json.gz", "removed"]]
    assert prefix["rows"] == [["t/ab/d.json.gz", "removed"]]
    assert warehouse.staged_files() == []
    stage = warehouse.folder / "user-stage"
    # the removed paths' own folders go with their files; t/ stays (another batch may be putting a file there)
    assert sorted(path.relative_to(stage).as_posix() for path in stage.rglob("*")) == ["t"]


def test_drop_file_format(warehouse: Warehouse, tmp_path: Path) -> None:
    data = jsonl(tmp_path / "d.json", LINES)
    run = warehouse.sql_run(
        "create or replace file format RAW.PUBLIC.\"tf-x\" type = 'JSON'",
        'drop file format if exists RAW.PUBLIC."tf-x"',
        'drop file format if exists RAW.PUBLIC."tf-x"',
        "create file format fx type = 'JSON'",
        "drop file format fx",
        f"put file://{data} '@~/s'",
        "select $1 from '@~/s'(file_format => fx)",
    )
    dropped, again = (json.loads(line) for line in run.stdout.splitlines()[1:3])
    assert dropped["rows"] == again["rows"] == [["tf-x successfully dropped."]]
    assert run.returncode != 0
    assert "File format 'FX' does not exist" in run.stderr  # the staged read after the drop
    assert "File format 'FX' does not exist" in warehouse.sql_error("drop file format fx")


def test_other_statements_reach_fakesnow_unchanged(warehouse: Warehouse, tmp_path: Path) -> None:
    """FAKESNOW_DEBUG=snowflake makes fakesnow print each statement its cursor is given, before anything else."""
    data = jsonl(tmp_path / "d.json", LINES)
    passed_through = [
        "CREATE TABLE RAW.PUBLIC.NOTES (id DECIMAL, note VARCHAR, PRIMARY KEY (id))",
        "insert into RAW.PUBLIC.NOTES values (1, 'put @~/x here'), (2, 'remove @~/y')",
        "select note from RAW.PUBLIC.NOTES where note like '%@~%' order by id",
        "create or replace file format RAW.PUBLIC.\"tf-notes\" type = 'JSON' compression = 'AUTO'",
        "ALTER TABLE RAW.PUBLIC.NOTES ADD COLUMN extra VARIANT",
        "merge into RAW.PUBLIC.NOTES d using (select 1 as id, 'merged' as note) s on d.id = s.id "
        "when matched then update set d.note = s.note",
        "SHOW DATABASES",
        "select note from RAW.PUBLIC.NOTES order by id",
    ]
    handled = [f"put file://{data} '@~/n'", "remove '@~/n'", 'drop file format RAW.PUBLIC."tf-notes"']

    run = warehouse.sql_run(*passed_through, *handled, env={"FAKESNOW_DEBUG": "snowflake"})

    assert run.returncode == 0, run.stderr
    received = run.stderr.splitlines()
    for statement in passed_through:
        assert f"{statement};" in received
    for statement in handled:
        assert not any(statement in line for line in received)
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert results[2]["rows"] == [["put @~/x here"], ["remove @~/y"]]
    assert results[7]["rows"] == [["merged"], ["remove @~/y"]]


def test_duckdb_runs_on_one_thread(warehouse: Warehouse) -> None:
    """The emulator's DuckDB uses one thread (bridge.DUCKDB_THREADS), not DuckDB's default of one per core."""
    (result,) = warehouse.sql("SELECT current_setting('threads') AS threads")
    assert result["rows"] == [[1]]
