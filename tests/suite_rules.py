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

# Modules by their wall time (seconds: each test's start to end, summed per module, `pytest -n 3` on the 2-core
# machine, 2026-12-05 14:20 UTC), those of 8 s or more. The order is what counts: a module that mostly waits
# (test_reports_pacing.py: 77 s, 6 CPU-s; test_target_faults.py: 21 s, 3 CPU-s) starts early, beside the modules that
# keep both cores busy, rather than last with the cores idle. Re-measure when a module grows. Every other module
# follows in collection order.
LONGEST_FIRST: dict[str, float] = {
    "tests/e2e/test_warehouse_in_step.py": 194,
    "tests/test_readmes.py": 186,
    "tests/e2e/test_klaviyo_to_snowflake.py": 169,
    "tests/test_demo.py": 121,
    "tests/orchestrate/test_pods.py": 112,
    "tests/e2e/test_completeness.py": 91,
    "tests/e2e/test_models.py": 89,
    "tests/e2e/test_models_failures.py": 80,
    "tests/tap/test_reports_pacing.py": 77,
    "tests/tap/test_tap_resilience.py": 74,
    "tests/e2e/test_csv_to_klaviyo.py": 67,
    "tests/e2e/test_files_load_themselves.py": 64,
    "tests/shared/test_installable_elsewhere.py": 55,
    "tests/e2e/test_models_rename.py": 53,
    "tests/warehouse/test_loading.py": 51,
    "tests/e2e/test_batch_mode.py": 46,
    "tests/orchestrate/test_plan.py": 45,
    "tests/tap/test_tap_batch.py": 44,
    "tests/warehouse/test_warehouse_sql.py": 41,
    "tests/tap/test_tap_reports.py": 38,
    "tests/e2e/test_reports_to_snowflake.py": 35,
    "tests/sandbox/test_event_pages.py": 32,
    "tests/tap/test_tap_completeness.py": 32,
    "tests/tap/test_tap_sync.py": 31,
    "tests/warehouse/test_tap_snowflake.py": 27,
    "tests/e2e/test_snowflake_to_klaviyo.py": 26,
    "tests/target/test_target_faults.py": 21,
    "tests/target/test_target_audiences.py": 19,
    "tests/warehouse/test_bridge.py": 19,
    "tests/target/test_target_memory.py": 19,
    "tests/csv/test_csv_reading.py": 18,
    "tests/target/test_target_sync.py": 17,
    "tests/e2e/test_snowflake_view_changes.py": 15,
    "tests/warehouse/test_launcher.py": 14,
    "tests/orchestrate/test_render.py": 13,
    "tests/tap/test_tap_boundaries.py": 13,
    "tests/csv/test_csv_memory.py": 10,
    "tests/tap/test_fanout.py": 10,
    "tests/warehouse/test_bridge_sessions.py": 10,
    "tests/sandbox/test_http_transport.py": 10,
    "tests/sandbox/test_cli.py": 9,
    "tests/csv/test_csv_errors.py": 9,
    "tests/tap/test_progress.py": 9,
    "tests/sandbox/test_http_reads.py": 9,
    "tests/tap/test_tap_memory.py": 9,
    "tests/tap/test_schemas.py": 9,
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
