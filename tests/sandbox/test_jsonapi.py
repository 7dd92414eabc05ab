"""The pre-serialized fast path renders exactly what the general renderer does, for every resource type."""

from __future__ import annotations

import orjson
import pytest

from klaviyo_sandbox.account import Account, AccountState
from klaviyo_sandbox.jsonapi import resource, resource_json
from klaviyo_sandbox.settings import DataSettings

TYPES = [
    "account",
    "event",
    "profile",
    "metric",
    "campaign",
    "campaign-message",
    "flow",
    "flow-action",
    "flow-message",
    "list",
    "segment",
    "tag",
    "tag-group",
    "template",
]


@pytest.fixture(scope="module")
def account() -> AccountState:
    return Account.generate(DataSettings(events=500, profiles=200, accounts=1), 0).state


def some_records(account: AccountState, type_: str) -> list[dict]:
    table = account.table(type_)
    assert table is not None
    return [
        record for _, record in zip(range(25), (r for _, r in table.scan("id", False, None, None, None)), strict=False)
    ]


@pytest.mark.parametrize("type_", TYPES)
def test_fast_path_equals_general_renderer(account, type_):
    records = some_records(account, type_)
    assert records
    for record in records:
        fast = orjson.loads(orjson.dumps(resource_json(record, "http://127.0.0.1:8765")))
        assert fast == resource(record, "http://127.0.0.1:8765")


@pytest.mark.parametrize("base", ['http://evil"host', "http://h\\x"])
def test_text_needing_escapes_falls_back_to_the_general_renderer(account, base):
    record = some_records(account, "event")[0]
    assert orjson.loads(orjson.dumps(resource_json(record, base))) == resource(record, base)
