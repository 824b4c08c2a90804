"""Serializers that own the spec's camelCase JSON contract (WS-217)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from django.utils import timezone
from rest_framework import serializers

from wedsync.api_errors import shorten
from wedsync.api_fields import Choice, StrictBooleanField, StrictRequestSerializer
from wedsync.events.models import EventType

from .. import selectors
from ..models import DisconnectChoice, DisconnectStatus, SyncDirection
from ..selectors import disconnect_in_progress, disconnect_summary
from ..sync import runs


UTC = dt.timezone.utc
#: ``triggeredBy`` takes only the spec's four values; the precise reason is in ``reason`` (a WedSync addition).
TRIGGER_OF_REASON = {
    "manual": "manual",
    "force": "manual",
    "conflict_resolution": "manual",
    "undo": "manual",
    "admin": "manual",
    "disconnect": "manual",
    "webhook": "webhook",
    "schedule": "scheduled",
    "scheduled": "scheduled",
    "connect": "auto",
    "settings_change": "auto",
    "wedsync_change": "auto",
    "retry": "auto",
    "auto": "auto",
}
TRIGGERS = ("manual", "webhook", "scheduled", "auto")
#: Run states: the spec's four plus ``queued`` (a WedSync addition: created, waiting for a worker).
RUN_STATES = ("queued", "in_progress", "completed", "failed", "cancelled")


def iso_z(value) -> str | None:
    """An instant as ISO-8601 UTC with ``Z`` (``2026-06-20T14:00:00Z``); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def duration_ms(run) -> int:
    """The run's duration: stored once it ended, the time since a worker began it while it goes on, 0 while queued."""
    if run.sync_duration_ms is not None and run.completed_at is not None:
        return run.sync_duration_ms
    began = getattr(run, "began_at", None)
    if began is None or run.is_queued:
        return 0
    return max(0, int((timezone.now() - began).total_seconds() * 1000))


def all_day_date(event) -> str:
    """The first day of an all-day WedSync event, in its own time zone (``YYYY-MM-DD``)."""
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(event.time_zone or "UTC")
    except (ValueError, KeyError):
        zone = UTC
    return event.starts_at.astimezone(zone).date().isoformat()


def trigger_of(reason: str) -> str:
    return TRIGGER_OF_REASON.get(reason, "auto")


def retry_at(run) -> str | None:
    """When a waiting retry will be sent (``retryAt``); None for any other run, and once it began."""
    return iso_z(run.retry_at) if run.retry_at and run.is_queued and run.sync_status == "in_progress" else None


def run_state(run) -> str:
    return "queued" if run.sync_status == "in_progress" and run.is_queued else run.sync_status


class UtcDateTimeField(serializers.DateTimeField):
    """Reads ISO-8601 date-times; writes them in UTC with ``Z``."""

    def to_representation(self, value):
        return iso_z(value) if value else None


class ContractSerializer(serializers.Serializer):
    """Leaves out optional (``?`` in the spec) fields whose value is None, as the TypeScript contract expects."""

    optional_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in self.optional_fields:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class OutlookIntegrationSerializer(ContractSerializer):
    """``OutlookIntegration``; ``needsReauthorization``, ``accountEmail``, ``throttledUntil``, ``needsSetup``, ``connectionState``
    and ``disconnect`` are WedSync additions. ``needsSetup``: just connected, the guided step is not confirmed yet (``GET /setup``
    shows the choices and what the first sync will do; ``PUT /settings`` with ``confirmSetup: true`` confirms); nothing is
    written to Outlook until then."""

    optional_fields = ("calendarId", "calendarName", "lastSyncAt", "throttledUntil", "disconnect")

    id = serializers.UUIDField()
    microsoftUserId = serializers.CharField(source="microsoft_user_id")
    tenantId = serializers.CharField(source="tenant_id")
    calendarId = serializers.CharField(source="calendar_id", allow_null=True)
    calendarName = serializers.CharField(source="calendar_name", allow_null=True)
    syncEnabled = serializers.BooleanField(source="sync_enabled")
    syncDirection = serializers.ChoiceField(source="sync_direction", choices=SyncDirection.choices)
    syncPreferences = serializers.JSONField(source="sync_preferences")
    lastSyncAt = UtcDateTimeField(source="last_sync_at", allow_null=True)
    lastSyncStatus = serializers.CharField(source="last_sync_status")
    needsReauthorization = serializers.BooleanField(source="needs_reauthorization")
    accountEmail = serializers.CharField(source="microsoft_account_email")
    throttledUntil = serializers.SerializerMethodField()
    needsSetup = serializers.BooleanField(source="needs_setup")
    connectionState = serializers.CharField(source="connection_state", help_text="WedSync addition: `connected`, or `disconnecting` while a worker disconnects.")
    disconnect = serializers.SerializerMethodField(help_text="WedSync addition: the disconnect's progress while `disconnecting` (as in `GET /integration`), else null.")

    def get_disconnect(self, integration) -> dict | None:
        if integration.connection_state == "connected":
            return None
        record = disconnect_in_progress(integration)
        return DisconnectProgressSerializer(record).data if record is not None else None

    def get_throttledUntil(self, integration) -> str | None:
        """When Outlook asked us to slow down, until when (the UI says "throttled, will retry at ...")."""
        until = integration.throttled_until
        return iso_z(until) if until and until > timezone.now() else None


