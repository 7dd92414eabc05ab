"""RunContext: what the streams of one tap process share, given to each stream when the tap makes it.

A stream reaches nothing of the tap but this: the settings (typed), the accounts (one `klaviyo_http.AccountHttp`
each), the batch files, the progress lines, the run's table version, the report requests sent in the background,
each account's timezone and metrics, Klaviyo's daily counts (the completeness check), the listings of profile ids
that ran to the end, and the writer that takes pages of RECORD lines. Everything here is safe to use from several
threads (windows and group readers of one account, and streams of one account at once).
"""

from __future__ import annotations

import logging
import threading
import typing as t

from klaviyo_http import AccountHttp, KlaviyoHttp, RetryPolicy
from tap_support import BufferedSingerWriter

from .account_directory import AccountDirectory
from .account_facts import AccountFacts
from .accounts import run_accounts
from .batch_files import BatchFiles, loader_reads_stdout
from .event_counts import EventCounts
from .progress import Progress
from .report_fetch import ReportFetches

if t.TYPE_CHECKING:
    from .profile_listing import Listing
    from .sdk_seams import BatchConfig
    from .settings import TapSettings


class RunContext:
    def __init__(
        self, settings: TapSettings, logger: logging.Logger, writer: BufferedSingerWriter, started_at_ms: int
    ) -> None:
        self.settings = settings
        self.logger = logger
        self.writer = writer
        #: the run's one way to Klaviyo: every account's handle sends through it
        self.http = KlaviyoHttp(
            settings.api_url,
            settings.revision,
            policy=RetryPolicy(max_retries=settings.max_retries),
            rate_limit_scale=settings.rate_limit_scale,
            timeout=float(settings.request_timeout),
            pool_size=max(1, settings.window_concurrency),
            logger=logger,
        )
        # A child of fanout.py is told its account's id by the parent, which looked it up already.
        self.directory = AccountDirectory(lambda: run_accounts(settings), self.http, logger, settings.account_ids)
        #: the version of this run's rows of the streams that mark deletions: seconds, as singer-sdk's own
        self.table_version = settings.table_version or started_at_ms // 1000
        self.progress = Progress(logger, float(settings.progress_interval_seconds))
        #: the report streams' requests, sent in the background from the start of the run (report_fetch.py)
        #: each account's timezone and metrics, asked once for the report streams and the completeness check
        self.facts = AccountFacts()
        self.reports = ReportFetches(self)
        #: Klaviyo's own daily counts of each account's events (event_counts.py), asked once per account
        self.event_counts = EventCounts(settings, self.facts, logger)
        #: account id -> its listing of profile ids that ran to the end this run (profile_listing.py)
        self.profile_listings: dict[str, Listing] = {}
        self._lock = threading.Lock()
        self._batch_files: BatchFiles | None = None

    def accounts(self) -> list[AccountHttp]:
        """The run's accounts whose key works (resolved on first use)."""
        return self.directory.accounts()

    def account(self, account_id: str) -> AccountHttp:
        return self.directory.account(account_id)

    def batch_files(self, batch_config: BatchConfig) -> BatchFiles:
        """This process's batch files (made on first use; every stream of the run shares them)."""
        with self._lock:
            if self._batch_files is None:
                max_pending = self.settings.batch_max_pending_files
                if max_pending and not loader_reads_stdout():
                    self.logger.info(
                        "stdout is a file or a terminal: nothing loads the batch files as they are announced, so the "
                        "tap does not wait for a loader to delete them"
                    )
                    max_pending = 0
                self._batch_files = BatchFiles(
                    batch_config,
                    max_pending=max_pending,
                    loader_wait=float(self.settings.batch_loader_wait_seconds),
                    logger=self.logger,
                    remove_dead_runs=self.settings.stream_group is None,  # not in a process fanout.py started
                )
            return self._batch_files

    def close(self) -> None:
        with self._lock:
            if self._batch_files is not None:
                self._batch_files.close()
