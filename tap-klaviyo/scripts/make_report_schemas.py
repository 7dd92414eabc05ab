"""Write tap_klaviyo/schemas/reports/<stream>.json for the report streams (tap_klaviyo/reports.py).

    .venv/bin/python tap-klaviyo/scripts/make_report_schemas.py          # (re)write them
    .venv/bin/python tap-klaviyo/scripts/make_report_schemas.py --check  # exit 1 if a file differs

The columns come from tap_klaviyo/report_columns.py (the statistics of each report, typed);
tests/tap/test_reports_schemas.py checks those statistics against the official SDK's enums.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tap_klaviyo.reports import REPORT_SCHEMAS, REPORT_STREAM_TYPES


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; write nothing")
    args = parser.parse_args()
    REPORT_SCHEMAS.mkdir(exist_ok=True)
    stale = []
    for stream in REPORT_STREAM_TYPES:
        path = REPORT_SCHEMAS / f"{stream.name}.json"
        text = render(stream.schema_definition())
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text)
    verb = "differ" if args.check else "written"
    print(f"{len(stale)} of {len(REPORT_STREAM_TYPES)} report schemas {verb}: {', '.join(stale) or '-'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
