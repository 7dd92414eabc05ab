"""Every use tap-klaviyo makes of singer-sdk's private names, in one place, each with why.

singer-sdk's public extension points come first (partitions, paginators, `request_decorator`, `get_batches`,
`load_streams`); what they cannot do is done here, and only here (tests/seams/test_sdk_seams.py fails on a private
singer-sdk name anywhere else in the plugin). Upgrading singer-sdk: bump it, run tests/seams/ and tests/tap/, and
read this file against the new singer-sdk's `Tap`, `Stream` and `streams/_state.py`.

The private names, and what each is for:
- `helpers._batch.BatchConfig`, `BaseBatchFileEncoding`: the types of `batch_config`, which singer-sdk's public
  `get_batch_config` and `get_batches` take and return but exports nowhere else;
- `Stream._stream_version`: the version on every RECORD of a stream that marks deletions (`set_record_version`);
- `Stream._write_record_message`: singer-sdk's per-record messages (stream maps, deselection), for the pages that
  cannot take the fast path (`write_records`);
- `Stream._write_starting_replication_value`, `Stream._write_state_message`, `state_manager.is_flushed` (the private
  `streams/_state.py`): the state bookkeeping of the page loop, which emits pages rather than records
  (`start_partition_state`, `mark_state_changed`, `write_state`);
- `Stream._sync_records` (`SyncsPages`): the page loop in place of singer-sdk's per-record loop;
- `Stream._increment_stream_state` (`BookmarkSetByStream`): report series move their own bookmark;
- `Tap._validate_config` (`ChecksConfigInOneLine`): formats singer-sdk does not check, and one line for them all;
- `Tap.invoke` through `super(Tap, cls)` and `_ConfigInput`'s attributes (`RunsInsteadOfSyncAll`): `run()` in
  place of `sync_all()`, which is final in singer-sdk;
- `Tap.streams` reordered in place (`SyncsInItsOwnOrder`): singer-sdk syncs the streams in the order of its own
  dict, which `load_streams` (final) sorts by name.

Not a private name, but singer-sdk's wording all the same: `OtherGroupsNotLogged` matches the line `sync_all` logs for
each stream it skips.
"""

from __future__ import annotations

import json
import logging
import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

__all__ = [
    "BaseBatchFileEncoding",
    "BatchConfig",
    "BookmarkSetByStream",
    "ChecksConfigInOneLine",
    "OtherGroupsNotLogged",
    "RunsInsteadOfSyncAll",
    "SyncsInItsOwnOrder",
    "SyncsPages",
    "mark_state_changed",
    "set_record_version",
    "start_partition_state",
    "write_records",
    "write_state",
]


# ---- streams ----------------------------------------------------------------------------------------------------
# TODO: drop when singer-sdk stamps a version on incremental streams' records (no upstream issue yet).
def set_record_version(stream: Stream, version: int | None) -> None:
    """The `version` of every RECORD the stream sends (and batch rows' `_sdc_table_version`, versions.py).

    singer-sdk sets `_stream_version` only for FULL_TABLE streams that send ACTIVATE_VERSION when they start, which
    these do not: they send it at the end of a run that covered every account."""
    stream._stream_version = version


def write_records(stream: Stream, record: Record) -> None:
    """One row through singer-sdk's own per-record messages: its stream maps and deselection, written by the tap."""
    stream._write_record_message(record)


def start_partition_state(stream: Stream, context: Context) -> None:
    """What singer-sdk does when a partition starts: its starting bookmark (the state's, or start_date) noted."""
    stream._write_starting_replication_value(context)


def mark_state_changed(stream: Stream) -> None:
    """The stream's state changed outside singer-sdk's record loop: the next `write_state` sends it."""
    stream.state_manager.is_flushed = False


def write_state(stream: Stream) -> None:
    """A STATE message with the tap's state, unless nothing changed since the last one."""
    stream._write_state_message()


