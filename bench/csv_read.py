"""tap-csv's speed and memory on large files: rows per second and peak RSS, by number of rows.

    .venv/bin/python bench/csv_read.py [--rows 200000 1000000] [--folder /tmp/csv-bench]

Writes CSV files shaped like data/sample_orders.csv (16 columns, ~150 bytes a row, some empty cells, quoted
commas, non-ASCII), runs the tap over each as its own process with its output read through a pipe (as Meltano
does), and prints for each: records, wall seconds, rows per second, rows per CPU-second and peak RSS in MB, then
the peak RSS of the largest file relative to the smallest (flat memory: close to 1.0).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from process_cost import MeasuredProcess, ProcessCost

HEADER = [
    "ORDER_ID",
    "COUPON_CODE",
    "BILL_FIRST_NAME",
    "BILL_LAST_NAME",
    "BILL_ADDRESS1",
    "BILL_CITY",
    "BILL_COUNTRY_CODE",
    "BILL_STATE_CODE",
    "BILL_ZIP",
    "BILL_COMPANY_NAME",
    "BILL_PHONE",
    "ORDER_TYPE",
    "ORDER_STATUS",
    "DATE_ORDERED",
    "EMAIL",
    "ORDER_TOTAL",
]
FIRST = ["John", "Michael", "Sarah", "Steve", "Mary", "José", "Zoë", "Łukasz"]
LAST = ["Smith", "Cooper", "Jones", "Franklin", "Washington", "Müller", "O'Brien"]
CITIES = ["Mountain View", "Naperville", "Gainesville", "Phoenix", "Scottsdale", "São Paulo"]
RECORD_MARK = b'{"type":"RECORD"'


def write_orders(path: Path, rows: int) -> int:
    """A CSV of `rows` orders; returns its size in bytes."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            first, last = FIRST[index % len(FIRST)], LAST[index % len(LAST)]
            writer.writerow(
                [
                    30000 + index,
                    "DISCOUNT30" if index % 3 == 0 else "",
                    first,
                    last,
                    f"{index % 97} Maple Lane",
                    CITIES[index % len(CITIES)],
                    "USA",
                    "CA",
                    f"{94000 + index % 999}",
                    "Acme, Inc." if index % 5 == 0 else "",
                    f"555-{index % 1000:03d}-{index % 10000:04d}",
                    "B2C",
                    "Shipped",
                    f"2013-{1 + index % 12:02d}-{1 + index % 28:02d} 19:39:03",
                    f"{first.lower()}.{last.lower()}.{index}@example.com",
                    f"{index % 500}.{index % 100:02d}",
                ]
            )
    return path.stat().st_size


def run_tap(csv_path: Path, folder: Path) -> tuple[int, ProcessCost]:
    """Records and cost of one tap run, its output read through a pipe."""
    config = folder / f"{csv_path.stem}.config.json"
    config.write_text(json.dumps({"files": [{"entity": "orders", "path": str(csv_path)}]}))
    run = MeasuredProcess([sys.executable, "-m", "tap_csv.tap", "--config", str(config)], stdout=subprocess.PIPE)
    records = 0

    def count() -> None:
        nonlocal records
        tail = b""
        while chunk := run.process.stdout.read(1 << 20):
            data = tail + chunk
            records += data.count(RECORD_MARK)
            # Keep a partial mark for the next chunk, but never a whole one (counted already).
            tail = data[-(len(RECORD_MARK) - 1) :]

    reader = threading.Thread(target=count)
    reader.start()
    cost = run.wait()
    reader.join()
    if cost.exit_code != 0:
        raise SystemExit(f"tap failed on {csv_path} with status {cost.exit_code}")
    # The peak is the tap's own only while this script stays smaller (it writes CSV row by row and holds no output).
    if not cost.peak_is_own:
        print(f"warning: this script's peak RSS ({cost.parent_peak_rss_mb:.0f} MB) hides the tap's", file=sys.stderr)
    return records, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--folder", type=Path, help="where to write the CSV files (a temporary folder otherwise)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures (for tests)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as temporary:
        folder = args.folder or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        peaks: dict[int, float] = {}
        figures = []
        print(
            f"{'rows':>10} {'MB of CSV':>10} {'records':>10} {'wall s':>8} {'rows/s':>9} {'rows/CPU-s':>11} "
            f"{'peak RSS MB':>12}"
        )
        for rows in args.rows:
            csv_path = folder / f"orders_{rows}.csv"
            size = write_orders(csv_path, rows)
            records, cost = run_tap(csv_path, folder)
            wall, cpu, peaks[rows] = cost.wall_seconds, cost.cpu_seconds, cost.peak_rss_mb
            if records != rows:
                raise SystemExit(f"{csv_path}: {records} records for {rows} rows")
            print(
                f"{rows:>10} {size / 2**20:>10.1f} {records:>10} {wall:>8.1f} {rows / wall:>9.0f} "
                f"{rows / cpu:>11.0f} {peaks[rows]:>12.1f}",
                flush=True,
            )
            figures.append(
                {
                    "rows": rows,
                    "csv_bytes": size,
                    "records": records,
                    "wall_seconds": wall,
                    "cpu_seconds": cpu,
                    "peak_rss_mb": peaks[rows],
                }
            )
            csv_path.unlink()
        smallest, largest = min(peaks), max(peaks)
        print(f"peak RSS at {largest} rows / at {smallest} rows: {peaks[largest] / peaks[smallest]:.2f}")
        if args.json:
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
