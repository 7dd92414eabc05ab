"""Recognise the statements of target-snowflake that fakesnow cannot run, and rewrite its staged reads for DuckDB.

fakesnow runs everything else. What it cannot run (measured with fakesnow 0.12.1 and target-snowflake 0.20.4) is:
- `PUT file://... '@~/target-snowflake/<id>'` (fakesnow's PUT knows named stages only),
- the staged read `SELECT $1:col::type ... FROM '@~/...' (FILE_FORMAT => ...)` inside MERGE and COPY,
- `REMOVE '@~/...'`,
- and, once those run, `DROP FILE FORMAT` (fakesnow creates file formats but cannot drop them).
The staged read is served by DuckDB's JSON reader: the stage reference becomes a subquery over the staged files with
one row per JSON line, `$1` becomes that row, and `SEQ8()` its position in the files (MERGE keeps the last row per
key by it). The rest of each statement is left as target-snowflake wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from fakesnow.dialect import parse_one
from snowflake.connector.errors import ProgrammingError
from sqlglot import exp

USER_STAGE = "@~"

# The staged row and its position, as columns of the subquery that replaces the stage reference.
ROW_COLUMN = "$1"
POSITION_COLUMN = "STAGE$ROW_NUMBER"  # not `$word`: fakesnow reads that as a session variable

_TARGET = r"(?P<target>'@~[^']*'|@~\S*)"
_OPTIONS = r"(?P<options>(?:\s+\w+\s*=\s*\S+)*)"
_PUT = re.compile(rf"^\s*put\s+(?P<source>'[^']*'|\S+)\s+{_TARGET}{_OPTIONS}\s*;?\s*$", re.IGNORECASE)
_REMOVE = re.compile(rf"^\s*(?:remove|rm)\s+{_TARGET}{_OPTIONS}\s*;?\s*$", re.IGNORECASE)
_DROP_FILE_FORMAT = re.compile(r"^\s*drop\s+file\s+format\s", re.IGNORECASE)
_OPTION = re.compile(r"(\w+)\s*=\s*(\S+)")


@dataclass(frozen=True)
class Put:
    source: str
    stage_path: str
    auto_compress: bool = True


@dataclass(frozen=True)
class Remove:
    stage_path: str


@dataclass(frozen=True)
class StagedRead:
    """One `FROM '@~/...'` in a statement: the stage path and the file format it names."""

    table: exp.Table
    stage_path: str
    file_format: str | None  # a file format's name
    file_type: str | None  # an inline TYPE (COPY's FILE_FORMAT = (TYPE = JSON))


def needs_bridge(statement: str) -> bool:
    """Whether the statement may be one fakesnow cannot run (a cheap test; every other one goes straight to it)."""
    return USER_STAGE in statement or bool(_DROP_FILE_FORMAT.match(statement))


def parse_put(statement: str) -> Put | None:
    if not (match := _PUT.match(statement)):
        return None
    # PARALLEL is accepted and has nothing to do: the copy is local
    options = _options(match["options"], allowed={"AUTO_COMPRESS", "PARALLEL"}, command="PUT")
    return Put(
        source=_unquote(match["source"]),
        stage_path=_stage_path(match["target"]),
        auto_compress=options.get("AUTO_COMPRESS", "TRUE") == "TRUE",
    )


def parse_remove(statement: str) -> Remove | None:
    if not (match := _REMOVE.match(statement)):
        return None
    _options(match["options"], allowed=set(), command="REMOVE")
    return Remove(stage_path=_stage_path(match["target"]))


def staged_reads(expression: exp.Expr) -> list[StagedRead]:
    """Every read from the user stage in a parsed statement."""
    reads = []
    for table in expression.find_all(exp.Table):
        if not (isinstance(table.this, exp.Literal) and table.this.is_string and table.name.startswith(USER_STAGE)):
            continue
        file_format, file_type = _copy_file_format(expression) if isinstance(expression, exp.Copy) else (None, None)
        if (named := table.args.get("format")) is not None:
            file_format = named.sql(dialect="snowflake")
        reads.append(StagedRead(table, _stage_path(table.name), file_format, file_type))
    return reads


def parse_drop_file_format(statement: str) -> exp.Drop | None:
    if not _DROP_FILE_FORMAT.match(statement):
        return None
    drop = parse_one(statement)
    return drop if isinstance(drop, exp.Drop) and str(drop.args.get("kind")).upper() == "FILE FORMAT" else None


def parse_staged(statement: str) -> tuple[exp.Expr, list[StagedRead]] | None:
    """The statement parsed with its user-stage reads, or None when it reads no user stage."""
    if USER_STAGE not in statement:
        return None
    expression = parse_one(statement)
    reads = staged_reads(expression)
    return (expression, reads) if reads else None


def serve_from_files(read: StagedRead, files: list[Path]) -> None:
    """Replace the stage reference with DuckDB's JSON reader over `files`, and `$1`/`SEQ8()` with its columns."""
    select = read.table.find_ancestor(exp.Select)
    if select is None:
        raise ProgrammingError(msg=f"'{read.table.name}' is read outside a SELECT", errno=1003, sqlstate="0A000")
    for node in list(select.find_all(exp.Parameter, exp.Seq8)):
        if node.find_ancestor(exp.Select) is not select:
            continue  # a nested query's own $1
        if isinstance(node, exp.Seq8):
            node.replace(exp.column(POSITION_COLUMN, quoted=True))
        elif node.name == "1":
            node.replace(exp.column(ROW_COLUMN, quoted=True))
        else:
            raise ProgrammingError(
                msg=f"A JSON file has only $1; {node.sql(dialect='snowflake')} was read from '{read.table.name}'",
                errno=2141,
                sqlstate="42000",
            )
    read.table.replace(json_rows(files))
    if select.args.get("qualify"):
        _qualify_over_projection(select)


