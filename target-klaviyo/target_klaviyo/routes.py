"""Klaviyo's write routes the target sends rows to, each with its limits and how an answer names a row.

Sizes from Klaviyo's docs and the official SDK's docstrings (klaviyo-api 25.0.0, revision 2026-10-15):

- POST /api/event-bulk-create-jobs (bulk_create_events): 1,000 events and 5 MB a request; an entry's pointer is
  /data/attributes/events-bulk-create/data/N.
- POST /api/profile-bulk-import-jobs (bulk_import_profiles): 10,000 profiles and 5 MB a job, 100 KB a profile;
  /data/attributes/profiles/data/N (so are the next two).
- POST /api/profile-subscription-bulk-create-jobs (bulk_subscribe_profiles): 1,000 profiles ("Maximum number of
  profiles can be submitted for subscription: 1000").
- POST /api/profile-subscription-bulk-delete-jobs (bulk_unsubscribe_profiles): 100 profiles ("Maximum number of
  profiles per call: 100").
- DELETE /api/lists/{id}/relationships/profiles (remove_profiles_from_list): 1,000 profile ids ("a maximum of
  1000 profiles per call"); /data/N.

A route's request is `head + entry,entry,... + tail`, entries serialized once per row (`bulk.Item.body`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

MAX_BODY_BYTES = 5_000_000  # "5 MB", read as the smaller of 10^6 and 2^20 bytes per MB
MAX_PROFILE_BYTES = 100 * 1024  # 100 KB per profile of an import job
PROFILES_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)(?:/|$)")


@dataclass(frozen=True)
class Route:
    name: str  # the SDK method: klaviyo_http's tier, and the sandbox's rate-limit bucket
    method: str
    path: str
    head: bytes
    tail: bytes
    max_items: int
    pointer: re.Pattern[str]  # an error's JSON pointer -> the entry it names (group 1: its index)
    job: bool = False  # a profile import job: polled until it ends, its import errors name refused rows
    profile_ids: bool = False  # read the ids of the job's profiles once it ends (list mirrors)

    @property
    def room(self) -> int:
        """Bytes a request has for its entries and the commas between them."""
        return MAX_BODY_BYTES - len(self.head) - len(self.tail)

    @property
    def max_item_bytes(self) -> int:
        return min(self.room, MAX_PROFILE_BYTES) if self.job else self.room

    def body(self, entries: list[bytes]) -> bytes:
        return self.head + b",".join(entries) + self.tail

    def entry_index(self, pointer: str | None) -> int | None:
        match = self.pointer.match(pointer or "")
        return int(match.group(1)) if match else None


def _list_ref(list_id: str) -> bytes:
    return orjson.dumps({"type": "list", "id": list_id})


EVENTS = Route(
    "bulk_create_events",
    "POST",
    "/api/event-bulk-create-jobs",
    b'{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[',
    b"]}}}}",
    1_000,
    re.compile(r"^/data/attributes/events-bulk-create/data/(\d+)(?:/|$)"),
)
PROFILES = Route(
    "bulk_import_profiles",
    "POST",
    "/api/profile-bulk-import-jobs",
    b'{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":[',
    b"]}}}}",
    10_000,
    PROFILES_POINTER,
    job=True,
)


def into_list(list_id: str, *, profile_ids: bool) -> Route:
    """A profile import job whose profiles join a list (its `lists` relationship)."""
    return Route(
        PROFILES.name,
        PROFILES.method,
        PROFILES.path,
        PROFILES.head,
        b']}},"relationships":{"lists":{"data":[' + _list_ref(list_id) + b"]}}}}",
        PROFILES.max_items,
        PROFILES_POINTER,
        job=True,
        profile_ids=profile_ids,
    )


def subscribe(*, historical: bool, list_id: str | None) -> Route:
    """Subscription consent; `historical` imports consent given in the past (each profile has `consented_at`):
    no double opt-in message, no "added to list" flow (the SDK's bulk_subscribe_profiles docstring)."""
    relationships = b',"relationships":{"list":{"data":' + _list_ref(list_id) + b"}}" if list_id else b""
    flag = b"true" if historical else b"false"
    return Route(
        "bulk_subscribe_profiles",
        "POST",
        "/api/profile-subscription-bulk-create-jobs",
        b'{"data":{"type":"profile-subscription-bulk-create-job","attributes":{"profiles":{"data":[',
        b']},"historical_import":' + flag + b"}" + relationships + b"}}",
        1_000,
        PROFILES_POINTER,
    )


def unsubscribe(*, list_id: str | None) -> Route:
    relationships = b',"relationships":{"list":{"data":' + _list_ref(list_id) + b"}}" if list_id else b""
    return Route(
        "bulk_unsubscribe_profiles",
        "POST",
        "/api/profile-subscription-bulk-delete-jobs",
        b'{"data":{"type":"profile-subscription-bulk-delete-job","attributes":{"profiles":{"data":[',
        b"]}}" + relationships + b"}}",
        100,
        PROFILES_POINTER,
    )


def remove_from_list(list_id: str) -> Route:
    return Route(
        "remove_profiles_from_list",
        "DELETE",
        f"/api/lists/{list_id}/relationships/profiles",
        b'{"data":[',
        b"]}",
        1_000,
        re.compile(r"^/data/(\d+)(?:/|$)"),
    )
