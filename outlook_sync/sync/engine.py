"""Sync runs: full, incremental (delta), WedSync pushes, single events. The only writer of mappings.

Decisions come from the pure modules (:mod:`.mapping`, :mod:`.merge`); this
module reads both sides, applies those decisions, and records the outcome.

Outline of a run (:func:`execute_run`):

1. **Outlook side** (full and incremental runs): read calendarView delta over
   the synced window, page by page (memory stays flat). A full run starts a
   fresh read; an incremental run follows the stored delta link, and a 410
   falls back to a full read. Each changed event is either one of ours
   (mapped, or tagged with our extended property) and merged with WedSync, or
   the supplier's own, kept as busy time. Our own writes come back with the
   ``changeKey`` we stored and are skipped (echo suppression).
2. **WedSync side**: mapped events whose version moved past the synced
   version are merged and pushed (``PATCH`` with ``If-Match``; a 412 re-reads
   the event and merges again); new events are created through ``$batch``,
   several batches in parallel, each create carrying a deterministic
   ``transactionId`` so that a crashed run never makes a duplicate; deleted
   events are removed from Outlook unless Outlook edited them meanwhile
   (a conflict).
3. Mappings, counters and the per-event ``SyncError`` list are written as the
   run goes, so the API shows live progress. A failing event never aborts the
   run; a dead refresh token or Graph throttling the whole mailbox does.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

from .. import locks, selectors, tokens
from ..graph import calendar_api
from ..graph.client import BatchRequest, GraphClient
from ..graph.errors import (
    DeltaExpiredError,
    GraphError,
    NotFoundError,
    PreconditionFailedError,
    ReauthorizationRequired,
    ThrottledError,
)
from ..graph.types import DeltaRemoved, GraphEvent
from ..models import (
    MappingState,
    OutlookBusyTime,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookSyncHistory,
    SyncDirection,
    SyncStatus,
    SyncType,
)
from ..receivers import SYNC_SOURCE
from . import mapping, merge, runs

logger = logging.getLogger(__name__)

#: An ``outlook_event_id`` prefix meaning "the Outlook copy is gone and must be made again" (set by conflict resolution).
RECREATE_PREFIX = "recreate:"


def sync_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The rolling window kept in sync: midnight ``SYNC_WINDOW_PAST_DAYS`` ago to ``SYNC_WINDOW_FUTURE_DAYS`` ahead."""
    now = now or timezone.now()
    today = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=settings.SYNC_WINDOW_PAST_DAYS), today + dt.timedelta(days=settings.SYNC_WINDOW_FUTURE_DAYS)


def event_values(event: CalendarEvent) -> dict:
    """A WedSync event as the plain mapping :mod:`.mapping` works on."""
    values = {name: getattr(event, name) for name in event_actions.EDITABLE_FIELDS}
    values["id"] = str(event.id)
    return values


class RunAborted(Exception):
    """The whole run cannot go on (auth dead, mailbox throttled); carries the run-level SyncError."""

    def __init__(self, error: GraphError):
        super().__init__(str(error))
        self.error = error


def execute_run(run_id) -> OutlookSyncHistory | None:
    """Run one queued sync run to its end. Safe to call twice: a finished run is left alone."""
    run = OutlookSyncHistory.objects.select_related("integration").filter(pk=run_id).first()
    if run is None or run.sync_status != SyncStatus.IN_PROGRESS:
        return run
    integration = run.integration
    with locks.exclusive(f"sync-run:{integration.pk}", timeout=RUN_LOCK_LEASE_SECONDS, wait=30 * 60, heartbeat=True):
        run.refresh_from_db()
        if run.sync_status != SyncStatus.IN_PROGRESS:
            return run
        _close_interrupted_runs(run)
        integration.refresh_from_db()
        if integration.needs_reauthorization:
            return runs.finish(run, errors=[_run_error(ReauthorizationRequired("needs reauthorization"))], failed=True)
        if not integration.sync_enabled or not integration.calendar_id:
            return runs.finish(run, errors=[], cancelled=True)
        runs.mark_started(run, total_events=0)
        engine = SyncEngine(integration, run)
        try:
            try:
                engine.run()
            finally:
                engine.flush_progress()
        except RunAborted as aborted:
            finished = runs.finish(run, errors=[*engine.errors, _run_error(aborted.error)], failed=True)
            _schedule_retry(finished, aborted.error)
            return finished
        except GraphError as exc:
            # Outlook failed for the whole run (e.g. unreachable after retries): say so, and try again later.
            logger.warning("Sync run %s of integration %s failed: %s %s", run.pk, integration.pk, exc.status, exc.code or type(exc).__name__)
            finished = runs.finish(run, errors=[*engine.errors, _run_error(exc)], failed=True)
            _schedule_retry(finished, exc)
            return finished
        except BaseException:
            runs.finish(run, errors=[*engine.errors, {"eventId": "", "eventType": "", "errorCode": "internal_error",
                                                     "errorMessage": "Something went wrong on our side. We'll try again.", "retryable": True}], failed=True)
            raise
        OutlookCalendarIntegration.objects.filter(pk=integration.pk, throttled_until__isnull=False).update(throttled_until=None)
        return runs.finish(run, errors=engine.errors)


