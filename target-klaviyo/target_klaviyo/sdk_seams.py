"""Every use target-klaviyo makes of singer-sdk's private names, in one place, each with why.

singer-sdk's public extension points come first; what they cannot do is done here, and only here
(tests/seams/test_sdk_seams.py fails on a private singer-sdk name anywhere else in the plugin). Upgrading singer-sdk:
bump it, run tests/seams/ and tests/target/, and read this file against the new singer-sdk's `Target` and `Sink`.

The private names, and what each is for:
- `Target._write_state_message` (`StateAfterFlush`): state leaves the target only once the rows before it are sent;
- `Sink._validate_and_parse` (`RowsAsGiven`): rows reach the sink's mapping as the tap sent them.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Target
from singer_sdk.sinks import BatchSink
from typing_extensions import override

__all__ = ["RowsAsGiven", "StateAfterFlush"]


# TODO: drop if singer-sdk gives targets a hook before state is emitted (no upstream issue yet).
class StateAfterFlush(Target):
    """`_write_state_message` is the one place state leaves a target: `before_state` runs first, so a state never
    passes rows still in flight (the bulk threads)."""

    def before_state(self) -> None:
        """What must be done before a state is emitted."""

    @override
    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        self.before_state()
        super()._write_state_message(state)


# TODO: drop if singer-sdk lets a sink turn off its date-time parsing (no upstream issue yet).
class RowsAsGiven(BatchSink):
    """Checking values is this target's own job (validate.py reads times in the row's own formats and rejects a bad
    row with its reason); singer-sdk's `_validate_and_parse` would parse every date-time column first and turn a bad
    one into None, or an error for the whole run."""

    @override
    def _validate_and_parse(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        return record
