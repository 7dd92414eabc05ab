"""`local-stand-ins up`: the sandbox and S3 at the addresses in `.env`, until Ctrl-C, for running meltano by hand."""

from __future__ import annotations

import argparse
import signal
import threading

from .stack import ACCOUNTS_URI, start_local_stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="local-stand-ins", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the Klaviyo sandbox and a local S3 and keep them running")
    up.add_argument("--sandbox-port", type=int, default=8765)
    up.add_argument("--s3-port", type=int, default=5555)
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
        stack.stop()


if __name__ == "__main__":
    main()
