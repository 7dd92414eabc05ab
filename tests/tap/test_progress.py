"""A long run says where it is: every `progress_interval_seconds`, one line per active account and stream (rows so
far, rows/s, the time reached), and when a stream ends, one summary line per account (rows, rows read again)."""

from __future__ import annotations

import json
import re

from tap_runs import run_tap


def test_progress_lines_while_reading_and_a_summary_at_the_end(klaviyo_sandbox_factory, tmp_path):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--events", "6000", "--profiles", "10", "--latency-ms",
                                      "300", "--rate-limit-scale", "0")  # fmt: skip
    accounts = [{"account": a["account"], "api_key": a["api_key"]} for a in sandbox.accounts]
    config = {
        "accounts_json": json.dumps(accounts),
        "api_url": sandbox.url,
        "start_date": "2012-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "window_concurrency": 1,  # one page at a time: a run of a few seconds
        "progress_interval_seconds": 1,
    }
    code, _, stderr = run_tap(config, tmp_path, streams=["events"])
    assert code == 0, stderr[-3000:]
    name = sandbox.accounts[0]["account"]
    during = re.findall(rf"events for '{name}': ([\d,]+) rows, ([\d,]+)/s, reached (\S+)", stderr)
    assert during, stderr[-3000:]
    assert all(int(rows.replace(",", "")) <= 6000 for rows, _, _ in during)
    assert re.search(rf"events for '{name}': done, 6,000 rows in \d+ s", stderr)
