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

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

from .. import locks, selectors, tokens, wording
from ..graph import calendar_api
from ..graph.client import GraphClient
from ..graph.errors import (
    DeltaExpiredError,
    GraphError,
    MailboxBusy,
    NotFoundError,
    PreconditionFailedError,
    ReauthorizationRequired,
    RetryableServerError,
    ThrottledError,
)
from ..graph.types import DeltaRemoved, EventUpdate, GraphEvent, NewEvent
from ..models import (
    ConnectionState,
    MappingState,
    OutlookBusyTime,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookSyncHistory,
    RunMode,
    SyncDirection,
    SyncStatus,
    SyncType,
)
from ..sources import SYNC_SOURCE
from . import busy as busy_calendars, journal, mapping, merge, outcomes, plan, runs, seen, undo
from ..models import ChangeKind
from .window import sync_window

logger = logging.getLogger(__name__)

def event_values(event: CalendarEvent) -> dict:
    """A WedSync event as the plain mapping :mod:`.mapping` works on."""
    values = {name: getattr(event, name) for name in event_actions.EDITABLE_FIELDS}
    values["id"] = str(event.id)
    return values


#: Errors that end the whole run wherever they happen (the one per-event guard, :meth:`SyncEngine.guard`, lets them
#: through): the supplier must reconnect, Microsoft throttles the mailbox, or our own request slots for it stayed full.
RUN_ENDING = (ReauthorizationRequired, ThrottledError, MailboxBusy)


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
    try:
        return _execute_locked(run)
    except locks.LockTimeout:
        # Another run of this integration held the lock for the whole wait: this one is closed, the next sync catches up.
        busy = outcomes.SyncBusy("another sync of this calendar is still running", status=409)
        run.refresh_from_db()
        return runs.finish(run, errors=[wording.run_error(busy)], failed=True) if run.sync_status == SyncStatus.IN_PROGRESS else run


def _execute_locked(run: OutlookSyncHistory) -> OutlookSyncHistory:
    with locks.exclusive(f"sync-run:{run.integration_id}", timeout=RUN_LOCK_LEASE_SECONDS, wait=30 * 60, heartbeat=True):
        # Both read again under the lock (the run may have been widened or finished, the settings changed while
        # it waited), in one query; this integration object is the run's from here on (run.integration too).
        fresh = OutlookSyncHistory.objects.select_related("integration").filter(pk=run.pk).first()
        if fresh is None:  # the integration was disconnected (and its runs deleted) while this run waited
            return None
        run, integration = fresh, fresh.integration
        if run.sync_status != SyncStatus.IN_PROGRESS:
            return run
        _close_interrupted_runs(run)
        if integration.needs_reauthorization:
            return runs.finish(run, errors=[wording.run_error(ReauthorizationRequired("needs reauthorization"))], failed=True)
        if not integration.sync_enabled or not integration.calendar_id or integration.connection_state != ConnectionState.CONNECTED:
            return runs.finish(run, errors=[], cancelled=True)  # a disconnect holds or held the lock: nothing may sync
        if not runs.mark_started(run):  # counts the run's work up front (runs.count_work)
            return run  # cancelled while it waited for the lock
        engine = SyncEngine(integration, run)
        try:
            try:
                engine.run()
            finally:
                engine.flush_progress()
        except RunAborted as aborted:
            finished = runs.finish(run, errors=[*engine.errors, wording.run_error(aborted.error)], failed=True)
            _schedule_retry(finished, aborted.error)
            return finished
        except GraphError as exc:
            # Outlook failed for the whole run (e.g. unreachable after retries, or its mailbox slots stayed taken for
            # minutes: MailboxBusy): say so, and try again later.
            logger.warning("Sync run %s of integration %s failed: %s %s", run.pk, integration.pk, exc.status, exc.code or type(exc).__name__)
            finished = runs.finish(run, errors=[*engine.errors, wording.run_error(exc)], failed=True)
            _schedule_retry(finished, exc)
            return finished
        except BaseException:
            runs.finish(run, errors=[*engine.errors, wording.INTERNAL_RUN_ERROR], failed=True)
            raise
        if integration.throttled_until is not None:  # as read under the lock: only a run of this integration sets it
            OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(throttled_until=None)
        return runs.finish(run, errors=engine.errors)


#: The run lock's lease, renewed (every third of it) while the run lives: a killed worker frees the integration
#: within this time, so the run waiting behind it (a restarted worker's) begins within it too.
RUN_LOCK_LEASE_SECONDS = 30


def _close_interrupted_runs(current: OutlookSyncHistory) -> None:
    """Runs still "in progress" that are not waiting, seen by the holder of the run lock, lost their worker.

    They are closed as failed (the supplier sees "interrupted"); this run, or
    the redelivered task, does the work again: every step is idempotent.
    """
    orphans = OutlookSyncHistory.objects.filter(integration_id=current.integration_id, sync_status=SyncStatus.IN_PROGRESS, is_queued=False).exclude(pk=current.pk)
    for orphan in orphans:
        runs.finish(orphan, errors=[wording.INTERRUPTED_RUN_ERROR], failed=True)


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
    sync_type = run.sync_type if run.sync_type != SyncType.WEBHOOK_TRIGGERED else SyncType.INCREMENTAL
    retry, created = runs.open_run(run.integration, sync_type=sync_type, direction=run.sync_direction, triggered_by="retry",
                                   specific_event_ids=run.specific_event_ids, mode=run.mode)
    if created:
        delay = min(max(error.retry_after or 0, RETRY_DELAY_SECONDS), MAX_RETRY_DELAY_SECONDS)
        # Waiting, not running, until the time it will be sent (the API's retryAt, the page's "we'll retry at").
        OutlookSyncHistory.objects.filter(pk=retry.pk).update(is_queued=True, retry_at=timezone.now() + dt.timedelta(seconds=delay))
        run.follow_up = (retry.pk, delay)  # the task that ran this run enqueues it (the engine knows no tasks)


