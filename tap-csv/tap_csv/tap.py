"""TapCSV: CSV files (local, S3, any fsspec filesystem) as Singer streams, read row by row in flat memory."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from .definitions import CsvFormat, FileDefinition, file_definitions
from .errors import SettingError, UserError
from .output import BlockWriter
from .reader import CsvFileError, CsvReader
from .storage import FileStore
from .stream import METADATA_SCHEMA, CSVStream, EntityFile

BAD_ROWS = ["emit", "skip", "fail"]


class TapCSV(Tap):
    """Singer tap streaming CSV files (local, S3 or any fsspec URL) a row at a time, every bad row named."""

    name = "tap-csv"
    package_name = "tap-csv-stream"
    # msgspec encodes Singer messages several times faster than the default simplejson writer.
    message_writer_class = BlockWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "files",
            th.ArrayType(
                th.ObjectType(
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
                        default=CsvFormat.encoding,
                        description="Python codec name; utf-8-sig also strips a byte-order mark.",
                    ),
                )
            ),
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

    # TODO: drop when singer-sdk reports config errors without a traceback's worth of lines.
    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Private singer-sdk method, overridden because it is where config is checked: the SDK's check of the
        settings against `config_jsonschema`, failing as a SettingError (one line naming each setting), where the SDK
        logs them and then "Config validation failed" last."""
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as error:
            raise SettingError("; ".join(error.errors) or str(error)) from error

    @cached_property
    def file_store(self) -> FileStore:
        return FileStore(
            s3_endpoint_url=self.config.get("s3_endpoint_url"),
            s3_region=self.config.get("s3_region"),
            storage_options=self.config.get("storage_options"),
        )

    def discover_streams(self) -> list[CSVStream]:
        files: dict[str, dict[str, EntityFile]] = {}
        keys: dict[str, tuple[str, ...] | None] = {}
        for definition in file_definitions(self.config):
            entity_files = files.setdefault(definition.entity, {})
            keys[definition.entity] = keys.get(definition.entity) or definition.keys
            sources = self.file_store.expand(definition.path)
            if not sources:
                self.logger.warning("%s (entity %r) matches no file", definition.path, definition.entity)
            for source in sources:
                if source.url not in entity_files:  # a file two globs of one entity match is read once
                    entity_files[source.url] = EntityFile(
                        source, definition.csv_format, self._header(source.url, definition)
                    )
        for entity, entity_files in files.items():
            _check_keys(entity, keys[entity], entity_files.values())
        return [
            CSVStream(
                self,
                name=entity,
                files=list(entity_files.values()),
                keys=keys[entity],
                file_store=self.file_store,
                bad_rows=self.config.get("bad_rows", "emit"),
            )
            for entity, entity_files in files.items()
        ]

    def _header(self, url: str, definition: FileDefinition) -> tuple[str, ...]:
        with self.file_store.open(url) as binary, CsvReader(binary, definition.csv_format, url) as reader:
            header = tuple(reader.header)
        if not header:
            self.logger.warning("%s is empty: no header, no rows", url)
        clashes = [name for name in header if name in METADATA_SCHEMA]
        if clashes:
            raise CsvFileError(f"{url}: columns {clashes} clash with the tap's own columns; rename them")
        return header


def _check_keys(entity: str, keys: tuple[str, ...] | None, entity_files: t.Iterable[EntityFile]) -> None:
    for entity_file in entity_files:
        missing = [key for key in keys or () if key not in entity_file.header and key not in METADATA_SCHEMA]
        if missing and entity_file.header:
            raise CsvFileError(
                f"{entity_file.source.url}: no column {missing} for entity {entity!r}'s keys "
                f"{list(keys or ())}; columns are {list(entity_file.header)}"
            )


def main() -> None:
    """The `tap-csv` command: the SDK's, except that a user's error (`UserError`: a setting, a path, a file) ends the
    run with its message as one line and exit code 1. The SDK would log it with a traceback, burying the one line
    there is to act on; any other exception is a bug and keeps its traceback."""
    try:
        TapCSV.cli()
    except UserError as error:
        TapCSV.logger.error("%s", str(error).replace("\n", " "))
        sys.exit(1)


if __name__ == "__main__":
    main()
