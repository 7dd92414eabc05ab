"""Everything a sandbox run can be configured with: data set, latency, faults, late events, rate-limit scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class DataSettings:
    """The generated data set; the same settings and seed always give the same data."""

    seed: int = 7
    accounts: int = 3
    events: int = 5_000  # per account
    profiles: int = 1_000  # per account
    years: float = 3.0  # events and profiles spread over this many years before `end`
    end: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    segments: int = 12  # per account
    # Members of every segment, all the same size (the shape of an account's membership to measure, e.g. 20 segments
    # of 200,000); None: each segment has a size of its own, from a fortieth to a third of the profiles.
    segment_members: int | None = None


@dataclass(frozen=True)
class LatencySettings:
    """Added to every API response (not to /_sandbox admin calls)."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform extra delay in [0, jitter_ms]


@dataclass(frozen=True)
class FaultSettings:
    """Shares (0..1) of API requests that fail on purpose, decided before the handler runs."""

    error_share: float = 0.0  # answered with 500, 502 or 503
    reset_share: float = 0.0  # TCP connection reset with no response
    slow_share: float = 0.0  # delayed by `slow_ms` on top of the latency
    slow_ms: float = 5_000.0
    # A 429 storm: every request of an account is throttled for `storm_seconds`, starting
    # at a random request with probability `storm_share` per request.
    storm_share: float = 0.0
    storm_seconds: float = 5.0
    seed: int = 0


@dataclass(frozen=True)
class LateSettings:
    """Eventual consistency: a share (0..1) of newly written events is invisible to every read for `hours`
    (wall clock, fractions allowed) after it was written; which ones is decided by their id and the fault seed."""

    share: float = 0.0
    hours: float = 6.0


@dataclass(frozen=True)
class SandboxSettings:
    data: DataSettings = field(default_factory=DataSettings)
    latency: LatencySettings = field(default_factory=LatencySettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    late: LateSettings = field(default_factory=LateSettings)
    # Multiplies every tier's burst and steady limits; 0 turns rate limiting off.
    rate_limit_scale: float = 1.0
    # When the account's SMS metrics take their "Text Message" names (metric_renames.py); None: never.
    text_message_rename: datetime | None = None
    # Seconds a bulk job stays queued/processing before it completes.
    job_seconds: float = 0.5
    # Requests per account and report endpoint per day (SDK docstrings of ReportingApi: "Daily: 225/d");
    # multiplied by rate_limit_scale like every limit, never below 1.
    report_daily_quota: int = 225
