"""The spec's three tables (WS-217) plus the state that sync needs.

Table, column, constraint and index names follow the spec's SQL exactly; the
extra columns (documented per field) hold what two-way sync depends on: base
snapshots, change keys, the delta link, the webhook clientState, the
needs-reauthorization flag and per-run progress.

Tokens are stored only as Fernet ciphertext (see :mod:`outlook_sync.crypto`);
read and write them with :meth:`OutlookCalendarIntegration.set_tokens`,
:meth:`~OutlookCalendarIntegration.get_access_token` and
:meth:`~OutlookCalendarIntegration.get_refresh_token`.
"""
from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import connection, models
from django.db.models import Value
from django.db.models.functions import Now
from django.utils import timezone

from wedsync.events.models import CalendarEvent, EventType

from . import crypto


def default_sync_preferences() -> dict:
    """The spec's default ``sync_preferences`` JSON, verbatim."""
    return {
        "syncClientMeetings": True,
        "syncWeddingEvents": True,
        "syncDeadlines": True,
        "syncTravelTime": False,
        "eventPrefix": "WedSync: ",
        "createSeparateCalendar": False,
        "notificationMinutes": [15, 60],
    }


class SyncDirection(models.TextChoices):
    TO_OUTLOOK = "to_outlook", "WedSync → Outlook only"
    FROM_OUTLOOK = "from_outlook", "Outlook → WedSync only"
    BIDIRECTIONAL = "bidirectional", "Two-way sync"


class LastSyncStatus(models.TextChoices):
    PENDING = "pending", "Not synced yet"
    SUCCESS = "success", "Up to date"
    ERROR = "error", "Failed"
    PARTIAL = "partial", "Some events failed"


class SyncType(models.TextChoices):
    FULL_SYNC = "full_sync", "Full sync"
    INCREMENTAL = "incremental", "Incremental"
    SINGLE_EVENT = "single_event", "Single event"
    WEBHOOK_TRIGGERED = "webhook_triggered", "Outlook change"


class SyncStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class MappingState(models.TextChoices):
    SYNCED = "synced", "Synced"
    PENDING = "pending", "Waiting to sync"
    CONFLICT = "conflict", "Needs your decision"
    ERROR = "error", "Couldn't sync"
    #: The copy must leave Outlook (type switched off, calendar switched); forgotten once Outlook confirms.
    REMOVING = "removing", "Being removed from Outlook"


class RunMode(models.TextChoices):
    NORMAL = "normal", "Normal"
    #: ``force-sync``: the run's direction wins every difference, open conflicts included.
    FORCE = "force", "Forced"
    #: Undo of journaled changes (:mod:`outlook_sync.sync.undo`): the changes it reverses point at it (``undone_by``).
    UNDO = "undo", "Undo"


class ConnectionState(models.TextChoices):
    CONNECTED = "connected", "Connected"
    #: The supplier asked to disconnect: a worker is removing WedSync's copies (or leaving them), then the row goes.
    #: Nothing syncs meanwhile; sync, settings and connect requests answer 409 ``disconnecting``.
    DISCONNECTING = "disconnecting", "Disconnecting"


class DisconnectChoice(models.TextChoices):
    REMOVE = "remove", "Remove WedSync's events from Outlook"
    KEEP = "keep", "Leave them in Outlook as ordinary events"


class DisconnectStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "Disconnecting"
    COMPLETED = "completed", "Disconnected"


class SpecIndex(models.Index):
    """An index whose name is the spec's: PostgreSQL allows 63 characters, Django's portable default is 30."""

    max_name_length = 63


def _check(field: str, choices: type[models.TextChoices], table: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=f"{table}_{field}_check")


