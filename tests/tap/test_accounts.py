"""Loading and selecting Klaviyo accounts: S3 (a real moto server), local files, inline JSON; every error names
its source and entry and never shows a key."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from tap_klaviyo.accounts import Account, AccountsError, load_accounts, select_accounts
from tap_klaviyo.accounts_s3 import parse_s3_models

pytestmark = pytest.mark.usefixtures("aws_env")

KEY_A = "pk_sandbox_3f9c0a1e5b7d4c2a8e6f1b0d9c7a5e31"
KEY_B = "pk_sandbox_b04e7d2c91a65f3e0d8c7b6a5f4e3d21"
KEY_C = "pk_sandbox_5e2d8c1b0a9f7e6d4c3b2a1f0e9d8c7b"
KEYS = (KEY_A, KEY_B, KEY_C)
ACCOUNTS = [
    {"account": "brand_a", "api_key": KEY_A, "id": "01HXA"},
    {"account": "brand_b", "api_key": KEY_B, "id": "01HXB"},
    {"account": "Brand C", "api_key": KEY_C},
]
BUCKET = "company-config"


def assert_no_key(error: BaseException) -> None:
    shown = f"{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"
    for key in KEYS:
        assert key not in shown
        assert key[len("pk_sandbox_") :] not in shown


def raises(source: str | list[dict[str, Any]], **kwargs: Any) -> AccountsError:
    with pytest.raises(AccountsError) as info:
        load_accounts(source, **kwargs)
    assert_no_key(info.value)
    return info.value


def as_pairs(accounts: list[Account]) -> list[tuple[str, str]]:
    return [(a.name, a.api_key) for a in accounts]


EXPECTED = [("brand_a", KEY_A), ("brand_b", KEY_B), ("Brand C", KEY_C)]


# -- the happy paths ---------------------------------------------------------------------------------------------


def test_s3_object(moto_s3):
    uri = moto_s3.put(BUCKET, "klaviyo/accounts.json", json.dumps(ACCOUNTS, indent=2))
    accounts = load_accounts(uri, s3_endpoint_url=moto_s3.endpoint_url, s3_region="us-east-1")
    assert as_pairs(accounts) == EXPECTED


def test_s3_endpoint_and_region_from_the_aws_environment(moto_s3, monkeypatch):
    # Without s3_endpoint_url, boto3's own configuration chain applies (here AWS_ENDPOINT_URL_S3).
    uri = moto_s3.put(BUCKET, "env/accounts.json", json.dumps(ACCOUNTS))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint_url)
    assert as_pairs(load_accounts(uri)) == EXPECTED


def test_local_file(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ACCOUNTS).encode())  # a BOM, as some editors write
    assert as_pairs(load_accounts(str(path))) == EXPECTED


def test_inline_list():
    assert as_pairs(load_accounts(ACCOUNTS)) == EXPECTED


def test_inline_json_string():
    assert as_pairs(load_accounts("\n  " + json.dumps(ACCOUNTS))) == EXPECTED


def test_whitespace_around_names_and_keys_is_dropped():
    accounts = load_accounts([{"account": " brand_a ", "api_key": KEY_A + "\n"}])
    assert as_pairs(accounts) == [("brand_a", KEY_A)]


def test_repr_and_str_of_an_account_hide_the_key():
    account = Account("brand_a", KEY_A)
    for shown in (repr(account), str(account), f"{account}", repr([account]), repr({"a": account})):
        assert KEY_A not in shown
        assert "brand_a" in shown
    assert repr(account) == "Account(name='brand_a')"


# -- malformed lists: every source, every rule ---------------------------------------------------------------------

OK_A = {"account": "brand_a", "api_key": KEY_A}
BAD_LISTS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "not-a-list": ({"accounts": [OK_A]}, ("expected a JSON list of accounts, got an object",)),
    "a-string": (KEY_A, ("expected a JSON list of accounts, got a string",)),
    "empty-list": ([], ("the list of accounts is empty",)),
    "entry-not-an-object": ([OK_A, [KEY_B]], ("entry 1 is a list, not an object",)),
    "entry-null": ([OK_A, None], ("entry 1 is null, not an object",)),
    "missing-account": ([OK_A, {"api_key": KEY_B}], ("entry 1 has no 'account'",)),
    "empty-account": ([OK_A, {"account": "  ", "api_key": KEY_B}], ("entry 1: 'account' is empty",)),
    "account-not-a-string": (
        [{"account": 7, "api_key": KEY_A}],
        ("entry 0: 'account' must be a string, not a number",),
    ),
    "missing-api-key": ([OK_A, {"account": "brand_b"}], ("entry 1 (account 'brand_b') has no 'api_key'",)),
    "empty-api-key": (
        [OK_A, {"account": "brand_b", "api_key": ""}],
        ("entry 1 (account 'brand_b'): 'api_key' is empty",),
    ),
    "api-key-not-a-string": (
        [OK_A, {"account": "brand_b", "api_key": [KEY_B]}],
        ("entry 1 (account 'brand_b'): 'api_key' must be a string, not a list",),
    ),
    "api-key-a-number": (
        [{"account": "brand_b", "api_key": 31415926}],
        ("entry 0 (account 'brand_b'): 'api_key' must be a string, not a number",),
    ),
    "duplicate-name": (
        [OK_A, {"account": "brand_b", "api_key": KEY_B}, {"account": "brand_a", "api_key": KEY_C}],
        ("entry 2 (account 'brand_a'): duplicate account name, also entry 0",),
    ),
}
# Text that is not JSON at all (inline lists are already parsed, so these apply to the other sources).
BAD_TEXTS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "not-json": (
        f'[{{"account": "brand_a", "api_key": "{KEY_A}"}},\n {{"account": "brand_b" "api_key": "{KEY_B}"}}]'.encode(),
        ("not valid JSON: Expecting ',' delimiter (line 2 column 24, char 106)",),
    ),
    "truncated": (
        f'[{{"account": "brand_a", "api_key": "{KEY_A}'.encode(),
        ("not valid JSON: Unterminated string starting at (line 1 column 36, char 35)",),
    ),
    "not-utf8": (
        f'[{{"account": "brand_a", "api_key": "{KEY_A}\xff"}}]'.encode("latin-1"),
        ("not UTF-8 text (invalid byte at position",),
    ),
}


def load_from(kind: str, body: Any, tmp_path: Path, moto_s3: Any, request: pytest.FixtureRequest) -> tuple[Any, str]:
    """Put `body` where `kind` reads from; returns (source, the label its errors must carry)."""
    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    if kind == "inline-list":
        return body, "inline accounts"
    if kind == "inline-string":
        return text.decode(), "inline accounts"
    if kind == "file":
        path = tmp_path / "accounts.json"
        path.write_bytes(text)
        return str(path), str(path)
    uri = moto_s3.put(BUCKET, f"bad/{request.node.callspec.id}.json", text)
    return uri, uri


CASES = [
    pytest.param(kind, body, expected, id=f"{kind}-{name}")
    for name, (body, expected) in BAD_LISTS.items()
    for kind in ("inline-list", "inline-string", "file", "s3")
    if not (kind == "inline-list" and name == "a-string")
]  # a Python str source is a path or JSON text
CASES += [
    pytest.param(kind, body, expected, id=f"{kind}-{name}")
    for name, (body, expected) in BAD_TEXTS.items()
    for kind in ("inline-string", "file", "s3")
    if not (kind == "inline-string" and name == "not-utf8")
]  # a str has no bytes to be wrong


@pytest.mark.parametrize(("kind", "body", "expected"), CASES)
def test_malformed_accounts_name_source_and_entry_without_the_key(kind, body, expected, tmp_path, moto_s3, request):
    source, label = load_from(kind, body, tmp_path, moto_s3, request)
    error = raises(source, s3_endpoint_url=moto_s3.endpoint_url)
    assert str(error).startswith(f"{label}: ")
    for fragment in expected:
        assert fragment in str(error)


# -- sources that cannot be read -----------------------------------------------------------------------------------


def test_s3_missing_bucket(moto_s3):
    error = raises("s3://no-such-bucket-here/accounts.json", s3_endpoint_url=moto_s3.endpoint_url)
    assert str(error) == "s3://no-such-bucket-here/accounts.json: bucket 'no-such-bucket-here' does not exist"


def test_s3_missing_key(moto_s3):
    moto_s3.put(BUCKET, "something-else.json", "[]")
    error = raises(f"s3://{BUCKET}/missing/accounts.json", s3_endpoint_url=moto_s3.endpoint_url)
    assert str(error) == f"s3://{BUCKET}/missing/accounts.json: no object 'missing/accounts.json' in bucket '{BUCKET}'"


def test_s3_access_denied(moto_factory, monkeypatch):
    # moto enforces IAM after its first 4 requests: a user with no policy, the bucket and the object; then read
    # as that user.
    moto = moto_factory(no_auth_actions=4)
    iam = moto.client("iam")
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    uri = moto.put(BUCKET, "accounts.json", json.dumps(ACCOUNTS))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    error = raises(uri, s3_endpoint_url=moto.endpoint_url)
    assert str(error) == f"{uri}: access denied (AccessDenied: Access Denied)"
    assert key["SecretAccessKey"] not in f"{error}{error!r}"


def test_s3_unreachable_endpoint_fails_fast(closed_port_url):
    endpoint = closed_port_url
    started = time.monotonic()
    error = raises(f"s3://{BUCKET}/accounts.json", s3_endpoint_url=endpoint)
    assert time.monotonic() - started < 5
    assert str(error) == f"s3://{BUCKET}/accounts.json: S3 endpoint unreachable ({endpoint}/{BUCKET}/accounts.json)"


def test_s3_without_credentials(moto_s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    error = raises(f"s3://{BUCKET}/accounts.json", s3_endpoint_url=moto_s3.endpoint_url)
    assert str(error).startswith(f"s3://{BUCKET}/accounts.json: no AWS credentials found")


@pytest.mark.parametrize("uri", ["s3://just-a-bucket", "s3://just-a-bucket/", "s3:///accounts.json"])
def test_s3_uri_without_bucket_or_key(uri):
    assert str(raises(uri)) == f"{uri}: an S3 source must be s3://bucket/key"


def test_local_file_not_found(tmp_path):
    path = tmp_path / "nope" / "accounts.json"
    assert str(raises(str(path))) == f"{path}: file not found"


def test_local_path_that_cannot_be_read(tmp_path):
    # A directory: unreadable as a file even for root, who ignores permission bits.
    assert str(raises(str(tmp_path))) == f"{tmp_path}: is a directory, not an accounts file"


@pytest.mark.parametrize("source", ["", "   "])
def test_no_source(source):
    assert "no accounts source given" in str(raises(source))


# -- selection -----------------------------------------------------------------------------------------------------

ALL = [Account("brand_a", KEY_A), Account("brand_b", KEY_B), Account("Brand C", KEY_C)]


def names(accounts: list[Account]) -> list[str]:
    return [a.name for a in accounts]


@pytest.mark.parametrize("wanted", [None, [], "", " , "])
def test_select_nothing_means_all(wanted):
    assert select_accounts(ALL, wanted) == ALL


def test_select_by_name_keeps_the_list_order():
    assert names(select_accounts(ALL, ["Brand C", "brand_a"])) == ["brand_a", "Brand C"]


def test_select_by_comma_separated_string():
    assert names(select_accounts(ALL, "brand_b, Brand C,brand_b")) == ["brand_b", "Brand C"]


def test_select_case_insensitively():
    assert names(select_accounts(ALL, "BRAND_A,brand c")) == ["brand_a", "Brand C"]


def test_select_exact_match_wins_over_case_insensitive():
    accounts = [Account("shop", KEY_A), Account("Shop", KEY_B)]
    assert select_accounts(accounts, "Shop") == [accounts[1]]
    with pytest.raises(AccountsError, match="'SHOP' is ambiguous: it matches 'shop', 'Shop'") as info:
        select_accounts(accounts, "SHOP")
    assert_no_key(info.value)


def test_select_unknown_names_lists_the_known_ones_without_keys():
    with pytest.raises(AccountsError) as info:
        select_accounts(ALL, "brand_a,brand_x,brand_y")
    assert str(info.value) == "unknown accounts 'brand_x', 'brand_y'; known accounts: 'brand_a', 'brand_b', 'Brand C'"
    assert_no_key(info.value)


def test_select_from_loaded_accounts(moto_s3):
    uri = moto_s3.put(BUCKET, "select/accounts.json", json.dumps(ACCOUNTS))
    chosen = select_accounts(load_accounts(uri, s3_endpoint_url=moto_s3.endpoint_url), "brand_b")
    assert as_pairs(chosen) == [("brand_b", KEY_B)]


def test_parsing_the_s3_models_ahead_never_fails_the_fork_server(monkeypatch):
    """The fork server parses them before any run (fork_server_preload.py); a bad S3 setting is read_s3's to report,
    in one line naming the accounts file, not an error in the server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "notaurl")
    parse_s3_models()
