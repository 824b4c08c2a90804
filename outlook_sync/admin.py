"""Support admin for the Outlook integration.

Read-only views of integrations, their sync runs and synced events, plus the
support actions (incremental sync, full resync, renew the change subscription,
clear conflicts, ask the supplier to reconnect), each written to the support
audit trail shown on the integration's page. Tokens and the webhook
``clientState`` secret are never shown, searchable or editable anywhere here;
busy-time subjects (the supplier's private Outlook events) are never shown;
nothing here can be deleted by anyone (see :mod:`outlook_sync.support`).
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import selectors, support
from .models import (
    DisconnectChoice,
    LastSyncStatus,
    MappingState,
    OutlookBusyCalendar,
    OutlookBusyTime,
    OutlookCalendarIntegration,
    OutlookDisconnect,
    OutlookEventMapping,
    OutlookNotification,
    OutlookSupportAuditEntry,
    OutlookSyncChange,
    OutlookSyncHistory,
)

admin.site.site_header = "WedSync support"
admin.site.site_title = "WedSync support"
admin.site.index_title = "Suppliers' Outlook connections"

#: Columns that hold secrets: excluded from every form, list and inline.
TOKEN_FIELDS = ("access_token_encrypted", "refresh_token_encrypted", "webhook_client_state")
#: The permission the support actions need (superusers have it implicitly).
SUPPORT_ACTION_PERMISSION = support.RUN_SUPPORT_ACTIONS
can_run_support_actions = support.can_run


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


class BusyCalendarInline(ReadOnlyInline):
    model = OutlookBusyCalendar
    fields = ("name", "delta_window_start", "delta_window_end")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = "Other calendars counted as busy (read for double-booking checks)"


class SupportAuditInline(ReadOnlyInline):
    model = OutlookSupportAuditEntry
    fk_name = "integration"
    fields = ("created_at", "actor_username", "action", "outcome")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = False
    verbose_name_plural = "Support actions (audit trail)"


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
        ("Calendar and settings", {"fields": ("needs_setup", "calendar_name", "calendar_id", "sync_enabled", "sync_direction", "readable_preferences", "readable_conflict_rules")}),
        ("Health", {"fields": ("last_sync_at", "last_sync_status", "readable_sync_errors", "needs_reauthorization", "reauthorization_reason",
                               "throttled_until", "conflicted_events")}),
        ("Instant updates (webhook)", {"fields": ("webhook_enabled", "webhook_subscription_id", "webhook_expires_at")}),
        ("Sync window", {"classes": ("collapse",), "fields": ("delta_window_start", "delta_window_end", "has_delta_link")}),
        ("Timestamps", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "id", "user", "tenant_id", "microsoft_user_id", "microsoft_account_email", "token_expires_at", "calendar_id",
        "calendar_name", "sync_enabled", "sync_direction", "readable_preferences", "readable_conflict_rules", "webhook_subscription_id", "webhook_expires_at",
        "last_sync_at", "last_sync_status", "readable_sync_errors", "needs_reauthorization", "reauthorization_reason",
        "delta_window_start", "delta_window_end", "has_delta_link", "webhook_enabled", "default_conflict_rules",
        "throttled_until", "conflicted_events", "created_at", "updated_at", "needs_setup",
    )
    inlines = (SupportAuditInline, HistoryInline, BusyCalendarInline, MappingInline)
    actions = ("run_incremental_sync", "run_full_resync", "renew_subscription", "clear_conflicts_action", "request_reconnect")

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
            or can_run_support_actions(request.user)
        )

    def has_support_permission(self, request):
        return can_run_support_actions(request.user)

    # --- settings in words (never raw JSON) ---
    @admin.display(description="Sync preferences")
    def readable_preferences(self, obj):
        from wedsync.events.models import EventType

        from .sync.mapping import SyncPreferences

        prefs = SyncPreferences.from_json(obj.sync_preferences or {})
        on_off = lambda flag: "on" if flag else "off"  # noqa: E731
        rows = [
            ("Client meetings", on_off(prefs.sync_client_meetings)), ("Wedding-day events", on_off(prefs.sync_wedding_events)),
            ("Deadlines and tasks", on_off(prefs.sync_deadlines)), ("Travel time blocks", on_off(prefs.sync_travel_time)),
            ("Title prefix", f"“{prefs.event_prefix}”" if prefs.event_prefix else "none"),
            ("Separate WedSync calendar", "yes" if prefs.create_separate_calendar else "no"),
            ("Reminders", ", ".join(f"{m} min before" for m in prefs.notification_minutes) or "none"),
            ("Outlook invitations for", ", ".join(EventType(t).label for t in sorted(prefs.invite_attendees_for)) or "no one"),
        ]
        return format_html("<ul class=\"readable-list\">{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    @admin.display(description="Stored conflict rules")
    def readable_conflict_rules(self, obj):
        rules = obj.default_conflict_rules or {}
        if not rules:
            return "None"
        rows = [(key.replace(":", ", ").replace("_", " "), "keep WedSync" if side == "wedsync" else "keep Outlook") for key, side in sorted(rules.items())]
        return format_html("<ul class=\"readable-list\">{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

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

    # --- actions (each one writes a row of the support audit trail per integration) ---
    def _sync(self, request, queryset, *, full: bool, label: str):
        started, refusals = support.sync(request.user, list(queryset), full=full)
        for refusal in refusals:
            self.message_user(request, refusal, messages.WARNING)
        if started:
            self.message_user(request, f"{label} started for {started} integration(s).", messages.SUCCESS)

    @admin.action(description="Run an incremental sync now", permissions=["support"])
    def run_incremental_sync(self, request, queryset):
        self._sync(request, queryset, full=False, label="Incremental sync")

    @admin.action(description="Run a full resync now", permissions=["support"])
    def run_full_resync(self, request, queryset):
        self._sync(request, queryset, full=True, label="Full resync")

    @admin.action(description="Renew the Outlook change subscription", permissions=["support"])
    def renew_subscription(self, request, queryset):
        count = support.renew_subscription(request.user, list(queryset))
        self.message_user(request, f"Subscription renewal queued for {count} integration(s).", messages.SUCCESS)

    @admin.action(description="Clear conflicts (sync those events again)", permissions=["support"])
    def clear_conflicts_action(self, request, queryset):
        reset = support.clear_conflicts(request.user, list(queryset))
        self.message_user(request, f"Cleared conflicts on {reset} event(s); they sync again on the next run.", messages.SUCCESS)

    @admin.action(description="Ask the supplier to reconnect Outlook", permissions=["support"])
    def request_reconnect(self, request, queryset):
        count = support.request_reconnect(request.user, list(queryset))
        self.message_user(request, f"Asked {count} supplier(s) to reconnect Outlook; sync pauses until they do.", messages.SUCCESS)


class NoDeleteAdmin(admin.ModelAdmin):
    """The integration's history is an audit trail: nobody adds, edits or deletes rows here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutlookEventMapping)
