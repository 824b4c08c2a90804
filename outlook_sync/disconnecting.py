"""Disconnect, worker side: remove this integration's own copies from Outlook (or leave them), then its local data.

The request (``actions.disconnect``) only marks the integration ``disconnecting``,
records the supplier's choice in an :class:`~.models.OutlookDisconnect` and
enqueues ``tasks.disconnect_integration``. :func:`advance` does the work:

1. Under the integration's run lock (a sync that is running finishes first; one
   that starts later sees ``disconnecting`` and is cancelled).
2. With "remove": lists this integration's copies (mapped ones, plus every event
   whose tag starts with this integration's id, so even copies whose mapping was
   lost). Nothing the supplier did in Outlook is lost: each copy Outlook changed
   since the last sync (its listed changeKey is not the synced one) or in an open
   conflict leaves through the planner (``engine.remove_copies_keeping_edits``:
   Outlook's edits reach WedSync, a conflicted field keeps WedSync's value and the
   event's description notes Outlook's, then the copy is deleted with ``If-Match``).
   The others are deleted through ``$batch`` (20 per envelope, the Graph client's
   mailbox slots keep it within Outlook's 4 concurrent requests) with ``If-Match``
   on the changeKey just read. A copy Outlook did not confirm (412: changed
   meanwhile, or an item that failed) goes through the planner too when it is one
   of WedSync's events (a tagged copy without a mapping is read again and deleted
   with its new changeKey); 404 counts as gone. After every batch the progress
   (``events_removed`` of ``events_to_remove``) is saved and the removed copies'
   mappings are forgotten, so a retry resumes where it stopped and never counts
   twice. Nothing else is touched: not the supplier's own events, not events
   tagged by another integration.
3. Deletes the change subscription, then (one transaction) keeps the settings for
   a reconnect and deletes the mappings and the integration.

Failures, decided here and documented in README ("Disconnecting"):

- Outlook throttled or unreachable (any retryable Graph error, or its mailbox
  slots stayed taken): nothing is lost, the progress stays, the supplier reads
  "Outlook is busy, we'll keep trying." and :func:`advance` returns when to try
  again (``Retry-After``, at least ``DISCONNECT_RETRY_SECONDS``, at most 600 s).
- Microsoft no longer accepts the connection (refresh token revoked or expired)
  or refuses outright (e.g. 403): the copies cannot be removed, and waiting will
  not change that. The local disconnect finishes anyway, and the outcome says how
  many copies are still in Outlook (``events_not_removed``) in words.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import locks, subscriptions, tokens
from .graph import calendar_api
from .graph.client import BATCH_LIMIT, GraphClient
from .graph.errors import GraphError, NotFoundError, ReauthorizationRequired, ThrottledError
from .models import (ConnectionState, DisconnectChoice, DisconnectStatus, MappingState, OutlookCalendarIntegration, OutlookDisconnect,
                     OutlookEventMapping, OutlookSavedSettings)
from .sync import engine, mapping

logger = logging.getLogger(__name__)

#: Never wait longer than this between two attempts (below the broker's visibility timeout, 900 s).
MAX_RETRY_SECONDS = 600
#: How long the worker waits for a running sync of the integration to finish before trying again later.
RUN_LOCK_WAIT_SECONDS = 120

BUSY = "Outlook is busy, we'll keep trying."
UNREACHABLE = "We can't reach Outlook just now, we'll keep trying."


def retry_delay(error: GraphError | None, attempts: int) -> float:
    """Seconds until the next attempt: Outlook's ``Retry-After`` when it gave one, else a doubling wait."""
    base = float(settings.DISCONNECT_RETRY_SECONDS)
    wait = max(base * 2 ** max(attempts - 1, 0), float(getattr(error, "retry_after", None) or 0))
    return min(wait, MAX_RETRY_SECONDS)


def advance(disconnect_id) -> float | None:
    """Carry one disconnect as far as it goes. Returns ``None`` when it is finished, else seconds to wait before trying again."""
    record = OutlookDisconnect.objects.select_related("integration").filter(pk=disconnect_id).first()
    if record is None or record.status == DisconnectStatus.COMPLETED:
        return None
    integration = record.integration
    if integration is None:  # gone already (a redelivered task after the last step)
        _mark_finished(record)
        return None
    try:
        with locks.exclusive(f"sync-run:{integration.pk}", timeout=30, wait=RUN_LOCK_WAIT_SECONDS, heartbeat=True):
            # Another copy of this task (a repeated DELETE re-sends it, so may the beat) may have moved the disconnect
            # on, or finished it and removed the integration, while this one waited for the lock: go on from there.
            record.refresh_from_db()
            if record.status == DisconnectStatus.COMPLETED:
                return None
            if record.integration_id is None:
                _mark_finished(record)
                return None
            integration.refresh_from_db()
            _remove_and_forget(record, integration)
        return None
    except locks.LockTimeout as exc:
        return _wait(record, BUSY, exc, None)
    except ReauthorizationRequired:
        logger.info("Disconnect %s: Microsoft no longer accepts integration %s; finishing locally", record.pk, integration.pk)
        _finish_without_outlook(record, integration)
        return None
    except GraphError as exc:
        if exc.retryable:
            return _wait(record, BUSY if isinstance(exc, ThrottledError) else UNREACHABLE, exc, exc)
        logger.warning("Disconnect %s: Outlook refused (%s %s); finishing locally", record.pk, exc.status, exc.code or type(exc).__name__)
        _finish_without_outlook(record, integration, refused=True)
        return None