class OutlookCalendarOwnerSerializer(serializers.Serializer):
    name = serializers.CharField()
    address = serializers.CharField()


class OutlookCalendarSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    color = serializers.CharField()
    isDefaultCalendar = serializers.BooleanField()
    canEdit = serializers.BooleanField()
    owner = OutlookCalendarOwnerSerializer()


class OutlookAuthResponseSerializer(serializers.Serializer):
    authUrl = serializers.URLField()
    state = serializers.CharField()


class OutlookCallbackRequestSerializer(StrictRequestSerializer):
    """``{code, state}``; or, when the supplier cancelled at Microsoft, ``{state, error, error_description}``."""

    code = serializers.CharField(max_length=4096, required=False)
    state = serializers.CharField(max_length=512)
    error = serializers.CharField(max_length=200, required=False)
    error_description = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("error"):
            raise serializers.ValidationError({"code": ["The sign-in code from Microsoft is missing."]})
        return attrs


class OutlookCallbackResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    integration = OutlookIntegrationSerializer()
    calendars = OutlookCalendarSerializer(many=True)


# --- sync status and jobs ---
class SyncStatsSerializer(ContractSerializer):
    """``syncStats``. ``totalEvents`` counts the WedSync events in scope (in the synced window, of the switched-on
    types) plus the ones mapped outside it; ``pendingEvents`` those waiting to go to Outlook, including events
    never synced yet. ``lastFullSync`` is when the last full sync completed, null before the first one completes.
    ``nextScheduledSync`` is the next run of the safety-net sync (Celery beat) that will include this
    integration; null when none will (sync switched off, reconnect needed, no calendar, or beat not running)."""

    totalEvents = serializers.IntegerField()
    syncedEvents = serializers.IntegerField()
    pendingEvents = serializers.IntegerField()
    conflictedEvents = serializers.IntegerField()
    lastFullSync = UtcDateTimeField(allow_null=True)
    nextScheduledSync = UtcDateTimeField(allow_null=True)


