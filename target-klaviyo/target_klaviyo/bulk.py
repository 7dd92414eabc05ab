"""Klaviyo's bulk endpoints, driven concurrently: event batches, profile import jobs, and what became of each row.

- Events: POST /event-bulk-create-jobs, up to 1,000 per request and under 5 MB; Klaviyo answers 202 for the
  whole request or refuses the whole request (400) naming the first bad entry by its JSON pointer. That entry
  is rejected and the others sent again; a refusal that names no entry is narrowed down by halving.
- Profiles: POST /profile-bulk-import-jobs, up to 10,000 per job and under 5 MB, then the job is polled until it
  completes and its per-row import errors are read; those rows are rejected, the others accepted.
- Requests go through klaviyo_http (the shared package): paced per endpoint, 429s waiting `Retry-After`, 5xx and
  connection errors retried with jittered backoff. Re-sending is safe: events carry a stable `unique_id` and
  profile imports are upserts. Requests run on thread pools (one per endpoint, `concurrency` wide).
  At most twice that many batches wait for a thread, so a fast input cannot fill memory.
- `flush()` returns once every batch submitted so far has ended (accepted or rejected): the target emits
  state only after it. A batch that could not be sent at all (retries exhausted) is rejected with code
  `not_sent` and makes the run fail, so state never moves past rows Klaviyo did not take.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import orjson

from klaviyo_http import KeyRefusedError, KlaviyoHttp, KlaviyoHttpError, RequestRefusedError
from klaviyo_http.errors import error_detail

from .rejects import Outcomes, RowRef

EVENTS_PATH = "/api/event-bulk-create-jobs"
PROFILES_PATH = "/api/profile-bulk-import-jobs"
MAX_EVENTS = 1_000
MAX_PROFILES = 10_000
MAX_BODY_BYTES = 5_000_000  # "5 MB", read as the smaller of 10^6 and 2^20 bytes per MB
MAX_PROFILE_BYTES = 100 * 1024  # 100 KB per profile
ENVELOPES = {
    "event": (b'{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[', b"]}}}}"),
    "profile": (b'{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":[', b"]}}}}"),
}
MAX_ITEM_BYTES = {"event": MAX_BODY_BYTES - sum(map(len, ENVELOPES["event"])), "profile": MAX_PROFILE_BYTES}
ENTRY_INDEX = re.compile(r"^/data/attributes/(?:events-bulk-create|profiles)/data/(\d+)(?:/|$)")
JOB_POLL_FIRST, JOB_POLL_MAX = 0.25, 5.0


ACCOUNT = ""  # one key, so one account: the limiters' account slot, with nothing to tell apart in messages


class SendError(RuntimeError):
    """Rows could not be sent to Klaviyo (retries exhausted, or a job that cannot be followed)."""


@dataclass(slots=True)
class Item:
    """One row's payload, serialized once."""

    ref: RowRef
    body: bytes


def chunks(items: list[Item], kind: str) -> list[list[Item]]:
    """Consecutive requests within the endpoint's count and byte limits."""
    limit = MAX_EVENTS if kind == "event" else MAX_PROFILES
    room = MAX_BODY_BYTES - sum(map(len, ENVELOPES[kind]))
    out: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        extra = len(item.body) + 1  # the comma
        if current and (len(current) >= limit or size + extra > room):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += extra
    if current:
        out.append(current)
    return out


def envelope(kind: str, items: list[Item]) -> bytes:
    head, tail = ENVELOPES[kind]
    return head + b",".join(item.body for item in items) + tail


def entry_index(pointer: str | None) -> int | None:
    match = ENTRY_INDEX.match(pointer or "")
    return int(match.group(1)) if match else None


