"""One stream per Klaviyo endpoint, declared: path, keys, replication key, page size, includes, filters, deletions.

How each stream stays in step with Klaviyo (README, "How the warehouse stays in step with Klaviyo"):
- events and profiles: incremental, read in time windows (windows.py); events start `events_lookback_days` before
  their bookmark, for events Klaviyo shows late, and older days whose count in Klaviyo changed are read again
  (event_counts: Klaviyo's own daily counts; completeness.py);
- people deleted in Klaviyo: every profile id listed once a day (profile_ids, profile_listings), the warehouse marks
  what the listing no longer holds (profile_listing.py, warehouse-sql);
- list and segment members: listed in full every run, or incremental on `joined_group_at` (members.py);
- every other stream is small and listed in full every run, with `deletions = ACTIVATE_VERSION` (versions.py), so a
  campaign, flow, list, segment, tag, template, metric or account deleted in Klaviyo is marked deleted.
"""

from __future__ import annotations

import math
import typing as t
from datetime import UTC, date, datetime

from typing_extensions import override

from klaviyo_http import RequestRefusedError

from .attributions import add_attribution, attribution_index
from .completeness import Baseline, heal_plan, local_day_bounds, next_baseline, zone_of
from .event_counts import EventCountsStream
from .flatten import RawPage, flatten
from .klaviyo_stream import KlaviyoStream
from .members import GroupMembersStream
from .profile_listing import ProfileIdsStream, ProfileListingsStream
from .reports import REPORT_STREAM_TYPES
from .sdk_seams import mark_state_changed
from .versions import ACTIVATE_VERSION
from .windows import Row, TimeWindows, WindowedStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context, Record

    from .bookmarks import PartitionRun

# Klaviyo lists campaigns of one channel per request: the filter is required, and archived campaigns are returned
# only when asked for (klaviyo-api 25.0.0, CampaignsApi.get_campaigns docstring; SMS and push campaigns went missing
# in taps that sent one channel: https://github.com/singer-io/tap-klaviyo/issues/50,
# https://github.com/MeltanoLabs/tap-klaviyo/issues/161).
CHANNELS = ("email", "sms", "mobile_push")
DAY = 86_400


class AccountsStream(KlaviyoStream):
    name = "accounts"
    path = "/api/accounts"
    endpoint = "get_accounts"
    primary_keys = ("account_id", "id")
    deletions = ACTIVATE_VERSION


class EventsStream(WindowedStream):
    """Incremental on `datetime`, from `events_lookback_days` before the bookmark; then, with Klaviyo's own counts
    (event_counts.py), every older day whose count changed since the tap read it is read again for that metric
    (completeness.py)."""

    name = "events"
    in_light_runs = True  # the light run every 15 minutes (settings.py `scope`)
    path = "/api/events"
    endpoint = "get_events"
    primary_keys = ("account_id", "id")
    replication_key = "datetime"
    is_sorted = True
    sort = "datetime"
    page_size = 1000
    bookmark_filter = ("datetime", "greater-or-equal")

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if self.settings.events_attributions:
            # Klaviyo's own attribution of each event, in the same request and rate tier (attributions.py).
            params["include"] = "attributions"
        return params

    @override
    def page_rows(self, page: RawPage, columns: dict[str, str]) -> list[Row]:
        rows = super().page_rows(page, columns)
        if not self.settings.events_attributions:
            return rows
        index = attribution_index(page.included)
        return [add_attribution(row, index) for row in rows]

    @override
    def full_lookback_seconds(self) -> float:
        # Klaviyo shows some events days after their time (imports, backfills, its eventual consistency: one
        # connector saw them more than 4 days late, https://github.com/estuary/connectors/pull/5158).
        return float(self.settings.events_lookback_days * DAY)

    @override
    def pages(self, partition: PartitionRun) -> Iterator[list[Row]]:
        account = self.account(partition.context)
        # Klaviyo's counts are asked before the events of their days are read, so no count holds an event the read
        # could miss; the days before the check window are read while they are asked (event_counts.PendingCounts).
        pending = self.run.event_counts.start(account)
        read_start = datetime.fromtimestamp(self.start_time(partition), UTC)
        try:
            yield from self.read_forward(partition, pending.gate() if pending is not None else None)
        except Exception:
            # The read failed: the run ends with its error, without waiting for the counts left to ask. (Closed
            # early, by singer-sdk's max-records limit, the counts are still asked: event_counts may want them.)
            if pending is not None:
                pending.abandon()
            raise
        counts = pending.result() if pending is not None else None
        state = self.get_context_state(partition.context)
        baseline = Baseline.from_state(state)
        plan = heal_plan(baseline, counts, read_start) if counts is not None else []
        if plan:
            assert counts is not None and baseline is not None
            self.logger.info(
                "Account '%s': %d metric-day(s) before the events lookback changed in Klaviyo since the tap read "
                "them; they are re-read: %s",
                account.name,
                len(plan),
                ", ".join(
                    f"{counts.names.get(m, m)} {day.isoformat()} ({baseline.count(m, day)} -> {counts.count(m, day)})"
                    for m, day in plan
                ),
            )
        healed = 0
        for metric_id, day in plan:
            assert counts is not None
            for rows in self.day_of_metric(partition, metric_id, day, counts.timezone, read_start):
                healed += len(rows)
                yield rows
        if plan:
            self.logger.info("Account '%s': %d event(s) re-read for %d metric-day(s)", account.name, healed, len(plan))
        if counts is not None:
            # Every row of this partition is emitted (in batch mode, in a file announced before the next STATE).
            state[Baseline.STATE_KEY] = next_baseline(baseline, counts, read_start, plan).to_state()
            mark_state_changed(self)

    def day_of_metric(
        self, partition: PartitionRun, metric_id: str, day: date, timezone: str, read_start: datetime
    ) -> Iterator[list[Row]]:
        """Every event of one metric on one day of the account's calendar before `read_start`, in windows read at
        once: the incremental read (from the whole second of `read_start` on) already emits the rest of the day, and
        a run emits a row once."""
        start, end = local_day_bounds(day, zone_of(timezone))
        end = min(end, datetime.fromtimestamp(math.floor(read_start.timestamp()), UTC))

        def window_filter(lo: int, hi: int | None) -> list[str]:
            return [f'equals(metric_id,"{metric_id}")', *self.window_filter(lo, hi)]

        reader = self.window_reader(partition.context, window_filter)
        windows = TimeWindows(start.timestamp(), end.timestamp(), target_rows=self.window_rows, open_ended=False)
        yield from reader.read(windows, self.rows_of(self.account(partition.context)))


