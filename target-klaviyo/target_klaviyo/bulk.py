"""Klaviyo's bulk write routes, driven concurrently: requests, profile import jobs, and what became of each row.

- A request route (events, subscriptions): Klaviyo answers 202 for the whole request or refuses the whole request
  (400) naming the first bad entry by its JSON pointer. That entry is rejected and the others sent again; a
  refusal that names no entry is narrowed down by halving. A 2xx accepts every row of the request.
- A job route (profile imports, with or without a list): the job is polled until it completes and its per-row
  import errors are read; those rows are rejected, the others accepted. A list mirror then reads the ids of the
  job's profiles (GET .../profile-bulk-import-jobs/{id}/profiles), to remove members by id later.
- List members who left are removed by id (DELETE /api/lists/{id}/relationships/profiles, 1,000 a request).
- Requests go through klaviyo_http (the shared package): paced per endpoint, 429s waiting `Retry-After`, 5xx and
  connection errors retried with jittered backoff. Re-sending is safe: events carry a stable `unique_id`, profile
  imports and subscriptions are upserts. Requests run on thread pools (one per kind of work, `concurrency` wide).
  At most twice that many batches wait for a thread, so a fast input cannot fill memory.
- A row's `Lane` (its stream and kind) hears of it once its request or job has ended and Klaviyo accepted it:
  only then does the change memory remember it.
- `flush()` returns once every batch submitted so far has ended (accepted or rejected): the target emits
  state only after it. A batch that could not be sent at all (retries exhausted) is rejected with code
  `not_sent` and makes the run fail, so state never moves past rows Klaviyo did not take.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from klaviyo_http import KeyRefusedError, KlaviyoHttp, KlaviyoHttpError, RequestRefusedError
from klaviyo_http.errors import error_detail

from .rejects import Outcomes, RowRef
from .routes import Route

JOB_POLL_FIRST, JOB_POLL_MAX = 0.25, 5.0
PAGE_SIZE = 100  # the largest page of a job's import errors and profiles
ACCOUNT = ""  # one key, so one account: the limiters' account slot, with nothing to tell apart in messages
IDENTITIES = ("external_id", "email", "phone_number")


class SendError(RuntimeError):
    """Rows could not be sent to Klaviyo (retries exhausted, or a job that cannot be followed)."""


@dataclass(slots=True)
class Item:
    """One row's payload for one route, serialized once, with what the change memory needs once it is accepted."""

    ref: RowRef
    body: bytes
    seq: int = 0  # the row's place in the run (of a key's rows, the last accepted one is remembered)
    key: int = 0  # the row's key, hashed
    fp: int = 0  # the fingerprint of what it sends
    new: bool = True  # the key was not remembered (counted as created, else as changed)
    identity: tuple[str, str] | None = None  # list members: how to find its profile among the job's profiles


class Lane(Protocol):
    """A stream's kind: told which of its rows Klaviyo accepted."""

    stream: str
    kind: str

    def accepted(self, items: Sequence[Item], route: Route, profile_ids: Sequence[str] | None) -> None: ...


def chunks(items: list[Item], route: Route) -> list[list[Item]]:
    """Consecutive requests within the route's count and byte limits."""
    room = route.room
    out: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        extra = len(item.body) + 1  # the comma
        if current and (len(current) >= route.max_items or size + extra > room):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += extra
    if current:
        out.append(current)
    return out


