"""One stream per Klaviyo endpoint, declared: path, keys, replication key, page size, includes, filters."""

from __future__ import annotations

import typing as t
from datetime import timedelta
from functools import cached_property

from typing_extensions import override

from .client import KlaviyoStream
from .flatten import flatten
from .windows import WindowedStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

CHANNELS = ("email", "sms", "mobile_push")


class OneSecondBack(KlaviyoStream):
    """For fields Klaviyo filters only with `greater-than`: start one second before the bookmark, so rows
    that share the bookmark's second (Klaviyo shows whole seconds) are read again, never lost."""

    def filter_conditions(self, context: Context | None) -> list[str]:
        start = self.get_starting_timestamp(context)
        if start is None or self.bookmark_filter is None:
            return []
        field, op = self.bookmark_filter
        start -= timedelta(seconds=1)
        return [f"{op}({field},{start.strftime('%Y-%m-%dT%H:%M:%SZ')})"]


class AccountsStream(KlaviyoStream):
    name = "accounts"
    path = "/api/accounts"
    endpoint = "get_accounts"
    primary_keys = ("account_id", "id")


class EventsStream(WindowedStream):
    name = "events"
    path = "/api/events"
    endpoint = "get_events"
    primary_keys = ("account_id", "id")
    replication_key = "datetime"
    is_sorted = True
    sort = "datetime"
    page_size = 1000
    bookmark_filter = ("datetime", "greater-or-equal")


class ProfilesStream(WindowedStream):
    name = "profiles"
    path = "/api/profiles"
    endpoint = "get_profiles"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    is_sorted = True
    sort = "updated"
    page_size = 100
    bookmark_filter = ("updated", "greater-than")
    lower_bound = ("greater-than", -1)  # Klaviyo filters profiles' `updated` with greater-than/less-than only

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        fields = self.config.get("profile_additional_fields") or []
        if fields:
            params["additional-fields[profile]"] = ",".join(fields)
        return params

    def endpoint_for(self, context: Context | None) -> str:
        # predictive_analytics moves profiles to a lower tier of their own.
        if "predictive_analytics" in (self.config.get("profile_additional_fields") or []):
            return "get_profiles:predictive_analytics"
        return self.endpoint


class CampaignsStream(KlaviyoStream):
    """Every channel and archived campaigns too: Klaviyo lists one channel per request, archived ones
    only when asked, so each (account, channel, archived) is a partition with its own bookmark."""

    name = "campaigns"
    path = "/api/campaigns"
    endpoint = "get_campaigns"
    primary_keys = ("account_id", "id")
    replication_key = "updated_at"
    is_sorted = False  # Klaviyo's campaign order is not reliable (peers' reports); bookmark at partition end
    include = ("campaign-messages", "tags")
    bookmark_filter = ("updated_at", "greater-or-equal")

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [
            {"account_id": account_id, "channel": channel, "archived": archived}
            for account_id in self.tap.account_ids()
            for channel in CHANNELS
            for archived in (False, True)
        ]

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

    @cached_property
    def parent(self) -> KlaviyoStream:
        return next(s for s in self.tap.streams.values() if type(s) is self.parent_stream_type)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
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
    name = "flows"
    path = "/api/flows"
    endpoint = "get_flows"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    is_sorted = True
    sort = "updated"
    page_size = 50
    include = ("flow-actions", "tags")
    bookmark_filter = ("updated", "greater-or-equal")

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [
            {"account_id": account_id, "archived": archived}
            for account_id in self.tap.account_ids()
            for archived in (False, True)
        ]

    def filter_conditions(self, context: Context | None) -> list[str]:
        assert context is not None
        return [f"equals(archived,{str(context['archived']).lower()})", *super().filter_conditions(context)]

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
    def get_child_context(self, record: Record, context: Context | None) -> dict[str, t.Any]:
        return {"account_id": record["account_id"], "flow_action_id": record["id"]}


class FlowMessagesStream(KlaviyoStream):
    name = "flow_messages"
    path = "/api/flow-actions/{flow_action_id}/flow-messages"  # singer-sdk fills {placeholders} from the context
    endpoint = "get_flow_action_messages"
    primary_keys = ("account_id", "id")
    parent_stream_type = FlowActionsStream
    page_size = 50
    state_partitioning_keys: t.ClassVar[list[str]] = ["account_id"]

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        assert context is not None
        row["flow_action_id"] = context["flow_action_id"]
        return super().post_process(row, context)


class ListsStream(OneSecondBack):
    name = "lists"
    path = "/api/lists"
    endpoint = "get_lists"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    is_sorted = True
    sort = "updated"
    page_size = 10
    include = ("tags",)
    bookmark_filter = ("updated", "greater-than")


class SegmentsStream(ListsStream):
    name = "segments"
    path = "/api/segments"
    endpoint = "get_segments"


class GroupMembersStream(KlaviyoStream):
    """Members of every list (or segment), incremental on `joined_group_at` per group.

    Partitions are (account, group), found when the sync starts, so membership is read for every group,
    changed or not: a member joining does not move the group's `updated`."""

    group: str  # "list" | "segment"
    primary_keys: t.ClassVar[list[str]]
    replication_key = "joined_group_at"
    is_sorted = True
    sort = "joined_group_at"
    page_size = 100
    bookmark_filter = ("joined_group_at", "greater-or-equal")
    _partitions: list[dict[str, t.Any]] | None = None

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        if self._partitions is None:
            self._partitions = [
                {"account_id": account_id, f"{self.group}_id": group_id}
                for account_id in self.tap.account_ids()
                for group_id in self.tap.group_ids(account_id, self.group)
            ]
        return self._partitions

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        assert context is not None
        row[f"{self.group}_id"] = context[f"{self.group}_id"]
        return super().post_process(row, context)


class ListMembersStream(GroupMembersStream):
    name = "list_members"
    path = "/api/lists/{list_id}/profiles"
    endpoint = "get_profiles_for_list"
    group = "list"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "list_id", "id"]


class SegmentMembersStream(GroupMembersStream):
    name = "segment_members"
    path = "/api/segments/{segment_id}/profiles"
    endpoint = "get_profiles_for_segment"
    group = "segment"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "segment_id", "id"]


class MetricsStream(KlaviyoStream):
    name = "metrics"
    path = "/api/metrics"
    endpoint = "get_metrics"
    primary_keys = ("account_id", "id")


class TagsStream(KlaviyoStream):
    name = "tags"
    path = "/api/tags"
    endpoint = "get_tags"
    primary_keys = ("account_id", "id")
    page_size = 50
    include = ("tag-group",)


class TemplatesStream(KlaviyoStream):
    name = "templates"
    path = "/api/templates"
    endpoint = "get_templates"
    primary_keys = ("account_id", "id")
    replication_key = "updated"
    is_sorted = True
    sort = "updated"
    page_size = 10
    bookmark_filter = ("updated", "greater-or-equal")


STREAM_TYPES: list[type[KlaviyoStream]] = [
    AccountsStream,
    EventsStream,
    ProfilesStream,
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
]
