"""Support admin for the Outlook integration.

Read-only views of integrations, their sync runs and synced events, plus four
support actions (incremental sync, full resync, renew the change subscription,
clear conflicts). Tokens and the webhook ``clientState`` secret are never
shown, searchable or editable anywhere here.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import actions, tasks
from .models import (
    LastSyncStatus,
    MappingState,
    OutlookBusyTime,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookNotification,
    OutlookSyncHistory,
    SyncType,
)

#: Columns that hold secrets: excluded from every form, list and inline.
TOKEN_FIELDS = ("access_token_encrypted", "refresh_token_encrypted", "webhook_client_state")
#: The permission the support actions need (superusers have it implicitly).
SUPPORT_ACTION_PERMISSION = "outlook_sync.change_outlookcalendarintegration"


def can_run_support_actions(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm(SUPPORT_ACTION_PERMISSION)))


def _errors_html(errors) -> str:
    """A run's or integration's ``SyncError`` list as a readable list (never raw JSON)."""
    if not errors:
        return "—"
    rows = []
    for error in errors[:50]:
        if isinstance(error, dict):
            rows.append((
                error.get("errorMessage") or "(no message)",
                error.get("errorCode") or "?",
                error.get("eventType") or "",
                error.get("eventId") or "",
                "will retry" if error.get("retryable") else "no retry",
            ))
        else:
            rows.append((str(error), "", "", "", ""))
    items = format_html_join("", "<li>{} <small>[{} · {} {} · {}]</small></li>", rows)
    more = f"<li>…and {len(errors) - 50} more</li>" if len(errors) > 50 else ""
    return format_html("<ul style='margin:0;padding-left:1.2em'>{}{}</ul>", items, format_html(more) if more else "")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HistoryInline(ReadOnlyInline):
    model = OutlookSyncHistory
    fields = ("started_at", "sync_type", "sync_direction", "sync_status", "events_processed", "events_created", "events_updated",
              "events_deleted", "conflicts_detected", "error_events", "triggered_by", "errors")
    readonly_fields = fields
    ordering = ("-started_at",)
    verbose_name_plural = "Recent sync runs"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-started_at")

    @admin.display(description="Errors")
    def errors(self, run):
        return _errors_html(run.sync_errors)


class MappingInline(ReadOnlyInline):
    model = OutlookEventMapping
    fields = ("wedsync_event_type", "event", "wedsync_event_id", "outlook_event_id", "kind", "sync_state", "last_synced_at", "problem")
    readonly_fields = fields
    classes = ("collapse",)
    verbose_name_plural = "Synced events"

    @admin.display(description="Problem")
    def problem(self, row):
        if row.sync_state == MappingState.CONFLICT:
            return ", ".join(c.get("field", "?") for c in row.sync_conflicts or []) or "conflict"
        return (row.last_error or {}).get("errorMessage", "") or "—"


class WebhookExpiredFilter(admin.SimpleListFilter):
    title = "instant updates (webhook)"
    parameter_name = "webhook"

    def lookups(self, request, model_admin):
        return (("expired", "Expired or missing"), ("active", "Active"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "expired":
            from django.db.models import Q

            return queryset.filter(webhook_enabled=True).filter(Q(webhook_expires_at__isnull=True) | Q(webhook_expires_at__lte=now))
        if self.value() == "active":
            return queryset.filter(webhook_expires_at__gt=now)
        return queryset


class FailingFilter(admin.SimpleListFilter):
    title = "last sync"
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        return (("yes", "Failing (error or partial)"), ("no", "Healthy"))

    def queryset(self, request, queryset):
        failing = [LastSyncStatus.ERROR, LastSyncStatus.PARTIAL]
        if self.value() == "yes":
            return queryset.filter(last_sync_status__in=failing)
        if self.value() == "no":
            return queryset.exclude(last_sync_status__in=failing)
        return queryset


class ThrottledFilter(admin.SimpleListFilter):
    title = "throttled by Microsoft"
    parameter_name = "throttled"

    def lookups(self, request, model_admin):
        return (("yes", "Throttled now"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(throttled_until__gt=timezone.now())
        return queryset


@admin.register(OutlookCalendarIntegration)
class OutlookCalendarIntegrationAdmin(admin.ModelAdmin):
    list_display = ("supplier", "microsoft_account_email", "calendar_name", "status", "last_sync_at", "webhook_expires_at",
                    "needs_reauthorization", "throttled")
    list_select_related = ("user",)
    list_filter = ("needs_reauthorization", FailingFilter, WebhookExpiredFilter, ThrottledFilter, "sync_enabled", "sync_direction")
    search_fields = ("user__email", "user__username", "microsoft_account_email", "microsoft_user_id", "tenant_id")
    exclude = TOKEN_FIELDS
    fieldsets = (
        ("Supplier and account", {"fields": ("id", "user", "microsoft_account_email", "microsoft_user_id", "tenant_id", "token_expires_at")}),
        ("Calendar and settings", {"fields": ("calendar_name", "calendar_id", "sync_enabled", "sync_direction", "sync_preferences", "default_conflict_rules")}),
        ("Health", {"fields": ("last_sync_at", "last_sync_status", "readable_sync_errors", "needs_reauthorization", "reauthorization_reason",
                               "throttled_until", "conflicted_events")}),
        ("Instant updates (webhook)", {"fields": ("webhook_enabled", "webhook_subscription_id", "webhook_expires_at")}),
        ("Sync window", {"classes": ("collapse",), "fields": ("delta_window_start", "delta_window_end", "has_delta_link")}),
        ("Timestamps", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "id", "user", "tenant_id", "microsoft_user_id", "microsoft_account_email", "token_expires_at", "calendar_id",
        "calendar_name", "sync_enabled", "sync_direction", "sync_preferences", "webhook_subscription_id", "webhook_expires_at",
        "last_sync_at", "last_sync_status", "readable_sync_errors", "needs_reauthorization", "reauthorization_reason",
        "delta_window_start", "delta_window_end", "has_delta_link", "webhook_enabled", "default_conflict_rules",
        "throttled_until", "conflicted_events", "created_at", "updated_at",
    )
    inlines = (HistoryInline, MappingInline)
    actions = ("run_incremental_sync", "run_full_resync", "renew_subscription", "clear_conflicts_action")

    # --- permissions: support reads; only permitted staff act; nobody adds or edits rows by hand ---
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # every field is read-only; changes go through the actions below

    def has_delete_permission(self, request, obj=None):
        return False  # deleting the row would leave WedSync's events in Outlook: the supplier disconnects instead

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and (
            request.user.is_superuser
            or request.user.has_perm("outlook_sync.view_outlookcalendarintegration")
            or request.user.has_perm(SUPPORT_ACTION_PERMISSION)
        )

    def has_support_permission(self, request):
        return can_run_support_actions(request.user)

    # --- list columns ---
    @admin.display(description="Supplier", ordering="user__username")
    def supplier(self, obj):
        return f"{obj.user.get_username()} <{obj.user.email}>" if obj.user.email else obj.user.get_username()

    @admin.display(description="Status", ordering="last_sync_status")
    def status(self, obj):
        if obj.needs_reauthorization:
            return "Needs reconnect"
        if not obj.sync_enabled:
            return "Paused"
        return obj.get_last_sync_status_display()

    @admin.display(description="Throttled", boolean=True)
    def throttled(self, obj):
        return bool(obj.throttled_until and obj.throttled_until > timezone.now())

    @admin.display(description="Last sync errors")
    def readable_sync_errors(self, obj):
        return _errors_html(obj.sync_errors)

    @admin.display(description="Events needing a decision")
    def conflicted_events(self, obj):
        return obj.mappings.filter(sync_state=MappingState.CONFLICT).count()

    @admin.display(description="Has a change-tracking link", boolean=True)
    def has_delta_link(self, obj):
        return bool(obj.delta_link)

    # --- actions ---
    def _sync(self, request, queryset, sync_type: str, label: str):
        started = skipped = 0
        for integration in queryset:
            try:
                with transaction.atomic():
                    actions.request_sync(integration, sync_type=sync_type, triggered_by="admin")
                started += 1
            except actions.ActionError as exc:
                skipped += 1
                self.message_user(request, f"{integration}: {exc.message}", messages.WARNING)
        if started:
            self.message_user(request, f"{label} started for {started} integration(s).", messages.SUCCESS)
        return started, skipped

    @admin.action(description="Run an incremental sync now", permissions=["support"])
    def run_incremental_sync(self, request, queryset):
        self._sync(request, queryset, SyncType.INCREMENTAL, "Incremental sync")

    @admin.action(description="Run a full resync now", permissions=["support"])
    def run_full_resync(self, request, queryset):
        self._sync(request, queryset, SyncType.FULL_SYNC, "Full resync")

    @admin.action(description="Renew the Outlook change subscription", permissions=["support"])
    def renew_subscription(self, request, queryset):
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        for integration_id in ids:
            transaction.on_commit(lambda integration_id=integration_id: tasks.enqueue(tasks.ensure_subscription, integration_id))
        self.message_user(request, f"Subscription renewal queued for {len(ids)} integration(s).", messages.SUCCESS)

    @admin.action(description="Clear conflicts (sync those events again)", permissions=["support"])
    def clear_conflicts_action(self, request, queryset):
        reset = actions.clear_conflicts(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Cleared conflicts on {reset} event(s); they sync again on the next run.", messages.SUCCESS)


@admin.register(OutlookEventMapping)
class OutlookEventMappingAdmin(admin.ModelAdmin):
    list_display = ("wedsync_event_type", "event", "sync_state", "last_synced_at", "integration", "problem")
    list_filter = ("sync_state", "wedsync_event_type", "kind")
    list_select_related = ("event", "integration")
    search_fields = ("wedsync_event_id", "outlook_event_id", "integration__user__email", "integration__user__username", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookEventMapping._meta.fields] + ["readable_conflicts"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Problem")
    def problem(self, row):
        if row.sync_state == MappingState.CONFLICT:
            return "Conflict: " + ", ".join(c.get("field", "?") for c in row.sync_conflicts or [])
        return (row.last_error or {}).get("errorMessage", "")

    @admin.display(description="Conflicts")
    def readable_conflicts(self, row):
        if not row.sync_conflicts:
            return "—"
        return format_html("<ul style='margin:0;padding-left:1.2em'>{}</ul>", format_html_join(
            "", "<li><strong>{}</strong>: WedSync {} · Outlook {} (suggested: {})</li>",
            ((c.get("field"), c.get("wedSyncValue"), c.get("outlookValue"), c.get("suggestedResolution")) for c in row.sync_conflicts),
        ))


@admin.register(OutlookSyncHistory)
class OutlookSyncHistoryAdmin(admin.ModelAdmin):
    list_display = ("started_at", "integration", "sync_type", "sync_direction", "sync_status", "events_processed", "events_created",
                    "events_updated", "events_deleted", "conflicts_detected", "error_events", "sync_duration_ms", "triggered_by")
    list_filter = ("sync_status", "sync_type", "triggered_by")
    list_select_related = ("integration",)
    search_fields = ("integration__user__email", "integration__user__username", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookSyncHistory._meta.fields if f.name != "sync_errors"] + ["readable_errors"]
    exclude = ("sync_errors",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Errors")
    def readable_errors(self, run):
        return _errors_html(run.sync_errors)


@admin.register(OutlookBusyTime)
class OutlookBusyTimeAdmin(admin.ModelAdmin):
    list_display = ("integration", "subject", "starts_at", "ends_at", "show_as", "is_all_day")
    list_filter = ("show_as", "is_all_day")
    search_fields = ("integration__user__email", "integration__microsoft_account_email", "subject")
    readonly_fields = [f.name for f in OutlookBusyTime._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutlookNotification)
class OutlookNotificationAdmin(admin.ModelAdmin):
    list_display = ("received_at", "integration", "change_type", "lifecycle_event", "outlook_event_id", "processed_at")
    list_filter = ("change_type", "lifecycle_event")
    search_fields = ("integration__user__email", "integration__microsoft_account_email", "subscription_id")
    readonly_fields = [f.name for f in OutlookNotification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