class OutlookCalendarIntegration(models.Model):
    """A supplier's connection to one Microsoft 365 account and calendar (at most one per supplier)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, related_name="outlook_integrations")
    tenant_id = models.CharField(max_length=255)
    microsoft_user_id = models.CharField(max_length=255)
    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField()
    token_expires_at = models.DateTimeField()
    calendar_id = models.CharField(max_length=255, null=True, blank=True)
    calendar_name = models.TextField(null=True, blank=True)
    sync_enabled = models.BooleanField(default=True, db_default=True)
    sync_direction = models.TextField(choices=SyncDirection.choices, default=SyncDirection.BIDIRECTIONAL, db_default=SyncDirection.BIDIRECTIONAL)
    sync_preferences = models.JSONField(default=default_sync_preferences, db_default=Value(default_sync_preferences(), models.JSONField()))
    webhook_subscription_id = models.CharField(max_length=255, null=True, blank=True)
    webhook_expires_at = models.DateTimeField(null=True, blank=True)
    #: The calendar whose events the subscription watches: the synced calendar when it was made. A switch of
    #: calendar (or an undo of one) makes the subscription stale; its upkeep replaces it (``subscriptions.maintain``).
    webhook_calendar_id = models.CharField(max_length=255, null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_status = models.TextField(choices=LastSyncStatus.choices, default=LastSyncStatus.PENDING, db_default=LastSyncStatus.PENDING)
    sync_errors = models.JSONField(default=list, blank=True, db_default=Value([], models.JSONField()))
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)

    # --- sync state beyond the spec's columns ---
    #: The Microsoft account's sign-in name, shown to the supplier and searchable by support.
    microsoft_account_email = models.CharField(max_length=320, blank=True, default="")
    #: Set when Microsoft refused the refresh token: sync stops until the supplier reconnects.
    needs_reauthorization = models.BooleanField(default=False)
    #: Why reauthorization is needed, in words for the supplier.
    reauthorization_reason = models.TextField(blank=True, default="")
    #: calendarView delta link of the synced window (None until the first full read).
    delta_link = models.TextField(null=True, blank=True)
    delta_window_start = models.DateTimeField(null=True, blank=True)
    delta_window_end = models.DateTimeField(null=True, blank=True)
    #: Secret echoed by Graph in every change notification (verified in constant time).
    webhook_client_state = models.CharField(max_length=128, blank=True, default="")
    #: Whether the supplier wants real-time updates from Outlook (``webhookEnabled``).
    webhook_enabled = models.BooleanField(default=True)
    #: Stored conflict rules from ``setAsDefault``: {"<eventType>:<conflictType>": "wedsync"|"outlook"}.
    default_conflict_rules = models.JSONField(default=dict, blank=True)
    #: Until when Microsoft asked us to slow down (shown as "throttled, will retry").
    throttled_until = models.DateTimeField(null=True, blank=True)
    #: The account's calendars (spec ``OutlookCalendar`` shape), read by the worker: pages never ask Microsoft.
    calendar_list = models.JSONField(default=list, blank=True, db_default=Value([], models.JSONField()))
    calendar_list_at = models.DateTimeField(null=True, blank=True)
    #: Connected, or being disconnected by a worker (see :class:`OutlookDisconnect` for the choice and progress).
    connection_state = models.CharField(max_length=16, choices=ConnectionState.choices, default=ConnectionState.CONNECTED,
                                        db_default=ConnectionState.CONNECTED)
    #: Just signed in, the guided step not confirmed yet: nothing is written to Outlook (no run, push or
    #: subscription) until the supplier has picked the calendars and seen what the first sync will do.
    needs_setup = models.BooleanField("waiting for the supplier to finish setting up", default=False, db_default=False)

    class Meta:
        db_table = "outlook_calendar_integrations"
        verbose_name = "Outlook integration"
        indexes = [SpecIndex(fields=["user"], name="idx_outlook_integrations_user")]
        constraints = [
            _check("sync_direction", SyncDirection, "outlook_calendar_integrations"),
            _check("last_sync_status", LastSyncStatus, "outlook_calendar_integrations"),
            _check("connection_state", ConnectionState, "outlook_calendar_integrations"),
            models.UniqueConstraint(fields=["user"], name="outlook_calendar_integrations_one_per_supplier"),
            # A Microsoft account links to at most one supplier: two integrations on one mailbox would
            # read each other's events as busy time and delete each other's events on disconnect.
            models.UniqueConstraint(fields=["tenant_id", "microsoft_user_id"], name="outlook_calendar_integrations_one_per_microsoft_account"),
        ]
        permissions = [("run_support_actions", "Can run support actions (resync, renew subscription, clear conflicts, ask to reconnect)")]

    def __repr__(self) -> str:  # never includes tokens
        return f"<OutlookCalendarIntegration {self.id} user={self.user_id} ms_user={self.microsoft_user_id}>"

    def __str__(self) -> str:
        return f"Outlook for {self.microsoft_account_email or self.microsoft_user_id}"

    # --- tokens (ciphertext only in the columns) ---
    def set_tokens(self, *, access_token: str, refresh_token: str, expires_at) -> None:
        """Encrypt and set both tokens and their expiry (the caller saves)."""
        self.access_token_encrypted = crypto.encrypt(access_token)
        self.refresh_token_encrypted = crypto.encrypt(refresh_token)
        self.token_expires_at = expires_at

    def get_access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    def get_refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)


class OutlookEventMapping(models.Model):
    """Links one WedSync event to its copy in Outlook, with the state to merge them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, db_index=False, related_name="mappings")
    wedsync_event_type = models.TextField(choices=EventType.choices)
    wedsync_event_id = models.CharField(max_length=255)
    outlook_event_id = models.CharField(max_length=255)
    outlook_calendar_id = models.CharField(max_length=255)
    last_synced_at = models.DateTimeField(default=timezone.now, db_default=Now())
    sync_hash = models.CharField(max_length=255, null=True, blank=True)
    sync_conflicts = models.JSONField(default=list, blank=True, db_default=Value([], models.JSONField()))
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    # --- sync state beyond the spec's columns ---
    #: The WedSync event as a real foreign key (the spec's ``wedsync_event_id`` is its id as text),
    #: so that "which events changed since their last sync" is one indexed join.
    event = models.ForeignKey(CalendarEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="outlook_mappings")
    #: What this Outlook event is for WedSync: the event itself, or its travel-time block.
    kind = models.CharField(max_length=8, choices=[("event", "Event"), ("travel", "Travel time")], default="event")
    #: Field values both sides agreed on at the last sync (the merge base).
    base_snapshot = models.JSONField(default=dict, blank=True)
    #: Outlook's changeKey after our last read or write: an equal key is our own echo. None: unknown (read first).
    outlook_change_key = models.CharField(max_length=255, null=True, blank=True, default=None)
    #: The WedSync event version last synced; a higher version means WedSync changed.
    synced_wedsync_version = models.PositiveIntegerField(default=0)
    #: The Outlook copy is gone and must be made again (the supplier chose to keep the WedSync event).
    needs_recreate = models.BooleanField(default=False, db_default=False)
    #: The ``eventPrefix`` the Outlook subject was written with (stripped exactly when reading it back).
    prefix_applied = models.CharField(max_length=64, null=True, blank=True)
    #: Reminder minutes written to the copy; -1 = reminders off, None = not recorded.
    reminder_applied = models.IntegerField(null=True, blank=True)
    sync_state = models.CharField(max_length=16, choices=MappingState.choices, default=MappingState.SYNCED)
    #: The last per-event error ({errorCode, errorMessage, retryable}) or empty.
    last_error = models.JSONField(default=dict, blank=True)
    #: What Outlook held when we last read or wrote the event: {"subject", "title" (prefix stripped as applied),
    #: "start" (UTC ``...Z``, or the date of an all-day event), "allDay"}; shown as outlookEventTitle/outlookEventDate.
    outlook_last_seen = models.JSONField(default=dict, blank=True)
    #: Attendees are synced to this copy (so Outlook mails them): only copies made for a single new event of an
    #: invited type. Copies made by a connect, resync, reconnect or bulk change never carry attendees.
    invites_attendees = models.BooleanField(default=False)

    class Meta:
        db_table = "outlook_event_mappings"
        verbose_name = "Outlook event mapping"
        indexes = [
            SpecIndex(fields=["integration"], name="idx_outlook_event_mappings_integration"),
            SpecIndex(fields=["wedsync_event_id"], name="idx_outlook_event_mappings_wedsync_event"),
            SpecIndex(fields=["outlook_event_id"], name="idx_outlook_event_mappings_outlook_event"),
        ]
        constraints = [
            _check("wedsync_event_type", EventType, "outlook_event_mappings"),
            _check("sync_state", MappingState, "outlook_event_mappings"),
            models.UniqueConstraint(fields=["integration", "wedsync_event_id"], name="outlook_event_mappings_integration_id_wedsync_event_id_key"),
            models.UniqueConstraint(fields=["integration", "outlook_event_id"], name="outlook_event_mappings_integration_id_outlook_event_id_key"),
        ]

    @classmethod
    def remember_outlook_changes(cls, rows: list[OutlookEventMapping]) -> None:
        """Store ``outlook_change_key``, ``outlook_last_seen`` and ``last_synced_at`` of these rows in one UPDATE.

        (``bulk_update`` builds a CASE per row and field: 2 s of Python for 1,000 rows; on PostgreSQL this is one
        statement over ``unnest`` of the arrays. Other databases, i.e. the demo's SQLite, get ``bulk_update``.)
        """
        if not rows:
            return
        if connection.vendor != "postgresql":  # the demo's SQLite has neither unnest nor array parameters
            cls.objects.bulk_update(rows, ["outlook_change_key", "outlook_last_seen", "last_synced_at"])
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {cls._meta.db_table} AS m
                    SET outlook_change_key = v.change_key, outlook_last_seen = v.last_seen, last_synced_at = v.synced_at
                    FROM unnest(%s::uuid[], %s::varchar[], %s::jsonb[], %s::timestamptz[]) AS v(id, change_key, last_seen, synced_at)
                    WHERE m.id = v.id""",
                [[r.pk for r in rows], [r.outlook_change_key for r in rows], [json.dumps(r.outlook_last_seen) for r in rows], [r.last_synced_at for r in rows]],
            )

    def __str__(self) -> str:
        title = self.event.title if self.event_id and self.event is not None else self.wedsync_event_id
        what = "Travel time for" if self.kind == "travel" else self.get_wedsync_event_type_display()
        return f"{what} “{title}” ({self.get_sync_state_display().lower()})"


class OutlookSyncHistory(models.Model):
    """One sync run (a "sync job"): its counters, live progress and errors. ``syncId`` is its id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, db_index=False, related_name="sync_history")
    sync_type = models.TextField(choices=SyncType.choices)
    sync_direction = models.TextField(choices=SyncDirection.choices)
    events_processed = models.IntegerField(default=0, db_default=0)
    events_created = models.IntegerField(default=0, db_default=0)
    events_updated = models.IntegerField(default=0, db_default=0)
    events_deleted = models.IntegerField(default=0, db_default=0)
    conflicts_detected = models.IntegerField(default=0, db_default=0)
    sync_status = models.TextField(choices=SyncStatus.choices)
    sync_errors = models.JSONField(default=list, blank=True, db_default=Value([], models.JSONField()))
    sync_duration_ms = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.TextField(default="manual", db_default="manual")
    #: What the run does (``triggered_by`` only says who asked): a retry of a forced run is forced too.
    mode = models.CharField(max_length=8, choices=RunMode.choices, default=RunMode.NORMAL, db_default=RunMode.NORMAL)

    # --- progress beyond the spec's columns ---
    #: How many events this run expects to process (for progress and time remaining).
    total_events = models.IntegerField(default=0)
    error_events = models.IntegerField(default=0)
    #: True from the run's creation until a worker begins it (the API shows ``queued``).
    is_queued = models.BooleanField(default=False)
    #: When a worker actually began the run (``started_at`` stays the time it was requested).
    began_at = models.DateTimeField(null=True, blank=True)
    #: A retry of a run Outlook refused as a whole waits until this time (Outlook's ``Retry-After``, at least
    #: ``engine.RETRY_DELAY_SECONDS``); null for every other run. The API shows it as ``retryAt`` while the run waits.
    retry_at = models.DateTimeField(null=True, blank=True)
    #: Only these WedSync event ids (``specificEvents``), or empty for all.
    specific_event_ids = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "outlook_sync_history"
        verbose_name = "Outlook sync run"
        verbose_name_plural = "Outlook sync history"
        ordering = ["-started_at"]
        indexes = [
            SpecIndex(fields=["integration"], name="idx_outlook_sync_history_integration"),
            SpecIndex(fields=["completed_at"], name="idx_outlook_sync_history_completed"),
        ]
        constraints = [
            _check("sync_type", SyncType, "outlook_sync_history"),
            _check("sync_direction", SyncDirection, "outlook_sync_history"),
            _check("sync_status", SyncStatus, "outlook_sync_history"),
        ]

    def __str__(self) -> str:
        when = timezone.localtime(self.began_at or self.started_at)
        return f"{self.get_sync_type_display()} on {when:%d %b %Y %H:%M} ({self.get_sync_status_display().lower()})"


