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
from typing_extensions import override

from .klaviyo_stream import SCHEMAS, KlaviyoStream, account_columns
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
from .sdk_seams import BookmarkSetByStream, mark_state_changed

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import tzinfo

    from singer_sdk.helpers.types import Context

    from .report_fetch import Fetched, ReportFetch

REPORT_SCHEMAS = SCHEMAS / "reports"


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

    @override
    def rate_buckets(self) -> frozenset[str]:
        # report_fetch.py also reads the account's timezone and resolves the conversion metric to its id.
        return super().rate_buckets() | {"get_accounts", "get_metrics"}

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
        fetch = self.run.reports.result(self, self.account(context))
        if fetch.error is not None:
            raise fetch.error
        state = self.get_context_state(context)
        # The requests sent count against the quota whatever happens next: kept before any row is emitted.
        state.pop(SPENT_UNTIL_KEY, None)
        state.update(fetch.budget.state(time.time()))
        mark_state_changed(self)
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
        columns: dict[str, t.Any] = {**account_columns(fetch.account), "timezone": fetch.timezone}
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
        account, now = fetch.account.name, time.time()
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


class SeriesReportStream(BookmarkSetByStream, ReportStream):
    """A daily series: incremental by day (the account's), one bookmark per account, moved by `read_in_full` (the
    last day of the last timeframe emitted in full), not by singer-sdk's per-record bookmarking."""

    interval = "daily"
    replication_key = "day"
    is_sorted = False

    @override
    def plan(self, timezone: str | None, now: float, state: t.Mapping[str, t.Any]) -> tuple[tzinfo, list[Timeframe]]:
        zone = account_zone(timezone)
        end = run_minute(now, zone)
        bookmark = state.get("replication_key_value")
        start_date = self.settings.start_date
        first = series_first_day(
            today=(end - timedelta(minutes=1)).date(),
            bookmark=date.fromisoformat(bookmark[:10]) if isinstance(bookmark, str) else None,
            lookback_days=self.settings.report_lookback_days,
            history_days=self.settings.report_history_days,
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
            mark_state_changed(self)


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


REPORT_STREAM_TYPES: list[type[ReportStream]] = [
    CampaignValuesReportsStream,
    FlowValuesReportsStream,
    FlowSeriesReportsStream,
    SegmentSeriesReportsStream,
]
