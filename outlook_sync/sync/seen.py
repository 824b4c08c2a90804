"""What Outlook held for one of our events when we last read or wrote it (``OutlookEventMapping.outlook_last_seen``).

Shown as ``outlookEventTitle`` / ``outlookEventDate`` and on the synced-events
page, so that during a conflict, or before a prefix change has reached Outlook,
the supplier sees Outlook's side and not WedSync's. Pure: the engine stores it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import mapping, plan

#: Stored when Outlook no longer holds the event (deleted there): Outlook's title and date are then empty.
GONE = {"subject": "", "title": "", "start": "", "allDay": False, "prefix": "", "deleted": True}


def last_seen(snapshot: Mapping[str, Any] | None, prefixes: Iterable[str | None]) -> dict | None:
    """``{"subject", "title", "start", "allDay", "prefix"}`` from Outlook's side as the planner sees it.

    ``snapshot`` is :class:`plan.Outlook`'s (raw subject as ``title``; ``when``
    with UTC ``...Z`` instants, or dates for all-day events). ``title`` is the
    subject without the prefix WedSync applied: the first of ``prefixes`` (the
    prefix of the write, then the one applied before) that the subject starts
    with. None when Outlook's side is unknown.
    """
    if not snapshot:
        return None
    subject = str(snapshot.get("title") or "")
    title, used = subject, ""
    for prefix in prefixes:
        if prefix and mapping.strip_prefix(subject, prefix) != subject:
            title, used = mapping.strip_prefix(subject, prefix), prefix
            break
    when = snapshot.get("when") or {}
    return {"subject": subject, "title": title, "start": str(when.get("start") or ""), "allDay": bool(when.get("allDay")), "prefix": used}


def last_seen_of(outlook: plan.Outlook, prefixes: Iterable[str | None]) -> dict | None:
    """:func:`last_seen` of what the planner saw of Outlook; :data:`GONE` when Outlook confirmed the event deleted
    (a 404), so Outlook's side never shows a title it no longer holds. None when Outlook's side is unknown."""
    if outlook.seen is plan.Seen.DELETED:
        return dict(GONE)
    return last_seen(outlook.snapshot, prefixes)
