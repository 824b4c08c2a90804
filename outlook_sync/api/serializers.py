"""Serializers that own the spec's camelCase JSON contract (WS-217)."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from wedsync.events.models import EventType

from ..models import SyncDirection


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
    """``OutlookIntegration``; ``needsReauthorization``, ``accountEmail`` and ``throttledUntil`` are WedSync additions."""

    optional_fields = ("calendarId", "calendarName", "lastSyncAt", "throttledUntil")

    id = serializers.UUIDField()
    microsoftUserId = serializers.CharField(source="microsoft_user_id")
    tenantId = serializers.CharField(source="tenant_id")
    calendarId = serializers.CharField(source="calendar_id", allow_null=True)
    calendarName = serializers.CharField(source="calendar_name", allow_null=True)
    syncEnabled = serializers.BooleanField(source="sync_enabled")
    syncDirection = serializers.ChoiceField(source="sync_direction", choices=SyncDirection.choices)
    syncPreferences = serializers.JSONField(source="sync_preferences")
    lastSyncAt = serializers.DateTimeField(source="last_sync_at", allow_null=True)
    lastSyncStatus = serializers.CharField(source="last_sync_status")
    needsReauthorization = serializers.BooleanField(source="needs_reauthorization")
    accountEmail = serializers.CharField(source="microsoft_account_email")
    throttledUntil = serializers.SerializerMethodField()

    def get_throttledUntil(self, integration) -> str | None:
        """When Outlook asked us to slow down, until when (the UI says "throttled, will retry at ...")."""
        until = integration.throttled_until
        return until.isoformat() if until and until > timezone.now() else None


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


class OutlookCallbackRequestSerializer(serializers.Serializer):
    """``{code, state}``; or, when the supplier cancelled at Microsoft, ``{state, error, error_description}``."""

    code = serializers.CharField(max_length=4096, required=False)
    state = serializers.CharField(max_length=512)
    error = serializers.CharField(max_length=200, required=False)
    error_description = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("error"):
            raise serializers.ValidationError({"code": "The sign-in code from Microsoft is missing."})
        return attrs


class OutlookCallbackResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    integration = OutlookIntegrationSerializer()
    calendars = OutlookCalendarSerializer(many=True)


# --- sync status and jobs ---
class SyncStatsSerializer(ContractSerializer):
    totalEvents = serializers.IntegerField()
    syncedEvents = serializers.IntegerField()
    pendingEvents = serializers.IntegerField()
    conflictedEvents = serializers.IntegerField()
    lastFullSync = serializers.DateTimeField(allow_null=True)
    nextScheduledSync = serializers.DateTimeField(allow_null=True)


class SyncHistoryItemSerializer(ContractSerializer):
    optional_fields = ("completedAt", "errors")

    id = serializers.UUIDField()
    syncType = serializers.CharField(source="sync_type")
    syncDirection = serializers.CharField(source="sync_direction")
    eventsProcessed = serializers.IntegerField(source="events_processed")
    eventsCreated = serializers.IntegerField(source="events_created")
    eventsUpdated = serializers.IntegerField(source="events_updated")
    eventsDeleted = serializers.IntegerField(source="events_deleted")
    conflictsDetected = serializers.IntegerField(source="conflicts_detected")
    syncStatus = serializers.CharField(source="sync_status")
    syncDurationMs = serializers.SerializerMethodField()
    startedAt = serializers.DateTimeField(source="started_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    triggeredBy = serializers.CharField(source="triggered_by")
    errors = serializers.SerializerMethodField()

    def get_syncDurationMs(self, run) -> int:
        return run.sync_duration_ms or 0

    def get_errors(self, run) -> list | None:
        return run.sync_errors or None


class WebhookStatusSerializer(ContractSerializer):
    optional_fields = ("subscriptionId", "expiresAt")

    isActive = serializers.BooleanField()
    subscriptionId = serializers.CharField(allow_null=True)
    expiresAt = serializers.DateTimeField(allow_null=True)
    renewalNeeded = serializers.BooleanField()


class SyncStatusResponseSerializer(serializers.Serializer):
    integration = OutlookIntegrationSerializer()
    syncStats = SyncStatsSerializer()
    recentSyncHistory = SyncHistoryItemSerializer(many=True)
    webhookStatus = WebhookStatusSerializer()


class SyncRequestSerializer(serializers.Serializer):
    syncType = serializers.ChoiceField(choices=["full_sync", "incremental"], required=False, default="incremental")
    syncDirection = serializers.ChoiceField(choices=SyncDirection.choices, required=False)
    specificEvents = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=500, default=list)


class SyncResponseSerializer(serializers.Serializer):
    syncId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["started", "queued"])
    estimatedDuration = serializers.IntegerField()
    eventsToProcess = serializers.IntegerField()


class SyncErrorSerializer(serializers.Serializer):
    eventId = serializers.CharField()
    eventType = serializers.CharField()
    errorCode = serializers.CharField()
    errorMessage = serializers.CharField()
    retryable = serializers.BooleanField()


class SyncProgressSerializer(serializers.Serializer):
    totalEvents = serializers.IntegerField(source="total_events")
    processedEvents = serializers.IntegerField(source="events_processed")
    createdEvents = serializers.IntegerField(source="events_created")
    updatedEvents = serializers.IntegerField(source="events_updated")
    deletedEvents = serializers.IntegerField(source="events_deleted")
    errorEvents = serializers.IntegerField(source="error_events")


class SyncJobResponseSerializer(ContractSerializer):
    optional_fields = ("errors", "completedAt", "estimatedTimeRemaining")

    syncId = serializers.UUIDField(source="id")
    status = serializers.CharField(source="sync_status")
    progress = SyncProgressSerializer(source="*")
    errors = serializers.SerializerMethodField()
    startedAt = serializers.DateTimeField(source="started_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    estimatedTimeRemaining = serializers.SerializerMethodField()

    def get_errors(self, run) -> list | None:
        return run.sync_errors or None

    def get_estimatedTimeRemaining(self, run) -> int | None:
        from ..selectors import estimated_time_remaining

        return estimated_time_remaining(run)


# --- events ---
class SyncConflictSerializer(serializers.Serializer):
    field = serializers.CharField()
    wedSyncValue = serializers.JSONField(allow_null=True)
    outlookValue = serializers.JSONField(allow_null=True)
    conflictType = serializers.ChoiceField(choices=["date_time", "title", "description", "attendees", "location"])
    suggestedResolution = serializers.ChoiceField(choices=["use_wedsync", "use_outlook", "manual_review"])


class OutlookMappedEventSerializer(ContractSerializer):
    optional_fields = ("syncConflicts",)

    wedSyncEventId = serializers.CharField(source="wedsync_event_id")
    wedSyncEventType = serializers.CharField(source="wedsync_event_type")
    wedSyncEventTitle = serializers.SerializerMethodField()
    wedSyncEventDate = serializers.SerializerMethodField()
    outlookEventId = serializers.CharField(source="outlook_event_id")
    outlookEventTitle = serializers.SerializerMethodField()
    outlookEventDate = serializers.SerializerMethodField()
    syncStatus = serializers.CharField(source="sync_state")
    lastSynced = serializers.DateTimeField(source="last_synced_at")
    syncConflicts = serializers.SerializerMethodField()
    canResync = serializers.SerializerMethodField()

    def get_wedSyncEventTitle(self, row) -> str:
        return row.event.title if row.event else ""

    def get_wedSyncEventDate(self, row) -> str | None:
        return row.event.starts_at.isoformat() if row.event else None

    def get_outlookEventTitle(self, row) -> str:
        prefix = self.context.get("prefix", "")
        title = (row.base_snapshot or {}).get("title")
        return f"{prefix}{title}" if title is not None else ""

    def get_outlookEventDate(self, row) -> str | None:
        return ((row.base_snapshot or {}).get("when") or {}).get("start")

    def get_syncConflicts(self, row) -> list | None:
        return row.sync_conflicts or None

    def get_canResync(self, row) -> bool:
        return row.event is not None and not row.event.is_deleted


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    totalPages = serializers.IntegerField()
    totalEvents = serializers.IntegerField()


class EventsQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, required=False, default=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=200, required=False, default=25)
    eventType = serializers.ChoiceField(choices=EventType.choices, required=False)
    status = serializers.ChoiceField(choices=["synced", "pending", "conflict", "error"], required=False)
    startDate = serializers.DateTimeField(required=False)
    endDate = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if attrs.get("startDate") and attrs.get("endDate") and attrs["endDate"] < attrs["startDate"]:
            raise serializers.ValidationError({"endDate": "The end date must be after the start date."})
        return attrs


class EventsResponseSerializer(serializers.Serializer):
    events = OutlookMappedEventSerializer(many=True)
    pagination = PaginationSerializer()


class ResolutionSerializer(serializers.Serializer):
    useValue = serializers.ChoiceField(choices=["wedsync", "outlook", "custom"])
    customValue = serializers.JSONField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs["useValue"] == "custom" and "customValue" not in attrs:
            raise serializers.ValidationError({"customValue": "Give the value to use when choosing “custom”."})
        return attrs


class ResolveConflictRequestSerializer(serializers.Serializer):
    resolutions = serializers.DictField(child=ResolutionSerializer(), allow_empty=False)
    setAsDefault = serializers.BooleanField(required=False, default=False)


class ResolveConflictResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    event = OutlookMappedEventSerializer()


class ForceSyncRequestSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["to_outlook", "from_outlook"])
    overwriteConflicts = serializers.BooleanField(required=False, default=False)


class ForceSyncResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    syncId = serializers.UUIDField()


# --- settings and disconnect ---
class PreferencesPatchField(serializers.DictField):
    """``Partial<OutlookSyncPreferences>``: keys and values are checked by the action (one place for the rules)."""


class UpdateSettingsRequestSerializer(serializers.Serializer):
    calendarId = serializers.CharField(required=False, max_length=512)
    syncDirection = serializers.ChoiceField(choices=SyncDirection.choices, required=False)
    syncPreferences = PreferencesPatchField(required=False)
    syncEnabled = serializers.BooleanField(required=False)
    webhookEnabled = serializers.BooleanField(required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: "This setting doesn't exist." for name in sorted(unknown)})
        if not attrs:
            raise serializers.ValidationError({"settings": "Send at least one setting to change."})
        return attrs


class UpdateSettingsResponseSerializer(serializers.Serializer):
    integration = OutlookIntegrationSerializer()
    webhookSubscriptionUpdated = serializers.BooleanField()
    syncScheduleChanged = serializers.BooleanField()
    requiresFullResync = serializers.BooleanField()


class RemoveIntegrationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    eventsDeleted = serializers.IntegerField()
    mappingsDeleted = serializers.IntegerField()
    webhookUnsubscribed = serializers.BooleanField()


# --- availability ---
class AvailabilityQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def validate(self, attrs):
        for name in ("start", "end"):
            if not 1900 <= attrs[name].year <= 2200:
                raise serializers.ValidationError({name: "Choose a date between the years 1900 and 2200."})
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        if attrs["end"] - attrs["start"] > dt.timedelta(days=41):
            raise serializers.ValidationError({"end": "Ask for at most 41 days at a time."})
        return attrs


class BusyIntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    subject = serializers.CharField()
    isAllDay = serializers.BooleanField()
    showAs = serializers.CharField()


class AvailabilityResponseSerializer(serializers.Serializer):
    busy = BusyIntervalSerializer(many=True)
    source = serializers.ChoiceField(choices=["synced", "schedule"])