def identity_of(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """How a profile is matched between a row and a job's profiles: external_id, else email (in lower case:
    Klaviyo's addresses are not case-sensitive), else phone number."""
    for name in IDENTITIES:
        value = attributes.get(name)
        if value:
            return name, str(value).lower() if name == "email" else str(value)
    return None


class Dispatcher:
    """Sends batches on background threads and records each row's outcome.

    Three kinds of work, each on its own pool with a bound on what may wait for it: "request" (`concurrency`
    at once), "job" creations (a few at once: each carries up to 10,000 profiles) and "poll" (many at once: a
    job is followed holding only its rows' references, so slow jobs cost little memory)."""

    def __init__(
        self,
        http: KlaviyoHttp,
        api_key: str,
        outcomes: Outcomes,
        *,
        concurrency: int = 10,
        logger: logging.Logger | None = None,
    ) -> None:
        self.http = http
        self._api_key = api_key
        self.outcomes = outcomes
        self.logger = logger or logging.getLogger("target-klaviyo")
        threads = {"request": concurrency, "job": max(2, concurrency // 4), "poll": 4 * concurrency}
        self._threads = threads
        self._room = {
            "request": threading.BoundedSemaphore(2 * concurrency),
            "job": threading.BoundedSemaphore(threads["job"] + 1),
            "poll": threading.BoundedSemaphore(threads["poll"]),
        }
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()
        self._fatal: BaseException | None = None
        self._unsent = 0

    def _pool(self, work: str) -> ThreadPoolExecutor:
        with self._lock:
            if work not in self._pools:
                self._pools[work] = ThreadPoolExecutor(self._threads[work], thread_name_prefix=f"klaviyo-{work}")
            return self._pools[work]

    def submit(self, route: Route, lane: Lane, items: list[Item]) -> None:
        """Queue one batch (within the route's limits); blocks while too many batches wait."""
        self.check()
        self.outcomes.sent(lane.stream, lane.kind, len(items))
        if route.job:
            self._queue("job", lambda: self._send_job(route, lane, items), lane.kind, [i.ref for i in items])
        else:
            self._queue("request", lambda: self._send_requests(route, lane, items), lane.kind, [i.ref for i in items])

    def _queue(self, work: str, send: Callable[[], None], kind: str, refs: list[RowRef]) -> None:
        self._room[work].acquire()
        future = self._pool(work).submit(self._run, send, kind, refs)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._done(work, f))

    def _done(self, work: str, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._room[work].release()

    def _run(self, send: Callable[[], None], kind: str, refs: list[RowRef]) -> None:
        try:
            send()
        except KeyRefusedError as exc:
            self._fatal = self._fatal or exc
        except Exception as exc:
            reason = str(exc) if isinstance(exc, SendError | KlaviyoHttpError) else f"{type(exc).__name__}: {exc}"
            stream = refs[0].stream if refs else "?"
            self.logger.error("%d %s rows of stream '%s' were not sent: %s", len(refs), kind, stream, reason)
            for ref in refs:
                self.outcomes.reject(ref, kind, f"not sent: {reason}", "not_sent")
            with self._lock:
                self._unsent += len(refs)

    def check(self) -> None:
        """Raise what makes the run fail: a refused key, or rows that could not be sent."""
        if self._fatal is not None:
            raise self._fatal
        if self._unsent:
            raise SendError(
                f"{self._unsent} rows could not be sent to Klaviyo (code not_sent in the rejected-rows "
                "file); state is not advanced past them, so a re-run sends them again"
            )

    def flush(self) -> None:
        """Wait until every batch submitted so far has ended; then raise if the run must fail."""
        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                break
            wait(pending)
        self.check()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=False)

    # --- requests ----------------------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, endpoint: str, *, body: bytes | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        """One request through klaviyo_http; a 4xx answer other than 429 is returned, for the caller knows
        which rows it concerns. A refused key, or retries exhausted, raise."""
        try:
            return self.http.request(
                method, path, api_key=self._api_key, account=ACCOUNT, endpoint=endpoint, params=params, body=body
            )
        except RequestRefusedError as refused:
            return refused.response

    def _isolate(self, route: Route, kind: str, batch: list[Item], response: Any, queue: list[list[Item]]) -> None:
        """Klaviyo refused a whole request: reject the entry it names and queue the rest, or halve."""
        error = error_detail(response)
        index = route.entry_index(error.pointer)
        if response.status_code in (400, 422) and index is not None and index < len(batch):
            self.outcomes.reject(batch[index].ref, kind, f"Klaviyo: {error.detail}", error.code)
            rest = batch[:index] + batch[index + 1 :]
            if rest:
                queue.append(rest)
        elif len(batch) > 1 and response.status_code in (400, 413, 422):
            half = len(batch) // 2
            queue.extend((batch[:half], batch[half:]))
        else:
            for item in batch:
                self.outcomes.reject(
                    item.ref, kind, f"Klaviyo: {error.detail} (HTTP {response.status_code})", error.code
                )

    def _send_requests(self, route: Route, lane: Lane, items: list[Item]) -> None:
        queue = [items]
        while queue:
            batch = queue.pop()
            response = self.request(route.method, route.path, route.name, body=route.body([i.body for i in batch]))
            if response.status_code < 300:
                lane.accepted(batch, route, None)
            else:
                self._isolate(route, lane.kind, batch, response, queue)

    # --- profile import jobs -------------------------------------------------------------------------------------

    def _send_job(self, route: Route, lane: Lane, items: list[Item]) -> None:
        queue = [items]
        while queue:
            batch = queue.pop()
            response = self.request(route.method, route.path, route.name, body=route.body([i.body for i in batch]))
            if response.status_code < 300:
                job_id = str(orjson.loads(response.content)["data"]["id"])
                follow = functools.partial(self._follow_job, route, lane, batch, job_id)
                self._queue("poll", follow, lane.kind, [i.ref for i in batch])
            else:
                self._isolate(route, lane.kind, batch, response, queue)

    def _follow_job(self, route: Route, lane: Lane, items: list[Item], job_id: str) -> None:
        """Poll the job until it ends, then reject the rows its import errors name and accept the others."""
        delay = JOB_POLL_FIRST
        path = f"{route.path}/{job_id}"
        while True:
            time.sleep(delay)
            response = self.request("GET", path, "get_bulk_import_profiles_job")
            if response.status_code >= 400:
                raise SendError(f"profile import job {job_id}: {error_detail(response)}")
            attributes = orjson.loads(response.content)["data"]["attributes"]
            status = attributes.get("status")
            if status == "complete":
                break
            if status in ("failed", "cancelled"):
                for item in items:
                    self.outcomes.reject(
                        item.ref, lane.kind, f"Klaviyo: the import job {job_id} ended {status}", f"job_{status}"
                    )
                return
            delay = min(delay * 1.5, JOB_POLL_MAX)
        refs = [item.ref for item in items]
        failed = self._import_errors(route, path, job_id, refs) if attributes.get("failed_count") else {}
        for index, (code, detail) in failed.items():
            self.outcomes.reject(refs[index], lane.kind, f"Klaviyo: {detail}", code)
        accepted = [item for i, item in enumerate(items) if i not in failed]
        ids = self._job_profile_ids(path, accepted) if route.profile_ids and accepted else None
        lane.accepted(accepted, route, ids)

    def _pages(self, url: str, endpoint: str, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """Every entry of a paginated collection (following links.next)."""
        out: list[dict[str, Any]] = []
        next_url: str | None = url
        next_params: dict[str, Any] | None = params
        while next_url:
            response = self.request("GET", next_url, endpoint, params=next_params)
            if response.status_code >= 400:
                raise SendError(f"{what}: {error_detail(response)}")
            body = orjson.loads(response.content)
            out.extend(body.get("data") or ())
            next_url, next_params = (body.get("links") or {}).get("next"), None
        return out

    def _import_errors(self, route: Route, path: str, job_id: str, refs: list[RowRef]) -> dict[int, tuple[str, str]]:
        """Row index in the job -> (code, detail), from every page of the job's import errors. A row is found
        by the error's pointer, or else by the identifier in its original payload."""
        out: dict[int, tuple[str, str]] = {}
        errors = self._pages(
            f"{path}/import-errors",
            "get_errors_for_bulk_import_profiles_job",
            {"page[size]": PAGE_SIZE},
            f"import errors of job {job_id}",
        )
        for error in errors:
            attrs = error.get("attributes") or {}
            index = route.entry_index((attrs.get("source") or {}).get("pointer"))
            if index is None:
                index = row_by_identifier(refs, attrs.get("original_payload"))
            if index is None or index >= len(refs):
                raise SendError(f"an import error of job {job_id} names no row of the job: {attrs.get('code')}")
            out[index] = (str(attrs.get("code") or "invalid"), str(attrs.get("detail") or attrs.get("title")))
        return out

    def _job_profile_ids(self, path: str, items: list[Item]) -> list[str]:
        """The profile id of each accepted row, from the job's profiles; "" for a row none of them matches."""
        profiles = self._pages(
            f"{path}/profiles",
            "get_profiles_for_bulk_import_profiles_job",
            {"page[size]": PAGE_SIZE, "fields[profile]": ",".join(IDENTITIES)},
            "profiles of an import job",
        )
        by_identity: dict[tuple[str, str], str] = {}
        for profile in profiles:
            attributes = profile.get("attributes") or {}
            for name in IDENTITIES:
                found = identity_of({name: attributes.get(name)})
                if found is not None:
                    by_identity[found] = str(profile["id"])
        return [by_identity.get(item.identity, "") if item.identity else "" for item in items]

    # --- list members who left -------------------------------------------------------------------------------------

    def remove_members(
        self, route: Route, members: list[tuple[int, str]], removed: Callable[[list[int]], None]
    ) -> None:
        """Remove (key, profile id) members from a list, `route.max_items` a request; `removed` hears of the
        keys done with: removed, or unknown to Klaviyo (a profile deleted since). Synchronous: the run ends after."""
        for start in range(0, len(members), route.max_items):
            queue = [members[start : start + route.max_items]]
            while queue:
                batch = queue.pop()
                body = route.body([orjson.dumps({"type": "profile", "id": pid}) for _, pid in batch])
                response = self.request(route.method, route.path, route.name, body=body)
                if response.status_code < 300:
                    removed([key for key, _ in batch])
                    continue
                error = error_detail(response)
                index = route.entry_index(error.pointer)
                if response.status_code == 404 and index is not None and index < len(batch):
                    # A profile Klaviyo no longer has is no longer a member: done with it, send the rest again.
                    removed([batch[index][0]])
                    rest = batch[:index] + batch[index + 1 :]
                    if rest:
                        queue.append(rest)
                    continue
                raise SendError(f"removing {len(batch)} members from the list: {error}")


def row_by_identifier(refs: list[RowRef], payload: Any) -> int | None:
    """The row whose key (external_id, else email, else phone number) the payload carries."""
    attributes = (payload or {}).get("attributes") or {} if isinstance(payload, dict) else {}
    wanted = next((attributes[k] for k in IDENTITIES if attributes.get(k)), None)
    return next((i for i, ref in enumerate(refs) if wanted is not None and ref.key == wanted), None)