def _wait(record: OutlookDisconnect, words: str, exc: Exception, error: GraphError | None) -> float:
    attempts = record.attempts + 1
    OutlookDisconnect.objects.filter(pk=record.pk).update(problem=words, attempts=attempts)
    delay = retry_delay(error, attempts)
    logger.info("Disconnect %s waits %.0f s (attempt %d): %s", record.pk, delay, attempts, type(exc).__name__)
    return delay


def _remove_and_forget(record: OutlookDisconnect, integration: OutlookCalendarIntegration) -> None:
    if integration.needs_reauthorization:
        _finish_without_outlook(record, integration)
        return
    client = tokens.graph_client(integration)
    if record.choice == DisconnectChoice.REMOVE:
        _remove_copies(record, integration, client)
    if integration.webhook_subscription_id:
        record.webhook_unsubscribed = subscriptions.unsubscribe(client, integration)
    record.problem = ""
    _forget(record, integration)


def our_copies(client: GraphClient, integration: OutlookCalendarIntegration) -> dict[str, str | None]:
    """This integration's copies in Outlook, by id, with the changeKey just read (None for a mapped copy not listed)."""
    calendar_ids = set(integration.mappings.values_list("outlook_calendar_id", flat=True)) | ({integration.calendar_id} - {None})
    found: dict[str, str | None] = dict.fromkeys(integration.mappings.values_list("outlook_event_id", flat=True))
    for calendar_id in sorted(calendar_ids):
        for event in calendar_api.tagged_events(client, calendar_id, mapping.TAG_PROPERTY_ID, value_prefix=f"{integration.pk}:"):
            found[event.id] = event.change_key
    return found


def _remove_copies(record: OutlookDisconnect, integration: OutlookCalendarIntegration, client: GraphClient) -> None:
    copies = our_copies(client, integration)
    record.events_to_remove = record.events_removed + len(copies)
    record.save(update_fields=["events_to_remove"])
    # Nothing lost: a copy edited in Outlook since the last sync (its changeKey moved), or in an open conflict,
    # goes through the planner first: its edits reach WedSync, then it is deleted.
    edited = edited_since_last_sync(integration, copies)
    _remove_through_planner(record, integration, edited)
    ids = sorted(set(copies) - set(edited))
    for start in range(0, len(ids), BATCH_LIMIT):
        chunk = ids[start:start + BATCH_LIMIT]
        confirmed = calendar_api.delete_events(client, chunk, if_match=copies)
        gone = [oid for oid in chunk if confirmed.get(oid)]
        unconfirmed = [oid for oid in chunk if not confirmed.get(oid)]
        mapped = _mapped(integration, unconfirmed)
        refused: list[str] = []
        try:
            # Changed meanwhile (412) or failed: one of WedSync's events goes through the planner (its edit is kept),
            # a tagged copy without a mapping is read again and deleted.
            _remove_through_planner(record, integration, mapped)
            for oid in unconfirmed:
                if oid not in mapped:
                    (gone if _delete_after_rereading(client, oid) else refused).append(oid)
        finally:  # also when Outlook stopped answering midway: what is gone is counted, and the retry resumes after it
            _count(record, integration, gone, refused)


def edited_since_last_sync(integration: OutlookCalendarIntegration, copies: dict[str, str | None]) -> list[str]:
    """WedSync's events whose copy Outlook changed since the last sync (the changeKey just listed is not the one
    synced: a lost notification, or no sync since), or whose conflict is still open."""
    rows = integration.mappings.filter(kind="event", outlook_event_id__in=list(copies)).values_list("outlook_event_id", "outlook_change_key", "sync_state")
    return sorted(oid for oid, key, state in rows if state == MappingState.CONFLICT or (copies.get(oid) is not None and copies[oid] != key))


def _mapped(integration: OutlookCalendarIntegration, outlook_ids: list[str]) -> list[str]:
    """Those of these copies that are one of WedSync's events (an event mapping, not a travel block)."""
    return sorted(integration.mappings.filter(kind="event", outlook_event_id__in=outlook_ids).values_list("outlook_event_id", flat=True))