class OutlookBusyTime(models.Model):
    """An Outlook event that WedSync did not create: read as busy time, never turned into a WedSync event.

    Kept up to date from calendarView delta so that WedSync can warn before a
    double booking ("You have 'Dentist' in Outlook at that time").
    """

    id = models.BigAutoField(primary_key=True)
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, related_name="busy_times")
    outlook_event_id = models.CharField(max_length=255)
    subject = models.TextField(blank=True, default="")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_all_day = models.BooleanField(default=False)
    show_as = models.CharField(max_length=32, blank=True, default="busy")
    updated_at = models.DateTimeField(auto_now=True)
    #: The other calendar it was read from (one the supplier ticked as busy), or empty: the synced calendar.
    calendar_id = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        db_table = "outlook_busy_times"
        verbose_name = "Outlook busy time"
        constraints = [models.UniqueConstraint(fields=["integration", "outlook_event_id"], name="outlook_busy_times_integration_event_key")]
        indexes = [models.Index(fields=["integration", "starts_at", "ends_at"], name="outlook_busy_window")]

    def __str__(self) -> str:  # never the subject: the supplier's private Outlook event
        return f"Busy in Outlook {timezone.localtime(self.starts_at):%d %b %Y %H:%M}–{timezone.localtime(self.ends_at):%H:%M}"