class SyncHistoryItemSerializer(ContractSerializer):
    """``OutlookSyncHistoryItem``. WedSync additions: ``syncStatus`` may be ``queued`` (created, waiting for a
    worker); ``reason`` says precisely why the run happened (``triggeredBy`` keeps to the spec's four values);
    ``beganAt`` is when a worker actually began it (``startedAt`` is when it was requested); ``retryAt``, only
    while a retry waits, is when it will be sent (Outlook asked us to wait, or was unavailable). ``syncDurationMs``
    is the time so far while the run goes on."""

    optional_fields = ("completedAt", "errors", "beganAt", "retryAt")

    id = serializers.UUIDField()
    syncType = serializers.CharField(source="sync_type")
    syncDirection = serializers.CharField(source="sync_direction")
    eventsProcessed = serializers.IntegerField(source="events_processed")
    eventsCreated = serializers.IntegerField(source="events_created")
    eventsUpdated = serializers.IntegerField(source="events_updated")
    eventsDeleted = serializers.IntegerField(source="events_deleted")
    conflictsDetected = serializers.IntegerField(source="conflicts_detected")
    syncStatus = serializers.SerializerMethodField()
    syncDurationMs = serializers.SerializerMethodField()
    startedAt = UtcDateTimeField(source="started_at")
    beganAt = UtcDateTimeField(source="began_at", allow_null=True)
    completedAt = UtcDateTimeField(source="completed_at", allow_null=True)
    triggeredBy = serializers.SerializerMethodField()
    reason = serializers.CharField(source="triggered_by")
    errors = serializers.SerializerMethodField()
    retryAt = serializers.SerializerMethodField()

    def get_syncStatus(self, run) -> Literal["queued", "in_progress", "completed", "failed", "cancelled"]:
        return run_state(run)

    def get_retryAt(self, run) -> str | None:
        return retry_at(run)

    def get_triggeredBy(self, run) -> Literal["manual", "webhook", "scheduled", "auto"]:
        return trigger_of(run.triggered_by)

    def get_syncDurationMs(self, run) -> int:
        return duration_ms(run)

    def get_errors(self, run) -> list | None:
        return run.sync_errors or None


class WebhookStatusSerializer(ContractSerializer):
    optional_fields = ("subscriptionId", "expiresAt")

    isActive = serializers.BooleanField()
    subscriptionId = serializers.CharField(allow_null=True)
    expiresAt = UtcDateTimeField(allow_null=True)
    renewalNeeded = serializers.BooleanField()


class SyncStatusResponseSerializer(serializers.Serializer):
    integration = OutlookIntegrationSerializer()
    syncStats = SyncStatsSerializer()
    recentSyncHistory = SyncHistoryItemSerializer(many=True)
    webhookStatus = WebhookStatusSerializer()


class NoQuerySerializer(StrictRequestSerializer):
    """The query of an endpoint that takes none: every key is unknown."""


class SyncRequestSerializer(StrictRequestSerializer):
    syncType = Choice(choices=["full_sync", "incremental"], required=False, default="incremental")
    syncDirection = Choice(choices=SyncDirection.choices, required=False)
    specificEvents = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=500, default=list)


class SyncResponseSerializer(serializers.Serializer):
    """``OutlookSyncResponse``: ``started`` when no other run of the integration is ahead of this one, else ``queued``.

    ``estimatedDuration`` (seconds) covers the runs ahead and this one, from the measured throughput of the
    integration's recent runs. A request made while a run is still waiting joins that run: ``syncId`` is then
    the waiting run's id.
    """

    syncId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["started", "queued"])
    estimatedDuration = serializers.IntegerField(min_value=1)
    eventsToProcess = serializers.IntegerField(min_value=0)


class SyncErrorSerializer(serializers.Serializer):
    eventId = serializers.CharField()
    eventType = serializers.CharField()
    errorCode = serializers.CharField()
    errorMessage = serializers.CharField()
    retryable = serializers.BooleanField()


class SyncProgressSerializer(serializers.Serializer):
    """``progress``. ``totalEvents`` is the run's work, known before it changes anything: while the run waits for a
    worker, the work it would do if it began now (it may still grow as requests join it); once begun, the count
    it made when it began, plus Outlook's changes once its delta read is done (before it applies any)."""

    totalEvents = serializers.SerializerMethodField()
    processedEvents = serializers.IntegerField(source="events_processed")
    createdEvents = serializers.IntegerField(source="events_created")
    updatedEvents = serializers.IntegerField(source="events_updated")
    deletedEvents = serializers.IntegerField(source="events_deleted")
    errorEvents = serializers.IntegerField(source="error_events")

    def get_totalEvents(self, run) -> int:
        return runs.planned_total(run)


