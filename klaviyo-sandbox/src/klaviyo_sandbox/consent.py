"""What subscription jobs do to an account: marketing consent by profile and channel, and how reads show it.

A subscribe job (POST /api/profile-subscription-bulk-create-jobs) finds each profile by its identifiers, or
creates it ("If a profile cannot be found matching the given identifier(s), a new profile will be created and then
subscribed": the SDK's bulk_subscribe_profiles), and sets its email and/or SMS marketing consent to SUBSCRIBED, at
`consented_at` for a historical import, else now; its profiles join the job's list. An unsubscribe job sets
UNSUBSCRIBED and takes them out of the job's list. Reads with `additional-fields[profile]=subscriptions` show the
consent written over the generated one (query.py).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .account import Account, AccountState
from .generator import iso
from .validation import SubscriptionJob
from .writes import upsert_profile


def _marketing(channel: str, job: SubscriptionJob, consented_at: datetime | None, now: float) -> dict[str, Any]:
    at = iso(consented_at.timestamp()) if consented_at is not None else iso(now)
    can = "can_receive_email_marketing" if channel == "email" else "can_receive_sms_marketing"
    state: dict[str, Any] = {
        can: job.subscribe,
        "consent": "SUBSCRIBED" if job.subscribe else "UNSUBSCRIBED",
        "consent_timestamp": at,
        "last_updated": iso(now),
        "method": "API",
        "method_detail": "bulk_subscribe_profiles" if job.subscribe else "bulk_unsubscribe_profiles",
    }
    if channel == "email":
        state.update(custom_method_detail=job.custom_source, double_optin=False, suppression=[], list_suppressions=[])
    return state


def run_subscription_job(account: Account, job: SubscriptionJob, now: float) -> None:
    state = account.state
    members = state.members.get(("list", job.list_id)) if job.list_id else None
    for entry in job.profiles:
        record, _ = upsert_profile(account, entry.profile, now)
        written = state.subscriptions.setdefault(record["id"], {})
        for channel, consented_at in entry.channels.items():
            written[channel] = _marketing(channel, job, consented_at, now)
        if members is not None:
            if job.subscribe:
                members.add(record, now)
            else:
                members.remove(record["id"])


def with_written_consent(state: AccountState, profile_id: str, generated: dict[str, Any]) -> dict[str, Any]:
    """A profile's `subscriptions` as reads show them: the generated ones, with the written channels over them."""
    written = state.subscriptions.get(profile_id)
    if not written:
        return generated
    out = copy.deepcopy(generated)
    for channel, marketing in written.items():
        out.setdefault(channel, {})
        out[channel] = {**(out[channel] or {}), "marketing": marketing}
    return out
