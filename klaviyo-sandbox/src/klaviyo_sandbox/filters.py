"""Klaviyo's `filter` query parameter: grammar, per-endpoint validation, and evaluation against records.

The grammar (https://developers.klaviyo.com/en/docs/filtering_):

    filter     := expression ("," expression)*          top-level commas are an implicit AND
    expression := "and(" expression ("," expression)* ")"
                | "has(" field ")"
                | op "(" field "," value ")"
    value      := string | true | false | null | number | datetime | date | "[" value ("," value)* "]"

Strings are quoted ('...' or "..."); datetimes are NOT quoted (a quoted datetime is a string, which Klaviyo
rejects for date-time fields). `or(...)` and `not(...)` exist in Klaviyo's grammar but none of the endpoints
the sandbox serves accept them, so they are rejected here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from . import errors

__all__ = [
    "COMPARISON_OPS",
    "LIST_OPS",
    "OPS",
    "STRING_OPS",
    "Condition",
    "FieldSpec",
    "FilterSpec",
    "matches",
    "parse_filter",
    "parse_spec",
    "time_bounds",
    "validate",
]

COMPARISON_OPS = frozenset({"greater-than", "less-than", "greater-or-equal", "less-or-equal"})
STRING_OPS = frozenset({"contains", "starts-with", "ends-with"})
# The Reporting API's filters (SDK docstrings of the report request models): list membership tests.
LIST_OPS = frozenset({"contains-any", "contains-all"})
OPS = frozenset({"equals", "any", "has"}) | STRING_OPS | COMPARISON_OPS | LIST_OPS
_UNSUPPORTED_OPS = frozenset({"or", "not"})

# Spellings other modules (or other SDK docstrings) may use for the same kinds.
_KIND_ALIASES = {
    "string": "string",
    "str": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "date-time": "date-time",
    "datetime": "date-time",
    "number": "number",
    "integer": "number",
    "int": "number",
    "float": "number",
    "any": "any",
    "array": "any",
    "list": "any",
    "object": "any",
}

_MAX_DEPTH = 32  # nested and(); deeper input is hostile, and Python recursion would turn it into a 500
_WHITESPACE = " \t\r\n"
_BARE_STOP = set(",()[]\"'") | set(_WHITESPACE)  # characters that end an unquoted value
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_.$\-]*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


@dataclass(frozen=True)
class Condition:
    """One `op(field,value)` term; a filter is the AND of a list of these."""

    op: str
    field: str
    value: Any  # str | bool | int | float | datetime (UTC) | list[...] | None (for has)


@dataclass(frozen=True)
class FieldSpec:
    """What an endpoint allows for one filterable field."""

    ops: frozenset[str]
    kind: str  # "string" | "boolean" | "date-time" | "number" | "enum" | "any"
    allowed: frozenset[str] | None = None  # for kind "enum": the allowed values


FilterSpec = dict[str, FieldSpec]


# --------------------------------------------------------------------------------------------------------------
# Spec strings


def parse_spec(text: str) -> FilterSpec:
    """Parse an endpoint's allowed filters, in the form the SDK docstrings use.

    `"id: any, equals (string); status: equals (allowed values: 'a', 'b'); profile: has"`. Entries may be
    separated by ";", "<br>" or newlines, and names/operators may carry markdown backticks. Specs are static
    program text, so a malformed one is a programming error: ValueError, not an API error.
    """
    spec: FilterSpec = {}
    for raw in re.split(r";|<br\s*/?>|\n", text.replace("`", "")):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, rest = entry.partition(":")
        name = name.strip()
        if not sep or not _IDENT_RE.fullmatch(name):
            raise ValueError(f"bad filter spec entry {entry!r}: expected 'field: op, op (type)'")
        if name in spec:
            raise ValueError(f"filter spec names field {name!r} twice")
        ops_text, paren, type_text = rest.partition("(")
        kind, allowed = "any", None
        if paren:
            type_text = type_text.strip()
            if not type_text.endswith(")"):
                raise ValueError(f"bad filter spec entry {entry!r}: unclosed '('")
            kind, allowed = _parse_spec_type(type_text[:-1].strip(), entry)
        ops = frozenset(op.strip() for op in ops_text.split(",") if op.strip())
        if not ops:
            raise ValueError(f"bad filter spec entry {entry!r}: no operators")
        unknown = ops - OPS
        if unknown:
            raise ValueError(f"bad filter spec entry {entry!r}: unknown operator(s) {sorted(unknown)}")
        spec[name] = FieldSpec(ops=ops, kind=kind, allowed=allowed)
    return spec


def _parse_spec_type(type_text: str, entry: str) -> tuple[str, frozenset[str] | None]:
    lowered = type_text.lower()
    if lowered.startswith("allowed values"):
        values = [a if a else b for a, b in re.findall(r"'([^']*)'|\"([^\"]*)\"", type_text)]
        if not values:
            raise ValueError(f"bad filter spec entry {entry!r}: no allowed values")
        return "enum", frozenset(values)
    kind = _KIND_ALIASES.get(lowered)
    if kind is None:
        raise ValueError(f"bad filter spec entry {entry!r}: unknown type {type_text!r}")
    return kind, None


# --------------------------------------------------------------------------------------------------------------
# Grammar


def parse_filter(text: str) -> list[Condition]:
    """Parse a `filter` query parameter into the flat list of conditions it ANDs together."""
    if text is None or not text.strip():
        raise _syntax_error("the filter is empty")
    return _Parser(text).parse()


def _syntax_error(problem: str, position: int | None = None) -> errors.KlaviyoError:
    where = "" if position is None else f" at position {position}"
    return errors.invalid(f"Invalid filter provided: {problem}{where}", parameter="filter")


class _Parser:
    """Recursive descent over the raw text; positions in errors are 0-based character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> list[Condition]:
        conditions: list[Condition] = []
        self._expression(conditions, depth=0)
        while True:
            self._skip_ws()
            if self._at_end():
                return conditions
            if self.text[self.pos] != ",":
                raise self._unexpected()
            self.pos += 1
            self._expression(conditions, depth=0)

    # -- helpers

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _skip_ws(self) -> None:
        while not self._at_end() and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _unexpected(self) -> errors.KlaviyoError:
        if self._at_end():
            return _syntax_error("unexpected end of filter", self.pos)
        return _syntax_error(f"unexpected {self.text[self.pos]!r}", self.pos)

    def _expect(self, char: str) -> None:
        self._skip_ws()
        if self._at_end() or self.text[self.pos] != char:
            found = "end of filter" if self._at_end() else repr(self.text[self.pos])
            raise _syntax_error(f"expected {char!r} but found {found}", self.pos)
        self.pos += 1

    def _identifier(self, what: str) -> tuple[str, int]:
        self._skip_ws()
        match = _IDENT_RE.match(self.text, self.pos)
        if match is None:
            if self._at_end() or self.text[self.pos] in ",()[]":
                raise self._unexpected()
            raise _syntax_error(f"expected {what} but found {self.text[self.pos]!r}", self.pos)
        self.pos = match.end()
        return match.group(), match.start()

    # -- expressions

    def _expression(self, out: list[Condition], depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _syntax_error(f"and() nested more than {_MAX_DEPTH} levels deep", self.pos)
        op, op_pos = self._identifier("an operator")
        if op in _UNSUPPORTED_OPS:
            raise _syntax_error(f"the '{op}' operator is not supported", op_pos)
        if op != "and" and op not in OPS:
            raise _syntax_error(f"unknown operator '{op}'", op_pos)
        self._expect("(")
        if op == "and":
            self._expression(out, depth + 1)
            self._skip_ws()
            while not self._at_end() and self.text[self.pos] == ",":
                self.pos += 1
                self._expression(out, depth + 1)
                self._skip_ws()
            self._expect(")")
            return
        field, _ = self._identifier("a field name")
        self._skip_ws()
        if op == "has":
            if not self._at_end() and self.text[self.pos] == ",":
                raise _syntax_error("'has' takes a single field and no value", self.pos)
            self._expect(")")
            out.append(Condition("has", field, None))
            return
        if not self._at_end() and self.text[self.pos] == ")":
            raise _syntax_error(f"missing value for '{op}'", self.pos)
        self._expect(",")
        value = self._value(allow_list=True)
        self._expect(")")
        out.append(Condition(op, field, value))

    # -- values

    def _value(self, *, allow_list: bool) -> Any:
        self._skip_ws()
        if self._at_end():
            raise _syntax_error("missing value", self.pos)
        char = self.text[self.pos]
        if char in "\"'":
            return self._string()
        if char == "[":
            if not allow_list:
                raise _syntax_error("nested lists are not supported", self.pos)
            return self._list()
        if char in ",)]":
            raise _syntax_error("missing value", self.pos)
        return self._bare()

    def _list(self) -> list[Any]:
        self.pos += 1  # "["
        items: list[Any] = []
        self._skip_ws()
        if not self._at_end() and self.text[self.pos] == "]":
            self.pos += 1
            return items
        while True:
            items.append(self._value(allow_list=False))
            self._skip_ws()
            if self._at_end():
                raise _syntax_error("unterminated list, expected ']'", self.pos)
            if self.text[self.pos] == "]":
                self.pos += 1
                return items
            if self.text[self.pos] != ",":
                raise _syntax_error(f"expected ',' or ']' but found {self.text[self.pos]!r}", self.pos)
            self.pos += 1

    def _string(self) -> str:
        start = self.pos
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while not self._at_end():
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                escaped = self.text[self.pos + 1]
                if escaped == "u":
                    digits = self.text[self.pos + 2 : self.pos + 6]
                    if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                        raise _syntax_error("invalid \\u escape in string", self.pos)
                    chars.append(chr(int(digits, 16)))
                    self.pos += 6
                    continue
                # \n, \t, ... as in JSON; any other escaped character stands for itself (\" \' \\).
                chars.append(_SIMPLE_ESCAPES.get(escaped, escaped))
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        raise _syntax_error("unterminated string starting", start)

    def _bare(self) -> Any:
        start = self.pos
        while not self._at_end() and self.text[self.pos] not in _BARE_STOP:
            self.pos += 1
        token = self.text[start : self.pos]
        if token == "true":
            return True
        if token == "false":
            return False
        if token == "null":
            return None
        if _DATETIME_RE.fullmatch(token):
            parsed = _parse_datetime(token)
            if parsed is None:
                raise _syntax_error(f"invalid datetime '{token}'", start)
            return parsed
        if _NUMBER_RE.fullmatch(token):
            if re.fullmatch(r"[+-]?\d+", token):
                return int(token)
            return float(token)
        raise _syntax_error(f"invalid value '{token}' (strings must be quoted)", start)


def _parse_datetime(text: str) -> datetime | None:
    """ISO 8601 datetime or plain date -> aware UTC datetime; None if not one (or not a real date).

    A datetime without an offset is taken as UTC (Klaviyo's docs only show offset-qualified values).
    """
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    tz_text = match.group("tz")
    try:
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        tz = UTC
        if tz_text and tz_text not in "Zz":
            sign = -1 if tz_text[0] == "-" else 1
            digits = tz_text[1:].replace(":", "")
            offset_minutes = int(digits[:2]) * 60 + int(digits[2:4] or "0")
            if offset_minutes >= 24 * 60:
                return None
            tz = timezone(sign * timedelta(minutes=offset_minutes))
        parsed = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros, tzinfo=tz
        )
    except ValueError:
        return None
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------------------------------------------
# Validation


