"""What a run reads from Klaviyo before it sends anything: the account's id, and whether the lists exist.

A dry run reads the same (it previews against the same change memory and checks the same lists), nothing more.
"""

from __future__ import annotations

from typing import Any

import orjson

from .bulk import Dispatcher


class NotInKlaviyo(RuntimeError):
    """Something a run needs from Klaviyo is not there; the message names the setting."""


def account_id(dispatcher: Dispatcher) -> str:
    """The id of the key's account (GET /api/accounts answers the one account a private key belongs to)."""
    response = dispatcher.request("GET", "/api/accounts", "get_accounts")
    if response.status_code >= 400:
        raise NotInKlaviyo(f"api_key: Klaviyo did not name the key's account (HTTP {response.status_code})")
    data: list[dict[str, Any]] = orjson.loads(response.content).get("data") or []
    if not data:
        raise NotInKlaviyo("api_key: Klaviyo answered no account for this key")
    return str(data[0]["id"])


def check_lists(dispatcher: Dispatcher, lists: dict[str, str]) -> None:
    """Every list a mapping names must exist (list id -> the setting naming it): else one line, nothing sent."""
    for list_id, setting in sorted(lists.items()):
        response = dispatcher.request("GET", f"/api/lists/{list_id}", "get_list", params={"fields[list]": "name"})
        if response.status_code == 404:
            raise NotInKlaviyo(f"{setting}: list {list_id!r} does not exist in this Klaviyo account")
        if response.status_code >= 400:
            raise NotInKlaviyo(f"{setting}: list {list_id!r} could not be read (HTTP {response.status_code})")
