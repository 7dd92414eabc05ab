"""`python -m local_stand_ins.moto_server --port N`: moto's server in this process, on N or (0) on a port the
system picks while binding, so that no other process can take it between a choice and the bind. It prints
`moto listening on <url>` once it listens, and serves until SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

READY_PREFIX = "moto listening on "


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stand_ins.moto_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadedMotoServer("127.0.0.1", args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["MOTO_PORT"] = str(port)  # moto builds its own URLs (SQS queues, presigned) from it
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"{READY_PREFIX}http://{host}:{port}", flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
