"""What writes do to an account's data: profile upserts, events (de-duplicated), bulk jobs, activity.

Everything written becomes readable through the read endpoints: a created event is in GET /events (at once, or
after `--late-hours` if it is one of the late share), an imported profile in GET /profiles and in its lists'
members.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from typing import Any

from . import ids
from .account import Account
from .generator import iso
from .jobs import ProfileJob
from .members import MemberTable
from .tables import Record
from .validation import EventInput, ProfileInput, ProfileRowError

IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id")


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        if key in ("location", "properties") and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def find_profile(account: Account, p: ProfileInput) -> Record | None:
    data, state = account.data, account.state
    if p.id:
        found = state.profiles.get(p.id)
        if found is not None:
            return found
    for kind in IDENTIFIERS:
        value = getattr(p, kind)
        if not value:
            continue
        pid = state.written_profile_ids.get((kind, value))
        if pid is None:
            j = data.profile_index_by_identifier(kind, value)
            if j is not None:
                pid = data.profile_id(j)
        if pid is not None:
            found = state.profiles.get(pid)
            if found is not None:
                return found
    return None


def upsert_profile(account: Account, p: ProfileInput, now: float) -> tuple[Record, bool]:
    """Create or update a profile as Klaviyo's profile-import does; returns (record, created)."""
    data, state = account.data, account.state
    existing = find_profile(account, p)
    given = {k: getattr(p, k) for k in IDENTIFIERS if getattr(p, k)}
    given.pop("anonymous_id", None)
    if existing is None:
        index = state.profiles.n + state.created_profiles
        state.created_profiles += 1
        pid = ids.ulid(int(now * 1000), index, data.salt)
        attrs: dict[str, Any] = {
            "email": None,
            "phone_number": None,
            "external_id": None,
            "first_name": None,
            "last_name": None,
            "organization": None,
            "locale": None,
            "title": None,
            "image": None,
            "created": iso(now),
            "updated": iso(now),
            "last_event_date": None,
            "location": None,
            "properties": {},
        }
        attrs = _merge(attrs, {**p.attributes, **given})
        record: Record = {
            "type": "profile",
            "id": pid,
            "attributes": attrs,
            "rel": {},
            "k": {"created": now, "updated": now, "id": pid, "email": attrs.get("email") or ""},
        }
        created = True
    else:
        record = copy.deepcopy(existing)
        record["attributes"] = _merge(record["attributes"], {**p.attributes, **given})
        record["attributes"]["updated"] = iso(now)
        record["k"]["updated"] = now
        record["k"]["email"] = record["attributes"].get("email") or ""
        created = False
    state.profiles.put(record)
    for kind in IDENTIFIERS:
        value = getattr(p, kind) or record["attributes"].get(kind)
        if value:
            state.written_profile_ids[(kind, value)] = record["id"]
    return record, created


def metric_for(account: Account, name: str, service: str | None, now: float) -> str:
    data, state = account.data, account.state
    for metric in state.metrics.records.values():
        if metric["attributes"]["name"] == name:
            return str(metric["id"])
    mid = ids.short_id(len(state.metrics) + 100, data.salt ^ 0x11, width=6)
    integration = service or "API"
    state.metrics.put(
        {
            "type": "metric",
            "id": mid,
            "rel": {"flow-triggers": []},
            "k": {"order": len(state.metrics), "id": mid},
            "f": {"integration.name": integration, "integration.category": "API"},
            "attributes": {
                "name": name,
                "created": iso(now),
                "updated": iso(now),
                "integration": {"object": "integration", "id": "api", "name": integration, "category": "API"},
            },
        }
    )
    return mid


