"""Times as a person reads them, in their own zone: the pages' `local_time` filter, receipts, closed requests."""

from __future__ import annotations

import datetime as dt
import zoneinfo

DEFAULT_ZONE = "America/Chicago"


def local_time(value: dt.datetime | None, time_zone: str = DEFAULT_ZONE) -> str:
    """ "Dec 3, 2026 4:05 PM CST"; empty for no time."""
    if value is None:
        return ""
    return value.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%b %-d, %Y %-I:%M %p %Z")


def local_day(value: dt.datetime | None, time_zone: str = DEFAULT_ZONE) -> str:
    """ "Dec 3"; empty for no time."""
    return value.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%b %-d") if value else ""
