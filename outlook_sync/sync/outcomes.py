"""Outcomes of a sync run that are not Microsoft's answers but end up in a ``SyncError`` like them.

They are :class:`~outlook_sync.graph.errors.GraphError` subclasses so that a run
treats them as it treats an outage (recorded, retried); their words are
:mod:`outlook_sync.wording`'s.
"""
from __future__ import annotations

from ..graph.errors import GraphError


class SyncBusy(GraphError):
    """Another run of the same integration held the run lock for the whole wait: this run is closed, the next catches up."""

    retryable = True


class KeptChanging(GraphError):
    """One event moved on a side every time we planned it (more than ``SyncEngine.MAX_REPLANS`` times in one run)."""

    retryable = True
