"""Every use tap-csv makes of singer-sdk's private names, in one place, each with why.

singer-sdk's public extension points come first; what they cannot do is done here, and only here
(tests/seams/test_sdk_seams.py fails on a private singer-sdk name anywhere else in the plugin). Upgrading singer-sdk:
bump it, run tests/seams/ and tests/csv/, and read this file against the new singer-sdk's `Tap` and `Stream`.

The private names, and what each is for:
- `Stream._generate_record_messages` and `Stream._stream_version` (`PopsDeselectedColumns`): the RECORD messages of
  flat rows, without singer-sdk's per-record walk of the selection mask;
- `Tap._validate_config` (`ConfigErrorsInOneLine`): the settings' errors as one exception, one line.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

__all__ = ["ConfigErrorsInOneLine", "PopsDeselectedColumns"]


# TODO: drop when singer-sdk skips its per-record selection walk for flat records (no upstream issue yet).
class PopsDeselectedColumns(Stream):
    """singer-sdk walks every property of every record through the selection mask (measured: a sixth of this tap's
    CPU). CSV records are flat, so popping the deselected columns (`deselected_columns`) by name does the same. Types
    need no conforming (the stream's TYPE_CONFORMANCE_LEVEL), so what is left is the stream maps. (tap-klaviyo writes
    whole pages instead: tap_klaviyo/record_lines.py.)"""

    @property
    def deselected_columns(self) -> tuple[str, ...]:
        raise NotImplementedError

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> t.Generator[RecordMessage, None, None]:
        for name in self.deselected_columns:
            record.pop(name, None)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.now(UTC),
                )


# TODO: drop when singer-sdk reports config errors without a traceback's worth of lines (no upstream issue yet).
class ConfigErrorsInOneLine(Tap):
    """`_validate_config` is where singer-sdk checks the settings against `config_jsonschema`; it logs each error and
    then "Config validation failed" last. Here they fail as one exception (`config_error`), one line naming each
    setting."""

    def config_error(self, errors: list[str]) -> Exception:
        raise NotImplementedError

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as error:
            raise self.config_error(error.errors or [str(error)]) from error
