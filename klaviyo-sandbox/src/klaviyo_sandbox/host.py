"""Many sandboxes in one process, each its own server on its own port, started and stopped on request.

A test suite starts about a hundred sandboxes. As processes, each costs an interpreter's start-up (~0.5 CPU-s:
Python, aiohttp, numpy); in a host, a few milliseconds. Each is built from `serve`'s options by the same code
(`cli.start_server`) and has its own settings, port, data, rate limits, jobs and request log: only the process and
its event loop are shared. The pytest plugin starts one host per test process and asks it for every sandbox.

    python -m klaviyo_sandbox.host    # prints "klaviyo-sandbox host listening on http://127.0.0.1:<port>"

    POST   /sandboxes       {"args": ["--accounts", "1", ...]} -> {"id": "1", "url": "http://127.0.0.1:<port>"};
                            400 {"error": "..."} for options `serve` refuses, with the line it would print
    DELETE /sandboxes/{id}  stop it: its port closes and its connections end

It ends on SIGTERM or SIGINT, or when its stdin closes: the process that started it has ended, even if killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import signal
import sys
import threading

from aiohttp import web

from .cli import build_parser, failure_line, start_server

READY_PREFIX = "klaviyo-sandbox host listening on "


class Host:
    """The sandboxes this process serves, by id."""

    def __init__(self) -> None:
        self.runners: dict[str, web.AppRunner] = {}
        self._ids = itertools.count(1)

    async def start(self, request: web.Request) -> web.Response:
        body = await request.json()
        args = body.get("args") if isinstance(body, dict) else None
        if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
            return web.json_response({"error": 'the body must be {"args": [serve options as strings]}'}, status=400)
        try:
            options = parse_serve_options(args)
        except ValueError as exc:
            return web.json_response({"error": f"klaviyo-sandbox: {exc}"}, status=400)
        try:
            runner, url = await start_server(options)  # ValueError first for a setting settings_from refuses
        except (ValueError, OSError) as exc:
            return web.json_response({"error": failure_line(exc, options)}, status=400)
        sandbox_id = str(next(self._ids))
        self.runners[sandbox_id] = runner
        return web.json_response({"id": sandbox_id, "url": url})

    async def stop(self, request: web.Request) -> web.Response:
        runner = self.runners.pop(request.match_info["id"], None)
        if runner is None:
            return web.json_response({"error": "no such sandbox"}, status=404)
        await runner.cleanup()
        return web.json_response({"stopped": request.match_info["id"]})

    async def stop_all(self) -> None:
        while self.runners:
            await self.runners.popitem()[1].cleanup()


def parse_serve_options(args: list[str]) -> argparse.Namespace:
    """`serve`'s options read as the command line reads them; ValueError with the line argparse would print (the
    checks it cannot make are settings_from's, when start_server builds the sandbox)."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            options = build_parser().parse_args(["serve", *args])
    except SystemExit:
        lines = errors.getvalue().strip().splitlines()
        raise ValueError(
            lines[-1].removeprefix("klaviyo-sandbox: ") if lines else f"not serve's options: {args}"
        ) from None
    return options


async def run_host(host_name: str = "127.0.0.1") -> None:
    host = Host()
    app = web.Application()
    app.router.add_post("/sandboxes", host.start)
    app.router.add_delete("/sandboxes/{id}", host.stop)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host_name, 0).start()
    print(f"{READY_PREFIX}http://{host_name}:{runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # stdin is a pipe from the process that started the host: end of file means that process is gone.
    threading.Thread(target=_wait_for_eof, args=(loop, stop), daemon=True).start()
    await stop.wait()
    await host.stop_all()
    await runner.cleanup()


def _wait_for_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    sys.stdin.buffer.read()
    loop.call_soon_threadsafe(stop.set)


if __name__ == "__main__":
    asyncio.run(run_host())