# TODO: drop when singer-sdk can emit a page of records at once (no upstream issue yet).
class SyncsPages(Stream):
    """`sync_pages` in place of singer-sdk's per-record loop, which was most of the tap's CPU on events (measured:
    bench/tap_throughput.py). Only singer-sdk's own `get_batches` asks for records without messages (its default
    batch path); the streams here write their own batch files, so that path is singer-sdk's."""

    def sync_pages(self, context: Context | None) -> None:
        raise NotImplementedError

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict[str, t.Any], t.Any, t.Any]:
        if not write_messages:
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        self.sync_pages(context)


# TODO: drop if singer-sdk lets a stream set its own bookmark without progress markers (no upstream issue yet).
class BookmarkSetByStream(Stream):
    """A stream that moves its bookmark itself (report series: to the last day of the last timeframe emitted in
    full), where singer-sdk would promote the highest replication key among the rows at the end of the partition:
    rows come grouped by message, not in day order."""

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        return


# TODO: drop if singer-sdk lets a tap sync some streams without a line for each of the others (no upstream issue yet).
class OtherGroupsNotLogged(logging.Filter):
    """In a process started for one group of an account's streams (fanout.py), `sync_all` would log "Skipping
    deselected stream" for every stream it does not read: the other groups' (176 of a 2-account run's 1,318 lines,
    growing as accounts x groups x streams) and those the catalog leaves out, in every such process. The parent has
    logged the groups, which name every stream read, so this filter drops all of these lines there."""

    # singer-sdk 0.54's wording (tap_base.py, Tap.sync_all)
    SKIPPED = "Skipping deselected stream '%s'."

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.SKIPPED


# ---- the tap ----------------------------------------------------------------------------------------------------
# TODO: drop when singer-sdk validates JSON Schema formats (https://github.com/meltano/sdk/issues/1451).
class ChecksConfigInOneLine(Tap):
    """singer-sdk checks settings' types, not their formats (a mistyped start_date would surface mid-sync), and
    logs each error on a line of its own: `config_errors` adds the tap's checks, and `config_error` makes of every
    error one exception, which ends the run as one line. `_validate_config` is the only place config is checked
    before a run."""

    def config_errors(self, config: t.Mapping[str, t.Any]) -> list[str]:
        return []

    def config_error(self, errors: list[str]) -> Exception:
        raise NotImplementedError

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=False)
        errors += self.config_errors(self.config)
        if errors and raise_errors:
            raise self.config_error(errors)
        return errors


# TODO: drop if singer-sdk's Tap.invoke calls an overridable method instead of the final sync_all (no upstream
# issue yet).
class RunsInsteadOfSyncAll(Tap):
    """singer-sdk's `Tap.invoke` (the command line) with `run_invoked` in place of making the tap and calling its
    `sync_all`, which is final: a run may be one process per account, and a user's error ends it with one line."""

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,  # singer-sdk's private _ConfigInput
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        super(Tap, cls).invoke(about=about, about_format=about_format)  # PluginBase's: --about prints and exits
        cls.print_version(print_fn=cls.logger.info)
        cls.run_invoked(
            config=config.config if config else None,
            state=None if state is None else json.loads(state.read()),
            catalog=None if catalog is None else json.loads(catalog.read()),
            parse_env_config=bool(config and config.parse_env),
        )

    @classmethod
    def run_invoked(cls, **tap_arguments: t.Any) -> None:
        """Make the tap (config, state, catalog, parse_env_config as singer-sdk reads them) and run it."""
        cls(**tap_arguments, validate_config=True).sync_all()


# TODO: drop if singer-sdk lets a tap order its streams (load_streams is final; no upstream issue yet).
class SyncsInItsOwnOrder(Tap):
    """The streams for which `syncs_last` is true are synced after the others. singer-sdk syncs streams in the order
    of the dict `Tap.streams` returns, its own, filled by name (`load_streams`, final): the streams are moved to
    its end in place, once, whatever order the catalog gave."""

    def syncs_last(self, stream: Stream) -> bool:
        return False

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        streams = super().streams
        names = list(streams)
        last = [name for name in names if self.syncs_last(streams[name])]
        if names[len(names) - len(last) :] != last:
            for name in last:
                streams[name] = streams.pop(name)
        return streams