class ProfilesStream(WindowedStream):
    name = "profiles"
    in_light_runs = True  # the light run every 15 minutes (settings.py `scope`)
    path = "/api/profiles"
    endpoint = "get_profiles"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    is_sorted = True
    sort = "updated"
    page_size = 100
    bookmark_filter = ("updated", "greater-than")
    # Klaviyo filters profiles' `updated` with greater-than and less-than only (klaviyo-api 25.0.0,
    # ProfilesApi.get_profiles docstring): start a second early, so rows sharing the bookmark's second are read again.
    lower_bound = ("greater-than", -1)

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        fields = self.settings.profile_additional_fields
        if fields:
            params["additional-fields[profile]"] = ",".join(fields)
        return params

    @override
    def endpoint_for(self, context: Context | None) -> str:
        # predictive_analytics moves profiles to a lower tier of their own (ProfilesApi.get_profiles docstring).
        if "predictive_analytics" in self.settings.profile_additional_fields:
            return "get_profiles:predictive_analytics"
        return self.endpoint


class CampaignsStream(KlaviyoStream):
    """Every channel and archived campaigns too: each (account, channel, archived) is a partition."""

    name = "campaigns"
    path = "/api/campaigns"
    endpoint = "get_campaigns"
    primary_keys = ("account_id", "id")
    include = ("campaign-messages", "tags")
    deletions = ACTIVATE_VERSION

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [
            {"account_id": account.id, "channel": channel, "archived": archived}
            for account in self.run.accounts()
            for channel in CHANNELS
            for archived in (False, True)
        ]

    @override
    def filter_conditions(self, context: Context | None) -> list[str]:
        assert context is not None
        return [
            f"equals(messages.channel,'{context['channel']}')",
            f"equals(archived,{str(context['archived']).lower()})",
            *super().filter_conditions(context),
        ]

    @override
    def get_child_context(self, record: Record, context: Context | None) -> dict[str, t.Any]:
        return {"account_id": record["account_id"], "campaign_id": record["id"]}


class IncludedStream(KlaviyoStream):
    """Resources the parent side-loaded with `include`: no request of their own. The child context names
    the parent (`campaign_id`, `flow_id`), which each included resource also names in its relationships."""

    parent_stream_type: type[KlaviyoStream]
    resource_type: str
    parent_column: str
    state_partitioning_keys: t.ClassVar[list[str]] = ["account_id"]
    deletions = ACTIVATE_VERSION  # listed with their parent, in full every run

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None and self.parent is not None
        for resource in self.parent.included.get(self.resource_type, ()):
            row = flatten(resource)
            if row.get(self.parent_column) == context[self.parent_column]:
                processed = self.post_process(row, context)
                if processed is not None:
                    yield processed


class CampaignMessagesStream(IncludedStream):
    name = "campaign_messages"
    path = "/api/campaign-messages"
    primary_keys = ("account_id", "id")
    parent_stream_type = CampaignsStream
    resource_type = "campaign-message"
    parent_column = "campaign_id"


