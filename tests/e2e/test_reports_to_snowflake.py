"""The report streams through Meltano into the Snowflake emulator (`meltano run tap-klaviyo target-snowflake`): the
report tables land with rows for every account, typed, one row per key; a conversion attributed after the fact is
corrected in place by the next run."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from meltano_project import LocalProject, ensure_installed, warehouse_keys
from raw_warehouse import open_raw
from sandbox_truth import walk

from local_stand_ins.stack import start_local_stack
from tap_klaviyo.reports import REPORT_STREAM_TYPES

DATA = (
    "--accounts",
    "3",
    "--seed",
    "11",
    "--events",
    "3000",
    "--profiles",
    "250",
    "--rate-limit-scale",
    "0",
    "--end",
    "today",  # the default data set ends on 2026-11-01 and would drift out of the last days' windows
)
KEYS = {stream.name: tuple(stream.primary_keys) for stream in REPORT_STREAM_TYPES}
RUN = ("run", "tap-klaviyo", "target-snowflake")
ENV = {
    "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",  # the sandbox runs without limits here
    "TAP_KLAVIYO__SELECT_FILTER": '["' + '","'.join(KEYS) + '"]',
    # Days a run reads again: the corrected day is the last one with a flow row within 40 days.
    "TAP_KLAVIYO_REPORT_LOOKBACK_DAYS": "45",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ensure_installed("tap-klaviyo", "target-snowflake")
    stack = start_local_stack(*DATA)
    yield LocalProject(stack, tmp_path_factory.mktemp("warehouse"))
    stack.stop()


@pytest.fixture(scope="module")
def first_run(project):
    run = project.meltano(*RUN, **ENV)
    assert run.code == 0, run.output[-4000:]
    return run


def query(project: LocalProject, sql: str) -> list[tuple]:
    with open_raw(project.warehouse) as conn:
        return conn.execute(sql).fetchall()


def test_the_report_tables_land_with_rows_for_every_account_once_per_key(project, first_run):
    tables = warehouse_keys(project.warehouse, {name: keys[1:] for name, keys in KEYS.items()})
    assert set(tables) == set(KEYS)
    accounts = {a["id"] for a in project.stack.sandbox.accounts}
    for name, rows in tables.items():
        assert {row[0] for row in rows} == accounts, name
        assert len(rows) == len(set(rows)), name
    assert "flow_series_reports for '" in first_run.output and "7 request(s)" in first_run.output


def test_statistics_land_typed_and_days_as_dates(project, first_run):
    columns = dict(
        query(
            project,
            "SELECT lower(table_name) || '.' || lower(column_name), data_type FROM information_schema.columns "
            "WHERE lower(table_schema) = 'klaviyo'",
        )
    )
    assert columns["flow_series_reports.day"] == "DATE"
    assert columns["segment_series_reports.day"] == "DATE"
    for table in ("campaign_values_reports", "flow_values_reports", "flow_series_reports"):
        assert columns[f"{table}.delivered"] in ("BIGINT", "INTEGER", "DECIMAL(38,0)"), table
        assert columns[f"{table}.open_rate"] in ("DOUBLE", "FLOAT"), table
        assert columns[f"{table}.conversion_value"] in ("DOUBLE", "FLOAT"), table
        assert f"{table}.conversion_metric_id" in columns
    assert columns["campaign_values_reports.timeframe_start"].startswith("TIMESTAMP")
    assert columns["segment_series_reports.total_members"] in ("BIGINT", "INTEGER", "DECIMAL(38,0)")


def test_a_conversion_attributed_later_is_corrected_in_place_by_the_next_run(project, first_run):
    sandbox = project.stack.sandbox
    account = sandbox.accounts[0]
    zone = ZoneInfo(walk(sandbox, 0, "/api/accounts")[0]["attributes"]["timezone"])
    recent = str(datetime.now(zone).date() - timedelta(days=40))
    flow_id, message, channel, day, conversions, value = query(
        project,
        'SELECT flow_id, flow_message_id, send_channel, "day", conversions, conversion_value '
        f"FROM KLAVIYO.FLOW_SERIES_REPORTS WHERE account_id = '{account['id']}' AND \"day\" >= '{recent}' "
        'ORDER BY "day" DESC, flow_message_id LIMIT 1',
    )[0]
    assert isinstance(day, date)
    noon = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=12)
    sandbox.attribute(account["id"], message, noon.isoformat(), value=42.5)
    rows_before = query(project, "SELECT count(*) FROM KLAVIYO.FLOW_SERIES_REPORTS")[0][0]
    flow_values = (
        "SELECT count(*), sum(conversions) FROM KLAVIYO.FLOW_VALUES_REPORTS "
        f"WHERE account_id = '{account['id']}' AND flow_message_id = '{message}'"
    )
    values_before = query(project, flow_values)[0]

    run = project.meltano(*RUN, **ENV)
    assert run.code == 0, run.output[-4000:]
    after = query(
        project,
        "SELECT conversions, conversion_value FROM KLAVIYO.FLOW_SERIES_REPORTS "
        f"WHERE account_id = '{account['id']}' AND flow_id = '{flow_id}' AND flow_message_id = '{message}' "
        f"AND send_channel = '{channel}' AND \"day\" = '{day}'",
    )
    assert len(after) == 1  # the same row, merged on its key
    assert after[0][0] == conversions + 1 and after[0][1] == pytest.approx(value + 42.5)
    assert query(project, "SELECT count(*) FROM KLAVIYO.FLOW_SERIES_REPORTS")[0][0] == rows_before
    assert values_before[0] == 1 and query(project, flow_values)[0] == (1, values_before[1] + 1)
