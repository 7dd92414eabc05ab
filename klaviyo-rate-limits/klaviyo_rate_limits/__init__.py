"""Klaviyo's rate-limit tiers and a pacer for its fixed windows, shared by tap-klaviyo and target-klaviyo.

One tested implementation (tests/rate_limits/), installed next to each plugin: the plugins run in separate
virtual environments under Meltano, so they cannot import each other.
"""

from .limits import Limiters, WindowLimiter
from .tiers import TIERS, Tier

__all__ = ["TIERS", "Limiters", "Tier", "WindowLimiter"]
