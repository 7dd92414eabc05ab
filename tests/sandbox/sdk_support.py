"""Helpers shared by the SDK fidelity tests (test_sdk_reads.py, test_sdk_writes.py): an SDK client for a sandbox
account, plain-HTTP reads independent of the SDK, cursor walks, and the check that the SDK's models lose nothing.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException
from openapi_client.models import (
    FlowActionEncodedResponseObjectResource,
    FlowMessageEncodedResponseObjectResource,
    FlowResponseObjectResource,
    GetAccounts4XXResponse,
    ListResponseObjectResource,
    MessageResponseObjectResource,
    MetricResponseObjectResource,
    OmniCampaignResponseObjectResource,
    ProfileResponseObjectResource,
    SegmentResponseObjectResource,
    TagGroupResponseObjectResource,
    TagResponseObjectResource,
    TemplateResponseObjectResource,
)
from pydantic import BaseModel

from klaviyo_sandbox.pytest_plugin import wait_for

__all__ = ["wait_for"]  # re-exported: the SDK tests import it from here

REVISION = "2026-10-15"

# The SDK types most compound documents' `included` as plain dicts; these models parse them by resource type.
INCLUDED_MODEL: dict[str, type[BaseModel]] = {
    "metric": MetricResponseObjectResource,
    "profile": ProfileResponseObjectResource,
    "tag": TagResponseObjectResource,
    "tag-group": TagGroupResponseObjectResource,
    "campaign": OmniCampaignResponseObjectResource,
    "campaign-message": MessageResponseObjectResource,
    "flow": FlowResponseObjectResource,
    "flow-action": FlowActionEncodedResponseObjectResource,
    "flow-message": FlowMessageEncodedResponseObjectResource,
    "template": TemplateResponseObjectResource,
    "list": ListResponseObjectResource,
    "segment": SegmentResponseObjectResource,
}


# Included types the SDK has no model for (klaviyo-api types `included` as dicts): the keys of each, from Klaviyo's
# OpenAPI document (klaviyo/openapi, openapi/stable/apis/get_events.json: AttributionResponseObjectResource, which
# has no attributes; Klaviyo answers `attributes: {}`).
UNMODELLED_INCLUDED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "attribution": (
        frozenset({"type", "id", "attributes", "relationships", "links"}),
        frozenset(
            {
                "event",
                "attributed-event",
                "campaign",
                "campaign-message",
                "flow",
                "flow-message",
                "flow-message-variation",
            }
        ),
    ),
}


def check_unmodelled(item: dict, path: str) -> list[str]:
    """Keys of an included resource of a type the SDK has no model for that Klaviyo's OpenAPI does not name."""
    keys, relationships = UNMODELLED_INCLUDED[item["type"]]
    lost = [f"{path}/{key}" for key in item if key not in keys]
    lost += [f"{path}/attributes/{key}" for key in item.get("attributes") or {}]
    for name, relationship in (item.get("relationships") or {}).items():
        if name not in relationships:
            lost.append(f"{path}/relationships/{name}")
        lost += [f"{path}/relationships/{name}/{key}" for key in relationship if key not in ("data", "links")]
    return lost


def sdk_client(sandbox, index: int = 0, key: str | None = None) -> KlaviyoAPI:
    """The official SDK pointed at the sandbox, for account `index` (or any `key`); no retries."""
    return KlaviyoAPI(key or sandbox.key(index), test_host=sandbox.url, max_retries=0, max_delay=1)


def raw_get(sandbox, path: str, index: int = 0, **params: str) -> dict:
    """A plain HTTP GET, independent of the SDK: to find ids and to count what the sandbox serves."""
    response = requests.get(
        f"{sandbox.url}{path}",
        params=params,
        timeout=60,
        headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(index)}", "revision": REVISION},
    )
    assert response.status_code == 200, response.text
    return response.json()


def raw_request(sandbox, method: str, path: str, index: int = 0, body: Any = None, **params: str) -> requests.Response:
    """Any plain HTTP request to the API, with the account's key and the revision; the response as it came."""
    return requests.request(
        method,
        f"{sandbox.url}{path}",
        params=params,
        json=body,
        timeout=60,
        headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(index)}", "revision": REVISION},
    )


def only_error(response: requests.Response) -> dict:
    """The one error of a Klaviyo errors body, checked for the members every error has."""
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert {"id", "status", "code", "title", "detail", "source"} <= set(error)
    assert error["status"] == response.status_code
    return error


# ---- what the SDK says about a method: its group, path, HTTP method and tier -------------------------------------
SDK_CLIENT = KlaviyoAPI("pk_unused")  # never sends a request: only read for its methods
SDK_GROUPS = [name for name in dir(SDK_CLIENT) if name[:1].isupper()]


def sdk_group(client: KlaviyoAPI, method: str) -> Any:
    """The SDK property (client.Lists, client.Tags ...) that has `method`."""
    return getattr(client, _sdk_methods()[method][0])


@functools.cache
def _sdk_methods() -> dict[str, tuple[str, str, str, str]]:
    """method -> (SDK group, HTTP method, path, docstring), read once from the source of every SDK API module."""
    out: dict[str, tuple[str, str, str, str]] = {}
    for group in SDK_GROUPS:
        api = type(getattr(SDK_CLIENT, group))
        source = inspect.getsource(inspect.getmodule(api))
        for match in re.finditer(
            r"def _(\w+)_serialize\(.*?method='([A-Z]+)',\s*resource_path='([^']+)'", source, re.S
        ):
            name, verb, path = match.groups()
            assert name not in out, f"{name}: in two SDK groups"
            out[name] = (group, verb, path, inspect.getdoc(getattr(api, name)) or "")
    return out


