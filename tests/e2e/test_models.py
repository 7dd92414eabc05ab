"""The dbt models through Meltano on the sandbox's data set: `meltano run tap-klaviyo target-snowflake
dbt-snowflake:run dbt-snowflake:test`, on the Snowflake emulator, for three brands.

- The tie-out: for every campaign and flow message of every brand, the `campaigns`/`flows` model's conversions and
  revenue (and sends, opens, clicks) equal Klaviyo's CAMPAIGN_VALUES_REPORTS / FLOW_VALUES_REPORTS over the report's
  timeframe (the data set spans less than it, so all of it), and a message without a report row did nothing.
- Where the models differ from Klaviyo's reports on purpose: the session rule attributes conversions Klaviyo left
  unattributed. Those are computed here again from the raw events, independently, and must be exactly the model's
  `session` rows; they are never in `conversions`.
- Known answers from the raw tables: persons' lifetime value and first and last order, one events row per event.
- A run after new activity (incremental, with the 7-day lookback) equals a full refresh.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from meltano_project import MODEL_SOURCES, PROJECT, SHORT_REPORT_HISTORY, LocalProject, ensure_installed

from local_stand_ins.stack import start_local_stack

DATA = ("--accounts", "3", "--seed", "13", "--events", "4000", "--profiles", "300", "--rate-limit-scale", "0")
# The data set ends today and spans 0.9 years: inside the values reports' timeframe (today and the 364 days before).
SPAN = ("--years", "0.9", "--end", "today")
# What the models read (their sources); the models read no series report
ENV = {
    "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
    "TAP_KLAVIYO__SELECT_FILTER": json.dumps(MODEL_SOURCES),
    **SHORT_REPORT_HISTORY,
}
PIPELINE = ("run", "tap-klaviyo", "target-snowflake", "dbt-snowflake:run", "dbt-snowflake:test")
EMAIL_TOUCHES = {"Opened Email", "Clicked Email"}
SMS_TOUCHES = {"Clicked SMS", "Clicked Text Message"}
MESSAGE_METRICS = {"Received Email", "Received SMS", "Received Text Message"} | EMAIL_TOUCHES | SMS_TOUCHES
CONVERSION = "Placed Order"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ensure_installed("tap-klaviyo", "target-snowflake", "dbt-snowflake")
    stack = start_local_stack(*DATA, *SPAN)
    yield LocalProject(stack, tmp_path_factory.mktemp("models") / "warehouse")
    stack.stop()


@pytest.fixture(scope="module")
def first_run(project):
    run = project.meltano(*PIPELINE, timeout=1500, **ENV)
    assert run.code == 0, run.output[-6000:]
    return run


def query(project: LocalProject, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(":memory:") as conn:
        for database in ("RAW", "ANALYTICS"):
            conn.execute(f"ATTACH '{project.warehouse / (database + '.db')}' AS {database} (READ_ONLY)")
        return conn.execute(sql).fetchall()


def utc(wall: datetime, zone: str) -> datetime:
    """A report's timeframe bound (wall-clock time in the account's timezone) in UTC, naive as the events' times."""
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


STATISTICS = {  # report column -> model column
    "delivered": "sends",
    "opens": "opens",
    "opens_unique": "unique_opens",
    "clicks": "clicks",
    "clicks_unique": "unique_clicks",
    "conversions": "conversions",
    "conversion_uniques": "unique_conversions",
    "conversion_value": "revenue",
}