def create_event(account: Account, e: EventInput, now: float) -> Record | None:
    """Store one event; None when Klaviyo would drop it as a duplicate (same metric, profile, unique_id)."""
    data, state = account.data, account.state
    profile, _ = (
        upsert_profile(account, e.profile, now)
        if _has_profile_data(e.profile)
        else (find_profile(account, e.profile) or upsert_profile(account, e.profile, now)[0], False)
    )
    metric_id = metric_for(account, e.metric_name, e.metric_service, now)
    t = float(int(e.time.timestamp())) if e.time is not None else float(int(now))
    # Without unique_id Klaviyo keys the event on its time to the second.
    key = (metric_id, profile["id"], e.unique_id if e.unique_id else f"t:{int(t)}")
    if key in state.event_unique_ids:
        return None
    state.event_unique_ids.add(key)
    index = state.events.n + state.created_events
    state.created_events += 1
    props = dict(e.properties)
    if e.value is not None:
        props["$value"] = e.value
    if e.value_currency:
        props["$value_currency"] = e.value_currency
    if e.unique_id:
        props["$event_id"] = e.unique_id
    record: Record = {
        "type": "event",
        "id": ids.short_id(index, data.salt, 11),
        "rel": {"metric": metric_id, "profile": profile["id"], "attributions": []},
        "k": {"datetime": t, "timestamp": t},
        "attributes": {"timestamp": int(t), "event_properties": props, "datetime": iso(t), "uuid": str(uuid.uuid4())},
    }
    store_event(account, record, now)
    return record


def store_event(account: Account, record: Record, now: float) -> None:
    """A new event becomes readable now, or later if it is one of the account's late arrivals (late.py)."""
    state = account.state
    if not state.late.hold(record, now):
        state.events.put(record)


def _has_profile_data(p: ProfileInput) -> bool:
    # An event's profile block with attributes beyond identifiers updates the profile, as Klaviyo does.
    return bool(p.attributes)


def start_profile_job(
    account: Account,
    profiles: list[ProfileInput | None],
    row_errors: list[ProfileRowError],
    list_ids: list[str],
    now: float,
) -> ProfileJob:
    state = account.state
    job = ProfileJob(
        id=str(uuid.uuid4()).replace("-", "")[:24],
        created_at=now,
        profiles=profiles,
        row_errors=row_errors,
        list_ids=list_ids,
    )
    state.profile_jobs[job.id] = job
    return job


def run_profile_job(account: Account, job: ProfileJob, now: float) -> None:
    state = account.state
    job.status, job.started_at = "processing", job.started_at or now
    for p in job.profiles:
        if p is None:
            continue
        record, _ = upsert_profile(account, p, now)
        job.profile_ids.append(record["id"])
        for lid in job.list_ids:
            members = state.members.get(("list", lid))
            if members is not None:
                members.add(record, now)
        job.completed_count += 1
    job.status, job.completed_at = "complete", now


def run_event_job(account: Account, events: list[EventInput], now: float) -> int:
    return sum(1 for e in events if create_event(account, e, now) is not None)


