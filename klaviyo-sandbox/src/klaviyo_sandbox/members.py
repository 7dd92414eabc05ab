"""The members of one list or segment: the generated membership, minus the members removed, plus those added.

Generated members are lazy (member m is a profile computed from m, joined at a time that grows with m). Writes
change the membership as Klaviyo's do: a removed member disappears (its index is hidden), an added one joins with
`joined_group_at` = the time it was added (kept in the overlay). Both keep the table's one total order
(joined_group_at, rank, id), so cursors, `joined_group_at` filters and sorting stay exact while members come and
go. A member is always shown with its profile as it is now, whether generated or added.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from typing_extensions import override

from .generator import iso
from .tables import LazyTable, Pos, Record

MemberFn = Callable[[Record, float], Record]  # (profile, joined_group_at) -> the member record


def member_record(profile: Record, joined: float) -> Record:
    """A profile as a member of a list or segment that it joined at `joined`."""
    attrs = {
        key: value
        for key, value in profile["attributes"].items()
        if key not in ("subscriptions", "predictive_analytics")
    }
    attrs["joined_group_at"] = iso(joined)
    k = dict(profile["k"])
    k["joined_group_at"] = joined
    return {
        "type": "profile",
        "id": profile["id"],
        "attributes": attrs,
        "rel": {},
        "k": k,
        "f": {"profile_id": profile["id"], **profile.get("f", {})},
    }


class MemberTable(LazyTable):
    """One group's members; `add` and `remove` are what Klaviyo's membership writes do to it."""

    def __init__(
        self,
        n: int,
        make: Callable[[int], Record],
        index_of: Callable[[str], int | None],
        joined: Callable[[int], float],
        member: MemberFn,
        profile_of: Callable[[str], Record | None],
    ) -> None:
        super().__init__("profile", n, make, index_of, {"joined_group_at": joined})
        self._member = member
        self._profile_of = profile_of

    def _current(self, stored: Record) -> Record:
        """An added member, rebuilt from its profile as it is now (it may have changed since it joined)."""
        profile = self._profile_of(stored["id"])
        return stored if profile is None else self._member(profile, stored["k"]["joined_group_at"])

    @override
    def get(self, record_id: str) -> Record | None:
        stored = self.overlay.get(record_id)
        if stored is not None:
            return self._current(stored)
        return super().get(record_id)

    @override
    def scan(
        self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None
    ) -> Iterator[tuple[Pos, Record]]:
        for pos, record in super().scan(order, descending, after, lo, hi):
            yield pos, (self._current(record) if pos[1] == self.overlay.rank else record)

    def add(self, profile: Record, now: float) -> bool:
        """Make `profile` a member that joined at `now`. False if it already is one: it keeps its join time."""
        if self.get(profile["id"]) is not None:
            return False
        self.put(self._member(profile, now))
        return True

    def remove(self, profile_id: str) -> bool:
        """Take the profile out of the group. False if it was not a member."""
        return self.delete(profile_id) is not None

    def member_ids(self, rnd: random.Random, count: int) -> list[str]:
        """Up to `count` distinct current members drawn with `rnd`, without a full scan."""
        visible = self.n - len(self.hidden) + len(self.overlay)
        added = sorted(self.overlay.records)
        chosen: list[str] = []
        attempts = 0
        while len(chosen) < min(count, visible) and attempts < 50 * (count + 1):
            attempts += 1
            k = rnd.randrange(self.n + len(added))
            if k >= self.n:
                pid = added[k - self.n]
            elif k in self.hidden:
                continue
            else:
                pid = self.make(k)["id"]
            if pid not in chosen:
                chosen.append(pid)
        return chosen