class SyncJobResponseSerializer(ContractSerializer):
    """``OutlookSyncJobResponse``. WedSync additions: ``status`` ``queued`` (waiting for a worker; the spec's hook
    keeps polling), ``beganAt``, ``syncType``, ``triggeredBy``/``reason`` and ``syncDurationMs`` as in the history.
    ``progress.totalEvents`` is counted before the run changes anything. ``estimatedTimeRemaining`` (seconds)
    comes from this integration's measured throughput, and includes the runs ahead while queued (and, for a retry,
    the wait until ``retryAt``, when it will be sent)."""

    optional_fields = ("errors", "completedAt", "estimatedTimeRemaining", "beganAt", "retryAt")

    syncId = serializers.UUIDField(source="id")
    status = serializers.SerializerMethodField()
    progress = SyncProgressSerializer(source="*")
    errors = serializers.SerializerMethodField()
    startedAt = UtcDateTimeField(source="started_at")
    beganAt = UtcDateTimeField(source="began_at", allow_null=True)
    completedAt = UtcDateTimeField(source="completed_at", allow_null=True)
    estimatedTimeRemaining = serializers.SerializerMethodField()
    syncType = serializers.CharField(source="sync_type")
    triggeredBy = serializers.SerializerMethodField()
    reason = serializers.CharField(source="triggered_by")
    syncDurationMs = serializers.SerializerMethodField()
    retryAt = serializers.SerializerMethodField()

    def get_retryAt(self, run) -> str | None:
        return retry_at(run)

    def get_status(self, run) -> Literal["queued", "in_progress", "completed", "failed", "cancelled"]:
        return run_state(run)

    def get_triggeredBy(self, run) -> Literal["manual", "webhook", "scheduled", "auto"]:
        return trigger_of(run.triggered_by)

    def get_syncDurationMs(self, run) -> int:
        return duration_ms(run)

    def get_errors(self, run) -> list | None:
        return run.sync_errors or None

    def get_estimatedTimeRemaining(self, run) -> int | None:
        return runs.estimated_time_remaining(run)


# --- events ---
class SyncConflictSerializer(serializers.Serializer):
    field = serializers.CharField()
    wedSyncValue = serializers.JSONField(allow_null=True)
    outlookValue = serializers.JSONField(allow_null=True)
    conflictType = serializers.ChoiceField(choices=["date_time", "title", "description", "attendees", "location"])
    suggestedResolution = serializers.ChoiceField(choices=["use_wedsync", "use_outlook", "manual_review"])


class OutlookMappedEventSerializer(ContractSerializer):
    """``OutlookMappedEvent``. Dates: ISO-8601 UTC with ``Z`` (``2026-06-20T14:00:00Z``), except all-day events,
    whose ``wedSyncEventDate``/``outlookEventDate`` are their first day as a date (``2026-06-20``, in the event's own
    time zone). ``outlookEventTitle``/``outlookEventDate`` are what Outlook held when WedSync last read or wrote the
    event (the subject without the prefix WedSync had applied to it, even after the prefix setting changed), so
    during a conflict they show Outlook's side; both are empty (``""``) for an event Outlook has not been read for
    yet and for one Outlook no longer holds (deleted there, e.g. an edit-versus-delete conflict). ``isAllDay`` is a WedSync addition."""

    optional_fields = ("syncConflicts",)

    wedSyncEventId = serializers.CharField(source="wedsync_event_id")
    wedSyncEventType = serializers.CharField(source="wedsync_event_type")
    wedSyncEventTitle = serializers.SerializerMethodField()
    wedSyncEventDate = serializers.SerializerMethodField()
    outlookEventId = serializers.CharField(source="outlook_event_id")
    outlookEventTitle = serializers.SerializerMethodField()
    outlookEventDate = serializers.SerializerMethodField()
    syncStatus = serializers.SerializerMethodField()
    lastSynced = UtcDateTimeField(source="last_synced_at")
    syncConflicts = serializers.SerializerMethodField()
    canResync = serializers.SerializerMethodField()
    isAllDay = serializers.SerializerMethodField()

    def get_wedSyncEventTitle(self, row) -> str:
        return row.event.title if row.event else ""

    def get_wedSyncEventDate(self, row) -> str:
        if row.event is None:
            return ""
        if row.event.is_all_day:
            return all_day_date(row.event)
        return iso_z(row.event.starts_at)

    def get_outlookEventTitle(self, row) -> str:
        """The subject Outlook held when we last read or wrote it, without the prefix WedSync added."""
        return (row.outlook_last_seen or {}).get("title", "")

    def get_outlookEventDate(self, row) -> str:
        """Outlook's start when we last read or wrote it: UTC with Z, or the date of an all-day event."""
        return (row.outlook_last_seen or {}).get("start", "")

    def get_syncStatus(self, row) -> Literal["synced", "pending", "conflict", "error"]:
        """The spec's four states, true now: ``pending`` while a WedSync change (or the removal of the copy from
        Outlook) waits to reach Outlook, as counted in ``syncStats.pendingEvents``."""
        return selectors.mapping_status(row)

    def get_isAllDay(self, row) -> bool:
        return bool(row.event and row.event.is_all_day)

    def get_syncConflicts(self, row) -> list | None:
        return row.sync_conflicts or None

    def get_canResync(self, row) -> bool:
        return row.event is not None and not row.event.is_deleted


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    totalPages = serializers.IntegerField()
    totalEvents = serializers.IntegerField()


