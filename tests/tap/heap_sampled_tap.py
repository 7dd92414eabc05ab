"""tap-klaviyo as `python -m tap_klaviyo.tap` runs it, with a thread that samples glibc's heaps every 20 ms.

    python tests/tap/heap_sampled_tap.py <the tap's arguments>   (HEAP_SAMPLES=<file> says where the samples go)

Each sample is (bytes written to stdout so far, MB in malloc's heaps): mallinfo2(3)'s `arena`, the memory malloc
has taken from the system for its heaps (every thread's arena), not counting blocks it mmapped on their own. They
are written to $HEAP_SAMPLES as JSON when the tap ends. stdout must be a file (its size is the run's progress).
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time

from tap_klaviyo.tap import TapKlaviyo


class MallInfo2(ctypes.Structure):
    # struct mallinfo2 of <malloc.h>: ten size_t fields, in this order.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def main() -> None:
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    samples: list[tuple[int, float]] = []

    def sample() -> None:
        while True:
            samples.append((os.fstat(1).st_size, mallinfo2().arena / 2**20))
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    try:
        TapKlaviyo.cli()
    finally:
        with open(os.environ["HEAP_SAMPLES"], "w") as out:
            json.dump(samples, out)


if __name__ == "__main__":
    main()
