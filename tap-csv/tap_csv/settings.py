"""tap-csv's settings: every one declared once, with its default, in `CONFIG_SCHEMA` (what `--about` and Meltano read),
and read as one typed object, `CsvSettings` (tap_support.read_settings takes the defaults from the schema). An entry of
`files` (or of the file `csv_files_definition` names) takes its defaults from `FILE_ENTRY` (definitions.py).
"""

from __future__ import annotations

import typing as t

import msgspec
from singer_sdk import typing as th

from tap_support import read_settings, schema_defaults

from .errors import SettingError

BAD_ROWS = ["emit", "skip", "fail"]

FILE_ENTRY = th.ObjectType(
    th.Property(
        "entity",
        th.StringType,
        required=True,
        description="Stream name; entries with the same entity feed one stream.",
    ),
    th.Property(
        "path",
        th.StringType,
        required=True,
        description="A file, a glob (`data/orders_*.csv`, `**` for sub-folders), "
        "`s3://bucket/key` (globs too) or another fsspec URL.",
    ),
    th.Property(
        "keys",
        th.ArrayType(th.StringType),
        description="Primary key columns (default: _sdc_source_file, _sdc_row_number).",
    ),
    th.Property("delimiter", th.StringType, default=",", description="One character; `\\t` for tabs."),
    th.Property("quotechar", th.StringType, default='"', description="One character."),
    th.Property(
        "encoding",
        th.StringType,
        # utf-8-sig reads plain UTF-8 too, and strips the byte-order mark spreadsheet programs put first.
        default="utf-8-sig",
        description="Python codec name; utf-8-sig also strips a byte-order mark.",
    ),
)
#: the defaults of an entry of `files`: delimiter, quotechar, encoding
FILE_DEFAULTS: dict[str, t.Any] = schema_defaults(FILE_ENTRY.to_dict())

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "files",
        th.ArrayType(FILE_ENTRY),
        description="CSV files to read: [{entity, path, keys, delimiter, quotechar, encoding}].",
    ),
    th.Property(
        "csv_files_definition",
        th.StringType,
        description="Path of a JSON file holding the `files` list (instead of `files`).",
    ),
    th.Property(
        "bad_rows",
        th.StringType,
        default="emit",
        allowed_values=BAD_ROWS,
        description="A row with more or fewer fields than the header, undecodable bytes or bad quoting: "
        "`emit` it with `_sdc_row_error` saying what is wrong, `skip` it (logged), or "
        "`fail` the run.",
    ),
    th.Property(
        "s3_endpoint_url", th.StringType, description="S3 endpoint for s3:// paths, e.g. a local S3; empty for AWS."
    ),
    th.Property("s3_region", th.StringType, description="AWS region of the buckets."),
    th.Property(
        "storage_options",
        th.ObjectType(additional_properties=th.ObjectType()),
        secret=True,
        description="fsspec filesystem options by protocol, e.g. "
        '{"sftp": {"host": "...", "username": "...", "password": "..."}}.',
    ),
).to_dict()


class CsvSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The settings a run reads, typed; a field with a default here is one the schema leaves unset (None).
    `files` stays as given: definitions.py checks each entry and names the one that is wrong."""

    files: t.Any = None
    csv_files_definition: str | None = None
    bad_rows: str
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    storage_options: dict[str, dict[str, t.Any]] | None = None


def csv_settings(config: t.Mapping[str, t.Any]) -> CsvSettings:
    return read_settings(config, CONFIG_SCHEMA, CsvSettings, SettingError)
