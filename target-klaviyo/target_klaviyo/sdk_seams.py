"""Every use target-klaviyo makes of singer-sdk's private names, in one place, each with why.

singer-sdk's public extension points come first; what they cannot do is done here, and only here
(tests/seams/test_sdk_seams.py fails on a private singer-sdk name anywhere else in the plugin). Upgrading singer-sdk:
bump it, run tests/seams/ and tests/target/, and read this file against the new singer-sdk's `Target` and `Sink`.

The private names, and what each is for:
- `Target._write_state_message` (`StateAfterFlush`): state leaves the target only once the rows before it are sent;
- `Sink._validate_and_parse` (`RowsAsGiven`): rows reach the sink's mapping as the tap sent them;
- `Target._process_schema_message` and `Target._handle_max_record_age` (`UnchangedRowsFirst`), and singer-sdk's
  reader loop, with its `_current_message` and `_process_unknown_message` (`UnchangedLinesFirst`): a row the change
  memory finds unchanged is counted and dropped before singer-sdk's own work on a record, which costs more than the
  decision.
"""

from __future__ import annotations

import typing as t
from collections import Counter

from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import BatchSink
from typing_extensions import override

__all__ = ["RowsAsGiven", "SkipsUnchanged", "StateAfterFlush", "UnchangedRowsFirst"]


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


@t.runtime_checkable
class SkipsUnchanged(t.Protocol):
    def skip_unchanged(self, record: dict[str, t.Any]) -> bool:
        """True if the row is unchanged for every kind it maps to; False, having done nothing, otherwise."""

    def count_skipped(self, rows: int) -> None:
        """Count, as `process_record` would have, `rows` rows `skip_unchanged` said True of."""


Skip = t.Callable[[dict[str, t.Any]], bool]


# TODO: drop if singer-sdk lets a sink take a record before its per-record work (no upstream issue yet).
class UnchangedLinesFirst(MsgSpecReader):
    """singer-sdk's reader, offering each RECORD of a stream in `skippers` to that stream's sink before anything
    else is done with it. A re-run over an unchanged table otherwise spends most of its time in singer-sdk's work on
    a record: the reader's checks and `Target._process_record_message` (a copy of the row, the stream map, the batch
    context, the metadata columns, validation, counters, the batch's fullness), 8 us a row of the 13 the change
    memory's own decision leaves (bench/change_memory.py). A skipped row still counts, as `_process_record_message`
    counts it: in the lines read, and through its stream's `counted` (the sink's own counts, its tally and record
    counter, then singer-sdk's drain of batches older than its limit), called at the end of each run of skipped
    rows and every `COUNT_EVERY` rows within one. Nothing else that method does applies to a row that adds nothing
    to a batch: the sink has no validator, context or preprocessing of its own (sinks.py)."""

    COUNT_EVERY = 10_000

    def __init__(self) -> None:
        super().__init__()
        # stream -> (the sink's skip_unchanged, `counted`, the stream's key properties)
        self.skippers: dict[str, tuple[Skip, t.Callable[[int], None], tuple[str, ...]]] = {}

    @override
    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]]
    ) -> t.Counter[str]:
        """GenericSingerReader.process_lines, with a stream's RECORD offered to its skipper first."""
        stats: t.Counter[str] = Counter()
        skippers = self.skippers
        deserialize = self.deserialize_json
        every = self.COUNT_EVERY
        counter: t.Callable[[int], None] | None = None  # `counted` of the run of skipped rows
        skipped = 0  # rows in that run
        skipped_in_all = 0
        for line in file_input or self.default_input:
            message = deserialize(line)
            found = skippers.get(message.get("stream", "")) if message.get("type") == "RECORD" else None
            if found is not None:
                skip, count, key_properties = found
                record = message.get("record")
                if (
                    type(record) is dict
                    and (not key_properties or all(key in record for key in key_properties))
                    and skip(record)
                ):
                    if count is not counter:
                        if counter is not None:
                            counter(skipped)
                        counter, skipped = count, 0
                    skipped += 1
                    skipped_in_all += 1
                    if skipped == every:
                        counter(skipped)
                        skipped = 0
                    continue
            if counter is not None:
                counter(skipped)
                counter, skipped = None, 0
            self._current_message = line
            self.assert_line_requires(message, requires={"type"})
            message_type = message["type"]
            if callback := callbacks.get(message_type):
                callback(message)
            else:
                self._process_unknown_message(message)
            stats[message_type] += 1
        if counter is not None:
            counter(skipped)
        stats["RECORD"] += skipped_in_all
        return stats


class UnchangedRowsFirst(Target):
    """Gives `UnchangedLinesFirst` the sink of each stream whose rows would reach it as sent, if the sink
    `SkipsUnchanged`: the stream's one stream map the identity and not flattened, and no metadata columns added.
    The metadata columns singer-sdk removes from a row (`Sink._remove_sdc_metadata_from_record`) are removed from
    the schema a sink is built with too, so no mapping reads them and a skipped row, which keeps them, is decided
    the same. Rows without their key properties take singer-sdk's path (which stops the run for it)."""

    message_reader_class = UnchangedLinesFirst

    @override
    def _process_schema_message(self, message_dict: dict[str, t.Any]) -> None:
        super()._process_schema_message(message_dict)
        stream = message_dict["stream"]
        reader = self.message_reader
        assert isinstance(reader, UnchangedLinesFirst)
        reader.skippers.pop(stream, None)
        maps = self.mapper.stream_maps.get(stream, [])
        if len(maps) != 1 or type(maps[0]) is not SameRecordTransform or maps[0].stream_alias != stream:
            return
        if maps[0].flattening_enabled:
            return
        sink = self.get_sink(stream)
        if sink.include_sdc_metadata_properties or not isinstance(sink, SkipsUnchanged):
            return

        def counted(rows: int) -> None:
            sink.count_skipped(rows)
            sink.tally_record_read(rows)
            sink.record_counter_metric.increment(rows)
            self._handle_max_record_age()

        reader.skippers[stream] = (
            sink.skip_unchanged,
            counted,
            tuple(sink.key_properties or ()),
        )
