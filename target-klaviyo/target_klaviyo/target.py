"""TargetKlaviyo: rows (from tap-csv or any tap) into Klaviyo events, profiles, list members and consent, through
the bulk APIs, sending only what changed since Klaviyo last accepted it.

Every row ends accepted by Klaviyo, unchanged (the change memory), or in the rejected-rows file with its reason;
the run ends with a summary per stream and kind, and state is emitted only once the rows before it are accepted.
"""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

import orjson
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from klaviyo_http import KeyRefusedError, KlaviyoHttp, KlaviyoHttpError, RetryPolicy

from .bulk import Dispatcher, SendError
from .kinds import Kind
from .lookups import NotInKlaviyo, account_id, check_lists
from .mapping import MappingError, Mappings
from .memory import ChangeMemory
from .mirror import Completeness, plan_removals
from .rejects import Outcomes
from .routes import remove_from_list
from .sdk_seams import StateAfterFlush, UnchangedRowsFirst
from .settings import SCHEMA, Settings
from .sinks import KlaviyoSink
from .storage import Storage, StorageError, storage_at
from .validate import ValueChecks, check_phone_region, zone


class TargetKlaviyo(StateAfterFlush, UnchangedRowsFirst):
    """Singer target for Klaviyo's bulk event, profile, list and subscription APIs."""

    name = "target-klaviyo"
    package_name = "target-klaviyo-bulk"
    default_sink_class = KlaviyoSink
    config_jsonschema = SCHEMA

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.settings = Settings.from_config(self.config)
        try:
            self.mappings = Mappings(self.config)
            region = check_phone_region(settings.default_phone_region)
            self.checks = ValueChecks(zone(settings.default_timezone), region)
        except (MappingError, ValueError) as exc:
            raise ConfigValidationError("Config validation failed", errors=[str(exc)]) from None
        try:
            self.storage: Storage = storage_at(
                settings.change_memory, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
            )
        except ValueError as exc:
            raise ConfigValidationError("Config validation failed", errors=[f"change_memory: {exc}"]) from None
        if not settings.dry_run and not settings.api_key:
            raise ConfigValidationError("Config validation failed", errors=["api_key: required unless dry_run"])
        # What shapes a payload besides the mapping: part of every row's fingerprint.
        self.payload_settings = (settings.default_timezone, self.checks.phone_region)
        try:
            self.outcomes = Outcomes(
                settings.rejects_path, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
            )
        except ValueError as exc:
            raise ConfigValidationError("Config validation failed", errors=[f"rejects_path: {exc}"]) from None
        self.outcomes.start()
        self.memory = ChangeMemory(None, None)
        self._prepared = False
        self._mirrors: dict[tuple[str, str], tuple[Kind, Completeness]] = {}
        self.sinks_made: list[KlaviyoSink] = []  # every sink of the run, those a schema change replaced too

    @cached_property
    def client(self) -> Dispatcher | None:
        """Requests to Klaviyo: every run with a key (a dry run only reads, as `prepare` does)."""
        settings = self.settings
        if not settings.api_key:
            return None
        http = KlaviyoHttp(
            settings.api_url,
            settings.revision,
            policy=RetryPolicy(max_retries=settings.max_retries),
            rate_limit_scale=settings.rate_limit_scale,
            timeout=settings.request_timeout,
            pool_size=settings.concurrency,
            logger=self.logger,
        )
        return Dispatcher(http, settings.api_key, self.outcomes, concurrency=settings.concurrency, logger=self.logger)

    @property
    def dispatcher(self) -> Dispatcher | None:
        """What sends rows: none in a dry run."""
        return None if self.settings.dry_run else self.client

    def prepare(self) -> None:
        """Once, before the first row: the account (whose change memory this is) and every mapped list."""
        if self._prepared:
            return
        self._prepared = True
        settings = self.settings
        client = self.client
        if client is None:
            self.logger.warning(
                "dry run without api_key: no change memory is read (every row counts as created) "
                "and the mapped lists are not checked"
            )
            return
        account = account_id(client)
        check_lists(client, self.mappings.list_ids())
        self.memory = ChangeMemory(
            self.storage, account, full_refresh=settings.full_refresh, read_only=settings.dry_run, logger=self.logger
        )
        if settings.full_refresh:
            self.logger.info("full_refresh: every row is sent again, changed or not")

    def completeness(self, kind: Kind) -> Completeness:
        """A mirror's record of its stream's rows (one per stream and list, however many sinks it gets)."""
        found = self._mirrors.get((kind.stream, kind.memory_name))
        completeness = found[1] if found else Completeness()
        self._mirrors[(kind.stream, kind.memory_name)] = (kind, completeness)
        return completeness

    @override
    def before_state(self) -> None:
        """State only once every row before it is accepted by Klaviyo or written to the rejected rows, and the
        change memory holds what they were (sdk_seams.StateAfterFlush)."""
        self.send_queued()
        self.outcomes.flush()
        self.memory.checkpoint()

    def send_queued(self) -> None:
        """Every row the sinks queued, sent, and every request answered (raises what makes the run fail)."""
        for sink in self.sinks_made:
            sink.submit_pending()
        if self.dispatcher is not None:
            self.dispatcher.flush()

    def remove_leavers(self) -> None:
        """List mirrors: remove the members whose rows are gone (a dry run counts them)."""
        for (stream, _), (kind, completeness) in sorted(self._mirrors.items()):
            plan = plan_removals(kind.changes, completeness)
            mapping = self.mapper_setting(kind)
            if plan.leavers is None:
                self.logger.warning("%s: nobody removed from list %s: %s", mapping, kind.list_id, plan.skipped)
                continue
            leavers = plan.leavers
            if len(leavers.forget_only):
                self.logger.info(
                    "%s: %d members left whose profile id is unknown or still a member: not removed",
                    mapping,
                    len(leavers.forget_only),
                )
            dispatcher = self.dispatcher
            if dispatcher is None:
                self.outcomes.add(stream, kind.kind, "removed", len(leavers.ids))
                continue
            kind.changes.forget(int(k) for k in leavers.forget_only)
            members = list(zip((int(k) for k in leavers.keys), leavers.ids, strict=True))

            def removed(keys: list[int], kind: Kind = kind, stream: str = stream) -> None:
                kind.changes.forget(keys)
                self.outcomes.add(stream, kind.kind, "removed", len(keys))

            assert kind.list_id is not None
            dispatcher.remove_members(remove_from_list(kind.list_id), members, removed)

    @staticmethod
    def mapper_setting(kind: Kind) -> str:
        return f"{kind.mapper.mapping.setting}.list"

    @override
    def process_endofpipe(self) -> None:
        failed: BaseException | None = None
        try:
            super().process_endofpipe()
            self.send_queued()  # also when the tap sent no state (then none was written to send them)
            self.remove_leavers()
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if self.dispatcher is not None:
                self.dispatcher.close()
            # What Klaviyo accepted is remembered even when the run fails: it need not be sent again.
            for finish in (self.memory.save, self.outcomes.close):
                try:
                    finish()
                except StorageError as exc:
                    self.logger.error("%s", exc)
                    failed = failed or exc
            self.logger.info("%s", self.outcomes.summary(dry_run=self.settings.dry_run))
            self.logger.info("target-klaviyo summary json: %s", orjson.dumps(self.outcomes.as_dict()).decode())
        if isinstance(failed, StorageError):
            raise failed
        if self.settings.fail_on_reject and self.outcomes.total_rejected:
            self.logger.error(
                "%d rows rejected and fail_on_reject is set: see %s", self.outcomes.total_rejected, self.outcomes.where
            )
            sys.exit(1)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Errors a user can fix end the run with one line naming the setting, and a non-zero exit (no
        traceback): a refused key, a list that does not exist, rows Klaviyo could not be reached for, a change
        memory or rejects file that cannot be written. Tracebacks are kept for bugs."""
        try:
            super().invoke(*args, **kwargs)
        except KeyRefusedError as error:
            raise SystemExit(f"target-klaviyo: Klaviyo refused the API key ({error.detail}); check api_key") from None
        except (KlaviyoHttpError, SendError, NotInKlaviyo, StorageError) as error:
            raise SystemExit(f"target-klaviyo: {error}") from None


if __name__ == "__main__":
    TargetKlaviyo.cli()
