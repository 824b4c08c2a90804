"""Celery queues: interactive work never waits behind background fan-out.

Two queues, both named from ``CELERY_TASK_DEFAULT_QUEUE`` when a task is sent (so a
deployment, or each test run and xdist worker, gets its own pair):

* **interactive** = ``CELERY_TASK_DEFAULT_QUEUE`` itself (``wedsync``): a supplier's
  edit pushed, a notification's incremental sync, a manual sync, force sync, undo,
  connecting (first subscription). Everything not routed elsewhere lands here,
  so a task nobody thought about is never stuck behind a sweep.
* **background** = ``<CELERY_TASK_DEFAULT_QUEUE>-background`` (``wedsync-background``):
  beat's fan-out (safety-net sweeps and their runs, daily full reads, subscription
  renewal, token refresh, journal pruning, calendar-list refresh).

A worker for each (README, "Workers and queues"): the interactive worker consumes
only the interactive queue, so however long the background queue grows it never
delays a supplier's edit. A single worker may consume both (the demo); Celery's
Redis transport then takes from the queues in turn.
"""
from __future__ import annotations

from celery import current_app

#: Tasks that are background whoever sends them (beat's entries and what they fan out).
BACKGROUND_TASKS = frozenset({
    "outlook_sync.tasks.safety_net_sync",
    "outlook_sync.tasks.safety_net_sync_one",
    "outlook_sync.tasks.maintain_subscriptions",
    "outlook_sync.tasks.fan_out_chunk",
    "outlook_sync.tasks.refresh_expiring_tokens",
    "outlook_sync.tasks.prune_change_journal",
    "outlook_sync.tasks.refresh_calendar_list",
})

BACKGROUND_SUFFIX = "-background"


def interactive(default: str | None = None) -> str:
    """The interactive queue's name (the default queue)."""
    return default or current_app.conf.task_default_queue


def background(default: str | None = None) -> str:
    """The background queue's name: the default queue's name + ``-background``."""
    return f"{interactive(default)}{BACKGROUND_SUFFIX}"


def both(default: str | None = None) -> list[str]:
    """Both queues, interactive first (what ``celery worker -Q`` takes for a worker that serves both)."""
    return [interactive(default), background(default)]


def route(name, args, kwargs, options, task=None, **_):
    """``CELERY_TASK_ROUTES``: background tasks to the background queue; the rest to the default (interactive) one.

    A queue given when sending (``apply_async(queue=...)``) wins over this, so a sync run started by a sweep
    goes to the background queue although ``run_sync`` is interactive when a supplier starts it.
    """
    if name in BACKGROUND_TASKS:
        return {"queue": background()}
    return None
