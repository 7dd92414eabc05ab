"""Unchanged rows skip singer-sdk's per-record work (sdk_seams.UnchangedLinesFirst, UnchangedRowsFirst), in process:
what the reader hands on and counts, and which streams qualify. tests/target/test_target_memory.py runs the target
as a process over unchanged, changed and renamed streams and checks what it sent and counted."""

from __future__ import annotations

import io
import json
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_klaviyo.sdk_seams import UnchangedLinesFirst
from target_klaviyo.target import TargetKlaviyo


def lines(*messages: dict[str, t.Any]) -> io.StringIO:
    return io.StringIO("".join(json.dumps(message) + "\n" for message in messages))


def schema(stream: str = "people", key_properties: list[str] | None = None) -> dict[str, t.Any]:
    properties = {c: {"type": ["string", "null"]} for c in ("email", "plan")}
    return {"type": "SCHEMA", "stream": stream, "schema": {"properties": properties}, "key_properties": key_properties}


def record(email: str, plan: str = "basic", stream: str = "people") -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": {"email": email, "plan": plan}}


class Reading:
    """An UnchangedLinesFirst whose `people` rows are unchanged unless their plan is "gold"."""

    def __init__(self, key_properties: tuple[str, ...] = ()) -> None:
        self.reader = UnchangedLinesFirst()
        self.asked: list[str] = []
        self.counted: list[int] = []
        self.handed_on: list[tuple[str, str]] = []
        self.reader.skippers["people"] = (self.skip, self.counted.append, key_properties)

    def skip(self, row: dict[str, t.Any]) -> bool:
        self.asked.append(row["email"])
        return bool(row["plan"] != "gold")

    def callbacks(self) -> dict[str, t.Callable[[dict[str, t.Any]], None]]:
        def on(kind: str) -> t.Callable[[dict[str, t.Any]], None]:
            return lambda message: self.handed_on.append((kind, message.get("record", {}).get("email", "")))

        return {kind: on(kind) for kind in ("SCHEMA", "RECORD", "STATE")}

    def read(self, *messages: dict[str, t.Any]) -> t.Counter[str]:
        return self.reader.process_lines(lines(*messages), self.callbacks())


def test_skipped_rows_count_as_read_and_move_their_record_counter_once_a_run():
    reading = Reading()
    stats = reading.read(
        schema(),
        record("a@x.co"),
        record("b@x.co"),
        record("c@x.co", "gold"),
        {"type": "STATE", "value": {}},
        record("d@x.co"),
    )
    assert reading.asked == ["a@x.co", "b@x.co", "c@x.co", "d@x.co"]
    assert reading.handed_on == [("SCHEMA", ""), ("RECORD", "c@x.co"), ("STATE", "")]
    assert stats == {"SCHEMA": 1, "RECORD": 4, "STATE": 1}
    assert reading.counted == [2, 1]  # the run before the changed row, the run at the end


def test_a_long_run_of_skipped_rows_is_counted_as_it_goes():
    """So singer-sdk's drain of batches older than its limit, called with the count, is not held off by a long
    run of unchanged rows."""
    reading = Reading()
    reading.reader.COUNT_EVERY = 2
    reading.read(schema(), *(record(f"{n}@x.co") for n in range(5)))
    assert reading.counted == [2, 2, 1]


def test_rows_of_other_streams_and_rows_missing_a_key_property_are_handed_on_unasked():
    reading = Reading(key_properties=("email",))
    people_without_key = {"type": "RECORD", "stream": "people", "record": {"plan": "basic"}}
    stats = reading.read(schema(), record("a@x.co", stream="orders"), people_without_key, record("b@x.co"))
    assert reading.asked == ["b@x.co"]
    assert reading.handed_on == [("SCHEMA", ""), ("RECORD", "a@x.co"), ("RECORD", "")]
    assert stats["RECORD"] == 3
    assert reading.counted == [1]


def skippers_after(config: dict[str, t.Any], *messages: dict[str, t.Any]) -> set[str]:
    """The streams a preview (no key: nothing asked of Klaviyo) gave a skipper to."""
    target = TargetKlaviyo(
        config={"dry_run": True, "mappings": {"people": {"profile": {"email": "email"}}}, **config},
        validate_config=True,
    )
    target.listen(file_input=lines(schema(), *messages))
    reader = target.message_reader
    assert isinstance(reader, UnchangedLinesFirst)
    return set(reader.skippers)


def test_a_stream_whose_rows_reach_the_sink_as_sent_gets_a_skipper():
    assert skippers_after({}) == {"people"}


@pytest.mark.parametrize(
    "config",
    [
        {"add_record_metadata": True},  # the sink's rows carry columns added by singer-sdk
        {"flattening_enabled": True, "flattening_max_depth": 1},
        {"stream_maps": {"people": {"plan": "plan.upper()"}}},  # a row changed on its way
    ],
    ids=["metadata", "flattening", "stream-map"],
)
def test_a_stream_whose_rows_singer_sdk_changes_first_gets_none(config):
    assert skippers_after(config) == set()


def test_no_mapping_reads_a_column_singer_sdk_removes_from_a_row():
    """Why a skipped row, which keeps singer-sdk's metadata columns, is decided as the slow path decides it: the sink
    is built with a schema those columns are already removed from, so a mapping that names one is refused."""
    config = {"mappings": {"people": {"profile": {"email": "email", "properties": {"At": "_sdc_extracted_at"}}}}}
    extracted = {**schema(), "schema": {"properties": {"email": {}, "plan": {}, "_sdc_extracted_at": {}}}}
    target = TargetKlaviyo(config={"dry_run": True, **config}, validate_config=True)
    with pytest.raises(ConfigValidationError) as refused:
        target.listen(file_input=lines(extracted))
    assert "_sdc_extracted_at" in " ".join(refused.value.errors)
