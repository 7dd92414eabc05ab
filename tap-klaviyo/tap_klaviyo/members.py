"""Members of every list (or segment): who is in each group, as link rows (account, group, profile, joined_group_at).

Two ways to keep them, the setting `membership`:

- `current` (default): every group is listed in full on every run, its rows carry the run's table version, and the
  run ends with ACTIVATE_VERSION (versions.py): target-snowflake sets `_sdc_deleted_at` on the rows of members who
  left. Klaviyo says nothing when a profile leaves a list or drops out of a segment; a full listing is the only way
  to learn it (Fivetran re-imports LIST_PERSON and SEGMENT_PERSON to infer deletes for the same reason:
  https://fivetran.com/docs/applications/klaviyo).
- `join_history`: incremental on `joined_group_at`, a bookmark per group; a row once added stays.

Either way the requests are as cheap as Klaviyo allows: `fields[profile]=joined_group_at` (the profile itself is in
the `profiles` stream), the endpoint's largest page (100), and several groups read at once (`window_concurrency`),
each group's pages in order, all paced by the account's limiter for the endpoint.

Two routes, two limits. Klaviyo lists a group's members through the members route (`/api/segments/{id}/profiles`,
get_profiles_for_segment) and through the relationships route (`/api/segments/{id}/relationships/profiles`,
get_profile_ids_for_segment), each 75/s and 750/m per account (klaviyo-api 25.0.0, SegmentsApi and ListsApi
docstrings), pages of 100 both. With `membership: current` and `membership_ids_route` (default), the groups are
shared between the two, so a full listing of every group takes about half as long (bench/full_run.py). The
relationships route gives profile ids only: the rows of a group read that way have no joined_group_at. Because
target-snowflake MERGEs every column, a group that changed route would flip its rows' joined_group_at between a time
and nothing; so each group keeps its route (`assign_routes`, remembered in its partition's state with its size), and
only groups without one are shared out, the largest first, to balance the two by their members.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import typing as t
from datetime import UTC, datetime

from typing_extensions import override

from klaviyo_http import RequestRefusedError

from .flatten import decode_page, decode_raw_page, flatten
from .klaviyo_stream import account_columns
from .paged_stream import PagedStream
from .sdk_seams import mark_state_changed
from .versions import ACTIVATE_VERSION

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk import Tap

    from klaviyo_http import AccountHttp

    from .bookmarks import PartitionRun
    from .run_context import RunContext

JOIN_HISTORY = "join_history"
#: the two ways to list a group's members, each under its own rate limit (75/s, 750/m per account)
MEMBERS_ROUTE, IDS_ROUTE = "members", "ids"
ROUTES = (MEMBERS_ROUTE, IDS_ROUTE)
#: what a group's partition state remembers: its route, and its members at its last full listing
ROUTE_KEY, MEMBERS_KEY = "route", "members"
_DONE = object()


def group_ids(account: AccountHttp, group: str) -> list[str]:
    """Every list (or segment) id of an account: the member streams' partitions."""
    ids: list[str] = []
    url: str | None = f"/api/{group}s"
    params: dict[str, str] | None = {f"fields[{group}]": "name"}
    while url:
        page = decode_page(account.get(url, endpoint=f"get_{group}s", params=params))
        ids.extend(resource.id for resource in page.data)
        url, params = page.links.next, None
    return ids


