"""The stream schemas (tap_klaviyo/schemas, written by tap-klaviyo/scripts/make_schemas.py) against the sandbox.

Every row the tap would build from each stream's request, for every account of the sandbox, is checked:
- it validates against the stream's schema, with date-time formats checked;
- every column it has, and every nested key inside a declared object, is declared by the schema;
- every column the schema declares is produced by some row (the one SDK column the sandbox never renders is named).
And the schemas themselves: required and nullable columns, primary and replication keys, generator output.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft7Validator, FormatChecker

import tap_klaviyo
from tap_klaviyo.attributions import add_attribution, attribution_index
from tap_klaviyo.flatten import as_resource, flatten

REVISION = "2026-10-15"
SCHEMAS = Path(tap_klaviyo.__file__).parent / "schemas"
GENERATOR = Path(tap_klaviyo.__file__).parents[1] / "scripts" / "make_schemas.py"
PROFILES_PARAMS = {
    "page[size]": "100",
    "additional-fields[profile]": "subscriptions,predictive_analytics",
    "sort": "updated",
}

# stream -> the requests the tap makes: (path, params), each read to the last page
REQUESTS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "accounts": [("/api/accounts", {})],
    "events": [("/api/events", {"page[size]": "1000", "sort": "datetime", "include": "attributions"})],
    "profiles": [("/api/profiles", PROFILES_PARAMS)],
    "campaigns": [
        (
            "/api/campaigns",
            {
                "filter": f"equals(messages.channel,'{channel}'),equals(archived,{archived})",
                "include": "campaign-messages,tags",
            },
        )
        for channel in ("email", "sms", "mobile_push")
        for archived in ("false", "true")
    ],
    "flows": [
        ("/api/flows", {"filter": f"equals(archived,{archived})", "include": "flow-actions,tags"})
        for archived in ("false", "true")
    ],
    "lists": [("/api/lists", {"include": "tags"})],
    "segments": [("/api/segments", {"include": "tags"})],
    "metrics": [("/api/metrics", {})],
    "tags": [("/api/tags", {"include": "tag-group"})],
    "templates": [("/api/templates", {})],
}
# Members are links: the tap asks for `joined_group_at` only (members.py).
MEMBER_PARAMS = {"page[size]": "100", "sort": "joined_group_at", "fields[profile]": "joined_group_at"}
# child stream -> (parent stream, included resource type)
INCLUDED = {"campaign_messages": ("campaigns", "campaign-message"), "flow_actions": ("flows", "flow-action")}
# child stream -> (parent stream, path per parent row, params, column naming the parent)
PER_PARENT = {
    "flow_messages": ("flow_actions", "/api/flow-actions/{id}/flow-messages", {}, None),
    "list_members": ("lists", "/api/lists/{id}/profiles", MEMBER_PARAMS, "list_id"),
    "segment_members": ("segments", "/api/segments/{id}/profiles", MEMBER_PARAMS, "segment_id"),
}
# stream -> (primary keys, replication key)
KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "accounts": (("id",), None),
    "events": (("id",), "datetime"),
    "profiles": (("id",), "updated"),
    "campaigns": (("id",), "updated_at"),
    "campaign_messages": (("id",), None),
    "flows": (("id",), "updated"),
    "flow_actions": (("id",), None),
    "flow_messages": (("id",), None),
    "lists": (("id",), "updated"),
    "list_members": (("list_id", "id"), "joined_group_at"),
    "segments": (("id",), "updated"),
    "segment_members": (("segment_id", "id"), "joined_group_at"),
    "metrics": (("id",), None),
    "tags": (("id",), None),
    "templates": (("id",), "updated"),
}
STREAMS = list(KEYS)
# Columns of the SDK models that no sandbox row has: the campaign-message resource's to-one `campaign-audience`
# relationship and the template attribute `screenshot_url` (both in klaviyo-api 25.0.0) are never rendered.
NEVER_PRODUCED = {
    "campaign_messages": {"campaign_audience_id"},
    "templates": {"screenshot_url"},
    # added by singer-sdk from the partition (channel x archived), not by flatten()
    "campaigns": {"channel", "archived"},
}


def load_schema(stream: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{stream}.json").read_text())


def closed(schema: Any) -> Any:
    """A copy of the schema where every object with declared properties admits no other key (free-form
    objects, declared with empty properties, stay open)."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if schema.get("properties"):
            schema["additionalProperties"] = False
    return schema


class Account:
    def __init__(self, base: str, key: str, account_id: str, name: str) -> None:
        self.base, self.id, self.name = base, account_id, name
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION, "accept": "application/vnd.api+json"}
        )

    def pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self.base}{path}"
        query: dict[str, str] | None = params
        while url:
            response = self.session.get(url, params=query, timeout=60)
            assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:500]}"
            body = response.json()
            yield body
            url, query = body["links"].get("next"), None  # the next link carries every parameter

    def row(self, resource: dict[str, Any], **extra: str) -> dict[str, Any]:
        return {**flatten(as_resource(resource)), "account_id": self.id, "account_name": self.name, **extra}