class OutlookEventMappingAdmin(NoDeleteAdmin):
    list_display = ("wedsync_event_type", "event", "sync_state", "last_synced_at", "integration", "problem")
    list_filter = ("sync_state", "wedsync_event_type", "kind")
    list_select_related = ("event", "integration")
    search_fields = ("wedsync_event_id", "outlook_event_id", "integration__user__email", "integration__user__username", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookEventMapping._meta.fields] + ["readable_conflicts"]

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
class OutlookSyncHistoryAdmin(NoDeleteAdmin):
    list_display = ("started_at", "integration", "sync_type", "sync_direction", "sync_status", "events_processed", "events_created",
                    "events_updated", "events_deleted", "conflicts_detected", "error_events", "sync_duration_ms", "triggered_by")
    list_filter = ("sync_status", "sync_type", "triggered_by")
    list_select_related = ("integration",)
    search_fields = ("integration__user__email", "integration__user__username", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookSyncHistory._meta.fields if f.name != "sync_errors"] + ["readable_errors"]
    exclude = ("sync_errors",)

    @admin.display(description="Errors")
    def readable_errors(self, run):
        return _errors_html(run.sync_errors)


@admin.register(OutlookBusyTime)
class OutlookBusyTimeAdmin(NoDeleteAdmin):
    """Busy time is the supplier's own Outlook: when and how busy, never the subject (nor searchable by it)."""

    list_display = ("integration", "subject_hidden", "starts_at", "ends_at", "show_as", "is_all_day")
    list_filter = ("show_as", "is_all_day")
    search_fields = ("integration__user__email", "integration__microsoft_account_email")
    fields = ("integration", "outlook_event_id", "calendar_id", "subject_hidden", "starts_at", "ends_at", "is_all_day", "show_as", "updated_at")
    readonly_fields = fields

    @admin.display(description="Subject")
    def subject_hidden(self, obj):
        return "(private: the supplier's own Outlook event)"


