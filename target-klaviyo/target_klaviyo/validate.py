"""Checks on one row's values, each failing with a reason a person can act on.

The limits are Klaviyo's (shared reference klaviyo-facts.md, the same ones the sandbox enforces): a row that
passes here is one Klaviyo accepts, so a bulk request is not refused whole because of one bad row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # Klaviyo refuses events before the year 2000 ...
LATEST_AHEAD = timedelta(days=365)  # ... and more than a year ahead
MAX_STRING_BYTES = 100 * 1024  # 100 KB per string value
MAX_EVENT_PROPERTIES = 300
MAX_ARRAY_ITEMS = 4_000
MAX_NESTING = 10
MAX_METRIC_NAME = 127  # "must be less than 128 characters"

# Klaviyo's own shape check (the sandbox uses the same): something@domain.tld, no spaces.
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
UNIX_SECONDS_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")
# Consent cells: a yes or a no, in the spellings warehouses and spreadsheets use, or the date consent was given.
CONSENT_YES = frozenset({"true", "t", "yes", "y", "1", "subscribed"})
CONSENT_NO = frozenset({"false", "f", "no", "n", "0", "unsubscribed"})


@dataclass(frozen=True)
class Consent:
    """A consent cell, read: subscribed or not, and when consent was given (a date in the past), if it says."""

    subscribed: bool
    consented_at: str | None = None


class Invalid(ValueError):
    """A value Klaviyo would refuse; the message is the reason written to the rejected-rows file."""

    def __init__(self, reason: str, code: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def is_empty(value: Any) -> bool:
    """Empty cells are left out of payloads, not sent as empty strings."""
    return value is None or (isinstance(value, str) and not value.strip())


def zone(name: str) -> tzinfo:
    """The configured zone for times written without one (raises ValueError naming the setting)."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"default_timezone: unknown time zone {name!r} (an IANA name such as 'UTC' or 'America/New_York')"
        ) from None


def check_phone_region(region: str | None) -> str | None:
    """The configured region for national phone numbers (raises ValueError naming the setting)."""
    if not region:
        return None
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"default_phone_region: unknown region {region!r} (an ISO 3166 code such as 'US' or 'GB')")
    return region.upper()