@pytest.fixture(scope="module")
def rows(klaviyo_sandbox) -> dict[str, list[dict[str, Any]]]:
    """stream -> every row the tap's requests give, over every account of the sandbox."""
    out: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    for index, info in enumerate(klaviyo_sandbox.accounts):
        account = Account(klaviyo_sandbox.url, klaviyo_sandbox.key(index), info["id"], info["account"])
        for stream, requests_ in REQUESTS.items():
            for path, params in requests_:
                for body in account.pages(path, params):
                    if stream == "events":  # the attribution columns from the page's included attributions
                        found = attribution_index(as_resource(r) for r in body.get("included") or ())
                        out[stream].extend(add_attribution(account.row(r), found) for r in body["data"])
                        continue
                    out[stream].extend(account.row(resource) for resource in body["data"])
                    for child, (parent, type_) in INCLUDED.items():
                        if parent == stream:
                            out[child].extend(account.row(r) for r in body.get("included") or () if r["type"] == type_)
        for child, (parent, template, params, parent_column) in PER_PARENT.items():
            parent_ids = dict.fromkeys(r["id"] for r in out[parent] if r["account_id"] == account.id)
            for parent_id in parent_ids:
                extra = {parent_column: parent_id} if parent_column else {}
                for body in account.pages(template.format(id=parent_id), params):
                    out[child].extend(account.row(resource, **extra) for resource in body["data"])
    return out


def test_every_stream_has_a_schema_and_the_format_checker_checks_date_times() -> None:
    # The completeness streams' rows are the tap's own (Klaviyo's counts, profile ids, listings), no Klaviyo
    # resource: tests/tap/test_tap_completeness.py checks them.
    derived = ["event_counts", "profile_ids", "profile_listings"]
    assert sorted(path.stem for path in SCHEMAS.glob("*.json")) == sorted(STREAMS + derived)
    checker = FormatChecker()
    assert "date-time" in checker.checkers  # needs rfc3339-validator; without it formats pass unchecked
    assert not checker.conforms("2024-13-01 25:00", "date-time")
    assert checker.conforms("2024-01-01T00:00:00+00:00", "date-time")


@pytest.mark.parametrize("stream", STREAMS)
def test_rows_validate_against_the_schema(rows, stream: str) -> None:
    assert rows[stream], f"the sandbox gave no {stream} rows: nothing was checked"
    validator = Draft7Validator(load_schema(stream), format_checker=FormatChecker())
    errors = [
        f"{row['id']}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for row in rows[stream]
        for e in validator.iter_errors(row)
    ]
    assert not errors, f"{len(errors)} errors in {len(rows[stream])} {stream} rows, first: {errors[:5]}"


@pytest.mark.parametrize("stream", STREAMS)
def test_every_produced_column_and_nested_key_is_declared(rows, stream: str) -> None:
    schema = load_schema(stream)
    produced = {key for row in rows[stream] for key in row}
    assert produced <= set(schema["properties"]), f"undeclared columns: {sorted(produced - set(schema['properties']))}"
    validator = Draft7Validator(closed(schema))
    undeclared = {
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for row in rows[stream]
        for e in validator.iter_errors(row)
    }
    assert not undeclared, f"keys the schema does not declare: {sorted(undeclared)[:10]}"


@pytest.mark.parametrize("stream", STREAMS)
def test_every_declared_column_is_produced(rows, stream: str) -> None:
    produced = {key for row in rows[stream] for key in row}
    missing = set(load_schema(stream)["properties"]) - produced
    assert missing == NEVER_PRODUCED.get(stream, set())


@pytest.mark.parametrize("stream", STREAMS)
def test_required_nullable_and_key_columns(stream: str) -> None:
    schema = load_schema(stream)
    primary_keys, replication_key = KEYS[stream]
    required = ["id", "account_id", "account_name", *(key for key in primary_keys if key not in ("id", "account_id"))]
    Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["required"] == required
    for name, prop in schema["properties"].items():
        if name in required:
            assert prop == {"type": "string"}, name
        else:
            assert "type" not in prop or "null" in prop["type"], f"{name} is not nullable"
    if replication_key:
        assert schema["properties"][replication_key]["format"] == "date-time"
        assert schema["properties"][replication_key]["type"] == ["string", "null"]


def test_schema_files_are_the_generator_output() -> None:
    generator = runpy.run_path(str(GENERATOR), run_name="make_schemas")
    assert list(generator["STREAMS"]) == STREAMS
    for stream, definition in generator["STREAMS"].items():
        text = generator["render"](generator["stream_schema"](definition))
        assert (SCHEMAS / f"{stream}.json").read_text() == text, (
            f"{stream}.json differs from the generator output: run tap-klaviyo/scripts/make_schemas.py"
        )
        assert definition.replication_key == KEYS[stream][1]
        assert definition.parent_key == next((key for key in KEYS[stream][0] if key != "id"), None)
