"""KlaviyoSink: one input stream's rows, mapped and checked one by one, sent in bulk batches.

`process_record` maps a row to its event and/or profile payload (or writes it to the rejected rows with the
reason); `process_batch` cuts the batch into requests within the endpoints' limits and hands them to the
dispatcher, which sends them in the background. The target emits state only after the dispatcher has
flushed, so state never gets ahead of what Klaviyo accepted.
"""

from __future__ import annotations

import typing as t

import orjson
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from .bulk import MAX_ITEM_BYTES, Item, chunks
from .mapping import MappingError, RowMapper
from .rejects import RowRef
from .sdk_seams import RowsAsGiven
from .validate import Invalid

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from .target import TargetKlaviyo

# Row-number columns taps emit, looked for when `row_number_column` is not set.
ROW_NUMBER_COLUMNS = ("_sdc_row_number", "_sdc_source_lineno", "_sdc_row", "row_number")
FILE_COLUMN = "_sdc_source_file"  # tap-csv: the file a row came from
ROW_ERROR_COLUMN = "_sdc_row_error"  # tap-csv: what is wrong with a row it could not parse (ragged, bad bytes)


class KlaviyoSink(RowsAsGiven):
    """Rows of one stream into Klaviyo events and/or profiles, as the tap sent them (sdk_seams.RowsAsGiven)."""

    # Rows per SDK batch: ten full event requests, or one full profile job.
    MAX_SIZE_DEFAULT = 10_000
    target: TargetKlaviyo

    def __init__(
        self,
        target: TargetKlaviyo,
        stream_name: str,
        schema: dict[str, t.Any],
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.target = target
        columns = list(schema.get("properties") or {})
        configured = target.config.get("row_number_column")
        candidates = (configured,) if configured else ROW_NUMBER_COLUMNS
        self.row_column = next((c for c in candidates if c in columns), None)
        try:
            self.mapper = RowMapper(
                stream_name,
                target.mappings.for_stream(stream_name),
                target.checks,
                columns,
                metadata_columns=[self.row_column] if self.row_column else [],
            )
        except MappingError as exc:
            raise ConfigValidationError("Config validation failed", errors=[str(exc)]) from None
        mapping = self.mapper.mapping
        self.kinds: list[tuple[str, t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]]]] = []
        if mapping.event:
            self.kinds.append(("event", self.mapper.event))
        if mapping.profile:
            self.kinds.append(("profile", self.mapper.profile))
        self._rows = 0
        self.dry_run = target.dry_run
        self._shown: set[str] = set()

    # Rows are checked by validate.py, which rejects a bad row with its reason; the SDK's JSON-schema
    # validation and timestamp parsing would instead stop the run at the first bad row.
    @override
    def get_validator(self) -> None:
        return None

    def _row_number(self, record: t.Mapping[str, t.Any]) -> int:
        self._rows += 1
        if self.row_column is not None:
            try:
                return int(record[self.row_column])
            except (KeyError, TypeError, ValueError):
                pass
        return self._rows

    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        ref = RowRef(
            self.stream_name, self._row_number(record), self.mapper.identifier(record), record.get(FILE_COLUMN)
        )
        outcomes = self.target.outcomes
        row_error = record.get(ROW_ERROR_COLUMN)
        for kind, build in self.kinds:
            outcomes.read(self.stream_name, kind)
            try:
                if row_error:
                    raise Invalid(f"the tap could not read this row: {row_error}", "bad_csv_row")
                payload = build(record)
                # orjson's bytes keep its 4 KB working buffer: an exact copy makes a batch of 10,000 rows
                # take ~2 MB, not 40 MB.
                body = bytes(memoryview(orjson.dumps(payload)))
                if len(body) > MAX_ITEM_BYTES[kind]:
                    raise Invalid(
                        f"the {kind} is {len(body):,} bytes; Klaviyo accepts at most {MAX_ITEM_BYTES[kind]:,}",
                        "too_large",
                    )
            except Invalid as exc:
                outcomes.reject(ref, kind, exc.reason, exc.code)
                continue
            if self.dry_run and kind not in self._shown:
                self._shown.add(kind)
                self.logger.info(
                    "dry run: stream '%s' row %d as a %s: %s", self.stream_name, ref.row, kind, body.decode()
                )
            context.setdefault(kind, []).append(Item(ref, body))

    @override
    def process_batch(self, context: Context) -> None:
        dispatcher = self.target.dispatcher
        if dispatcher is None:  # dry run
            return
        for kind, _ in self.kinds:
            for batch in chunks(context.get(kind) or [], kind):
                dispatcher.submit(kind, self.stream_name, batch)
