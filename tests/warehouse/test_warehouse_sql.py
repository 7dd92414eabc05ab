"""warehouse-sql on the emulator: rows loaded by the real target-snowflake (tap-klaviyo's schemas), then
`warehouse-sql-launcher` (the Meltano utility's own venv) creates the views, reports the days that differ from
Klaviyo's counts, marks (or deletes) the rows of people deleted in Klaviyo, and renders the page.

The rows are written here, dated on fixed days: what is checked is the SQL (days in the account's timezone, the
latest check only, deleted rows not counted; which profiles count as deleted), not the tap.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tap_klaviyo_schemas import schema_of
from warehouse_runs import PROJECT_ROOT, Warehouse

UTILITY_BIN = PROJECT_ROOT / ".meltano" / "utilities" / "warehouse-sql" / "venv" / "bin"
ACCOUNT, OTHER = "AcMe01", "BlUe02"
ZONE = "America/Chicago"  # UTC-6 in November
CHECKED = "2026-11-21T12:00:00+00:00"


@pytest.fixture(scope="module")
def utility() -> Path:
    if not (UTILITY_BIN / "warehouse-sql-launcher").exists():
        subprocess.run(
            [str(PROJECT_ROOT / ".venv" / "bin" / "meltano"), "install", "utility", "warehouse-sql"],
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
            timeout=900,
        )
    return UTILITY_BIN


def singer(stream: str, rows: list[dict[str, Any]], keys: list[str]) -> str:
    lines = [{"type": "SCHEMA", "stream": stream, "schema": schema_of(stream), "key_properties": keys}]
    lines += [{"type": "RECORD", "stream": stream, "record": row} for row in rows]
    return "".join(json.dumps(line) + "\n" for line in lines)


def load(warehouse: Warehouse, tmp_path: Path, *parts: str) -> None:
    path = tmp_path / f"load-{len(list(tmp_path.glob('load-*')))}.singer"
    path.write_text("".join(parts))
    warehouse.load(path)


def run(
    utility: Path, warehouse: Warehouse, *args: str, expect: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(utility / "warehouse-sql-launcher"), *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(warehouse.folder), **env},
        timeout=300,
    )
    assert result.returncode == expect, result.stdout + result.stderr[-4000:]
    return result


def event(
    id_: str, when: str, metric: str = "m-order", profile: str = "p1", account: str = ACCOUNT, **extra: Any
) -> dict:
    return {
        "id": id_,
        "account_id": account,
        "account_name": "Acme",
        "datetime": when,
        "metric_id": metric,
        "profile_id": profile,
        **extra,
    }


def count(day: str, klaviyo: int, metric: str = "m-order", account: str = ACCOUNT, checked: str = CHECKED) -> dict:
    # Days in America/Chicago: local midnight is 06:00 UTC.
    return {
        "account_id": account,
        "account_name": "Acme" if account == ACCOUNT else "Blue Fern",
        "metric_id": metric,
        "metric_name": "Placed Order" if metric == "m-order" else "Opened Email",
        "local_date": day,
        "timezone": ZONE,
        "klaviyo_count": klaviyo,
        "klaviyo_sum_value": 0.0,
        "day_start": f"{day}T06:00:00+00:00",
        "counted_until": "2026-11-21T12:00:00+00:00"
        if day == "2026-11-21"
        else f"{day[:8]}{int(day[8:]) + 1:02d}T06:00:00+00:00",
        "checked_at": checked,
    }


def differing(utility: Path, warehouse: Warehouse) -> list[dict]:
    result = run(utility, warehouse, "check", "--json")
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_completeness_view_compares_days_in_the_accounts_timezone(utility, warehouse, tmp_path):
    events = [
        event("e1", "2026-11-19T07:00:00+00:00"),  # 19 Nov, 01:00 in Chicago
        event("e2", "2026-11-20T05:30:00+00:00"),  # 19 Nov, 23:30 in Chicago (20 Nov in UTC)
        event("e3", "2026-11-20T06:30:00+00:00"),  # 20 Nov
        event("e4", "2026-11-20T18:00:00+00:00", _sdc_deleted_at="2026-11-21T00:00:00+00:00"),  # deleted: not held
        event("e5", "2026-11-21T09:00:00+00:00"),  # 21 Nov, counted (before the check)
        event("e6", "2026-11-21T13:00:00+00:00"),  # 21 Nov, after the check: not compared
        event("e7", "2026-11-20T12:00:00+00:00", metric="m-open"),
    ]
    old = count("2026-11-18", 5, checked="2026-11-20T12:00:00+00:00")  # an earlier check's day: not compared
    counts = [
        old,
        count("2026-11-19", 2),
        count("2026-11-20", 3),  # Klaviyo: 3, the warehouse holds 1 (e3): 2 events missing
        count("2026-11-21", 1),
        count("2026-11-19", 0, metric="m-open"),
        count("2026-11-20", 1, metric="m-open"),
        count("2026-11-21", 0, metric="m-open"),
        count("2026-11-20", 4, account=OTHER),  # another account: nothing loaded, 4 missing
    ]
    load(
        warehouse,
        tmp_path,
        singer("events", events, ["account_id", "id"]),
        singer("event_counts", counts, ["account_id", "metric_id", "local_date"]),
    )
    applied = run(utility, warehouse, "apply")
    assert "EVENT_COMPLETENESS" in applied.stdout
    assert "DELETED_PROFILES" in applied.stdout  # named as waiting for its tables
    found = {
        (d["account_id"], d["metric_id"], d["day"]): (d["klaviyo"], d["warehouse"])
        for d in differing(utility, warehouse)
    }
    assert found == {(ACCOUNT, "m-order", "2026-11-20"): (3, 1), (OTHER, "m-order", "2026-11-20"): (4, 0)}

    load(
        warehouse,
        tmp_path,
        singer(
            "events",
            [event("e8", "2026-11-20T20:00:00+00:00"), event("e9", "2026-11-21T05:00:00+00:00")]
            + [event(f"o{n}", "2026-11-20T15:00:00+00:00", account=OTHER) for n in range(4)],
            ["account_id", "id"],
        ),
    )
    assert differing(utility, warehouse) == []
    assert run(utility, warehouse, "check", "--fail-on-difference").returncode == 0


def profile(id_: str, created: str, account: str = ACCOUNT) -> dict:
    return {"id": id_, "account_id": account, "account_name": "Acme", "email": f"{id_}@example.com", "created": created}


def deletion_fixture(warehouse: Warehouse, tmp_path: Path, *, extra_missing: int = 0) -> None:
    started, completed = "2026-11-21T05:00:00+00:00", "2026-11-21T05:13:00+00:00"
    profiles = [
        profile("kept", "2025-01-01T00:00:00+00:00"),
        profile("gone", "2025-02-01T00:00:00+00:00"),
        profile("new", "2026-11-21T04:30:00+00:00"),  # created half an hour before the listing: not decided yet
        profile("gone", "2025-02-01T00:00:00+00:00", account=OTHER),  # the same id in another account, listed there
    ]
    profiles += [profile(f"bulk{n}", "2025-03-01T00:00:00+00:00") for n in range(extra_missing)]
    ids = [
        {"account_id": ACCOUNT, "id": "kept", "listed_at": started},
        {"account_id": ACCOUNT, "id": "gone", "listed_at": "2026-11-20T05:00:00+00:00"},  # an older listing's
        {"account_id": OTHER, "id": "gone", "listed_at": started},
    ]
    listings = [
        {"account_id": a, "account_name": n, "started_at": started, "completed_at": completed, "profiles": 1}
        for a, n in ((ACCOUNT, "Acme"), (OTHER, "Blue Fern"))
    ]
    events = [
        event("g1", "2026-11-01T10:00:00+00:00", profile="gone"),
        event("g2", "2026-11-02T10:00:00+00:00", profile="gone"),
        event("k1", "2026-11-02T10:00:00+00:00", profile="kept"),
        event("o1", "2026-11-02T10:00:00+00:00", profile="gone", account=OTHER),
    ]
    members = [{"id": pid, "account_id": ACCOUNT, "account_name": "Acme", "list_id": "L1"} for pid in ("gone", "kept")]
    load(
        warehouse,
        tmp_path,
        singer("profiles", profiles, ["account_id", "id"]),
        singer("profile_ids", ids, ["account_id", "id"]),
        singer("profile_listings", listings, ["account_id"]),
        singer("events", events, ["account_id", "id"]),
        singer("list_members", members, ["account_id", "list_id", "id"]),
    )


def marks(warehouse: Warehouse, table: str, column: str = "id") -> dict[tuple[str, str], bool]:
    return {
        (row["account_id"], row[column] if table != "events" else row["id"]): row["_sdc_deleted_at"] is not None
        for row in warehouse.rows(table.upper())
    }


def test_a_deleted_profiles_rows_are_marked_deleted(utility, warehouse, tmp_path):
    deletion_fixture(warehouse, tmp_path)
    result = run(utility, warehouse, "apply")
    assert "marked deleted: EVENTS 2, LIST_MEMBERS 1, PROFILES 1" in result.stdout
    assert marks(warehouse, "profiles") == {
        (ACCOUNT, "kept"): False,
        (ACCOUNT, "gone"): True,
        (ACCOUNT, "new"): False,
        (OTHER, "gone"): False,
    }
    assert marks(warehouse, "events") == {
        (ACCOUNT, "g1"): True,
        (ACCOUNT, "g2"): True,
        (ACCOUNT, "k1"): False,
        (OTHER, "o1"): False,
    }
    assert {row["id"]: row["_sdc_deleted_at"] is not None for row in warehouse.rows("LIST_MEMBERS")} == {
        "gone": True,
        "kept": False,
    }
    # PROFILE_IDS keeps the latest listing only; applying again changes nothing.
    assert {(r["account_id"], r["id"]) for r in warehouse.rows("PROFILE_IDS")} == {(ACCOUNT, "kept"), (OTHER, "gone")}
    again = run(utility, warehouse, "apply")
    assert "marked deleted: EVENTS 0, LIST_MEMBERS 0, PROFILES 0" in again.stdout


def test_hard_delete_removes_them(utility, warehouse, tmp_path):
    deletion_fixture(warehouse, tmp_path)
    run(utility, warehouse, "apply", WAREHOUSE_SQL_HARD_DELETE="true")
    assert {(r["account_id"], r["id"]) for r in warehouse.rows("PROFILES")} == {
        (ACCOUNT, "kept"),
        (ACCOUNT, "new"),
        (OTHER, "gone"),
    }
    assert {(r["account_id"], r["id"]) for r in warehouse.rows("EVENTS")} == {(ACCOUNT, "k1"), (OTHER, "o1")}
    assert [r["id"] for r in warehouse.rows("LIST_MEMBERS")] == ["kept"]


def test_a_listing_that_lost_most_profiles_marks_nothing_and_says_so(utility, warehouse, tmp_path):
    deletion_fixture(warehouse, tmp_path, extra_missing=30)
    result = run(utility, warehouse, "apply", "--max-share", "0.5", expect=1)
    refusal = [line for line in result.stderr.splitlines() if line.startswith("warehouse-sql: account")]
    assert len(refusal) == 1
    assert f"account {ACCOUNT}: 31 of its 33 profiles (94%) would be marked deleted" in refusal[0]
    assert not any(marks(warehouse, "profiles").values())


def test_the_page_shows_which_brand_and_day_differ(utility, warehouse, tmp_path):
    load(
        warehouse,
        tmp_path,
        singer("events", [event("e1", "2026-11-20T12:00:00+00:00")], ["account_id", "id"]),
        singer(
            "event_counts",
            [count("2026-11-20", 3), count("2026-11-20", 0, account=OTHER)],
            ["account_id", "metric_id", "local_date"],
        ),
    )
    run(utility, warehouse, "apply")
    out = tmp_path / "page" / "completeness.html"
    result = run(utility, warehouse, "page", "--out", str(out))
    assert str(out) in result.stdout
    page = out.read_text()
    assert "1 of 2 brand(s) differ" in page
    assert "Acme, 2026-11-20: Klaviyo 3, warehouse 1 (-2)" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
