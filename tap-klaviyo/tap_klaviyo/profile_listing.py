"""Learning of people deleted in Klaviyo: a listing of every profile id, at most once per `profile_listing_hours`.

Klaviyo deletes a person (`request_profile_deletion`, or the UI's delete) with their events and publishes no list of
what it deleted: a reader learns of a deletion only by no longer seeing the profile. So, per account:

- `profile_ids` lists every profile id as cheaply as Klaviyo allows: the sparsest fieldset (`fields[profile]=created`,
  the one attribute the time windows need), the largest pages (100), several `created` windows at once so the
  account's get_profiles limit (750 a minute) is the bound, not the round trip: ~10,600 requests and ~14 minutes per
  million profiles (bench/profile_deletion_cost.py). The rows are `(account_id, account_name, id, listed_at)`,
  `listed_at` the listing's start. It lists when the last listing that ran to its end started
  `profile_listing_hours` (20) or more ago, so twice-daily runs list once a day, and a listing cut short is done
  again by the next run.
- `profile_listings` then says, in one row per account, that its latest listing ran to the end (`started_at`,
  `completed_at`, the ids listed). It syncs after `profile_ids` (the tap syncs it last), so its row comes after
  every id of that listing, and never for a listing cut short. The listing is kept in profile_ids' state and its row
  said again by every run (the same row: an upsert by account), so a run killed after that STATE and before the row
  loses nothing: the next run, with no listing due, says it.
- The warehouse (warehouse-sql/README.md) takes as deleted the PROFILES rows an account's latest complete listing
  no longer holds, and marks their PROFILES, EVENTS and membership rows: Klaviyo deleted the events too, so only
  the warehouse, which holds them, can find them by the profile's id.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from typing_extensions import override

from .klaviyo_stream import KlaviyoStream, account_columns
from .sdk_seams import mark_state_changed
from .windows import TimeWindows, WindowedStream, window_conditions

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from .bookmarks import PartitionRun

Row = dict[str, t.Any]
# The partition state's keys: the latest listing that ran to its end.
LAST_LISTING = "last_complete_listing_started_at"
LAST_LISTING_COMPLETED = "last_complete_listing_completed_at"
LAST_LISTING_PROFILES = "last_complete_listing_profiles"
CREATED = "created"


@dataclass(frozen=True)
class Listing:
    """One account's listing that ran to its end."""

    account_id: str
    account_name: str
    started_at: datetime
    completed_at: datetime
    profiles: int

    def keep_in(self, state: dict[str, t.Any]) -> None:
        state[LAST_LISTING] = self.started_at.isoformat()
        state[LAST_LISTING_COMPLETED] = self.completed_at.isoformat()
        state[LAST_LISTING_PROFILES] = self.profiles

    @classmethod
    def kept_in(cls, state: Mapping[str, t.Any], account_id: str, account_name: str) -> Listing | None:
        """The listing `keep_in` kept in the state; None where it holds none (or, from before it kept the whole
        listing, only when it started)."""
        try:
            started = datetime.fromisoformat(state[LAST_LISTING])
            completed = datetime.fromisoformat(state[LAST_LISTING_COMPLETED])
            profiles = int(state[LAST_LISTING_PROFILES])
        except (KeyError, TypeError, ValueError):
            return None
        return cls(account_id, account_name, started, completed, profiles)

    def row(self) -> dict[str, t.Any]:
        return {
            "account_id": self.account_id,
            "account_name": self.account_name,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat(),
            "profiles": self.profiles,
        }


def listing_due(state: Mapping[str, t.Any], now: datetime, every_hours: int) -> bool:
    """Whether the account's profiles are to be listed: never listed to the end, or last listed `every_hours` ago."""
    last = state.get(LAST_LISTING)
    if not isinstance(last, str):
        return True
    try:
        started = datetime.fromisoformat(last)
    except ValueError:
        return True
    return now - started >= timedelta(hours=every_hours)


class ProfileIdsStream(WindowedStream):
    """Every profile id of each account (when its listing is due), read in `created` windows several at once."""

    name = "profile_ids"
    path = "/api/profiles"
    endpoint = "get_profiles"
    primary_keys = ("account_id", "id")
    page_size = 100
    sort = CREATED
    # Klaviyo filters profiles' `created` with greater-than and less-than only (ProfilesApi.get_profiles docstring).
    lower_bound = ("greater-than", -1)

    @override
    def window_filter(self, lo: int, hi: int | None) -> list[str]:
        return window_conditions(CREATED, self.lower_bound, lo, hi)

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {**super().get_url_params(context, next_page_token), "fields[profile]": CREATED}

    @override
    def pages(self, partition: PartitionRun) -> Iterator[list[Row]]:
        context = partition.context
        state = self.get_context_state(context)
        started = datetime.now(UTC)
        account = self.account(context)
        every = self.settings.profile_listing_hours
        if not listing_due(state, started, every):
            kept = Listing.kept_in(state, account.id, account.name)
            if kept is not None:  # said again: the run that listed may have ended before its row
                self.run.profile_listings[account.id] = kept
            self.logger.info(
                "Account '%s': profile ids not listed this run: the last listing started at %s, and one is due "
                "every %d hours (profile_listing_hours)",
                account.name,
                state.get(LAST_LISTING),
                every,
            )
            return
        reader = self.window_reader(context, self.window_filter)
        listed = 0
        first = reader.first_time(0, CREATED)
        if first is not None:
            windows = TimeWindows(first, started.timestamp(), target_rows=self.window_rows)
            stamp = started.isoformat()
            columns = account_columns(account)  # account_id and account_name, as every stream's rows
            for rows in reader.read(windows, self.rows_of(account)):
                listed += len(rows)
                yield [{**columns, "id": row["id"], "listed_at": stamp} for row in rows]
        # Every id is emitted (and, in batch mode, in a file announced before the next STATE): the listing is whole.
        done = Listing(account.id, account.name, started, datetime.now(UTC), listed)
        self.run.profile_listings[account.id] = done
        done.keep_in(state)
        mark_state_changed(self)
        self.logger.info(
            "Account '%s': %d profile ids listed in %.0f s",
            account.name,
            listed,
            (done.completed_at - started).total_seconds(),
        )


class ProfileListingsStream(KlaviyoStream):
    """One row per account: its latest listing of profile ids that ran to the end (synced after profile_ids)."""

    name = "profile_listings"
    path = "/api/profiles"
    reports_on = "profile_ids"  # its rows are profile_ids' whole listings, known only to that stream's process
    primary_keys = ("account_id",)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        listing = self.run.profile_listings.get(self.account_id(context))
        if listing is not None:
            yield listing.row()
