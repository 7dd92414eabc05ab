"""`klaviyo-sandbox serve`: start the local Klaviyo API."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from .app import make_app
from .routing import SANDBOX_KEY
from .settings import DataSettings, FaultSettings, LatencySettings, LateSettings, SandboxSettings

ADMIN_HELP = """\
admin routes (not Klaviyo's API, no auth), for tests and benchmarks:
  GET  /_sandbox/health                 {"status": "ok"}
  GET  /_sandbox/accounts               [{"account", "api_key", "id"}]
  GET  /_sandbox/stats                  requests, 429s, faults and statuses per account and endpoint bucket
  GET  /_sandbox/requests               the API requests served, oldest first, with small JSON bodies;
                                        filters ?path=<prefix>&method=&account_id=
  POST /_sandbox/reset                  forget rate-limit windows, counters and the request log
  POST /_sandbox/accounts/{id}/activity {"profiles": n, "events": n, "others": n, "segment_changes": n,
                                        "list_changes": n, "seed": s}: the account changes as a live one does;
                                        answers the ids changed and the (group, profile) pairs that left/joined
  GET  /_sandbox/accounts/{id}/late     late events not readable yet (--late-share), with when each appears
  POST /_sandbox/accounts/{id}/late/release  every late event of the account readable now
  POST /_sandbox/accounts/{id}/profiles/{profile_id}/delete  delete a profile at once, as Klaviyo's UI does
  POST /_sandbox/accounts/{id}/deletions/run  carry out the account's requested data-privacy deletions now
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="klaviyo-sandbox", description="A local, faithful Klaviyo API.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the API server", formatter_class=_HelpFormatter, epilog=ADMIN_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    data = serve.add_argument_group("data set (deterministic from the seed)")
    data.add_argument("--accounts", type=int, default=3, help="number of Klaviyo accounts (brands)")
    data.add_argument("--seed", type=int, default=7)
    data.add_argument("--events", type=int, default=DataSettings.events, help="events per account")
    data.add_argument("--profiles", type=int, default=DataSettings.profiles, help="profiles per account")
    data.add_argument("--years", type=float, default=DataSettings.years, help="years the data spreads over")
    data.add_argument(
        "--end",
        type=_moment,
        default=DataSettings.end,
        help="when the data set ends (ISO 8601, UTC unless an offset is given, or 'today': today's midnight, UTC); "
        "tests of what happened in the last days (reports, lookbacks) and the demo end it today",
    )
    data.add_argument("--segments", type=int, default=DataSettings.segments, help="segments per account")
    data.add_argument(
        "--segment-members",
        type=int,
        default=DataSettings.segment_members,
        help="members of every segment, the same for each (at most --profiles); by default each segment has a size of "
        "its own",
    )
    slow = serve.add_argument_group("latency and faults")
    slow.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay added to every API response")
    slow.add_argument("--jitter-ms", type=float, default=0.0, help="uniform random extra delay, 0..jitter")
    slow.add_argument("--error-share", type=float, default=0.0, help="share of requests answered 500/502/503")
    slow.add_argument("--reset-share", type=float, default=0.0, help="share of connections reset")
    slow.add_argument("--slow-share", type=float, default=0.0, help="share of requests delayed by --slow-ms")
    slow.add_argument("--slow-ms", type=float, default=FaultSettings.slow_ms)
    slow.add_argument("--storm-share", type=float, default=0.0, help="chance per request of a 429 storm")
    slow.add_argument("--storm-seconds", type=float, default=FaultSettings.storm_seconds)
    slow.add_argument("--fault-seed", type=int, default=0)
    late = serve.add_argument_group("late events (Klaviyo is eventually consistent)")
    late.add_argument(
        "--late-share",
        type=float,
        default=LateSettings.share,
        help="share (0..1) of newly written events that no read sees until --late-hours after they were written; "
        "chosen by hashing the event id with --fault-seed; they keep their own datetime",
    )
    late.add_argument(
        "--late-hours",
        type=float,
        default=LateSettings.hours,
        help="how long a late event stays invisible (0.001 = 3.6 s)",
    )
    renames = serve.add_argument_group("metric renames")
    renames.add_argument(
        "--text-message-rename",
        type=_moment,
        default=None,
        metavar="AT",
        help="when Klaviyo renames the SMS metrics (Received SMS -> Received Text Message, Clicked SMS -> Clicked "
        "Text Message ...), keeping their ids, as it did around 2026-07-01 (ISO 8601 or 'today'); before AT they "
        "have their old names, from AT on the new ones (default: never)",
    )
    limits = serve.add_argument_group("rate limits and jobs")
    limits.add_argument(
        "--rate-limit-scale", type=float, default=1.0, help="multiplies every tier's limits; 0 turns rate limiting off"
    )
    limits.add_argument(
        "--job-seconds", type=float, default=SandboxSettings.job_seconds, help="seconds before a bulk job completes"
    )
    limits.add_argument(
        "--report-daily-quota",
        type=int,
        default=SandboxSettings.report_daily_quota,
        help="requests per account and report endpoint per day (scaled by --rate-limit-scale, at least 1)",
    )
    serve.add_argument(
        "--accounts-file", type=Path, help='write the accounts as JSON [{"account", "api_key", "id"}] to this file'
    )
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option, and the epilog (the admin routes) as written."""


def _moment(text: str) -> datetime:
    if text == "today":
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def settings_from(args: argparse.Namespace) -> SandboxSettings:
    if args.segment_members is not None and not 0 <= args.segment_members <= args.profiles:
        raise ValueError(
            f"--segment-members must be between 0 and --profiles ({args.profiles}), got {args.segment_members}"
        )
    if args.report_daily_quota < 1:
        raise ValueError(f"--report-daily-quota must be at least 1, got {args.report_daily_quota}")
    return SandboxSettings(
        data=DataSettings(
            seed=args.seed,
            accounts=args.accounts,
            events=args.events,
            profiles=args.profiles,
            years=args.years,
            end=args.end,
            segments=args.segments,
            segment_members=args.segment_members,
        ),
        latency=LatencySettings(fixed_ms=args.latency_ms, jitter_ms=args.jitter_ms),
        faults=FaultSettings(
            error_share=args.error_share,
            reset_share=args.reset_share,
            slow_share=args.slow_share,
            slow_ms=args.slow_ms,
            storm_share=args.storm_share,
            storm_seconds=args.storm_seconds,
            seed=args.fault_seed,
        ),
        late=LateSettings(share=args.late_share, hours=args.late_hours),
        rate_limit_scale=args.rate_limit_scale,
        job_seconds=args.job_seconds,
        report_daily_quota=args.report_daily_quota,
        text_message_rename=args.text_message_rename,
    )


async def start_server(args: argparse.Namespace) -> tuple[web.AppRunner, str]:
    """Build a sandbox from `serve`'s options and start listening (the host, host.py, starts many this way): its
    runner, to stop it with `cleanup()`, and its base URL."""
    app = make_app(settings_from(args))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    if args.accounts_file:
        args.accounts_file.write_text(json.dumps(app[SANDBOX_KEY].accounts_file(), indent=2) + "\n")
    return runner, f"http://{args.host}:{port}"


async def serve(args: argparse.Namespace) -> None:
    runner, url = await start_server(args)
    # One parseable line that says the server is up (the pytest fixture and scripts wait for it).
    print(f"klaviyo-sandbox listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings_from(args)  # validate early, with the setting's name in the message
        asyncio.run(serve(args))
    except ValueError as exc:
        print(failure_line(exc, args), file=sys.stderr)
        return 2
    except OSError as exc:
        print(failure_line(exc, args), file=sys.stderr)
        return 1
    return 0


def failure_line(exc: ValueError | OSError, args: argparse.Namespace) -> str:
    """The one line `serve` prints when it cannot start (the host, host.py, answers it too): a setting it refuses,
    or an address it cannot listen on."""
    if isinstance(exc, ValueError):
        return f"klaviyo-sandbox: {exc}"
    return f"klaviyo-sandbox: cannot listen on {args.host}:{args.port}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