def _remove_through_planner(record: OutlookDisconnect, integration: OutlookCalendarIntegration, outlook_ids: list[str]) -> None:
    """These copies leave Outlook through the engine (Outlook's edits kept in WedSync first); counted as they go.

    One the engine could not settle is still in Outlook (counted not removed); when Outlook stops answering
    midway, only what is gone is counted and the retry lists the rest again.
    """
    if not outlook_ids:
        return
    settled = False
    try:
        engine.remove_copies_keeping_edits(integration, outlook_ids)
        settled = True
    finally:
        left = set(_mapped(integration, outlook_ids))
        gone = [oid for oid in outlook_ids if oid not in left]
        _count(record, integration, gone, sorted(left) if settled else [], forgotten=len(gone))


def _count(record: OutlookDisconnect, integration: OutlookCalendarIntegration, gone: list[str], refused: list[str], *, forgotten: int = 0) -> None:
    """Save the progress: copies gone (their mappings deleted here unless ``forgotten`` already) and refused."""
    record.mappings_deleted += forgotten + _delete_mappings(integration.mappings.filter(outlook_event_id__in=gone))
    record.events_removed += len(gone)
    record.events_not_removed += len(refused)
    record.problem = ""  # Outlook answered again (a wait that follows says so anew)
    record.save(update_fields=["events_removed", "events_not_removed", "mappings_deleted", "problem"])


def _delete_mappings(rows) -> int:
    """Delete these mapping rows; how many there were."""
    _, per_model = rows.delete()
    return per_model.get(OutlookEventMapping._meta.label, 0)


def _delete_after_rereading(client: GraphClient, outlook_id: str) -> bool:
    """A copy the batch did not confirm: read it again, delete it with the changeKey just read. False: Outlook refused it."""
    try:
        current = calendar_api.get_event(client, outlook_id)
        return calendar_api.delete_event(client, outlook_id, if_match=current.change_key)
    except NotFoundError:
        return True
    except GraphError as exc:
        if exc.retryable or isinstance(exc, ReauthorizationRequired):
            raise
        logger.warning("Disconnect: Outlook refused to remove one copy (%s %s)", exc.status, exc.code or type(exc).__name__)
        return False


def _finish_without_outlook(record: OutlookDisconnect, integration: OutlookCalendarIntegration, *, refused: bool = False) -> None:
    """Microsoft no longer accepts the connection: forget locally; the copies not removed are still in Outlook, and the outcome says so."""
    if record.choice == DisconnectChoice.REMOVE:
        # What was listed and not handled, or (never listed) the mapped copies still there.
        left = max(record.events_to_remove - record.events_removed - record.events_not_removed, integration.mappings.count() - record.events_not_removed, 0)
        record.events_not_removed += left
        record.events_to_remove = record.events_removed + record.events_not_removed
    record.problem = ("Outlook refused to let WedSync remove its events." if refused
                      else "Microsoft no longer accepts WedSync's connection to your Outlook calendar.")
    _forget(record, integration)


def _forget(record: OutlookDisconnect, integration: OutlookCalendarIntegration) -> None:
    """Keep the settings for a reconnect, delete the mappings and the integration, record the outcome (one transaction)."""
    with transaction.atomic():
        # Lock the row first: a run or notification recorded concurrently (its insert needs a key-share lock on
        # this row) waits for the delete and then finds the integration gone, instead of failing this commit.
        OutlookCalendarIntegration.objects.select_for_update().filter(pk=integration.pk).first()
        save_settings(integration)
        record.mappings_deleted += _delete_mappings(integration.mappings.all())
        integration.delete()
        record.integration = None  # the row is gone (the foreign key is SET_NULL); the record keeps the outcome
        record.status, record.finished_at = DisconnectStatus.COMPLETED, timezone.now()
        record.save()
    logger.info("Integration %s disconnected (%s): %d of %d copies removed, %d kept, %d not removed", integration.pk, record.choice,
                record.events_removed, record.events_to_remove, record.events_kept, record.events_not_removed)


def _mark_finished(record: OutlookDisconnect) -> None:
    record.status, record.finished_at = DisconnectStatus.COMPLETED, timezone.now()
    record.save(update_fields=["status", "finished_at"])


def save_settings(integration: OutlookCalendarIntegration) -> None:
    """Keep the supplier's sync settings: reconnecting restores them (``actions.complete_connect``)."""
    OutlookSavedSettings.objects.update_or_create(user=integration.user, defaults={
        "sync_preferences": integration.sync_preferences or {}, "sync_direction": integration.sync_direction,
        "webhook_enabled": integration.webhook_enabled, "default_conflict_rules": integration.default_conflict_rules or {},
        "saved_at": timezone.now(),
    })


def is_disconnecting(integration: OutlookCalendarIntegration) -> bool:
    return integration.connection_state == ConnectionState.DISCONNECTING