@pytest.mark.parametrize(("kind", "message"), [("campaign", "campaign_message_id"), ("flow", "flow_message_id")])
def test_campaigns_and_flows_tie_out_with_klaviyos_reports_for_every_brand(project, first_run, kind, message):
    accounts = {a["id"]: a["account"] for a in project.stack.sandbox.accounts}
    report_columns = ", ".join(STATISTICS)
    reports = query(
        project,
        f"SELECT account_id, {message}, timeframe_start, timeframe_end, timezone, {report_columns} "
        f"FROM RAW.KLAVIYO.{kind.upper()}_VALUES_REPORTS",
    )
    model_columns = ", ".join(STATISTICS.values())
    table = f"ANALYTICS.KLAVIYO.{kind.upper()}S"
    rows = query(project, f"SELECT account_id, {message}, {model_columns} FROM {table}")
    model = {(row[0], row[1]): row[2:] for row in rows}
    times = "SELECT min(occurred_at), max(occurred_at) FROM ANALYTICS.KLAVIYO.EVENTS"
    first_event, last_event = query(project, times)[0]
    reported: dict[str, set[str]] = defaultdict(set)
    converting: dict[str, int] = defaultdict(int)
    for account_id, message_id, start, end, zone, *statistics in reports:
        # the same timeframe: every loaded event is inside the report's
        assert utc(start, zone) <= first_event and last_event < utc(end, zone), (start, end, first_event, last_event)
        assert model[(account_id, message_id)] == pytest.approx(tuple(statistics)), (accounts[account_id], message_id)
        reported[account_id].add(message_id)
        converting[account_id] += statistics[list(STATISTICS).index("conversions")] > 0
    assert set(reported) == set(accounts)  # every brand has report rows
    assert all(converting[account] > 0 for account in accounts)  # ... with conversions: the tie-out is not vacuous
    for (account_id, message_id), values in model.items():
        if message_id not in reported[account_id]:  # Klaviyo has a row for every message that did anything
            assert values == (0,) * len(STATISTICS), (accounts[account_id], message_id)


def raw_events(project: LocalProject) -> list[tuple[Any, ...]]:
    return query(
        project,
        "SELECT e.account_id, e.id, e.profile_id, e.datetime, m.name, "
        "json_extract_string(e.event_properties, '$.\"$message\"'), "
        "nullif(json_extract_string(e.event_properties, '$.\"$flow\"'), ''), "
        'json_extract_string(e.event_properties, \'$."$attribution"."$message"\'), '
        "TRY_CAST(json_extract(e.event_properties, '$.\"$value\"') AS DOUBLE) "
        "FROM RAW.KLAVIYO.EVENTS e JOIN RAW.KLAVIYO.METRICS m ON m.account_id = e.account_id AND m.id = e.metric_id "
        "WHERE e._sdc_deleted_at IS NULL ORDER BY e.account_id, e.profile_id, e.datetime",
    )


def session_attribution(events: list[tuple[Any, ...]]) -> dict[tuple[str, str], tuple[str, str | None]]:
    """The session rule written again from its statement: an event that is no message event and that Klaviyo did not
    attribute goes to the message of the person's last email open or click in the 120 hours before it, or last SMS
    click in the 24 hours before it, whichever came last."""
    touches: dict[tuple[str, str], list[tuple[datetime, str, tuple[str, str | None]]]] = defaultdict(list)
    for account_id, _, person, when, metric, message, flow, _, _ in events:
        if message and metric in EMAIL_TOUCHES | SMS_TOUCHES:
            channel = "sms" if metric in SMS_TOUCHES else "email"
            touches[(account_id, person)].append((when, channel, (message, flow)))
    windows = {"email": timedelta(hours=120), "sms": timedelta(hours=24)}
    attributed = {}
    for account_id, event_id, person, when, metric, _, _, klaviyo, _ in events:
        if metric in MESSAGE_METRICS or klaviyo:
            continue
        last = {channel: None for channel in windows}
        for touched, channel, message in touches[(account_id, person)]:
            if touched <= when:
                last[channel] = (touched, message)
        candidates = [t for c, t in last.items() if t is not None and when - t[0] <= windows[c]]
        if candidates:
            attributed[(account_id, event_id)] = max(candidates)[1]
    return attributed