class Dispatcher:
    """Sends batches on background threads and records each row's outcome.

    Three kinds of work, each on its own pool with a bound on what may wait for it:
    "event" requests (`concurrency` at once), "profile" job creations (a few at once: each carries up to
    10,000 profiles) and "job" polls (many at once: a job is followed holding only its rows' references,
    so slow jobs cost little memory)."""

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
        threads = {"event": concurrency, "profile": max(2, concurrency // 4), "job": 4 * concurrency}
        self._threads = threads
        self._room = {
            "event": threading.BoundedSemaphore(2 * concurrency),
            "profile": threading.BoundedSemaphore(threads["profile"] + 1),
            "job": threading.BoundedSemaphore(threads["job"]),
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

    def submit(self, kind: str, stream: str, items: list[Item]) -> None:
        """Queue one batch (within the endpoint's limits); blocks while too many batches wait."""
        self.check()
        self.outcomes.sent(stream, kind, len(items))
        send = self._send_events if kind == "event" else self._send_profiles
        self._queue(kind, send, kind, stream, items, [item.ref for item in items])

    def _queue(
        self, work: str, send: Callable[..., None], kind: str, stream: str, payload: list[Any], refs: list[RowRef]
    ) -> None:
        self._room[work].acquire()
        future = self._pool(work).submit(self._run, send, kind, stream, payload, refs)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._done(work, f))

    def _done(self, work: str, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._room[work].release()

    def _run(
        self, send: Callable[[str, list[Any]], None], kind: str, stream: str, payload: list[Any], refs: list[RowRef]
    ) -> None:
        try:
            send(stream, payload)
        except KeyRefusedError as exc:
            self._fatal = self._fatal or exc
        except Exception as exc:
            reason = str(exc) if isinstance(exc, SendError | KlaviyoHttpError) else f"{type(exc).__name__}: {exc}"
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

    # --- one batch ---------------------------------------------------------------------------------------------

    def _request(
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

    def _isolate(self, kind: str, batch: list[Item], response: Any, queue: list[list[Item]]) -> None:
        """Klaviyo refused a whole request: reject the entry it names and queue the rest, or halve."""
        error = error_detail(response)
        code, detail = error.code, error.detail
        index = entry_index(error.pointer)
        if response.status_code in (400, 422) and index is not None and index < len(batch):
            self.outcomes.reject(batch[index].ref, kind, f"Klaviyo: {detail}", code)
            rest = batch[:index] + batch[index + 1 :]
            if rest:
                queue.append(rest)
        elif len(batch) > 1 and response.status_code in (400, 413, 422):
            half = len(batch) // 2
            queue.extend((batch[:half], batch[half:]))
        else:
            for item in batch:
                self.outcomes.reject(item.ref, kind, f"Klaviyo: {detail} (HTTP {response.status_code})", code)

    def _send_events(self, stream: str, items: list[Item]) -> None:
        queue = [items]
        while queue:
            batch = queue.pop()
            response = self._request("POST", EVENTS_PATH, "bulk_create_events", body=envelope("event", batch))
            if response.status_code < 300:
                self.outcomes.accepted(stream, "event", len(batch))
            else:
                self._isolate("event", batch, response, queue)

    def _send_profiles(self, stream: str, items: list[Item]) -> None:
        queue = [items]
        while queue:
            batch = queue.pop()
            response = self._request("POST", PROFILES_PATH, "bulk_import_profiles", body=envelope("profile", batch))
            if response.status_code < 300:
                job_id = orjson.loads(response.content)["data"]["id"]
                refs = [item.ref for item in batch]
                self._queue(
                    "job", lambda s, r, job_id=job_id: self._follow_job(s, r, job_id), "profile", stream, refs, refs
                )
            else:
                self._isolate("profile", batch, response, queue)

    def _follow_job(self, stream: str, refs: list[RowRef], job_id: str) -> None:
        """Poll the job until it ends, then reject the rows its import errors name and accept the others."""
        delay = JOB_POLL_FIRST
        while True:
            time.sleep(delay)
            response = self._request("GET", f"{PROFILES_PATH}/{job_id}", "get_bulk_import_profiles_job")
            if response.status_code >= 400:
                raise SendError(f"profile import job {job_id}: {error_detail(response)}")
            attributes = orjson.loads(response.content)["data"]["attributes"]
            status = attributes.get("status")
            if status == "complete":
                break
            if status in ("failed", "cancelled"):
                for ref in refs:
                    self.outcomes.reject(
                        ref, "profile", f"Klaviyo: the import job {job_id} ended {status}", f"job_{status}"
                    )
                return
            delay = min(delay * 1.5, JOB_POLL_MAX)
        failed = self._import_errors(job_id, refs) if attributes.get("failed_count") else {}
        for index, (code, detail) in failed.items():
            self.outcomes.reject(refs[index], "profile", f"Klaviyo: {detail}", code)
        self.outcomes.accepted(stream, "profile", len(refs) - len(failed))

    def _import_errors(self, job_id: str, refs: list[RowRef]) -> dict[int, tuple[str, str]]:
        """Row index in the job -> (code, detail), from every page of the job's import errors. A row is found
        by the error's pointer, or else by the identifier in its original payload."""
        out: dict[int, tuple[str, str]] = {}
        url: str | None = f"{PROFILES_PATH}/{job_id}/import-errors"
        params: dict[str, Any] | None = {"page[size]": 100}
        while url:
            response = self._request("GET", url, "get_errors_for_bulk_import_profiles_job", params=params)
            if response.status_code >= 400:
                raise SendError(f"import errors of job {job_id}: {error_detail(response)}")
            body = orjson.loads(response.content)
            for error in body.get("data") or ():
                attrs = error.get("attributes") or {}
                index = entry_index((attrs.get("source") or {}).get("pointer"))
                if index is None:
                    index = row_by_identifier(refs, attrs.get("original_payload"))
                if index is None or index >= len(refs):
                    raise SendError(f"an import error of job {job_id} names no row of the job: {attrs.get('code')}")
                out[index] = (str(attrs.get("code") or "invalid"), str(attrs.get("detail") or attrs.get("title")))
            url, params = (body.get("links") or {}).get("next"), None
        return out


def row_by_identifier(refs: list[RowRef], payload: Any) -> int | None:
    """The row whose identifier (external_id, else email, else phone number) the payload carries."""
    attributes = (payload or {}).get("attributes") or {} if isinstance(payload, dict) else {}
    wanted = next((attributes[k] for k in ("external_id", "email", "phone_number") if attributes.get(k)), None)
    return next((i for i, ref in enumerate(refs) if wanted is not None and ref.identifier == wanted), None)
