"""Which campaign or flow message an event belongs to: the rule the generator writes into event properties, and
the reading of it back that the Reporting API counts with.

Klaviyo carries attribution in event properties (an email event in a Klaviyo help-center webhook example,
https://help.klaviyo.com/hc/en-us/articles/17760478970907, has `$message`, `Campaign Name`, `Subject`; warehouse
models of Klaviyo exports read `$flow` beside it, and `$attribution.$message` / `$attribution.$flow` on Placed Order):

- A message event (Received/Opened/Clicked Email, Received/Clicked SMS) names its message in `$message`: a
  campaign-message id, or a flow-message id with the flow's id in `$flow` (`$flow` is "" for a campaign).
- A conversion event (any other metric) that Klaviyo attributed to a message carries
  `$attribution: {"$message": id, "$flow": flow id or "", "$attributed_channel": "email" | "sms"}`.
  Events without `$attribution` are organic.

The generator's rule for the events it makes (a pure function of the event's time and hash, so ids, times and
metrics of the data set are unchanged; only these properties are new):

- Message events: the campaign message of the event's channel sent last, if it was sent at most
  CAMPAIGN_WINDOW before the event (3 events in 4), else one of the flow messages of that channel whose flow is
  live or manual and that existed at the event's time (picked by the hash), else that last campaign; none before
  the first send (`$message` "").
- Conversions: 2 in 3 of the other events are attributed (1 in 4 of those to SMS), by the same choice with
  Klaviyo's default attribution window (ATTRIBUTION_WINDOW, 5 days) for campaigns and no fallback to an older
  campaign; organic when nothing qualifies.

The API serves the same attribution as a resource of its own: `GET /api/events?include=attributions` names an
attributed event's `attribution` in `relationships.attributions.data` and side-loads it in `included`, with no
attributes and relationships to the event and to the campaign and campaign message, or the flow and flow message
(AttributionResponseObjectResource in klaviyo/openapi, openapi/stable/apis/get_events.json; the SDK's
EventResponseObjectResourceRelationshipsAttributions). `attribution_record` makes it from `$attribution`. Klaviyo
also names the open or click that earned the credit (`attributed-event`); the sandbox's rule picks a send, not an
event, so that relationship is left out.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .tables import Record

__all__ = [
    "ATTRIBUTION_WINDOW",
    "CAMPAIGN_WINDOW",
    "MESSAGE_METRICS",
    "Attribution",
    "Send",
    "attributed_message",
    "attribution_id",
    "attribution_record",
    "message_of",
]

DAY = 86_400.0
CAMPAIGN_WINDOW = 7 * DAY  # message events this long after a campaign's send still belong to it
ATTRIBUTION_WINDOW = 5 * DAY  # Klaviyo's default conversion attribution window (sync-completeness.md)

# Message metric name -> (channel, what it counts in a report)
MESSAGE_METRICS: dict[str, tuple[str, str]] = {
    "Received Email": ("email", "delivered"),
    "Opened Email": ("email", "opens"),
    "Clicked Email": ("email", "clicks"),
    "Received SMS": ("sms", "delivered"),
    "Clicked SMS": ("sms", "clicks"),
}


@dataclass(frozen=True, slots=True)
class Send:
    """A message events can be attributed to: a sent campaign message, or a flow message of a running flow."""

    message_id: str
    flow_id: str  # "" for a campaign message
    channel: str  # "email" | "sms"
    start: float  # campaign: its send time; flow message: its creation
    name: str  # the events' "Campaign Name"
    subject: str


def _send_time(message: Record) -> float:
    text = message["attributes"]["definition"]["send_options"]["send_time"]
    return datetime.fromisoformat(text).timestamp()


class Attribution:
    """The sends of one account, ordered by time per channel, and the rule that picks one for an event."""

    def __init__(
        self,
        campaigns: Mapping[str, Record],
        campaign_messages: Iterable[Record],
        flows: Iterable[Record],
        flow_actions: Mapping[str, Record],
        flow_messages: Mapping[str, Record],
    ) -> None:
        self.campaigns: dict[str, list[Send]] = {"email": [], "sms": []}
        for message in campaign_messages:
            channel = message["f"]["channel"]
            if message["f"]["status"] != "sent" or channel not in self.campaigns:
                continue
            campaign = campaigns[message["rel"]["campaign"]]
            self.campaigns[channel].append(
                Send(message["id"], "", channel, _send_time(message), campaign["k"]["name"], "News from us")
            )
        self.flows: dict[str, list[Send]] = {"email": [], "sms": []}
        for flow in flows:
            if flow["attributes"]["status"] not in ("live", "manual"):
                continue
            for action_id in flow["rel"]["flow-actions"]:
                for message_id in flow_actions[action_id]["rel"]["flow-messages"]:
                    message = flow_messages[message_id]
                    channel = message["attributes"]["channel"]
                    name = f"{flow['attributes']['name']}: {message['f']['name']}"
                    subject = message["attributes"]["definition"]["content"]["subject"]
                    created = message["k"]["created"]
                    self.flows[channel].append(Send(message_id, flow["id"], channel, created, name, subject))
        for sends in (*self.campaigns.values(), *self.flows.values()):
            sends.sort(key=lambda s: (s.start, s.message_id))
        self._starts = {
            (kind, channel): [s.start for s in sends]
            for kind, by_channel in (("campaign", self.campaigns), ("flow", self.flows))
            for channel, sends in by_channel.items()
        }

    def pick(self, channel: str, t: float, a: int, window: float, *, fallback: bool) -> Send | None:
        """The send an event of `channel` at time `t` with hash `a` belongs to; None before the first send, and
        (unless `fallback`) when only a campaign older than `window` is left."""
        n_campaigns = bisect.bisect_right(self._starts[("campaign", channel)], t)
        campaign = self.campaigns[channel][n_campaigns - 1] if n_campaigns else None
        n_flows = bisect.bisect_right(self._starts[("flow", channel)], t)
        recent = campaign is not None and t - campaign.start <= window
        if recent and (n_flows == 0 or a % 4):
            return campaign
        if n_flows:
            return self.flows[channel][(a >> 2) % n_flows]
        return campaign if fallback or recent else None

    def message_properties(self, metric_name: str, t: float, a: int) -> dict[str, Any]:
        """The properties of a generated message event (`metric_name` in MESSAGE_METRICS)."""
        send = self.pick(MESSAGE_METRICS[metric_name][0], t, a, CAMPAIGN_WINDOW, fallback=True)
        if send is None:
            return {"Campaign Name": "", "Subject": "", "$message": "", "$flow": ""}
        return {"Campaign Name": send.name, "Subject": send.subject, "$message": send.message_id, "$flow": send.flow_id}

    def conversion(self, t: float, a: int) -> dict[str, str] | None:
        """The `$attribution` of a generated conversion event, or None when it is organic."""
        if (a >> 40) % 3 == 0:
            return None
        channel = "sms" if (a >> 44) % 4 == 0 else "email"
        send = self.pick(channel, t, a >> 8, ATTRIBUTION_WINDOW, fallback=False)
        if send is None:
            return None
        return {"$message": send.message_id, "$flow": send.flow_id, "$attributed_channel": channel}


def message_of(properties: dict[str, Any]) -> str:
    """The message a message event names ("" if none)."""
    value = properties.get("$message")
    return value if isinstance(value, str) else ""


def attributed_message(properties: dict[str, Any]) -> str:
    """The message a conversion event is attributed to ("" if organic)."""
    attribution = properties.get("$attribution")
    if not isinstance(attribution, dict):
        return ""
    value = attribution.get("$message")
    return value if isinstance(value, str) else ""


def attribution_id(event_id: str) -> str:
    """The id of an attributed event's attribution: 32 hex digits, as Klaviyo's ids of attributions look
    (get_events.json's example, "925e385b52fb405715f3616c337cc65c"), the same on every read."""
    return hashlib.blake2b(event_id.encode(), digest_size=16).hexdigest()


def attribution_record(event: Record, campaign_of: Callable[[str], str | None]) -> Record | None:
    """The `attribution` resource of an event whose properties carry `$attribution`, None for any other event.
    `campaign_of` gives a campaign message's campaign."""
    properties = event["attributes"].get("event_properties") or {}
    message_id = attributed_message(properties)
    if not message_id:
        return None
    flow_id = properties["$attribution"].get("$flow")
    rel: dict[str, Any] = {"event": event["id"]}
    if isinstance(flow_id, str) and flow_id:
        rel.update({"flow": flow_id, "flow-message": message_id})
    else:
        rel.update({"campaign": campaign_of(message_id), "campaign-message": message_id})
    return {"type": "attribution", "id": attribution_id(event["id"]), "rel": rel, "attributes": {}}