def test_the_session_rule_gives_klaviyos_unattributed_events_to_the_last_touch(project, first_run):
    expected = session_attribution(raw_events(project))
    modelled = {
        (account_id, event_id): (message_id, flow_id)
        for account_id, event_id, message_id, flow_id in query(
            project,
            "SELECT account_id, event_id, message_id, flow_id FROM ANALYTICS.KLAVIYO.EVENTS "
            "WHERE attribution_source = 'session'",
        )
    }
    assert modelled == expected
    sessions = query(
        project,
        "SELECT account_id, count(*) FROM ANALYTICS.KLAVIYO.EVENTS "
        f"WHERE attribution_source = 'session' AND metric = '{CONVERSION}' GROUP BY 1",
    )
    assert len(sessions) == 3 and all(count > 0 for _, count in sessions)  # the difference from Klaviyo exists
    # ... and it is kept apart: session conversions are never in `conversions` (which tie out with the reports)
    totals = query(
        project,
        "SELECT sum(conversions), sum(session_conversions) FROM (SELECT conversions, session_conversions FROM "
        "ANALYTICS.KLAVIYO.CAMPAIGNS UNION ALL SELECT conversions, session_conversions FROM ANALYTICS.KLAVIYO.FLOWS)",
    )[0]
    klaviyo = query(
        project,
        "SELECT count(*) FILTER (WHERE attribution_source = 'klaviyo'), count(*) FILTER (WHERE attribution_source = "
        f"'session') FROM ANALYTICS.KLAVIYO.EVENTS WHERE metric = '{CONVERSION}' AND message_type IS NOT NULL",
    )[0]
    assert totals == klaviyo


def test_an_event_with_klaviyos_api_attribution_takes_it(project, first_run):
    # tap-klaviyo reads each event's attribution with include=attributions (RAW's attributed_* columns); the model
    # takes it before `$attribution` in the properties and before the session rule.
    rows = query(
        project,
        "SELECT r.account_id, coalesce(r.attributed_campaign_message_id, r.attributed_flow_message_id), "
        "r.attributed_flow_id, r.attributed_campaign_id, e.attribution_source, e.klaviyo_attribution_from, "
        "e.message_id, e.flow_id, e.campaign_id, e.message_type "
        "FROM RAW.KLAVIYO.EVENTS r JOIN ANALYTICS.KLAVIYO.EVENTS e "
        "ON e.account_id = r.account_id AND e.event_id = r.id WHERE r._sdc_deleted_at IS NULL "
        "AND coalesce(r.attributed_campaign_message_id, r.attributed_flow_message_id) IS NOT NULL",
    )
    assert {row[0] for row in rows} == {a["id"] for a in project.stack.sandbox.accounts}
    kinds = set()
    for _, message, flow, campaign, source, origin, model_message, model_flow, model_campaign, kind in rows:
        assert (source, origin, model_message) == ("klaviyo", "attributions", message)
        assert (model_flow, model_campaign, kind) == ((flow, None, "flow") if flow else (None, campaign, "campaign"))
        kinds.add(kind)
    assert kinds == {"campaign", "flow"}
    # every attribution in this load came from the API: none was read from the properties
    assert query(
        project, "SELECT count(*) FROM ANALYTICS.KLAVIYO.EVENTS WHERE klaviyo_attribution_from = 'event_properties'"
    ) == [(0,)]


def test_persons_lifetime_value_and_orders_from_the_raw_events(project, first_run):
    orders: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for account_id, _, person, when, metric, _, _, _, value in raw_events(project):
        if metric == CONVERSION:
            orders[(account_id, person)].append((when, value or 0.0))
    persons = query(
        project,
        "SELECT account_id, person_id, lifetime_value, orders, first_order_at, last_order_at, account_name "
        "FROM ANALYTICS.KLAVIYO.PERSONS",
    )
    names = {a["id"]: a["account"] for a in project.stack.sandbox.accounts}
    assert {row[0] for row in persons} == set(names)
    assert len(persons) == 3 * 300
    for account_id, person, value, count, first, last, name in persons:
        mine = sorted(orders.get((account_id, person), []))
        assert name == names[account_id]
        assert count == len(mine)
        assert value == pytest.approx(round(sum(v for _, v in mine), 2))
        assert (first, last) == ((mine[0][0], mine[-1][0]) if mine else (None, None))
    assert sum(1 for row in persons if row[3]) > 50  # buyers in every brand's share