#: The run lock's lease, renewed while the run lives: a killed worker frees the integration within this time.
RUN_LOCK_LEASE_SECONDS = 60


def _close_interrupted_runs(current: OutlookSyncHistory) -> None:
    """Runs still "in progress" that are not waiting, seen by the holder of the run lock, lost their worker.

    They are closed as failed (the supplier sees "interrupted"); this run, or
    the redelivered task, does the work again: every step is idempotent.
    """
    orphans = OutlookSyncHistory.objects.filter(integration_id=current.integration_id, sync_status=SyncStatus.IN_PROGRESS, is_queued=False).exclude(pk=current.pk)
    for orphan in orphans:
        runs.finish(orphan, errors=[{"eventId": "", "eventType": "", "errorCode": "interrupted", "retryable": True,
                                     "errorMessage": "This sync was interrupted. The next sync picked up where it stopped."}], failed=True)


#: Wait at least this long before retrying a run that Outlook refused as a whole.
RETRY_DELAY_SECONDS = 30
#: ... and at most this long (below the broker's visibility timeout; the periodic sync covers longer outages).
MAX_RETRY_DELAY_SECONDS = 600


def _schedule_retry(run: OutlookSyncHistory, error: GraphError) -> None:
    """A throttled or unreachable Outlook gets one follow-up run after ``Retry-After`` (the periodic sync covers the rest).

    The follow-up is an incremental run (or the same specific events); a
    follow-up that fails too is left to the periodic safety-net sync, so a long
    outage never turns into a tight loop.
    """
    if not error.retryable or run.triggered_by == "retry":
        return
    from .. import tasks

    sync_type = run.sync_type if run.sync_type != SyncType.WEBHOOK_TRIGGERED else SyncType.INCREMENTAL
    retry, created = runs.open_run(run.integration, sync_type=sync_type, direction=run.sync_direction, triggered_by="retry", specific_event_ids=run.specific_event_ids)
    if created:
        OutlookSyncHistory.objects.filter(pk=retry.pk).update(is_queued=True)  # waiting, not running
        delay = min(max(error.retry_after or 0, RETRY_DELAY_SECONDS), MAX_RETRY_DELAY_SECONDS)
        transaction.on_commit(lambda: tasks.enqueue(tasks.run_sync, retry.pk, countdown=delay))


def _run_error(error: GraphError) -> dict:
    """A run-level SyncError: the stable WedSync code (e.g. ``needs_reconnect``), not Microsoft's."""
    return {"eventId": "", "eventType": "", **error.as_sync_error(), "errorCode": error.error_code}


