"""URL routes of the WedSync monolith."""
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import api_errors
from .health import healthz

handler404 = api_errors.handler404
handler500 = api_errors.handler500

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Signed-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs page sends others to sign in.
    # The split view serves Swagger UI's start-up script as a file, so the CSP needs no inline script.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/events/", include("wedsync.events.urls")),
    path("api/calendar/outlook/", include("outlook_sync.api.urls")),
    re_path(r"^api/", api_errors.api_not_found),  # any other /api/ path: the JSON error shape, never an HTML page
    path("", include("calendar_ui.urls")),
]