class SyncEngine:
    """One run over one integration. Create it per run; it is not reusable."""

    def __init__(self, integration: OutlookCalendarIntegration, run: OutlookSyncHistory):
        self.integration = integration
        self.run_row = run
        self.use_preferences(integration.sync_preferences or {})
        self.rules = integration.default_conflict_rules or {}
        self.direction = run.sync_direction or integration.sync_direction
        self.client = tokens.graph_client(integration)
        self.errors: list[dict] = []
        self.window = sync_window()
        #: Mapping ids already reconciled in this run (the WedSync pass skips them).
        self.handled: set = set()
        #: Mapping ids (and Outlook ids of the copies made in bulk) whose processing this run has counted: outside
        #: an incremental read an event counts once however often it is met (see count_row).
        self.counted_rows: set = set()
        self.created_outlook_ids: set = set()
        #: While set, ``progress`` leaves ``processed`` alone (an event met again in this run).
        self.uncounted = False
        #: Mapping ids listed by the current delta page (collected per read, see consume_delta).
        self.seen_mappings: set = set()
        self.pending_progress: dict[str, int] = {}
        self.progress_written = time.monotonic()
        #: What this run changed on each side (the change journal, written in bulk with the progress).
        self.journal = journal.Journal(run)
        #: Events this run created in Outlook (their echoes come back through delta).
        self.created = 0
        #: Ids of the new events whose create carries attendees (see invites_on_create).
        self.inviting: set = set()
        #: Series masters read this run (recurring occurrences carry few properties of their own).
        self.series_masters: dict[str, GraphEvent | None] = {}
        #: Which Outlook items count as work (runs.count_work counted the WedSync side up front): "all" the
        #: changes an incremental read lists; "ours" in a full read (its items are the events already counted;
        #: the supplier's own busy time is not WedSync work); "none" when reading our own creations back.
        self.outlook_counting = "ours" if run.sync_type == SyncType.FULL_SYNC else "all"

    def use_preferences(self, preferences: dict) -> None:
        """The sync preferences this run writes with from now on (set once, or by an undo restoring a settings change)."""
        self.integration.sync_preferences = preferences
        self.prefs = mapping.SyncPreferences.from_json(preferences)
        #: The same settings with no attendees at all: for every Outlook copy not made by a single new event
        #: (see :meth:`invites_on_create`), so initial syncs, resyncs, reconnects and bulk changes never mail anyone.
        self.quiet_prefs = dataclasses.replace(self.prefs, invite_attendees_for=frozenset())

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
            if sync_type == SyncType.FULL_SYNC:
                self.sync_everything()
            elif sync_type in (SyncType.INCREMENTAL, SyncType.WEBHOOK_TRIGGERED):
                self.read_outlook(full=False)
                busy_calendars.read_busy_calendars(self, full=False)
                self.push_wedsync()
            elif self.run_row.mode == RunMode.UNDO:
                undo.execute(self)  # journaled changes taken back through settle() like any other change
            elif self.run_row.mode == RunMode.FORCE:
                self.force(self.run_row.specific_event_ids)
            else:  # single_event: WedSync changes to push, or specific events
                self.push_wedsync(only=self.run_row.specific_event_ids or None)
            if self.created and self.integration.delta_link:
                # Read our creations back now: the delta link then postdates them, so a later delete of
                # one in Outlook arrives as @removed, and the next incremental read stays small.
                self.outlook_counting = "none"
                self.read_outlook(full=False)
        except ReauthorizationRequired as exc:
            raise RunAborted(exc) from None
        except ThrottledError as exc:
            until = timezone.now() + dt.timedelta(seconds=exc.retry_after or 60)
            OutlookCalendarIntegration.objects.filter(pk=self.integration.pk).update(throttled_until=until)
            raise RunAborted(exc) from None

    def sync_everything(self) -> None:
        """A full sync under the preferences in force: copies out of scope leave Outlook, every copy is read
        (and rewritten where the settings it was written with changed), events without a copy get one."""
        self.remove_out_of_scope()
        self.read_outlook(full=True)
        busy_calendars.read_busy_calendars(self, full=True)
        self.push_wedsync()

    def resync(self) -> None:
        """A full sync's work inside this run (an undo that restored a settings change), counted as a full sync counts it."""
        self.expect(runs.full_sync_work(self.integration, pushes=self.pushes))
        counting, self.outlook_counting = self.outlook_counting, "ours"
        try:
            self.sync_everything()
        finally:
            self.outlook_counting = counting

    # --- bookkeeping ---
    def record_error(self, error: GraphError | Exception, *, event_id="", event_type="", mapping_row: OutlookEventMapping | None = None) -> None:
        """One event failed (called by :meth:`guard` only, which lets the run-ending errors through)."""
        if isinstance(error, GraphError):
            entry = wording.sync_error(error, event_id=event_id, event_type=event_type)
        else:
            logger.exception("Unexpected error syncing event %s", event_id)
            entry = {"eventId": str(event_id), "eventType": event_type, **wording.INTERNAL_EVENT_ERROR}
        detail = {k: entry[k] for k in ("errorCode", "errorMessage", "retryable")}
        self.errors.append(entry)
        self.progress(processed=1, errors=1)
        if mapping_row is not None and mapping_row.pk:
            # A copy being removed stays REMOVING (every run tries again); others show "couldn't sync".
            OutlookEventMapping.objects.filter(pk=mapping_row.pk).exclude(sync_state=MappingState.REMOVING).update(sync_state=MappingState.ERROR, last_error=detail)
            OutlookEventMapping.objects.filter(pk=mapping_row.pk, sync_state=MappingState.REMOVING).update(last_error=detail)

    def progress(self, **counts: int) -> None:
        """Count progress in memory; write it at most every half second (one UPDATE, not one per event)."""
        if self.uncounted:
            counts.pop("processed", None)
        for name, value in counts.items():
            self.pending_progress[name] = self.pending_progress.get(name, 0) + value
        if time.monotonic() - self.progress_written > 0.5:
            self.flush_progress()

    def flush_progress(self) -> None:
        self.journal.flush()
        if any(self.pending_progress.values()):
            runs.add_progress(self.run_row, **self.pending_progress)
        self.pending_progress = {}
        self.progress_written = time.monotonic()

    def expect(self, count: int) -> None:
        """Add to the run's total: written with the progress (one UPDATE with the counters, not one per delta page)."""
        if count:
            self.pending_progress["expected"] = self.pending_progress.get("expected", 0) + count

    def count_row(self, row: OutlookEventMapping) -> bool:
        """Whether processing ``row`` now is new work: each event counts once in ``processedEvents``.

        An incremental read counts every item it lists and every push ("all", see ``outlook_counting``).
        Otherwise an event this run already processed (or created) is not counted again, e.g. when reading its
        creations back finds Outlook changed them (body to HTML); one that was not in the up-front count
        (``runs.count_work``) is added to the total first, so ``processedEvents`` never passes ``totalEvents``.
        """
        if self.outlook_counting == "all":
            self.counted_rows.add(row.pk)  # for the read-back that may follow
            return True
        if row.pk in self.counted_rows or row.pk in self.handled or row.outlook_event_id in self.created_outlook_ids:
            return False
        self.counted_rows.add(row.pk)
        if self.outlook_counting == "none" or not self.counted_up_front(row):
            self.expect(1)
        return True

    def counted_up_front(self, row: OutlookEventMapping) -> bool:
        """Whether a full run's up-front count (``runs.count_work``) included this mapping."""
        if row.sync_state == MappingState.REMOVING:
            return True  # remove_marked added it to the total
        event = row.event
        if event is None or event.is_deleted:
            return True
        start, end = self.window
        return event.ends_at >= start and event.starts_at <= end

    def uncounted_work(self) -> None:
        """An Outlook item that needs work no count included (a stray copy of ours): add it to the total."""
        if self.outlook_counting != "all":
            self.expect(1)

    @contextlib.contextmanager
    def counting(self, counts: bool):
        saved, self.uncounted = self.uncounted, self.uncounted or not counts
        try:
            yield
        finally:
            self.uncounted = saved

    # --- scope changes (full runs) ---
    def remove_out_of_scope(self) -> None:
        """Copies that no longer belong in Outlook (types switched off, a calendar no longer synced, travel time off) are marked REMOVING.

        :meth:`remove_marked` then settles each one with :func:`plan.plan_leaving_scope`
        (an event's copy is read, an unsynced Outlook edit kept in WedSync, then deleted
        with ``If-Match``; see that table for travel blocks and the from_outlook direction)
        and forgets it only once Outlook confirmed; one that Outlook refuses stays
        REMOVING, so every later run (incremental ones too) tries again.
        """
        mappings = OutlookEventMapping.objects.filter(integration=self.integration).exclude(sync_state=MappingState.REMOVING)
        stale = [
            m.pk for m in mappings.only("id", "wedsync_event_type", "outlook_calendar_id", "kind")
            if m.outlook_calendar_id != self.integration.calendar_id
            or not mapping.is_type_synced(m.wedsync_event_type, self.prefs)
            or (m.kind == "travel" and not self.prefs.sync_travel_time)
        ]
        if stale:
            OutlookEventMapping.objects.filter(pk__in=stale).update(sync_state=MappingState.REMOVING)
        self.remove_marked()

    def remove_marked(self) -> None:
        """Settle every REMOVING copy through the planner (:func:`plan.plan_leaving_scope` decides, this only executes)."""
        rows = list(OutlookEventMapping.objects.filter(integration=self.integration, sync_state=MappingState.REMOVING).select_related("event"))
        self.expect(sum(1 for row in rows if row.pk not in self.counted_rows))  # a full run comes here twice
        for row in rows:
            with self.guard(row):
                self.settle(row, plan.Outlook(plan.Seen.UNREAD), planner=plan.plan_leaving_scope)

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
        if delta_link is not None and self.outlook_counting == "all":
            # An incremental read is read whole before any change is applied, so the run's total includes
            # Outlook's changes from the first event it processes (it never grows page by page). A changes
            # list is small; a full read (below) streams, as its items are the events already counted.
            pages = list(pages)
            self.expect(sum(len(items) for items, _ in pages))
            self.flush_progress()
        for items, link in pages:
            if self.outlook_counting == "all" and delta_link is None:
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
        masters = {
            m.outlook_event_id: m
            for m in OutlookEventMapping.objects.filter(
                integration=self.integration, kind="event",
                outlook_event_id__in=[i.series_master_id for i in items if isinstance(i, GraphEvent) and i.series_master_id],
            ).select_related("event")
        }
        busy: list[GraphEvent] = []
        removed_busy: list[str] = []
        quiet: list[OutlookEventMapping] = []  # copies only Outlook itself changed (only_outlook_moved)
        self.seen_mappings.update(m.pk for m in by_outlook_id.values())
        for item in items:
            row = by_outlook_id.get(item.id)
            with self.guard(row, event_id=item.id):
                if row is not None and row.sync_state == MappingState.REMOVING:
                    continue  # being removed: remove_marked handles it
                if isinstance(item, DeltaRemoved):
                    if row is None:
                        removed_busy.append(item.id)
                    elif row.kind == "travel":
                        self.progress(processed=int(self.outlook_counting == "all"))  # travel blocks follow their event (sync_travel)
                    else:
                        self.settle(row, plan.Outlook(plan.Seen.REMOVED))
                    continue
                if row is None:
                    master = masters.get(item.series_master_id or "")
                    if master is not None:
                        self.series_found(master, item)
                        continue
                    tag = mapping.tag_of(item, self.integration.pk)
                    if tag is None:
                        busy.append(item)
                    else:
                        self.adopt(item, tag)
                    continue
                if row.kind == "travel":
                    self.progress(processed=int(self.outlook_counting == "all"))
                    if item.change_key != row.outlook_change_key:
                        self.travel_changed(row, item)
                    continue
                if item.change_key == row.outlook_change_key and not self.needs_rewrite(row):
                    self.progress(processed=int(self.outlook_counting != "none" and self.count_row(row)))  # our own write coming back
                    continue
                outlook = self.outlook_side(item, row)
                if self.only_outlook_moved(row, outlook):
                    quiet.append(row)
                    continue
                self.settle(row, outlook)
        if quiet:
            OutlookEventMapping.remember_outlook_changes(quiet)  # one UPDATE a page
        self.store_busy_times(self.with_series_details(busy), removed_busy)

    def only_outlook_moved(self, row: OutlookEventMapping, outlook: plan.Outlook) -> bool:
        """Whether Outlook changed this copy by itself and nothing we sync (a body turned into HTML, an attendee's
        answer, a reminder firing: resources/event.md changeKey moves on every change): then only its new changeKey
        and what we last saw are remembered, written for the whole page in one UPDATE instead of two queries a copy.

        Decided by the planner on the event as this page loaded it: exactly one ``Remember`` that keeps the
        stored base, prefix and reminder and shows no conflict. A WedSync edit made since the page was loaded
        has a newer version than the one stored, so the next push still sends it.
        """
        event = row.event
        if row.sync_state != MappingState.SYNCED or row.needs_recreate or event is None or event.is_deleted or event.version != row.synced_wedsync_version:
            return False
        actions = plan.plan(self.state_of(row), self.wedsync_of(event, row), outlook, self.settings_for(row))
        if len(actions) != 1 or not isinstance(actions[0], plan.Remember):
            return False
        remember = actions[0]
        if (remember.conflicts or dict(remember.base) != (row.base_snapshot or {}) or remember.prefix != row.prefix_applied
                or _reminder_code(remember.reminder) != row.reminder_applied):
            return False
        with self.counting(self.count_row(row)):
            self.handled.add(row.pk)
            row.outlook_change_key = remember.change_key or outlook.change_key or row.outlook_change_key
            row.outlook_last_seen = seen.last_seen(outlook.snapshot, [row.prefix_applied, self.prefs.event_prefix]) or row.outlook_last_seen
            row.last_synced_at = timezone.now()
            self.progress(processed=1)
        return True

    def needs_rewrite(self, row: OutlookEventMapping) -> bool:
        """Settings changed since this copy was written (prefix, reminder), or it waits to sync."""
        return (
            row.prefix_applied != self.prefs.event_prefix
            or (row.reminder_applied is not None and row.reminder_applied != _reminder_code(mapping.reminder_minutes(self.prefs)))
            or row.sync_state in (MappingState.PENDING, MappingState.ERROR)
        )

    def with_series_details(self, events: list[GraphEvent]) -> list[GraphEvent]:
        """Occurrences of recurring meetings come with few properties: take showAs, all-day and subject from the master."""
        out = []
        for event in events:
            if event.series_master_id and event.kind in ("occurrence", "exception"):
                master = self.series_masters.get(event.series_master_id)
                if master is None and event.series_master_id not in self.series_masters:
                    try:
                        master = calendar_api.get_event(self.client, event.series_master_id)
                    except NotFoundError:
                        master = None
                    self.series_masters[event.series_master_id] = master
                if master is not None:
                    event = dataclasses.replace(
                        event, show_as=master.show_as if event.kind == "occurrence" or not event.show_as else event.show_as,
                        is_all_day=master.is_all_day if event.kind == "occurrence" else event.is_all_day,
                        subject=event.subject or master.subject,
                    )
            out.append(event)
        return out

    def series_found(self, row: OutlookEventMapping, occurrence: GraphEvent) -> None:
        """An occurrence of one of our events: the supplier made it a recurring series in Outlook. The planner decides (R0)."""
        if row.pk in self.handled:
            self.progress(processed=int(self.outlook_counting == "all"))  # the occurrence is no work of its own
            return
        self.settle(row, self.read_copy(row))

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
        if self.outlook_counting == "all":  # the supplier's own events: work only when an incremental read lists them
            self.progress(processed=len(rows) + len(removed))

    def adopt(self, item: GraphEvent, tag: tuple[str, str]) -> None:
        """An event tagged by this integration with no mapping (e.g. the mapping write was lost): link it, never duplicate it."""
        kind, wedsync_id = tag
        event = CalendarEvent.objects.filter(pk=as_uuid(wedsync_id), supplier_id=self.integration.user_id).first()
        key = wedsync_id if kind == "event" else f"travel:{wedsync_id}"
        if OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=key).exists():
            # We already have another Outlook copy of this event: this one is a stray duplicate of ours.
            if self.pushes:
                self.delete_copies([item.id])
            self.uncounted_work()
            self.progress(processed=1)
            return
        if event is None or event.is_deleted or kind == "travel":
            if self.pushes:
                self.delete_copies([item.id])
            self.uncounted_work()
            self.progress(processed=1, deleted=1)
            return
        row = self.link_copy(event, item)
        self.seen_mappings.add(row.pk)
        self.settle(row, self.outlook_side(item, row))

    def link_copy(self, event: CalendarEvent, item: GraphEvent) -> OutlookEventMapping:
        """A mapping for our own copy found by its tag: no base (every difference is a conflict), changeKey unknown."""
        row = OutlookEventMapping.objects.create(
            integration=self.integration, event=event, kind="event", wedsync_event_type=event.event_type, wedsync_event_id=str(event.id),
            outlook_event_id=item.id, outlook_calendar_id=self.integration.calendar_id, base_snapshot={},
            outlook_change_key=None, synced_wedsync_version=0, sync_state=MappingState.PENDING, prefix_applied=self.prefs.event_prefix,
        )
        row.event = event
        return row

    def reconcile_unseen(self, seen_mapping_ids: set, read_started) -> None:
        """After a full read: mapped events Outlook did not list are gone, or moved out of the window; the planner reads to know which.

        Busy time the read did not refresh belongs to events that no longer exist.
        """
        unseen = (
            OutlookEventMapping.objects.filter(integration=self.integration, kind="event").exclude(pk__in=seen_mapping_ids)
            .exclude(sync_state=MappingState.REMOVING).select_related("event")
        )
        start, end = self.window
        for row in unseen.iterator(chunk_size=500):
            if row.event is not None and not row.event.is_deleted and not (row.event.ends_at >= start and row.event.starts_at <= end) \
                    and row.event.version <= row.synced_wedsync_version and row.sync_state != MappingState.PENDING:
                continue  # outside the window on our side too and unchanged: not expected in the read
            with self.guard(row):
                self.settle(row, plan.Outlook(plan.Seen.NOT_SEEN))
        OutlookBusyTime.objects.filter(integration=self.integration, calendar_id="", updated_at__lt=read_started).delete()

    # --- one mapped event: plan, execute, plan again when a side moved ---
    def prefs_for(self, row: OutlookEventMapping | None) -> mapping.SyncPreferences:
        """Attendees are synced (so Outlook mails them) only on copies made for a single new event of an invited type."""
        return self.prefs if row is not None and row.invites_attendees else self.quiet_prefs

    def invites_on_create(self, events: list[CalendarEvent]) -> set:
        """Ids of the new events whose Outlook copy carries attendees (Outlook mails each an invitation).

        Only a push of WedSync changes that creates exactly one event does: a
        connect, a reconnect, a full or forced resync, a retry or a bulk change
        (several new events in one push) never mails anyone.
        """
        if self.run_row.triggered_by != "wedsync_change" or self.run_row.sync_type != SyncType.SINGLE_EVENT or len(events) != 1:
            return set()
        return {e.id for e in events if self.prefs.invites(e.event_type)}

    def outlook_side(self, item: GraphEvent, row: OutlookEventMapping) -> plan.Outlook:
        snapshot = mapping.snapshot_from_graph(item, self.prefs_for(row), row.wedsync_event_type, prefix="")
        return plan.Outlook(plan.Seen.PRESENT, snapshot=snapshot, change_key=item.change_key, reminder=item.reminder_minutes,
                            is_series=item.kind == "seriesMaster")

    def state_of(self, row: OutlookEventMapping) -> plan.State:
        reminder = row.reminder_applied
        return plan.State(
            base=row.base_snapshot or None, synced_version=row.synced_wedsync_version, change_key=row.outlook_change_key or None,
            prefix_applied=row.prefix_applied if row.prefix_applied is not None else self.prefs.event_prefix,
            reminder_applied=None if reminder in (None, -1) else reminder, reminder_known=reminder is not None,
            conflicts=tuple(merge.SyncConflict.from_contract(c) for c in row.sync_conflicts or []),
            needs_recreate=row.needs_recreate, pending=row.sync_state == MappingState.PENDING, travel=row.kind == "travel",
        )

    def wedsync_of(self, event: CalendarEvent | None, row: OutlookEventMapping | None = None) -> plan.WedSync:
        if event is None or event.is_deleted:
            return plan.WedSync(None, version=event.version if event else 0, deleted=True)
        return plan.WedSync(mapping.snapshot_from_wedsync(event_values(event), self.prefs_for(row)), version=event.version)

    def settings_for(self, row: OutlookEventMapping) -> plan.Settings:
        return plan.Settings(
            direction=plan.Direction(self.direction), prefix=self.prefs.event_prefix, reminder=mapping.reminder_minutes(self.prefs),
            event_type=row.wedsync_event_type, rules=self.rules, force=self.run_row.mode == RunMode.FORCE,
        )

    #: Re-plans allowed for one event in one run (each after a side moved under us).
    MAX_REPLANS = 4

    def settle(self, row: OutlookEventMapping, outlook: plan.Outlook, *, planner=plan.plan) -> None:
        """Plan and execute until the actions went through; a side that moved meanwhile is read again and planned again."""
        counts = self.count_row(row)
        self.handled.add(row.pk)
        with self.counting(counts):
            for _ in range(self.MAX_REPLANS):
                if row.event_id is not None:
                    row.event = CalendarEvent.objects.filter(pk=row.event_id).first()
                actions = planner(self.state_of(row), self.wedsync_of(row.event, row), outlook, self.settings_for(row))
                try:
                    self.execute(row, actions, outlook)
                    return
                except Replan as again:
                    outlook = again.outlook or outlook
                    row.refresh_from_db()
            raise outcomes.KeptChanging("this event kept changing while we synced it", status=409)

    def execute(self, row: OutlookEventMapping, actions: list[plan.Action], outlook: plan.Outlook) -> None:
        """Carry out the planner's actions; a precondition that no longer holds raises :class:`Replan`."""
        event = row.event
        new_key: str | None = None
        new_version: int | None = None
        written = False
        seen_side = outlook  # what Outlook holds after these actions (for outlookEventTitle/Date)
        journaled = row.kind == "event"
        outlook_before, subject_before = self.journal_outlook_before(row, outlook) if journaled else ({}, "")
        for action in actions:
            if isinstance(action, plan.ReadOutlookAgain):
                raise Replan(self.read_copy(row))
            if isinstance(action, plan.Nothing):
                continue
            if isinstance(action, plan.UpdateOutlook):
                fields = mapping.event_fields(event_values(event), self.prefs_for(row), fields=set(action.fields))
                try:
                    updated = calendar_api.update_event(self.client, EventUpdate(row.outlook_event_id, fields, if_match=action.if_match))
                except PreconditionFailedError:
                    raise Replan(self.read_copy(row)) from None
                except NotFoundError:
                    raise Replan(plan.Outlook(plan.Seen.DELETED)) from None
                new_key = updated.change_key if updated is not None else None
                if updated is not None:
                    outlook = self.outlook_side(updated, row)
                    seen_side = outlook
                written = True
                if journaled:
                    self.journal_outlook_update(row, event, action.fields, outlook_before, subject_before)
            elif isinstance(action, plan.ApplyToWedSync):
                wedsync_before = mapping.snapshot_from_wedsync(event_values(event), self.prefs)
                try:
                    updated_event = event_actions.update_event(
                        event, source=SYNC_SOURCE, expected_version=action.expected_version,
                        **mapping.wedsync_changes(action.fields, current_values=event_values(event)),
                    )
                except event_actions.EventVersionConflict:
                    # The supplier edited it this very moment: plan again with their edit and what Outlook holds now.
                    if new_key is not None:
                        self.store_key(row, new_key)
                    raise Replan(outlook) from None
                new_version = updated_event.version
                event = row.event = updated_event  # what Outlook takes next is built from these values
                written = True
                self.journal.wedsync(ChangeKind.UPDATED, event, journal.diff(wedsync_before, action.fields, action.fields.keys()))
            elif isinstance(action, plan.NoteOutlookVersion):
                wedsync_before = mapping.snapshot_from_wedsync(event_values(event), self.prefs)
                note = outlook_version_note(event.description, action.conflicts)
                try:
                    event = row.event = event_actions.update_event(event, source=SYNC_SOURCE, expected_version=event.version, description=note)
                except event_actions.EventVersionConflict:
                    raise Replan(outlook) from None
                written = True
                wedsync_after = mapping.snapshot_from_wedsync(event_values(event), self.prefs)
                self.journal.wedsync(ChangeKind.UPDATED, event, journal.diff(wedsync_before, wedsync_after, ["description"]))
            elif isinstance(action, plan.SoftDeleteInWedSync):
                wedsync_before = mapping.snapshot_from_wedsync(event_values(event), self.prefs)
                try:
                    event_actions.delete_event(event, source=SYNC_SOURCE, expected_version=action.expected_version)
                except event_actions.EventVersionConflict:
                    raise Replan(outlook) from None
                self.progress(deleted=1)
                self.journal.wedsync(ChangeKind.DELETED, event, journal.diff(wedsync_before, None))
            elif isinstance(action, plan.DeleteInOutlook):
                try:
                    calendar_api.delete_event(self.client, row.outlook_event_id, if_match=action.if_match)
                except PreconditionFailedError:
                    raise Replan(self.read_copy(row)) from None
                self.progress(deleted=1)
                if journaled:
                    self.journal.outlook(ChangeKind.DELETED, event, {**journal.diff(outlook_before, None), "subject": {"old": subject_before, "new": None}},
                                         event_id=row.wedsync_event_id, title=(event.title if event is not None else outlook_before.get("title", "")))
            elif isinstance(action, plan.CreateInOutlook):
                created = self.create_copy(row, event, recreate=action.recreate)
                new_key = created.change_key
                seen_side = self.outlook_side(created, row)
                self.progress(created=1)
                self.journal_outlook_created(event)
            elif isinstance(action, plan.RecordConflict):
                row.sync_conflicts = [c.to_contract() for c in action.conflicts]
                row.sync_state = MappingState.CONFLICT
                if action.change_key is not None:
                    row.outlook_change_key = action.change_key
                if event is not None:
                    row.synced_wedsync_version = event.version
                row.last_synced_at = timezone.now()
                row.outlook_last_seen = seen.last_seen_of(seen_side, [row.prefix_applied, self.prefs.event_prefix]) or row.outlook_last_seen
                row.save()
                self.progress(processed=1, conflicts=len(action.conflicts))
            elif isinstance(action, plan.Remember):
                row.base_snapshot = dict(action.base)
                row.outlook_change_key = new_key or action.change_key or row.outlook_change_key
                row.synced_wedsync_version = new_version if new_version is not None else (event.version if event is not None else row.synced_wedsync_version)
                row.sync_conflicts = [c.to_contract() for c in action.conflicts]
                row.sync_state = MappingState.CONFLICT if action.conflicts else MappingState.SYNCED
                row.outlook_last_seen = seen.last_seen_of(seen_side, [action.prefix, row.prefix_applied, self.prefs.event_prefix]) or row.outlook_last_seen
                row.prefix_applied = action.prefix
                row.reminder_applied = _reminder_code(action.reminder)
                row.needs_recreate = False
                row.last_error = {}
                row.last_synced_at = timezone.now()
                if event is not None:
                    row.wedsync_event_type = event.event_type
                row.save()
                self.progress(processed=1, updated=int(written), conflicts=len(action.conflicts))
                if written and self.prefs.sync_travel_time and self.pushes and event is not None:
                    self.sync_travel(event)
            elif isinstance(action, plan.Forget):
                if row.pk:
                    row.delete()
                self.progress(processed=1)
            else:  # pragma: no cover
                raise TypeError(f"unknown action {action!r}")

    # --- the change journal (values as the supplier sees them; see journal.py) ---
    def journal_outlook_before(self, row: OutlookEventMapping, outlook: plan.Outlook) -> tuple[dict, str]:
        """What Outlook holds before this event's actions: read now, else what we last wrote (the base); and its subject."""
        if outlook.seen is plan.Seen.PRESENT:
            before = plan.outlook_view(outlook, plan.State(prefix_applied=row.prefix_applied))
            subject = str((outlook.snapshot or {}).get("title") or "")
        else:
            before = dict(row.base_snapshot or {})
            subject = f"{row.prefix_applied or ''}{before.get('title', '')}" if before else ""
        before["reminder"] = None if row.reminder_applied in (None, -1) else row.reminder_applied
        return before, subject

    def journal_outlook_update(self, row, event, fields, before: dict, subject_before: str) -> None:
        after = {**mapping.snapshot_from_wedsync(event_values(event), self.prefs), "reminder": mapping.reminder_minutes(self.prefs)}
        changes = journal.diff(before, after, [f for f in fields if f in before or f in after])
        subject_after = f"{self.prefs.event_prefix}{after['title']}"
        if "title" in fields and "title" not in changes and subject_before and subject_before != subject_after:
            changes["subject"] = {"old": subject_before, "new": subject_after}
        self.journal.outlook(ChangeKind.UPDATED, event, changes)

    def journal_outlook_created(self, event) -> None:
        after = {**mapping.snapshot_from_wedsync(event_values(event), self.prefs), "reminder": mapping.reminder_minutes(self.prefs)}
        self.journal.outlook(ChangeKind.CREATED, event, {**journal.diff(None, after), "subject": {"old": None, "new": f"{self.prefs.event_prefix}{after['title']}"}})

    def store_key(self, row: OutlookEventMapping, key: str) -> None:
        row.outlook_change_key = key
        OutlookEventMapping.objects.filter(pk=row.pk).update(outlook_change_key=key)

    def read_copy(self, row: OutlookEventMapping) -> plan.Outlook:
        try:
            return self.outlook_side(calendar_api.get_event(self.client, row.outlook_event_id), row)
        except NotFoundError:
            return plan.Outlook(plan.Seen.DELETED)

    def create_copy(self, row: OutlookEventMapping, event: CalendarEvent, *, recreate: bool) -> GraphEvent:
        """(Re)make the Outlook copy; our own tagged copy is looked up first, so a crashed create is never made twice."""
        found = self.find_own_copy(event)
        if found is None or found.id == row.outlook_event_id:
            new = mapping.new_event(event_values(event), self.prefs_for(row), integration_id=str(self.integration.pk))
            if recreate:
                new = dataclasses.replace(new, transaction_id=mapping.transaction_id(str(self.integration.pk), f"{event.id}:after:{row.outlook_event_id}"))
            found = calendar_api.create_event(self.client, self.integration.calendar_id, new)
        row.outlook_event_id = found.id
        row.outlook_calendar_id = self.integration.calendar_id
        return found

    def find_own_copy(self, event: CalendarEvent) -> GraphEvent | None:
        return calendar_api.find_tagged(self.client, self.integration.calendar_id, mapping.TAG_PROPERTY_ID, mapping.tag_value(self.integration.pk, event.id))

    @contextlib.contextmanager
    def guard(self, row: OutlookEventMapping | None, *, event_id=None, event_type=None, events: Iterable[CalendarEvent] = ()):
        """The one per-event guard: a failing event is recorded and the run goes on; :data:`RUN_ENDING` errors end the run.

        ``events``: a failure of a request covering several events (a ``$batch``) is recorded for each.
        """
        try:
            yield
        except RUN_ENDING:
            raise
        except Exception as exc:  # noqa: BLE001  (one event must not stop the run)
            for event in events:
                self.record_error(exc, event_id=event.id, event_type=event.event_type)
            if not events:
                self.record_error(exc, event_id=event_id if row is None else row.wedsync_event_id,
                                  event_type=event_type or (row.wedsync_event_type if row else ""), mapping_row=row)

    def force(self, event_ids: list[str]) -> None:
        """``force-sync``: read the event on both sides now and make the run's direction win every difference."""
        for event_id in event_ids:
            row = OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=str(event_id), kind="event").select_related("event").first()
            with self.guard(row, event_id=event_id):
                if row is None:
                    if self.pushes:
                        self.create_missing(only=[event_id])
                    continue
                self.settle(row, self.read_copy(row))

    # --- WedSync side ---
    def push_wedsync(self, only: Iterable[str] | None = None) -> None:
        """Send WedSync changes to Outlook: edits and deletes of mapped events, then new events in bulk."""
        self.remove_marked()
        if not self.pushes and not only:
            return
        changed = selectors.mappings_changed_in_wedsync(self.integration).exclude(sync_state=MappingState.REMOVING).select_related("event")
        if only:
            changed = changed.filter(wedsync_event_id__in=[str(i) for i in only])
        listed = list(changed)
        rows = [row for row in listed if row.pk not in self.handled]
        if self.outlook_counting == "all" and len(rows) < len(listed):
            self.expect(len(rows) - len(listed))  # counted up front and again as an Outlook change: once is enough
        for row in rows:
            with self.guard(row):
                self.settle(row, plan.Outlook(plan.Seen.UNREAD))
        if self.pushes:
            self.create_missing(only)

    def unmapped_events(self, only: Iterable[str] | None = None):
        events = selectors.unmapped_events(self.integration, *self.window)
        if only:
            events = events.filter(pk__in=[uuid for uuid in map(as_uuid, only) if uuid])
        return [e for e in events if mapping.is_type_synced(e.event_type, self.prefs)]

    #: Up to this many new events, each is looked up by its tag before it is created; above, one listing of our tagged copies.
    LOOKUP_ONE_BY_ONE = 5

    def adopt_own_copies(self, events: list[CalendarEvent]) -> list[CalendarEvent]:
        """Link copies a crashed run created but never recorded (found by their tag); return the events still to create.

        ``transactionId`` alone is not enough: Microsoft documents its purpose,
        not how long it is remembered.
        """
        integration_id = str(self.integration.pk)
        if len(events) <= self.LOOKUP_ONE_BY_ONE:
            found = {str(e.id): self.find_own_copy(e) for e in events}
            found = {k: v for k, v in found.items() if v is not None}
        else:
            ids = calendar_api.tagged_events(self.client, self.integration.calendar_id, mapping.TAG_PROPERTY_ID, value_prefix=f"{integration_id}:")
            found = {}
            for item in ids:
                tag = mapping.tag_of(item, integration_id)
                if tag and tag[0] == "event":
                    found[tag[1]] = item
        rest = []
        for event in events:
            item = found.get(str(event.id))
            if item is None:
                rest.append(event)
                continue
            with self.guard(None, event_id=event.id, event_type=event.event_type):
                row = self.link_copy(event, item)
                self.settle(row, self.outlook_side(item, row))
        return rest

    def create_missing(self, only: Iterable[str] | None = None) -> None:
        """Create in Outlook every WedSync event in the window that has no Outlook copy yet.

        Our own tagged copies left by a crashed run are adopted first. Creates
        go out as ``$batch`` requests of 20, one at a time: Outlook runs up to 4
        items of a batch in parallel, and those count against the mailbox's 4
        concurrent requests. Each create carries ``transactionId`` =
        f(integration, event).
        """
        events = self.unmapped_events(only)
        if not events:
            return
        events = self.adopt_own_copies(events)
        if not events:
            return
        integration_id = str(self.integration.pk)
        self.inviting = self.invites_on_create(events)
        creates = [
            (event, False, mapping.new_event(event_values(event), self.prefs if event.id in self.inviting else self.quiet_prefs, integration_id=integration_id))
            for event in events
        ]
        if self.prefs.sync_travel_time:
            creates += self.travel_creates(events)
        chunks = [creates[i:i + 20] for i in range(0, len(creates), 20)]
        workers = max(1, min(settings.SYNC_BATCH_CONCURRENCY, len(chunks)))
        sender = _BatchSender(self.integration, self.client.token_provider(False))  # the run's token (read once, see tokens.TokenSource)
        with sender, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graph-batch") as pool:
            futures = {pool.submit(sender.send, [new for _, _, new in chunk]): chunk for chunk in chunks}
            for future in as_completed(futures):
                chunk = futures[future]
                answers = None
                with self.guard(None, events=[event for event, _, _ in chunk]):
                    answers = future.result()
                if answers is not None:
                    self.store_created(chunk, answers)

    def travel_creates(self, events: list[CalendarEvent]) -> list:
        """``(event, True, travel block)`` for each new event that needs a travel block and has none."""
        existing = set(
            OutlookEventMapping.objects.filter(integration=self.integration, kind="travel", wedsync_event_id__in=[f"travel:{e.id}" for e in events])
            .values_list("wedsync_event_id", flat=True)
        )
        out = []
        for event in events:
            travel = mapping.travel_event(event_values(event), self.prefs, integration_id=str(self.integration.pk))
            if travel is not None and f"travel:{event.id}" not in existing:
                out.append((event, True, travel))
        return out

    def store_created(self, chunk, answers: list[GraphEvent | GraphError]) -> None:
        rows, errors, created_ids = [], 0, []
        reminder = _reminder_code(mapping.reminder_minutes(self.prefs))
        for (event, travel, _), created in zip(chunk, answers):
            if isinstance(created, GraphError):
                self.errors.append(wording.sync_error(created, event_id=event.id, event_type=event.event_type))
                errors += 1
                continue
            invites = not travel and event.id in self.inviting
            prefs = self.prefs if invites else self.quiet_prefs
            rows.append(OutlookEventMapping(
                integration=self.integration, event=event, kind="travel" if travel else "event",
                wedsync_event_type=event.event_type, wedsync_event_id=f"travel:{event.id}" if travel else str(event.id),
                outlook_event_id=created.id, outlook_calendar_id=self.integration.calendar_id,
                base_snapshot=mapping.travel_snapshot(event_values(event)) if travel else mapping.snapshot_from_wedsync(event_values(event), prefs),
                invites_attendees=invites,
                outlook_change_key=created.change_key or None, synced_wedsync_version=event.version, sync_state=MappingState.SYNCED,
                prefix_applied=self.prefs.event_prefix, reminder_applied=None if travel else reminder,
                outlook_last_seen={} if travel else seen.last_seen(mapping.snapshot_from_graph(created, prefs, event.event_type, prefix=""), [self.prefs.event_prefix]),
            ))
            created_ids.append(created.id)
            if not travel:
                self.journal_outlook_created(event)
        with transaction.atomic():
            OutlookEventMapping.objects.bulk_create(rows, ignore_conflicts=True)
            OutlookBusyTime.objects.filter(integration=self.integration, outlook_event_id__in=created_ids).delete()
            self.journal.flush()  # one INSERT per batch of creates
        self.created += len(rows)
        self.created_outlook_ids.update(created_ids)
        self.progress(processed=len(chunk), created=len(rows), errors=errors)

    def travel_changed(self, row: OutlookEventMapping, item: GraphEvent) -> None:
        """A travel block changed in Outlook. WedSync owns travel blocks (one-way, ``mapping.travel_event``):
        an edit of its subject or time is put back; a change of Outlook's own (a body turned into HTML) only
        moves the stored changeKey."""
        event = row.event
        if event is None or event.is_deleted or not self.pushes or item.start is None:
            return
        expected = mapping.travel_snapshot(event_values(event))
        if expected is None:
            return
        starts = event.starts_at - dt.timedelta(minutes=int(event.travel_minutes))
        if item.subject == f"{self.prefs.event_prefix}{expected['title']}" and item.start == starts and item.end == event.starts_at:
            OutlookEventMapping.objects.filter(pk=row.pk).update(outlook_change_key=item.change_key)
            return
        self.sync_travel(event)

    def sync_travel(self, event: CalendarEvent) -> None:
        """Move (or create) the travel block in front of an event whose time changed."""
        row = OutlookEventMapping.objects.filter(integration=self.integration, wedsync_event_id=f"travel:{event.id}").first()
        travel = mapping.travel_event(event_values(event), self.prefs, integration_id=str(self.integration.pk))
        if row is None or travel is None:
            if row is not None and self.delete_copies([row.outlook_event_id]).get(row.outlook_event_id):
                row.delete()
            return
        moved = EventUpdate(row.outlook_event_id, travel.fields.only({"timing", "subject"}), if_match=None)  # travel blocks are WedSync's alone
        try:
            updated = calendar_api.update_event(self.client, moved)
        except NotFoundError:
            row.delete()
            return
        row.outlook_change_key = updated.change_key if updated is not None else row.outlook_change_key
        row.base_snapshot = mapping.travel_snapshot(event_values(event))
        row.synced_wedsync_version = event.version
        row.prefix_applied = self.prefs.event_prefix
        row.save(update_fields=["outlook_change_key", "base_snapshot", "synced_wedsync_version", "prefix_applied", "last_synced_at"])

    # --- deleting our copies ---
    def delete_copies(self, outlook_ids: list[str]) -> dict[str, bool]:
        """Delete these Outlook copies (ours) in batches; per id whether Outlook confirmed."""
        return calendar_api.delete_events(self.client, outlook_ids)


