"""Which files feed which stream: the `files` setting, or the JSON file `csv_files_definition` names."""

from __future__ import annotations

import codecs
import json
import re
import typing as t
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingError
from .settings import FILE_DEFAULTS

if t.TYPE_CHECKING:
    from .settings import CsvSettings

# Written escaped by people and environment variables alike: "\t" arrives as a backslash and a "t".
ESCAPED_DELIMITERS = {"\\t": "\t", "tab": "\t"}
# sftp://user:password@host/...: a path travels in records, state and logs, so it must carry no password.
PASSWORD_IN_URL = re.compile(r"^[\w+.-]+://[^/@]*:[^/@]*@")


@dataclass(frozen=True)
class CsvFormat:
    """How a file is parsed: an entry's delimiter, quotechar and encoding (their defaults: settings.FILE_ENTRY)."""

    delimiter: str
    quotechar: str
    encoding: str


@dataclass(frozen=True)
class FileDefinition:
    """One entry of `files`: a path (a file, a glob, or a URL) feeding the stream `entity`."""

    entity: str
    path: str
    csv_format: CsvFormat
    keys: tuple[str, ...] | None = None


def file_definitions(settings: CsvSettings) -> list[FileDefinition]:
    """The entries of `files`, or of the JSON file `csv_files_definition`, checked."""
    entries = settings.files
    setting = "files"
    if not entries and settings.csv_files_definition:
        setting = "csv_files_definition"
        entries = _load_definition_file(settings.csv_files_definition)
    if not entries:
        raise SettingError(
            "No CSV files configured: set `files` (a list of {entity, path, keys, delimiter, quotechar, encoding}) "
            "or `csv_files_definition` (the path of a JSON file holding that list)."
        )
    if not isinstance(entries, list):
        raise SettingError(f"`{setting}` must be a list of objects.")
    definitions = [_definition(entry, f"{setting}[{index}]") for index, entry in enumerate(entries)]
    _check_keys_agree(definitions)
    return definitions


def _load_definition_file(path: str) -> t.Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingError(f"csv_files_definition {path!r}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SettingError(f"csv_files_definition {path!r} is not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise SettingError(f"csv_files_definition {path!r} is not JSON: {exc}") from exc


def _definition(entry: t.Any, where: str) -> FileDefinition:
    if not isinstance(entry, dict):
        raise SettingError(f"{where} must be an object, got {entry!r}.")
    problems = [
        f"{where}.{name} is required (a non-empty string)."
        for name in ("entity", "path")
        if not isinstance(entry.get(name), str) or not entry[name].strip()
    ]
    if isinstance(entry.get("path"), str) and PASSWORD_IN_URL.match(entry["path"]):
        problems.append(
            f"{where}.path has a password in it: give it in `storage_options` (kept secret), as paths "
            "appear in records, state and logs."
        )
    keys = entry.get("keys")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys)):
        problems.append(f"{where}.keys must be a list of column names.")
    given: str = entry.get("delimiter") or FILE_DEFAULTS["delimiter"]
    delimiter = ESCAPED_DELIMITERS.get(given, given)
    quotechar: str = entry.get("quotechar") or FILE_DEFAULTS["quotechar"]
    problems += [
        f"{where}.{name} must be one character, got {value!r}."
        for name, value in (("delimiter", delimiter), ("quotechar", quotechar))
        if len(value) != 1
    ]
    encoding: str = entry.get("encoding") or FILE_DEFAULTS["encoding"]
    try:
        codecs.lookup(encoding)
    except LookupError:
        problems.append(f"{where}.encoding {encoding!r} is not an encoding Python knows (e.g. utf-8-sig, latin-1).")
    if problems:
        raise SettingError(" ".join(problems))
    return FileDefinition(
        entity=entry["entity"],
        path=entry["path"],
        keys=tuple(keys) if keys is not None else None,
        csv_format=CsvFormat(delimiter=delimiter, quotechar=quotechar, encoding=encoding),
    )


def _check_keys_agree(definitions: list[FileDefinition]) -> None:
    """Entries naming the same entity feed one stream, which has one set of primary keys."""
    keys_by_entity: dict[str, tuple[str, ...]] = {}
    for definition in definitions:
        if definition.keys is None:
            continue
        known = keys_by_entity.setdefault(definition.entity, definition.keys)
        if known != definition.keys:
            raise SettingError(
                f"Entity {definition.entity!r} is given keys {list(known)} and {list(definition.keys)}: "
                "entries of one entity must agree."
            )
