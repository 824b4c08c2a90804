"""Windows <-> IANA time zone names.

WedSync stores IANA names ("Europe/London"); Graph speaks Windows names
("GMT Standard Time") and also accepts IANA names on input. The table is the
Unicode CLDR mapping shipped with ``tzlocal``, the same one Outlook uses.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

UTC = dt.timezone.utc


class UnknownTimeZone(ValueError):
    pass


def to_windows(iana: str) -> str:
    """The Windows name for an IANA zone ("Europe/London" -> "GMT Standard Time"); UTC stays "UTC"."""
    if iana in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return "UTC"
    try:
        return tz_win[iana]
    except KeyError:
        raise UnknownTimeZone(iana) from None


def to_iana(name: str) -> str:
    """The IANA name for a Windows or IANA zone name ("Pacific Standard Time" -> "America/Los_Angeles")."""
    if not name:
        return "UTC"
    if name in win_tz:
        iana = win_tz[name]
        return "UTC" if iana == "Etc/UTC" else iana
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None
    return name


def zone(name: str) -> dt.tzinfo:
    """A tzinfo for a Windows or IANA name."""
    iana = to_iana(name)
    return UTC if iana == "UTC" else ZoneInfo(iana)


def parse_graph_datetime(value: str, zone_name: str) -> dt.datetime:
    """Graph's ``{"dateTime": "2026-06-20T16:00:00.0000000", "timeZone": ...}`` as an aware datetime.

    Graph sends seven fractional digits and no offset; Python reads six.
    """
    text = value.rstrip("Z")
    if "." in text:
        whole, fraction = text.split(".", 1)
        text = f"{whole}.{fraction[:6]}"
    naive = dt.datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zone(zone_name))


def format_graph_datetime(value: dt.datetime) -> str:
    """A naive local date-time in Graph's format (the zone travels separately)."""
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.0000000")
