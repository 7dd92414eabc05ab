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

# Modules by their wall time in a serial run (seconds: `pytest --junitxml`, summed per module, on the 2-core machine
# shared with other work, load average about 10; re-measure when a module grows). The order is what counts. Every
# other module follows in collection order.
LONGEST_FIRST: dict[str, float] = {
    "tests/orchestrate/test_pods.py": 1021,
    "tests/e2e/test_klaviyo_to_snowflake.py": 880,
    "tests/e2e/test_warehouse_in_step.py": 679,
    "tests/test_readmes.py": 340,
    "tests/orchestrate/test_plan.py": 214,
    "tests/tap/test_tap_resilience.py": 173,
    "tests/tap/test_tap_reports.py": 157,
    "tests/warehouse/test_loading.py": 122,
    "tests/e2e/test_reports_to_snowflake.py": 115,
    "tests/test_demo.py": 104,
    "tests/tap/test_tap_memory.py": 100,
    "tests/tap/test_reports_pacing.py": 88,
    "tests/tap/test_tap_batch.py": 73,
    "tests/e2e/test_batch_mode.py": 70,
    "tests/orchestrate/test_render.py": 56,
    "tests/warehouse/test_bridge.py": 55,
    "tests/sandbox/test_event_pages.py": 52,
    "tests/tap/test_accounts.py": 51,
    "tests/tap/test_tap_boundaries.py": 51,
    "tests/warehouse/test_launcher.py": 48,
    "tests/sandbox/test_http_transport.py": 45,
    "tests/tap/test_tap_sync.py": 44,
    "tests/tap/test_schemas.py": 42,
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
