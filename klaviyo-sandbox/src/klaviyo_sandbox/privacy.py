"""Deleting a person as Klaviyo does: the profile and everything about it go from every read.

`POST /api/data-privacy-deletion-jobs` (DataPrivacyApi.request_profile_deletion) names the people by exactly one
identifier, `email`, `phone_number` or the profile `id`; "All profiles that match the provided identifier will be
deleted. The deletion occurs asynchronously" (its SDK docstring). Klaviyo's API has no other way to delete a profile
(ProfilesApi has no delete method in klaviyo-api 25.0.0); the UI has one, which the sandbox models with an admin route.

What a deletion takes away, here as in Klaviyo ("the profile and its data disappear from every read",
https://help.klaviyo.com/hc/en-us/articles/360004217631): the profile (GET /profiles, /profiles/{id}, list and
segment members), its events (GET /events, and so the Reporting API's numbers and the metric aggregates, which count
the events reads see), its late events not yet readable, the consent written for it, and the identifiers that found
it, so a later write with the same e-mail makes a new profile. Klaviyo publishes no list of deleted profiles: a reader
learns of a deletion only by no longer seeing the profile.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .account import Account
from .event_pages import event_draws
from .jobs import DeletionJob

__all__ = ["IDENTIFIER_KINDS", "delete_profiles", "matching_profiles", "run_deletion_job"]

IDENTIFIER_KINDS = ("id", "email", "phone_number")
_CHUNK = 1 << 16  # generated events drawn per numpy pass


def matching_profiles(account: Account, kind: str, value: str) -> list[str]:
    """The ids of the account's current profiles that `kind` = `value` names."""
    data, state = account.data, account.state
    if kind == "id":
        return [value] if state.profiles.get(value) is not None else []
    candidates = set()
    j = data.profile_index_by_identifier(kind, value)
    if j is not None:
        candidates.add(data.profile_id(j))
    written = state.written_profile_ids.get((kind, value))
    if written is not None:
        candidates.add(written)
    found = []
    for profile_id in sorted(candidates):
        profile = state.profiles.get(profile_id)
        # A written change may have moved the identifier to another value since.
        if profile is not None and profile["attributes"].get(kind) == value:
            found.append(profile_id)
    return found


def delete_profiles(account: Account, profile_ids: Iterable[str]) -> list[str]:
    """Delete these profiles and everything about them; the ids that existed (and are now gone)."""
    data, state = account.data, account.state
    gone = [pid for pid in dict.fromkeys(profile_ids) if state.profiles.delete(pid) is not None]
    if not gone:
        return []
    wanted = set(gone)
    state.deleted_profiles.update(gone)
    # Generated events name their profile by index: find them in numpy passes over every generated event.
    indexes = np.array(
        sorted(j for pid in gone if (j := data.profile_index(pid)) is not None and 0 <= j < data.n_profiles),
        dtype=np.uint64,
    )
    events = state.events
    if len(indexes):
        for start in range(0, events.n, _CHUNK):
            idx = np.arange(start, min(start + _CHUNK, events.n), dtype=np.uint64)
            _, _, _, profiles = event_draws(data, idx)
            events.hidden.update(idx[np.isin(profiles, indexes)].tolist())
    for record in [r for r in events.overlay.records.values() if r["rel"]["profile"] in wanted]:
        events.overlay.delete(record["id"])
    events.version += 1
    state.late.forget(wanted)
    for members in state.members.values():
        for pid in gone:
            members.remove(pid)
    for key in [key for key, pid in state.written_profile_ids.items() if pid in wanted]:
        del state.written_profile_ids[key]
    for pid in gone:
        state.subscriptions.pop(pid, None)  # consent written for them (consent.py)
    return gone


def run_deletion_job(account: Account, job: DeletionJob) -> None:
    """Carry out a requested deletion (once)."""
    if job.done:
        return
    job.deleted = delete_profiles(account, matching_profiles(account, job.kind, job.value))
    job.done = True
