"""The demo behind `make demo`: start the local Klaviyo sandbox and show what each account serves.

tap-klaviyo and the warehouse load are not built yet (issues #3-#5); until then the demo is the stand-in
they will run against: three brands' accounts, read page by page through Klaviyo's API with the real
rate limits, and counted per account and endpoint.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "klaviyo-sandbox" / "src"))
from klaviyo_sandbox.pytest_plugin import start_sandbox

ENDPOINTS = [
    ("events", "/api/events", {"page[size]": "1000"}),
    ("profiles", "/api/profiles", {"page[size]": "100"}),
    ("email campaigns", "/api/campaigns", {"filter": "equals(messages.channel,'email')"}),
    ("sms campaigns", "/api/campaigns", {"filter": "equals(messages.channel,'sms')"}),
    ("push campaigns", "/api/campaigns", {"filter": "equals(messages.channel,'mobile_push')"}),
    ("flows", "/api/flows", {"page[size]": "50"}),
    ("lists", "/api/lists", {}),
    ("segments", "/api/segments", {}),
    ("metrics", "/api/metrics", {}),
    ("tags", "/api/tags", {}),
    ("templates", "/api/templates", {}),
]


def count(session: requests.Session, url: str, params: dict[str, str]) -> tuple[int, int]:
    """Rows and requests for one endpoint, following links.next and honouring Retry-After."""
    rows = requests_made = 0
    next_url: str | None = url
    query: dict[str, str] | None = params
    while next_url:
        response = session.get(next_url, params=query, timeout=60)
        requests_made += 1
        if response.status_code == 429:
            time.sleep(int(response.headers["Retry-After"]))
            continue
        response.raise_for_status()
        body = response.json()
        rows += len(body["data"])
        next_url, query = body["links"].get("next"), None
    return rows, requests_made


def main() -> None:
    sandbox = start_sandbox("--accounts", "3", "--seed", "7", "--events", "20000", "--profiles", "2000")
    try:
        print(f"Klaviyo sandbox at {sandbox.url} (real rate limits, revision 2026-10-15)\n")
        names = [a["account"] for a in sandbox.accounts]
        print(f"{'endpoint':18}" + "".join(f"{name:>24}" for name in names))
        totals = [0] * len(names)
        for label, path, params in ENDPOINTS:
            cells = []
            for index, _ in enumerate(sandbox.accounts):
                session = requests.Session()
                session.headers.update({"Authorization": f"Klaviyo-API-Key {sandbox.key(index)}",
                                        "revision": "2026-10-15"})
                rows, calls = count(session, sandbox.url + path, params)
                totals[index] += calls
                cells.append(f"{rows:>12,} rows{calls:>4} req")
            print(f"{label:18}" + "".join(f"{cell:>24}" for cell in cells))
        print(f"\nrequests per account: {', '.join(f'{n}: {t}' for n, t in zip(names, totals, strict=True))}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