class Replan(Exception):
    """A side moved under an action (412, 404, WedSync version): plan again with what we now know of Outlook."""

    def __init__(self, outlook: plan.Outlook | None):
        super().__init__("replan")
        self.outlook = outlook


def _reminder_code(minutes: int | None) -> int:
    """``reminder_applied`` column value: minutes, or -1 for reminders off."""
    return -1 if minutes is None else int(minutes)


def remove_copies_keeping_edits(integration: OutlookCalendarIntegration, outlook_ids: Iterable[str]) -> None:
    """Disconnect with "remove", the caller holding the integration's run lock: these copies of ours (edited in
    Outlook since the last sync, in conflict, or changed while being deleted) leave Outlook through the planner.

    One run (reason ``disconnect``) settles each with :func:`plan.plan_disconnect_removal`: the copy is read,
    Outlook's edits are taken into WedSync (what conflicts: WedSync keeps its value and the description notes
    Outlook's), then it is deleted with ``If-Match`` (a copy changed meanwhile is read and planned again) and its
    mapping forgotten. A copy the run could not settle keeps its mapping (the caller counts it); Outlook throttling,
    refusing the connection or a retryable failure of any copy ends the run and is raised (the caller tries again later).
    """
    rows = list(OutlookEventMapping.objects.filter(integration=integration, kind="event", outlook_event_id__in=list(outlook_ids)).select_related("event"))
    if not rows:
        return
    run, _ = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, direction=integration.sync_direction, triggered_by="disconnect",
                           specific_event_ids=[row.wedsync_event_id for row in rows if row.wedsync_event_id])
    runs.mark_started(run, total_events=len(rows))
    engine = SyncEngine(integration, run)
    try:
        try:
            for row in rows:
                with engine.guard(row):
                    engine.settle(row, plan.Outlook(plan.Seen.UNREAD), planner=plan.plan_disconnect_removal)
            if any(error.get("retryable") for error in engine.errors):  # e.g. the mailbox stayed busy: try again later, never give up on an edit
                raise RetryableServerError("some of WedSync's events could not be settled yet", status=503, code="busy")
        finally:
            engine.flush_progress()
    except GraphError as exc:
        runs.finish(run, errors=[*engine.errors, wording.run_error(exc)], failed=True)
        raise
    runs.finish(run, errors=engine.errors)


