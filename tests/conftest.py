"""Suite-wide rules: a run that skipped a test, or ran none, is a failed run.

The sandbox fixtures (`klaviyo_sandbox`, `klaviyo_sandbox_factory`) come from the klaviyo-sandbox package's
pytest plugin, registered when the package is installed.
"""

from __future__ import annotations

import pytest

# moto_s3, moto_factory, closed_port_url, aws_env: a local S3 for every test folder (tap, target, e2e).
pytest_plugins = ["local_s3"]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", [])) + len(reporter.stats.get("xfailed", []))
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped or xfailed; every test must run and pass.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
