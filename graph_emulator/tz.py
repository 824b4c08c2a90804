"""Time zones and Graph's date-time format.

Graph speaks Windows zone names ("Pacific Standard Time") as well as IANA
names, and writes date-times as ``2026-06-20T16:00:00.0000000`` (seven
fractional digits, no offset) in the zone the caller asked for with
``Prefer: outlook.timezone``. Internally every instant is an aware UTC
``datetime``.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

UTC = dt.timezone.utc
_WINDOWS = {name.lower(): iana for name, iana in win_tz.items()}
_UTC_ALIASES = {"utc", "etc/utc", "tzone://microsoft/utc", "coordinated universal time", "gmt", "z", "etc/gmt"}


class UnknownTimeZone(ValueError):
    """A zone name that is neither a Windows nor an IANA name."""


def resolve_zone(name: str | None) -> dt.tzinfo:
    """Return the tzinfo for a Windows or IANA zone name (case-insensitive for Windows names)."""
    text = (name or "").strip()
    if not text or text.lower() in _UTC_ALIASES:
        return UTC
    iana = _WINDOWS.get(text.lower())
    if iana:
        return ZoneInfo(iana)
    if ".." in text or text.startswith("/"):
        raise UnknownTimeZone(text)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(text) from None


def is_known_zone(name: str | None) -> bool:
    try:
        resolve_zone(name)
        return True
    except UnknownTimeZone:
        return False


_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


class BadDateTime(ValueError):
    pass


def parse_local(text: str) -> tuple[dt.datetime, dt.tzinfo | None]:
    """Parse an ISO-8601-ish date-time; return (naive wall clock, offset tz or None)."""
    m = _DT_RE.match((text or "").strip())
    if not m:
        raise BadDateTime(text)
    year, month, day, hour, minute, second, frac, offset = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        naive = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro)
    except ValueError:
        raise BadDateTime(text) from None
    tz = None
    if offset:
        if offset.upper() == "Z":
            tz = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    return naive, tz


def to_instant(text: str, zone_name: str | None) -> dt.datetime:
    """A Graph ``{dateTime, timeZone}`` pair as an aware UTC instant.

    An explicit offset in ``text`` wins over ``zone_name`` (Graph does the same).
    """
    naive, offset_tz = parse_local(text)
    if offset_tz is not None:
        return naive.replace(tzinfo=offset_tz).astimezone(UTC)
    return naive.replace(tzinfo=resolve_zone(zone_name)).astimezone(UTC)


def parse_query_instant(text: str) -> dt.datetime:
    """startDateTime/endDateTime query values: an offset if given, else UTC (Graph's rule)."""
    naive, offset_tz = parse_local(text)
    return naive.replace(tzinfo=offset_tz or UTC).astimezone(UTC)


def format_local(instant: dt.datetime, zone: dt.tzinfo) -> str:
    """``2026-06-20T16:00:00.0000000`` in ``zone``: seven fractional digits, no offset."""
    local = instant.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}0"


def format_utc_z(instant: dt.datetime) -> str:
    """``2026-06-20T16:00:00.1234567Z``: how Graph writes createdDateTime and friends."""
    return format_local(instant, UTC) + "Z"


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def iso(instant: dt.datetime) -> str:
    """Internal storage form (round-trips through ``from_iso``)."""
    return instant.astimezone(UTC).isoformat()


def from_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)