def sdk_methods() -> list[str]:
    """Every method of the SDK that requests a route."""
    return sorted(_sdk_methods())


def sdk_route(method: str) -> tuple[str, str]:
    """(HTTP method, path) the SDK method requests, read from its source."""
    _, verb, path, _ = _sdk_methods()[method]
    return verb, path


def sdk_tier(method: str) -> tuple[int, int]:
    """(burst per second, steady per minute) from the SDK method's docstring."""
    match = re.search(r"Burst: `(\d+)/s`<br>Steady: `(\d+)/m`", _sdk_methods()[method][3])
    assert match, f"{method}: no rate limits in its docstring"
    return int(match.group(1)), int(match.group(2))


def cursor_of(next_url: str) -> str:
    return parse_qs(urlsplit(next_url).query)["page[cursor]"][0]


def raw_walk(sandbox, path: str, index: int = 0, **params: str) -> list[dict]:
    body = raw_get(sandbox, path, index, **params)
    records = list(body["data"])
    while body["links"]["next"]:
        body = raw_get(sandbox, path, index, **params, **{"page[cursor]": cursor_of(body["links"]["next"])})
        records.extend(body["data"])
    return records


def sdk_cursor(next_url: str) -> str:
    """What a program hands the SDK wrapper as `page_cursor`: the whole `links.next` URL.

    The wrapper extracts the cursor only from an https URL (real Klaviyo's links); the sandbox serves http, so the
    scheme is swapped and the wrapper's own extraction (`KlaviyoAPI._page_cursor_update`) does the rest."""
    return next_url.replace("http://", "https://", 1)


def sdk_walk(
    method: Callable[..., Any], *, full_url_cursor: bool = False, max_pages: int | None = None, **kwargs: Any
) -> list[Any]:
    """The records of an SDK list method, following links.next (for at most `max_pages` pages)."""
    page = method(**kwargs)
    records = list(page.data)
    pages = 1
    while page.links.next and (max_pages is None or pages < max_pages):
        cursor = sdk_cursor(page.links.next) if full_url_cursor else cursor_of(page.links.next)
        page = method(**kwargs, page_cursor=cursor)
        records.extend(page.data)
        pages += 1
    return records


def unknown_keys(model: Any, raw: Any, path: str = "") -> list[str]:
    """JSON paths of keys in `raw` that the parsed SDK `model` has no field for (pydantic ignores them)."""
    if isinstance(model, BaseModel) and hasattr(model, "actual_instance"):  # a oneOf wrapper
        return unknown_keys(model.actual_instance, raw, path)
    if isinstance(model, BaseModel) and isinstance(raw, dict):
        fields = {(info.alias or name): name for name, info in type(model).model_fields.items()}
        found: list[str] = []
        for key, value in raw.items():
            if key in fields:
                found += unknown_keys(getattr(model, fields[key]), value, f"{path}/{key}")
            elif "additional_properties" not in fields:
                found.append(f"{path}/{key}")
        return found
    if isinstance(model, list) and isinstance(raw, list):
        return [p for i, (m, r) in enumerate(zip(model, raw, strict=False)) for p in unknown_keys(m, r, f"{path}/{i}")]
    return []


def check_document(model: BaseModel, raw: dict) -> None:
    """`model` is the SDK's parse of `raw`: no key may be lost, and `included` must parse too."""
    lost = unknown_keys(model, raw)
    parsed_included = getattr(model, "included", None) or []
    for i, item in enumerate(raw.get("included") or []):
        parsed = parsed_included[i] if i < len(parsed_included) else None
        if isinstance(parsed, dict) and item["type"] in UNMODELLED_INCLUDED:
            lost += check_unmodelled(item, f"/included/{i}")
            continue
        if isinstance(parsed, dict):  # typed as a dict by the SDK: parse it with the model of its type
            assert item["type"] in INCLUDED_MODEL, f"no SDK model for included type {item['type']}"
            parsed = INCLUDED_MODEL[item["type"]].from_dict(item)
            lost += unknown_keys(parsed, item, f"/included/{i}")
    assert not lost, f"keys the SDK model does not know (silently dropped): {lost}"


def sdk_call(api: Any, method: str, **kwargs: Any) -> tuple[int, Any, dict | None]:
    """Call `api.<method>_with_http_info`: (status, the SDK's parsed model, the raw JSON body or None)."""
    response = getattr(api, f"{method}_with_http_info")(**kwargs)
    raw = json.loads(response.raw_data) if response.raw_data else None
    if isinstance(response.data, BaseModel) and raw is not None:
        check_document(response.data, raw)
    return response.status_code, response.data, raw


def api_error(call: Callable[[], Any]) -> tuple[int, GetAccounts4XXResponse]:
    """The status of the ApiException `call` raises, and its body parsed by the SDK's error model."""
    with pytest.raises(ApiException) as caught:
        call()
    error = caught.value
    body = GetAccounts4XXResponse.from_json(error.body)
    assert body.errors, error.body
    assert all(e["status"] == error.status for e in json.loads(error.body)["errors"])
    return error.status, body
