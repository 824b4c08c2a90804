"""Undo endpoints (issue 18, WedSync additions to the spec):

- ``GET /api/calendar/outlook/sync/{syncId}/changes``: the run's journal;
- ``POST /api/calendar/outlook/sync/{syncId}/undo``: every change of that run;
- ``POST /api/calendar/outlook/events/{eventId}/undo`` with ``{"changeId": ...}``:
  that change (with its other side when it is a removal or a revival); without
  ``changeId``, the event's changes of the latest run that changed it.

Both answer 202 with the undo run's ``syncId`` (``queued`` behind a run in
progress) and, per change, what will change on each side and what is refused.
Errors in the API's one shape: 404 ``sync_not_found`` / ``change_not_found``
(also for other suppliers' ids), 409 ``already_undone``, ``nothing_to_undo``,
``sync_in_progress``.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from wedsync.api_errors import ApiError

from ..models import OutlookSyncChange, OutlookSyncHistory, SyncStatus
from .. import undoing
from ..sync import runs, undo
from ..sync.engine import as_uuid
from .serializers import StrictRequestSerializer
from .views import NoQueryApiView, _integration, _validated


class UndoEventRequestSerializer(StrictRequestSerializer):
    changeId = serializers.UUIDField(required=False)


class UndoSideSerializer(serializers.Serializer):
    wedsync = serializers.ListField(child=serializers.CharField())
    outlook = serializers.ListField(child=serializers.CharField())


class UndoRefusedSerializer(serializers.Serializer):
    field = serializers.CharField()
    reason = serializers.CharField()


class UndoChangeSerializer(serializers.Serializer):
    changeId = serializers.UUIDField()
    eventId = serializers.CharField(allow_null=True)
    eventTitle = serializers.CharField(allow_blank=True)
    side = serializers.ChoiceField(choices=["wedsync", "outlook"])
    kind = serializers.ChoiceField(choices=["created", "updated", "deleted", "conflict_resolved"])
    willChange = UndoSideSerializer()
    refused = UndoRefusedSerializer(many=True)


class UndoResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    syncId = serializers.UUIDField(help_text="The undo run (itself journaled and undoable).")
    status = serializers.ChoiceField(choices=["started", "queued"])
    changes = UndoChangeSerializer(many=True)


class JournalChangeSerializer(serializers.Serializer):
    changeId = serializers.UUIDField(source="pk")
    syncId = serializers.UUIDField(source="run_id")
    eventId = serializers.CharField(source="wedsync_event_id", allow_blank=True)
    eventTitle = serializers.CharField(source="event_title", allow_blank=True)
    side = serializers.CharField()
    kind = serializers.CharField()
    fields = serializers.DictField(help_text="field -> {old, new}, as the supplier sees them")
    changedAt = serializers.DateTimeField(source="created_at")
    undoneBy = serializers.SerializerMethodField()

    def get_undoneBy(self, change) -> str | None:
        run = change.undone_by
        return str(run.pk) if run is not None and run.sync_status not in (SyncStatus.FAILED, SyncStatus.CANCELLED) else None


class JournalResponseSerializer(serializers.Serializer):
    changes = JournalChangeSerializer(many=True)


class SyncChangesApi(NoQueryApiView):
    @extend_schema(responses=JournalResponseSerializer, summary="What one sync run changed, on each side (WedSync addition)")
    def get(self, request, sync_id):
        integration = _integration(request)
        run = OutlookSyncHistory.objects.filter(integration=integration, pk=as_uuid(sync_id)).first() if as_uuid(sync_id) else None
        if run is None:
            raise ApiError("sync_not_found", "We couldn't find that sync.", status_code=404)
        changes = undo.changes_of_run(integration, run).select_related("undone_by").order_by("created_at")
        return Response(JournalResponseSerializer({"changes": changes}).data)


def _start(integration, changes: list[OutlookSyncChange]) -> Response:
    if not changes:
        raise ApiError("nothing_to_undo", "There is nothing left to undo there.", status_code=409)
    try:
        run, preview = undoing.start(integration, changes)
    except undo.AlreadyUndone as exc:
        raise ApiError("already_undone", "That change has already been undone.", status_code=409, ids=exc.ids) from None
    return Response(UndoResponseSerializer({
        "success": True, "syncId": run.pk, "status": "queued" if runs.queued_behind(run) else "started", "changes": preview,
    }).data, status=202)


class UndoSyncApi(NoQueryApiView):
    @extend_schema(request=None, responses={202: UndoResponseSerializer}, summary="Undo every change a sync run made (WedSync addition)")
    def post(self, request, sync_id):
        integration = _integration(request)
        run = OutlookSyncHistory.objects.filter(integration=integration, pk=as_uuid(sync_id)).first() if as_uuid(sync_id) else None
        if run is None:
            raise ApiError("sync_not_found", "We couldn't find that sync.", status_code=404)
        if run.sync_status == SyncStatus.IN_PROGRESS:
            raise ApiError("sync_in_progress", "This sync hasn't finished yet. You can undo it once it has.", status_code=409)
        changes = list(undo.changes_of_run(integration, run).order_by("created_at"))
        open_changes = undo.open_changes(changes)
        if changes and not open_changes:
            raise ApiError("already_undone", "Everything this sync changed has already been undone.", status_code=409)
        return _start(integration, open_changes)


class UndoEventApi(NoQueryApiView):
    @extend_schema(request=UndoEventRequestSerializer, responses={202: UndoResponseSerializer}, summary="Undo one change of one event (WedSync addition)")
    def post(self, request, event_id):
        integration = _integration(request)
        data = _validated(UndoEventRequestSerializer, request.data)
        mine = OutlookSyncChange.objects.filter(integration=integration, wedsync_event_id=str(event_id))
        if "changeId" in data:
            change = mine.filter(pk=data["changeId"]).first()
            if change is None:
                raise ApiError("change_not_found", "We couldn't find that change for this event.", status_code=404)
            if undo.is_undone(change):
                raise ApiError("already_undone", "That change has already been undone.", status_code=409, ids=[str(change.pk)])
            return _start(integration, undo.with_partners(integration, change))
        latest = mine.order_by("-created_at").first()
        if latest is None:
            raise ApiError("change_not_found", "No sync has changed this event.", status_code=404)
        changes = undo.open_changes(mine.filter(run_id=latest.run_id).order_by("created_at"))
        if not changes:
            raise ApiError("already_undone", "That change has already been undone.", status_code=409)
        return _start(integration, changes)
