"""The run's accounts resolved: whose key is whose at Klaviyo (its id), and one handle per account to send with.

Each account of the accounts list becomes one `klaviyo_http.AccountHttp`: its id, name and key, bound to the run's
`KlaviyoHttp`, paced by the limiters of its id. Every stream, window, page, member and report request of the account
goes through that handle; keys live only in it, so none reaches a context, a bookmark, a record or a log line. An
account whose key Klaviyo refuses is left out (`failures` says why); the others sync.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from klaviyo_http import AccountHttp, KeyRefusedError, KlaviyoHttp, KlaviyoHttpError

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from .accounts import Account


class AccountDirectory:
    def __init__(
        self,
        accounts: Callable[[], list[Account]],
        http: KlaviyoHttp,
        logger: logging.Logger,
        known_ids: t.Mapping[str, str] | None = None,
    ) -> None:
        """`accounts` reads the accounts list when first needed (a discovery needs none); `known_ids` (account name
        -> id) skips the lookup for accounts a parent process resolved already (fanout.py)."""
        self._read_accounts = accounts
        self._http = http
        self._logger = logger
        self._known_ids = dict(known_ids or {})
        self._lock = threading.Lock()
        self._resolved: dict[str, AccountHttp] | None = None  # account id -> its handle, in the list's order
        self.failures: dict[str, str] = {}  # account name -> why it was not synced

    def accounts(self) -> list[AccountHttp]:
        """The accounts whose key works, asking Klaviyo once per account (GET /api/accounts)."""
        return list(self._accounts_by_id().values())

    def account(self, account_id: str) -> AccountHttp:
        """The handle of a resolved account (called for every request: no lock once resolved)."""
        return self._accounts_by_id()[account_id]

    def _accounts_by_id(self) -> dict[str, AccountHttp]:
        resolved = self._resolved
        if resolved is not None:
            return resolved
        with self._lock:
            if self._resolved is None:
                handles: dict[str, AccountHttp] = {}
                for account in self._read_accounts():
                    handle = self._handle(account)
                    if handle is not None:
                        handles[handle.id] = handle
                # Published whole, so readers need no lock once it is set.
                self._resolved = handles
            return self._resolved

    def _handle(self, account: Account) -> AccountHttp | None:
        known = self._known_ids.get(account.name)
        if known is not None:
            return self._http.for_account(known, account.name, account.api_key)
        try:
            return self._http.identify(account.name, account.api_key)
        except KeyRefusedError as refused:
            why = f"Klaviyo refused its key: {refused.detail}"
        except KlaviyoHttpError as error:
            why = str(error)
        self.failures[account.name] = why
        self._logger.error("Account '%s' is left out of this run: %s", account.name, why)
        return None
