"""The Klaviyo accounts a run reads: one per brand, each with its own private API key.

The list is JSON, `[{"account": "<brand name>", "api_key": "<key>"}, ...]` (other keys, such as "id", are
ignored), and comes from an S3 object (`s3://bucket/key`), a local file, or inline (a parsed list or a JSON
string). Every problem is an `AccountsError` naming the source and the entry (counted from 0, as in the
list); no message, and no `repr`, ever shows a key. Reading S3 is accounts_s3.py's, imported only for an
`s3://` source: discovery, `--about` and a local or inline list do without boto3 (0.1 CPU-s a process).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import override

from .errors import UserError

if t.TYPE_CHECKING:
    from .settings import TapSettings

INLINE = "inline accounts"
JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


class AccountsError(UserError):
    """The accounts list could not be read, is malformed, or a selected account does not exist."""


@dataclass(frozen=True)
class Account:
    name: str
    api_key: str = field(repr=False)

    @override
    def __repr__(self) -> str:
        # Spelled out rather than left to dataclass so that no future field change can bring the key back.
        return f"Account(name={self.name!r})"


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except FileNotFoundError as exc:
        raise AccountsError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise AccountsError(f"{path}: is a directory, not an accounts file") from exc
    except OSError as exc:
        raise AccountsError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc


def _parse(data: bytes | str, source: str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # Our own words: the codec's message quotes the offending byte, which could belong to a key.
            raise AccountsError(f"{source}: not UTF-8 text (invalid byte at position {exc.start})") from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the error's `doc` attribute holds the whole text, keys included.
        raise AccountsError(
            f"{source}: not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno}, char {exc.pos})"
        ) from None
    except (ValueError, RecursionError) as exc:  # integer digit limit, absurd nesting
        raise AccountsError(f"{source}: not valid JSON ({type(exc).__name__})") from None


def _text(entry: dict[str, Any], field_name: str, where: str) -> str:
    if field_name not in entry:
        raise AccountsError(f"{where} has no {field_name!r}")
    value = entry[field_name]
    if not isinstance(value, str):
        raise AccountsError(f"{where}: {field_name!r} must be a string, not {_json_type(value)}")
    if not value.strip():
        raise AccountsError(f"{where}: {field_name!r} is empty")
    # Stray whitespace (a trailing newline pasted with a key) would only fail later, at Klaviyo.
    return value.strip()


def _validate(data: Any, source: str) -> list[Account]:
    if not isinstance(data, list):
        raise AccountsError(f"{source}: expected a JSON list of accounts, got {_json_type(data)}")
    if not data:
        raise AccountsError(f"{source}: the list of accounts is empty")
    accounts: list[Account] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(data):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict):
            raise AccountsError(f"{where} is {_json_type(entry)}, not an object with 'account' and 'api_key'")
        name = _text(entry, "account", where)
        where = f"{where} (account {name!r})"
        if name in first_index:
            raise AccountsError(f"{where}: duplicate account name, also entry {first_index[name]}")
        first_index[name] = index
        accounts.append(Account(name, _text(entry, "api_key", where)))
    return accounts


def load_accounts(
    source: str | list[dict[str, Any]], *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> list[Account]:
    """Read and validate the accounts from `s3://bucket/key`, a file path, or a parsed list.

    `s3_endpoint_url` and `s3_region` apply to S3 only (None: boto3's own resolution, e.g. AWS_ENDPOINT_URL_S3,
    AWS_REGION). A string that looks like JSON rather than a path (`[`, `{`, `"` first) is read as JSON, so
    JSON put in the wrong setting is reported as JSON, not echoed back as a file name.
    """
    if not isinstance(source, str):
        return _validate(source, INLINE)
    text = source.strip()
    if not text:
        raise AccountsError("no accounts source given (an s3:// URI, a file path, or inline JSON)")
    if text.startswith(("[", "{", '"')):
        return parse_accounts_json(source, INLINE)
    if text.startswith("s3://"):
        from .accounts_s3 import read_s3  # noqa: PLC0415 -- boto3 only for an S3 source (the module's docstring)

        return _validate(_parse(read_s3(text, s3_endpoint_url, s3_region), text), text)
    return _validate(_parse(_read_file(text), text), text)


def parse_accounts_json(text: str, source: str) -> list[Account]:
    """The accounts given inline as JSON text; `source` names where it came from (a setting) in every error."""
    return _validate(_parse(text, source), source)  # unstripped: positions as written


def select_accounts(accounts: list[Account], names: list[str] | str | None) -> list[Account]:
    """The accounts named (all for None, [] or ""), in the list's order; a string may be comma-separated.

    A name matches exactly, else case-insensitively; an unknown or ambiguous name is an AccountsError.
    """
    if isinstance(names, str):
        names = names.split(",")
    wanted: list[str] = []
    for name in names or []:
        if not isinstance(name, str):
            raise AccountsError(f"account names must be strings, not {_json_type(name)}")
        if name.strip():
            wanted.append(name.strip())
    if not wanted:
        return list(accounts)
    known = [account.name for account in accounts]
    chosen: set[str] = set()
    unknown: list[str] = []
    for name in wanted:
        matches = [name] if name in known else [k for k in known if k.casefold() == name.casefold()]
        if len(matches) > 1:
            raise AccountsError(f"account {name!r} is ambiguous: it matches {', '.join(map(repr, matches))}")
        if matches:
            chosen.add(matches[0])
        else:
            unknown.append(name)
    if unknown:
        raise AccountsError(
            f"unknown account{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known accounts: {', '.join(map(repr, known))}"
        )
    return [account for account in accounts if account.name in chosen]


def run_accounts(settings: TapSettings) -> list[Account]:
    """The accounts a run reads: the list from `accounts_json` or `accounts_file`, those `accounts` names."""
    if settings.accounts_json:
        accounts = parse_accounts_json(settings.accounts_json, "accounts_json")
    elif settings.accounts_file:
        accounts = load_accounts(
            settings.accounts_file, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
    else:
        raise AccountsError("Set accounts_file (s3://bucket/key or a path) or accounts_json.")
    return select_accounts(accounts, settings.accounts)
