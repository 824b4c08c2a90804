from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from . import history_views, setup_views, undo_views, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="outlook-settings", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("calendar/outlook/", views.outlook_settings, name="outlook-settings"),
    path("calendar/outlook/connect/", views.outlook_connect, name="outlook-connect"),
    path("calendar/outlook/callback/", views.outlook_callback, name="outlook-callback"),
    path("calendar/outlook/setup/", setup_views.outlook_setup, name="outlook-setup"),
    path("calendar/outlook/setup/preview/", setup_views.outlook_setup_preview, name="outlook-setup-preview"),
    path("calendar/outlook/settings/", views.outlook_preferences, name="outlook-preferences"),
    path("calendar/outlook/history/", history_views.outlook_history, name="outlook-history"),
    path("calendar/outlook/sync/", views.outlook_sync_now, name="outlook-sync-now"),
    path("calendar/outlook/sync/<uuid:sync_id>/", views.outlook_sync_progress, name="outlook-sync-progress"),
    path("calendar/outlook/sync/<uuid:sync_id>/undo/", undo_views.outlook_undo_run, name="outlook-undo-run"),
    path("calendar/outlook/sync/<uuid:sync_id>/changes/<uuid:change_id>/undo/", undo_views.outlook_undo_change, name="outlook-undo-change"),
    path("calendar/outlook/disconnect/", views.outlook_disconnect, name="outlook-disconnect"),
    path("calendar/outlook/disconnect/progress/", views.outlook_disconnect_progress, name="outlook-disconnect-progress"),
    path("calendar/outlook/conflicts/", views.outlook_conflicts, name="outlook-conflicts"),
    path("calendar/outlook/conflicts/<str:event_id>/resolve/", views.outlook_conflict_resolve, name="outlook-conflict-resolve"),
    path("calendar/outlook/events/", views.outlook_events, name="outlook-events"),
    path("calendar/outlook/events/<str:event_id>/sync/", views.outlook_event_force_sync, name="outlook-event-sync"),
    path("calendar/events/", views.event_list, name="event-list"),
    path("calendar/events/new/", views.event_create, name="event-create"),
    path("calendar/events/check/", views.event_busy_check, name="event-busy-check"),
    path("calendar/events/invitations/", views.event_invite_check, name="event-invite-check"),
    path("calendar/events/<uuid:event_id>/edit/", views.event_edit, name="event-edit"),
]
