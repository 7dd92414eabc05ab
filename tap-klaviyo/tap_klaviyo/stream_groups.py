"""Which streams of one account may be read at the same time, each group by a tap process of its own (fanout.py).

Klaviyo's limits are per account and endpoint, and klaviyo_http paces each (account, endpoint) within one process: two
processes reading one bucket of an account would each take the whole tier, and together be refused. So:

- streams that share a rate-limit bucket are one group (list_members lists the lists through `get_lists`, as the
  lists stream does; the report streams look up the account and its metrics, as the accounts and metrics streams do);
- a child stream is in its parent's group: it reads the parent's pages, or is called for each of its rows; so is a
  stream that shares another's results held in the process (KlaviyoStream.reports_on: profile_listings,
  event_counts);
- each group holding a stream that `runs_alone` (events, profiles, list and segment members: the large ones) is a
  process of its own; every other group (the small streams, the reports) shares one process, where each is quick.

A run then takes about as long as its slowest group instead of the sum of its streams. Nothing here names a stream:
a new one joins the group its buckets and parent put it in (KlaviyoStream.rate_buckets, runs_alone).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass(frozen=True)
class StreamNeeds:
    """What the grouping knows of a stream."""

    name: str
    buckets: frozenset[str]  # klaviyo_http.TIERS keys its requests use
    parent: str | None = None  # the stream whose pages, rows or in-process results it is read from
    runs_alone: bool = False


def stream_groups(streams: Sequence[StreamNeeds]) -> list[list[str]]:
    """The streams (in the order given, the tap's sync order) as groups of names: the groups that run alone first,
    in the order of their first stream, then one group of all the others (if any)."""
    names = [stream.name for stream in streams]
    parent_of = {name: names.index(name) for name in names}
    roots = list(range(len(streams)))

    def root(i: int) -> int:
        while roots[i] != i:
            roots[i] = roots[roots[i]]
            i = roots[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            roots[max(a, b)] = min(a, b)  # the earlier stream stays the root: groups keep the given order

    by_bucket: dict[str, int] = {}
    for i, stream in enumerate(streams):
        for bucket in sorted(stream.buckets):
            join(i, by_bucket.setdefault(bucket, i))
        if stream.parent is not None and stream.parent in parent_of:
            join(i, parent_of[stream.parent])
    components: dict[int, list[int]] = {}
    for i in range(len(streams)):
        components.setdefault(root(i), []).append(i)
    alone: list[list[str]] = []
    shared: list[str] = []
    for members in components.values():
        if any(streams[i].runs_alone for i in members):
            alone.append([names[i] for i in members])
        else:
            shared.extend(names[i] for i in members)
    groups = alone + ([shared] if shared else [])
    order = {name: n for n, name in enumerate(names)}
    return [sorted(group, key=order.__getitem__) for group in groups]


def describe(groups: Iterable[list[str]]) -> str:
    """The groups as one log line: `events | profiles | lists, list_members | accounts, campaigns, ...`."""
    return " | ".join(", ".join(group) for group in groups)
