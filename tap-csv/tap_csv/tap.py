"""TapCSV: CSV files (local, S3, any fsspec filesystem) as Singer streams, read row by row in flat memory."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

from typing_extensions import override

from tap_support import BufferedSingerWriter

from .definitions import FileDefinition, file_definitions
from .errors import SettingError, UserError
from .reader import CsvFileError, CsvReader
from .sdk_seams import ConfigErrorsInOneLine
from .settings import CONFIG_SCHEMA, CsvSettings, csv_settings
from .storage import FileStore
from .stream import METADATA_SCHEMA, CSVStream, EntityFile


class TapCSV(ConfigErrorsInOneLine):
    """Singer tap streaming CSV files (local, S3 or any fsspec URL) a row at a time, every bad row named."""

    name = "tap-csv"
    package_name = "tap-csv-stream"
    # msgspec encodes Singer messages several times faster than the default simplejson writer, and records go out
    # in chunks rather than a system call each.
    message_writer_class = BufferedSingerWriter

    config_jsonschema = CONFIG_SCHEMA

    @cached_property
    def settings(self) -> CsvSettings:
        return csv_settings(self.config)

    @override
    def config_error(self, errors: list[str]) -> Exception:
        return SettingError("; ".join(errors))

    @cached_property
    def file_store(self) -> FileStore:
        settings = self.settings
        return FileStore(
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            storage_options=settings.storage_options,
        )

    @override
    def discover_streams(self) -> list[CSVStream]:
        files: dict[str, dict[str, EntityFile]] = {}
        keys: dict[str, tuple[str, ...] | None] = {}
        for definition in file_definitions(self.settings):
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
                bad_rows=self.settings.bad_rows,
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
