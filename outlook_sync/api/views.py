"""The spec's REST endpoints under ``/api/calendar/outlook/``: parse, call one action or selector, serialize."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from wedsync.api_errors import ApiError

from .. import actions, selectors, wording
from ..models import OutlookCalendarIntegration
from ..sync import runs
from ..sync.engine import as_uuid
from .serializers import (
    AvailabilityQuerySerializer,
    AvailabilityResponseSerializer,
    EventsQuerySerializer,
    EventsResponseSerializer,
    ForceSyncRequestSerializer,
    ForceSyncResponseSerializer,
    IntegrationStateSerializer,
    NoQuerySerializer,
    RemoveIntegrationQuerySerializer,
    RemoveIntegrationResponseSerializer,
    SetupResponseSerializer,
    ResolveConflictRequestSerializer,
    ResolveConflictResponseSerializer,
    SyncJobResponseSerializer,
    SyncRequestSerializer,
    SyncResponseSerializer,
    SyncStatusResponseSerializer,
    UpdateSettingsRequestSerializer,
    UpdateSettingsResponseSerializer,
    OutlookAuthResponseSerializer,
    OutlookCallbackRequestSerializer,
    OutlookCallbackResponseSerializer,
)


class NoQueryApiView(APIView):
    """An endpoint that takes no query parameters refuses any, as an unknown body key is refused (400
    ``validation_error`` naming the key): ``GET /sync?syncType=full_sync`` never silently runs as something else."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # signed in, CSRF and rate limits first
        if request.query_params:
            NoQuerySerializer(data=request.query_params).is_valid(raise_exception=True)


class OutlookAuthApi(NoQueryApiView):
    @extend_schema(responses=OutlookAuthResponseSerializer, summary="Start connecting Outlook (OAuth 2.0 + PKCE)")
    def get(self, request):
        return Response(actions.start_connect(request.session, request.user))


class OutlookAuthCallbackApi(NoQueryApiView):
    @extend_schema(request=OutlookCallbackRequestSerializer, responses=OutlookCallbackResponseSerializer, summary="Finish connecting Outlook")
    def post(self, request):
        payload = OutlookCallbackRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        integration, calendars = actions.complete_connect(request.session, request.user, dict(payload.validated_data))
        return Response(OutlookCallbackResponseSerializer({"success": True, "integration": integration, "calendars": [wording.calendar_contract(c) for c in calendars]}).data)


def _integration(request) -> OutlookCalendarIntegration:
    """The caller's own integration; any other supplier's is unreachable by construction."""
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        raise ApiError("not_connected", "Outlook isn't connected yet. Connect it from your calendar settings.", status_code=404)
    return integration


