"""Flat memory over long runs: glibc's malloc gets a fixed mmap threshold.

Window threads read pages of about 0.5 MB (1,000 events) as bytes, freed once written. Each time glibc frees such a
block it raises its mmap threshold (the "dynamic mmap threshold", up to 32 MB, mallopt(3)), and later pages are
then carved out of the threads' heap arenas, which fragment. Measured with tests/tap/test_tap_memory.py's sampler,
24 windows, rate limits off: peak RSS 186 MB at 200,000 events, 242 MB at 2,000,000 and 269 MB at 4,000,000. With the
threshold fixed at glibc's default (128 KiB) each page keeps its own mapping, returned to the system when freed:
174, 184 and 188 MB. The cost: page faults on fresh mappings, about 1.2 s of system CPU per 1,000,000 events (2.6-2.9 s
against 1.3-1.5 s, record mode, no latency), within the run-to-run noise of the whole run's CPU on this machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value; setting it turns the dynamic threshold off


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold for this process; False where the C library has no mallopt (macOS) or refuses."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
