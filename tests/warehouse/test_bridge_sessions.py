"""What dbt-snowflake sends that fakesnow alone cannot run, through the emulator (snowflake_emulator: `quoting`,
`session_objects`, `databases`, the aborted-transaction rollback in `bridge`). Each test runs Snowflake SQL in real
processes from the loader's venv (`snowflake-emulator sql`, or a short script for sessions that go on after an
error) and checks what a later session, or DuckDB itself, sees."""

from __future__ import annotations

import json
import subprocess
import textwrap

from raw_warehouse import open_raw
from warehouse_runs import Warehouse


def session_script(warehouse: Warehouse, body: str) -> list[str]:
    """Run `body` (Python, with `cursor` on an emulated RAW.PUBLIC session) in the loader's venv; its printed lines."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import snowflake.connector
        from snowflake_emulator.bridge import emulated_snowflake

        with emulated_snowflake(Path(sys.argv[1])):
            conn = snowflake.connector.connect(database="RAW", schema="PUBLIC")
            cursor = conn.cursor()
        """
    ) + textwrap.indent(textwrap.dedent(body), " " * 4)
    run = subprocess.run(
        [str(warehouse.bin / "python"), "-c", script, str(warehouse.folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout.splitlines()


def test_dollar_keys_in_quoted_text_are_not_session_variables(warehouse: Warehouse) -> None:
    properties = {"$value": 12.5, "$attribution": {"$message": "m1", "$flow": ""}, "$event_id": "e-1"}
    *_, paths, literal, variable = warehouse.sql(
        "create table RAW.PUBLIC.EVENTS (id varchar, p variant)",
        f"insert into RAW.PUBLIC.EVENTS select 'e1', parse_json('{json.dumps(properties)}')",
        'select p:"$value"::float, p:"$attribution":"$message"::varchar, '
        'get_path(p, \'"$attribution"."$flow"\')::varchar from RAW.PUBLIC.EVENTS -- a comment naming $value',
        "select '$value costs $$5' as text /* $comment */",
        "set threshold = 10",
    )
    assert paths["rows"] == [[12.5, "m1", ""]]
    assert literal["rows"] == [["$value costs $$5"]]
    assert variable["rowcount"] is not None
    # session variables outside quotes still work, and an unknown one still fails as in Snowflake
    assert warehouse.sql("set threshold = 10", "select $threshold + 1")[1]["rows"] == [[11]]
    assert "Session variable '$NOPE' does not exist" in warehouse.sql_error("select $nope")


def test_a_temporary_object_in_a_schema_lives_as_long_as_its_session(warehouse: Warehouse) -> None:
    lines = session_script(
        warehouse,
        """
        source = "RAW.PUBLIC.SOURCE"
        cursor.execute(f"create table {source} as select 1 as id union all select 2")
        cursor.execute(f"create or replace temporary view RAW.PUBLIC.SOURCE__DBT_TMP as (select id from {source})")
        cursor.execute(f"create or replace temp table RAW.PUBLIC.COPY__DBT_TMP as (select 10 * id as id from {source})")
        cursor.execute("create temporary table LOCAL_ONLY as select 3 as id")  # unqualified: DuckDB's temp catalog
        cursor.execute(
            "select (select count(*) from RAW.PUBLIC.SOURCE__DBT_TMP), (select sum(id) from RAW.PUBLIC.COPY__DBT_TMP), "
            "(select count(*) from LOCAL_ONLY)"
        )
        print(json.dumps(cursor.fetchall()))
        conn.close()
        other = snowflake.connector.connect(database="RAW", schema="PUBLIC").cursor()
        other.execute("select table_name from information_schema.tables where table_schema = 'PUBLIC' order by 1")
        print(json.dumps(other.fetchall()))
        # never closed: dropped when the emulator closes
        other.execute("create temporary table RAW.PUBLIC.NEVER_CLOSED as select 1 as id")
        """,
    )
    assert json.loads(lines[0]) == [[2, 30, 1]]
    assert json.loads(lines[1]) == [["SOURCE"]]  # the session's objects were dropped when it closed
    with open_raw(warehouse.folder) as conn:
        left = conn.execute("select table_name from information_schema.tables where table_schema = 'PUBLIC'").fetchall()
    assert left == [("SOURCE",)]


def test_every_database_a_session_names_or_reads_through_a_view_is_visible(warehouse: Warehouse) -> None:
    warehouse.sql("create table RAW.PUBLIC.LOADED as select 'a' as id union all select 'b'")
    run = warehouse.sql_run(
        "create schema if not exists ANALYTICS.MODELS",
        "create table ANALYTICS.MODELS.BUILT as select id from RAW.PUBLIC.LOADED",
        "select count(*) from ANALYTICS.MODELS.BUILT",
        database="ANALYTICS",
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["rows"] == [[2]]
    assert (warehouse.folder / "ANALYTICS.db").is_file()
    # and the other way round: a session on RAW reads ANALYTICS
    assert warehouse.sql("select count(*) from ANALYTICS.MODELS.BUILT")[0]["rows"] == [[2]]
    # a view over RAW, read by a session on ANALYTICS whose statement names only the view (dbt's tests do that)
    view = warehouse.sql_run(
        "create view ANALYTICS.MODELS.OVER_RAW as select id from RAW.PUBLIC.LOADED", database="ANALYTICS"
    )
    assert view.returncode == 0, view.stderr
    read = warehouse.sql_run("select count(*) from MODELS.OVER_RAW", database="ANALYTICS")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["rows"] == [[2]]


def test_a_failed_statement_in_a_transaction_leaves_the_session_usable(warehouse: Warehouse) -> None:
    lines = session_script(
        warehouse,
        """
        cursor.execute("create table RAW.PUBLIC.T (id int)")
        cursor.execute("begin")
        cursor.execute("insert into RAW.PUBLIC.T values (1)")
        try:
            cursor.execute("insert into RAW.PUBLIC.NO_SUCH_TABLE values (1)")
        except snowflake.connector.errors.ProgrammingError as error:
            print("failed:", error.msg.splitlines()[0])
        cursor.execute("insert into RAW.PUBLIC.T values (2)")
        cursor.execute("select id from RAW.PUBLIC.T order by id")
        print(json.dumps(cursor.fetchall()))
        """,
    )
    assert lines[0].startswith("failed:") and "NO_SUCH_TABLE" in lines[0]
    # DuckDB aborted the transaction; the emulator rolled it back (the 1 with it) and the session went on
    assert json.loads(lines[1]) == [[2]]


def test_the_db_api_commit_and_rollback_end_a_transaction_and_succeed_outside_one(warehouse: Warehouse) -> None:
    """connection.commit() and .rollback() (what SQLAlchemy calls) go straight to DuckDB (bridge.py); they must keep
    what fakesnow's COMMIT and ROLLBACK statements did."""
    lines = session_script(
        warehouse,
        """
        conn.rollback()  # no transaction open: both succeed, as in Snowflake
        conn.commit()
        cursor.execute("create table RAW.PUBLIC.T (id int)")
        conn.autocommit(False)
        cursor.execute("insert into RAW.PUBLIC.T values (1)")
        conn.rollback()
        cursor.execute("insert into RAW.PUBLIC.T values (2)")
        conn.commit()
        cursor.execute("insert into RAW.PUBLIC.T values (3)")
        conn.rollback()
        conn.rollback()
        print(json.dumps(cursor.execute("select id from RAW.PUBLIC.T order by id").fetchall()))
        """,
    )
    assert lines[-1] == "[[2]]"
