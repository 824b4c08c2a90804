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
