"""Ids that look like Klaviyo's and decode back to the generator's index without a lookup table.

That is what lets a million generated events live in no memory at all: an event id is a
reversible scramble of (account, index), so `GET /events/{id}` finds its event by arithmetic.
"""

from __future__ import annotations

import hashlib

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford, as ULIDs use
_MOD = 1 << 48
_MUL = 0x5DEECE66D  # odd, so invertible modulo 2**48
_INV = pow(_MUL, -1, _MOD)


def salt(*parts: object) -> int:
    """A stable 48-bit number from any parts (used to give every account its own id space)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


# Two digits per step: ids are generated for every record served, so this is on the hot path.
_B62_PAIRS = [a + b for a in _B62 for b in _B62]
_B32_PAIRS = [a + b for a in _B32 for b in _B32]


def _digits(n: int, width: int, base: int, single: str, pairs: list[str]) -> str:
    out = []
    if width & 1:
        n, r = divmod(n, base)
        out.append(single[r])
    square = base * base
    for _ in range(width >> 1):
        n, r = divmod(n, square)
        out.append(pairs[r])
    return "".join(reversed(out))


def _b62(n: int, width: int) -> str:
    return _digits(n, width, 62, _B62, _B62_PAIRS)


def _unb62(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 62 + _B62.index(ch)
    return n


def scramble(index: int, account_salt: int) -> int:
    return ((index ^ account_salt) * _MUL) % _MOD


def unscramble(value: int, account_salt: int) -> int:
    return ((value * _INV) % _MOD) ^ account_salt


def short_id(index: int, account_salt: int, width: int = 9) -> str:
    """Ids like Klaviyo's event, metric and list ids (base62, fixed width)."""
    return _b62(scramble(index, account_salt), width)


def short_index(text: str, account_salt: int, width: int = 9) -> int | None:
    if len(text) != width or any(ch not in _B62 for ch in text):
        return None
    value = _unb62(text)
    if value >= _MOD:
        return None
    return unscramble(value, account_salt)


def ulid(ms: int, index: int, account_salt: int) -> str:
    """A 26-character ULID as Klaviyo uses for profiles: time-ordered, index in the random part."""
    rand = (scramble(index, account_salt) << 32) | (account_salt & 0xFFFFFFFF)
    return _digits((ms << 80) | rand, 26, 32, _B32, _B32_PAIRS)


def ulid_index(text: str, account_salt: int) -> int | None:
    if len(text) != 26 or any(ch not in _B32 for ch in text):
        return None
    value = 0
    for ch in text:
        value = value * 32 + _B32.index(ch)
    rand = value & ((1 << 80) - 1)
    if rand & 0xFFFFFFFF != account_salt & 0xFFFFFFFF:
        return None
    return unscramble(rand >> 32, account_salt)
