"""TapKlaviyo: every Klaviyo account a company owns, one run, one stream per endpoint."""

from __future__ import annotations

import typing as t
from datetime import datetime
from functools import cached_property

from typing_extensions import override

from klaviyo_http import KlaviyoHttpError
from tap_support import BufferedSingerWriter

from .batch_files import loader_reads_stdout
from .errors import SettingError, UserError
from .event_counts import EventCountsStream
from .fanout import run_in_parallel
from .garbage_collection import tune_garbage_collection
from .klaviyo_stream import KlaviyoStream
from .memory import fix_mmap_threshold
from .paged_stream import PagedStream
from .profile_listing import ProfileListingsStream
from .progress import log_usage
from .reports import ReportStream
from .run_context import RunContext
from .sdk_seams import ChecksConfigInOneLine, OtherGroupsNotLogged, RunsInsteadOfSyncAll, SyncsInItsOwnOrder
from .settings import CONFIG_SCHEMA, LIGHT, TapSettings, tap_settings
from .stream_groups import StreamNeeds, describe, stream_groups
from .streams import STREAM_TYPES
from .versions import activate, versioned_streams, why_not_activate

if t.TYPE_CHECKING:
    from singer_sdk import Stream


class TapKlaviyo(RunsInsteadOfSyncAll, ChecksConfigInOneLine, SyncsInItsOwnOrder):
    """Singer tap reading every Klaviyo account a company owns, streams and reports, paced to its rate limits."""

    name = "tap-klaviyo"
    package_name = "tap-klaviyo-accounts"  # the distribution (tap-klaviyo/pyproject.toml): `--version` reads it
    # msgspec encodes Singer messages several times faster than the default simplejson writer.
    message_writer_class = BufferedSingerWriter
    config_jsonschema = CONFIG_SCHEMA

    @cached_property
    def settings(self) -> TapSettings:
        return tap_settings(self.config)

    @cached_property
    def run_context(self) -> RunContext:
        """What every stream of the run shares; streams get it when they are made, and reach the run through it."""
        writer = t.cast("BufferedSingerWriter", self.message_writer)
        return RunContext(self.settings, self.logger, writer, self.initialized_at)

    @override
    def discover_streams(self) -> list[KlaviyoStream]:
        streams = [stream_type(tap=self, run=self.run_context) for stream_type in STREAM_TYPES]
        # Each child stream reads its parent's side-loaded resources (streams.py): linked here, where both are made.
        by_type: dict[type[Stream], KlaviyoStream] = {type(stream): stream for stream in streams}
        for stream in streams:
            if stream.parent_stream_type is not None:
                stream.parent = by_type[stream.parent_stream_type]
        return streams

    @override
    def syncs_last(self, stream: Stream) -> bool:
        """The report streams: they wait for the requests sent in the background since the start of the run
        (report_fetch.py), which are usually done by then. profile_listings: it says which accounts' listings of
        profile ids ran to the end, so it comes after every id of them (profile_listing.py). And event_counts: the
        events stream asks those counts and reads the years before them meanwhile; synced first (singer-sdk sorts
        streams by name), event_counts would wait for the counts before the events read began."""
        return isinstance(stream, ReportStream | ProfileListingsStream | EventCountsStream)

    @override
    def config_errors(self, config: t.Mapping[str, t.Any]) -> list[str]:
        errors = []
        start = config.get("start_date")
        if isinstance(start, str):
            try:
                datetime.fromisoformat(start)
            except ValueError:
                errors.append(f"config['start_date']: '{start}' is not an ISO 8601 date-time")
        return errors

    @override
    def config_error(self, errors: list[str]) -> Exception:
        return SettingError("; ".join(errors))

    @classmethod
    @override
    def run_invoked(cls, **tap_arguments: t.Any) -> None:
        """`run()` in place of `sync_all()`: a run may be one process per account, and errors a user can fix end
        it with one line instead of a traceback."""
        fix_mmap_threshold()  # before any window thread allocates a page (memory.py)
        tune_garbage_collection()  # once the modules are imported (garbage_collection.py)
        try:
            tap = cls(**tap_arguments, validate_config=True)
            tap.run()
        except (UserError, KlaviyoHttpError) as error:
            # A clear line (naming the file, bucket, setting or account); nothing half-written.
            raise SystemExit(f"tap-klaviyo: {error}") from None

    def run(self) -> None:
        """Every selected account: in this process (singer-sdk's `sync_all`), or one child process per account and
        group of its streams (fanout.py, stream_groups.py). An account whose key Klaviyo refuses is left out, the
        others sync, the run ends non-zero. A run that covered every account ends by marking deletions (versions.py)."""
        settings, run = self.settings, self.run_context
        # First: a light run's mark-deletions step must activate nothing, for it read none of the listings.
        self.keep_streams_of_this_run()
        if settings.activate_version:
            names = activate(self, settings.activate_version, with_schemas=True)
            self.logger.info(
                "ACTIVATE_VERSION %d sent for: %s", settings.activate_version, ", ".join(names) or "no stream"
            )
            return
        self.check_batch_config()
        accounts = run.accounts()  # one GET /api/accounts per account: keys Klaviyo refuses are left out
        failures = dict(run.directory.failures)
        if not accounts:
            raise SystemExit(f"tap-klaviyo: no account can be synced: {_why(failures)}")
        groups = self.stream_groups()
        try:
            if (settings.parallel_accounts > 1 and len(accounts) > 1) or len(groups) > 1:
                self.logger.info("Stream groups read at the same time, per account: %s", describe(groups))
                by_name = {account.name: account.id for account in accounts}
                state = t.cast("dict[str, t.Any]", self.state)
                config = {**self.config, "table_version": run.table_version}  # one version for every account
                if not loader_reads_stdout():
                    config["batch_max_pending_files"] = 0  # the children's stdout is a pipe, to this process
                failed = run_in_parallel(
                    config,
                    self.catalog.to_dict(),
                    state,
                    by_name,
                    groups,
                    parallel_accounts=settings.parallel_accounts,
                    parallel_groups=settings.parallel_stream_groups,
                )
                failures.update({name: "its error is above" for name in failed})
            else:
                run.reports.start(self.streams.values())  # report requests (2 a minute) go on beside the others
                self.sync_all()
        finally:
            run.close()
        self.mark_deletions(list(failures))
        log_usage(self.logger)
        if failures:
            total = len(accounts) + len(run.directory.failures)
            raise SystemExit(f"tap-klaviyo: {len(failures)} of {total} account(s) not synced: {_why(failures)}")

    def keep_streams_of_this_run(self) -> None:
        """Deselect what this run does not read: in a run of scope `light`, every stream but those read every few
        minutes (events, profiles); in a process started for one group of streams (fanout.py), the other groups."""
        settings = self.settings
        group = set(settings.stream_group) if settings.stream_group is not None else None
        if group is not None:
            self.logger.addFilter(OtherGroupsNotLogged())
        left_out = []
        for stream in t.cast("list[KlaviyoStream]", list(self.streams.values())):
            if not stream.selected:
                continue
            if settings.scope == LIGHT and not stream.in_light_runs:
                left_out.append(stream.name)
                stream.selected = False
            elif group is not None and stream.name not in group:
                stream.selected = False
        if left_out:
            self.logger.info("A light run (scope: light) does not read: %s", ", ".join(left_out))

    def stream_groups(self) -> list[list[str]]:
        """The groups of this run's streams that may be read at the same time (stream_groups.py); one group of them
        all when `parallel_stream_groups` is 1."""
        synced = [
            stream
            for stream in t.cast("list[KlaviyoStream]", list(self.streams.values()))
            if stream.selected or stream.has_selected_descendents
        ]
        if self.settings.parallel_stream_groups <= 1:
            return [[stream.name for stream in synced]] if synced else []
        return stream_groups(
            [
                StreamNeeds(
                    stream.name,
                    stream.rate_buckets(),
                    stream.parent.name if stream.parent is not None else stream.reports_on,
                    stream.runs_alone,
                )
                for stream in synced
            ]
        )

    def check_batch_config(self) -> None:
        """A batch_config this run cannot use stops it here, before anything is written."""
        for stream in self.streams.values():
            if stream.selected and isinstance(stream, PagedStream):
                batch_config = stream.get_batch_config(self.config)
                if batch_config is not None:
                    self.run_context.batch_files(batch_config)

    def mark_deletions(self, failed: list[str]) -> None:
        if not versioned_streams(self):
            return
        why_not = why_not_activate(self, failed)
        if why_not:
            self.logger.info("Deletions are not marked by this run: %s", why_not)
            return
        version = self.run_context.table_version
        names = activate(self, version)
        self.logger.info("Deletions marked (ACTIVATE_VERSION %d) for: %s", version, ", ".join(names))


def _why(failures: dict[str, str]) -> str:
    return ", ".join(f"'{name}' ({why})" for name, why in failures.items())


if __name__ == "__main__":
    TapKlaviyo.cli()