class GroupMembersStream(PagedStream):
    group: str  # "list" | "segment"
    #: the relationships route of the same members (ids only) and its own rate-limit bucket
    ids_path: str
    ids_endpoint: str
    primary_keys: t.ClassVar[list[str]]
    is_sorted = True
    sort = "joined_group_at"
    page_size = 100
    _groups: list[dict[str, t.Any]] | None = None

    def __init__(self, tap: Tap, run: RunContext, **kwargs: t.Any) -> None:
        super().__init__(tap, run, **kwargs)
        if self.membership == JOIN_HISTORY:
            self.replication_key = "joined_group_at"
            self.bookmark_filter = ("joined_group_at", "greater-or-equal")
        else:
            self.deletions = ACTIVATE_VERSION
            self.stamp_table_version()
        self._routes: dict[int, str] = {}  # id(PartitionRun) -> the route it is read by

    @property
    def membership(self) -> str:
        return self.settings.membership

    @property
    def both_routes(self) -> bool:
        """Whether the groups are shared between the members route and the relationships route (module doc)."""
        return self.membership != JOIN_HISTORY and self.settings.membership_ids_route

    @override
    def rate_buckets(self) -> frozenset[str]:
        # The groups are listed through the group's own endpoint (`group_ids`), as the lists/segments stream does.
        return frozenset({self.endpoint, self.ids_endpoint, f"get_{self.group}s"})

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        """(account, group) for every group the account has when the run starts."""
        if self._groups is None:
            self._groups = [
                {"account_id": account.id, f"{self.group}_id": group_id}
                for account in self.run.accounts()
                for group_id in group_ids(account, self.group)
            ]
        return self._groups

    @override
    def pages(self, partition: PartitionRun) -> Iterator[list[dict[str, t.Any]]]:
        context = partition.context
        account = self.account(context)
        group_id = context[f"{self.group}_id"]
        columns = {**account_columns(account), f"{self.group}_id": group_id}
        if self._routes.get(id(partition)) == IDS_ROUTE:
            # Profile ids only: Klaviyo's relationships route says who is in the group, not since when.
            columns["joined_group_at"] = None
            url: str | None = self.ids_path.format(id=group_id)
            endpoint = self.ids_endpoint
            params: dict[str, t.Any] | None = {"page[size]": self.page_size}
        else:
            url = self.get_url(context)
            endpoint = self.endpoint
            params = self.get_url_params(context, None)
            params["fields[profile]"] = "joined_group_at"
        if self.replication_key is not None:
            partition.cap = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        while url:
            try:
                page = decode_raw_page(account.get(url, endpoint=endpoint, params=params))
            except RequestRefusedError as refused:
                if refused.detail.status != 404:
                    raise
                # Deleted since the run listed the groups: its members are marked deleted with it (versions.py).
                self.logger.info("%s %s of '%s' was deleted during the run", self.group, group_id, account.name)
                return
            rows = [flatten(resource, columns) for resource in page.data]
            if rows:
                yield rows
            url, params = page.links.next, None

    @override
    def partition_pages(self, partitions: list[PartitionRun]) -> Iterator[tuple[PartitionRun, list[dict[str, t.Any]]]]:
        """Several groups at once (`window_concurrency` in all), each group's pages in order, through one route or
        both; memory is bounded by a short queue between the readers and the writer."""
        if self.membership == JOIN_HISTORY:
            by_route = {MEMBERS_ROUTE: partitions}
        else:
            states = [self.get_context_state(partition.context) for partition in partitions]
            routes = assign_routes(
                [(state.get(ROUTE_KEY), state.get(MEMBERS_KEY)) for state in states], both=self.both_routes
            )
            by_route = {route: [p for p, r in zip(partitions, routes, strict=True) if r == route] for route in ROUTES}
            for partition, state, route in zip(partitions, states, routes, strict=True):
                self._routes[id(partition)] = route
                if self.both_routes and state.get(ROUTE_KEY) != route:
                    state[ROUTE_KEY] = route  # kept: the group is read this way from now on
                    mark_state_changed(self)
            if self.both_routes and by_route[IDS_ROUTE]:
                self.logger.info(
                    "%s: %d group(s) through the members route, %d through the relationships route (ids only)",
                    self.name,
                    len(by_route[MEMBERS_ROUTE]),
                    len(by_route[IDS_ROUTE]),
                )
        for partition, rows in self._read_concurrently(by_route):
            if rows is None:  # the group was read in full: its size guides where new groups go (assign_routes)
                if self.membership != JOIN_HISTORY:
                    self.get_context_state(partition.context)[MEMBERS_KEY] = partition.rows
                    mark_state_changed(self)
                continue
            yield partition, rows

    def _read_concurrently(
        self, by_route: dict[str, list[PartitionRun]]
    ) -> Iterator[tuple[PartitionRun, list[dict[str, t.Any]] | None]]:
        """Each route's groups read by its own threads (`window_concurrency` shared between the routes in use), a
        group's pages in order, then (group, None) when the group was read in full."""
        used = {route: todo for route, todo in by_route.items() if todo}
        share = max(1, self.settings.window_concurrency // max(1, len(used)))
        out: queue.Queue[tuple[PartitionRun, list[dict[str, t.Any]] | None] | object | BaseException] = queue.Queue(
            maxsize=2 * max(1, self.settings.window_concurrency)
        )
        stop = threading.Event()

        def read(todo: queue.SimpleQueue[PartitionRun]) -> None:
            try:
                while not stop.is_set():
                    try:
                        partition = todo.get_nowait()
                    except queue.Empty:
                        break
                    for rows in self.pages(partition):
                        if stop.is_set():
                            return
                        out.put((partition, rows))
                    out.put((partition, None))
            except BaseException as error:  # handed to the writer, which raises it
                out.put(error)
            finally:
                out.put(_DONE)

        threads = []
        for route, partitions in used.items():
            todo: queue.SimpleQueue[PartitionRun] = queue.SimpleQueue()
            for partition in partitions:
                todo.put(partition)
            threads += [
                threading.Thread(target=read, args=(todo,), name=f"{self.name}-{route}-{n}", daemon=True)
                for n in range(min(len(partitions), share))
            ]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                item = out.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield t.cast("tuple[PartitionRun, list[dict[str, t.Any]] | None]", item)
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):  # let blocked readers finish their put
                with contextlib.suppress(queue.Empty):
                    out.get(timeout=0.1)


def assign_routes(known: list[tuple[str | None, int | None]], *, both: bool) -> list[str]:
    """The route to read each group by, from what the state remembers of it (its route, its members at its last full
    listing; None when unknown). Without `both`, every group goes through the members route. With it, a group keeps
    its route, so its rows' joined_group_at is always there or never; a group without one (new, or never read with
    `both`) goes, the largest first, to the route with fewer members so far, the members route on a tie. A group of
    unknown size counts as the mean of the known ones (1 when none is known)."""
    if not both:
        return [MEMBERS_ROUTE] * len(known)
    sizes = [members for _, members in known if isinstance(members, int)]
    typical = sum(sizes) / len(sizes) if sizes else 1.0
    size = [members if isinstance(members, int) else typical for _, members in known]
    routes: list[str | None] = [route if route in ROUTES else None for route, _ in known]
    load = dict.fromkeys(ROUTES, 0.0)
    for n, route in enumerate(routes):
        if route is not None:
            load[route] += size[n]
    for n in sorted((n for n, route in enumerate(routes) if route is None), key=lambda n: -size[n]):
        route = MEMBERS_ROUTE if load[MEMBERS_ROUTE] <= load[IDS_ROUTE] else IDS_ROUTE
        routes[n] = route
        load[route] += size[n]
    return [route or MEMBERS_ROUTE for route in routes]
