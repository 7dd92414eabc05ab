"""singer-sdk's standard target tests, each with a validate() that reads back from Klaviyo what its input produced.

Every test runs under MAPPING: each row becomes a profile keyed on external_id = the row's `id`, every other
column a custom property, kept as given (numbers, booleans, lists, objects); a row without an `id` is not sent
but written to the rejected-rows file with code `missing_identifier`.

The SDK's inputs all use the ids 1, 2, 3 ..., so each test writes to a sandbox account of its own
(conftest's `own_account`): the profiles updated there since the test began are exactly those its input
produced, read through the official SDK.

Kept as the SDK has them, without a validate() (there is nothing a run could have written): cli_prints sends
nothing; camelcase_complex_schema holds schema messages only; invalid_schema, record_before_schema and
record_missing_key_property stop at their first line, before any row, and their test() asserts that error.
Left out: multiple_state_messages, which the SDK leaves out of its own suite too (it emits state when sinks
drain, so the input's intermediate states are not relayed one by one); test_target_sync.py checks this
target's state.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from klaviyo_api import KlaviyoAPI
from openapi_client.models import ProfileResponseObjectResourceAttributes
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCamelcaseTest,
    TargetCliPrintsTest,
    TargetDuplicateRecords,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetOptionalAttributes,
    TargetPrimaryKeyUpdates,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
    TargetRecordMissingOptionalFields,
    TargetRecordMissingRequiredProperty,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)

MAPPING = {"*": {"profile": {"external_id": "id", "properties": "*"}}}
NO_ID = ("missing_identifier", "no profile identifier: id empty")  # the code and reason of a row without `id`


@dataclass
class Landing:
    """Where one test's run lands: its own account (read through the official SDK) and its rejected-rows file."""

    client: KlaviyoAPI
    since: datetime
    rejects_path: Path

    def profiles(self) -> list[ProfileResponseObjectResourceAttributes]:
        """Every profile of the account created or updated since the test began (Klaviyo's `updated` filter)."""
        found = []
        cursor = None
        while True:
            page = self.client.Profiles.get_profiles(
                filter=f"greater-than(updated,{self.since:%Y-%m-%dT%H:%M:%SZ})", page_size=100, page_cursor=cursor
            )
            found += [profile.attributes for profile in page.data]
            if not page.links.next:
                return found
            cursor = parse_qs(urlsplit(page.links.next).query)["page[cursor]"][0]

    def properties_by_id(self) -> dict[str, dict[str, Any]]:
        """external_id -> custom properties of the profiles landed, each identified by its external_id alone."""
        landed = self.profiles()
        assert [p.external_id for p in landed if p.email or p.phone_number] == [], "identified by more than the id"
        by_id = {p.external_id: p.properties for p in landed}
        assert len(by_id) == len(landed), f"two profiles with one external_id: {sorted(p.external_id for p in landed)}"
        return by_id

    def rejects(self) -> list[dict[str, Any]]:
        lines = self.rejects_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


def check_landed(
    landing: Landing, profiles: dict[str, dict[str, Any]], without_id: list[tuple[str, int]] | None = None
) -> None:
    """The account holds exactly `profiles` (external_id -> custom properties), and the rejected-rows file
    exactly the rows `without_id` ((stream, 1-based row)), each rejected for its missing id."""
    assert landing.properties_by_id() == profiles
    rejected = [(r["stream"], r["row"], r["kind"], r["key"], r["code"], r["reason"]) for r in landing.rejects()]
    assert sorted(rejected) == sorted((stream, row, "profile", None, *NO_ID) for stream, row in without_id or [])


def records_by_stream(singer_file: Traversable) -> dict[str, list[dict[str, Any]]]:
    """The RECORD messages of a test's input file, per stream."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in singer_file.read_text(encoding="utf-8").splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            out[message["stream"]].append(message["record"])
    return out


class KlaviyoArrayData(TargetArrayData):
    def validate(self) -> None:
        check_landed(
            self.resource,
            {
                "1": {"fruits": ["apple", "orange", "pear"]},
                "2": {"fruits": ["banana", "apple"]},
                "3": {"fruits": ["pear"]},
                "4": {"fruits": ["orange", "banana", "apple", "pear"]},
            },
        )


class KlaviyoCamelcase(TargetCamelcaseTest):
    """The id column is `Id`: mapping columns are matched exactly, so both rows are rejected, none sent."""

    def validate(self) -> None:
        check_landed(self.resource, {}, [("TestCamelcase", 1), ("TestCamelcase", 2)])


class KlaviyoDuplicateRecords(TargetDuplicateRecords):
    """Three rows for id 1 and two for id 2, in one import: the last row of each wins."""

    def validate(self) -> None:
        check_landed(self.resource, {"1": {"metric": 100}, "2": {"metric": 20}})


class KlaviyoEncodedStringData(TargetEncodedStringData):
    """Every text arrives unchanged (other scripts, quotes, escapes, control characters, NUL included), in a
    string, an object and a list. The three streams share the ids 1-11 and each is one import job: Klaviyo does
    not promise which of two jobs lands last, so `info` is either stream's value for that id, exactly."""

    def validate(self) -> None:
        rows = records_by_stream(self.singer_filepath)
        strings = {str(r["id"]): r["info"] for r in rows["test_strings"]}
        objects = {str(r["id"]): r["info"] for r in rows["test_strings_in_objects"]}
        lists = {str(r["id"]): r["strings"] for r in rows["test_strings_in_arrays"]}
        landed = self.resource.properties_by_id()
        assert sorted(landed) == sorted(strings.keys() | objects.keys() | lists.keys())
        for id_, properties in landed.items():
            assert properties["info"] in (strings[id_], objects[id_]), id_
            assert properties.get("strings") == lists.get(id_), id_
            assert set(properties) == ({"info", "strings"} if id_ in lists else {"info"}), id_
        assert self.resource.rejects() == []


