"""The `klaviyo-sandbox` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import requests

from klaviyo_sandbox.pytest_plugin import start_sandbox_process


def test_serve_writes_the_accounts_file_tap_klaviyo_reads(tmp_path):
    accounts_file = tmp_path / "accounts.json"
    sandbox = start_sandbox_process("--accounts", "4", "--seed", "11", "--accounts-file", str(accounts_file))
    try:
        accounts = json.loads(accounts_file.read_text())
        assert [set(a) for a in accounts] == [{"account", "api_key", "id"}] * 4
        assert len({a["account"] for a in accounts}) == 4
        for account in accounts:
            response = requests.get(
                f"{sandbox.url}/api/accounts",
                timeout=30,
                headers={"Authorization": f"Klaviyo-API-Key {account['api_key']}", "revision": "2026-10-15"},
            )
            assert response.json()["data"][0]["id"] == account["id"]
    finally:
        sandbox.stop()


def test_same_seed_same_data_other_seed_other_data():
    def first_events(seed: str) -> list[str]:
        sandbox = start_sandbox_process("--accounts", "1", "--seed", seed, "--events", "500")
        try:
            response = requests.get(
                f"{sandbox.url}/api/events",
                timeout=30,
                headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"},
            )
            return [e["id"] for e in response.json()["data"]]
        finally:
            sandbox.stop()

    assert first_events("5") == first_events("5")
    assert first_events("5") != first_events("6")


def test_port_in_use_is_a_clear_error():
    sandbox = start_sandbox_process("--accounts", "1")
    try:
        port = sandbox.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", "--port", port],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    finally:
        sandbox.stop()


def test_end_moves_the_data_set_in_time():
    def latest_event(*options: str) -> str:
        sandbox = start_sandbox_process("--accounts", "1", "--events", "500", *options)
        try:
            response = requests.get(
                f"{sandbox.url}/api/events",
                params={"sort": "-datetime", "page[size]": "1"},
                timeout=30,
                headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"},
            )
            return response.json()["data"][0]["attributes"]["datetime"]
        finally:
            sandbox.stop()

    assert "2026-10-01" < latest_event() < "2026-11-01"  # the default data set ends on 2026-11-01
    assert "2030-02-01" < latest_event("--end", "2030-03-01") < "2030-03-01"
    today = datetime.now(UTC).date()
    assert str(today - timedelta(days=30)) < latest_event("--end", "today") < str(today)  # today's midnight, UTC


def serve_refused(*options: str) -> str:
    """`klaviyo-sandbox serve` with bad options: its exit code is 2 (argparse's), and this returns its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", *options],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    return result.stderr


def test_an_end_that_is_not_a_date_is_one_clear_line():
    stderr = serve_refused("--end", "yesterday")
    assert "--end: not an ISO 8601 date or date-time: 'yesterday'" in stderr


def test_segments_of_one_size_give_the_shape_of_an_account_to_measure():
    """`--segments 20 --segment-members 50`: 20 segments, each with exactly 50 members (bench/full_run.py's account:
    20 segments of the same size)."""
    sandbox = start_sandbox_process(
        "--accounts", "1", "--profiles", "230", "--segments", "20", "--segment-members", "50"
    )
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"}
    try:
        segments: list[str] = []
        url: str | None = f"{sandbox.url}/api/segments"
        while url:
            page = requests.get(url, headers=headers, timeout=30).json()
            segments += [s["id"] for s in page["data"]]
            url = page["links"]["next"]
        assert len(segments) == 20
        members = {
            segment: requests.get(
                f"{sandbox.url}/api/segments/{segment}/relationships/profiles",
                params={"page[size]": "100"},
                headers=headers,
                timeout=30,
            ).json()["data"]
            for segment in segments
        }
        assert {len(ids) for ids in members.values()} == {50}
        assert len({tuple(sorted(p["id"] for p in ids)) for ids in members.values()}) > 1  # not all the same people
    finally:
        sandbox.stop()


def test_more_members_than_profiles_is_one_clear_line():
    stderr = serve_refused("--profiles", "100", "--segment-members", "101")
    assert "--segment-members must be between 0 and --profiles (100), got 101" in stderr
