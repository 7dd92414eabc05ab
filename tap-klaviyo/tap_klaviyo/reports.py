"""The Reporting API as streams: campaign and flow values, flow and segment daily series, for every account.

- campaign_values_reports: a row per account, campaign, campaign message and channel; key account_id, campaign_id,
  campaign_message_id, send_channel;
- flow_values_reports: per account, flow, flow message and channel; key account_id, flow_id, flow_message_id,
  send_channel;
- flow_series_reports: per account, flow, flow message, channel and day; key account_id, flow_id, flow_message_id,
  send_channel, day;
- segment_series_reports: per account, segment and day; key account_id, segment_id, day.

Every statistic Klaviyo offers for the report is a column (report_columns.py); rows of campaign and flow reports name
the conversion metric they were counted with (the `conversion_metric` setting, resolved per account). Days are the
account's days (its timezone, in the `timezone` column); a day on which every statistic of a series is 0 has no
row. Values reports cover today and the 364 days before it, read
again every run (`timeframe_start`, `timeframe_end`); series are incremental by day with a bookmark per account, each
run reading `report_lookback_days` before it again, so numbers that change after a send (attribution, up to 90 days
after it) are corrected in place (report_plan.py).

The requests are sent in the background from the start of the run (report_fetch.py), within each account's daily
quota per endpoint (report_quota.py); these streams sync last and emit what was fetched. A timeframe is emitted only
when read in full, and a series' bookmark moves to the last day of the last one, so a run stopped by the quota goes
on from there next time, with nothing lost and nothing twice (rows are merged on their key).
"""

from __future__ import annotations

import time
import typing as t
from datetime import date, datetime, timedelta

import orjson
from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk import typing as th
from typing_extensions import override

from .client import SCHEMAS, KlaviyoStream
from .report_columns import MESSAGE_STATISTICS, SEGMENT_STATISTICS, conform, report_schema
from .report_plan import (
    SEGMENT_DATA_START,
    Timeframe,
    account_zone,
    report_body,
    run_minute,
    series_first_day,
    series_slices,
    values_timeframe,
)
from .report_quota import SPENT_UNTIL_KEY, left_for_tomorrow

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import tzinfo

    from singer_sdk.helpers.types import Context, Record

    from .report_fetch import Fetched, ReportFetch

REPORT_SCHEMAS = SCHEMAS / "reports"

# The settings of the report streams (TapKlaviyo.config_jsonschema).
REPORT_SETTINGS = [
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
        th.IntegerType(minimum=1, maximum=225),
        default=225,
        description="Requests a day each report endpoint may take per account (Klaviyo's quota: 225, shared with "
        "the account's other private-key integrations; lower it to leave them some). Scaled like the other limits "
        "by rate_limit_scale.",
    ),
]


