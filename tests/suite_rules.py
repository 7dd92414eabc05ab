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

# Modules by the wall time of a serial run (seconds, measured with --durations on the 2-core machine; re-measure
# when a module grows). Every other module follows in collection order.
LONGEST_FIRST: dict[str, float] = {}


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