class EventsQuerySerializer(StrictRequestSerializer):
    page = serializers.IntegerField(min_value=1, max_value=100000, required=False, default=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=200, required=False, default=25)
    eventType = Choice(choices=EventType.choices, required=False)
    status = Choice(choices=["synced", "pending", "conflict", "error"], required=False)
    startDate = serializers.DateTimeField(required=False)
    endDate = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if attrs.get("startDate") and attrs.get("endDate") and attrs["endDate"] < attrs["startDate"]:
            raise serializers.ValidationError({"endDate": ["The end date must be after the start date."]})
        return attrs


class DateRangeSerializer(serializers.Serializer):
    start = UtcDateTimeField()
    end = UtcDateTimeField()


class EventTypesAndStatusesSerializer(ContractSerializer):
    optional_fields = ("dateRange",)

    eventTypes = serializers.ListField(child=Choice(choices=EventType.choices))
    syncStatuses = serializers.ListField(child=Choice(choices=["synced", "pending", "conflict", "error"]))
    dateRange = DateRangeSerializer(required=False, allow_null=True)


class AppliedFiltersSerializer(serializers.Serializer):
    eventType = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    startDate = UtcDateTimeField(allow_null=True)
    endDate = UtcDateTimeField(allow_null=True)


class EventFiltersSerializer(EventTypesAndStatusesSerializer):
    """``filters``: ``eventTypes``/``syncStatuses`` are the filter applied, or every value present among the synced
    events when none is; ``dateRange`` the range applied, else the span of the synced events (left out when there
    are none). WedSync additions: ``applied`` (the query's filters, null when not given) and ``available`` (the
    values present and the span, whatever the filter)."""

    applied = AppliedFiltersSerializer()
    available = EventTypesAndStatusesSerializer()


class EventsResponseSerializer(serializers.Serializer):
    events = OutlookMappedEventSerializer(many=True)
    pagination = PaginationSerializer()
    filters = EventFiltersSerializer()


class ResolutionSerializer(StrictRequestSerializer):
    useValue = Choice(choices=["wedsync", "outlook", "custom"])
    customValue = serializers.JSONField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs["useValue"] == "custom" and "customValue" not in attrs:
            raise serializers.ValidationError({"customValue": ["Give the value to use when choosing “custom”."]})
        return attrs


#: What a custom value of each conflicted field must be (the merge checks the value itself).
CUSTOM_VALUE_KINDS = {
    "title": (str, "The title must be text."),
    "location": (str, "The location must be text."),
    "description": (str, "The notes must be text."),
    "attendees": (list, "The guest list must be a list of email addresses."),
    "when": (dict, "The date and time must be an object {start, end, allDay}."),
}
RESOLVABLE_FIELDS = (*CUSTOM_VALUE_KINDS, "deleted")


