"""Read-mostly admin for support staff. Token columns are never shown or editable."""
from django.contrib import admin

from .models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory

TOKEN_FIELDS = ("access_token_encrypted", "refresh_token_encrypted", "webhook_client_state")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MappingInline(ReadOnlyInline):
    model = OutlookEventMapping
    fields = ("wedsync_event_type", "wedsync_event_id", "outlook_event_id", "sync_state", "last_synced_at")
    readonly_fields = fields
    max_num = 0
    classes = ("collapse",)


class HistoryInline(ReadOnlyInline):
    model = OutlookSyncHistory
    fields = ("started_at", "sync_type", "sync_direction", "sync_status", "events_processed", "events_created", "events_updated", "events_deleted", "conflicts_detected", "error_events", "triggered_by")
    readonly_fields = fields
    ordering = ("-started_at",)
    max_num = 0


@admin.register(OutlookCalendarIntegration)
class OutlookCalendarIntegrationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "calendar_name", "sync_enabled", "last_sync_status", "last_sync_at", "webhook_expires_at", "needs_reauthorization")
    list_filter = ("needs_reauthorization", "last_sync_status", "sync_enabled", "sync_direction")
    search_fields = ("user__email", "user__username", "microsoft_account_email", "microsoft_user_id", "tenant_id")
    exclude = TOKEN_FIELDS
    readonly_fields = (
        "id", "user", "tenant_id", "microsoft_user_id", "microsoft_account_email", "token_expires_at", "calendar_id",
        "calendar_name", "sync_direction", "sync_preferences", "webhook_subscription_id", "webhook_expires_at",
        "last_sync_at", "last_sync_status", "sync_errors", "needs_reauthorization", "reauthorization_reason",
        "delta_link", "delta_window_start", "delta_window_end", "webhook_enabled", "default_conflict_rules",
        "throttled_until", "created_at", "updated_at",
    )
    inlines = (HistoryInline, MappingInline)

    def has_add_permission(self, request):
        return False


@admin.register(OutlookEventMapping)
class OutlookEventMappingAdmin(admin.ModelAdmin):
    list_display = ("wedsync_event_type", "wedsync_event_id", "outlook_event_id", "sync_state", "last_synced_at", "integration")
    list_filter = ("sync_state", "wedsync_event_type")
    search_fields = ("wedsync_event_id", "outlook_event_id", "integration__user__email", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookEventMapping._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutlookSyncHistory)
class OutlookSyncHistoryAdmin(admin.ModelAdmin):
    list_display = ("started_at", "integration", "sync_type", "sync_direction", "sync_status", "events_processed", "conflicts_detected", "error_events", "sync_duration_ms", "triggered_by")
    list_filter = ("sync_status", "sync_type", "triggered_by")
    search_fields = ("integration__user__email", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookSyncHistory._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
