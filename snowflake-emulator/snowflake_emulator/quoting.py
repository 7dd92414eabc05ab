"""Session variables outside quoted text only.

fakesnow 0.12.1 substitutes `$name` session variables, and fails on an unknown one ("Session variable '$VALUE' does
not exist"), wherever `$name` appears in the statement's text: inside string literals, quoted identifiers and
comments too. Snowflake reads `$name` as a variable only in SQL itself (https://docs.snowflake.com/en/sql-reference/
session-variables#using-variables-in-sql). Klaviyo's event properties are keyed `$value`, `$attribution`,
`$message`..., so a dbt model reading `event_properties:"$value"` or `get_path(p, '"$attribution"')` met that
error. Here the quoted parts are set aside, fakesnow's substitution runs on the rest, and they are put back as they
were.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A string literal ('' or a backslash escapes a quote), a quoted identifier ("" escapes), a $$ string, a comment.
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/""", re.DOTALL)
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


def outside_quotes(sql: str, substitute: Callable[[str], str]) -> str:
    """`substitute(sql)` applied to the statement with its quoted text and comments left as they were."""
    kept: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    masked = _QUOTED.sub(set_aside, sql)
    if not kept:
        return substitute(sql)
    return _PLACEHOLDER.sub(lambda match: kept[int(match.group(1))], substitute(masked))