class ResolveConflictRequestSerializer(StrictRequestSerializer):
    """``ResolveConflictRequest``: ``resolutions`` is keyed by the conflicted field (``title``, ``when``,
    ``location``, ``description``, ``attendees``, or ``deleted`` for an edit-versus-delete conflict)."""

    resolutions = serializers.DictField(child=ResolutionSerializer(), allow_empty=False)
    setAsDefault = StrictBooleanField(required=False, default=False)

    def validate_resolutions(self, value):
        errors = {}
        for name, choice in value.items():
            if name not in RESOLVABLE_FIELDS:
                errors[shorten(name, 60)] = [f"Not a field WedSync syncs; use one of {', '.join(RESOLVABLE_FIELDS)}."]
            elif choice["useValue"] == "custom" and name in CUSTOM_VALUE_KINDS:
                kind, message = CUSTOM_VALUE_KINDS[name]
                if not isinstance(choice.get("customValue"), kind):
                    errors[name] = {"customValue": [message]}
        if errors:
            raise serializers.ValidationError(errors)
        return value


class ResolveConflictResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    event = OutlookMappedEventSerializer()


class ForceSyncRequestSerializer(StrictRequestSerializer):
    direction = Choice(choices=["to_outlook", "from_outlook"])
    overwriteConflicts = StrictBooleanField(required=False, default=False)


class ForceSyncResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    syncId = serializers.UUIDField()


# --- settings and disconnect ---
class PreferencesPatchField(serializers.DictField):
    """``Partial<OutlookSyncPreferences>``: keys and values are checked by the action (one place for the rules)."""


class UpdateSettingsRequestSerializer(StrictRequestSerializer):
    """``UpdateOutlookSettingsRequest``; ``busyCalendarIds`` and ``confirmSetup`` are WedSync additions."""

    calendarId = serializers.CharField(required=False, max_length=512)
    syncDirection = Choice(choices=SyncDirection.choices, required=False)
    syncPreferences = PreferencesPatchField(required=False)
    syncEnabled = StrictBooleanField(required=False)
    webhookEnabled = StrictBooleanField(required=False)
    busyCalendarIds = serializers.ListField(
        child=serializers.CharField(max_length=512), required=False, max_length=50,
        help_text="Other calendars of the account (ids from `GET /setup` or the callback's `calendars`) whose events count as busy "
                  "for double-booking checks; read like the synced calendar, never turned into WedSync events. Replaces the ticked set.",
    )
    confirmSetup = StrictBooleanField(
        required=False,
        help_text="`true` confirms the guided connect step (see `needsSetup`): the first sync starts, with the other settings in "
                  "this request applied first. Ignored once confirmed.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one setting to change."]})
        return attrs


class UpdateSettingsResponseSerializer(serializers.Serializer):
    integration = OutlookIntegrationSerializer()
    webhookSubscriptionUpdated = serializers.BooleanField()
    syncScheduleChanged = serializers.BooleanField()
    requiresFullResync = serializers.BooleanField()


class RemoveIntegrationQuerySerializer(StrictRequestSerializer):
    """``?removeEvents=false`` leaves WedSync's events in Outlook as the supplier's own (default: remove them)."""

    removeEvents = serializers.ChoiceField(choices=["true", "false"], required=False, default="true",
                                           help_text="`false`: leave WedSync's events in Outlook as ordinary events (nobody is emailed).")


class RemoveIntegrationResponseSerializer(serializers.Serializer):
    """``RemoveIntegrationResponse``, answered at once (202): a worker disconnects (see ``GET /integration``).

    The spec's counts say what is done when answering: nothing yet, so ``eventsDeleted`` and
    ``mappingsDeleted`` are 0 and ``webhookUnsubscribed`` false (the final counts are in
    ``GET /integration``'s ``disconnect``). WedSync additions: ``disconnectState``, ``disconnectId``,
    ``eventsToRemove`` (WedSync's copies the worker will remove; 0 when leaving them) and
    ``eventsKept`` (the copies left in Outlook as ordinary events; 0 when removing them).
    """

    success = serializers.BooleanField()
    eventsDeleted = serializers.IntegerField(help_text="Events removed from Outlook so far (0 when answering: a worker removes them).")
    mappingsDeleted = serializers.IntegerField(help_text="Sync mappings removed so far (0 when answering).")
    webhookUnsubscribed = serializers.BooleanField(help_text="Whether the change subscription is deleted yet (false when answering).")
    disconnectState = Choice(choices=DisconnectStatus.choices, help_text="WedSync addition: `in_progress` until the worker has finished.")
    disconnectId = serializers.UUIDField(help_text="WedSync addition: this disconnect.")
    eventsToRemove = serializers.IntegerField(help_text="WedSync addition: WedSync's copies in Outlook the worker will remove.")
    eventsKept = serializers.IntegerField(help_text="WedSync addition: WedSync's copies left in Outlook as ordinary events.")