class OutlookBusyCalendar(models.Model):
    """Another calendar of the account that counts as busy for double-booking checks (ticked by the supplier).

    Read by the worker through calendarView delta like the synced calendar (its
    own delta link and window); its events are stored as :class:`OutlookBusyTime`
    with this ``calendar_id`` and are never turned into WedSync events.
    """

    id = models.BigAutoField(primary_key=True)
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, related_name="busy_calendars")
    calendar_id = models.CharField(max_length=255)
    #: The calendar's name when ticked (shown in the double-booking warning).
    name = models.TextField(blank=True, default="")
    delta_link = models.TextField(null=True, blank=True)
    delta_window_start = models.DateTimeField(null=True, blank=True)
    delta_window_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outlook_busy_calendars"
        verbose_name = "Outlook calendar counted as busy"
        verbose_name_plural = "Outlook calendars counted as busy"
        constraints = [models.UniqueConstraint(fields=["integration", "calendar_id"], name="outlook_busy_calendars_integration_calendar_key")]

    def __str__(self) -> str:
        return f"“{self.name or 'Outlook calendar'}” counted as busy"


class OutlookNotification(models.Model):
    """A change notification from Microsoft, stored before it is answered (processing happens in a worker).

    Processing is an incremental sync of the integration, so duplicates and
    out-of-order deliveries are harmless; ``processed_at`` lets a burst share one run.
    """

    id = models.BigAutoField(primary_key=True)
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, related_name="notifications")
    subscription_id = models.CharField(max_length=255)
    change_type = models.CharField(max_length=32, blank=True, default="")
    lifecycle_event = models.CharField(max_length=64, blank=True, default="")
    outlook_event_id = models.CharField(max_length=255, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outlook_notifications"
        verbose_name = "Outlook change notification"
        indexes = [models.Index(fields=["integration", "processed_at"], name="outlook_notification_pending")]

    def __str__(self) -> str:
        what = self.lifecycle_event or self.change_type or "notification"
        return f"Outlook {what} notification"


class SupportAction(models.TextChoices):
    INCREMENTAL_SYNC = "incremental_sync", "Ran an incremental sync"
    FULL_RESYNC = "full_resync", "Ran a full resync"
    RENEW_SUBSCRIPTION = "renew_subscription", "Renewed the change subscription"
    CLEAR_CONFLICTS = "clear_conflicts", "Cleared conflicts"
    REQUEST_RECONNECT = "request_reconnect", "Asked the supplier to reconnect"


class OutlookSupportAuditEntry(models.Model):
    """One support action on one integration: who, what, when (read-only for everyone, shown on the integration's admin page)."""

    id = models.BigAutoField(primary_key=True)
    integration = models.ForeignKey(OutlookCalendarIntegration, null=True, on_delete=models.SET_NULL, related_name="support_audit")
    #: Which integration, kept in words after the integration is gone (the supplier disconnected).
    integration_label = models.CharField(max_length=400)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=SupportAction.choices)
    #: What came of it, in words ("started", "skipped: Sync is switched off ...", "3 event(s) reset").
    outcome = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "outlook_support_audit"
        verbose_name = "support action"
        verbose_name_plural = "support audit trail"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor_username}: {self.get_action_display()} on {self.integration_label} at {self.created_at:%Y-%m-%d %H:%M}"