def validate(conditions: list[Condition], spec: FilterSpec, *, resource: str) -> list[Condition]:
    """Check conditions against an endpoint's spec as Klaviyo does; numbers for "number" fields become floats."""
    checked: list[Condition] = []
    for condition in conditions:
        field_spec = spec.get(condition.field)
        if field_spec is None:
            raise _invalid(f"'{condition.field}' is not a valid field for the resource '{resource}'.")
        if condition.op not in field_spec.ops:
            raise _invalid(f"'{condition.op}' operation specified is not supported for '{condition.field}' field.")
        checked.append(_check_value(condition, field_spec))
    return checked


def _invalid(detail: str) -> errors.KlaviyoError:
    return errors.invalid(detail, parameter="filter")


def _check_value(condition: Condition, spec: FieldSpec) -> Condition:
    if condition.op == "has" or spec.kind == "any":
        return condition
    field = condition.field
    if condition.op == "any":
        if not isinstance(condition.value, list):
            raise _invalid(
                f"Invalid value for field '{field}': {_show(condition.value)}. "
                f'The \'any\' operation requires a list, e.g. any({field},["a","b"]).'
            )
        if not condition.value:
            raise _invalid(f"Invalid value for field '{field}': []. The 'any' operation requires a non-empty list.")
        return replace(condition, value=[_check_scalar(field, item, spec) for item in condition.value])
    if isinstance(condition.value, list):
        raise _invalid(
            f"Invalid value for field '{field}': {_show(condition.value)}. "
            f"A list is only allowed with the 'any' operation."
        )
    return replace(condition, value=_check_scalar(field, condition.value, spec))