class DisconnectProgressSerializer(serializers.Serializer):
    """WedSync addition: one disconnect's choice, progress ("12 of 40 removed") and outcome."""

    id = serializers.UUIDField()
    status = Choice(choices=DisconnectStatus.choices)
    removeEvents = serializers.SerializerMethodField()
    eventsToRemove = serializers.IntegerField(source="events_to_remove")
    eventsRemoved = serializers.IntegerField(source="events_removed")
    eventsKept = serializers.IntegerField(source="events_kept")
    eventsNotRemoved = serializers.IntegerField(source="events_not_removed",
                                                help_text="Copies still in Outlook because Microsoft no longer accepted the connection or refused the delete.")
    mappingsDeleted = serializers.IntegerField(source="mappings_deleted")
    webhookUnsubscribed = serializers.BooleanField(source="webhook_unsubscribed")
    problem = serializers.CharField(help_text="Why it is waiting (\"Outlook is busy, we'll keep trying.\") or what it could not do; empty otherwise.")
    summary = serializers.SerializerMethodField()
    requestedAt = UtcDateTimeField(source="requested_at")
    finishedAt = UtcDateTimeField(source="finished_at", allow_null=True)

    def get_removeEvents(self, record) -> bool:
        return record.choice == DisconnectChoice.REMOVE

    def get_summary(self, record) -> str:
        """Where it stands, in the supplier's words ("Disconnecting… 12 of 40 removed.")."""
        return disconnect_summary(record)


class IntegrationStateSerializer(serializers.Serializer):
    """WedSync addition (``GET /integration``): connected, being disconnected (with progress), or disconnected."""

    connectionState = Choice(choices=["connected", "disconnecting", "disconnected", "not_connected"])
    disconnect = DisconnectProgressSerializer(allow_null=True, help_text="The disconnect under way, or the last one when not connected; else null.")


class FirstSyncPreviewSerializer(serializers.Serializer):
    eventsToAdd = serializers.IntegerField(help_text="WedSync events the first sync will add to the chosen calendar.")
    calendarName = serializers.CharField(allow_blank=True)
    invitationsSent = serializers.IntegerField(help_text="Always 0: a first sync never mails anyone.")
    busyCalendars = serializers.ListField(child=serializers.CharField(), help_text="Names of the other calendars counted as busy.")
    summary = serializers.CharField(help_text="The same in one plain sentence, as the page shows it.")


class SetupResponseSerializer(serializers.Serializer):
    """``GET /setup`` (WedSync addition): the guided connect step's choices, from the calendar list the worker cached."""

    needsSetup = serializers.BooleanField()
    calendars = OutlookCalendarSerializer(many=True)
    calendarId = serializers.CharField(allow_null=True)
    busyCalendarIds = serializers.ListField(child=serializers.CharField())
    preview = FirstSyncPreviewSerializer()


# --- availability ---
class AvailabilityQuerySerializer(StrictRequestSerializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def validate(self, attrs):
        for name in ("start", "end"):
            if not 1900 <= attrs[name].year <= 2200:
                raise serializers.ValidationError({name: ["Choose a date between the years 1900 and 2200."]})
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        if attrs["end"] - attrs["start"] > dt.timedelta(days=41):
            raise serializers.ValidationError({"end": ["Ask for at most 41 days at a time."]})
        return attrs


class BusyIntervalSerializer(serializers.Serializer):
    start = UtcDateTimeField()
    end = UtcDateTimeField()
    subject = serializers.CharField()
    isAllDay = serializers.BooleanField()
    showAs = serializers.CharField()


class AvailabilityResponseSerializer(serializers.Serializer):
    busy = BusyIntervalSerializer(many=True)
    source = serializers.ChoiceField(choices=["synced", "schedule"])