def _validated(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SyncApi(NoQueryApiView):
    @extend_schema(responses=SyncStatusResponseSerializer, summary="Sync status, statistics, recent runs and webhook state")
    def get(self, request):
        integration = _integration(request)
        return Response(SyncStatusResponseSerializer({
            "integration": integration,
            "syncStats": selectors.sync_stats(integration),
            "recentSyncHistory": selectors.recent_history(integration),
            "webhookStatus": selectors.webhook_status(integration),
        }).data)

    @extend_schema(request=SyncRequestSerializer, responses={202: SyncResponseSerializer}, summary="Start a sync (queued behind a running one)")
    def post(self, request):
        integration = _integration(request)
        data = _validated(SyncRequestSerializer, request.data)
        run, events = actions.request_sync(
            integration, sync_type=data["syncType"], direction=data.get("syncDirection"), specific_events=data["specificEvents"],
        )
        return Response(SyncResponseSerializer({
            "syncId": run.pk, "status": "queued" if runs.queued_behind(run) else "started",
            "estimatedDuration": runs.estimate_seconds(run), "eventsToProcess": events,
        }).data, status=202)


class SyncJobApi(NoQueryApiView):
    @extend_schema(responses=SyncJobResponseSerializer, summary="Progress of one sync run", operation_id="calendar_outlook_sync_job_retrieve")
    def get(self, request, sync_id):
        integration = _integration(request)
        run = selectors.sync_job(integration, sync_id) if as_uuid(sync_id) else None
        if run is None:
            raise ApiError("sync_not_found", "We couldn't find that sync.", status_code=404)
        return Response(SyncJobResponseSerializer(run).data)


class _CountedPaginator(Paginator):
    """A paginator given its total (counted by ``selectors.event_filters`` in its one query): no COUNT of its own."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


class EventsApi(APIView):
    @extend_schema(parameters=[EventsQuerySerializer], responses=EventsResponseSerializer, summary="Synced events and their status")
    def get(self, request):
        integration = _integration(request)
        query = _validated(EventsQuerySerializer, request.query_params)
        applied = {"event_type": query.get("eventType"), "status": query.get("status"), "start": query.get("startDate"), "end": query.get("endDate")}
        filters, total = selectors.event_filters(integration, **applied)
        paginator = _CountedPaginator(selectors.mapped_events(integration, **applied), query["pageSize"], count=total)
        page_number = min(query["page"], max(paginator.num_pages, 1))
        page = paginator.page(page_number)
        return Response(EventsResponseSerializer({
            "events": page.object_list,
            "pagination": {"page": page_number, "totalPages": paginator.num_pages if paginator.count else 0, "totalEvents": paginator.count},
            "filters": filters,
        }).data)


class ResolveConflictApi(NoQueryApiView):
    @extend_schema(request=ResolveConflictRequestSerializer, responses=ResolveConflictResponseSerializer, summary="Resolve a conflicted event")
    def post(self, request, event_id):
        integration = _integration(request)
        data = _validated(ResolveConflictRequestSerializer, request.data)
        row = actions.resolve_conflict(integration, event_id, resolutions=data["resolutions"], set_as_default=data["setAsDefault"])
        return Response(ResolveConflictResponseSerializer({"success": True, "event": row}).data)


class ForceSyncApi(NoQueryApiView):
    @extend_schema(request=ForceSyncRequestSerializer, responses={202: ForceSyncResponseSerializer}, summary="Sync one event now in one direction")
    def post(self, request, event_id):
        integration = _integration(request)
        data = _validated(ForceSyncRequestSerializer, request.data)
        run = actions.force_sync_event(integration, event_id, direction=data["direction"], overwrite_conflicts=data["overwriteConflicts"])
        return Response(ForceSyncResponseSerializer({"success": True, "syncId": run.pk}).data, status=202)


class SettingsApi(NoQueryApiView):
    @extend_schema(request=UpdateSettingsRequestSerializer, responses=UpdateSettingsResponseSerializer, summary="Change sync settings")
    def put(self, request):
        integration = _integration(request)
        data = _validated(UpdateSettingsRequestSerializer, request.data)
        outcome = actions.update_settings(integration, dict(data))
        integration.refresh_from_db()
        return Response(UpdateSettingsResponseSerializer({"integration": integration, **outcome}).data)


class IntegrationApi(APIView):
    @extend_schema(responses=IntegrationStateSerializer, summary="Connected, being disconnected (with progress), or disconnected (WedSync addition)",
                   operation_id="calendar_outlook_integration_retrieve")
    def get(self, request):
        """Poll this after ``DELETE``: ``disconnect.eventsRemoved`` of ``eventsToRemove``, then the outcome once ``completed``."""
        if request.query_params:  # as NoQueryApiView (DELETE here takes removeEvents)
            NoQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        integration = selectors.supplier_integration(request.user)
        if integration is not None and integration.connection_state == "connected":
            return Response(IntegrationStateSerializer({"connectionState": "connected", "disconnect": None}).data)
        record = selectors.disconnect_in_progress(integration) if integration is not None else selectors.latest_disconnect(request.user)
        state = "disconnecting" if integration is not None else ("disconnected" if record is not None else "not_connected")
        return Response(IntegrationStateSerializer({"connectionState": state, "disconnect": record}).data)

    @extend_schema(parameters=[RemoveIntegrationQuerySerializer], responses={202: RemoveIntegrationResponseSerializer},
                   summary="Disconnect Outlook in the background; remove WedSync's events from it (default) or leave them as ordinary events")
    def delete(self, request):
        """Answers at once (202); a worker removes the copies (progress in ``GET /integration``), then forgets the integration."""
        integration = _integration(request)
        query = _validated(RemoveIntegrationQuerySerializer, request.query_params)
        answer = actions.disconnect(integration, remove_events=query["removeEvents"] == "true")
        return Response(RemoveIntegrationResponseSerializer(answer).data, status=202)


class SetupApi(APIView):
    @extend_schema(responses=SetupResponseSerializer, summary="The guided connect step: calendars to write to and to count as busy, and what the first sync will do")
    def get(self, request):
        integration = _integration(request)
        choices = actions.setup_choices(integration)
        return Response(SetupResponseSerializer({
            **choices, "needsSetup": integration.needs_setup, "calendars": [wording.calendar_contract(c) for c in choices["calendars"]],
        }).data)


class AvailabilityApi(APIView):
    @extend_schema(parameters=[AvailabilityQuerySerializer], responses=AvailabilityResponseSerializer, summary="Outlook busy time in a window")
    def get(self, request):
        integration = _integration(request)
        query = _validated(AvailabilityQuerySerializer, request.query_params)
        busy, source = actions.availability(integration, query["start"], query["end"])
        return Response(AvailabilityResponseSerializer({"busy": busy, "source": source}).data)
