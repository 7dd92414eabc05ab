"""`local-stand-ins up`: the sandbox and S3 at the addresses in `.env`, until Ctrl-C, for running meltano by hand."""

from __future__ import annotations

import argparse
import signal
import threading

from .file_drops import DROP_BUCKET, watch_drops
from .stack import ACCOUNTS_URI, start_local_stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="local-stand-ins", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the Klaviyo sandbox and a local S3 and keep them running")
    up.add_argument("--sandbox-port", type=int, default=8765)
    up.add_argument("--s3-port", type=int, default=5555)
    up.add_argument(
        "--file-drops",
        action="store_true",
        help=f"files that load themselves: a CSV put under s3://{DROP_BUCKET}/incoming/<stream>/ is loaded",
    )
    up.add_argument(
        "sandbox_args",
        nargs=argparse.REMAINDER,
        help="options for `klaviyo-sandbox serve` after `--`, e.g. -- --events 100000",
    )
    args = parser.parse_args()
    extra = [a for a in args.sandbox_args if a != "--"]
    stack = start_local_stack(*extra, sandbox_port=args.sandbox_port, s3_port=args.s3_port)
    names = ", ".join(a["account"] for a in stack.sandbox.accounts)
    print(f"Klaviyo sandbox: {stack.sandbox.url} ({names})")
    print(f"S3 (moto):       {stack.s3.endpoint_url} (accounts file {ACCOUNTS_URI})")
    sensor = watch_drops(stack) if args.file_drops else None
    if sensor:
        print(
            f"File drops:      s3://{DROP_BUCKET}/incoming/<stream>/*.csv -> SQS -> the Sensor's stand-in -> "
            f"meltano run csv-to-klaviyo (pods' logs: {sensor.scratch}); e.g. AWS_ACCESS_KEY_ID=local "
            f"AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {stack.s3.endpoint_url} s3 cp data/sample_orders.csv "
            f"s3://{DROP_BUCKET}/incoming/orders/"
        )
    print(
        "Now, in this folder: .venv/bin/meltano run tap-klaviyo target-snowflake   (Ctrl-C here stops both)", flush=True
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if sensor:
            sensor.stop()
        stack.stop()


if __name__ == "__main__":
    main()
