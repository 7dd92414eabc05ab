"""KlaviyoStream: what every stream shares. One partition per account; JSON:API rows; requests through klaviyo_http.

- Partitions are the selected accounts (`{"account_id": ...}`), so bookmarks are kept per account and the
  key never enters the context, the state or a record.
- Requests carry the account's key, the pinned `revision`, the largest page size the endpoint allows, and
  the stream's `include`; the next page is Klaviyo's own `links.next`.
- Every request is paced, retried and read by the run's `KlaviyoHttp` (the shared klaviyo_http package), reached
  through singer-sdk's `request_decorator` hook: the one policy for every caller (429 waits `Retry-After`, 5xx and
  connection errors back off with jitter, 401/403 stop at once).
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import requests
from singer_sdk import RESTStream, SchemaDirectory, StreamSchema
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseHATEOASPaginator
from typing_extensions import override

from .flatten import Resource, decode_page, flatten, next_link
from .versions import ACTIVATE_VERSION

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from .tap import TapKlaviyo

SCHEMAS = Path(__file__).parent / "schemas"
# Requests in flight within one account (`window_concurrency`): Klaviyo answers a page of events in ~250 ms, and its
# events tier takes 3,500 pages a minute, so ~15 must be in flight; 24 reached 93% of that ceiling over a whole
# minute and more (bench/pipeline_throughput.py), 16 reached 84%.
WINDOW_CONCURRENCY = 24
RequestFunc = t.Callable[[requests.PreparedRequest, "Context | None"], requests.Response]


class NextLinkPaginator(BaseHATEOASPaginator):
    """Follows `links.next`, which carries the cursor and every parameter of the first request."""

    @override
    def get_next_url(self, response: requests.Response) -> str | None:
        return next_link(response.content)


class KlaviyoStream(RESTStream[t.Any]):
    """A Klaviyo collection endpoint read for every selected account."""

    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SchemaDirectory(SCHEMAS))  # schemas/<stream name>.json
    # Keys start with account_id: Klaviyo promises an id unique within the account whose key reads it, and every
    # account's rows share one table downstream.
    #: the endpoint's rate-limit bucket (klaviyo_http.TIERS key)
    endpoint: str = ""
    #: `page[size]` to send (the endpoint's maximum); None for endpoints without one
    page_size: int | None = None
    #: `include` to send; the included resources are handed to child streams (see `included`)
    include: tuple[str, ...] = ()
    #: the filter field and operator for the bookmark, e.g. ("datetime", "greater-or-equal"); None: full read
    bookmark_filter: tuple[str, str] | None = None
    #: `sort` to send; a stream is only declared sorted when Klaviyo sorts it by the replication key
    sort: str | None = None
    # State after every full events page (singer-sdk's default is 10,000 records): a killed run resumes
    # from the last page its target saw, not from the start of the account.
    STATE_MSG_FREQUENCY = 1000
    # Rows come from JSON already in JSON types and the schemas declare every column and nested key
    # (tests/tap/test_schemas.py checks both on real rows), so conforming each value again is pure cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    tap: TapKlaviyo

    #: how the warehouse learns that a row is gone: ACTIVATE_VERSION (listed in full every run, versions.py),
    #: or None (rows are only added and updated)
    deletions: str | None = None

    def __init__(self, tap: TapKlaviyo, **kwargs: t.Any) -> None:
        super().__init__(tap, **kwargs)
        self.tap = tap
        self.included: dict[str, list[Resource]] = {}
        self.stamp_table_version()

    def stamp_table_version(self) -> None:
        """singer-sdk puts `_stream_version` on every RECORD message, but sets it only for FULL_TABLE streams that
        send ACTIVATE_VERSION when they start, which these do not (versions.py): set it here."""
        self._stream_version = self.table_version

    # ---- versions and batches ---------------------------------------------------------------------------
    @property
    def table_version(self) -> int | None:
        """The run's table version, stamped on this stream's rows when it marks deletions (versions.py)."""
        return self.tap.table_version if self.deletions == ACTIVATE_VERSION else None

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # singer-sdk would send ACTIVATE_VERSION when the stream starts; versions.py sends it at the end of a run
        # that covered every account, because every account shares each table.
        return False

    #: whether batch_config applies: the large streams write files (pages.py); the small ones stay records, as a
    #: few thousand rows are not worth a file each (their child streams would make one per parent row)
    writes_batch_files: t.ClassVar[bool] = False

    @override
    def get_batch_config(self, config: t.Mapping[str, t.Any]) -> BatchConfig | None:
        # `batch_files: false` is record mode whatever batch_config says: Meltano merges an object setting given in
        # the environment with the one in meltano.yml, so batch_config cannot be unset for one run.
        if not self.writes_batch_files or config.get("batch_files") is False:
            return None
        return super().get_batch_config(config)

    @property
    @override
    def url_base(self) -> str:
        return t.cast("str", self.config["api_url"]).rstrip("/")

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"account_id": account_id} for account_id in self.tap.account_ids()]

    @cached_property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 300))

    # ---- requests ---------------------------------------------------------------------------------
    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        request.headers = {
            **request.headers,
            **self.tap.http.headers(self.tap.api_key(self.account_id(page.stream_context))),
        }
        if page.next_page_token is not None:
            # Klaviyo's next link already holds every parameter of the first request, and the cursor.
            request.url = page.next_page_token.geturl()
            request.params = {}
        return request

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Every attempt goes through the run's KlaviyoHttp: paced for the account and endpoint, retried by the
        one policy. singer-sdk's own backoff is not used: klaviyo_http is the only retry loop."""

        def send(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            return self.tap.http.call(
                lambda: func(prepared_request, context),
                account=self.tap.account_name(self.account_id(context)),
                endpoint=self.endpoint_for(context),
                what=f"{prepared_request.method} {urlsplit(prepared_request.url or '').path}",
            )

        return send

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Nothing to do here: klaviyo_http reads every answer (status, error body, RateLimit-*) once `func`
        returns it, in `request_decorator`."""

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {}
        if self.page_size:
            params["page[size]"] = self.page_size
        if self.include:
            params["include"] = ",".join(self.include)
        if self.sort:
            params["sort"] = self.sort
        conditions = self.filter_conditions(context)
        if conditions:
            params["filter"] = ",".join(conditions)
        return params

    def filter_conditions(self, context: Context | None) -> list[str]:
        """Server-side filters: the bookmark (inclusive, so rows sharing its second are read again and
        merged on their key, never lost: Klaviyo shows whole seconds, and a strict `greater-than` lost such rows in
        https://github.com/estuary/connectors/issues/2037) plus what the stream adds."""
        if self.bookmark_filter is None or self.replication_key is None:
            return []
        start = self.get_starting_timestamp(context)
        if start is None:
            return []
        field, op = self.bookmark_filter
        return [f"{op}({field},{start.strftime('%Y-%m-%dT%H:%M:%SZ')})"]

    def endpoint_for(self, context: Context | None) -> str:
        return self.endpoint

    @override
    def get_new_paginator(self) -> NextLinkPaginator:
        return NextLinkPaginator()

    # ---- responses --------------------------------------------------------------------------------
    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        page = decode_page(response.content)
        # Child streams read a page's side-loaded resources before the next page is requested.
        self.included = {}
        for resource in page.included:
            self.included.setdefault(resource.type, []).append(resource)
        for resource in page.data:
            yield flatten(resource)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        row.update(self.account_columns(self.account_id(context)))
        return row

    def account_columns(self, account_id: str) -> dict[str, str]:
        """The columns every row of an account carries: all accounts share one table downstream."""
        return {"account_id": account_id, "account_name": self.tap.account_name(account_id)}

    @staticmethod
    def account_id(context: Context | None) -> str:
        if not context or "account_id" not in context:
            raise RuntimeError("every Klaviyo request belongs to an account partition")
        return t.cast("str", context["account_id"])
