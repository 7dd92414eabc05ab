"""Flat memory over long runs: glibc's malloc gets a fixed mmap threshold.

Window threads read pages of about 0.5 MB (1,000 events) as bytes, freed once written. Each time glibc frees such a
block it raises its mmap threshold (the "dynamic mmap threshold", up to 32 MB, mallopt(3)), and later pages are
then carved out of the threads' heap arenas, which fragment. Measured with bench/tap_memory.py (one account, rate
limits off, 24 windows), peak RSS at 0.2, 2 and 4 million events: 179, 242 and 268 MB with glibc's dynamic threshold;
182, 189 and 192 MB with the threshold fixed at glibc's default (128 KiB), where each page keeps its own mapping,
returned to the system when freed. The cost: page faults on fresh mappings, about 0.8 s of system CPU per million
events (11.9 s against 8.5 s at 4 million), 8-17% of the tap's CPU there. So record_lines.py and batch_files.py make one
page-sized buffer of a page's output, not up to four.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value; setting it turns the dynamic threshold off


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold for this process; False where the C library has no mallopt (macOS) or refuses."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on, without a search for it
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
