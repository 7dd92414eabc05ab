"""The deterministic data set: the same settings and seed always give the same accounts and records.

`AccountDataSet` is one account as generated, read-only. Small resources (metrics, campaigns, flows, lists ...)
are built whole at start-up. Events, profiles and list/segment members are functions of their index: record i is
computed from (seed, account, i) when asked for, so a million events cost no memory. Their time keys grow strictly
with i, which makes time filters and cursors binary searches (account.AccountState serves them as `LazyTable`s,
with what writes changed on top).
"""

from __future__ import annotations

import bisect
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from . import ids
from .attribution import MESSAGE_METRICS, Attribution
from .settings import DataSettings
from .tables import Record

M64 = (1 << 64) - 1

BRANDS = [
    "Acme Outdoors",
    "Blue Fern Botanicals",
    "Copperline Coffee",
    "Driftwood Home",
    "Ember & Oak",
    "Fable Kids",
    "Glacier Skin",
    "Harbor Pet Co",
    "Indigo Denim",
    "Juniper Tea",
]
FIRST = [
    "ava",
    "liam",
    "noah",
    "emma",
    "olivia",
    "mia",
    "lucas",
    "zoe",
    "ethan",
    "isla",
    "leo",
    "nora",
    "mateo",
    "aria",
    "kai",
    "luna",
    "omar",
    "priya",
    "chen",
    "sofia",
]
LAST = [
    "smith",
    "garcia",
    "chen",
    "patel",
    "jones",
    "kim",
    "nguyen",
    "brown",
    "silva",
    "muller",
    "rossi",
    "okafor",
    "haddad",
    "ivanova",
    "tanaka",
    "cohen",
]
CITIES = [
    ("Austin", "TX", "United States", "78701", "America/Chicago"),
    ("Portland", "OR", "United States", "97201", "America/Los_Angeles"),
    ("Brooklyn", "NY", "United States", "11201", "America/New_York"),
    ("Toronto", "ON", "Canada", "M5H 2N2", "America/Toronto"),
    ("London", "England", "United Kingdom", "EC1A 1BB", "Europe/London"),
    ("Berlin", "Berlin", "Germany", "10115", "Europe/Berlin"),
]
# (name, integration name, integration category, weight in the event stream)
METRICS = [
    ("Received Email", "Klaviyo", "Internal", 30),
    ("Opened Email", "Klaviyo", "Internal", 18),
    ("Clicked Email", "Klaviyo", "Internal", 6),
    ("Active on Site", "API", "API", 12),
    ("Viewed Product", "API", "API", 12),
    ("Added to Cart", "Shopify", "eCommerce", 5),
    ("Started Checkout", "Shopify", "eCommerce", 4),
    ("Placed Order", "Shopify", "eCommerce", 4),
    ("Ordered Product", "Shopify", "eCommerce", 4),
    ("Fulfilled Order", "Shopify", "eCommerce", 3),
    ("Received SMS", "Klaviyo", "Internal", 1),
    ("Clicked SMS", "Klaviyo", "Internal", 1),
]
PRODUCTS = [
    ("Trail Runner", 129.0),
    ("Canvas Tote", 34.5),
    ("Cold Brew Kit", 48.0),
    ("Linen Throw", 89.0),
    ("Wool Beanie", 25.0),
    ("Face Serum", 42.0),
    ("Dog Harness", 39.99),
    ("Rain Shell", 210.0),
]
CHANNELS = ["email", "email", "email", "sms", "mobile_push"]
FLOW_TRIGGERS = ["Metric", "Added to List", "Date Based", "Price Drop", "Low Inventory"]


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash so every field of record i is a pure function of i."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _by_id(records: Iterable[Record]) -> Mapping[str, Record]:
    """Records by id, in the order made, read-only."""
    return MappingProxyType({r["id"]: r for r in records})


@dataclass(frozen=True)
class Membership:
    """The generated members of one list or segment: profiles offset, offset + stride, ... (n of them); member m
    is profile offset + m * stride."""

    n: int
    offset: int
    stride: int

    def profile(self, m: int) -> int:
        """The profile index of member m."""
        return self.offset + m * self.stride

    def member(self, j: int | None) -> int | None:
        """The member index of profile j, None if profile j is no generated member."""
        if j is None or j < self.offset or (j - self.offset) % self.stride:
            return None
        return (j - self.offset) // self.stride


