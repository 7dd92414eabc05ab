"""How the whole suite runs (a pytest plugin, loaded by tests/conftest.py):

- A run that skipped a test (or xfailed one) fails: every test must run and pass, so CI never passes on a suite
  that quietly did less. With pytest-xdist the rule holds on the controller, which receives every worker's reports
  (tests/test_suite_rules.py runs it both ways).
- The longest modules are collected first. `make test` runs the suite on pytest-xdist workers a module at a time
  (`--dist loadfile`: a module's fixtures, its stacks and sandboxes, are built once, on one worker); starting with
  the longest lets the workers finish together instead of one waiting for the last long module.
"""

from __future__ import annotations

import pytest

# Modules by their wall time (seconds: `pytest -n 3 --junitxml`, summed per module, on the 2-core machine shared with
# other work, load average 5-19, 2026-12-02; test_pods.py and test_klaviyo_to_snowflake.py estimated after their pods
# ran side by side and their killed run shrank). The order is what counts; re-measure when a module grows. Every
# other module follows in collection order.
LONGEST_FIRST: dict[str, float] = {
    "tests/e2e/test_warehouse_in_step.py": 1490,
    "tests/test_readmes.py": 1442,
    "tests/e2e/test_klaviyo_to_snowflake.py": 1050,
    "tests/orchestrate/test_pods.py": 772,
    "tests/test_demo.py": 472,
    "tests/orchestrate/test_plan.py": 431,
    "tests/tap/test_tap_resilience.py": 382,
    "tests/e2e/test_models.py": 325,
    "tests/tap/test_tap_reports.py": 271,
    "tests/e2e/test_completeness.py": 240,
    "tests/tap/test_tap_batch.py": 231,
    "tests/e2e/test_models_failures.py": 227,
    "tests/e2e/test_reports_to_snowflake.py": 226,
    "tests/e2e/test_batch_mode.py": 181,
    "tests/e2e/test_csv_to_klaviyo.py": 180,
    "tests/e2e/test_files_load_themselves.py": 156,
    "tests/warehouse/test_loading.py": 153,
    "tests/warehouse/test_bridge.py": 138,
    "tests/warehouse/test_launcher.py": 138,
    "tests/sandbox/test_event_pages.py": 130,
    "tests/e2e/test_models_rename.py": 121,
    "tests/tap/test_tap_sync.py": 101,
    "tests/warehouse/test_warehouse_sql.py": 87,
    "tests/tap/test_reports_pacing.py": 86,
    "tests/shared/test_installable_elsewhere.py": 83,
    "tests/warehouse/test_tap_snowflake.py": 80,
    "tests/e2e/test_snowflake_to_klaviyo.py": 77,
    "tests/tap/test_tap_boundaries.py": 76,
    "tests/orchestrate/test_render.py": 69,
    "tests/csv/test_csv_reading.py": 62,
    "tests/tap/test_schemas.py": 60,
    "tests/sandbox/test_http_transport.py": 60,
    "tests/tap/test_accounts.py": 57,
    "tests/e2e/test_snowflake_view_changes.py": 56,
    "tests/warehouse/test_bridge_sessions.py": 51,
}


def module_seconds(item: pytest.Item) -> float:
    return LONGEST_FIRST.get(item.nodeid.split("::", 1)[0], 0.0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -module_seconds(item))  # stable: each module keeps its own order


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", [])) + len(reporter.stats.get("xfailed", []))
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped or xfailed; every test must run and pass.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
