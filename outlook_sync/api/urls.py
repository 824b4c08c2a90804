"""``/api/calendar/outlook/``: the spec's paths, without trailing slashes (as the frontend calls them)."""
from django.urls import path

from .. import webhooks
from . import undo, views

urlpatterns = [
    path("auth", views.OutlookAuthApi.as_view(), name="outlook-auth"),
    path("auth/callback", views.OutlookAuthCallbackApi.as_view(), name="outlook-auth-callback"),
    path("sync", views.SyncApi.as_view(), name="outlook-sync"),
    path("sync/<str:sync_id>", views.SyncJobApi.as_view(), name="outlook-sync-job"),
    path("sync/<str:sync_id>/changes", undo.SyncChangesApi.as_view(), name="outlook-sync-changes"),
    path("sync/<str:sync_id>/undo", undo.UndoSyncApi.as_view(), name="outlook-sync-undo"),
    path("events", views.EventsApi.as_view(), name="outlook-events"),
    path("events/<str:event_id>/resolve", views.ResolveConflictApi.as_view(), name="outlook-event-resolve"),
    path("events/<str:event_id>/force-sync", views.ForceSyncApi.as_view(), name="outlook-event-force-sync"),
    path("events/<str:event_id>/undo", undo.UndoEventApi.as_view(), name="outlook-event-undo"),
    path("settings", views.SettingsApi.as_view(), name="outlook-settings-api"),
    path("setup", views.SetupApi.as_view(), name="outlook-setup-api"),
    path("integration", views.IntegrationApi.as_view(), name="outlook-integration"),
    path("availability", views.AvailabilityApi.as_view(), name="outlook-availability"),
    path("webhook", webhooks.receive_notifications, name="outlook-webhook"),
    path("webhook/lifecycle", webhooks.receive_lifecycle, name="outlook-webhook-lifecycle"),
]