class ValueChecks:
    """Value parsers bound to the run's settings (time zone, phone region) and clock."""

    def __init__(self, default_zone: tzinfo, phone_region: str | None, now: datetime | None = None) -> None:
        self.default_zone = default_zone
        self.phone_region = phone_region
        self.now = now or datetime.now(UTC)
        self.latest = self.now + LATEST_AHEAD

    def time(self, value: Any, column: str) -> str:
        """ISO 8601 (a time without zone is in the default zone) or UNIX seconds, as ISO 8601 in UTC."""
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = self._from_unix(float(value), column, value)
        elif isinstance(value, str):
            text = value.strip()
            if UNIX_SECONDS_RE.fullmatch(text):
                moment = self._from_unix(float(text), column, value)
            else:
                try:
                    moment = datetime.fromisoformat(text)
                except ValueError:
                    raise Invalid(
                        f"{column}: time {value!r} is neither ISO 8601 (e.g. 2024-01-31T12:00:00Z) nor UNIX seconds",
                        "invalid_time",
                    ) from None
        else:
            raise Invalid(f"{column}: time {value!r} is neither ISO 8601 nor UNIX seconds", "invalid_time")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.default_zone)
        moment = moment.astimezone(UTC)
        if not EARLIEST_TIME <= moment <= self.latest:
            raise Invalid(
                f"{column}: time {value!r} ({moment.isoformat()}) is outside what Klaviyo accepts "
                "(from 2000-01-01 to one year ahead)",
                "time_out_of_range",
            )
        return moment.isoformat()

    @staticmethod
    def _from_unix(seconds: float, column: str, raw: Any) -> datetime:
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise Invalid(
                f"{column}: time {raw!r} as UNIX seconds is outside what Klaviyo accepts "
                "(from 2000-01-01 to one year ahead)",
                "time_out_of_range",
            ) from None

    @staticmethod
    def number(value: Any, column: str) -> float:
        if isinstance(value, bool):
            raise Invalid(f"{column}: {value!r} is not a number", "invalid_number")
        if isinstance(value, int | float | Decimal):  # singer-sdk reads a JSON number with a fraction as a Decimal
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise Invalid(
                    f"{column}: {value!r} is not a number (write 1234.5, without currency "
                    "signs or thousands separators)",
                    "invalid_number",
                ) from None
        else:
            raise Invalid(f"{column}: {value!r} is not a number", "invalid_number")
        if not math.isfinite(number):
            raise Invalid(f"{column}: {value!r} is not a finite number", "invalid_number")
        return number

    @staticmethod
    def email(value: Any, column: str) -> str:
        text = str(value).strip()
        if not EMAIL_RE.fullmatch(text):
            raise Invalid(f"{column}: {value!r} is not an email address", "invalid_email")
        return text

    def phone(self, value: Any, column: str) -> str:
        """E.164, as Klaviyo requires; national numbers are read in `default_phone_region`."""
        text = str(value).strip()
        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else self.phone_region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_possible_number(parsed):
            hint = "" if self.phone_region else " (set default_phone_region to read national numbers)"
            raise Invalid(
                f"{column}: {value!r} is not a phone number in E.164 form such as +15555550123{hint}",
                "invalid_phone_number",
            )
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    def consent(self, value: Any, column: str) -> Consent:
        """A boolean (true/false, yes/no, 1/0, subscribed/unsubscribed) or the date consent was given (ISO 8601,
        in the past: sent as a historical import with that `consented_at`)."""
        if isinstance(value, bool):
            return Consent(value)
        if isinstance(value, int | float) and value in (0, 1):
            return Consent(bool(value))
        text = str(value).strip()
        if text.lower() in CONSENT_YES:
            return Consent(True)
        if text.lower() in CONSENT_NO:
            return Consent(False)
        moment: datetime | None
        try:
            moment = datetime.fromisoformat(text) if len(text) > 10 else None
            if moment is None:
                moment = datetime.combine(date.fromisoformat(text), time(0))
        except ValueError:
            raise Invalid(
                f"{column}: consent {value!r} is neither a boolean (true/false, yes/no, 1/0) nor a date "
                "(ISO 8601, e.g. 2024-05-01 or 2024-05-01T10:00:00Z)",
                "invalid_consent",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.default_zone)
        moment = moment.astimezone(UTC)
        if moment > self.now:
            raise Invalid(
                f"{column}: consent date {value!r} is in the future; consent is recorded when it was given",
                "invalid_consent",
            )
        return Consent(True, moment.isoformat())

    @staticmethod
    def metric_name(value: Any, column: str) -> str:
        name = str(value).strip()
        if len(name) > MAX_METRIC_NAME:
            raise Invalid(
                f"{column}: metric name is {len(name)} characters; Klaviyo accepts at most {MAX_METRIC_NAME}",
                "metric_name_too_long",
            )
        return name


def check_size(value: Any, column: str, depth: int = 1) -> None:
    """Klaviyo's ingestion limits on one value: 100 KB per string, 4,000 array items, 10 levels of nesting."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_BYTES // 4 and len(value.encode()) > MAX_STRING_BYTES:
            raise Invalid(
                f"{column}: value is {len(value.encode()):,} bytes; Klaviyo accepts at most 100 KB per string",
                "value_too_large",
            )
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_NESTING:
        raise Invalid(f"{column}: nested more than {MAX_NESTING} levels deep", "value_too_large")
    if isinstance(value, list) and len(value) > MAX_ARRAY_ITEMS:
        raise Invalid(
            f"{column}: {len(value):,} array items; Klaviyo accepts at most {MAX_ARRAY_ITEMS:,}", "value_too_large"
        )
    for item in value.values() if isinstance(value, dict) else value:
        check_size(item, column, depth + 1)
