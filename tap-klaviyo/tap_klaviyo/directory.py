"""The accounts of a run: who they are at Klaviyo (id), their keys, their lists and segments.

Keys live only here, in memory: streams ask for a key by account id when they build a request, so no key reaches
a context, a bookmark, a record or a log line. Every request goes through the run's `KlaviyoHttp` (the shared
klaviyo_http package), which paces it per account and endpoint and retries it by the one policy; accounts are
named to it by name.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from klaviyo_http import KeyRefusedError, KlaviyoHttp, KlaviyoHttpError

from .accounts import Account
from .flatten import Page, RawPage, decode_page, decode_raw_page


class AccountFailedError(Exception):
    """An account could not be read; the run goes on with the others and ends non-zero."""


class AccountDirectory:
    def __init__(
        self,
        accounts: list[Account],
        http: KlaviyoHttp,
        logger: logging.Logger,
        known_ids: dict[str, str] | None = None,
    ) -> None:
        """`known_ids` (account name -> id) skips the lookup for accounts a parent process resolved already."""
        self._accounts = accounts
        self.http = http
        self._logger = logger
        self._known_ids = known_ids or {}
        self._lock = threading.Lock()
        self._resolved: dict[str, Account] | None = None  # account id -> account
        self.failures: dict[str, str] = {}  # account name -> why it was not synced

    # ---- accounts ---------------------------------------------------------------------------------
    def account_ids(self) -> list[str]:
        """Ids of the accounts whose key works, asking Klaviyo once per account (GET /accounts)."""
        with self._lock:
            if self._resolved is None:
                resolved: dict[str, Account] = {}
                for account in self._accounts:
                    account_id = self._known_ids.get(account.name)
                    if account_id is None:
                        try:
                            account_id = self.lookup_id(account)
                        except AccountFailedError as error:
                            self.failures[account.name] = str(error)
                            self._logger.error("Account '%s' is left out of this run: %s", account.name, error)
                            continue
                    resolved[account_id] = account
                # Published whole, so `_account` can read it without the lock once it is set.
                self._resolved = resolved
            return list(self._resolved)

    def lookup_id(self, account: Account) -> str:
        """The account's id at Klaviyo (GET /api/accounts answers the key's own account)."""
        try:
            body = self.http.get_json(
                "/api/accounts", api_key=account.api_key, account=account.name, endpoint="get_accounts"
            )
        except KeyRefusedError as refused:
            raise AccountFailedError(f"Klaviyo refused its key: {refused.detail}") from None
        except KlaviyoHttpError as error:
            raise AccountFailedError(str(error)) from None
        return t.cast("str", body["data"][0]["id"])

    def api_key(self, account_id: str) -> str:
        return self._account(account_id).api_key

    def account_name(self, account_id: str | None) -> str:
        return self._account(account_id).name if account_id else "unknown"

    def _account(self, account_id: str) -> Account:
        # Called for every record (account_name) and request: no lock once the accounts are resolved.
        resolved = self._resolved
        if resolved is None:
            self.account_ids()
            resolved = self._resolved
            assert resolved is not None
        return resolved[account_id]

    def group_ids(self, account_id: str, group: str) -> list[str]:
        """Every list (or segment) id of an account, for the member streams' partitions."""
        ids: list[str] = []
        url: str | None = f"/api/{group}s"
        params: dict[str, str] = {f"fields[{group}]": "name"}
        while url:
            page = self.page_for(account_id, url, params, endpoint=f"get_{group}s")
            ids.extend(resource.id for resource in page.data)
            url, params = page.links.next, {}
        return ids

    # ---- one request, through the run's KlaviyoHttp (thread-safe: windows read several at once) -------
    def get_for(
        self, account_id: str, path_or_url: str, params: dict[str, t.Any], *, endpoint: str
    ) -> dict[str, t.Any]:
        """One answer, as plain JSON (for the few lookups that read a resource or two)."""
        account = self._account(account_id)
        return self.http.get_json(
            path_or_url, api_key=account.api_key, account=account.name, endpoint=endpoint, params=params
        )

    def page_for(self, account_id: str, path_or_url: str, params: dict[str, t.Any], *, endpoint: str) -> Page:
        """One page of a collection, decoded (flatten.py)."""
        return decode_page(self.content_for(account_id, path_or_url, params, endpoint=endpoint))

    def raw_page_for(self, account_id: str, path_or_url: str, params: dict[str, t.Any], *, endpoint: str) -> RawPage:
        """One page of a collection, its attributes kept as Klaviyo's JSON text (flatten.py)."""
        return decode_raw_page(self.content_for(account_id, path_or_url, params, endpoint=endpoint))

    def content_for(self, account_id: str, path_or_url: str, params: dict[str, t.Any], *, endpoint: str) -> bytes:
        """One answer's body, as Klaviyo sent it."""
        account = self._account(account_id)
        response = self.http.request(
            "GET", path_or_url, api_key=account.api_key, account=account.name, endpoint=endpoint, params=params
        )
        return response.content

    def post_for(self, account_id: str, path_or_url: str, body: bytes, *, endpoint: str) -> bytes:
        """A POST that reads (the Reporting API's queries); its JSON answer as it came, for the caller to keep
        compact until it needs the rows."""
        account = self._account(account_id)
        response = self.http.request(
            "POST", path_or_url, api_key=account.api_key, account=account.name, endpoint=endpoint, body=body
        )
        return response.content