class ChangeSide(models.TextChoices):
    WEDSYNC = "wedsync", "WedSync"
    OUTLOOK = "outlook", "Outlook"


class ChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"
    CONFLICT_RESOLVED = "conflict_resolved", "Conflict resolved"


class OutlookSyncChange(models.Model):
    """The change journal: one change a sync run applied to one side of one event (issue 18).

    ``fields`` maps a field to ``{"old": ..., "new": ...}`` as the supplier sees it:
    ``title``, ``when`` (``{"start", "end", "allDay"}``), ``location``,
    ``description``, ``attendees`` (emails), ``reminder`` (minutes, None = off);
    ``subject`` is the Outlook subject when the prefix in front of the title
    changed; ``syncPreferences`` (no event) the preferences a settings change
    replaced. Tokens, change keys and other provider internals are never stored.
    Kept for ``OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS`` (pruned by beat).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(OutlookSyncHistory, on_delete=models.CASCADE, related_name="changes")
    integration = models.ForeignKey(OutlookCalendarIntegration, on_delete=models.CASCADE, db_index=False, related_name="changes")
    event = models.ForeignKey(CalendarEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    #: The WedSync event's id as text (kept when the event row is gone); empty for a settings change.
    wedsync_event_id = models.CharField(max_length=255, blank=True, default="")
    #: The event's title when the change was made (for the history page and the admin).
    event_title = models.CharField(max_length=255, blank=True, default="")
    side = models.CharField(max_length=8, choices=ChangeSide.choices)
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    #: The undo run that took this change back (a failed or cancelled undo run does not count).
    undone_by = models.ForeignKey(OutlookSyncHistory, null=True, blank=True, on_delete=models.SET_NULL, related_name="undid_changes")

    class Meta:
        db_table = "outlook_sync_changes"
        verbose_name = "Outlook sync change"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["integration", "created_at"], name="outlook_change_integration"),
            models.Index(fields=["integration", "wedsync_event_id"], name="outlook_change_event"),
        ]
        constraints = [
            _check("side", ChangeSide, "outlook_sync_changes"),
            _check("kind", ChangeKind, "outlook_sync_changes"),
        ]

    def __str__(self) -> str:
        return f"{self.get_side_display()} {self.kind} {self.event_title or self.wedsync_event_id or 'settings'}"


class OutlookSavedSettings(models.Model):
    """A supplier's sync settings kept when they disconnect, so reconnecting restores them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_outlook_settings")
    sync_preferences = models.JSONField(default=dict)
    sync_direction = models.TextField(choices=SyncDirection.choices, default=SyncDirection.BIDIRECTIONAL)
    webhook_enabled = models.BooleanField(default=True)
    default_conflict_rules = models.JSONField(default=dict, blank=True)
    saved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "outlook_saved_settings"
        verbose_name = "saved Outlook settings"
        verbose_name_plural = "saved Outlook settings"

    def __str__(self) -> str:
        return f"Settings kept for {self.user} since {self.saved_at:%Y-%m-%d %H:%M}"


