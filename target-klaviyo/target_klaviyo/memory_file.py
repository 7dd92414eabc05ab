"""The change memory's file format: what Klaviyo accepted for one (account, stream, kind), compact and checked.

    offset  size      what
    0       8         magic  b"TKLVMEM2" (version 2: XXH3 hashes; version 1 held BLAKE2b ones, and is read as
                      another version: its rows are sent once more)
    8       4         header length H (unsigned, little-endian)
    12      H         header, JSON: {"count": N, "id_width": W, "what": "<stream>/<kind>", "written_at": ISO},
                      padded with spaces so that the keys start at a multiple of 8 (read in place, aligned)
    12+H    8 N       keys: 64-bit hashes of the rows' keys, unsigned little-endian, sorted ascending, unique
            8 N       fingerprints: 64-bit hashes of what was sent for each key, in the keys' order
            W N       profile ids (list mirrors only, W > 0): ASCII, padded with NUL bytes to W
    end-16  16        BLAKE2b-128 of every byte before it

16 bytes a key (plus the id width for list members, 26 for Klaviyo's ULIDs): a million keys is 16 MB on disk and
in memory. Any other content (truncated, damaged, another version) raises `MemoryFileError`: the caller then
starts from an empty memory, which only means rows are sent again.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

MAGIC = b"TKLVMEM2"
OLD_MAGIC = b"TKLVMEM1"
CHECKSUM_BYTES = 16
KEY = np.dtype("<u8")

U64Array = npt.NDArray[np.uint64]


class MemoryFileError(ValueError):
    """Not a change memory file this version reads."""


@dataclass(frozen=True)
class Snapshot:
    """What Klaviyo accepted, key by key: sorted unique `keys`, their `fps`, and (list mirrors) profile `ids`."""

    keys: U64Array
    fps: U64Array
    ids: npt.NDArray[np.bytes_] | None = None

    @classmethod
    def empty(cls, with_ids: bool = False) -> Snapshot:
        none = np.zeros(0, dtype=KEY)
        return cls(none, none.copy(), np.zeros(0, dtype="S1") if with_ids else None)

    def __len__(self) -> int:
        return len(self.keys)


def encode(snapshot: Snapshot, what: str) -> bytes:
    ids = snapshot.ids
    width = int(ids.dtype.itemsize) if ids is not None and len(ids) else 0
    header = orjson.dumps(
        {"count": len(snapshot), "id_width": width, "what": what, "written_at": datetime.now(UTC).isoformat()}
    )
    header += b" " * (-(len(MAGIC) + 4 + len(header)) % 8)
    # Views of the arrays, hashed part by part and joined once: one copy of the memory, not three.
    parts: list[bytes | memoryview] = [
        MAGIC,
        struct.pack("<I", len(header)),
        header,
        np.ascontiguousarray(snapshot.keys, dtype=KEY).data.cast("B"),
        np.ascontiguousarray(snapshot.fps, dtype=KEY).data.cast("B"),
    ]
    if width and ids is not None:
        parts.append(np.ascontiguousarray(ids).data.cast("B"))
    checksum = hashlib.blake2b(digest_size=CHECKSUM_BYTES)
    for part in parts:
        checksum.update(part)
    return b"".join([*parts, checksum.digest()])


def decode(data: bytes, *, with_ids: bool = False) -> Snapshot:
    if data.startswith(OLD_MAGIC):
        raise MemoryFileError("version 1, written by target-klaviyo before 2026-12-03 with BLAKE2b keys")
    if len(data) < len(MAGIC) + 4 + CHECKSUM_BYTES or not data.startswith(MAGIC):
        raise MemoryFileError("not a target-klaviyo change memory (or another version of it)")
    # A view, not a slice: the arrays below are read in place, not copied.
    body = memoryview(data)[:-CHECKSUM_BYTES]
    if hashlib.blake2b(body, digest_size=CHECKSUM_BYTES).digest() != data[-CHECKSUM_BYTES:]:
        raise MemoryFileError("checksum mismatch: the file is truncated or damaged")
    (length,) = struct.unpack_from("<I", body, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header: dict[str, Any] = orjson.loads(body[start : start + length])
        count, width = int(header["count"]), int(header["id_width"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise MemoryFileError("unreadable header") from None
    offset = start + length
    if len(body) != offset + count * (16 + width):
        raise MemoryFileError(f"{len(body)} bytes where {count:,} keys take {offset + count * (16 + width)}")
    keys = _aligned(np.frombuffer(body, dtype=KEY, count=count, offset=offset))
    fps = _aligned(np.frombuffer(body, dtype=KEY, count=count, offset=offset + 8 * count))
    ids: npt.NDArray[np.bytes_] | None = None
    if with_ids:
        ids = (
            np.frombuffer(body, dtype=f"S{width}", count=count, offset=offset + 16 * count)
            if width
            else np.zeros(count, dtype="S1")
        )
    if count > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        raise MemoryFileError("keys out of order")
    return Snapshot(keys, fps, ids)


def _aligned(array: U64Array) -> U64Array:
    """The array itself when its memory is aligned; else an aligned copy. numpy's searchsorted copies an
    unaligned array on every call: a lookup per row would then cost a copy of the whole memory."""
    return array if array.flags.aligned else array.copy()
