"""REST API for WedSync events (``/api/events/``), camelCase like the rest of the frontend contract.

The demo and the tests change WedSync events here the way WedSync itself would;
every write goes through :mod:`wedsync.events.actions`.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from wedsync.api_errors import ApiError
from wedsync.api_fields import Choice, StrictBooleanField, StrictRequestSerializer

from . import actions, selectors
from .models import CalendarEvent, EventType
from .signals import collect_scheduling_warnings

# camelCase API name -> model field name
_FIELD_NAMES = {
    "eventType": "event_type", "title": "title", "description": "description", "location": "location",
    "startsAt": "starts_at", "endsAt": "ends_at", "timeZone": "time_zone", "isAllDay": "is_all_day",
    "attendees": "attendees", "clientName": "client_name", "weddingReference": "wedding_reference",
    "travelMinutes": "travel_minutes",
}
_API_NAMES = {model: api for api, model in _FIELD_NAMES.items()}


class AttendeeSerializer(StrictRequestSerializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    email = serializers.EmailField()


class EventSerializer(StrictRequestSerializer):
    """An event as the frontend sees it."""

    id = serializers.UUIDField(read_only=True)
    eventType = Choice(choices=EventType.choices, source="event_type")
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    location = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    startsAt = serializers.DateTimeField(source="starts_at")
    endsAt = serializers.DateTimeField(source="ends_at")
    timeZone = serializers.CharField(source="time_zone", max_length=64, default="UTC")
    isAllDay = StrictBooleanField(source="is_all_day", default=False)
    attendees = AttendeeSerializer(many=True, required=False, default=list)
    clientName = serializers.CharField(source="client_name", required=False, allow_blank=True, max_length=255, default="")
    weddingReference = serializers.CharField(source="wedding_reference", required=False, allow_blank=True, max_length=255, default="")
    travelMinutes = serializers.IntegerField(source="travel_minutes", required=False, allow_null=True, min_value=0, max_value=1440, default=None)
    version = serializers.IntegerField(read_only=True)
    isDeleted = serializers.BooleanField(source="is_deleted", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)


class EventUpdateSerializer(EventSerializer):
    """Partial update; ``version`` (optional) makes it conditional on the version the client saw."""

    expectedVersion = serializers.IntegerField(required=False, min_value=1, write_only=True)


def _validation_error(exc: actions.EventValidationError) -> ApiError:
    details = {_API_NAMES.get(field, field): [message] for field, message in exc.errors.items()}
    return ApiError("validation_error", "Some details need fixing.", 400, details)


def _get_event(request, event_id) -> CalendarEvent:
    try:
        return selectors.get_supplier_event(request.user, event_id)
    except (CalendarEvent.DoesNotExist, DjangoValidationError):
        raise ApiError("not_found", "We couldn't find that event.", 404) from None


class EventListCreateApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO date-time: only events ending after this"),
            OpenApiParameter("end", str, description="ISO date-time: only events starting before this"),
        ],
        responses=inline_serializer("EventList", {"events": EventSerializer(many=True)}),
        operation_id="events_list",
    )
    def get(self, request):
        window = _WindowSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        events = selectors.supplier_events(request.user, **window.validated_data)
        return Response({"events": EventSerializer(events, many=True).data})

    @extend_schema(request=EventSerializer, responses={201: EventSerializer})
    def post(self, request):
        serializer = EventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["attendees"] = [dict(a) for a in data.get("attendees", [])]
        try:
            event = actions.create_event(request.user, **data)
        except actions.EventValidationError as exc:
            raise _validation_error(exc) from None
        return Response(_with_warnings(event), status=status.HTTP_201_CREATED)


def _with_warnings(event) -> dict:
    """The event, plus ``warnings`` (e.g. "You have 'Dentist' in Outlook at that time") when there are any."""
    data = EventSerializer(event).data
    warnings = collect_scheduling_warnings(event)
    if warnings:
        data["warnings"] = warnings
    return data


class _WindowSerializer(StrictRequestSerializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        return attrs


class EventDetailApi(APIView):
    @extend_schema(responses=EventSerializer)
    def get(self, request, event_id):
        return Response(EventSerializer(_get_event(request, event_id)).data)

    @extend_schema(request=EventUpdateSerializer, responses=EventSerializer)
    def patch(self, request, event_id):
        event = _get_event(request, event_id)
        serializer = EventUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        expected_version = changes.pop("expectedVersion", None)
        if "attendees" in changes:
            changes["attendees"] = [dict(a) for a in changes["attendees"]]
        try:
            event = actions.update_event(event, expected_version=expected_version, **changes)
        except actions.EventValidationError as exc:
            raise _validation_error(exc) from None
        except actions.EventVersionConflict:
            raise ApiError("version_conflict", "This event was changed somewhere else. Reload it and try again.", 409) from None
        if {"starts_at", "ends_at", "is_all_day"} & set(changes):
            return Response(_with_warnings(event))
        return Response(EventSerializer(event).data)

    @extend_schema(responses={204: None})
    def delete(self, request, event_id):
        actions.delete_event(_get_event(request, event_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
