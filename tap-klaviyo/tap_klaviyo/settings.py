"""tap-klaviyo's settings: every one declared once, with its default, in `CONFIG_SCHEMA` (what `--about` and Meltano
read), and read by the run as one typed object, `TapSettings` (tap_support.read_settings takes the defaults from the
schema: none is written twice). Klaviyo's URL and revision come from klaviyo_http.
"""

from __future__ import annotations

import typing as t

import msgspec
from singer_sdk import typing as th

from klaviyo_http import API_URL, REVISION
from tap_support import read_settings

from .errors import SettingError
from .report_quota import DAILY_QUOTA

#: the `scope` of a run (see the setting's description)
FULL, LIGHT = "full", "light"

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
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
        default=API_URL,
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
        # Klaviyo answers a page of events in ~250 ms, and its events tier takes 3,500 pages a minute, so ~15 must be
        # in flight; 24 reached 93% of that ceiling over a whole minute and more (bench/pipeline_throughput.py), 16
        # reached 84%.
        default=24,
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
        "completeness_check_days",
        th.IntegerType(minimum=0, maximum=365),
        default=90,
        description="Days (the last N, today included, in each account's timezone) of Klaviyo's own count of every "
        "metric's events per day, asked each run (POST /api/metric-aggregates: one request per metric) and loaded "
        "as event_counts, which the warehouse sets beside the events (warehouse-sql). A day older than the events "
        "lookback whose count changed since the tap last read it is read again for that metric. At most 365 "
        "(Klaviyo counts at most a year per request); 0 turns the check and the healing off.",
    ),
    th.Property(
        "profile_listing_hours",
        th.IntegerType(minimum=0),
        default=20,
        description="Hours between two listings of every profile id of an account (profile_ids), how the warehouse "
        "learns of people deleted in Klaviyo: ~10,600 requests and ~14 minutes per million profiles, so once a day "
        "(20 hours: runs at 05:00 and 17:00 list once a day). 0 lists on every run.",
    ),
    th.Property(
        "scope",
        th.StringType(allowed_values=[FULL, LIGHT]),
        default=FULL,
        description="`full`: every selected stream, events from events_lookback_days before their bookmark, full "
        "listings, membership, reports and deletions marked. `light`: only the streams cheap enough to read every few "
        "minutes (events and profiles), each from light_lookback_minutes before its bookmark, and nothing else "
        "whatever the selection; a light run shares the full run's state (the meltano.yml schedule klaviyo-light).",
    ),
    th.Property(
        "light_lookback_minutes",
        th.IntegerType(minimum=0),
        default=60,
        description="With scope `light`: minutes before its bookmark each events and profiles run starts, for rows "
        "Klaviyo shows a little after their time (the full run's events_lookback_days catches those later still).",
    ),
    th.Property(
        "parallel_stream_groups",
        th.IntegerType(minimum=1),
        default=6,
        description="Groups of one account's streams read at the same time, each by its own tap process: events, "
        "profiles, list members, segment members, and the small streams (streams that share a rate-limit bucket, "
        "or a parent and its children, are one group). A run then takes about as long as its slowest group. 1 reads "
        "them one after another.",
    ),
    th.Property(
        "events_attributions",
        th.BooleanType,
        default=True,
        description="Read each event's Klaviyo attribution with it (include=attributions on GET /api/events, the "
        "same rate tier): the attributed campaign, campaign message, flow and flow message as columns.",
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
        "membership_ids_route",
        th.BooleanType,
        default=True,
        description="With membership `current`: about half of the lists and segments (by their size, each group "
        "always the same way, remembered in the state) are listed through Klaviyo's relationships route "
        "(/relationships/profiles: profile ids only, under a rate limit of its own), so the listing takes about half "
        "as long; their rows' joined_group_at is empty. false: every group through the members route, with "
        "joined_group_at.",
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
        description="With batch_config, when stdout is a pipe (a loader reads it): announced batch files that may "
        "wait on disk for the loader (which deletes each once loaded) before the tap waits; bounds the disk a run "
        "takes. 0: never wait. (batch_files.py: the wait is bounded by batch_loader_wait_seconds.)",
    ),
    th.Property(
        "batch_loader_wait_seconds",
        th.IntegerType(minimum=0),
        default=300,
        description="With batch_config: the longest the tap waits for the loader to delete one of its files. A "
        "loader that deleted none in that time keeps its files (target-snowflake with clean_up_batch_files: false): "
        "the tap says so once, with the disk its files take, and writes on without waiting again.",
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
        "stream_group",
        th.ArrayType(th.StringType),
        description="Internal: the streams of the group given by the tap to the process it starts for that group "
        "(parallel_stream_groups); the process syncs only those of the selected streams.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=10,
        description="Retries of a request on 5xx answers and connection errors, with jittered backoff; a 429 "
        "waits its Retry-After without using one up (klaviyo_http.RetryPolicy).",
    ),
    # The report streams (reports.py).
    th.Property(
        "conversion_metric",
        th.StringType,
        default="Placed Order",
        description="The metric campaign and flow reports count conversions of (conversions, conversion_value, "
        "revenue_per_recipient...): a metric name, resolved to its id in each account (GET /api/metrics), or an id. "
        "An account without it gets no campaign or flow report rows, and one error line says so.",
    ),
    th.Property(
        "report_lookback_days",
        th.IntegerType(minimum=0, maximum=365),
        default=5,
        description="Days before its bookmark each run of a series report reads again, so numbers that change after "
        "the fact are corrected in place. Klaviyo attributes a conversion to a message for 5 days by default; "
        "accounts with a longer attribution window (up to 90 days) should raise this to it.",
    ),
    th.Property(
        "report_history_days",
        th.IntegerType(minimum=1),
        default=365,
        description="Days of series reports a first run reads (never before start_date): 59-day requests, 7 for a "
        "year.",
    ),
    th.Property(
        "report_daily_quota",
        th.IntegerType(minimum=1, maximum=DAILY_QUOTA),
        default=DAILY_QUOTA,
        description="Requests a day each report endpoint may take per account (Klaviyo's quota: 225, shared with "
        "the account's other private-key integrations; lower it to leave them some). Scaled like the other limits "
        "by rate_limit_scale.",
    ),
).to_dict()


class TapSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The settings a run reads, typed; a field with a default here is one the schema leaves unset (None)."""

    accounts_file: str | None = None
    accounts_json: str | None = None
    accounts: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    start_date: str
    api_url: str
    revision: str
    profile_additional_fields: tuple[str, ...]
    rate_limit_scale: float
    request_timeout: int
    parallel_accounts: int
    window_concurrency: int
    events_lookback_days: int
    completeness_check_days: int
    profile_listing_hours: int
    scope: str
    light_lookback_minutes: int
    parallel_stream_groups: int
    events_attributions: bool
    membership: str
    membership_ids_route: bool
    table_version: int | None = None
    activate_version: int | None = None
    batch_files: bool
    batch_max_pending_files: int
    batch_loader_wait_seconds: int
    progress_interval_seconds: int
    account_ids: dict[str, str] | None = None
    stream_group: tuple[str, ...] | None = None
    max_retries: int
    conversion_metric: str
    report_lookback_days: int
    report_history_days: int
    report_daily_quota: int


def tap_settings(config: t.Mapping[str, t.Any]) -> TapSettings:
    return read_settings(config, CONFIG_SCHEMA, TapSettings, SettingError)
