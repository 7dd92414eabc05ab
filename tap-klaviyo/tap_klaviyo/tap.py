"""TapKlaviyo: every Klaviyo account a company owns, one run, one stream per endpoint."""

from __future__ import annotations

import json
import typing as t
from datetime import datetime
from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from klaviyo_http import KlaviyoHttp, KlaviyoHttpError, RetryPolicy

from .accounts import Account, AccountsError, load_accounts, parse_accounts_json, select_accounts
from .batch_files import BatchFiles
from .client import WINDOW_CONCURRENCY
from .directory import AccountDirectory
from .errors import SettingError, UserError
from .fanout import run_accounts_in_parallel
from .memory import fix_mmap_threshold
from .output import BufferedMsgSpecWriter
from .pages import PagedStream
from .progress import Progress, log_usage
from .report_fetch import ReportFetches
from .reports import REPORT_SETTINGS, reports_last
from .streams import STREAM_TYPES
from .versions import activate, versioned_streams, why_not_activate

if t.TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.helpers._batch import BatchConfig

    from .client import KlaviyoStream

REVISION = "2026-10-15"


class TapKlaviyo(Tap):
    """Singer tap reading every Klaviyo account a company owns, streams and reports, paced to its rate limits."""

    name = "tap-klaviyo"
    # msgspec encodes Singer messages several times faster than the default simplejson writer.
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "accounts_file",
            th.StringType,
            description="Where the accounts are: `s3://bucket/key` or a local path to a JSON list of "
            '{"account": name, "api_key": private key}.',
        ),
        th.Property(
            "accounts_json",
            th.StringType,
            secret=True,
            description="The same JSON list given inline (instead of accounts_file).",
        ),
        th.Property(
            "accounts", th.StringType, description="Sync only these accounts: names, comma-separated (all when empty)."
        ),
        th.Property(
            "s3_endpoint_url",
            th.StringType,
            description="S3 endpoint for accounts_file, e.g. a local S3; empty for AWS.",
        ),
        th.Property("s3_region", th.StringType, description="AWS region of the accounts file's bucket."),
        th.Property(
            "start_date",
            th.DateTimeType,
            default="2012-01-01T00:00:00Z",
            description="Where incremental streams start without a bookmark, and on --full-refresh.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://a.klaviyo.com",
            description="Klaviyo's API base URL (a local sandbox in development and tests).",
        ),
        th.Property("revision", th.StringType, default=REVISION, description="Klaviyo API revision to pin."),
        th.Property(
            "profile_additional_fields",
            th.ArrayType(th.StringType),
            default=["subscriptions"],
            description="additional-fields[profile] to request: subscriptions, predictive_analytics "
            "(predictive_analytics moves profiles to a 10/s 150/m tier and is opt-in).",
        ),
        # A number, or the same as a string: Meltano 4.4 cannot pass a `decimal` setting to a plugin (its config
        # writer fails on Decimal), so meltano.yml declares this one as a string.
        th.Property(
            "rate_limit_scale",
            th.CustomType({"type": ["number", "string"], "pattern": r"^\d+(\.\d+)?$"}),
            default=1.0,
            description="Multiply Klaviyo's tiers by this when pacing (match a scaled sandbox); 0 = no pacing.",
        ),
        th.Property("request_timeout", th.IntegerType, default=300, description="Seconds per HTTP request."),
        th.Property(
            "parallel_accounts",
            th.IntegerType,
            default=4,
            description="Accounts read at the same time, each by its own tap process (limits are per "
            "account); 1 reads them one after another in this process.",
        ),
        th.Property(
            "window_concurrency",
            th.IntegerType(minimum=1),
            default=WINDOW_CONCURRENCY,
            description="Requests in flight at once within one account: time windows of events and profiles, or "
            "lists and segments of the member streams. Klaviyo answers a page in ~250 ms, so the events tier "
            "(3,500 pages a minute) needs about 15 in flight.",
        ),
        th.Property(
            "events_lookback_days",
            th.IntegerType(minimum=0),
            default=7,
            description="Days before its bookmark each incremental events run starts, per account: Klaviyo shows "
            "some events days after their time (imports, backfills, its own eventual consistency), and a run that "
            "started at its bookmark would never read them. Rows read again are merged on their key.",
        ),
        th.Property(
            "membership",
            th.StringType(allowed_values=["current", "join_history"]),
            default="current",
            description="list_members and segment_members: `current` lists every group in full each run and marks "
            "members who left deleted (_sdc_deleted_at); `join_history` only adds members who joined "
            "(incremental on joined_group_at), cheaper for very large segments.",
        ),
        th.Property(
            "table_version",
            th.IntegerType(minimum=1),
            description="The version stamped on the rows of streams that mark deletions (default: the run's start, "
            "in seconds). Per-account runs of one scheduled run share it (orchestrate/).",
        ),
        th.Property(
            "activate_version",
            th.IntegerType(minimum=1),
            description="Only send ACTIVATE_VERSION of this version for the selected streams that mark deletions, "
            "and nothing else: the last step of a scheduled run whose accounts ran separately with table_version.",
        ),
        th.Property(
            "batch_files",
            th.BooleanType,
            default=True,
            description="With batch_config: false sends every stream as RECORD messages instead of batch files, "
            "for a loader that does not read Singer BATCH files (TAP_KLAVIYO_BATCH_FILES=false).",
        ),
        th.Property(
            "batch_max_pending_files",
            th.IntegerType(minimum=0),
            default=4,
            description="With batch_config: announced batch files that may wait on disk for the loader (which "
            "deletes each once loaded) before the tap waits; bounds the disk a run takes. 0: never wait.",
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType(minimum=0),
            default=30,
            description="Every so many seconds, one log line per active account and stream: rows so far, rows/s, "
            "the time reached. 0: none.",
        ),
        th.Property(
            "account_ids",
            th.ObjectType(additional_properties=th.StringType),
            description="Internal: Klaviyo's id of each account by name, given by the tap to the process it "
            "starts for each account (parallel_accounts), which then need not look it up again.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=10,
            description="Retries of a request on 5xx answers and connection errors, with jittered backoff; a 429 "
            "waits its Retry-After without using one up (klaviyo_http.RetryPolicy).",
        ),
        *REPORT_SETTINGS,
    ).to_dict()

    _batch_files: BatchFiles | None = None

    @override
    def discover_streams(self) -> list[KlaviyoStream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """singer-sdk's streams, in the order it syncs them (by name), with the report streams moved last: they wait
        for the requests sent in the background since the start of the run (report_fetch.py)."""
        return reports_last(super().streams)

    @cached_property
    def selected_accounts(self) -> list[Account]:
        config = self.config
        if config.get("accounts_json"):
            accounts = parse_accounts_json(config["accounts_json"], "accounts_json")
        elif config.get("accounts_file"):
            accounts = load_accounts(
                config["accounts_file"],
                s3_endpoint_url=config.get("s3_endpoint_url"),
                s3_region=config.get("s3_region"),
            )
        else:
            raise AccountsError("Set accounts_file (s3://bucket/key or a path) or accounts_json.")
        return select_accounts(accounts, config.get("accounts"))

    @cached_property
    def http(self) -> KlaviyoHttp:
        """The run's one way to Klaviyo: every stream, the directory and the windows send through it."""
        config = self.config
        return KlaviyoHttp(
            config["api_url"],
            config["revision"],
            policy=RetryPolicy(max_retries=int(config.get("max_retries", 10))),
            rate_limit_scale=float(config.get("rate_limit_scale", 1.0)),
            timeout=float(config.get("request_timeout", 300)),
            pool_size=max(1, int(config.get("window_concurrency", WINDOW_CONCURRENCY))),
            logger=self.logger,
        )

    @cached_property
    def directory(self) -> AccountDirectory:
        # A child of fanout.py is told its account's id by the parent, which looked it up already.
        return AccountDirectory(self.selected_accounts, self.http, self.logger, self.config.get("account_ids"))

    # What streams ask of the run's accounts (keys stay inside the directory).
    def account_ids(self) -> list[str]:
        return self.directory.account_ids()

    def api_key(self, account_id: str) -> str:
        return self.directory.api_key(account_id)

    def account_name(self, account_id: str | None) -> str:
        return self.directory.account_name(account_id)

    @cached_property
    def reports(self) -> ReportFetches:
        """The report streams' requests, sent in the background from the start of the run (report_fetch.py)."""
        return ReportFetches(self)

    @cached_property
    def table_version(self) -> int:
        """The version of this run's rows of the streams that mark deletions: seconds, as singer-sdk's own."""
        return int(self.config.get("table_version") or self.initialized_at // 1000)

    @cached_property
    def progress(self) -> Progress:
        return Progress(self.logger, float(self.config.get("progress_interval_seconds", 30)))

    def batch_files(self, batch_config: BatchConfig) -> BatchFiles:
        """This process's batch files (made on first use; every stream of the run shares them)."""
        if self._batch_files is None:
            self._batch_files = BatchFiles(
                batch_config, max_pending=int(self.config.get("batch_max_pending_files", 4)), logger=self.logger
            )
        return self._batch_files

    def group_ids(self, account_id: str, group: str) -> list[str]:
        return self.directory.group_ids(account_id, group)

    # TODO: drop when singer-sdk validates JSON Schema formats (https://github.com/meltano/sdk/issues/1451).
    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # Private singer-sdk method, overridden because it is the only place config is checked before a run:
        # singer-sdk checks types, not formats, so a mistyped start_date would otherwise surface mid-sync; and its
        # errors end the run as one line naming each setting (SettingError), not a log of three.
        errors = super()._validate_config(raise_errors=False)
        start = self._config.get("start_date")
        if isinstance(start, str):
            try:
                datetime.fromisoformat(start)
            except ValueError:
                errors.append(f"config['start_date']: '{start}' is not an ISO 8601 date-time")
        if errors and raise_errors:
            raise SettingError("; ".join(errors))
        return errors

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """singer-sdk's `Tap.invoke`, with `run()` in place of `sync_all()` (final in singer-sdk): a run may be
        one process per account, and errors a user can fix end it with one line instead of a traceback."""
        super(Tap, cls).invoke(about=about, about_format=about_format)  # --about: print and exit
        cls.print_version(print_fn=cls.logger.info)
        fix_mmap_threshold()  # before any window thread allocates a page (memory.py)
        try:
            tap = cls(
                config=config.config if config else None,
                state=None if state is None else json.loads(state.read()),
                catalog=None if catalog is None else json.loads(catalog.read()),
                parse_env_config=bool(config and config.parse_env),
                validate_config=True,
            )
            tap.run()
        except (UserError, KlaviyoHttpError) as error:
            # A clear line (naming the file, bucket, setting or account); nothing half-written.
            raise SystemExit(f"tap-klaviyo: {error}") from None

    def run(self) -> None:
        """Every selected account: in this process (singer-sdk's `sync_all`), or one child process per account
        (fanout.py). An account whose key Klaviyo refuses is left out, the others sync, the run ends non-zero.
        A run that covered every account ends by marking deletions (versions.py)."""
        version = self.config.get("activate_version")
        if version:
            names = activate(self, int(version), with_schemas=True)
            self.logger.info("ACTIVATE_VERSION %d sent for: %s", version, ", ".join(names) or "no stream")
            return
        self.check_batch_config()
        accounts = self.selected_accounts
        ids = self.directory.account_ids()  # one GET /api/accounts per account: keys Klaviyo refuses are left out
        failures = dict(self.directory.failures)
        if not ids:
            raise SystemExit(f"tap-klaviyo: no account can be synced: {_why(failures)}")
        parallel = int(self.config.get("parallel_accounts", 4))
        try:
            if parallel > 1 and len(ids) > 1:
                by_name = {self.directory.account_name(account_id): account_id for account_id in ids}
                state = t.cast("dict[str, t.Any]", self.state)
                config = {**self.config, "table_version": self.table_version}  # one version for every account
                failed = run_accounts_in_parallel(config, self.catalog.to_dict(), state, by_name, parallel)
                failures.update({name: "its error is above" for name in failed})
            else:
                self.reports.start()  # report requests (2 a minute) go on beside the other streams
                self.sync_all()
        finally:
            if self._batch_files is not None:
                self._batch_files.close()
        self.mark_deletions(list(failures))
        log_usage(self.logger)
        if failures:
            raise SystemExit(f"tap-klaviyo: {len(failures)} of {len(accounts)} account(s) not synced: {_why(failures)}")

    def check_batch_config(self) -> None:
        """A batch_config this run cannot use stops it here, before anything is written."""
        for stream in self.streams.values():
            if stream.selected and isinstance(stream, PagedStream):
                batch_config = stream.get_batch_config(self.config)
                if batch_config is not None:
                    self.batch_files(batch_config)

    def mark_deletions(self, failed: list[str]) -> None:
        if not versioned_streams(self):
            return
        why_not = why_not_activate(self, failed)
        if why_not:
            self.logger.info("Deletions are not marked by this run: %s", why_not)
            return
        names = activate(self, self.table_version)
        self.logger.info("Deletions marked (ACTIVATE_VERSION %d) for: %s", self.table_version, ", ".join(names))


def _why(failures: dict[str, str]) -> str:
    return ", ".join(f"'{name}' ({why})" for name, why in failures.items())


if __name__ == "__main__":
    TapKlaviyo.cli()