def _qualify_over_projection(select: exp.Select) -> None:
    """Apply QUALIFY to the projected rows rather than next to the projection.

    Snowflake resolves `PARTITION BY id` in target-snowflake's QUALIFY to the select's alias `id`. DuckDB looks
    for a column first, and inside MERGE ... USING it finds the target table's `d.id` and fails (a LATERAL
    reference in a FULL JOIN). Over a derived table the aliases are plain columns, so both read the same.
    """
    # the aliases as written (quoted or not), so Snowflake's case rules apply to them unchanged
    names = [projection.args.get("alias") or projection.this for projection in select.expressions]
    if not all(isinstance(name, exp.Identifier) for name in names):
        raise ProgrammingError(
            msg="snowflake-emulator needs every column of a staged read with QUALIFY to be named",
            errno=1003,
            sqlstate="0A000",
        )
    qualify = select.args["qualify"]
    inner = select.copy()
    inner.set("qualify", None)
    inner.select(exp.column(POSITION_COLUMN, quoted=True), copy=False)
    outer = exp.select(*(exp.column(name.copy()) for name in names)).from_(inner.subquery(copy=False))
    outer.set("qualify", qualify)
    select.replace(outer)


def json_rows(files: list[Path]) -> exp.Subquery:
    """The staged rows: each JSON line as `$1`, numbered across the files in order."""
    if files:
        paths = ", ".join(exp.Literal.string(str(path)).sql(dialect="duckdb") for path in files)
        # DuckDB's own full name for its reader: fakesnow asks for a current schema for any unqualified table, and
        # Snowflake needs none to read a stage
        source = f"system.main.read_json_objects([{paths}], format = 'newline_delimited') WITH ORDINALITY"
        columns = f'json AS "{ROW_COLUMN}", ordinality AS "{POSITION_COLUMN}"'
        query = sqlglot.parse_one(f"SELECT {columns} FROM {source}", read="duckdb")
    else:  # an empty stage path reads no rows, as in Snowflake
        columns = f'CAST(NULL AS JSON) AS "{ROW_COLUMN}", CAST(NULL AS BIGINT) AS "{POSITION_COLUMN}"'
        query = sqlglot.parse_one(f"SELECT {columns} LIMIT 0", read="duckdb")
    return exp.paren(query, copy=False)


def copy_as_insert(copy: exp.Copy) -> exp.Insert:
    """COPY INTO t (cols) FROM (SELECT ...) as INSERT INTO t (cols) SELECT ..., once its staged read is served."""
    source = copy.args["files"][0]
    if not isinstance(source, exp.Subquery):
        raise ProgrammingError(
            msg="snowflake-emulator copies from the user stage with a transformation only: FROM (SELECT ...)",
            errno=1003,
            sqlstate="0A000",
        )
    return exp.Insert(this=copy.this, expression=source.this)


def _copy_file_format(copy: exp.Copy) -> tuple[str | None, str | None]:
    for param in copy.args.get("params") or []:
        if param.name.upper() != "FILE_FORMAT":
            continue
        for option in param.expressions:
            key = option.name.upper()
            value = option.args.get("value")
            text = value.name if isinstance(value, exp.Literal | exp.Var | exp.Identifier) else str(value)
            if key == "FORMAT_NAME":
                return text, None
            if key == "TYPE":
                return None, text.upper()
    return None, None


def _options(text: str, *, allowed: set[str], command: str) -> dict[str, str]:
    options = {key.upper(): _unquote(value).upper() for key, value in _OPTION.findall(text or "")}
    if unknown := sorted(set(options) - allowed):
        raise ProgrammingError(
            msg=f"snowflake-emulator does not support {command} option(s) {', '.join(unknown)}",
            errno=1003,
            sqlstate="0A000",
        )
    return options


def _stage_path(target: str) -> str:
    return _unquote(target).removeprefix(USER_STAGE).lstrip("/")


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'") if len(text) >= 2 and text[0] == text[-1] == "'" else text
