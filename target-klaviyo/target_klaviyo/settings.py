"""target-klaviyo's settings: the JSON schema singer-sdk validates (the one place defaults live) and the typed
object the rest of the target reads.

singer-sdk fills every default of `SCHEMA` into the config before it validates it
(`singer_sdk.typing.extend_validator_with_defaults`), so `Settings.from_config` reads each setting as given or
defaulted, and never repeats a default.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

from klaviyo_http import API_URL, REVISION

MAPPING_DOC = (
    'Per input stream: {"<stream>": {"event": {"metric": "Placed Order", "profile": {"email": "EMAIL"}, '
    '"time": "DATE", "value": "TOTAL", "unique_id": "ORDER_ID", "properties": {"Name": "COLUMN"}}, '
    '"profile": {"email": "EMAIL", "first_name": "FIRST", "location": {"city": "CITY"}, "properties": {...}}, '
    '"list": {"list_id": "AbC123", "mode": "mirror"}, "consent": {"email": "EMAIL_OPT_IN", "sms": "SMS_OPT_IN"}}}; '
    '"*" maps every other stream. See the README.'
)
LOCAL_MEMORY = ".meltano/run/target-klaviyo/memory"

SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="Klaviyo private API key (events:write, profiles:write, lists:write, subscriptions:write). "
        "A dry run without it reads no change memory.",
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
        description="Preview: count the rows each stream and kind would create, change, leave unchanged or "
        "reject (with reasons), send nothing and write no change memory.",
    ),
    th.Property(
        "rejects_path",
        th.StringType,
        default="output/target-klaviyo/rejects-{timestamp}.jsonl",
        description="The rejected-rows file: JSON lines, or CSV when it ends in .csv; a local path or "
        "s3://bucket/key; {timestamp} is replaced by the run's start time (UTC).",
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
    th.Property(
        "change_memory",
        th.StringType,
        default=LOCAL_MEMORY,
        description="Where the target remembers what Klaviyo accepted (a fingerprint per row key), so that a "
        "row unchanged since is not sent again: a folder, or s3://bucket/prefix. One file per account, stream "
        "and kind.",
    ),
    th.Property(
        "full_refresh",
        th.BooleanType,
        default=False,
        description="Send every row again, changed or not (the change memory is still read for list removals "
        "and written afterwards).",
    ),
    th.Property(
        "s3_endpoint_url",
        th.StringType,
        description="S3 endpoint for s3:// change memory and rejected-rows paths, e.g. a local S3; empty for AWS.",
    ),
    th.Property("s3_region", th.StringType, description="S3 region for s3:// paths (boto3's own when empty)."),
).to_dict()


def _text(value: t.Any) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Settings:
    """Every setting the target reads (the mapping settings are parsed by mapping.Mappings)."""

    api_key: str | None
    api_url: str
    revision: str
    dry_run: bool
    rejects_path: str | None
    fail_on_reject: bool
    default_timezone: str
    default_phone_region: str | None
    row_number_column: str | None
    rate_limit_scale: float
    concurrency: int
    max_retries: int
    request_timeout: float
    change_memory: str
    full_refresh: bool
    s3_endpoint_url: str | None
    s3_region: str | None

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """The validated config (singer-sdk has filled in SCHEMA's defaults) as typed values."""
        return cls(
            api_key=_text(config.get("api_key")),
            api_url=str(config["api_url"]).rstrip("/"),
            revision=str(config["revision"]),
            dry_run=bool(config["dry_run"]),
            rejects_path=_text(config.get("rejects_path")),
            fail_on_reject=bool(config["fail_on_reject"]),
            default_timezone=str(config["default_timezone"]),
            default_phone_region=_text(config.get("default_phone_region")),
            row_number_column=_text(config.get("row_number_column")),
            rate_limit_scale=float(config["rate_limit_scale"]),
            concurrency=max(1, int(config["concurrency"])),
            max_retries=int(config["max_retries"]),
            request_timeout=float(config["request_timeout"]),
            change_memory=str(config["change_memory"]),
            full_refresh=bool(config["full_refresh"]),
            s3_endpoint_url=_text(config.get("s3_endpoint_url")),
            s3_region=_text(config.get("s3_region")),
        )
