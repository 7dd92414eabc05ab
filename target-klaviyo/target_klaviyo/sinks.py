"""KlaviyoSink: one input stream's rows, checked against the change memory, mapped one by one, sent in bulk.

`process_record` decides, for each kind the stream maps to (kinds.py), whether the row changed since Klaviyo last
accepted it (changes.py): an unchanged row is counted and goes no further, a changed or new one is mapped to its
payload (or written to the rejected rows with the reason). `process_batch` cuts what changed into requests within
each route's limits and hands the full ones to the dispatcher, which sends them in the background; a request not
full yet waits for the next batch's rows (300 changed rows spread over a 2,000,000-row table make one import job,
not 200), until the target emits state or the stream ends (`submit_pending`). The target emits state only after
that and after the dispatcher has flushed, so state never gets ahead of what Klaviyo accepted.
"""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from .bulk import Item, chunks
from .changes import Decision
from .kinds import Kind, MemoryInputs
from .mapping import MappingError, RowMapper
from .rejects import RowRef
from .routes import Route
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
    """Rows of one stream into Klaviyo events, profiles, list members and consent."""

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
        configured = target.settings.row_number_column
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
        target.prepare()  # before the stream's first row: the account's memory, the lists checked
        mapping = self.mapper.mapping
        names = [name for name, part in (("event", mapping.event), ("profile", mapping.profile)) if part]
        if mapping.members:
            names.append("list")
        if mapping.consent:
            names += [f"{channel}_consent" for channel in mapping.consent.channels]
        self.kinds = [
            Kind(stream_name, name, self.mapper, target.outcomes, target.memory, target.payload_settings)
            for name in names
        ]
        self.mirrors = [(kind, target.completeness(kind)) for kind in self.kinds if kind.mirror]
        # skip_unchanged's view of the kinds: (kind, its name, consent (taken only where its cell is filled), event)
        self._memory_plan = [(kind, kind.kind, kind.channel is not None, kind.kind == "event") for kind in self.kinds]
        # The kinds every row maps to: a skipped row is counted unchanged for each, per run (count_skipped).
        self._every_row_kinds = [kind.kind for kind in self.kinds if kind.channel is None]
        # Rows queued for a request that is not full yet, per kind and route.
        self._pending: dict[tuple[str, Route], list[Item]] = {}
        target.sinks_made.append(self)
        self._rows = 0
        self.dry_run = target.settings.dry_run
        self._shown: set[str] = set()
        self._stash: tuple[dict[str, t.Any], dict[str, MemoryInputs]] | None = None

    # Rows are checked by validate.py, which rejects a bad row with its reason; the SDK's JSON-schema
    # validation and timestamp parsing would instead stop the run at the first bad row.
    @override
    def get_validator(self) -> None:
        return None

    def _row_number(self, record: t.Mapping[str, t.Any]) -> int:
        if self.row_column is not None:
            try:
                return int(record[self.row_column])
            except (KeyError, TypeError, ValueError):
                pass
        return self._rows

    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        self._rows += 1
        seq, row, file = self._rows, self._row_number(record), record.get(FILE_COLUMN)
        for _, completeness in self.mirrors:
            completeness.saw(file, row if self.row_column is not None else None)
        row_error = record.get(ROW_ERROR_COLUMN)
        outcomes = self.target.outcomes
        stream = self.stream_name
        # What skip_unchanged worked out for this row, if it was asked first and said no.
        stash, self._stash = self._stash, None
        known = stash[1] if stash is not None and stash[0] == record else {}
        for kind in self.kinds:
            if not row_error and not kind.applies(record):
                continue
            outcomes.read(stream, kind.kind)
            key_text, key, fp = known.get(kind.kind) or kind.memory_inputs(record)
            if kind.mirror and key is not None:
                # A member's row, even one rejected below: its member stays (only a row that is gone leaves).
                kind.changes.seen(key)
            if row_error:
                ref = RowRef(stream, row, kind.reject_key(record, key_text), file)
                outcomes.reject(ref, kind.kind, f"the tap could not read this row: {row_error}", "bad_csv_row")
                continue
            if key is None:
                # An event without a unique_id column is keyed by its content; any other row without a key is new
                # (and rejected below for it).
                key = fp
                decision = kind.changes.decide(key, fp) if kind.kind == "event" else Decision.CREATED
            else:
                decision = kind.changes.decide(key, fp)
            if decision is Decision.UNCHANGED:
                outcomes.decided(stream, kind.kind, decision, preview=self.dry_run)
                continue
            ref = RowRef(stream, row, kind.reject_key(record, key_text), file)
            try:
                route, payload, identity = kind.build(record)
                body = kind.serialize(payload)
                if len(body) > route.max_item_bytes:
                    raise Invalid(
                        f"the {kind.kind} is {len(body):,} bytes; Klaviyo accepts at most {route.max_item_bytes:,}",
                        "too_large",
                    )
            except Invalid as exc:
                outcomes.reject(ref, kind.kind, exc.reason, exc.code)
                continue
            outcomes.decided(stream, kind.kind, decision, preview=self.dry_run)
            if self.dry_run:
                if kind.kind not in self._shown:
                    self._shown.add(kind.kind)
                    self.logger.info("dry run: stream '%s' row %d as a %s: %s", stream, row, kind.kind, body.decode())
                continue
            item = Item(ref, body, seq, key, fp, decision is Decision.CREATED, identity)
            context.setdefault(kind.kind, {}).setdefault(route, []).append(item)

    def skip_unchanged(self, record: dict[str, t.Any]) -> bool:
        """Asked before singer-sdk's work on a row (sdk_seams.UnchangedRowsFirst): True if every kind the row maps to
        finds it unchanged (counted then by `count_skipped`, with the run of rows it is in); False, having done
        nothing, if a kind would send or reject it (`process_record` then takes the row, and what was worked out
        here)."""
        if record.get(ROW_ERROR_COLUMN):
            return False
        found: list[tuple[str, MemoryInputs]] = []
        for kind, name, consent, event in self._memory_plan:
            if consent and not kind.applies(record):
                continue
            inputs = kind.memory_inputs(record)
            found.append((name, inputs))
            # An event without a unique_id is keyed by its content, as in process_record (where another kind's row
            # without a key is rejected).
            key = inputs[2] if inputs[1] is None and event else inputs[1]
            if key is None or not kind.changes.unchanged(key, inputs[2]):
                self._stash = (record, dict(found))
                return False
        self._rows += 1
        if self.mirrors:
            row = self._row_number(record) if self.row_column is not None else None
            inputs_of = dict(found)
            for kind, completeness in self.mirrors:
                completeness.saw(record.get(FILE_COLUMN), row)
                key = inputs_of[kind.kind][1] if kind.kind in inputs_of else None
                if key is not None:
                    kind.changes.seen(key)
        if len(found) > len(self._every_row_kinds):  # a consent kind took the row: counted here, row by row
            outcomes, stream = self.target.outcomes, self.stream_name
            for name, _ in found:
                if name not in self._every_row_kinds:
                    outcomes.unchanged(stream, name)
        return True

    def count_skipped(self, rows: int) -> None:
        """Count `rows` rows skip_unchanged skipped, read and unchanged for every kind each row maps to."""
        outcomes, stream = self.target.outcomes, self.stream_name
        for name in self._every_row_kinds:
            outcomes.unchanged(stream, name, rows)

    @override
    def process_batch(self, context: Context) -> None:
        for kind in self.kinds:
            routes: dict[Route, list[Item]] = context.get(kind.kind) or {}
            for route, items in routes.items():
                self._pending.setdefault((kind.kind, route), []).extend(items)
        self._submit(whole=False)

    def submit_pending(self) -> None:
        """Send every row queued, full requests or not (before state is emitted, and when the stream ends)."""
        self._submit(whole=True)

    @override
    def clean_up(self) -> None:
        self.submit_pending()
        super().clean_up()

    def _submit(self, *, whole: bool) -> None:
        dispatcher = self.target.dispatcher
        if dispatcher is None:  # dry run
            self._pending.clear()
            return
        kinds = {kind.kind: kind for kind in self.kinds}
        for (name, route), items in list(self._pending.items()):
            batches = chunks(items, route)
            last = batches[-1] if batches else []
            keep = [] if whole or len(last) >= route.max_items else last
            for batch in batches:
                if batch is not keep:
                    dispatcher.submit(route, kinds[name], batch)
            if keep:
                self._pending[(name, route)] = keep
            else:
                del self._pending[(name, route)]
