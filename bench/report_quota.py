"""What tap-klaviyo's report streams spend of Klaviyo's daily report quota (225 requests per account and endpoint).

    .venv/bin/python bench/report_quota.py [--accounts 3] [--events 5000]

Runs the tap's four report streams against the sandbox (no limits, so it is quick) and counts, from the sandbox's
own request counters, the report requests of each run per account and endpoint:

- a first run (no state: a year of daily series, in 59-day requests);
- a later run with its state (the next scheduled run: the lookback again, today included), with the default
  `report_lookback_days` (5) and with 90 (an account whose attribution window is 90 days).

With two scheduled runs a day (05:00 and 17:00), a day's spend is the first run plus a later one on the first day,
and two later runs on every day after. The tap also keeps these counts itself (`report_requests` in each report
stream's state) and plans within what is left of the last 24 hours.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from tap_runs import last_state, run_tap, tap_sandbox

from klaviyo_sandbox.pytest_plugin import RunningSandbox

QUOTA = 225
REPORTS = {
    "campaign_values_reports": "query_campaign_values",
    "flow_values_reports": "query_flow_values",
    "flow_series_reports": "query_flow_series",
    "segment_series_reports": "query_segment_series",
}


def run_reports(config: dict, folder: Path, state: dict | None) -> dict:
    """One run of the report streams; returns its last state."""
    code, messages, stderr = run_tap(config, folder, state, streams=list(REPORTS))
    if code != 0:
        raise SystemExit(f"tap failed:\n{stderr[-3000:]}")
    return last_state(messages)


def report_requests(sandbox: RunningSandbox) -> Counter[tuple[str, str]]:
    """(account id, endpoint) -> report requests the sandbox has served so far."""
    return Counter(
        {
            (account, endpoint): counts.get("requests", 0)
            for account, buckets in sandbox.stats().items()
            for endpoint, counts in buckets.items()
            if endpoint in REPORTS.values()
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sandbox, config = tap_sandbox(
            folder, "--accounts", str(args.accounts), "--events", str(args.events), "--rate-limit-scale", "0",
            rate_limit_scale=0, parallel_accounts=1,
        )  # fmt: skip
        try:
            spent: dict[str, Counter[tuple[str, str]]] = {}
            before = report_requests(sandbox)
            state = run_reports(config, folder, None)
            after = report_requests(sandbox)
            spent["first"] = after - before
            for lookback in (5, 90):
                before = report_requests(sandbox)
                run_reports({**config, "report_lookback_days": lookback}, folder, state)
                spent[f"later {lookback}"] = report_requests(sandbox) - before
            names = {a["id"]: a["account"] for a in sandbox.accounts}
        finally:
            sandbox.stop()
    print(f"Report requests per account and endpoint, against Klaviyo's quota of {QUOTA} a day each")
    print("(two scheduled runs a day: the first day is a first run and a later one, every day after two later runs)\n")
    header = (
        f"{'account':22}{'endpoint':24}{'first run':>10}{'later run':>10}{'first day':>10}{'a day':>7}{'of 225':>8}"
        f"{'  | lookback 90: later run':>25}{'a day':>7}"
    )
    print(header)
    print("-" * len(header))
    for account_id, name in names.items():
        for endpoint in REPORTS.values():
            key = (account_id, endpoint)
            first, later, later90 = spent["first"][key], spent["later 5"][key], spent["later 90"][key]
            day = 2 * later
            print(
                f"{name:22}{endpoint:24}{first:>10}{later:>10}{first + later:>10}{day:>7}{day / QUOTA:>8.1%}"
                f"{later90:>25}{2 * later90:>7}"
            )
    total_first = sum(spent["first"].values()) / max(1, len(names))
    total_day = 2 * sum(spent["later 5"].values()) / max(1, len(names))
    print(
        f"\nPer account, all four report endpoints: {total_first:.0f} requests on a first run, {total_day:.0f} a day "
        f"after (each endpoint has its own {QUOTA})."
    )


if __name__ == "__main__":
    main()
