"""KlaviyoStream: what every stream shares. One partition per account; JSON:API rows; requests through klaviyo_http.

- Partitions are the selected accounts (`{"account_id": ...}`), so bookmarks are kept per account and the
  key never enters the context, the state or a record.
- A stream is made with the run's `RunContext` (run_context.py), and reaches the run through it only: each
  partition's account is one `klaviyo_http.AccountHttp` (`account`), which every request of the account uses.
- Requests carry the account's key, the pinned `revision`, the largest page size the endpoint allows, and
  the stream's `include`; the next page is Klaviyo's own `links.next`.
- Every request is paced, retried and read by klaviyo_http through the account's handle, reached through
  singer-sdk's `request_decorator` hook: the one policy for every caller (429 waits `Retry-After`, 5xx and
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
from .sdk_seams import set_record_version
from .versions import ACTIVATE_VERSION

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from klaviyo_http import AccountHttp

    from .run_context import RunContext
    from .sdk_seams import BatchConfig

SCHEMAS = Path(__file__).parent / "schemas"
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

    #: how the warehouse learns that a row is gone: ACTIVATE_VERSION (listed in full every run, versions.py),
    #: or None (rows are only added and updated)
    deletions: str | None = None
    #: read by runs of scope `light` too (settings.py): incremental and cheap enough for every few minutes
    in_light_runs: t.ClassVar[bool] = False
    #: large enough to be read by a process of its own, beside its account's other streams (stream_groups.py)
    runs_alone: t.ClassVar[bool] = False
    #: the stream whose results, held in this process (RunContext), this one reports: read in that stream's
    #: process (stream_groups.py), which is the only one that holds them
    reports_on: t.ClassVar[str | None] = None

    def __init__(self, tap: Tap, run: RunContext, **kwargs: t.Any) -> None:
        self.run = run
        self.settings = run.settings
        super().__init__(tap, **kwargs)
        #: a page's side-loaded resources (`include`), read by the child streams that emit them (streams.py)
        self.included: dict[str, list[Resource]] = {}
        #: the stream whose records this one's contexts come from (`parent_stream_type`), linked by the tap
        self.parent: KlaviyoStream | None = None
        self.stamp_table_version()

    def stamp_table_version(self) -> None:
        set_record_version(self, self.table_version)

    # ---- versions and batches ---------------------------------------------------------------------------
    @property
    def table_version(self) -> int | None:
        """The run's table version, stamped on this stream's rows when it marks deletions (versions.py)."""
        return self.run.table_version if self.deletions == ACTIVATE_VERSION else None

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # singer-sdk would send ACTIVATE_VERSION when the stream starts; versions.py sends it at the end of a run
        # that covered every account, because every account shares each table.
        return False

    #: whether batch_config applies: the large streams write files (paged_stream.py); the small ones stay records, as a
    #: few thousand rows are not worth a file each (their child streams would make one per parent row)
    writes_batch_files: t.ClassVar[bool] = False

    @override
    def get_batch_config(self, config: t.Mapping[str, t.Any]) -> BatchConfig | None:
        # `batch_files: false` is record mode whatever batch_config says: Meltano merges an object setting given in
        # the environment with the one in meltano.yml, so batch_config cannot be unset for one run.
        if not self.writes_batch_files or not self.settings.batch_files:
            return None
        return super().get_batch_config(config)

    @property
    @override
    def url_base(self) -> str:
        return self.settings.api_url.rstrip("/")

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"account_id": account.id} for account in self.run.accounts()]

    @cached_property
    @override
    def timeout(self) -> int:
        return self.settings.request_timeout

    # ---- requests ---------------------------------------------------------------------------------
    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        request.headers = {**request.headers, **self.account(page.stream_context).headers()}
        if page.next_page_token is not None:
            # Klaviyo's next link already holds every parameter of the first request, and the cursor.
            request.url = page.next_page_token.geturl()
            request.params = {}
        return request

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Every attempt goes through the account's handle: paced for the account and endpoint, retried by the
        one policy. singer-sdk's own backoff is not used: klaviyo_http is the only retry loop."""

        def send(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            return self.account(context).call(
                lambda: func(prepared_request, context),
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

    def rate_buckets(self) -> frozenset[str]:
        """Every rate-limit bucket (klaviyo_http.TIERS key) the stream's requests use: streams that share one are
        read by one process, which paces them together (stream_groups.py)."""
        return frozenset({self.endpoint_for(None)}) if self.endpoint else frozenset()

    @override
    def get_new_paginator(self) -> NextLinkPaginator:
        return NextLinkPaginator()

    # ---- responses --------------------------------------------------------------------------------
    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        page = decode_page(response.content)
        # Child streams read a page's side-loaded resources before the next page is requested: singer-sdk syncs
        # a record's children before it takes the next record.
        self.included = {}
        for resource in page.included:
            self.included.setdefault(resource.type, []).append(resource)
        for resource in page.data:
            yield flatten(resource)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        row.update(account_columns(self.account(context)))
        return row

    def account(self, context: Context | None) -> AccountHttp:
        """The partition's account: its handle, which every request of the account goes through."""
        return self.run.account(self.account_id(context))

    @staticmethod
    def account_id(context: Context | None) -> str:
        if not context or "account_id" not in context:
            raise RuntimeError("every Klaviyo request belongs to an account partition")
        return t.cast("str", context["account_id"])


def account_columns(account: AccountHttp) -> dict[str, str]:
    """The columns every row of an account carries: all accounts share one table downstream."""
    return {"account_id": account.id, "account_name": account.name}
