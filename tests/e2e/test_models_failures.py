"""A model that fails ends `meltano run` with dbt's error and a non-zero exit, and leaves the end schema
(ANALYTICS.KLAVIYO) as it was: each end model is replaced in one statement (CREATE OR REPLACE ... AS SELECT) or, for
the incremental `events`, in one DELETE+INSERT transaction, so a failed model keeps its last good version; the models
downstream of it are skipped and keep theirs; no temporary `__dbt_tmp` object is left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from meltano_project import MODEL_SOURCES, PROJECT, LocalProject, ensure_installed

from local_stand_ins.stack import start_local_stack

DATA = ("--accounts", "2", "--seed", "17", "--events", "1500", "--profiles", "150", "--rate-limit-scale", "0")
ENV = {"TAP_KLAVIYO_RATE_LIMIT_SCALE": "0"}
END_MODELS = ("EVENTS", "CAMPAIGNS", "FLOWS", "PERSONS", "PERSON_CAMPAIGN_FLOW")
# Everything the models read but FLOW_ACTIONS (which the flow models read).
WITHOUT_FLOW_ACTIONS = json.dumps([stream for stream in MODEL_SOURCES if stream != "flow_actions"])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ensure_installed("tap-klaviyo", "target-snowflake", "dbt-snowflake")
    stack = start_local_stack(*DATA, "--end", "today")
    yield LocalProject(stack, tmp_path_factory.mktemp("failures") / "warehouse")
    stack.stop()


def end_schema(project: LocalProject) -> dict[str, list[tuple[Any, ...]]]:
    """Every table and view of ANALYTICS.KLAVIYO with its rows, sorted."""
    path = project.warehouse / "ANALYTICS.db"
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'KLAVIYO' ORDER BY 1"
        ).fetchall()
        return {name: sorted(conn.execute(f'SELECT * FROM KLAVIYO."{name}"').fetchall(), key=repr) for (name,) in names}


def broken_project(tmp_path: Path, model: str, replace: str, by: str) -> Path:
    """A copy of transform/ with `replace` changed to `by` in models/marts/<model>.sql."""
    copy = tmp_path / "transform"
    shutil.copytree(PROJECT / "transform", copy, ignore=shutil.ignore_patterns("target", "logs"))
    sql = copy / "models" / "marts" / f"{model}.sql"
    text = sql.read_text()
    assert replace in text
    sql.write_text(text.replace(replace, by, 1))
    return copy


def test_a_missing_source_table_fails_the_run_and_builds_no_end_model(project):
    run = project.meltano(
        "run",
        "tap-klaviyo",
        "target-snowflake",
        "dbt-snowflake:run",
        TAP_KLAVIYO__SELECT_FILTER=WITHOUT_FLOW_ACTIONS,
        **ENV,
    )
    assert run.code != 0
    assert "Database Error in model stg_klaviyo__flow_messages" in run.output
    assert "FLOW_ACTIONS" in run.output.upper() and "does not exist" in run.output
    assert end_schema(project) == {}  # events needs the messages too: no end model was built


def test_bad_sql_in_a_model_fails_the_run_and_leaves_the_last_good_models(project, tmp_path):
    good = project.meltano(
        "run",
        "tap-klaviyo",
        "target-snowflake",
        "dbt-snowflake:run",
        TAP_KLAVIYO__SELECT_FILTER=json.dumps(MODEL_SOURCES),
        **ENV,
    )
    assert good.code == 0, good.output[-6000:]
    before = end_schema(project)
    assert set(before) == set(END_MODELS)

    for model, replace, by in (
        ("persons", "coalesce(activity.orders, 0) as orders,", "coalesce(activity.no_such_column, 0) as orders,"),
        # the incremental model fails in its DELETE+INSERT, after its temporary table was made: a text value
        # cannot go into the loaded DOUBLE column
        ("events", "    attributed.value,", "    'not a number ' || attributed.value as value,"),
    ):
        broken = broken_project(tmp_path / model, model, replace, by)
        run = project.meltano("run", "dbt-snowflake:run", DBT_SNOWFLAKE_PROJECT_DIR=str(broken))
        assert run.code != 0, model
        assert f"Database Error in model {model}" in run.output, run.output[-4000:]
        assert end_schema(project) == before, model  # nothing half-built, nothing left over
