from django.urls import path

from . import api

urlpatterns = [
    path("", api.EventListCreateApi.as_view(), name="events-list"),
    path("<str:event_id>/", api.EventDetailApi.as_view(), name="events-detail"),
]
