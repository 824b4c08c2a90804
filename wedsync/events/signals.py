"""Signals of the events domain.

``event_changed`` is sent once per committed change, never inside a
transaction that could still roll back. Keyword arguments:

- ``event_id`` (UUID), ``supplier_id`` (int), ``version`` (int)
- ``change``: ``"created"``, ``"updated"`` or ``"deleted"``
- ``source``: who made the change: ``"wedsync"`` (the supplier in WedSync) or
  the name of an integration that applied a remote change (e.g. ``"outlook"``),
  so that integration does not echo its own write back.
"""
from django.dispatch import Signal

event_changed = Signal()

#: Asked when an event is created or moved; receivers return a list of warnings
#: for the supplier (e.g. an integration that knows of other busy time). Keyword
#: arguments: ``supplier``, ``event``. Lets the events app show warnings without
#: knowing which integrations exist.
scheduling_warnings = Signal()


def collect_scheduling_warnings(event) -> list[str]:
    """The supplier's own clashing bookings first, then what other apps say (e.g. Outlook busy time)."""
    from .selectors import own_clashes

    warnings: list[str] = own_clashes(event.supplier, starts_at=event.starts_at, ends_at=event.ends_at, event_type=event.event_type,
                                      is_all_day=event.is_all_day, exclude_event_id=event.pk)
    for _receiver, answer in scheduling_warnings.send_robust(sender=event.__class__, supplier=event.supplier, event=event):
        if isinstance(answer, list):
            warnings.extend(str(w) for w in answer)
    return warnings
