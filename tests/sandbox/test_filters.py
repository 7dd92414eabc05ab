"""Unit tests for klaviyo_sandbox.filters: the filter grammar, per-endpoint validation, matching and time bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from klaviyo_sandbox.errors import KlaviyoError
from klaviyo_sandbox.filters import (
    Condition,
    FieldSpec,
    matches,
    parse_filter,
    parse_spec,
    time_bounds,
    validate,
)

# The example spec from the SDK-docstring format, and endpoint specs written the same way.
GENERIC_SPEC_TEXT = (
    "id: any, equals (string); name: contains (string); archived: equals (boolean); "
    "created: greater-than, less-than (date-time); timestamp: greater-or-equal, less-than (number); "
    "status: equals (allowed values: 'queued', 'processing', 'complete'); profile: has; metric: has"
)
PROFILES_SPEC_TEXT = (
    "id: any, equals (string); email: any, equals (string); phone_number: any, equals (string); "
    "external_id: any, equals (string); _kx: equals (string); "
    "created: greater-than, less-than (date-time); updated: greater-than, less-than (date-time)"
)
EVENTS_SPEC_TEXT = (
    "metric_id: equals (string); profile_id: equals (string); profile: has; "
    "datetime: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
    "timestamp: greater-or-equal, greater-than, less-or-equal, less-than (number)"
)
CAMPAIGNS_SPEC_TEXT = (
    "messages.channel: equals (string); name: contains (string); status: any, equals (string); "
    "archived: equals (boolean); created_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
    "scheduled_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
    "updated_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time)"
)
GENERIC = parse_spec(GENERIC_SPEC_TEXT)
PROFILES = parse_spec(PROFILES_SPEC_TEXT)
EVENTS = parse_spec(EVENTS_SPEC_TEXT)
CAMPAIGNS = parse_spec(CAMPAIGNS_SPEC_TEXT)


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def assert_filter_error(err: KlaviyoError, detail: str) -> None:
    assert err.status == 400
    assert err.code == "invalid"
    assert err.detail == detail
    error = err.body()["errors"][0]
    assert error["source"] == {"parameter": "filter"}
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert error["detail"] == detail


def parse_error(text: str) -> KlaviyoError:
    with pytest.raises(KlaviyoError) as info:
        parse_filter(text)
    return info.value


def validate_error(text: str, spec: dict[str, FieldSpec], resource: str) -> KlaviyoError:
    conditions = parse_filter(text)
    with pytest.raises(KlaviyoError) as info:
        validate(conditions, spec, resource=resource)
    return info.value


# ----------------------------------------------------------------------------------------------------------------
# parse_spec


def test_parse_spec_generic_example() -> None:
    assert {
        "id": FieldSpec(frozenset({"any", "equals"}), "string"),
        "name": FieldSpec(frozenset({"contains"}), "string"),
        "archived": FieldSpec(frozenset({"equals"}), "boolean"),
        "created": FieldSpec(frozenset({"greater-than", "less-than"}), "date-time"),
        "timestamp": FieldSpec(frozenset({"greater-or-equal", "less-than"}), "number"),
        "status": FieldSpec(frozenset({"equals"}), "enum", frozenset({"queued", "processing", "complete"})),
        "profile": FieldSpec(frozenset({"has"}), "any"),
        "metric": FieldSpec(frozenset({"has"}), "any"),
    } == GENERIC
    assert list(GENERIC) == ["id", "name", "archived", "created", "timestamp", "status", "profile", "metric"]


def test_parse_spec_events() -> None:
    comparisons = frozenset({"greater-or-equal", "greater-than", "less-or-equal", "less-than"})
    assert EVENTS["datetime"] == FieldSpec(comparisons, "date-time")
    assert EVENTS["timestamp"] == FieldSpec(comparisons, "number")
    assert EVENTS["profile"] == FieldSpec(frozenset({"has"}), "any")
    assert PROFILES["updated"] == FieldSpec(frozenset({"greater-than", "less-than"}), "date-time")
    assert CAMPAIGNS["messages.channel"] == FieldSpec(frozenset({"equals"}), "string")


def test_parse_spec_tolerates_markdown_backticks_and_br_separators() -> None:
    spec = parse_spec("`id`: `any`, `equals` (string)<br>`name`: `contains`\n\n`updated`: `less-than` (datetime);")
    assert spec == {
        "id": FieldSpec(frozenset({"any", "equals"}), "string"),
        "name": FieldSpec(frozenset({"contains"}), "any"),
        "updated": FieldSpec(frozenset({"less-than"}), "date-time"),
    }


def test_parse_spec_enum_with_double_quotes_and_integer_alias() -> None:
    spec = parse_spec('channel: equals (allowed values: "email", "sms"); count: equals (integer)')
    assert spec["channel"] == FieldSpec(frozenset({"equals"}), "enum", frozenset({"email", "sms"}))
    assert spec["count"].kind == "number"


def test_parse_spec_empty_is_no_filters() -> None:
    assert parse_spec("") == {}


@pytest.mark.parametrize(
    "text",
    [
        "id any, equals (string)",  # no colon
        "id: (string)",  # no operators
        "id: like (string)",  # unknown operator
        "id: equals (strin)",  # unknown type
        "id: equals (string",  # unclosed paren
        "id: equals (string); id: any (string)",  # duplicate field
        "status: equals (allowed values: )",  # enum without values
    ],
)
def test_parse_spec_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_spec(text)


# ----------------------------------------------------------------------------------------------------------------
# parse_filter: operators and structure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('equals(name,"x")', Condition("equals", "name", "x")),
        ('any(id,["a","b"])', Condition("any", "id", ["a", "b"])),
        ("has(profile)", Condition("has", "profile", None)),
        ('contains(name,"sale")', Condition("contains", "name", "sale")),
        ('starts-with(name,"Black")', Condition("starts-with", "name", "Black")),
        ('ends-with(name,"Friday")', Condition("ends-with", "name", "Friday")),
        ("greater-than(value,25)", Condition("greater-than", "value", 25)),
        ("less-than(value,25)", Condition("less-than", "value", 25)),
        ("greater-or-equal(value,2.5)", Condition("greater-or-equal", "value", 2.5)),
        ("less-or-equal(value,-3)", Condition("less-or-equal", "value", -3)),
    ],
)
def test_every_operator(text: str, expected: Condition) -> None:
    assert parse_filter(text) == [expected]


def test_implicit_and_of_top_level_expressions() -> None:
    assert parse_filter('equals(a,"1"),equals(b,"2"),has(c)') == [
        Condition("equals", "a", "1"),
        Condition("equals", "b", "2"),
        Condition("has", "c", None),
    ]


def test_and_is_flattened() -> None:
    assert parse_filter("and(equals(messages.channel,'email'),greater-or-equal(created_at,2024-08-01T00:00:00Z))") == [
        Condition("equals", "messages.channel", "email"),
        Condition("greater-or-equal", "created_at", dt(2024, 8, 1)),
    ]


def test_nested_and_and_implicit_and_mixed() -> None:
    text = 'and(equals(a,1),and(equals(b,2),and(equals(c,3),has(d)))),equals(e,"5")'
    assert parse_filter(text) == [
        Condition("equals", "a", 1),
        Condition("equals", "b", 2),
        Condition("equals", "c", 3),
        Condition("has", "d", None),
        Condition("equals", "e", "5"),
    ]


def test_and_with_a_single_expression() -> None:
    assert parse_filter("and(has(profile))") == [Condition("has", "profile", None)]


def test_whitespace_around_tokens() -> None:
    text = ' and ( equals ( name , "a b" ) ,\n\tany( id , [ "x" , "y" ] ) , has( profile ) ) , less-than( value , 3 ) '
    assert parse_filter(text) == [
        Condition("equals", "name", "a b"),
        Condition("any", "id", ["x", "y"]),
        Condition("has", "profile", None),
        Condition("less-than", "value", 3),
    ]


@pytest.mark.parametrize("field", ["messages.channel", "integration.name", "_kx", "$email", "profile_id", "a1.b2"])
def test_field_names(field: str) -> None:
    assert parse_filter(f'equals({field},"v")') == [Condition("equals", field, "v")]


# ----------------------------------------------------------------------------------------------------------------
# parse_filter: values


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"double"', "double"),
        ("'single'", "single"),
        ('""', ""),
        ("''", ""),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"back\\slash"', "back\\slash"),
        (r'"line\nbreak\ttab"', "line\nbreak\ttab"),
        (r'"caf\u00e9"', "café"),
        (r'"\x"', "x"),
        ('"a,b)c(d]"', "a,b)c(d]"),
        ('"  padded  "', "  padded  "),
        ('"sarah.mason@klaviyo-demo.com"', "sarah.mason@klaviyo-demo.com"),
        ('"true"', "true"),
        ('"123"', "123"),
    ],
)
def test_strings(literal: str, expected: str) -> None:
    [condition] = parse_filter(f"equals(name,{literal})")
    assert condition.value == expected
    assert isinstance(condition.value, str)


@pytest.mark.parametrize(
    ("literal", "expected", "kind"),
    [
        ("0", 0, int),
        ("42", 42, int),
        ("-7", -7, int),
        ("+7", 7, int),
        ("1.5", 1.5, float),
        ("-0.25", -0.25, float),
        (".5", 0.5, float),
        ("1e3", 1000.0, float),
        ("2.5E-2", 0.025, float),
        ("1700000000", 1700000000, int),
    ],
)
def test_numbers(literal: str, expected: float, kind: type) -> None:
    [condition] = parse_filter(f"equals(value,{literal})")
    assert condition.value == expected
    assert type(condition.value) is kind


@pytest.mark.parametrize(("literal", "expected"), [("true", True), ("false", False), ("null", None)])
def test_booleans_and_null(literal: str, expected: bool | None) -> None:
    [condition] = parse_filter(f"equals(archived,{literal})")
    assert condition.value is expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2024-01-01T00:00:00Z", dt(2024, 1, 1)),
        ("2024-01-01T00:00:00z", dt(2024, 1, 1)),
        ("2024-01-01T00:00:00+00:00", dt(2024, 1, 1)),
        ("2024-08-01T00:00:00-07:00", dt(2024, 8, 1, 7)),
        ("2024-08-01T12:30:00+05:30", dt(2024, 8, 1, 7)),
        ("2024-08-01T12:30:00+0530", dt(2024, 8, 1, 7)),
        ("2024-01-01T00:00:00.123456Z", dt(2024, 1, 1, 0, 0, 0, 123456)),
        ("2024-01-01T00:00:00.5Z", dt(2024, 1, 1, 0, 0, 0, 500000)),
        ("2024-01-01T00:00:00.123456789Z", dt(2024, 1, 1, 0, 0, 0, 123456)),
        ("2024-01-01T10:20Z", dt(2024, 1, 1, 10, 20)),
        ("2024-01-01T10:20:30", dt(2024, 1, 1, 10, 20, 30)),
        ("2024-01-01", dt(2024, 1, 1)),
        ("2024-02-29", dt(2024, 2, 29)),
    ],
)
def test_datetimes(literal: str, expected: datetime) -> None:
    [condition] = parse_filter(f"greater-than(updated,{literal})")
    assert condition.value == expected
    assert isinstance(condition.value, datetime)
    assert condition.value.utcoffset() == timedelta(0)
    assert condition.value.tzinfo is UTC


def test_quoted_datetime_is_a_string() -> None:
    assert parse_filter("greater-than(updated,'2024-01-01T00:00:00Z')") == [
        Condition("greater-than", "updated", "2024-01-01T00:00:00Z")
    ]
    assert parse_filter('greater-than(updated,"2024-01-01")') == [Condition("greater-than", "updated", "2024-01-01")]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('["a","b"]', ["a", "b"]),
        ("['a', \"b\"]", ["a", "b"]),
        ('[ "only" ]', ["only"]),
        ("[1, 2.5, -3]", [1, 2.5, -3]),
        ("[true,false,null]", [True, False, None]),
        ("[2024-01-01,2024-01-02T00:00:00Z]", [dt(2024, 1, 1), dt(2024, 1, 2)]),
        ('["a,b","c]"]', ["a,b", "c]"]),
        ("[]", []),
    ],
)
def test_lists(literal: str, expected: list[Any]) -> None:
    [condition] = parse_filter(f"any(id,{literal})")
    assert condition.value == expected


# ----------------------------------------------------------------------------------------------------------------
# parse_filter: errors


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the filter is empty"),
        ("   ", "the filter is empty"),
        ('equals(name,"x"))', "unexpected ')' at position 16"),
        ('and(equals(name,"x"),has(p)))', "unexpected ')' at position 28"),
        ('and(equals(name,"x")', "expected ')' but found end of filter at position 20"),
        ("equals(name,1", "expected ')' but found end of filter at position 13"),
        ("equals(name", "expected ',' but found end of filter at position 11"),
        (")", "unexpected ')' at position 0"),
        ("(equals(a,1))", "unexpected '(' at position 0"),
        ("equals name", "expected '(' but found 'n' at position 7"),
        ("like(name,1)", "unknown operator 'like' at position 0"),
        ("Equals(name,1)", "unknown operator 'Equals' at position 0"),
        ("and(equals(a,1),eq(b,2))", "unknown operator 'eq' at position 16"),
        ("or(equals(a,1),equals(b,2))", "the 'or' operator is not supported at position 0"),
        ("not(equals(a,1))", "the 'not' operator is not supported at position 0"),
        ("and(has(a),or(has(b),has(c)))", "the 'or' operator is not supported at position 11"),
        ("equals(name,)", "missing value at position 12"),
        ("equals(name)", "missing value for 'equals' at position 11"),
        ("equals(name, )", "missing value at position 13"),
        ("equals(,1)", "unexpected ',' at position 7"),
        ("equals()", "unexpected ')' at position 7"),
        ("equals(1,1)", "expected a field name but found '1' at position 7"),
        ("has()", "unexpected ')' at position 4"),
        ("has(profile,1)", "'has' takes a single field and no value at position 11"),
        ("and()", "unexpected ')' at position 4"),
        ("and(has(a),)", "unexpected ')' at position 11"),
        ("equals(a,1) junk", "unexpected 'j' at position 12"),
        ("equals(a,1)equals(b,2)", "unexpected 'e' at position 11"),
        ("equals(a,1),", "unexpected end of filter at position 12"),
        (",equals(a,1)", "unexpected ',' at position 0"),
        ("equals(a,1,2)", "expected ')' but found ',' at position 10"),
        ('equals(a,"x" "y")', "expected ')' but found '\"' at position 13"),
        ('equals(a,"open)', "unterminated string starting at position 9"),
        ("equals(a,'open\\')", "unterminated string starting at position 9"),
        ('equals(a,"bad\\u12")', "invalid \\u escape in string at position 13"),
        ("equals(email,me@test.com)", "invalid value 'me@test.com' (strings must be quoted) at position 13"),
        ("equals(a,True)", "invalid value 'True' (strings must be quoted) at position 9"),
        ("equals(a,1.2.3)", "invalid value '1.2.3' (strings must be quoted) at position 9"),
        ("equals(a,2024-13-01)", "invalid datetime '2024-13-01' at position 9"),
        ("equals(a,2024-02-30T00:00:00Z)", "invalid datetime '2024-02-30T00:00:00Z' at position 9"),
        ("equals(a,2024-01-01T25:00:00Z)", "invalid datetime '2024-01-01T25:00:00Z' at position 9"),
        ("equals(a,2024-01-01T00:00:00+24:00)", "invalid datetime '2024-01-01T00:00:00+24:00' at position 9"),
        ("equals(a,2024-1-1)", "invalid value '2024-1-1' (strings must be quoted) at position 9"),
        ('any(id,["a","b")', "expected ',' or ']' but found ')' at position 15"),
        ('any(id,["a"', "unterminated list, expected ']' at position 11"),
        ('any(id,["a",])', "missing value at position 12"),
        ('any(id,[,"a"])', "missing value at position 8"),
        ('any(id,[["a"]])', "nested lists are not supported at position 8"),
        ('any(id,["a"] "b")', "expected ')' but found '\"' at position 13"),
    ],
)
def test_syntax_errors(text: str, problem: str) -> None:
    # Every syntax error detail carries Klaviyo's generic prefix, then what is wrong and where.
    assert_filter_error(parse_error(text), f"Invalid filter provided: {problem}")


def test_deeply_nested_and_is_rejected_not_a_crash() -> None:
    text = "and(" * 200 + "has(a)" + ")" * 200
    err = parse_error(text)
    assert_filter_error(err, "Invalid filter provided: and() nested more than 32 levels deep at position 132")


def test_nesting_up_to_the_limit_is_fine() -> None:
    text = "and(" * 32 + "has(a)" + ")" * 32
    assert parse_filter(text) == [Condition("has", "a", None)]


# ----------------------------------------------------------------------------------------------------------------
# validate


def test_validate_accepts_and_returns_conditions() -> None:
    conditions = parse_filter(
        'any(id,["a","b"]),contains(name,"x"),equals(archived,false),greater-than(created,2024-01-01),'
        "equals(status,'queued'),has(profile),has(metric)"
    )
    assert validate(conditions, GENERIC, resource="thing") == conditions


def test_validate_normalises_numbers_to_float() -> None:
    conditions = parse_filter("greater-or-equal(timestamp,1700000000),less-than(timestamp,1.7e9)")
    result = validate(conditions, GENERIC, resource="event")
    assert result == [
        Condition("greater-or-equal", "timestamp", 1700000000.0),
        Condition("less-than", "timestamp", 1700000000.0),
    ]
    assert all(type(c.value) is float for c in result)


def test_validate_normalises_numbers_in_any_lists() -> None:
    spec = parse_spec("value: any (number)")
    [condition] = validate(parse_filter("any(value,[1,2.5])"), spec, resource="x")
    assert condition.value == [1.0, 2.5]
    assert [type(v) for v in condition.value] == [float, float]


def test_validate_unknown_field() -> None:
    err = validate_error('equals(last_name,"Smith")', PROFILES, "profile")
    assert_filter_error(err, "'last_name' is not a valid field for the resource 'profile'.")


def test_validate_unknown_field_is_reported_inside_and() -> None:
    err = validate_error('and(equals(email,"a@b.c"),equals(nope,"x"))', PROFILES, "profile")
    assert_filter_error(err, "'nope' is not a valid field for the resource 'profile'.")


def test_profiles_updated_allows_only_strict_comparisons() -> None:
    ok = parse_filter("greater-than(updated,2024-01-01T00:00:00Z),less-than(updated,2024-02-01T00:00:00Z)")
    assert validate(ok, PROFILES, resource="profile") == ok
    for op in ("greater-or-equal", "less-or-equal", "equals"):
        err = validate_error(f"{op}(updated,2024-01-01T00:00:00Z)", PROFILES, "profile")
        assert_filter_error(err, f"'{op}' operation specified is not supported for 'updated' field.")


@pytest.mark.parametrize("op", ["greater-or-equal", "greater-than", "less-or-equal", "less-than"])
def test_events_datetime_allows_all_four_comparisons(op: str) -> None:
    conditions = parse_filter(f"{op}(datetime,2024-01-01T00:00:00+00:00)")
    assert validate(conditions, EVENTS, resource="event") == [Condition(op, "datetime", dt(2024, 1, 1))]


def test_events_datetime_rejects_equals() -> None:
    err = validate_error("equals(datetime,2024-01-01T00:00:00Z)", EVENTS, "event")
    assert_filter_error(err, "'equals' operation specified is not supported for 'datetime' field.")


def test_events_has_profile_and_metric_id() -> None:
    conditions = parse_filter('equals(metric_id,"ABC123"),has(profile)')
    assert validate(conditions, EVENTS, resource="event") == conditions


def test_operator_not_allowed_for_string_field() -> None:
    err = validate_error('starts-with(name,"x")', GENERIC, "thing")
    assert_filter_error(err, "'starts-with' operation specified is not supported for 'name' field.")
    err = validate_error("has(name)", GENERIC, "thing")
    assert_filter_error(err, "'has' operation specified is not supported for 'name' field.")


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "less-than(updated,'2024-01-01')",
            "Invalid date-time value for field 'updated': '2024-01-01'. Datetimes must be unquoted ISO 8601.",
        ),
        (
            'greater-than(updated,"2024-01-01T00:00:00Z")',
            "Invalid date-time value for field 'updated': '2024-01-01T00:00:00Z'. Datetimes must be unquoted ISO 8601.",
        ),
        (
            "greater-than(updated,1704067200)",
            "Invalid date-time value for field 'updated': 1704067200. Datetimes must be unquoted ISO 8601.",
        ),
        (
            "greater-than(updated,null)",
            "Invalid date-time value for field 'updated': null. Datetimes must be unquoted ISO 8601.",
        ),
        ("equals(email,42)", "Invalid string value for field 'email': 42. Strings must be quoted."),
        ("equals(email,true)", "Invalid string value for field 'email': true. Strings must be quoted."),
        (
            "equals(email,2024-01-01)",
            "Invalid string value for field 'email': 2024-01-01T00:00:00Z. Strings must be quoted.",
        ),
        (
            'equals(email,["a@b.c"])',
            "Invalid value for field 'email': ['a@b.c']. A list is only allowed with the 'any' operation.",
        ),
        (
            'any(email,"a@b.c")',
            (
                "Invalid value for field 'email': 'a@b.c'. "
                'The \'any\' operation requires a list, e.g. any(email,["a","b"]).'
            ),
        ),
        ("any(email,[])", "Invalid value for field 'email': []. The 'any' operation requires a non-empty list."),
        ('any(email,["a@b.c",7])', "Invalid string value for field 'email': 7. Strings must be quoted."),
    ],
)
def test_profile_value_type_errors(text: str, detail: str) -> None:
    assert_filter_error(validate_error(text, PROFILES, "profile"), detail)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('equals(archived,"true")', "Invalid boolean value for field 'archived': 'true'. Expected true or false."),
        ("equals(archived,1)", "Invalid boolean value for field 'archived': 1. Expected true or false."),
        ("equals(archived,null)", "Invalid boolean value for field 'archived': null. Expected true or false."),
        ('less-than(timestamp,"5")', "Invalid number value for field 'timestamp': '5'. Expected a number."),
        ("less-than(timestamp,true)", "Invalid number value for field 'timestamp': true. Expected a number."),
        (
            "less-than(timestamp,2024-01-01)",
            "Invalid number value for field 'timestamp': 2024-01-01T00:00:00Z. Expected a number.",
        ),
        (
            "equals(status,'done')",
            "Invalid value for field 'status': 'done'. Allowed values: 'complete', 'processing', 'queued'.",
        ),
        (
            "equals(status,'Queued')",
            "Invalid value for field 'status': 'Queued'. Allowed values: 'complete', 'processing', 'queued'.",
        ),
        (
            "equals(status,1)",
            "Invalid value for field 'status': 1. Allowed values: 'complete', 'processing', 'queued'.",
        ),
    ],
)
def test_generic_value_type_errors(text: str, detail: str) -> None:
    assert_filter_error(validate_error(text, GENERIC, "thing"), detail)


def test_enum_any_checks_every_element() -> None:
    spec = parse_spec("status: any, equals (allowed values: 'queued', 'complete')")
    ok = parse_filter("any(status,['queued','complete'])")
    assert validate(ok, spec, resource="job") == ok
    err = validate_error("any(status,['queued','nope'])", spec, "job")
    assert_filter_error(err, "Invalid value for field 'status': 'nope'. Allowed values: 'complete', 'queued'.")


def test_any_kind_field_accepts_any_value() -> None:
    spec = {"data": FieldSpec(frozenset({"equals", "any"}), "any")}
    conditions = parse_filter("equals(data,1),equals(data,'x'),equals(data,2024-01-01),any(data,[1,'a'])")
    assert validate(conditions, spec, resource="x") == conditions


def test_campaigns_filter_from_the_community_thread() -> None:
    good = parse_filter("and(equals(messages.channel,'email'),greater-or-equal(created_at,2024-08-01T00:00:00-07:00))")
    assert validate(good, CAMPAIGNS, resource="campaign") == [
        Condition("equals", "messages.channel", "email"),
        Condition("greater-or-equal", "created_at", dt(2024, 8, 1, 7)),
    ]
    err = validate_error(
        "and(equals(messages.channel,'email'),greater-or-equal(created_at,'2024-08-01T00:00:00-07:00'))",
        CAMPAIGNS,
        "campaign",
    )
    assert_filter_error(
        err,
        "Invalid date-time value for field 'created_at': '2024-08-01T00:00:00-07:00'. "
        "Datetimes must be unquoted ISO 8601.",
    )


# ----------------------------------------------------------------------------------------------------------------
# matches


def cond(text: str) -> Condition:
    [condition] = parse_filter(text)
    return condition


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('equals(name,"Sale")', "Sale", True),
        ('equals(name,"Sale")', "sale", False),
        ('equals(name,"Sale")', "Sale ", False),
        ("equals(archived,true)", True, True),
        ("equals(archived,true)", False, False),
        ("equals(archived,true)", 1, False),
        ("equals(count,1)", True, False),
        ("equals(count,1)", 1, True),
        ("equals(count,1)", 1.0, True),
        ("equals(count,1.5)", 1.5, True),
        ("equals(count,1)", "1", False),
        ("equals(updated,2024-01-01T00:00:00Z)", dt(2024, 1, 1), True),
        ("equals(updated,2024-01-01)", "2024-01-01T00:00:00+00:00", True),
        ("equals(updated,2024-01-01T00:00:00Z)", "2024-01-01T01:00:00+01:00", True),
        ("equals(updated,2024-01-01T00:00:00Z)", "2024-01-01T00:00:01Z", False),
        ('any(id,["a","b"])', "a", True),
        ('any(id,["a","b"])', "c", False),
        ('any(id,["a","b"])', "A", False),
        ("any(n,[1,2])", 2, True),
        ("any(n,[1,2])", 3, False),
        ('contains(name,"lack Fri")', "Black Friday", True),
        ('contains(name,"black")', "Black Friday", False),
        ('contains(name,"")', "anything", True),
        ('starts-with(name,"Black")', "Black Friday", True),
        ('starts-with(name,"Friday")', "Black Friday", False),
        ('ends-with(name,"Friday")', "Black Friday", True),
        ('ends-with(name,"Black")', "Black Friday", False),
        ('contains(name,"1")', 123, False),
        ("greater-than(v,10)", 11, True),
        ("greater-than(v,10)", 10, False),
        ("greater-or-equal(v,10)", 10, True),
        ("greater-or-equal(v,10)", 9.99, False),
        ("less-than(v,10)", 9, True),
        ("less-than(v,10)", 10, False),
        ("less-or-equal(v,10)", 10.0, True),
        ("less-or-equal(v,10)", 10.01, False),
        ("less-than(v,10)", "9", False),
        ("greater-than(updated,2024-01-01T00:00:00Z)", dt(2024, 1, 1, 0, 0, 0, 1), True),
        ("greater-than(updated,2024-01-01T00:00:00Z)", dt(2024, 1, 1), False),
        ("greater-than(updated,2024-01-01T00:00:00Z)", "2024-01-01T00:00:01Z", True),
        ("greater-than(updated,2024-01-01T00:00:00Z)", "2023-12-31T23:59:59+00:00", False),
        ("greater-or-equal(updated,2024-01-01T00:00:00Z)", "2024-01-01T00:00:00Z", True),
        ("less-than(updated,2024-01-01T00:00:00Z)", "2024-01-01T00:30:00+01:00", True),
        ("less-or-equal(updated,2024-01-01)", "2024-01-01", True),
        ("less-than(updated,2024-01-01)", datetime(2023, 12, 31, 23), True),  # naive record value: UTC
        ("less-than(updated,2024-01-01)", datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=5))), True),
        ("less-than(updated,2024-01-01)", "not a date", False),
        ("less-than(updated,2024-01-01)", 5, False),
        ('greater-than(name,"b")', "c", True),
        ('greater-than(name,"b")', "a", False),
    ],
)
def test_matches_scalars(text: str, value: Any, expected: bool) -> None:
    assert matches(cond(text), value) is expected


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("equals(messages.channel,'email')", ["sms", "email"], True),
        ("equals(messages.channel,'email')", ["sms", "push"], False),
        ("equals(messages.channel,'email')", [], False),
        ("any(messages.channel,['email','push'])", ["sms", "push"], True),
        ("any(messages.channel,['email','push'])", ["sms"], False),
        ("contains(tags,'vip')", ["vip", "new"], True),
        ("contains(tags,'vi')", ["vip", "new"], False),
        ("starts-with(tags,'ne')", ["vip", "new"], True),
        ("ends-with(tags,'x')", ["vip", "new"], False),
        ("greater-than(scores,5)", [1, 7], True),
        ("greater-than(scores,5)", [1, 2], False),
        ("less-than(sent,2024-01-01)", ["2024-05-01T00:00:00Z", "2023-05-01T00:00:00Z"], True),
        ("less-than(sent,2024-01-01)", [None, "2024-05-01T00:00:00Z"], False),
        ("equals(tags,['a','b'])", ["a", "b"], True),
        ("equals(tags,['a','b'])", ["b", "a"], False),
        ("equals(tags,['a','b'])", ["a"], False),
        ("equals(messages.channel,'email')", ("sms", "email"), True),
    ],
)
def test_matches_list_values(text: str, value: Any, expected: bool) -> None:
    assert matches(cond(text), value) is expected


@pytest.mark.parametrize(
    "text",
    [
        'equals(name,"x")',
        "equals(name,null)",
        'any(name,["x"])',
        'contains(name,"")',
        'starts-with(name,"")',
        'ends-with(name,"")',
        "greater-than(v,0)",
        "less-than(v,0)",
        "greater-or-equal(v,0)",
        "less-or-equal(v,0)",
    ],
)
def test_missing_value_matches_nothing_but_has(text: str) -> None:
    assert matches(cond(text), None) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ([], False),
        ((), False),
        ("x", True),
        ("", True),
        (0, True),
        (False, True),
        (["a"], True),
        ({"id": "P1"}, True),
        (dt(2024, 1, 1), True),
    ],
)
def test_matches_has(value: Any, expected: bool) -> None:
    assert matches(Condition("has", "profile", None), value) is expected


def test_matches_uses_validated_float_numbers() -> None:
    [condition] = validate(parse_filter("greater-or-equal(timestamp,1700000000)"), GENERIC, resource="event")
    assert matches(condition, 1700000000) is True
    assert matches(condition, 1699999999) is False


# ----------------------------------------------------------------------------------------------------------------
# time_bounds


def bounds(text: str, field: str = "datetime") -> tuple[datetime | None, bool, datetime | None, bool]:
    return time_bounds(parse_filter(text), field)


def test_time_bounds_unbounded() -> None:
    assert bounds('equals(metric_id,"M")') == (None, False, None, False)
    assert time_bounds([], "datetime") == (None, False, None, False)


def test_time_bounds_single_sided() -> None:
    assert bounds("greater-than(datetime,2024-01-01)") == (dt(2024, 1, 1), False, None, False)
    assert bounds("greater-or-equal(datetime,2024-01-01)") == (dt(2024, 1, 1), True, None, False)
    assert bounds("less-than(datetime,2024-01-01)") == (None, False, dt(2024, 1, 1), False)
    assert bounds("less-or-equal(datetime,2024-01-01)") == (None, False, dt(2024, 1, 1), True)


def test_time_bounds_window() -> None:
    text = "greater-or-equal(datetime,2024-01-01T00:00:00Z),less-than(datetime,2024-02-01T00:00:00+01:00)"
    assert bounds(text) == (dt(2024, 1, 1), True, dt(2024, 1, 31, 23), False)


def test_time_bounds_picks_the_tightest() -> None:
    text = (
        "and(greater-than(datetime,2024-01-01),greater-or-equal(datetime,2024-03-01),"
        "less-than(datetime,2024-12-01),less-or-equal(datetime,2024-06-01),less-than(datetime,2024-09-01))"
    )
    assert bounds(text) == (dt(2024, 3, 1), True, dt(2024, 6, 1), True)


def test_time_bounds_exclusive_wins_a_tie() -> None:
    text = (
        "greater-or-equal(datetime,2024-01-01),greater-than(datetime,2024-01-01),"
        "less-than(datetime,2024-02-01),less-or-equal(datetime,2024-02-01)"
    )
    assert bounds(text) == (dt(2024, 1, 1), False, dt(2024, 2, 1), False)
    reversed_order = (
        "greater-than(datetime,2024-01-01),greater-or-equal(datetime,2024-01-01),"
        "less-or-equal(datetime,2024-02-01),less-than(datetime,2024-02-01)"
    )
    assert bounds(reversed_order) == (dt(2024, 1, 1), False, dt(2024, 2, 1), False)


def test_time_bounds_equals_pins_both_ends() -> None:
    assert bounds("equals(updated,2024-05-05T05:05:05Z)", "updated") == (
        dt(2024, 5, 5, 5, 5, 5),
        True,
        dt(2024, 5, 5, 5, 5, 5),
        True,
    )


def test_time_bounds_only_looks_at_the_named_field() -> None:
    text = "greater-than(created,2020-01-01),less-than(datetime,2024-01-01),greater-than(updated,2022-01-01)"
    assert bounds(text) == (None, False, dt(2024, 1, 1), False)
    assert bounds(text, "created") == (dt(2020, 1, 1), False, None, False)


def test_time_bounds_reads_numbers_as_unix_seconds() -> None:
    conditions = validate(
        parse_filter("greater-or-equal(timestamp,1704067200),less-than(timestamp,1704153600)"),
        EVENTS,
        resource="event",
    )
    assert time_bounds(conditions, "timestamp") == (dt(2024, 1, 1), True, dt(2024, 1, 2), False)


def test_time_bounds_ignores_strings_and_other_ops() -> None:
    text = "greater-than(datetime,'2024-01-01'),any(datetime,[2024-01-01]),has(datetime)"
    assert bounds(text) == (None, False, None, False)


def test_time_bounds_empty_window_is_reported_as_is() -> None:
    text = "greater-than(datetime,2024-06-01),less-than(datetime,2024-01-01)"
    assert bounds(text) == (dt(2024, 6, 1), False, dt(2024, 1, 1), False)
