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
from .versions import ACTIVATE_VERSION

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk import Tap

    from klaviyo_http import AccountHttp

    from .bookmarks import PartitionRun
    from .run_context import RunContext

JOIN_HISTORY = "join_history"
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

    @property
    def membership(self) -> str:
        return self.settings.membership

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
        params: dict[str, t.Any] | None = self.get_url_params(context, None)
        assert params is not None
        params["fields[profile]"] = "joined_group_at"
        if self.replication_key is not None:
            partition.cap = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        url: str | None = self.get_url(context)
        while url:
            try:
                page = decode_raw_page(account.get(url, endpoint=self.endpoint, params=params))
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
        """Several groups at once (`window_concurrency`), each group's pages in order; memory is bounded by a
        short queue between the readers and the writer."""
        workers = min(len(partitions), max(1, self.settings.window_concurrency))
        if workers <= 1:
            yield from super().partition_pages(partitions)
            return
        todo: queue.SimpleQueue[PartitionRun] = queue.SimpleQueue()
        for partition in partitions:
            todo.put(partition)
        out: queue.Queue[tuple[PartitionRun, list[dict[str, t.Any]]] | object | BaseException] = queue.Queue(
            maxsize=2 * workers
        )
        stop = threading.Event()

        def read() -> None:
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
            except BaseException as error:  # handed to the writer, which raises it
                out.put(error)
            finally:
                out.put(_DONE)

        threads = [threading.Thread(target=read, name=f"{self.name}-{n}", daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()
        running = workers
        try:
            while running:
                item = out.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield t.cast("tuple[PartitionRun, list[dict[str, t.Any]]]", item)
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):  # let blocked readers finish their put
                with contextlib.suppress(queue.Empty):
                    out.get(timeout=0.1)