class OutlookDisconnect(models.Model):
    """One disconnect the supplier asked for: their choice, and the worker's progress and outcome.

    Made by ``actions.disconnect`` (the integration turns ``disconnecting``), advanced by the
    ``disconnect_integration`` task (``events_removed`` of ``events_to_remove``), and kept after the
    integration is gone, so the page and ``GET /integration`` can still say what came of it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outlook_disconnects")
    integration = models.ForeignKey(OutlookCalendarIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="disconnects")
    #: The Microsoft account, in words, kept after the integration is gone.
    account_label = models.CharField(max_length=400, blank=True, default="")
    choice = models.CharField(max_length=8, choices=DisconnectChoice.choices)
    status = models.CharField(max_length=16, choices=DisconnectStatus.choices, default=DisconnectStatus.IN_PROGRESS)
    #: WedSync's copies in Outlook to remove: the mapped ones when asked, then what the worker found (mapped or tagged).
    events_to_remove = models.PositiveIntegerField(default=0)
    #: ... of which Outlook confirmed gone so far.
    events_removed = models.PositiveIntegerField(default=0)
    #: Copies left in Outlook as ordinary events by the supplier's choice.
    events_kept = models.PositiveIntegerField(default=0)
    #: Copies that could not be removed (Microsoft no longer accepted the connection, or refused the delete): still in Outlook.
    events_not_removed = models.PositiveIntegerField(default=0)
    mappings_deleted = models.PositiveIntegerField(default=0)
    webhook_unsubscribed = models.BooleanField(default=False)
    #: Why the worker is waiting or what it could not do, in the supplier's words ("Outlook is busy, we'll keep trying.").
    problem = models.TextField(blank=True, default="")
    #: Attempts the worker made (a throttled or unreachable Outlook is tried again later).
    attempts = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outlook_disconnects"
        verbose_name = "Outlook disconnect"
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["user", "requested_at"], name="outlook_disconnect_user")]
        constraints = [
            _check("choice", DisconnectChoice, "outlook_disconnects"),
            _check("status", DisconnectStatus, "outlook_disconnects"),
        ]

    def __str__(self) -> str:
        return (f"{self.get_status_display()} {self.account_label or 'Outlook'} ({self.get_choice_display()}), "
                f"asked {self.requested_at:%Y-%m-%d %H:%M}")