class FlowsStream(KlaviyoStream):
    """Listed in full every run (deletions); the bookmark on `updated` says which flows changed since the last run,
    and only their messages are read again (flow_messages costs a request per flow action, at 60 a minute)."""

    name = "flows"
    path = "/api/flows"
    endpoint = "get_flows"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    # The listing starts from the oldest flow every run, below the bookmark: singer-sdk keeps the run's highest
    # `updated` aside and makes it the bookmark when the partition ends.
    is_sorted = False
    sort = "updated"
    page_size = 50
    include = ("flow-actions", "tags")
    deletions = ACTIVATE_VERSION

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.changed: set[tuple[str, str]] = set()  # (account id, flow id) of flows updated since the bookmark

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        # Archived flows are returned only when asked for (FlowsApi.get_flows docstring).
        return [
            {"account_id": account.id, "archived": archived}
            for account in self.run.accounts()
            for archived in (False, True)
        ]

    @override
    def filter_conditions(self, context: Context | None) -> list[str]:
        assert context is not None
        return [f"equals(archived,{str(context['archived']).lower()})"]  # no bookmark filter: a full listing

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        since = self.get_starting_replication_key_value(context)
        if not isinstance(since, str) or str(row.get("updated") or "")[:19] >= since[:19]:
            self.changed.add((self.account_id(context), row["id"]))
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: Record, context: Context | None) -> dict[str, t.Any]:
        return {"account_id": record["account_id"], "flow_id": record["id"]}


class FlowActionsStream(IncludedStream):
    name = "flow_actions"
    path = "/api/flow-actions"
    primary_keys = ("account_id", "id")
    parent_stream_type = FlowsStream
    resource_type = "flow-action"
    parent_column = "flow_id"

    @override
    def generate_child_contexts(self, record: Record, context: Context | None) -> t.Iterable[Context | None]:
        """Messages only for the actions of flows that changed since the last run."""
        flows = t.cast("FlowsStream", self.parent)
        if (record["account_id"], record["flow_id"]) in flows.changed:
            yield {"account_id": record["account_id"], "flow_action_id": record["id"]}


class FlowMessagesStream(KlaviyoStream):
    name = "flow_messages"
    path = "/api/flow-actions/{flow_action_id}/flow-messages"  # singer-sdk fills {placeholders} from the context
    endpoint = "get_flow_action_messages"
    primary_keys = ("account_id", "id")
    parent_stream_type = FlowActionsStream
    page_size = 50
    state_partitioning_keys: t.ClassVar[list[str]] = ["account_id"]

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        try:
            yield from super().get_records(context)
        except RequestRefusedError as refused:
            if refused.detail.status != 404:
                raise
            # The flow (or the action) was deleted after the run listed the flows: nothing left to read.
            assert context is not None
            self.logger.info("flow action %s was deleted during the run", context["flow_action_id"])

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        assert context is not None
        row["flow_action_id"] = context["flow_action_id"]
        return super().post_process(row, context)


class ListsStream(KlaviyoStream):
    name = "lists"
    path = "/api/lists"
    endpoint = "get_lists"
    primary_keys = ("account_id", "id")
    page_size = 10
    include = ("tags",)
    deletions = ACTIVATE_VERSION


class SegmentsStream(ListsStream):
    name = "segments"
    path = "/api/segments"
    endpoint = "get_segments"


class ListMembersStream(GroupMembersStream):
    name = "list_members"
    path = "/api/lists/{list_id}/profiles"
    endpoint = "get_profiles_for_list"
    ids_path = "/api/lists/{id}/relationships/profiles"
    ids_endpoint = "get_profile_ids_for_list"
    group = "list"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "list_id", "id"]


class SegmentMembersStream(GroupMembersStream):
    name = "segment_members"
    path = "/api/segments/{segment_id}/profiles"
    endpoint = "get_profiles_for_segment"
    ids_path = "/api/segments/{id}/relationships/profiles"
    ids_endpoint = "get_profile_ids_for_segment"
    group = "segment"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "segment_id", "id"]


class MetricsStream(KlaviyoStream):
    name = "metrics"
    path = "/api/metrics"
    endpoint = "get_metrics"
    primary_keys = ("account_id", "id")
    deletions = ACTIVATE_VERSION


class TagsStream(KlaviyoStream):
    name = "tags"
    path = "/api/tags"
    endpoint = "get_tags"
    primary_keys = ("account_id", "id")
    page_size = 50
    include = ("tag-group",)
    deletions = ACTIVATE_VERSION


class TemplatesStream(KlaviyoStream):
    name = "templates"
    path = "/api/templates"
    endpoint = "get_templates"
    primary_keys = ("account_id", "id")
    page_size = 10
    deletions = ACTIVATE_VERSION


STREAM_TYPES: list[type[KlaviyoStream]] = [
    AccountsStream,
    EventCountsStream,
    EventsStream,
    ProfilesStream,
    ProfileIdsStream,
    ProfileListingsStream,  # synced last (TapKlaviyo.syncs_last): after every id of the listings it reports
    CampaignsStream,
    CampaignMessagesStream,
    FlowsStream,
    FlowActionsStream,
    FlowMessagesStream,
    ListsStream,
    ListMembersStream,
    SegmentsStream,
    SegmentMembersStream,
    MetricsStream,
    TagsStream,
    TemplatesStream,
    # Synced last (TapKlaviyo.streams): their requests run in the background from the start of the run.
    *REPORT_STREAM_TYPES,
]
