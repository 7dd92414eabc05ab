"""The demo behind `make demo-reverse`: from the warehouse back to Klaviyo, on the local stand-ins.

1. Start the Klaviyo sandbox (one account, Klaviyo's real rate limits) and a local S3 (moto) for Meltano's state.
2. Make a warehouse table and a view in the Snowflake emulator (.local/warehouse-reverse): ANALYTICS.CUSTOMER_TRAITS
   (email, first name, lifetime value, churn score, updated_at) and ANALYTICS.CHURN_RISK (churn score >= 0.8).
3. `meltano run tap-snowflake target-klaviyo`: MeltanoLabs' tap-snowflake reads them, target-klaviyo sends the
   table's rows as profiles and the view's as "Churn Risk" events (meltano.yml's `mappings`).
4. Read some of them back through Klaviyo's API (the official SDK, `klaviyo-api`).
5. Change three customers in the table and run again: only those (and the row at the bookmark) are read again;
   the view is read in full, and Klaviyo keeps one event per unique id.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from klaviyo_api import KlaviyoAPI

from local_stand_ins import analytics
from local_stand_ins.stack import LocalStack, meltano_env, start_local_stack

PROJECT = Path(__file__).resolve().parents[1]
LOCAL = PROJECT / ".local"
WAREHOUSE = LOCAL / "warehouse-reverse"
MELTANO = str(Path(sys.executable).with_name("meltano"))
CUSTOMERS = 500
CHANGED = [3, 42, 311]


def run(stack: LocalStack, env: dict[str, str], log: Path) -> dict[str, Any]:
    print("$ meltano run tap-snowflake target-klaviyo", flush=True)
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            [MELTANO, "run", "tap-snowflake", "target-klaviyo"],
            cwd=PROJECT,
            env=meltano_env(stack, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = log.read_text()
    if result.returncode != 0:
        print(text[-4000:])
        raise SystemExit(f"meltano run failed (exit {result.returncode}); full log: {log}")
    summary: dict[str, Any] = json.loads(re.findall(r"target-klaviyo summary json: (\{.*\})", text)[-1])
    print(f"done in {time.monotonic() - started:.0f} s (log: {log.relative_to(PROJECT)})")
    for stream, kinds in summary.items():
        for kind, counts in kinds.items():
            print(f"  {stream:28} {kind:8} " + ", ".join(f"{name} {value:,}" for name, value in counts.items()))
    return summary


def show(client: KlaviyoAPI, numbers: list[int]) -> None:
    for n in numbers:
        (profile,) = client.Profiles.get_profiles(filter=f'equals(email,"{analytics.email(n)}")').data
        print(f"  {profile.attributes.email:30} {profile.attributes.first_name:12} {profile.attributes.properties}")


def main() -> None:
    shutil.rmtree(WAREHOUSE, ignore_errors=True)
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "demo-reverse-meltano.db").unlink(missing_ok=True)
    env = {
        "SNOWFLAKE_EMULATOR_PATH": str(WAREHOUSE),
        "MELTANO_DATABASE_URI": f"sqlite:///{LOCAL / 'demo-reverse-meltano.db'}",
        "TARGET_KLAVIYO_REJECTS_PATH": str(LOCAL / "demo-reverse-rejects.jsonl"),
    }
    stack = start_local_stack("--accounts", "1", "--seed", "7", "--events", "100", "--profiles", "100")
    try:
        print(f"Klaviyo sandbox  {stack.sandbox.url}  ({stack.sandbox.accounts[0]['account']}; real rate limits)")
        print(f"Snowflake        emulator, databases in {WAREHOUSE.relative_to(PROJECT)}/")
        analytics.run_sql(WAREHOUSE, analytics.create_statements(CUSTOMERS))
        at_risk = sum(analytics.churn_score(n) >= analytics.CHURN_RISK_THRESHOLD for n in range(CUSTOMERS))
        print(f"Warehouse        RAW.{analytics.TRAITS}: {CUSTOMERS} customers; view RAW.{analytics.CHURN_RISK}: "
              f"{at_risk} of them\n")  # fmt: skip
        run(stack, env, LOCAL / "demo-reverse-1.log")
        client = KlaviyoAPI(stack.sandbox.key(0), test_host=stack.sandbox.url, max_retries=3, max_delay=2)
        time.sleep(1)  # the sandbox writes a bulk request's events just after accepting it
        print("\nIn Klaviyo (read back through the official SDK):")
        show(client, CHANGED)
        metric = next(m.id for m in client.Metrics.get_metrics().data if m.attributes.name == "Churn Risk")
        events = client.Events.get_events(filter=f'equals(metric_id,"{metric}")', page_size=200).data
        print(f"  'Churn Risk' events: {len(events)} on the first page (page size 200)")

        emails = [analytics.email(n) for n in CHANGED]
        print(f"\nUPDATE RAW.{analytics.TRAITS}: lifetime value 1234.5 for {', '.join(emails)}")
        analytics.run_sql(
            WAREHOUSE, [analytics.update_statement(emails, updated_at="2024-07-01 00:00:00", lifetime_value=1234.5)]
        )
        run(stack, env, LOCAL / "demo-reverse-2.log")
        print("\nIn Klaviyo:")
        show(client, CHANGED)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