class KlaviyoNoPrimaryKeys(TargetNoPrimaryKeys):
    def validate(self) -> None:
        check_landed(self.resource, {"1": {"metric": 11}, "2": {"metric": 22}, "3": {"metric": 33}})


class KlaviyoOptionalAttributes(TargetOptionalAttributes):
    """A column absent from a row is absent from its profile (not an empty or null property)."""

    def validate(self) -> None:
        check_landed(
            self.resource,
            {"1": {"optional": "This is optional"}, "2": {}, "3": {"optional": "Also optional"}, "4": {}},
        )


class KlaviyoPrimaryKeyUpdates(TargetPrimaryKeyUpdates):
    """The stream's key changes from id to email: the mapping, not the key, picks the identifier, so both rows
    are profiles by id, and `email` is a custom property (the mapping does not make it the profile's email)."""

    def validate(self) -> None:
        check_landed(
            self.resource,
            {
                "1": {"name": "Alice", "email": "alice@example.com"},
                "2": {"name": "Bob", "email": "bob@example.com"},
            },
        )


class KlaviyoRecordMissingOptionalFields(TargetRecordMissingOptionalFields):
    def validate(self) -> None:
        check_landed(self.resource, {"1": {"optional": "now you see me"}, "2": {}})


class KlaviyoRecordMissingRequiredProperty(TargetRecordMissingRequiredProperty):
    """The row lacks `id`, which its schema requires: rejected with the reason, the run goes on."""

    def validate(self) -> None:
        check_landed(self.resource, {}, [("test_record_missing_required_property", 1)])


class KlaviyoSchemaNoProperties(TargetSchemaNoProperties):
    """The ids sit inside an object column, so no row has an `id`: all four rejected, none sent."""

    def validate(self) -> None:
        check_landed(
            self.resource,
            {},
            [
                ("test_object_schema_with_properties", 1),
                ("test_object_schema_with_properties", 2),
                ("test_object_schema_no_properties", 1),
                ("test_object_schema_no_properties", 2),
            ],
        )


class KlaviyoSchemaUpdates(TargetSchemaUpdates):
    """Each row is sent with the columns of the schema it came under, typed as given."""

    def validate(self) -> None:
        check_landed(
            self.resource,
            {
                "1": {"a1": 101, "a2": "string1"},
                "2": {"a1": 102, "a2": "string2", "a3": True},
                "3": {"a1": 103, "a2": "string3", "a3": False, "a4": {"id": 1, "value": 1}, "a5": ["banana", "apple"]},
                "4": {"a1": 104, "a2": "string4", "a3": True, "a4": {"id": 2, "value": 22}, "a5": ["orange", "pear"]},
                "5": {
                    "a1": 105,
                    "a2": "string5",
                    "a3": False,
                    "a4": {"id": 3, "value": 33},
                    "a5": ["apple"],
                    "a6": 985,
                },
                "6": {
                    "a1": 106,
                    "a2": "string6",
                    "a3": True,
                    "a4": {"id": 4, "value": 444},
                    "a5": ["banana", "orange"],
                    "a6": 341,
                },
            },
        )


class KlaviyoSpecialCharsInAttributes(TargetSpecialCharsInAttributes):
    """The id column is `_id`: the row is rejected, under its stream's name as given."""

    def validate(self) -> None:
        check_landed(self.resource, {}, [("test:SpecialChars!in?attributes", 1)])


standard_tests = SingerTestSuite(
    kind="target",
    tests=[
        KlaviyoArrayData,
        TargetCamelcaseComplexSchema,
        KlaviyoCamelcase,
        TargetCliPrintsTest,
        KlaviyoDuplicateRecords,
        KlaviyoEncodedStringData,
        TargetInvalidSchemaTest,
        KlaviyoNoPrimaryKeys,
        KlaviyoOptionalAttributes,
        KlaviyoPrimaryKeyUpdates,
        TargetRecordBeforeSchemaTest,
        TargetRecordMissingKeyProperty,
        KlaviyoRecordMissingOptionalFields,
        KlaviyoRecordMissingRequiredProperty,
        KlaviyoSchemaNoProperties,
        KlaviyoSchemaUpdates,
        KlaviyoSpecialCharsInAttributes,
    ],
)