class ReportStream(KlaviyoStream):
    """One report of the Reporting API, read for every account; see the module docstring."""

    schema = StreamSchema(SchemaDirectory(REPORT_SCHEMAS))
    report_type: str  # the JSON:API type of the request and answer, e.g. "flow-series-report"
    groupings: tuple[str, ...]  # Klaviyo's default group_by: the key after account_id
    statistics: t.Mapping[str, str]
    interval: str | None = None  # "daily" for a series
    needs_conversion_metric = True
    first_day_with_data: date | None = None

    @classmethod
    def schema_definition(cls) -> dict[str, t.Any]:
        """The JSON schema written to schemas/reports/<name>.json (scripts/make_report_schemas.py)."""
        return report_schema(
            cls.groupings, cls.statistics, series=cls.interval is not None, conversion=cls.needs_conversion_metric
        )

    # ---- the plan (called in the fetch thread) ----------------------------------------------------------------
    def plan(self, timezone: str | None, now: float, state: t.Mapping[str, t.Any]) -> tuple[tzinfo, list[Timeframe]]:
        """The timeframes this run asks for, oldest first, in the account's timezone."""
        zone = account_zone(timezone)
        end = run_minute(now, zone)
        return zone, [values_timeframe(end)]

    def request_body(self, timeframe: Timeframe, conversion_metric_id: str | None) -> dict[str, t.Any]:
        return report_body(
            self.report_type,
            list(self.statistics),
            timeframe,
            interval=self.interval,
            conversion_metric_id=conversion_metric_id if self.needs_conversion_metric else None,
        )

    # ---- rows ------------------------------------------------------------------------------------------------
    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        account_id = self.account_id(context)
        fetch = self.tap.reports.result(self, account_id)
        if fetch.error is not None:
            raise fetch.error
        state = self.get_context_state(context)
        # The requests sent count against the quota whatever happens next: kept before any row is emitted.
        state.pop(SPENT_UNTIL_KEY, None)
        state.update(fetch.budget.state(time.time()))
        self.state_manager.is_flushed = False
        if fetch.missing_metric:
            return  # ReportAccounts said so, once for the account
        rows = 0
        for fetched in fetch.fetched:
            for row in self.rows(fetch, fetched):
                rows += 1
                yield row
            self.read_in_full(state, fetched.timeframe)
        self.log_outcome(fetch, rows)

    def rows(self, fetch: ReportFetch, fetched: Fetched) -> Iterator[dict[str, t.Any]]:
        """A values report's rows: one per result (grouping)."""
        common = self.common_columns(fetch)
        common["timeframe_start"] = fetched.timeframe.start.isoformat()
        common["timeframe_end"] = fetched.timeframe.end.isoformat()
        for page in fetched.pages:
            for result in orjson.loads(page)["data"]["attributes"]["results"]:
                row = {**common, **self.grouping_columns(result)}
                stats = result.get("statistics") or {}
                for name, kind in self.statistics.items():
                    row[name] = conform(stats.get(name), kind)
                yield row

    def common_columns(self, fetch: ReportFetch) -> dict[str, t.Any]:
        columns: dict[str, t.Any] = {**self.account_columns(fetch.account_id), "timezone": fetch.timezone}
        if self.needs_conversion_metric:
            assert fetch.metric is not None
            columns["conversion_metric_id"] = fetch.metric.id
            columns["conversion_metric_name"] = fetch.metric.name
        return columns

    def grouping_columns(self, result: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        groupings = result.get("groupings") or {}
        return {name: groupings.get(name) for name in self.groupings}

    def read_in_full(self, state: dict[str, t.Any], timeframe: Timeframe) -> None:
        """A timeframe's rows are all emitted (series move their bookmark here)."""

    def log_outcome(self, fetch: ReportFetch, rows: int) -> None:
        account, now = fetch.account, time.time()
        if fetch.quota_spent:
            self.logger.warning(
                left_for_tomorrow(
                    self.name, account, fetch.left, len(fetch.planned), self.endpoint, fetch.budget.frees_in(now)
                )
            )
            return
        first, last = fetch.planned[0], fetch.planned[-1]
        self.logger.info(
            "%s for '%s': %d request(s) for %s to %s (the account's days, %s), %s rows; %d of the day's %d %s "
            "requests left",
            self.name,
            account,
            len(fetch.planned),
            first.first_day,
            last.last_day,
            fetch.timezone or "UTC",
            f"{rows:,}",
            fetch.budget.remaining(now),
            fetch.budget.limit,
            self.endpoint,
        )


class SeriesReportStream(ReportStream):
    """A daily series: incremental by day (the account's), one bookmark per account."""

    interval = "daily"
    replication_key = "day"
    is_sorted = False

    @override
    def plan(self, timezone: str | None, now: float, state: t.Mapping[str, t.Any]) -> tuple[tzinfo, list[Timeframe]]:
        zone = account_zone(timezone)
        end = run_minute(now, zone)
        bookmark = state.get("replication_key_value")
        start_date = self.config.get("start_date")
        first = series_first_day(
            today=(end - timedelta(minutes=1)).date(),
            bookmark=date.fromisoformat(bookmark[:10]) if isinstance(bookmark, str) else None,
            lookback_days=int(self.config.get("report_lookback_days", 5)),
            history_days=int(self.config.get("report_history_days", 365)),
            start_date=datetime.fromisoformat(start_date).astimezone(zone).date() if start_date else None,
            floor=self.first_day_with_data,
        )
        return zone, series_slices(first, end)

    @override
    def rows(self, fetch: ReportFetch, fetched: Fetched) -> Iterator[dict[str, t.Any]]:
        """One row per result (grouping) and day of the series with any statistic other than 0."""
        common = self.common_columns(fetch)
        zone = fetch.zone or account_zone(fetch.timezone)
        for page in fetched.pages:
            attributes = orjson.loads(page)["data"]["attributes"]
            days = [_day(moment, zone) for moment in attributes["date_times"]]
            for result in attributes["results"]:
                head = {**common, **self.grouping_columns(result)}
                stats = result.get("statistics") or {}
                for index, day in enumerate(days):
                    row = {**head, "day": day}
                    for name, kind in self.statistics.items():
                        values = stats.get(name)
                        row[name] = conform(values[index], kind) if values and index < len(values) else None
                    # Klaviyo answers every day of the timeframe for each grouping active in it, so which days come
                    # back as all zeros depends on how the run cut its timeframes: those days get no row.
                    if any(row[name] for name in self.statistics):
                        yield row

    @override
    def read_in_full(self, state: dict[str, t.Any], timeframe: Timeframe) -> None:
        reached = timeframe.last_day.isoformat()
        old = state.get("replication_key_value")
        if not isinstance(old, str) or reached > old:
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = reached
            self.state_manager.is_flushed = False

    # TODO: drop if singer-sdk lets a stream set its own bookmark without progress markers (no upstream issue yet).
    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        # Private singer-sdk method, overridden because the bookmark is the last day of the last timeframe emitted
        # in full (`read_in_full`), not the highest day among rows that come grouped by message: singer-sdk would
        # promote that at the end of the partition.
        return


def _day(moment: str, zone: tzinfo) -> str:
    """The account's day a series bucket starts on (Klaviyo's date_times carry an offset; a bare one is local)."""
    parsed = datetime.fromisoformat(moment)
    local = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed.astimezone(zone)
    return local.date().isoformat()


class CampaignValuesReportsStream(ReportStream):
    name = "campaign_values_reports"
    path = "/api/campaign-values-reports"
    endpoint = "query_campaign_values"
    report_type = "campaign-values-report"
    groupings = ("campaign_id", "campaign_message_id", "send_channel")
    statistics = MESSAGE_STATISTICS
    primary_keys = ("account_id", *groupings)


class FlowValuesReportsStream(ReportStream):
    name = "flow_values_reports"
    path = "/api/flow-values-reports"
    endpoint = "query_flow_values"
    report_type = "flow-values-report"
    groupings = ("flow_id", "flow_message_id", "send_channel")
    statistics = MESSAGE_STATISTICS
    primary_keys = ("account_id", *groupings)


class FlowSeriesReportsStream(SeriesReportStream):
    name = "flow_series_reports"
    path = "/api/flow-series-reports"
    endpoint = "query_flow_series"
    report_type = "flow-series-report"
    groupings = ("flow_id", "flow_message_id", "send_channel")
    statistics = MESSAGE_STATISTICS
    primary_keys = ("account_id", *groupings, "day")


class SegmentSeriesReportsStream(SeriesReportStream):
    name = "segment_series_reports"
    path = "/api/segment-series-reports"
    endpoint = "query_segment_series"
    report_type = "segment-series-report"
    groupings = ("segment_id",)
    statistics = SEGMENT_STATISTICS
    needs_conversion_metric = False
    first_day_with_data = SEGMENT_DATA_START
    primary_keys = ("account_id", *groupings, "day")


def reports_last(streams: dict[str, t.Any]) -> dict[str, t.Any]:
    """The tap's streams (singer-sdk syncs them in this dict's order, by name) with the report streams moved to the
    end, in place: when singer-sdk reaches them, every other stream is done and their answers are usually in."""
    names = list(streams)
    reports = [name for name in names if isinstance(streams[name], ReportStream)]
    if names[len(names) - len(reports) :] != reports:
        for name in reports:
            streams[name] = streams.pop(name)
    return streams


REPORT_STREAM_TYPES: list[type[ReportStream]] = [
    CampaignValuesReportsStream,
    FlowValuesReportsStream,
    FlowSeriesReportsStream,
    SegmentSeriesReportsStream,
]
