"""One Klaviyo account as the sandbox serves it: the generated data set, and the state that writes change.

- `AccountDataSet` (generator.py): what the account was generated with, read-only: its id, name and key, its
  small resources, its profiles, events and list/segment members as functions of their index.
- `AccountState` (here): what the account is now, and everything that changes it. Its tables are what reads serve:
  the generated records, plus those written (events, imported profiles, new metrics, members added, attributions
  added by the admin routes), minus those deleted. Beside them, the bookkeeping of writes: event de-duplication
  keys, identifiers of written profiles, bulk jobs, counters, late events not readable yet.

New mutable state of an account (a job queue, a counter, a new kind of write) goes in `AccountState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .generator import AccountDataSet, Membership
from .jobs import DeletionJob, ProfileJob
from .late import LateArrivals
from .members import MemberTable, member_record
from .settings import DataSettings
from .tables import LazyTable, MemoryTable, Record, Table


class AccountState:
    """What one account is now (the tables reads serve) and the bookkeeping of the writes that changed it."""

    def __init__(self, data: AccountDataSet, late: LateArrivals | None = None) -> None:
        # What reads serve: the generated records, plus those written (rank 1), minus those deleted.
        self.account = MemoryTable("account", [data.account], rank=0)
        self.metrics = MemoryTable("metric", data.metrics.values(), rank=0)
        self.tag_groups = MemoryTable("tag-group", data.tag_groups.values(), rank=0)
        self.tags = MemoryTable("tag", data.tags.values(), rank=0)
        self.templates = MemoryTable("template", data.templates.values(), rank=0)
        self.lists = MemoryTable("list", data.lists.values(), rank=0)
        self.segments = MemoryTable("segment", data.segments.values(), rank=0)
        self.campaigns = MemoryTable("campaign", data.campaigns.values(), rank=0)
        self.campaign_messages = MemoryTable("campaign-message", data.campaign_messages.values(), rank=0)
        self.flows = MemoryTable("flow", data.flows.values(), rank=0)
        self.flow_actions = MemoryTable("flow-action", data.flow_actions.values(), rank=0)
        self.flow_messages = MemoryTable("flow-message", data.flow_messages.values(), rank=0)
        self.profiles = LazyTable(
            "profile",
            data.n_profiles,
            data.profile,
            data.profile_index,
            {"created": data.profile_created, "updated": data.profile_updated, "id": data.profile_id},
        )
        self.events = LazyTable(
            "event",
            data.n_events,
            data.event,
            data.event_index,
            {"datetime": data.event_time, "timestamp": data.event_time},
        )
        # (group type, group id) -> the group's members; a deleted list or segment leaves this dict.
        self.members: dict[tuple[str, str], MemberTable] = {
            key: self._member_table(data, membership) for key, membership in data.memberships.items()
        }
        self._tables: dict[str, Table] = {
            "account": self.account,
            "event": self.events,
            "profile": self.profiles,
            "metric": self.metrics,
            "campaign": self.campaigns,
            "campaign-message": self.campaign_messages,
            "flow": self.flows,
            "flow-action": self.flow_actions,
            "flow-message": self.flow_messages,
            "list": self.lists,
            "segment": self.segments,
            "tag": self.tags,
            "tag-group": self.tag_groups,
            "template": self.templates,
        }

        # The bookkeeping of writes.
        self.event_unique_ids: set[tuple[str, str, str]] = set()  # (metric, profile, unique id): Klaviyo drops repeats
        self.written_profile_ids: dict[tuple[str, str], str] = {}  # (identifier kind, value) -> written profile's id
        self.profile_jobs: dict[str, ProfileJob] = {}
        self.deletion_jobs: list[DeletionJob] = []  # data-privacy deletions requested (privacy.py)
        self.deleted_profiles: set[str] = set()  # ids of profiles deleted (privacy.py): never served again
        # profile id -> channel ("email", "sms") -> its marketing consent as written by a subscription job; reads
        # show it over the generated consent (consent.py)
        self.subscriptions: dict[str, dict[str, dict[str, Any]]] = {}
        self.created_events = 0  # events written: the next one's index is n_events + created_events
        self.created_profiles = 0
        # Events written but not readable yet (the sandbox's --late-share; none by default).
        self.late = late or LateArrivals()
        self.membership_batches = 0  # admin calls that changed memberships (seeds the next one)

    def _member_table(self, data: AccountDataSet, membership: Membership) -> MemberTable:
        def joined(m: int) -> float:
            return data.joined_group_at(membership.profile(m))

        def make(m: int) -> Record:
            # A generated member shows its profile as it is now, written or generated.
            j = membership.profile(m)
            profile = self.profiles.get(data.profile_id(j)) or data.profile(j)
            return member_record(profile, joined(m))

        def index_of(profile_id: str) -> int | None:
            return membership.member(data.profile_index(profile_id))

        return MemberTable(membership.n, make, index_of, joined, member_record, self.profiles.get)

    def table(self, type_: str) -> Table | None:
        """The table of a resource type (None for a type the sandbox does not serve)."""
        return self._tables.get(type_)

    def memory_table(self, type_: str) -> MemoryTable:
        """The table of a small resource type (campaign, flow, list, tag ...), held whole."""
        table = self._tables[type_]
        assert isinstance(table, MemoryTable), type_
        return table

    def is_member(self, group_type: str, group_id: str, profile_id: str) -> bool:
        table = self.members.get((group_type, group_id))
        return table is not None and table.get(profile_id) is not None


@dataclass(frozen=True)
class Account:
    """One account: `data` as generated (read-only), `state` as it is now (what reads serve, what writes change)."""

    data: AccountDataSet
    state: AccountState

    @classmethod
    def generate(cls, settings: DataSettings, index: int, late: LateArrivals | None = None) -> Account:
        """Account `index` of the data set `settings` describe, with no writes yet."""
        data = AccountDataSet(settings, index)
        return cls(data, AccountState(data, late))