class AccountDataSet:
    """One Klaviyo account (a brand) as generated: its identity and key, its small resources whole, its profiles,
    events and list/segment members as functions of their index.

    Read-only: built once at start-up, never changed afterwards (its only cache, profile ids, memoizes a pure
    function). What writes, deletes, jobs and admin routes change lives in account.AccountState.
    """

    def __init__(self, settings: DataSettings, index: int) -> None:
        self.index = index
        self.salt = ids.salt("account", settings.seed, index)
        h = mix(self.salt)
        self.id = ids.short_id(index, ids.salt("account-ids", settings.seed), width=6)
        base = BRANDS[index % len(BRANDS)]
        self.name = base if index < len(BRANDS) else f"{base} {index // len(BRANDS) + 1}"
        # Obviously fake, never a real key's shape: "pk_sandbox_" then 32 hex digits.
        self.api_key = f"pk_sandbox_{mix(h) & M64:016x}{mix(h + 1) & M64:016x}"
        self.public_key = ids.short_id(index, ids.salt("public", settings.seed), width=6)
        self.end = settings.end.timestamp()
        self.start = self.end - settings.years * 365.25 * 86400
        self.span = self.end - self.start
        self.account = self._account_record()

        # Small resources, each by id in the order made.
        self.metrics = _by_id(self._metrics())
        self.metric_ids = tuple(m["id"] for m in sorted(self.metrics.values(), key=lambda r: r["k"]["order"]))
        self.metric_weights = self._cumulative([w for *_, w in METRICS])
        self.tag_groups = _by_id(self._tag_groups())
        self.tags = _by_id(self._tags())
        self.templates = _by_id(self._templates())
        self.lists = _by_id(self._groups("list", 15))
        self.segments = _by_id(self._groups("segment", settings.segments))
        self.segment_members = settings.segment_members
        campaigns, campaign_messages = self._campaigns(40)
        self.campaigns, self.campaign_messages = _by_id(campaigns), _by_id(campaign_messages)
        flows, flow_actions, flow_messages = self._flows(12)
        self.flows, self.flow_actions, self.flow_messages = _by_id(flows), _by_id(flow_actions), _by_id(flow_messages)
        # Which campaign or flow message each generated email/SMS event and conversion belongs to (attribution.py).
        self.attribution = Attribution(
            self.campaigns,
            self.campaign_messages.values(),
            self.flows.values(),
            self.flow_actions,
            self.flow_messages,
        )

        # Profiles and events: record j (i) of n_profiles (n_events), made by profile(j) (event(i)).
        self.n_profiles = max(1, settings.profiles)
        self._profile_ids: dict[int, str] = {}
        self.profile_step = self.span / self.n_profiles
        self.n_events = settings.events
        self.event_step = self.span / max(1, self.n_events)
        # (group type, group id) -> its generated members, lists then segments in the order made.
        memberships: dict[tuple[str, str], Membership] = {}
        for type_, groups in (("list", self.lists), ("segment", self.segments)):
            for k, group in enumerate(sorted(groups.values(), key=lambda r: r["k"]["order"])):
                memberships[(type_, group["id"])] = self._membership(type_, k)
        self.memberships: Mapping[tuple[str, str], Membership] = MappingProxyType(memberships)

    # ---- helpers -------------------------------------------------------------------------
    @staticmethod
    def _cumulative(weights: list[int]) -> tuple[float, ...]:
        total = float(sum(weights))
        acc, out = 0.0, []
        for w in weights:
            acc += w / total
            out.append(acc)
        return tuple(out)

    def _h(self, kind: str, i: int) -> int:
        base = _KIND_HASH.get(kind)
        if base is None:
            base = _KIND_HASH[kind] = hash_str(kind)
        return mix(self.salt ^ mix(base + i))

    def _time_in_span(self, h: int, lo_share: float = 0.0) -> float:
        share = lo_share + (1 - lo_share) * ((h >> 11) / float(1 << 53))
        return self.start + share * self.span

    def _account_record(self) -> Record:
        city, region, country, zip_, tz = CITIES[self.index % len(CITIES)]
        slug = self.name.lower().replace(" & ", "-").replace(" ", "-")
        return {
            "type": "account",
            "id": self.id,
            "rel": {},
            "k": {"id": self.id},
            "attributes": {
                "test_account": False,
                "contact_information": {
                    "default_sender_name": self.name,
                    "default_sender_email": f"hello@{slug}.example",
                    "website_url": f"https://{slug}.example",
                    "organization_name": self.name,
                    "street_address": {
                        "address1": f"{100 + self.index} Market St",
                        "address2": None,
                        "city": city,
                        "region": region,
                        "country": country,
                        "zip": zip_,
                    },
                },
                "industry": "Retail",
                "timezone": tz,
                "preferred_currency": "USD",
                "public_api_key": self.public_key,
                "locale": "en-US",
            },
        }

    def _metrics(self) -> list[Record]:
        out = []
        for k, (name, integ, category, _) in enumerate(METRICS):
            mid = ids.short_id(k, self.salt ^ 0x11, width=6)
            created = self.start - 86400 * (30 + k)
            out.append(
                {
                    "type": "metric",
                    "id": mid,
                    "rel": {"flow-triggers": []},
                    "k": {"order": k, "id": mid},
                    "f": {"integration.name": integ, "integration.category": category},
                    "attributes": {
                        "name": name,
                        "created": iso(created),
                        "updated": iso(created),
                        "integration": {
                            "object": "integration",
                            "id": ids.short_id(hash_str(integ) % 1000, 7, 6),
                            "name": integ,
                            "category": category,
                        },
                    },
                }
            )
        return out

    def _tag_groups(self) -> list[Record]:
        out = []
        for k, (name, exclusive) in enumerate([("Seasonal", False), ("Audience", True)]):
            gid = str(1000 + k + self.index * 10)
            out.append(
                {
                    "type": "tag-group",
                    "id": gid,
                    "rel": {},
                    "k": {"id": gid},
                    "attributes": {"name": name, "exclusive": exclusive, "default": k == 0},
                }
            )
        return out

    def _tags(self) -> list[Record]:
        names = [
            "Holiday",
            "Black Friday",
            "Spring",
            "Summer",
            "VIP",
            "Winback",
            "Welcome",
            "Loyalty",
            "Launch",
            "Clearance",
            "Newsletter",
            "Survey",
        ]
        groups = sorted(self.tag_groups)
        out = []
        for k, name in enumerate(names):
            tid = str(uuid.UUID(int=self._h("tag", k) << 64 | self._h("tag2", k)))
            out.append(
                {
                    "type": "tag",
                    "id": tid,
                    "rel": {"tag-group": groups[k % len(groups)]},
                    "k": {"id": tid, "name": name},
                    "attributes": {"name": name},
                }
            )
        return out

    def _pick_tags(self, h: int) -> list[str]:
        tag_ids = sorted(self.tags)
        return [tag_ids[(h >> s) % len(tag_ids)] for s in range(0, 8 * (h % 3), 8)]

    def _templates(self) -> list[Record]:
        out = []
        for k in range(25):
            h = self._h("template", k)
            tid = ids.short_id(k, self.salt ^ 0x22, width=6)
            created = self._time_in_span(h)
            updated = created + (mix(h) % 90) * 86400
            name = f"{['Welcome', 'Promo', 'Receipt', 'Newsletter', 'Reminder'][k % 5]} template {k + 1}"
            out.append(
                {
                    "type": "template",
                    "id": tid,
                    "rel": {},
                    "k": {"id": tid, "created": created, "updated": updated, "name": name},
                    "attributes": {
                        "name": name,
                        "editor_type": ["CODE", "SYSTEM_DRAGGABLE"][k % 2],
                        "html": f"<html><body><h1>{name}</h1><p>{{{{ first_name|default:'there' }}}}</p></body></html>",
                        "text": f"{name}\n",
                        "amp": None,
                        "created": iso(created),
                        "updated": iso(updated),
                    },
                }
            )
        return out

    def _groups(self, type_: str, count: int) -> list[Record]:
        out = []
        for k in range(count):
            h = self._h(type_, k)
            gid = ids.short_id(k, self.salt ^ (0x33 if type_ == "list" else 0x44), width=6)
            created = self.start + (h % 1000) / 1000 * self.span * 0.3
            updated = created + (mix(h) % 1000) / 1000 * (self.end - created)
            name = f"{['Newsletter', 'VIP', 'Winback', 'Engaged 90d', 'Purchasers', 'SMS Subscribers'][k % 6]} {k + 1}"
            attrs: dict[str, Any] = {"name": name, "created": iso(created), "updated": iso(updated)}
            if type_ == "list":
                attrs["opt_in_process"] = ["single_opt_in", "double_opt_in"][k % 2]
            else:
                attrs = {
                    "name": name,
                    "definition": {
                        "condition_groups": [
                            {
                                "conditions": [
                                    {
                                        "type": "profile-metric",
                                        "metric_id": None,
                                        "measurement": "count",
                                        "measurement_filter": {
                                            "type": "numeric",
                                            "operator": "greater-than",
                                            "value": k % 4,
                                        },
                                        "timeframe_filter": {
                                            "type": "date",
                                            "operator": "in-the-last",
                                            "quantity": 90,
                                            "unit": "day",
                                        },
                                        "metric_filters": None,
                                    }
                                ]
                            }
                        ]
                    },
                    "created": iso(created),
                    "updated": iso(updated),
                    "is_active": k % 5 != 4,
                    "is_processing": False,
                    "is_starred": k % 3 == 0,
                }
            out.append(
                {
                    "type": type_,
                    "id": gid,
                    "rel": {"tags": self._pick_tags(h), "flow-triggers": []},
                    "k": {"order": k, "id": gid, "created": created, "updated": updated, "name": name},
                    "f": {"is_active": attrs.get("is_active"), "is_starred": attrs.get("is_starred")},
                    "attributes": attrs,
                }
            )
        return out

    def _campaigns(self, count: int) -> tuple[list[Record], list[Record]]:
        """The campaigns and their messages."""
        campaigns: list[Record] = []
        messages: list[Record] = []
        template_ids = sorted(self.templates)
        for k in range(count):
            h = self._h("campaign", k)
            cid = ids.short_id(k, self.salt ^ 0x55, width=26 // 2)
            created = self._time_in_span(h)
            updated = created + (mix(h) % 60) * 86400 * ((h >> 3) % 100) / 100
            updated = min(updated, self.end)
            channel = CHANNELS[(h >> 5) % len(CHANNELS)]
            archived = (h >> 13) % 5 == 0
            name = f"{['Spring Sale', 'New Arrivals', 'Weekly Digest', 'Flash Deal', 'Back in Stock'][k % 5]} #{k + 1}"
            mid = ids.short_id(k, self.salt ^ 0x66, width=13)
            # MessageDefinition.status is an enum of lower-case values in the SDK (cancelled, draft, scheduled, ...)
            status = "sent" if updated < self.end - 86400 * 7 else ["draft", "scheduled", "sent"][k % 3]
            send_time = iso(updated + 3600)
            messages.append(
                {
                    "type": "campaign-message",
                    "id": mid,
                    "rel": {"campaign": cid, "campaign-variations": []},
                    "k": {"id": mid, "created": created, "updated": updated},
                    "f": {"campaign_id": cid, "name": name, "status": status, "channel": channel},
                    "attributes": {
                        "created": iso(created),
                        "updated": iso(updated),
                        "definition": {
                            "name": name,
                            "status": status,
                            "tracking_options": {
                                "is_add_utm": channel == "email",
                                "is_tracking_clicks": True,
                                "is_tracking_opens": channel == "email",
                            },
                            "send_options": {
                                "send_time": send_time,
                                "send_strategy": "static",
                                "is_ignoring_unsubscribes": False,
                            },
                        },
                    },
                    "template": template_ids[k % len(template_ids)],
                }
            )
            campaigns.append(
                {
                    "type": "campaign",
                    "id": cid,
                    "rel": {"campaign-messages": [mid], "tags": self._pick_tags(h), "campaign-audiences": []},
                    "k": {"id": cid, "created_at": created, "updated_at": updated, "name": name},
                    "f": {"messages.channel": [channel], "archived": archived, "name": name, "builder": "classic"},
                    "attributes": {
                        "created_at": iso(created),
                        "updated_at": iso(updated),
                        "definition": {
                            "name": name,
                            "builder": "classic",
                            "archived": archived,
                            "color": None,
                            "description": None,
                            "send_settings": {
                                "send_timezone": "UTC",
                                "send_strategy": "static",
                                "send_passed_rltz_immediately": False,
                                "exit_condition_enabled": False,
                                "exit_condition_conversion_metric_id": None,
                            },
                        },
                    },
                }
            )
        return campaigns, messages

    def _flows(self, count: int) -> tuple[list[Record], list[Record], list[Record]]:
        """The flows, their actions and the actions' messages."""
        flows: list[Record] = []
        flow_actions: list[Record] = []
        flow_messages: list[Record] = []
        template_ids = sorted(self.templates)
        for k in range(count):
            h = self._h("flow", k)
            fid = ids.short_id(k, self.salt ^ 0x77, width=6)
            created = self._time_in_span(h)
            updated = min(self.end, created + (mix(h) % 200) * 86400)
            archived = (h >> 9) % 6 == 0
            action_ids = []
            for a in range(2 + (h >> 17) % 3):
                ha = self._h("flow-action", k * 10 + a)
                aid = str(10_000_000 + self.index * 100_000 + k * 100 + a)
                action_type = ["SEND_EMAIL", "TIME_DELAY", "SEND_SMS", "CONDITIONAL_SPLIT"][(k + a) % 4]
                a_created = created + a * 3600
                a_updated = min(self.end, a_created + (ha % 100) * 86400)
                message_ids = []
                if action_type in ("SEND_EMAIL", "SEND_SMS"):
                    msg_id = str(20_000_000 + self.index * 100_000 + k * 100 + a)
                    channel = "email" if action_type == "SEND_EMAIL" else "sms"
                    flow_messages.append(
                        {
                            "type": "flow-message",
                            "id": msg_id,
                            "rel": {"flow-action": aid, "template": template_ids[(k + a) % len(template_ids)]},
                            "k": {"id": msg_id, "created": a_created, "updated": a_updated},
                            "f": {"name": f"Message {a + 1}"},
                            "attributes": {
                                "channel": channel,
                                "created": iso(a_created),
                                "updated": iso(a_updated),
                                "definition": {
                                    "channel": channel,
                                    "content": {
                                        "subject": f"Flow {k + 1} step {a + 1}",
                                        "preview_text": "",
                                        "from_email": "hello@example.com",
                                        "from_label": self.name,
                                    },
                                },
                            },
                        }
                    )
                    message_ids.append(msg_id)
                flow_actions.append(
                    {
                        "type": "flow-action",
                        "id": aid,
                        "rel": {"flow": fid, "flow-messages": message_ids},
                        "k": {"id": aid, "created": a_created, "updated": a_updated},
                        "f": {
                            "action_type": action_type,
                            "status": "live" if not archived else "draft",
                            "flow_id": fid,
                        },
                        "attributes": {
                            "created": iso(a_created),
                            "updated": iso(a_updated),
                            "definition": {
                                "id": aid,
                                "type": action_type.lower(),
                                "data": {"status": "live" if not archived else "draft"},
                            },
                        },
                    }
                )
                action_ids.append(aid)
            name = f"{['Welcome Series', 'Abandoned Cart', 'Browse Abandonment', 'Post-Purchase', 'Winback'][k % 5]}"
            trigger = FLOW_TRIGGERS[k % len(FLOW_TRIGGERS)]
            status = "draft" if archived else ["live", "live", "manual"][k % 3]
            flows.append(
                {
                    "type": "flow",
                    "id": fid,
                    "rel": {"flow-actions": action_ids, "tags": self._pick_tags(h)},
                    "k": {"id": fid, "created": created, "updated": updated, "name": f"{name} {k + 1}"},
                    "f": {"archived": archived, "trigger_type": trigger, "status": status},
                    "attributes": {
                        "name": f"{name} {k + 1}",
                        "status": status,
                        "archived": archived,
                        "created": iso(created),
                        "updated": iso(updated),
                        "trigger_type": trigger,
                    },
                }
            )
        return flows, flow_actions, flow_messages

    # ---- profiles ------------------------------------------------------------------------
    def profile_created(self, j: int) -> float:
        return self.start + j * self.profile_step

    def profile_updated(self, j: int) -> float:
        # Strictly inside profile j's slot, so `updated` grows with j as `created` does.
        return self.profile_created(j) + (self._h("pu", j) % 997) / 1000 * self.profile_step

    def profile_id(self, j: int) -> str:
        # Cached: every event names its profile, and a ULID costs 26 divisions.
        pid = self._profile_ids.get(j)
        if pid is None:
            pid = self._profile_ids[j] = ids.ulid(int(self.profile_created(j) * 1000), j, self.salt)
        return pid

    def profile_index(self, profile_id: str) -> int | None:
        """The index j of a generated profile's id (None if the id is not of this account's shape)."""
        return ids.ulid_index(profile_id, self.salt)

    def profile_email(self, j: int) -> str:
        h = self._h("p", j)
        return f"{FIRST[h % len(FIRST)]}.{LAST[(h >> 8) % len(LAST)]}.{j}@example.com"

    def profile_index_by_identifier(self, kind: str, value: str) -> int | None:
        """Generated profiles carry their index in their identifiers, so lookups need no index."""
        try:
            if kind == "email":
                j = int(value.split("@", 1)[0].rsplit(".", 1)[1])
                ok = self.profile_email(j) == value
            elif kind == "phone_number":
                j = int(value[5:]) if value.startswith("+1555") else -1
                ok = self.profile(j)["attributes"]["phone_number"] == value if 0 <= j < self.n_profiles else False
            elif kind == "external_id":
                j = int(value[5:]) if value.startswith("cust-") else -1
                ok = self.profile(j)["attributes"]["external_id"] == value if 0 <= j < self.n_profiles else False
            else:
                return None
        except (ValueError, IndexError):
            return None
        return j if ok and 0 <= j < self.n_profiles else None

    def profile(self, j: int) -> Record:
        h = self._h("p", j)
        h2 = mix(h)
        created = self.profile_created(j)
        updated = self.profile_updated(j)
        pid = self.profile_id(j)
        first, last = FIRST[h % len(FIRST)], LAST[(h >> 8) % len(LAST)]
        city, region, country, zip_, tz = CITIES[(h >> 16) % len(CITIES)]
        email = f"{first}.{last}.{j}@example.com"
        last_event = min(self.end, updated + (h2 % 400) * 86400) if (h2 >> 20) % 4 else None
        attrs = {
            "email": email,
            "phone_number": f"+1555{j:07d}" if (h >> 24) % 10 < 7 and j < 10_000_000 else None,
            "external_id": f"cust-{j}" if (h >> 28) % 2 == 0 else None,
            "first_name": first.capitalize(),
            "last_name": last.capitalize(),
            "organization": None,
            "locale": ["en-US", "en-GB", "fr-CA", "de-DE"][(h >> 32) % 4],
            "title": None,
            "image": None,
            "created": iso(created),
            "updated": iso(updated),
            "last_event_date": iso(last_event) if last_event else None,
            "location": {
                "address1": f"{(h >> 36) % 900 + 100} Main St",
                "address2": None,
                "city": city,
                "country": country,
                "latitude": None,
                "longitude": None,
                "region": region,
                "zip": zip_,
                "timezone": tz,
                "ip": None,
            },
            "properties": {
                "loyalty_tier": ["bronze", "silver", "gold"][(h2 >> 4) % 3],
                "favorite_category": ["outdoor", "home", "beauty", "pets"][(h2 >> 8) % 4],
                "signup_source": ["checkout", "popup", "import"][(h2 >> 12) % 3],
            },
        }
        return {
            "type": "profile",
            "id": pid,
            "attributes": attrs,
            "rel": {},
            "k": {"created": created, "updated": updated, "id": pid, "email": email},
            "f": {"_j": j},
        }

    def profile_additional(self, record: Record, field: str) -> dict[str, Any]:
        """The costly `additional-fields[profile]` attributes, derived from the profile itself."""
        h = mix(hash_str(record["id"]))
        ts = record["attributes"].get("created")
        if field == "subscriptions":
            yes = h % 3 != 0
            return {
                "email": {
                    "marketing": {
                        "can_receive_email_marketing": yes,
                        "consent": "SUBSCRIBED" if yes else "UNSUBSCRIBED",
                        "consent_timestamp": ts,
                        "last_updated": ts,
                        "method": "FORM",
                        "method_detail": "popup",
                        "custom_method_detail": None,
                        "double_optin": False,
                        "suppression": [],
                        "list_suppressions": [],
                    }
                },
                "sms": {
                    "marketing": {
                        "can_receive_sms_marketing": h % 5 == 0,
                        "consent": "SUBSCRIBED" if h % 5 == 0 else "NEVER_SUBSCRIBED",
                        "consent_timestamp": ts if h % 5 == 0 else None,
                        "method": None,
                        "method_detail": None,
                        "last_updated": ts,
                    },
                    "transactional": None,
                },
                "mobile_push": None,
            }
        return {
            "historic_clv": round((h % 50000) / 100, 2),
            "predicted_clv": round((h >> 16) % 30000 / 100, 2),
            "total_clv": round((h % 50000 + (h >> 16) % 30000) / 100, 2),
            "historic_number_of_orders": (h >> 8) % 12,
            "predicted_number_of_orders": round((h >> 12) % 50 / 10, 1),
            "average_days_between_orders": (h >> 20) % 120,
            "average_order_value": round((h >> 24) % 20000 / 100, 2),
            "churn_probability": round((h >> 32) % 100 / 100, 2),
            "expected_date_of_next_order": None,
            "ranked_channel_affinity": ["email", "sms"],
        }

    # ---- events --------------------------------------------------------------------------
    def event_time(self, i: int) -> float:
        # Slot i of equal width, a point strictly inside it: strictly increasing in i.
        return self.start + (i + (self._h("et", i) % 997 + 1) / 1000) * self.event_step

    def event_index(self, event_id: str) -> int | None:
        """The index i of a generated event's id (None if the id is not of this account's shape)."""
        return ids.short_index(event_id, self.salt, 11) if event_id else None

    def event(self, i: int) -> Record:
        h = self._h("e", i)
        t = self.event_time(i)
        m = self.event_metric(h)
        j = mix(h) % self.n_profiles
        return {
            "type": "event",
            "id": ids.short_id(i, self.salt, 11),
            "rel": {"metric": self.metric_ids[m], "profile": self.profile_id(j), "attributions": []},
            "k": {"datetime": t, "timestamp": t},
            "attributes": {
                "timestamp": int(t),
                "event_properties": self.event_properties(i, h, m, t),
                "datetime": iso(t),
                "uuid": uuid_from(h, mix(h + 7)),
            },
        }

    def event_metric(self, h: int) -> int:
        """The metric (index into metric_ids) of the event with hash h, drawn by the metrics' weights."""
        u = (h >> 11) / float(1 << 53)
        return min(bisect.bisect_left(self.metric_weights, u), len(self.metric_weights) - 1)

    def event_properties(self, i: int, h: int, m: int, t: float | None = None) -> dict[str, Any]:
        """The properties of generated event i (hash h, metric m, time t if the caller has it at hand)."""
        name = METRICS[m][0]
        t = self.event_time(i) if t is None else t
        a = mix(h ^ 0xA77)  # attribution draws: h's high bits already chose the metric
        if name in MESSAGE_METRICS:
            return self.attribution.message_properties(name, t, a)
        props: dict[str, Any]
        if name in ("Placed Order", "Ordered Product", "Started Checkout", "Added to Cart", "Fulfilled Order"):
            product, price = PRODUCTS[(h >> 7) % len(PRODUCTS)]
            qty = 1 + (h >> 13) % 3
            props = {
                "$value": round(price * qty, 2),
                "$event_id": f"{self.index}-{i}",
                "OrderId": f"R{100000 + i}",
                "ItemNames": [product],
                "Items": [{"ProductName": product, "Quantity": qty, "ItemPrice": price}],
                "DiscountCode": ["", "SPRING10", "VIP20"][(h >> 17) % 3],
            }
        else:
            product, price = PRODUCTS[(h >> 7) % len(PRODUCTS)]
            props = {
                "ProductName": product,
                "Price": price,
                "URL": f"https://shop.example/p/{(h >> 9) % 500}",
                "$event_id": f"{self.index}-{i}",
            }
        attribution = self.attribution.conversion(t, a)
        if attribution is not None:
            props["$attribution"] = attribution
        return props

    # ---- list and segment members ---------------------------------------------------------
    def _membership(self, group_type: str, k: int) -> Membership:
        if group_type == "segment" and self.segment_members is not None:
            # Every segment the same size: every stride-th profile, from an offset of its own.
            stride = max(1, self.n_profiles // max(1, self.segment_members))
            return Membership(self.segment_members, k % stride, stride)
        h = self._h(group_type + "-members", k)
        stride = 3 + h % 38
        offset = (h >> 8) % stride
        return Membership(max(0, math.ceil((self.n_profiles - offset) / stride)), offset, stride)

    def joined_group_at(self, j: int) -> float:
        """When generated profile j joined the lists and segments it is a generated member of."""
        return self.profile_created(j) + (self._h("jg", j) % 997 + 1) / 1000 * self.profile_step


_KIND_HASH: dict[str, int] = {}


def uuid_from(a: int, b: int) -> str:
    x = "%016x%016x" % (a & M64, b & M64)  # noqa: UP031  (measurably faster than an f-string with format specs)
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def hash_str(text: str) -> int:
    # Python's str hash is salted per process; this one is stable across runs.
    return ids.salt(text)
