"""tap_klaviyo/memory.py: glibc gets its fixed mmap threshold; a C library without mallopt is left alone."""

from __future__ import annotations

import ctypes

from tap_klaviyo import memory


def test_glibc_takes_the_fixed_threshold():
    assert memory.fix_mmap_threshold() is True  # these machines run glibc


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch):
    class NoMallopt:  # a C library with no mallopt, as on macOS
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert memory.fix_mmap_threshold() is False