#: Heads the note a disconnect adds to a WedSync event whose Outlook copy disagreed (a conflict no longer decidable).
OUTLOOK_VERSION_NOTE = "When Outlook was disconnected, its copy of this event differed; WedSync kept its own version. Outlook had:"


def outlook_version_note(description: str, conflicts: Iterable[merge.SyncConflict]) -> str:
    """``description`` with Outlook's side of these conflicts appended in words (once: a second call adds nothing)."""
    lines = [f"- {undo.FIELD_LABELS.get(c.field, c.field)}: "
             f"{c.outlook_value if c.field == 'description' else undo.value_text(c.field, c.outlook_value)}" for c in conflicts]
    note = "\n".join([OUTLOOK_VERSION_NOTE, *lines])
    if note in (description or ""):
        return description
    return f"{description.rstrip()}\n\n{note}" if (description or "").strip() else note


class _BatchSender:
    """Sends the ``$batch`` creates of a bulk push from its worker threads: one Graph client (and kept-alive HTTPS
    connection) per thread for the whole run, not a new TLS handshake per batch; the DB only if the token must be
    refreshed. Close it (``with``) after the threads are done."""

    def __init__(self, integration: OutlookCalendarIntegration, access_token: str):
        self.integration_id = integration.pk
        self.mailbox = integration.microsoft_user_id
        self.calendar_id = integration.calendar_id
        self.access_token = access_token
        self.local = threading.local()
        self.clients: list[GraphClient] = []
        self.guard = threading.Lock()

    def provider(self, force_refresh: bool) -> str:
        return tokens.access_token(self.integration_id, force_refresh=True) if force_refresh else self.access_token

    def send(self, creates: list[NewEvent]) -> list[GraphEvent | GraphError]:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = GraphClient(self.mailbox, self.provider, slots=locks.mailbox_slots)
            with self.guard:
                self.clients.append(client)
        try:
            return calendar_api.create_events(client, self.calendar_id, creates)
        finally:
            connections.close_all()

    def __enter__(self) -> _BatchSender:
        return self

    def __exit__(self, *exc) -> None:
        for client in self.clients:
            client.session.close()


def as_uuid(value) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (ids from Outlook tags and API input are untrusted text)."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