@admin.register(OutlookNotification)
class OutlookNotificationAdmin(NoDeleteAdmin):
    list_display = ("received_at", "integration", "change_type", "lifecycle_event", "outlook_event_id", "processed_at")
    list_filter = ("change_type", "lifecycle_event")
    search_fields = ("integration__user__email", "integration__microsoft_account_email", "subscription_id")
    readonly_fields = [f.name for f in OutlookNotification._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutlookSupportAuditEntry)
class OutlookSupportAuditEntryAdmin(NoDeleteAdmin):
    list_display = ("created_at", "actor_username", "action", "integration_label", "outcome")
    list_filter = ("action",)
    search_fields = ("actor_username", "integration_label")
    readonly_fields = [f.name for f in OutlookSupportAuditEntry._meta.fields]


@admin.register(OutlookSyncChange)
class OutlookSyncChangeAdmin(admin.ModelAdmin):
    """The change journal (issue 18), read only for everyone: nobody adds, edits or deletes entries here
    (undo goes through the supplier's API and pages, which journal it as a run of its own)."""

    list_display = ("created_at", "integration", "event_title", "side", "kind", "changed_fields", "run", "undone_by")
    list_filter = ("side", "kind")
    list_select_related = ("integration", "run", "undone_by")
    search_fields = ("wedsync_event_id", "event_title", "integration__user__email", "integration__user__username", "integration__microsoft_account_email")
    readonly_fields = [f.name for f in OutlookSyncChange._meta.fields if f.name != "fields"] + ["readable_fields"]
    exclude = ("fields",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Fields")
    def changed_fields(self, change):
        return ", ".join(change.fields or {}) or "—"

    @admin.display(description="Old → new")
    def readable_fields(self, change):
        if not change.fields:
            return "—"
        return format_html("<ul style='margin:0;padding-left:1.2em'>{}</ul>", format_html_join(
            "", "<li><strong>{}</strong>: {} → {}</li>", ((name, str(v.get("old")), str(v.get("new"))) for name, v in change.fields.items()),
        ))


@admin.register(OutlookDisconnect)
class OutlookDisconnectAdmin(NoDeleteAdmin):
    """Disconnects suppliers asked for: their choice, the worker's progress and what came of it, read only for
    everyone (the row is the outcome's record once the integration is gone; only the supplier disconnects)."""

    list_display = ("requested_at", "supplier", "account", "choice", "status", "progress", "finished_at")
    list_filter = ("status", "choice")
    list_select_related = ("user",)
    search_fields = ("user__email", "user__username", "account_label")
    fieldsets = (
        ("Supplier and account", {"fields": ("supplier", "account", "integration")}),
        ("What the supplier asked", {"fields": ("choice", "requested_at")}),
        ("Progress", {"fields": ("status", "progress", "outcome", "events_to_remove", "events_removed", "events_kept", "events_not_removed",
                                 "mappings_deleted", "webhook_unsubscribed", "problem", "attempts", "finished_at")}),
    )
    readonly_fields = ("supplier", "account", "integration", "choice", "requested_at", "status", "progress", "outcome", "events_to_remove",
                       "events_removed", "events_kept", "events_not_removed", "mappings_deleted", "webhook_unsubscribed", "problem", "attempts",
                       "finished_at")

    @admin.display(description="Supplier", ordering="user__username")
    def supplier(self, obj):
        return f"{obj.user.get_username()} <{obj.user.email}>" if obj.user.email else obj.user.get_username()

    @admin.display(description="Microsoft account", ordering="account_label")
    def account(self, obj):
        return obj.account_label or "—"

    @admin.display(description="Progress")
    def progress(self, obj):
        if obj.choice != DisconnectChoice.REMOVE:
            return f"{obj.events_kept} left in Outlook"
        text = f"{obj.events_removed} of {obj.events_to_remove} removed"
        return f"{text}, {obj.events_not_removed} could not be removed" if obj.events_not_removed else text

    @admin.display(description="What the supplier reads")
    def outcome(self, obj):
        return selectors.disconnect_summary(obj)