def test_every_end_model_has_every_brand_and_one_event_row_per_event(project, first_run):
    accounts = {a["id"] for a in project.stack.sandbox.accounts}
    for model in ("EVENTS", "CAMPAIGNS", "FLOWS", "PERSONS", "PERSON_CAMPAIGN_FLOW"):
        rows = query(project, f"SELECT DISTINCT account_id, account_name FROM ANALYTICS.KLAVIYO.{model}")
        assert {account for account, _ in rows} == accounts, model
        assert all(name for _, name in rows), model
    assert (
        query(project, "SELECT count(*) FROM ANALYTICS.KLAVIYO.EVENTS")[0]
        == query(project, "SELECT count(*) FROM RAW.KLAVIYO.EVENTS WHERE _sdc_deleted_at IS NULL")[0]
    )
    # dbt-snowflake:test ran the dbt tests, and all passed
    assert "dbt-snowflake" in first_run.output and "PASS=" in first_run.output and " ERROR=0 " in first_run.output
    # nothing temporary is left in the end schema
    leftovers = query(
        project,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = 'ANALYTICS' AND table_name ILIKE '%dbt_tmp%'",
    )
    assert leftovers == []


def test_docs_generate_describes_every_end_model_and_column(project, first_run):
    run = project.meltano("run", "dbt-snowflake:docs-generate", timeout=900)
    assert run.code == 0, run.output[-4000:]
    target = Path(project.env()["DBT_SNOWFLAKE_TARGET_PATH"])
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    for model in ("events", "campaigns", "flows", "persons", "person_campaign_flow"):
        node = manifest["nodes"][f"model.klaviyo_warehouse.{model}"]
        assert node["description"], model
        built = {column.lower() for column in catalog["nodes"][f"model.klaviyo_warehouse.{model}"]["columns"]}
        described = {name for name, column in node["columns"].items() if column["description"]}
        assert built == described, (model, built ^ described)  # every column built is described, and no other


def test_the_readme_questions_run_on_the_models(project, first_run):
    """transform/README.md's three questions, each as written, through the emulator's `sql` command."""
    questions = re.findall(r"```sql\n(.*?)```", (PROJECT / "transform" / "README.md").read_text(), re.DOTALL)
    assert len(questions) == 3
    emulator = PROJECT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "snowflake-emulator"
    for question in questions:
        run = subprocess.run(
            [str(emulator), "--path", str(project.warehouse), "sql", question],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads(run.stdout)["rows"], question


EVENT_COLUMNS = (
    "event_key, metric, attribution_source, message_id, campaign_id, flow_id, session_touch_event_key, value"
)


def test_an_incremental_run_after_new_activity_equals_a_full_refresh(project, first_run):
    sandbox = project.stack.sandbox
    for index, account in enumerate(sandbox.accounts):
        sandbox.activity(account["id"], events=60, seed=index + 1)
        flow_message = query(
            project,
            f"SELECT flow_message_id FROM ANALYTICS.KLAVIYO.FLOWS WHERE account_id = '{account['id']}' "
            "AND sends > 0 ORDER BY flow_message_id LIMIT 1",
        )[0][0]
        recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        sandbox.attribute(account["id"], flow_message, recent, value=99.5)
    before = query(project, "SELECT count(*) FROM ANALYTICS.KLAVIYO.EVENTS")[0][0]

    run = project.meltano("run", "tap-klaviyo", "target-snowflake", "dbt-snowflake:run", timeout=1500, **ENV)
    assert run.code == 0, run.output[-6000:]
    incremental = query(project, f"SELECT {EVENT_COLUMNS} FROM ANALYTICS.KLAVIYO.EVENTS ORDER BY 1")
    assert len(incremental) > before

    refresh = project.meltano("invoke", "dbt-snowflake", "run", "--full-refresh", timeout=900)
    assert refresh.code == 0, refresh.output[-6000:]
    assert query(project, f"SELECT {EVENT_COLUMNS} FROM ANALYTICS.KLAVIYO.EVENTS ORDER BY 1") == incremental