def simulate_activity(
    account: Account,
    *,
    profiles: int = 0,
    events: int = 0,
    others: int = 0,
    segment_changes: int = 0,
    list_changes: int = 0,
    now: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Make the account change as a live one does: updates move `updated` to now, new events arrive, members
    leave and join segments and lists."""
    data, state = account.data, account.state
    now = now if now is not None else time.time()
    rnd = random.Random(
        f"{data.salt}-{seed}-{state.created_events}-{state.created_profiles}-{len(state.profiles.hidden)}"
    )
    touched_profiles = []
    for _ in range(profiles):
        j = rnd.randrange(data.n_profiles)
        current = state.profiles.get(data.profile_id(j)) or data.profile(j)
        record = copy.deepcopy(current)
        record["attributes"]["properties"] = {
            **(record["attributes"].get("properties") or {}),
            "last_activity_batch": seed,
        }
        record["attributes"]["updated"] = iso(now)
        record["k"]["updated"] = now
        state.profiles.put(record)
        touched_profiles.append(record["id"])
    new_events = []
    for k in range(events):
        base = data.event(rnd.randrange(data.n_events)) if data.n_events else None
        index = state.events.n + state.created_events
        state.created_events += 1
        t = float(int(now)) - (events - k)
        record = {
            "type": "event",
            "id": ids.short_id(index, data.salt, 11),
            "rel": dict(base["rel"])
            if base
            else {"metric": data.metric_ids[0], "profile": data.profile_id(0), "attributions": []},
            "k": {"datetime": t, "timestamp": t},
            "attributes": {
                "timestamp": int(t),
                "event_properties": dict(base["attributes"]["event_properties"]) if base else {},
                "datetime": iso(t),
                "uuid": str(uuid.uuid4()),
            },
        }
        store_event(account, record, now)
        new_events.append(record["id"])
    touched: dict[str, list[str]] = {}
    for table, field_name in (
        (state.campaigns, "updated_at"),
        (state.flows, "updated"),
        (state.lists, "updated"),
        (state.segments, "updated"),
        (state.templates, "updated"),
    ):
        chosen = rnd.sample(sorted(table.records), min(others, len(table.records)))
        for rid in chosen:
            record = copy.deepcopy(table.records[rid])
            record["attributes"][field_name] = iso(now)
            record["k"][field_name] = now
            table.put(record)
        touched[table.type] = chosen
    groups = change_memberships(account, segment_changes=segment_changes, list_changes=list_changes, now=now, seed=seed)
    return {"profiles": touched_profiles, "events": new_events, **touched, **groups}


def change_memberships(
    account: Account, *, segment_changes: int, list_changes: int, now: float, seed: int
) -> dict[str, list[dict[str, str]]]:
    """`n` members leave and `n` profiles join segments (and lists), as a segment's definition re-evaluated
    against changed profiles does: a joiner's `joined_group_at` is now; nothing else moves (not the profile's
    `updated`, not the group's). Deterministic from the seed and the calls made before.

    The answer names every change: {"segments_left": [{"segment_id", "profile_id"}], "segments_joined":
    [{"segment_id", "profile_id", "joined_group_at"}], and the same for lists}."""
    data, state = account.data, account.state
    out: dict[str, list[dict[str, str]]] = {}
    if segment_changes or list_changes:
        state.membership_batches += 1
    rnd = random.Random(f"{data.salt}-{seed}-memberships-{state.membership_batches}")
    for group_type, count in (("segment", segment_changes), ("list", list_changes)):
        groups = sorted(
            ((gid, table) for (gt, gid), table in state.members.items() if gt == group_type), key=lambda row: row[0]
        )
        left: list[dict[str, str]] = []
        joined: list[dict[str, str]] = []
        touched: set[tuple[str, str]] = set()  # a pair changes once per call
        attempts = 0
        while groups and len(left) < count and attempts < 20 * count:
            attempts += 1
            gid, table = groups[rnd.randrange(len(groups))]
            for pid in table.member_ids(rnd, 1):
                if (gid, pid) not in touched and table.remove(pid):
                    touched.add((gid, pid))
                    left.append({f"{group_type}_id": gid, "profile_id": pid})
        attempts = 0
        while groups and len(joined) < count and attempts < 20 * count:
            attempts += 1
            gid, table = groups[rnd.randrange(len(groups))]
            candidate = _non_member(account, table, rnd, {p for g, p in touched if g == gid})
            profile = state.profiles.get(candidate) if candidate is not None else None
            if profile is not None and table.add(profile, now):
                touched.add((gid, profile["id"]))
                joined.append({f"{group_type}_id": gid, "profile_id": profile["id"], "joined_group_at": iso(now)})
        out[f"{group_type}s_left"] = left
        out[f"{group_type}s_joined"] = joined
    return out


def _non_member(account: Account, table: MemberTable, rnd: random.Random, exclude: set[str]) -> str | None:
    """A generated profile that is not a member of `table` now (and not in `exclude`); None if none was found."""
    data = account.data
    for _ in range(200):
        pid = data.profile_id(rnd.randrange(data.n_profiles))
        if pid not in exclude and table.get(pid) is None:
            return str(pid)
    return None
