"""Klaviyo's rate-limit tiers: the one table of burst/steady limits the sandbox uses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["L750", "XL", "XS", "L", "M", "S", "Tier", "parse_tier", "scaled"]


@dataclass(frozen=True, slots=True)
class Tier:
    burst: int  # requests per 1-second fixed window
    steady: int  # requests per 60-second fixed window
    # Requests per 24-hour fixed window, or None for no daily limit. Only the Reporting API has one
    # ("Daily: 225/d" in the SDK docstrings of ReportingApi; sync-completeness.md).
    daily: int | None = None


XS = Tier(1, 15)
S = Tier(3, 60)
M = Tier(10, 150)
L = Tier(75, 700)
L750 = Tier(75, 750)  # some "L" endpoints (profiles, lists, ...) allow 750/m instead of 700/m
XL = Tier(350, 3500)

# "75/s 750/m" as Klaviyo's docs write it; also tolerate "75/s, 750/min" and free spacing.
_TIER_RE = re.compile(r"^\s*(\d+)\s*/\s*s\s*[,;]?\s*(\d+)\s*/\s*m(?:in)?\s*$", re.IGNORECASE)

# Float products like 150 * 0.1 == 15.000000000000002 or 70 * 0.1 == 7.000000000000001 must not
# be nudged across an integer by rounding noise, so floor with a small tolerance.
_EPSILON = 1e-9


def parse_tier(text: str) -> Tier:
    """Parse "75/s 750/m" into Tier(75, 750); ValueError on anything else or on zero limits."""
    match = _TIER_RE.match(text)
    if match is None:
        raise ValueError(f"invalid rate-limit tier {text!r}; expected e.g. '75/s 750/m'")
    burst, steady = int(match.group(1)), int(match.group(2))
    if burst < 1 or steady < 1:
        raise ValueError(f"invalid rate-limit tier {text!r}; limits must be at least 1")
    return Tier(burst, steady)


def _scale_limit(limit: int, scale: float) -> int:
    # Floor, not round: a client tuned against a scaled sandbox must never exceed the real limit.
    return max(1, math.floor(limit * scale + _EPSILON))


def scaled(tier: Tier, scale: float) -> Tier:
    """Every limit multiplied by `scale` (> 0), floored, never below 1 so every endpoint stays usable."""
    if not scale > 0:  # also rejects NaN
        raise ValueError(f"scale must be > 0, got {scale!r}")
    if scale == 1:
        return tier
    daily = None if tier.daily is None else _scale_limit(tier.daily, scale)
    return Tier(_scale_limit(tier.burst, scale), _scale_limit(tier.steady, scale), daily)