def _check_scalar(field: str, value: Any, spec: FieldSpec) -> Any:
    kind = spec.kind
    if kind == "string":
        if not isinstance(value, str):
            raise _invalid(f"Invalid string value for field '{field}': {_show(value)}. Strings must be quoted.")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid(f"Invalid boolean value for field '{field}': {_show(value)}. Expected true or false.")
        return value
    if kind == "date-time":
        if not isinstance(value, datetime):
            raise _invalid(
                f"Invalid date-time value for field '{field}': {_show(value)}. Datetimes must be unquoted ISO 8601."
            )
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(f"Invalid number value for field '{field}': {_show(value)}. Expected a number.")
        return float(value)
    if kind == "enum":
        allowed = spec.allowed or frozenset()
        if not isinstance(value, str) or value not in allowed:
            choices = ", ".join(f"'{a}'" for a in sorted(allowed))
            raise _invalid(f"Invalid value for field '{field}': {_show(value)}. Allowed values: {choices}.")
        return value
    raise ValueError(f"unknown field kind {kind!r} for field {field!r}")


def _show(value: Any) -> str:
    """A filter value as it would be written in a filter, for error details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return "[" + ",".join(_show(item) for item in value) + "]"
    return str(value)


# --------------------------------------------------------------------------------------------------------------
# Evaluation


def matches(condition: Condition, value: Any) -> bool:
    """Does a record's field value satisfy the condition?

    A list value (a multi-valued field) matches when ANY element does; for `contains` that means list
    membership, Klaviyo's meaning of "contains" for array fields. None means the field is missing.
    """
    if condition.op == "has":
        return value is not None and not (isinstance(value, (list, tuple)) and len(value) == 0)
    if value is None:
        return False
    if isinstance(value, (list, tuple)):
        if condition.op == "equals" and isinstance(condition.value, list):
            return len(value) == len(condition.value) and all(map(_equal, value, condition.value))
        if condition.op == "contains":
            return any(_equal(item, condition.value) for item in value)
        return any(item is not None and _match_scalar(condition.op, condition.value, item) for item in value)
    return _match_scalar(condition.op, condition.value, value)


def _match_scalar(op: str, target: Any, value: Any) -> bool:
    if op == "equals":
        return _equal(value, target)
    if op == "any":
        candidates = target if isinstance(target, list) else [target]
        return any(_equal(value, candidate) for candidate in candidates)
    if op in STRING_OPS:
        if not isinstance(value, str) or not isinstance(target, str):
            return False
        if op == "contains":
            return target in value
        if op == "starts-with":
            return value.startswith(target)
        return value.endswith(target)
    if op in COMPARISON_OPS:
        order = _compare(value, target)
        if order is None:
            return False
        return {
            "greater-than": order > 0,
            "less-than": order < 0,
            "greater-or-equal": order >= 0,
            "less-or-equal": order <= 0,
        }[op]
    return False


def _coerce_pair(value: Any, target: Any) -> tuple[Any, Any] | None:
    """Bring a record value and a filter value to comparable types, or None when they cannot be compared."""
    if isinstance(value, datetime) or isinstance(target, datetime):
        left, right = _as_datetime(value), _as_datetime(target)
        return None if left is None or right is None else (left, right)
    if isinstance(value, bool) or isinstance(target, bool):
        # bool is an int subclass: keep True from equalling 1.
        return (value, target) if isinstance(value, bool) and isinstance(target, bool) else None
    if isinstance(value, (int, float)) and isinstance(target, (int, float)):
        return value, target
    if isinstance(value, str) and isinstance(target, str):
        return value, target
    return None


def _equal(value: Any, target: Any) -> bool:
    pair = _coerce_pair(value, target)
    return pair is not None and pair[0] == pair[1]


def _compare(value: Any, target: Any) -> int | None:
    pair = _coerce_pair(value, target)
    if pair is None:
        return None
    left, right = pair
    return int(left > right) - int(left < right)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        # Naive record datetimes are taken as UTC, the sandbox's storage convention.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _parse_datetime(value)
    return None


# --------------------------------------------------------------------------------------------------------------
# Time bounds


def time_bounds(conditions: list[Condition], field: str) -> tuple[datetime | None, bool, datetime | None, bool]:
    """The tightest (lower, lower_inclusive, upper, upper_inclusive) the conditions put on a datetime field.

    Bounds are None (and their flag False) when unconstrained. Number values are read as Unix seconds, so an
    events `timestamp` filter bounds time too. `any` lists are ignored: bounds only let the data layer seek,
    it still applies `matches`, so looser is safe.
    """
    lower: datetime | None = None
    upper: datetime | None = None
    lower_inclusive = upper_inclusive = False
    for condition in conditions:
        if condition.field != field or condition.op not in COMPARISON_OPS | {"equals"}:
            continue
        moment = _bound_value(condition.value)
        if moment is None:
            continue
        if condition.op in ("greater-than", "greater-or-equal", "equals"):
            inclusive = condition.op != "greater-than"
            if lower is None or moment > lower:
                lower, lower_inclusive = moment, inclusive
            elif moment == lower:
                lower_inclusive = lower_inclusive and inclusive
        if condition.op in ("less-than", "less-or-equal", "equals"):
            inclusive = condition.op != "less-than"
            if upper is None or moment < upper:
                upper, upper_inclusive = moment, inclusive
            elif moment == upper:
                upper_inclusive = upper_inclusive and inclusive
    return lower, lower_inclusive, upper, upper_inclusive


def _bound_value(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _as_datetime(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
