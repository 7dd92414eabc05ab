"""TargetKlaviyo: rows (from tap-csv or any tap) into Klaviyo events and profiles through the bulk APIs.

Every row ends either accepted by Klaviyo or in the rejected-rows file with its reason, the run ends with a
summary per stream, and state is emitted only once the rows before it are accepted.
"""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

import orjson
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from klaviyo_http import API_URL, REVISION, KeyRefusedError, KlaviyoHttp, KlaviyoHttpError, RetryPolicy

from .bulk import Dispatcher, SendError
from .mapping import MappingError, Mappings
from .rejects import Outcomes
from .sdk_seams import StateAfterFlush
from .sinks import KlaviyoSink
from .validate import ValueChecks, check_phone_region, zone

MAPPING_DOC = (
    'Per input stream: {"<stream>": {"event": {"metric": "Placed Order", "profile": {"email": "EMAIL"}, '
    '"time": "DATE", "value": "TOTAL", "unique_id": "ORDER_ID", "properties": {"Name": "COLUMN"}}, '
    '"profile": {"email": "EMAIL", "first_name": "FIRST", "location": {"city": "CITY"}, '
    '"properties": {...}}}}; "*" maps every other stream. See the README.'
)


class TargetKlaviyo(StateAfterFlush):
    """Singer target for Klaviyo's bulk event and profile APIs."""

    name = "target-klaviyo"
    package_name = "target-klaviyo-bulk"
    default_sink_class = KlaviyoSink
    message_reader_class = MsgSpecReader

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            secret=True,
            description="Klaviyo private API key (needs events:write and profiles:write). Not needed for a dry run.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=API_URL,
            description="Klaviyo's API base URL (the local sandbox in development and tests).",
        ),
        th.Property("revision", th.StringType, default=REVISION, description="Klaviyo API revision to pin."),
        th.Property("mappings", th.ObjectType(additional_properties=True), description=MAPPING_DOC),
        th.Property(
            "event_mapping",
            th.ObjectType(additional_properties=True),
            description='The CSV-to-Klaviyo package\'s event mapping ({"event": name, '
            '"customer_properties": {"$email": col}, "properties": {"$event_id": col, '
            '...}, "time": col}), applied to every stream without its own mapping.',
        ),
        th.Property(
            "profile_mapping",
            th.ObjectType(additional_properties=True),
            description='The CSV-to-Klaviyo package\'s profile mapping ({"properties": {"$email": col, '
            '"$first_name": col, ...}}), applied to every stream without its own mapping.',
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Validate and map every row, write rejects and the summary, send nothing.",
        ),
        th.Property(
            "rejects_path",
            th.StringType,
            default="output/target-klaviyo/rejects-{timestamp}.jsonl",
            description="The rejected-rows file: JSON lines, or CSV when it ends in .csv; {timestamp} "
            "is replaced by the run's start time (UTC).",
        ),
        th.Property(
            "fail_on_reject",
            th.BooleanType,
            default=False,
            description="End the run with an error when any row was rejected.",
        ),
        th.Property(
            "default_timezone",
            th.StringType,
            default="UTC",
            description="IANA zone of times written without one (e.g. America/New_York).",
        ),
        th.Property(
            "default_phone_region",
            th.StringType,
            default="US",
            description="Region of phone numbers written without +country code (ISO 3166, e.g. US, GB); "
            "empty: only E.164 numbers are accepted.",
        ),
        th.Property(
            "row_number_column",
            th.StringType,
            description="Column holding the input row number (default: the tap's _sdc_row_number or "
            "_sdc_source_lineno; else rows are counted).",
        ),
        # A number, or the same as a string: Meltano 4.4 cannot pass a `decimal` setting to a plugin (its config
        # writer fails on Decimal), so meltano.yml declares this one as a string.
        th.Property(
            "rate_limit_scale",
            th.CustomType({"type": ["number", "string"], "pattern": r"^\d+(\.\d+)?$"}),
            default=1.0,
            description="Multiply Klaviyo's rate-limit tiers by this when pacing; 0 = no pacing.",
        ),
        th.Property(
            "concurrency",
            th.IntegerType,
            default=10,
            description="Requests in flight per endpoint (Klaviyo's burst for the bulk endpoints is 10/s).",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=8,
            description="Retries of a request on 5xx answers and connection errors (429s wait Retry-After).",
        ),
        th.Property("request_timeout", th.NumberType, default=120, description="Seconds per HTTP request."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.mappings = Mappings(self.config)
            self.checks = ValueChecks(
                zone(self.config.get("default_timezone") or "UTC"),
                check_phone_region(self.config.get("default_phone_region")),
            )
        except (MappingError, ValueError) as exc:
            raise ConfigValidationError("Config validation failed", errors=[str(exc)]) from None
        if not self.dry_run and not self.config.get("api_key"):
            raise ConfigValidationError("Config validation failed", errors=["api_key: required unless dry_run"])
        self.outcomes = Outcomes(self.config.get("rejects_path"))
        self.outcomes.start()

    @property
    def dry_run(self) -> bool:
        return bool(self.config.get("dry_run"))

    @cached_property
    def dispatcher(self) -> Dispatcher | None:
        if self.dry_run:
            return None
        concurrency = int(self.config.get("concurrency") or 10)
        http = KlaviyoHttp(
            self.config.get("api_url") or API_URL,
            self.config.get("revision") or REVISION,
            policy=RetryPolicy(max_retries=int(self.config.get("max_retries", 8))),
            rate_limit_scale=float(self.config.get("rate_limit_scale", 1.0)),
            timeout=float(self.config.get("request_timeout") or 120),
            pool_size=concurrency,
            logger=self.logger,
        )
        return Dispatcher(http, self.config["api_key"], self.outcomes, concurrency=concurrency, logger=self.logger)

    @override
    def before_state(self) -> None:
        """State only once every row before it is accepted by Klaviyo or written to the rejected rows."""
        if self.dispatcher is not None:
            self.dispatcher.flush()
        self.outcomes.flush()

    @override
    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
            if self.dispatcher is not None:
                self.dispatcher.flush()
        finally:
            if self.dispatcher is not None:
                self.dispatcher.close()
            self.outcomes.close()
            self.logger.info("%s", self.outcomes.summary(dry_run=self.dry_run))
            self.logger.info("target-klaviyo summary json: %s", orjson.dumps(self.outcomes.as_dict()).decode())
        if self.config.get("fail_on_reject") and self.outcomes.total_rejected:
            self.logger.error(
                "%d rows rejected and fail_on_reject is set: see %s", self.outcomes.total_rejected, self.outcomes.path
            )
            sys.exit(1)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Errors a user can fix end the run with one line naming the setting, and a non-zero exit (no
        traceback): a refused key, or rows Klaviyo could not be reached for. Tracebacks are kept for bugs."""
        try:
            super().invoke(*args, **kwargs)
        except KeyRefusedError as error:
            raise SystemExit(f"target-klaviyo: Klaviyo refused the API key ({error.detail}); check api_key") from None
        except (KlaviyoHttpError, SendError) as error:
            raise SystemExit(f"target-klaviyo: {error}") from None


if __name__ == "__main__":
    TargetKlaviyo.cli()
