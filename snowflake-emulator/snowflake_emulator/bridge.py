"""fakesnow with the user stage (`@~`): the connection target-snowflake gets when Snowflake is emulated.

`emulated_snowflake(folder)` patches `snowflake.connector.connect` (what snowflake-sqlalchemy calls) the way
`fakesnow.patch` does, with databases persisted as DuckDB files in the folder (`<folder>/<DATABASE>.db`). Its
cursor runs what fakesnow cannot (the user-stage operations and DROP FILE FORMAT, see `statements`; a temporary object
in a named schema, see `session_objects`) and hands every other statement to fakesnow exactly as it was given, with
session variables read outside quoted text only (`quoting`); a session sees every database of the folder it names
(`databases`). Everything that reaches DuckDB (statements, opening a
connection, a result's description, closing) is counted and timed in the emulator's `Ledger` (see `accounting`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
from fakesnow.conn import FakeSnowflakeConnection
from fakesnow.cursor import SQL_COPY_ROWS, SQL_DROPPED, FakeSnowflakeCursor
from fakesnow.instance import FakeSnow
from fakesnow.transforms.file_format import lookup_file_format
from fakesnow.transforms.stage import parts_from_var
from snowflake.connector.cursor import DictCursor, SnowflakeCursor
from snowflake.connector.errors import ProgrammingError
from sqlglot import exp

from snowflake_emulator import statements
from snowflake_emulator.accounting import CLOSE, CONNECT, OPEN, RESULT_DESCRIPTION, Ledger, statement_kind
from snowflake_emulator.databases import attach_named_databases
from snowflake_emulator.file_lock import waiting_for_file
from snowflake_emulator.quoting import outside_quotes
from snowflake_emulator.session_objects import SessionObject, SessionObjects, parse_temporary
from snowflake_emulator.statements import StagedRead
from snowflake_emulator.user_stage import UserStage

logger = logging.getLogger(__name__)

USER_STAGE_FOLDER = "user-stage"

Params = Sequence[Any] | dict[Any, Any] | None

TRANSACTION_CONTROL = frozenset({"begin", "commit", "rollback"})
DUCKDB_THREADS = 1

# One statement at a time in the whole process. target-snowflake drains several streams on parallel threads; fakesnow
# shares one DuckDB database between connections, and two MERGEs at once collide on its per-statement temporary table
# ("duplicate key ... MERGE_CANDIDATES") or on a busy DuckDB connection. Snowflake would run them side by side; the
# emulator runs them in turn, which changes only the timing. Reentrant: a bridged statement runs fakesnow's own.
# Opening a connection (ATTACH, fakesnow's information schema) and a result's description (a DESCRIBE) run DuckDB
# statements too, so they take their turn as well; it also keeps the Ledger's timings from overlapping.
_ONE_STATEMENT_AT_A_TIME = threading.RLock()

# fakesnow is installed in the loader's venv only: where mypy runs, its classes are Any ("type: ignore[misc]").


class StageBridgeCursor(FakeSnowflakeCursor):  # type: ignore[misc]
    """fakesnow's cursor, plus PUT, REMOVE and staged reads on the user stage folder, and DROP FILE FORMAT."""

    def __init__(self, conn: EmulatedConnection, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        self._stage = conn.user_stage
        self._ledger = conn.ledger

    def execute(self, command: str, params: Params = None, *args: Any, **kwargs: Any) -> FakeSnowflakeCursor:
        # timed inside the lock: waiting for another thread's statement is not this one's work
        kind = statement_kind(command)
        with _ONE_STATEMENT_AT_A_TIME, self._ledger.measure(kind):
            # the other databases of the folder it names (databases.py); BEGIN, COMMIT and ROLLBACK statements (dbt
            # writes them) name none
            if self._conn.db_path is not None and kind not in TRANSACTION_CONTROL:
                folder, current = self._conn.db_path, self._conn.database
                waiting_for_file(lambda: attach_named_databases(self._duck_conn, folder, command, current))
            try:
                return self._execute_bridged(command, params, *args, **kwargs)
            except Exception:
                _end_aborted_transaction(self._duck_conn)
                raise

    @property
    def description(self) -> Any:
        # fakesnow runs `DESCRIBE <last statement>` in DuckDB for it (SQLAlchemy asks after every statement)
        with _ONE_STATEMENT_AT_A_TIME, self._ledger.measure(RESULT_DESCRIPTION):
            return super().description

    def _inline_variables(self, sql: str) -> str:
        return outside_quotes(sql, super()._inline_variables)

    def _execute_bridged(self, command: str, params: Params, *args: Any, **kwargs: Any) -> FakeSnowflakeCursor:
        if temporary := parse_temporary(command):
            plain, created = temporary
            result = super().execute(plain, params, *args, **kwargs)
            self._conn.session_objects.add(self._conn, created)
            return result
        if not statements.needs_bridge(command):
            return super().execute(command, params, *args, **kwargs)
        # bind pyformat parameters as the connector does client-side (target-snowflake binds PUT's file URI)
        bound, remaining = self._rewrite_with_params(command, params)
        if put := statements.parse_put(bound):
            return self._put(put)
        if remove := statements.parse_remove(bound):
            return self._remove(remove)
        if drop := statements.parse_drop_file_format(bound):
            return self._drop_file_format(drop)
        if staged := statements.parse_staged(bound):
            return self._staged_read(*staged, remaining)
        return super().execute(command, params, *args, **kwargs)

    def _put(self, put: statements.Put) -> FakeSnowflakeCursor:
        rows = self._stage.put(put.source, put.stage_path, auto_compress=put.auto_compress)
        logger.debug("PUT %s into %s", put.source, self._stage.folder(put.stage_path))
        return self._result(rows)

    def _remove(self, remove: statements.Remove) -> FakeSnowflakeCursor:
        removed = self._stage.remove(remove.stage_path)
        logger.debug("REMOVE @~/%s: %d file(s)", remove.stage_path, len(removed))
        return self._result([{"name": name, "result": "removed"} for name in removed], columns=("name", "result"))

    def _drop_file_format(self, drop: exp.Drop) -> FakeSnowflakeCursor:
        """Delete the format from fakesnow's table of file formats (where CREATE FILE FORMAT put it)."""
        table = drop.find(exp.Table)
        assert table is not None
        database, schema, name = parts_from_var(table.sql(dialect="snowflake"), self._conn.database, self._conn.schema)
        # like fakesnow's CREATE FILE FORMAT: its own DuckDB cursor, so the caller's transaction is not committed
        with self._duck_conn.cursor() as formats:
            (deleted,) = formats.execute(
                "DELETE FROM _fs_global._fs_information_schema._fs_file_formats "
                "WHERE database_name = ? AND schema_name = ? AND name = ?",
                [database, schema, name],
            ).fetchone()
        if not deleted and not drop.args.get("exists"):
            raise ProgrammingError(
                msg=f"SQL compilation error:\nFile format '{name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return super().execute(SQL_DROPPED.substitute(name=name))

    def _staged_read(self, expression: exp.Expr, reads: list[StagedRead], params: Params) -> FakeSnowflakeCursor:
        for read in reads:
            self._check_json(read)
        if isinstance(expression, exp.Copy):
            return self._copy(expression, params)
        for read in reads:
            statements.serve_from_files(read, self._stage.files(read.stage_path))
        return self._run(expression, params)

    def _copy(self, copy: exp.Copy, params: Params) -> FakeSnowflakeCursor:
        """COPY INTO from the stage: an INSERT per staged file, reported per file as COPY does.

        target-snowflake sums the result's rows_loaded column; the statements run in its transaction.
        """
        (source,) = statements.staged_reads(copy)  # COPY has one FROM
        loaded = {}
        for path in self._stage.files(source.stage_path):
            one_file = copy.copy()
            (read,) = statements.staged_reads(one_file)
            statements.serve_from_files(read, [path])
            self._run(statements.copy_as_insert(one_file), params)
            loaded[self._stage.name(path)] = self.rowcount or 0
        if not loaded:
            return super().execute("SELECT 'Copy executed with 0 files processed.' AS status")
        return super().execute(
            " UNION ALL ".join(
                SQL_COPY_ROWS.substitute(file=name.replace("'", "''"), count=count) for name, count in loaded.items()
            )
        )

    def _check_json(self, read: StagedRead) -> None:
        file_type = read.file_type
        if read.file_format:
            options = lookup_file_format(self._duck_conn, read.file_format, self._conn.database, self._conn.schema)
            file_type = str(options.get("TYPE", "CSV")).upper()
        if file_type != "JSON":
            raise ProgrammingError(
                msg=(
                    f"snowflake-emulator reads staged JSON files only; '@~/{read.stage_path}' is read with file "
                    f"format {read.file_format or '(none)'} of TYPE {file_type or 'CSV'}"
                ),
                errno=1003,
                sqlstate="0A000",
            )

    def _run(self, expression: exp.Expr, params: Params) -> FakeSnowflakeCursor:
        statement = expression.sql(dialect="snowflake")
        logger.debug("staged read served from the user stage folder: %s", statement)
        return super().execute(statement, params)

    def _result(self, rows: list[dict[str, Any]], columns: Sequence[str] = ()) -> FakeSnowflakeCursor:
        """Make `rows` this cursor's result set, through fakesnow so fetch*/description behave as for any query."""
        columns = list(rows[0]) if rows else list(columns)
        select = exp.select(*(exp.alias_(exp.Null(), column, quoted=True) for column in columns)).limit(0)
        if rows:
            # built as exp.values would, with the column names quoted (exp.values takes them as plain strings only)
            values = exp.Values(
                expressions=[exp.tuple_(*(_literal(row[column]) for column in columns)) for row in rows],
                alias=exp.TableAlias(
                    this=exp.to_identifier("t"), columns=[exp.to_identifier(column, quoted=True) for column in columns]
                ),
            )
            select = exp.select(*(exp.column(column, quoted=True) for column in columns)).from_(values)
        return super().execute(select.sql(dialect="snowflake"))


def _end_aborted_transaction(duck_conn: Any) -> None:
    """After a failed statement, roll back the transaction DuckDB aborted, so the session can go on.

    In Snowflake a statement that fails inside BEGIN ... COMMIT fails alone and the session goes on; DuckDB aborts the
    whole transaction and refuses every later statement ("Current transaction is aborted (please ROLLBACK)"). dbt runs
    each incremental model's MERGE or DELETE+INSERT between BEGIN and COMMIT and does not roll back a failed one, so
    one failed model made every later model on that connection fail too. The statements before the failed one are
    rolled back with it, where Snowflake would keep them pending until COMMIT (a difference, in README.md).
    """
    try:
        duck_conn.execute("SELECT 1")
    except duckdb.TransactionException:
        duck_conn.execute("ROLLBACK")


def _literal(value: Any) -> exp.Expr:
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


class EmulatedConnection(FakeSnowflakeConnection):  # type: ignore[misc]
    def __init__(
        self, *args: Any, user_stage: UserStage, ledger: Ledger, session_objects: SessionObjects, **kwargs: Any
    ) -> None:
        self.user_stage = user_stage
        self.ledger = ledger
        self.session_objects = session_objects
        super().__init__(*args, **kwargs)

    def cursor(self, cursor_class: type[SnowflakeCursor] = SnowflakeCursor) -> StageBridgeCursor:
        return StageBridgeCursor(self, duck_conn=self._duck_conn, use_dict_result=cursor_class == DictCursor)

    def commit(self) -> None:
        self._end_transaction("commit")

    def rollback(self) -> None:
        self._end_transaction("rollback")

    def _end_transaction(self, how: str) -> None:
        """The DB-API's commit() and rollback() straight on DuckDB. fakesnow runs them as the statements COMMIT and
        ROLLBACK: translated like any other, run, and a result made; SQLAlchemy calls one each time it returns a
        connection to its pool, so they were two thirds of a loader's statements. Outside a transaction both succeed,
        as in Snowflake (and fakesnow)."""
        with _ONE_STATEMENT_AT_A_TIME, self.ledger.measure(how):
            try:
                getattr(self._duck_conn, how)()
            except duckdb.TransactionException as error:
                if "no transaction is active" not in str(error):
                    raise
            self._in_transaction = False

    def close(self, retry: bool = True) -> None:
        # the session's temporary objects end with it (session_objects)
        if not self._is_closed:
            _drop(self._duck_conn, self.session_objects.end(self))
        super().close(retry)


class EmulatedSnowflake(FakeSnow):  # type: ignore[misc]
    """fakesnow's instance, persisting databases in `folder` and keeping the user stage in `folder/user-stage`; its
    DuckDB work is counted in `ledger`."""

    def __init__(self, folder: Path, ledger: Ledger | None = None) -> None:
        self.ledger = ledger if ledger is not None else Ledger()
        with self.ledger.measure(OPEN):
            super().__init__(db_path=folder)
            # One DuckDB thread: the emulator runs beside the tap and Meltano, one statement at a time, and most are
            # small, so a thread per core (DuckDB's default) cost more CPU than it saved (README.md, measured).
            self.duck_conn.execute(f"SET threads TO {DUCKDB_THREADS}")
        self.user_stage = UserStage(folder / USER_STAGE_FOLDER)
        self.session_objects = SessionObjects()

    def connect(
        self,
        database: str | None = None,
        schema: str | None = None,
        nop_regexes: list[str] | None = None,
        **kwargs: Any,
    ) -> EmulatedConnection:
        # Snowflake's session with a database and no schema uses the database's PUBLIC schema; fakesnow's would have
        # none, and its MERGE (a temporary table per statement) then fails unless that connection ran CREATE SCHEMA
        schema = schema or ("PUBLIC" if database else None)
        Path(self.db_path).mkdir(parents=True, exist_ok=True)  # on first use: `--about` leaves no folder behind

        def attempt() -> EmulatedConnection:
            # as FakeSnow.connect: a DuckDB cursor per connection isolates each connection's current schema
            with _ONE_STATEMENT_AT_A_TIME, self.ledger.measure(CONNECT):
                return EmulatedConnection(
                    self.duck_conn.cursor(),
                    self.results_cache,
                    database,
                    schema,
                    create_database=self.create_database_on_connect,
                    create_schema=self.create_schema_on_connect,
                    db_path=self.db_path,
                    nop_regexes=nop_regexes or self.nop_regexes,
                    user_stage=self.user_stage,
                    ledger=self.ledger,
                    session_objects=self.session_objects,
                    **kwargs,
                )

        # the database's file may be open in another process (a loader while a tap reads): wait for it (file_lock)
        return waiting_for_file(attempt)


def _not_about_transient_tables(record: logging.LogRecord) -> bool:
    """sqlglot warns "Unsupported property transientproperty" when fakesnow writes `CREATE TRANSIENT TABLE` (every
    dbt table model) for DuckDB, which has no transient tables: a plain table is what the emulator makes, and the
    warning has nothing for a user to act on. (A logging filter may be any callable.)"""
    return "transientproperty" not in record.getMessage()


@contextmanager
def emulated_snowflake(folder: Path, ledger: Ledger | None = None) -> Iterator[EmulatedSnowflake]:
    """Route `snowflake.connector.connect` to an emulated Snowflake persisted in `folder`, its work counted in
    `ledger` (a new one if not given: `emulator.ledger`)."""
    emulator = EmulatedSnowflake(folder, ledger)
    transient_warnings = _not_about_transient_tables
    logging.getLogger("sqlglot").addFilter(transient_warnings)
    try:
        with warnings.catch_warnings(), mock.patch("snowflake.connector.connect", side_effect=emulator.connect):
            # fakesnow 0.12.1 on DuckDB 2.0 warns on every result set; it says nothing to a user of the loader
            warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
            yield emulator
    finally:
        with emulator.ledger.measure(CLOSE):  # DuckDB checkpoints its log into the database file here
            # temporary objects of sessions never closed (a client that exited without closing its connection)
            _drop(emulator.duck_conn, emulator.session_objects.end_all())
            emulator.duck_conn.close()
        logging.getLogger("sqlglot").removeFilter(transient_warnings)


def _drop(duck_conn: Any, objects: list[SessionObject]) -> None:
    """Drop the temporary objects of an ending session (DuckDB reads a DROP of a qualified name as Snowflake does)."""
    if not objects:
        return
    with _ONE_STATEMENT_AT_A_TIME:
        for created in objects:
            try:
                duck_conn.execute(created.drop_statement())
            except duckdb.Error as error:  # gone with its schema or database: nothing is left to drop
                logger.debug("%s: %s", created.drop_statement(), error)