class SyncEngine:
    """One run over one integration. Create it per run; it is not reusable."""

    def __init__(self, integration: OutlookCalendarIntegration, run: OutlookSyncHistory):
        self.integration = integration
        self.run_row = run
        self.prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
        self.rules = integration.default_conflict_rules or {}
        self.direction = run.sync_direction or integration.sync_direction
        self.client = GraphClient.for_integration(integration)
        self.errors: list[dict] = []
        self.window = sync_window()
        #: Mapping ids already reconciled in this run (the WedSync pass skips them).
        self.handled: set = set()
        #: Mapping ids listed by the current delta page (collected per read, see consume_delta).
        self.seen_mappings: set = set()
        self.pending_progress: dict[str, int] = {}
        self.progress_written = time.monotonic()
        #: Events this run created in Outlook (their echoes come back through delta).
        self.created = 0

    @property
    def pulls(self) -> bool:
        return self.direction in (SyncDirection.BIDIRECTIONAL, SyncDirection.FROM_OUTLOOK)

    @property
    def pushes(self) -> bool:
        return self.direction in (SyncDirection.BIDIRECTIONAL, SyncDirection.TO_OUTLOOK)

    # --- entry point ---
    def run(self) -> None:
        sync_type = self.run_row.sync_type
        try:
            if sync_type in (SyncType.FULL_SYNC, SyncType.INCREMENTAL, SyncType.WEBHOOK_TRIGGERED):
                if sync_type == SyncType.FULL_SYNC:
                    self.remove_out_of_scope()
                self.read_outlook(full=sync_type == SyncType.FULL_SYNC)
                self.push_wedsync()
            elif self.run_row.triggered_by == "force":
                self.force(self.run_row.specific_event_ids)
            else:  # single_event: WedSync changes to push, or specific events
                self.push_wedsync(only=self.run_row.specific_event_ids or None)
            if self.created and self.integration.delta_link:
                # Read our creations back now: the delta link then postdates them, so a later delete of
                # one in Outlook arrives as @removed, and the next incremental read stays small.
                self.read_outlook(full=False)
        except ReauthorizationRequired as exc:
            raise RunAborted(exc) from None
        except ThrottledError as exc:
            until = timezone.now() + dt.timedelta(seconds=exc.retry_after or 60)
            OutlookCalendarIntegration.objects.filter(pk=self.integration.pk).update(throttled_until=until)
            raise RunAborted(exc) from None

    # --- bookkeeping ---
    def record_error(self, error: GraphError | Exception, *, event_id="", event_type="", mapping_row: OutlookEventMapping | None = None) -> None:
        if isinstance(error, (ReauthorizationRequired, ThrottledError)):
            raise error
        if isinstance(error, GraphError):
            detail = error.as_sync_error()
        else:
            logger.exception("Unexpected error syncing event %s", event_id)
            detail = {"errorCode": "internal_error", "errorMessage": "Something went wrong syncing this event. We'll retry.", "retryable": True}
        self.errors.append({"eventId": str(event_id), "eventType": event_type, **detail})
        self.progress(processed=1, errors=1)
        if mapping_row is not None and mapping_row.pk:
            OutlookEventMapping.objects.filter(pk=mapping_row.pk).update(sync_state=MappingState.ERROR, last_error=detail)

    def progress(self, **counts: int) -> None:
        """Count progress in memory; write it at most every half second (one UPDATE, not one per event)."""
        for name, value in counts.items():
            self.pending_progress[name] = self.pending_progress.get(name, 0) + value
        if time.monotonic() - self.progress_written > 0.5:
            self.flush_progress()

    def flush_progress(self) -> None:
        if any(self.pending_progress.values()):
            runs.add_progress(self.run_row, **self.pending_progress)
        self.pending_progress = {}
        self.progress_written = time.monotonic()

    def expect(self, count: int) -> None:
        if count:
            OutlookSyncHistory.objects.filter(pk=self.run_row.pk).update(total_events=F("total_events") + count)

    # --- scope changes (full runs) ---
    def remove_out_of_scope(self) -> None:
        """Remove from Outlook what no longer belongs there: types switched off, or copies in a calendar no longer synced."""
        mappings = OutlookEventMapping.objects.filter(integration=self.integration)
        stale = [
            m for m in mappings.only("id", "wedsync_event_type", "outlook_event_id", "outlook_calendar_id", "kind", "wedsync_event_id")
            if m.outlook_calendar_id != self.integration.calendar_id
            or not mapping.is_type_synced(m.wedsync_event_type, self.prefs)
            or (m.kind == "travel" and not self.prefs.sync_travel_time)
        ]
        if not stale:
            return
        self.expect(len(stale))
        if self.pushes:
            self.delete_remote(stale)
        OutlookEventMapping.objects.filter(pk__in=[m.pk for m in stale]).delete()

    # --- Outlook side ---
    def read_outlook(self, *, full: bool) -> None:
        integration = self.integration
        start, end = self.window
        drifted = (
            integration.delta_window_start is None
            or abs((integration.delta_window_start - start).total_seconds()) > 7 * 86400
            or abs((integration.delta_window_end - end).total_seconds()) > 7 * 86400
        )
        if not full and integration.delta_link and not drifted:
            try:
                self.consume_delta(delta_link=integration.delta_link, full=False)
                return
            except DeltaExpiredError:
                logger.info("Delta link of integration %s expired: re-reading the calendar", integration.pk)
        self.consume_delta(start=start, end=end, full=True)

    def consume_delta(self, *, full: bool, delta_link: str | None = None, start=None, end=None) -> None:
        # Memory stays flat in the number of Outlook events: only ids of *our* (mapped) events are kept;
        # busy time not touched by this read is recognised by its older ``updated_at``.
        read_started = timezone.now()
        seen: set = set()
        new_link = None
        pages = calendar_api.delta_pages(self.client, calendar_id=self.integration.calendar_id, start=start, end=end, delta_link=delta_link)
        for items, link in pages:
            self.expect(len(items))
            self.apply_outlook_page(items)
            seen.update(self.seen_mappings)
            self.seen_mappings.clear()
            new_link = link or new_link
        if full:
            self.reconcile_unseen(seen, read_started)
        if full:
            self.integration.delta_window_start, self.integration.delta_window_end = start, end
        self.integration.delta_link = new_link
        OutlookCalendarIntegration.objects.filter(pk=self.integration.pk).update(
            delta_link=new_link, delta_window_start=self.integration.delta_window_start, delta_window_end=self.integration.delta_window_end,
        )

    def apply_outlook_page(self, items: list) -> None:
        ids = [item.id for item in items]
        by_outlook_id = {
            m.outlook_event_id: m
            for m in OutlookEventMapping.objects.filter(integration=self.integration, outlook_event_id__in=ids).select_related("event")
        }
        busy: list[GraphEvent] = []
        removed_busy: list[str] = []
        self.seen_mappings.update(m.pk for m in by_outlook_id.values())
        for item in items:
            row = by_outlook_id.get(item.id)
            try:
                if isinstance(item, DeltaRemoved):
                    if row is None:
                        removed_busy.append(item.id)
                    elif row.kind == "travel":
                        row.delete()
                    else:
                        self.reconcile(row, outlook_deleted=True)
                    continue
                if row is None:
                    tag = mapping.tag_of(item)
                    if tag is None:
                        busy.append(item)
                    else:
                        self.adopt(item, tag)
                    continue
                if row.kind == "travel" or item.change_key == row.outlook_change_key:
                    self.progress(processed=1)  # our own write coming back, or a travel block
                    continue
                self.reconcile(row, outlook_event=item)
            except (ReauthorizationRequired, ThrottledError):
                raise
            except Exception as exc:  # noqa: BLE001  (one event must not stop the run)
                self.record_error(exc, event_id=row.wedsync_event_id if row else item.id, event_type=row.wedsync_event_type if row else "", mapping_row=row)
        self.store_busy_times(busy, removed_busy)

    def store_busy_times(self, events: list[GraphEvent], removed: list[str]) -> None:
        """Outlook events WedSync did not make: kept as busy time for double-booking warnings."""
        if removed:
            OutlookBusyTime.objects.filter(integration=self.integration, outlook_event_id__in=removed).delete()
        rows = [
            OutlookBusyTime(
                integration=self.integration, outlook_event_id=e.id, subject=e.subject[:500], starts_at=e.start, ends_at=e.end,
                is_all_day=e.is_all_day, show_as=e.show_as, updated_at=timezone.now(),
            )
            for e in events
            if e.start and e.end
        ]
        if rows:
            OutlookBusyTime.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["integration", "outlook_event_id"],
                update_fields=["subject", "starts_at", "ends_at", "is_all_day", "show_as", "updated_at"],
            )
        self.progress(processed=len(rows) + len(removed))

    def adopt(self, item: GraphEvent, tag: tuple[str, str]) -> None:
        """An event tagged as ours with no mapping (e.g. the mapping write was lost): link it, never duplicate it."""
        kind, wedsync_id = tag
        event = CalendarEvent.objects.filter(pk=as_uuid(wedsync_id), supplier_id=self.integration.user_id).first()
        key = wedsync_id if kind == "event" else f"travel:{wedsync_id}"
        if OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=key).exists():
            # We already have another Outlook copy of this event: this one is a stray duplicate of ours.
            if self.pushes:
                delete_outlook_events(self.client, [item.id])
            self.progress(processed=1)
            return
        if event is None or event.is_deleted or kind == "travel":
            if self.pushes:
                delete_outlook_events(self.client, [item.id])
            self.progress(processed=1, deleted=1)
            return
        row = OutlookEventMapping.objects.create(
            integration=self.integration, event=event, kind="event", wedsync_event_type=event.event_type, wedsync_event_id=str(event.id),
            outlook_event_id=item.id, outlook_calendar_id=self.integration.calendar_id, base_snapshot={},
            outlook_change_key="", synced_wedsync_version=0,
        )
        row.event = event
        self.seen_mappings.add(row.pk)
        self.reconcile(row, outlook_event=item)

    def reconcile_unseen(self, seen_mapping_ids: set, read_started) -> None:
        """After a full read: mapped events Outlook did not list are gone, or moved out of the window; ask to know which.

        Busy time the read did not refresh belongs to events that no longer exist.
        """
        unseen = OutlookEventMapping.objects.filter(integration=self.integration, kind="event").exclude(pk__in=seen_mapping_ids).select_related("event")
        start, end = self.window
        for row in unseen.iterator(chunk_size=500):
            if row.event is not None and not (row.event.ends_at >= start and row.event.starts_at <= end):
                continue  # outside the window on our side too: not expected in the read
            try:
                current = calendar_api.get_event(self.client, row.outlook_event_id)
            except NotFoundError:
                self.reconcile(row, outlook_deleted=True)
                continue
            except (ReauthorizationRequired, ThrottledError):
                raise
            except GraphError as exc:
                self.record_error(exc, event_id=row.wedsync_event_id, event_type=row.wedsync_event_type, mapping_row=row)
                continue
            if current.change_key != row.outlook_change_key:
                self.reconcile(row, outlook_event=current)
        OutlookBusyTime.objects.filter(integration=self.integration, updated_at__lt=read_started).delete()

    # --- merging one mapped event ---
    def reconcile(self, row: OutlookEventMapping, *, outlook_event: GraphEvent | None = None, outlook_deleted: bool = False, retried: bool = False) -> None:
        """Bring one mapped event in line on both sides (or record a conflict)."""
        self.handled.add(row.pk)
        event = row.event
        if row.outlook_event_id.startswith(RECREATE_PREFIX):
            return self.recreate(row, event) if event is not None and not event.is_deleted else row.delete()
        if outlook_event is None and not outlook_deleted and not row.outlook_change_key:
            # We don't know Outlook's current state (first contact, or after a resolution): read it.
            try:
                outlook_event = calendar_api.get_event(self.client, row.outlook_event_id)
            except NotFoundError:
                outlook_deleted = True
        ws_deleted = event is None or event.is_deleted
        ws_changed = event is not None and event.version > row.synced_wedsync_version
        base = row.base_snapshot or None
        if ws_deleted and outlook_deleted:
            row.delete()
            self.progress(processed=1)
            return
        if ws_deleted:
            outlook_edited = outlook_event is not None and outlook_event.change_key != row.outlook_change_key
            if outlook_edited and self.direction == SyncDirection.BIDIRECTIONAL and base:
                theirs = mapping.snapshot_from_graph(outlook_event, self.prefs, row.wedsync_event_type)
                if merge.merge_deletion(base, theirs, deleted_on="wedsync", event_type=row.wedsync_event_type) == "conflict":
                    return self.store_conflict(row, merge.deletion_conflict(base, theirs, deleted_on="wedsync"), outlook_event)
            if self.pushes:
                self.delete_remote([row])
            row.delete()
            self.progress(processed=1, deleted=1)
            return
        values = event_values(event)
        ours = mapping.snapshot_from_wedsync(values, self.prefs)
        if outlook_deleted:
            if self.direction == SyncDirection.TO_OUTLOOK:
                return self.recreate(row, event)
            if ws_changed and self.direction == SyncDirection.BIDIRECTIONAL and base:
                if merge.merge_deletion(base, ours, deleted_on="outlook", event_type=event.event_type) == "conflict":
                    return self.store_conflict(row, merge.deletion_conflict(base, ours, deleted_on="outlook"), None, outlook_deleted=True)
            if self.pulls:
                event_actions.delete_event(event, source=SYNC_SOURCE)
            row.delete()
            self.progress(processed=1, deleted=1)
            return
        theirs = mapping.snapshot_from_graph(outlook_event, self.prefs, event.event_type) if outlook_event else (base or ours)
        if self.direction == SyncDirection.TO_OUTLOOK:
            result = _one_way(ours, theirs, to="outlook")
        elif self.direction == SyncDirection.FROM_OUTLOOK:
            result = _one_way(theirs, ours, to="wedsync")
        else:
            result = merge.merge(base, ours, theirs, event_type=event.event_type, rules=self.rules)
        change_key = outlook_event.change_key if outlook_event else row.outlook_change_key
        if result.to_outlook:
            # Whatever Outlook must take is WedSync's current value of that field.
            payload = mapping.event_payload(values, self.prefs, fields=set(result.to_outlook))
            try:
                response = self.client.patch(
                    calendar_api.event_path(row.outlook_event_id), json=payload,
                    headers={**calendar_api.READ_HEADERS, "If-Match": f'W/"{change_key}"'} if change_key else calendar_api.READ_HEADERS,
                )
            except PreconditionFailedError:
                if retried:
                    raise
                return self.reconcile(row, outlook_event=calendar_api.get_event(self.client, row.outlook_event_id), retried=True)
            except NotFoundError:
                return self.reconcile(row, outlook_deleted=True)
            change_key = GraphEvent.from_json(response.body).change_key if response.body else change_key
        version = event.version
        merged = dict(result.merged)
        if result.to_wedsync:
            try:
                updated = event_actions.update_event(event, source=SYNC_SOURCE, expected_version=event.version, **mapping.wedsync_changes(result.to_wedsync, current_values=values))
                version = updated.version
            except event_actions.EventVersionConflict:
                # The supplier edited it this very moment and WedSync did not take Outlook's values: keep the
                # old base for them, so the next merge (their push) weighs both edits instead of calling
                # Outlook's values agreed and overwriting them with the supplier's.
                version = row.synced_wedsync_version
                for name in result.to_wedsync:
                    merged[name] = (base or {}).get(name)
        row.base_snapshot = merged
        row.outlook_change_key = change_key
        row.synced_wedsync_version = version
        row.sync_conflicts = [c.to_contract() for c in result.conflicts]
        row.sync_state = MappingState.CONFLICT if result.conflicts else MappingState.SYNCED
        row.last_error = {}
        row.last_synced_at = timezone.now()
        row.wedsync_event_type = event.event_type
        row.save()
        updated_count = int(bool(result.to_outlook or result.to_wedsync))
        self.progress(processed=1, updated=updated_count, conflicts=len(result.conflicts))
        if self.prefs.sync_travel_time and self.pushes and "when" in result.to_outlook | result.to_wedsync:
            self.sync_travel(event)

    def store_conflict(self, row, conflict: merge.SyncConflict, outlook_event: GraphEvent | None, *, outlook_deleted: bool = False) -> None:
        row.sync_conflicts = [conflict.to_contract()]
        row.sync_state = MappingState.CONFLICT
        if outlook_event is not None:
            row.outlook_change_key = outlook_event.change_key
        if outlook_deleted:
            row.outlook_change_key = ""
        if row.event is not None:
            row.synced_wedsync_version = row.event.version
        row.last_synced_at = timezone.now()
        row.save()
        self.progress(processed=1, conflicts=1)

    def recreate(self, row: OutlookEventMapping, event: CalendarEvent) -> None:
        """WedSync is the master (``to_outlook``) and the Outlook copy was deleted: put it back, once."""
        payload = mapping.create_payload(event_values(event), self.prefs, integration_id=str(self.integration.pk))
        payload["transactionId"] = mapping.transaction_id(str(self.integration.pk), f"{event.id}:after:{row.outlook_event_id}")
        response = self.client.post(calendar_api.calendar_events_path(self.integration.calendar_id), json=payload, headers=calendar_api.READ_HEADERS)
        created = GraphEvent.from_json(response.body)
        row.outlook_event_id = created.id
        row.outlook_change_key = created.change_key
        row.base_snapshot = mapping.snapshot_from_wedsync(event_values(event), self.prefs)
        row.synced_wedsync_version = event.version
        row.sync_state, row.sync_conflicts, row.last_error = MappingState.SYNCED, [], {}
        row.save()
        self.progress(processed=1, created=1)

    def force(self, event_ids: list[str]) -> None:
        """``force-sync``: read the event on both sides now and make the run's direction win every difference."""
        for event_id in event_ids:
            row = OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=str(event_id), kind="event").select_related("event").first()
            self.expect(1)
            try:
                if row is None:
                    if self.pushes:
                        self.create_missing(only=[event_id])
                    continue
                try:
                    current = calendar_api.get_event(self.client, row.outlook_event_id)
                except NotFoundError:
                    self.reconcile(row, outlook_deleted=True)
                    continue
                row.sync_conflicts, row.sync_state = [], MappingState.SYNCED
                self.reconcile(row, outlook_event=current)
            except (ReauthorizationRequired, ThrottledError):
                raise
            except Exception as exc:  # noqa: BLE001
                self.record_error(exc, event_id=event_id, event_type=row.wedsync_event_type if row else "", mapping_row=row)

    # --- WedSync side ---
    def push_wedsync(self, only: Iterable[str] | None = None) -> None:
        """Send WedSync changes to Outlook: edits and deletes of mapped events, then new events in bulk."""
        if not self.pushes and not only:
            return
        changed = selectors.mappings_changed_in_wedsync(self.integration).select_related("event")
        if only:
            changed = changed.filter(wedsync_event_id__in=[str(i) for i in only])
        rows = [row for row in changed if row.pk not in self.handled]
        self.expect(len(rows))
        for row in rows:
            try:
                self.reconcile(row)
            except (ReauthorizationRequired, ThrottledError):
                raise
            except Exception as exc:  # noqa: BLE001
                self.record_error(exc, event_id=row.wedsync_event_id, event_type=row.wedsync_event_type, mapping_row=row)
        if self.pushes:
            self.create_missing(only)

    def unmapped_events(self, only: Iterable[str] | None = None):
        events = selectors.unmapped_events(self.integration, *self.window)
        if only:
            events = events.filter(pk__in=[uuid for uuid in map(as_uuid, only) if uuid])
        return [e for e in events if mapping.is_type_synced(e.event_type, self.prefs)]

    def create_missing(self, only: Iterable[str] | None = None) -> None:
        """Create in Outlook every WedSync event in the window that has no Outlook copy yet.

        Creates go out as ``$batch`` requests of 20, ``SYNC_BATCH_CONCURRENCY``
        at a time (Graph allows 4 concurrent requests per mailbox). Each create
        carries ``transactionId`` = f(integration, event): if a previous run made
        the event but died before writing the mapping, Graph answers with that
        event instead of a second one.
        """
        events = self.unmapped_events(only)
        if not events:
            return
        self.expect(len(events))
        integration_id = str(self.integration.pk)
        path = calendar_api.calendar_events_path(self.integration.calendar_id)
        requests = [
            (event, BatchRequest(id=str(n), method="POST", url=path, body=mapping.create_payload(event_values(event), self.prefs, integration_id=integration_id), headers=calendar_api.READ_HEADERS))
            for n, event in enumerate(events)
        ]
        if self.prefs.sync_travel_time:
            requests += self.travel_requests(events, start_id=len(requests))
        chunks = [requests[i:i + 20] for i in range(0, len(requests), 20)]
        access_token = tokens.access_token(self.integration.pk)
        workers = max(1, min(settings.SYNC_BATCH_CONCURRENCY, len(chunks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graph-batch") as pool:
            futures = {pool.submit(_send_batch, self.integration, access_token, [req for _, req in chunk]): chunk for chunk in chunks}
            for future in as_completed(futures):
                chunk = futures[future]
                try:
                    answers = future.result()
                except (ReauthorizationRequired, ThrottledError):
                    raise
                except GraphError as exc:
                    for event, _ in chunk:
                        self.record_error(exc, event_id=event.id, event_type=event.event_type)
                    continue
                self.store_created(chunk, answers)

    def travel_requests(self, events: list[CalendarEvent], *, start_id: int) -> list:
        path = calendar_api.calendar_events_path(self.integration.calendar_id)
        existing = set(
            OutlookEventMapping.objects.filter(integration=self.integration, kind="travel", wedsync_event_id__in=[f"travel:{e.id}" for e in events])
            .values_list("wedsync_event_id", flat=True)
        )
        out = []
        for event in events:
            payload = mapping.travel_payload(event_values(event), self.prefs, integration_id=str(self.integration.pk))
            if payload and f"travel:{event.id}" not in existing:
                out.append((event, BatchRequest(id=f"t{start_id + len(out)}", method="POST", url=path, body=payload, headers=calendar_api.READ_HEADERS)))
        return out

    def store_created(self, chunk, answers) -> None:
        rows, errors, created_ids = [], 0, []
        for event, request in chunk:
            answer = answers.get(request.id)
            if answer is None or answer.status >= 300:
                error = GraphError.from_parts(answer.status if answer else 503, answer.headers if answer else {}, answer.body if answer else None)
                self.errors.append({"eventId": str(event.id), "eventType": event.event_type, **error.as_sync_error()})
                errors += 1
                continue
            created = GraphEvent.from_json(answer.body)
            travel = request.id.startswith("t")
            rows.append(OutlookEventMapping(
                integration=self.integration, event=event, kind="travel" if travel else "event",
                wedsync_event_type=event.event_type, wedsync_event_id=f"travel:{event.id}" if travel else str(event.id),
                outlook_event_id=created.id, outlook_calendar_id=self.integration.calendar_id,
                base_snapshot=mapping.travel_snapshot(event_values(event)) if travel else mapping.snapshot_from_wedsync(event_values(event), self.prefs),
                outlook_change_key=created.change_key, synced_wedsync_version=event.version, sync_state=MappingState.SYNCED,
            ))
            created_ids.append(created.id)
        with transaction.atomic():
            OutlookEventMapping.objects.bulk_create(rows, ignore_conflicts=True)
            OutlookBusyTime.objects.filter(integration=self.integration, outlook_event_id__in=created_ids).delete()
        self.created += len(rows)
        self.progress(processed=len(chunk), created=len(rows), errors=errors)

    def sync_travel(self, event: CalendarEvent) -> None:
        """Move (or create) the travel block in front of an event whose time changed."""
        row = OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=f"travel:{event.id}").first()
        payload = mapping.travel_payload(event_values(event), self.prefs, integration_id=str(self.integration.pk))
        if row is None or payload is None:
            if row is not None:
                self.delete_remote([row])
                row.delete()
            return
        body = {key: payload[key] for key in ("start", "end", "subject") if key in payload}
        try:
            response = self.client.patch(calendar_api.event_path(row.outlook_event_id), json=body, headers=calendar_api.READ_HEADERS)
        except NotFoundError:
            row.delete()
            return
        row.outlook_change_key = GraphEvent.from_json(response.body).change_key if response.body else row.outlook_change_key
        row.base_snapshot = mapping.travel_snapshot(event_values(event))
        row.synced_wedsync_version = event.version
        row.save(update_fields=["outlook_change_key", "base_snapshot", "synced_wedsync_version", "last_synced_at"])

    # --- deleting our copies ---
    def delete_remote(self, rows: list[OutlookEventMapping]) -> int:
        """Delete the Outlook copies of these mappings (ours) in batches."""
        return delete_outlook_events(self.client, [row.outlook_event_id for row in rows])


def delete_outlook_events(client: GraphClient, outlook_ids: list[str]) -> int:
    """Delete events from Outlook through ``$batch``; returns how many are gone (404 counts: already gone)."""
    if not outlook_ids:
        return 0
    requests = [BatchRequest(id=str(n), method="DELETE", url=calendar_api.event_path(oid)) for n, oid in enumerate(outlook_ids)]
    answers = client.batch(requests)
    return sum(1 for r in requests if answers.get(r.id) is not None and (answers[r.id].status < 300 or answers[r.id].status == 404))


def _send_batch(integration: OutlookCalendarIntegration, access_token: str, requests: list[BatchRequest]):
    """One ``$batch`` from a worker thread (own HTTP session; DB only if the token must be refreshed)."""
    integration_id = integration.pk

    def provider(force_refresh: bool) -> str:
        return tokens.access_token(integration_id, force_refresh=True) if force_refresh else access_token

    try:
        return GraphClient(integration.microsoft_user_id, provider).batch(requests)
    finally:
        connections.close_all()


def _one_way(source: dict, target: dict, *, to: str) -> merge.MergeResult:
    """Direction-limited sync: the source side wins every field that differs."""
    diff = {name: source[name] for name in merge.SYNC_FIELDS if source.get(name) is not None and source.get(name) != target.get(name)}
    merged = {**target, **diff}
    return merge.MergeResult(
        merged=merged,
        to_wedsync=diff if to == "wedsync" else {},
        to_outlook=diff if to == "outlook" else {},
        conflicts=(),
    )


def as_uuid(value) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (ids from Outlook tags and API input are untrusted text)."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
