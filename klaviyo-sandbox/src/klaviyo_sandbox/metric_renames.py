"""Klaviyo's rename of its SMS metrics to "Text Message" names (around 2026-07-01), as a moment in a sandbox's life.

Klaviyo kept each metric's id and changed its name: connectors that looked metrics up by name ("Received SMS") found
none from 1 July 2026 and stopped filling their tables (singer-io/tap-klaviyo#87, "Klaviyo renamed their SMS-based
events to Text Message-based naming, which caused the SMS-related tables to stop syncing from July 1st"; its test
fixtures keep the metric ids, e.g. SrU8uS, and move them to the new names). Events name their metric by id, so they
did not change; GET /api/metrics (and a metric included with an event) answers the new name, `updated` at the rename.
The same happened to the SMS subscribe metrics in 2023 (singer-io/tap-klaviyo#64).

`serve --text-message-rename AT`: the account's SMS metrics keep their old names until AT and answer the new ones
from AT on (applied to an account's state on its first API request at or after AT). The generated data set keeps
the names it was made with; the Reporting API counts the renamed metrics as it counted them before.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from .generator import iso
from .tables import MemoryTable

__all__ = ["TEXT_MESSAGE_NAMES", "MetricRename", "original_name"]

# Old name -> new name (singer-io/tap-klaviyo#87's EVENT_MAPPINGS, before and after)
TEXT_MESSAGE_NAMES: Mapping[str, str] = {
    "Received SMS": "Received Text Message",
    "Clicked SMS": "Clicked Text Message",
    "Sent SMS": "Sent Text Message",
    "Failed to Deliver SMS": "Failed to Deliver Text Message",
    "Failed to deliver Automated Response SMS": "Failed to Deliver Automated Response Text Message",
    "Received Automated Response SMS": "Received Automated Response Text Message",
    "Subscribed to SMS Marketing": "Subscribed to Text Messaging Marketing",
    "Unsubscribed from SMS Marketing": "Unsubscribed from Text Messaging Marketing",
}
_ORIGINAL = {new: old for old, new in TEXT_MESSAGE_NAMES.items()}


def original_name(name: str) -> str:
    """The name a metric was generated with, for a name it may have now."""
    return _ORIGINAL.get(name, name)


class MetricRename:
    """Renames an account's metrics at a moment (`at`, a timestamp; None: never), once."""

    def __init__(self, at: float | None, names: Mapping[str, str] = TEXT_MESSAGE_NAMES) -> None:
        self.at = at
        self.names = dict(names)
        self._done: set[int] = set()  # id() of the metric tables renamed

    def apply_due(self, t: float, metrics: MemoryTable) -> list[str]:
        """At or after `at`, rename the metrics of this table not renamed yet; the ids renamed now."""
        if self.at is None or t < self.at or id(metrics) in self._done:
            return []
        self._done.add(id(metrics))
        renamed = []
        for record in list(metrics.records.values()):
            new_name = self.names.get(record["attributes"]["name"])
            if new_name is None:
                continue
            # a copy: the generated data set's own record is never changed
            changed = copy.deepcopy(record)
            changed["attributes"]["name"] = new_name
            changed["attributes"]["updated"] = iso(self.at)
            metrics.put(changed)
            renamed.append(record["id"])
        return renamed
