"""Every write the integration makes on behalf of a supplier goes through here.

Actions validate, write (``save(update_fields=...)``), and schedule side effects
after commit. Remote calls are never made inside a database transaction.
"""
from __future__ import annotations

import logging
import secrets
import time

from django.db import IntegrityError, transaction
from django.utils import timezone

from wedsync.api_errors import ApiError, shorten
from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

from . import disconnecting, locks, selectors, tasks, tokens, wording
from .graph import calendar_api, oauth
from .graph.client import GraphClient
from .graph.errors import GraphError, OAuthError
from .graph.types import GraphCalendar
from .models import (ConnectionState, DisconnectChoice, MappingState, OutlookBusyCalendar, OutlookCalendarIntegration, OutlookDisconnect,
                     OutlookEventMapping, OutlookSavedSettings, OutlookSyncHistory, RunMode, SyncType)
from .sources import SYNC_SOURCE
from .sync import engine, journal, mapping, merge, runs

#: A refused action, in the API's error shape (``code``, a message for the supplier, optional ``details``).
ActionError = ApiError

logger = logging.getLogger(__name__)

_SESSION_FLOWS = "outlook_oauth_flows"
#: How long a "Connect Outlook" click stays valid.
AUTH_FLOW_TTL_SECONDS = 10 * 60
_MAX_PENDING_FLOWS = 5
#: Shown (page and API, 409 ``account_in_use``) when the Microsoft account is linked to another supplier.
ACCOUNT_IN_USE_MESSAGE = "This Microsoft account is already connected to another WedSync account."


def _connect_error(exc: OAuthError) -> ActionError:
    """A sign-in failure in the API's error shape (pages and API views never see Graph's error types)."""
    return ActionError(exc.code, wording.sign_in_message(exc), status_code=exc.status)


def start_connect(session, user, *, login_hint: str | None = None) -> dict:
    """Begin connecting Outlook: returns ``{authUrl, state}``; the flow is kept in the supplier's session."""
    _refuse_while_disconnecting(selectors.supplier_integration(user))
    try:
        flow = oauth.start_auth_flow(login_hint=login_hint)
    except OAuthError as exc:
        raise _connect_error(exc) from None
    flows = {k: v for k, v in session.get(_SESSION_FLOWS, {}).items() if time.time() - v["created"] < AUTH_FLOW_TTL_SECONDS}
    flows[flow["state"]] = {"flow": flow, "user_id": user.pk, "created": time.time()}
    session[_SESSION_FLOWS] = dict(sorted(flows.items(), key=lambda kv: kv[1]["created"])[-_MAX_PENDING_FLOWS:])
    return {"authUrl": flow["auth_uri"], "state": flow["state"]}


def _take_flow(session, user, state: str) -> dict:
    """Pop the pending flow for ``state``: single use, this session and supplier only, not expired."""
    flows = dict(session.get(_SESSION_FLOWS, {}))
    entry = flows.pop(state, None) if isinstance(state, str) else None
    session[_SESSION_FLOWS] = flows
    if entry is None or entry["user_id"] != user.pk:
        raise ActionError("invalid_state", "This sign-in link is no longer valid. Please click Connect Outlook again.", status_code=400)
    if time.time() - entry["created"] > AUTH_FLOW_TTL_SECONDS:
        raise ActionError("expired_state", "The Microsoft sign-in took too long. Please click Connect Outlook again.", status_code=400)
    return entry["flow"]


def complete_connect(session, user, auth_response: dict) -> tuple[OutlookCalendarIntegration, list[GraphCalendar]]:
    """Finish connecting (see :func:`_complete_connect`); a sign-in failure is an :data:`ActionError`."""
    try:
        return _complete_connect(session, user, auth_response)
    except OAuthError as exc:
        raise _connect_error(exc) from None


def _complete_connect(session, user, auth_response: dict) -> tuple[OutlookCalendarIntegration, list[GraphCalendar]]:
    """Finish connecting: redeem the code, read the account and calendars, then store the integration.

    ``auth_response`` is what Microsoft sent back (``code``/``state`` or
    ``error``). Nothing is stored unless every step succeeded, so a failure
    never leaves a half-made integration. Reconnecting the same Microsoft
    account updates the supplier's existing integration (and clears
    needs-reauthorization); a different account is refused until the supplier
    disconnects the first, and an account linked to another supplier is refused
    (409 ``account_in_use``; also a database constraint).
    """
    flow = _take_flow(session, user, auth_response.get("state"))
    tokens = oauth.redeem_code(flow, auth_response)
    client = GraphClient.with_token(tokens.microsoft_user_id or "connecting", tokens.access_token, slots=locks.mailbox_slots)
    try:
        account = calendar_api.me(client)
        calendars = calendar_api.list_calendars(client)
    except GraphError as exc:
        logger.warning("Reading the new Outlook account failed: %s %s", exc.status, exc.code)
        raise ActionError("microsoft_unavailable", "We signed you in but couldn't read your Outlook calendars. Please try again.", status_code=502) from None
    microsoft_user_id = tokens.microsoft_user_id or account.id
    default = next((c for c in calendars if c.is_default), calendars[0] if calendars else None)
    with transaction.atomic():
        integration = OutlookCalendarIntegration.objects.select_for_update().filter(user=user).first()
        _refuse_while_disconnecting(integration)
        tenant_id = tokens.tenant_id or (integration.tenant_id if integration is not None else "")
        _refuse_account_linked_elsewhere(user, tenant_id, microsoft_user_id)
        if integration is not None and integration.microsoft_user_id != microsoft_user_id:
            raise ActionError(
                "already_connected",
                f"WedSync is already connected to Outlook as {integration.microsoft_account_email or 'another account'}. Disconnect it first to connect a different account.",
                status_code=409,
            )
        if integration is None:
            # A new connection starts with the guided step: nothing reaches Outlook until the supplier confirms.
            integration = OutlookCalendarIntegration(user=user, webhook_client_state=secrets.token_urlsafe(64)[:128], needs_setup=True)
            _restore_saved_settings(integration)
        integration.tenant_id = tenant_id
        integration.microsoft_user_id = microsoft_user_id
        integration.microsoft_account_email = tokens.username or account.email
        integration.set_tokens(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at)
        integration.needs_reauthorization = False
        integration.reauthorization_reason = ""
        if not integration.calendar_id and default is not None:
            integration.calendar_id, integration.calendar_name = default.id, default.name
        integration.calendar_list, integration.calendar_list_at = [wording.calendar_contract(c) for c in calendars], timezone.now()
        try:
            with transaction.atomic():
                integration.save()
        except IntegrityError:  # another supplier linked this account between the check and the save
            raise _account_in_use() from None
    logger.info("Supplier %s connected Outlook integration %s", user.pk, integration.id)
    _after_connect(integration)
    return integration, calendars


def _restore_saved_settings(integration: OutlookCalendarIntegration) -> None:
    """Reconnecting after a disconnect brings back the supplier's previous settings (kept by :func:`disconnect`)."""
    saved = OutlookSavedSettings.objects.filter(user=integration.user).first()
    if saved is None:
        return
    integration.sync_preferences = {**integration.sync_preferences, **saved.sync_preferences}
    integration.sync_direction = saved.sync_direction
    integration.webhook_enabled = saved.webhook_enabled
    integration.default_conflict_rules = saved.default_conflict_rules


def _account_in_use() -> ActionError:
    return ActionError("account_in_use", ACCOUNT_IN_USE_MESSAGE, status_code=409)


def _refuse_account_linked_elsewhere(user, tenant_id: str, microsoft_user_id: str) -> None:
    """A Microsoft account links to one supplier only (also a database constraint); nothing is stored."""
    if OutlookCalendarIntegration.objects.filter(tenant_id=tenant_id, microsoft_user_id=microsoft_user_id).exclude(user=user).exists():
        logger.warning("Supplier %s tried to connect a Microsoft account already linked to another supplier", user.pk)
        raise _account_in_use()


def _after_connect(integration: OutlookCalendarIntegration) -> None:
    """First (or catch-up) full sync and the change subscription, both by workers; none while the guided step waits."""
    if integration.needs_setup:
        return
    if integration.sync_enabled and integration.calendar_id:
        request_sync(integration, sync_type=SyncType.FULL_SYNC, triggered_by="connect")
    integration_id = str(integration.pk)
    transaction.on_commit(lambda: tasks.enqueue(tasks.ensure_subscription, integration_id))


# --- sync runs ---
def _require_syncable(integration: OutlookCalendarIntegration) -> None:
    _refuse_while_disconnecting(integration)
    if integration.needs_setup:
        raise ActionError("setup_needed", "Finish setting up Outlook first: choose your calendars and confirm.", status_code=409)
    if integration.needs_reauthorization:
        raise ActionError("needs_reconnect", "Your Outlook connection has expired. Please reconnect Outlook first.", status_code=409)
    if not integration.calendar_id:
        raise ActionError("no_calendar", "Choose which Outlook calendar to sync with first.", status_code=409)


def request_sync(integration: OutlookCalendarIntegration, *, sync_type: str = SyncType.INCREMENTAL, direction: str | None = None,
                 specific_events=(), triggered_by: str = "manual") -> tuple[OutlookSyncHistory, int]:
    """Start (or queue behind the running one) a sync run. Returns ``(run, events_to_process)``.

    A second request while a run waits returns that waiting run instead of
    adding another: the same work is never done twice.
    """
    _require_syncable(integration)
    if not integration.sync_enabled:
        raise ActionError("sync_disabled", "Sync is switched off. Switch it on in your Outlook settings first.", status_code=409)
    if specific_events:
        sync_type = SyncType.SINGLE_EVENT
        known = set(map(str, CalendarEvent.objects.filter(supplier=integration.user, pk__in=[e for e in specific_events if engine.as_uuid(e)]).values_list("id", flat=True)))
        unknown = [str(e) for e in specific_events if str(e) not in known]
        if unknown:
            raise ActionError("unknown_events", "Some of those events aren't in your WedSync calendar (their ids are in error.ids).",
                              details={"specificEvents": [f"{len(unknown)} of these ids aren't events in your WedSync calendar."]}, ids=unknown)
    run, created = runs.open_run(integration, sync_type=sync_type, direction=direction, triggered_by=triggered_by, specific_event_ids=specific_events)
    if created:
        _start_or_fail(run)
    return run, runs.count_work(run)


def _start_or_fail(run: OutlookSyncHistory) -> None:
    """Hand the run to a worker once it is committed; if the queue is unreachable, close it and say so."""

    def start():
        if not tasks.enqueue(tasks.run_sync, run.pk):
            runs.finish(run, errors=[{"eventId": "", "eventType": "", "errorCode": "queue_unavailable", "retryable": True,
                                      "errorMessage": "We couldn't start the sync just now. We'll try again automatically."}], failed=True)
            raise ActionError("sync_unavailable", "We couldn't start the sync just now. Please try again in a minute; we'll also retry automatically.", status_code=503)

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: tasks.enqueue(tasks.run_sync, run.pk))
    else:
        start()


def force_sync_event(integration: OutlookCalendarIntegration, event_id: str, *, direction: str, overwrite_conflicts: bool = False) -> OutlookSyncHistory:
    """Sync one event now in one direction, overriding the normal rules (``overwriteConflicts`` to override a conflict)."""
    _require_syncable(integration)
    row = _mapping_or_404(integration, event_id, allow_unmapped=True)
    if row is not None and row.sync_state == MappingState.CONFLICT and not overwrite_conflicts:
        raise ActionError("has_conflict", "This event has a conflict. Resolve it, or force the sync with overwriteConflicts.", status_code=409)
    run, created = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, direction=direction, triggered_by="force", specific_event_ids=[str(event_id)], mode=RunMode.FORCE)
    if created:
        _start_or_fail(run)
    return run


def _mapping_or_404(integration, event_id: str, *, allow_unmapped: bool = False):
    row = OutlookEventMapping.objects.filter(integration=integration, wedsync_event_id=str(event_id), kind="event").select_related("event").first()
    if row is None:
        if allow_unmapped and engine.as_uuid(event_id) and CalendarEvent.objects.filter(supplier=integration.user, pk=event_id, is_deleted=False).exists():
            return None
        raise ActionError("event_not_found", "We couldn't find that event in your synced calendar.", status_code=404)
    return row


# --- conflicts ---
def resolve_conflict(integration: OutlookCalendarIntegration, event_id: str, *, resolutions: dict, set_as_default: bool = False) -> OutlookEventMapping:
    """Apply the supplier's choice per conflicted field, then let a run carry it to Outlook.

    The chosen value is written to WedSync, and the base snapshot takes the
    Outlook value: the next merge then sees "only WedSync changed" where the
    choice differs from Outlook, and pushes it (with If-Match, so an Outlook
    edit made meanwhile is merged, not overwritten).
    """
    _refuse_while_disconnecting(integration)
    row = _mapping_or_404(integration, event_id)
    if row.sync_state != MappingState.CONFLICT or not row.sync_conflicts:
        raise ActionError("no_conflict", "This event has no conflict to resolve.", status_code=409)
    conflicts = [merge.SyncConflict.from_contract(c) for c in row.sync_conflicts]
    try:
        chosen = merge.resolve(conflicts, resolutions)
    except merge.ResolutionError as exc:
        raise ActionError("invalid_resolution", "Some of your choices couldn't be applied.", details=exc.errors) from None
    by_field = {c.field: c for c in conflicts}
    with transaction.atomic():
        row = OutlookEventMapping.objects.select_for_update(of=("self",)).select_related("event").get(pk=row.pk)
        event = row.event
        base = dict(row.base_snapshot or {})
        if "deleted" in chosen:
            _resolve_deletion(row, by_field["deleted"], resolutions["deleted"]["useValue"])
        else:
            values = engine.event_values(event)
            changes = mapping.wedsync_changes({f: v for f, v in chosen.items()}, current_values=values)
            if changes:
                event_actions.update_event(event, source=SYNC_SOURCE, **changes)
            for field in chosen:
                base[field] = by_field[field].outlook_value
            remaining = [c.to_contract() for c in conflicts if c.field not in chosen]
            row.base_snapshot = base
            row.sync_conflicts = remaining
            # PENDING: the run merges this event even when WedSync's values did not change.
            row.sync_state = MappingState.CONFLICT if remaining else MappingState.PENDING
            row.save(update_fields=["base_snapshot", "sync_conflicts", "sync_state"])
        if set_as_default:
            rules = merge.default_rules(conflicts, resolutions, event_type=row.wedsync_event_type)
            integration.default_conflict_rules = {**(integration.default_conflict_rules or {}), **rules}
            integration.save(update_fields=["default_conflict_rules", "updated_at"])
        run, created = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, triggered_by="conflict_resolution", specific_event_ids=[str(event_id)])
        if created:
            transaction.on_commit(lambda: tasks.enqueue(tasks.run_sync, run.pk))
    # The run may already have settled (and, for a confirmed delete, forgotten) the mapping.
    return OutlookEventMapping.objects.filter(pk=row.pk).first() or row


def _resolve_deletion(row: OutlookEventMapping, conflict, use: str) -> None:
    """Deleted on one side, edited on the other: keep the edit (restore) or confirm the delete."""
    event = row.event
    wedsync_deleted = conflict.wedsync_value is None
    keep_edit = (use == "outlook") if wedsync_deleted else (use == "wedsync")
    if wedsync_deleted and keep_edit:
        # Restore in WedSync with its last values as the base: the run re-reads Outlook and takes its edits.
        restored = event_actions.restore_event(event, source=SYNC_SOURCE)
        prefs = mapping.SyncPreferences.from_json(row.integration.sync_preferences or {})
        row.base_snapshot = mapping.snapshot_from_wedsync(engine.event_values(restored), prefs)
        row.outlook_change_key = None  # unknown: the run reads Outlook first
    elif wedsync_deleted:
        pass  # the run deletes the Outlook copy (the WedSync side is deleted)
    elif keep_edit:
        row.needs_recreate = True  # the run makes the Outlook copy again
    else:
        event_actions.delete_event(event, source=SYNC_SOURCE)
    row.sync_conflicts = []
    row.sync_state = MappingState.PENDING
    row.save()


def clear_conflicts(integration_ids) -> int:
    """Support action: put every conflicted event of these integrations back to "waiting to sync".

    The next run re-reads both sides and merges again; if they still differ
    the conflict comes back, so nothing is lost. Returns how many events were reset.
    """
    return OutlookEventMapping.objects.filter(integration_id__in=list(integration_ids), sync_state=MappingState.CONFLICT).update(
        sync_state=MappingState.PENDING, sync_conflicts=[], outlook_change_key=None,
    )


# --- settings ---
def update_settings(integration: OutlookCalendarIntegration, changes: dict) -> dict:
    """Apply ``PUT /settings``; returns what changed (``webhookSubscriptionUpdated``, ``syncScheduleChanged``, ``requiresFullResync``,
    and ``busyCalendarsAdded`` for the pages).

    ``busyCalendarIds`` replaces the calendars ticked as busy (a newly ticked one is read by a run started here);
    ``confirmSetup`` ends the guided connect step and starts the first full sync, with the other changes applied first.
    """
    _refuse_while_disconnecting(integration)
    old_prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    old_scope = {"calendar": integration.calendar_name, "syncDirection": integration.sync_direction}  # names only: no Outlook ids in the journal
    if "busyCalendarIds" in changes:
        _known_calendars(integration, changes["busyCalendarIds"])  # refused before anything is written
    requires_full = False
    schedule_changed = False
    fields = ["updated_at"]
    if "syncPreferences" in changes:
        try:
            patch = mapping.validate_preferences_patch(changes["syncPreferences"])
        except mapping.PreferencesError as exc:
            raise ActionError("invalid_preferences", "Some sync preferences aren't valid.", details=exc.errors) from None
        new_json = {**old_prefs.to_json(), **patch}
        new_prefs = mapping.SyncPreferences.from_json(new_json)
        if new_prefs.create_separate_calendar and not old_prefs.create_separate_calendar and "calendarId" not in changes and not integration.needs_setup:
            changes["calendarId"] = _separate_calendar(integration).id
        requires_full |= mapping.changed_preferences_need_full_resync(old_prefs, new_prefs)
        integration.sync_preferences = new_json
        fields.append("sync_preferences")
    confirming = bool(changes.get("confirmSetup")) and integration.needs_setup
    if confirming and mapping.SyncPreferences.from_json(integration.sync_preferences).create_separate_calendar and "calendarId" not in changes:
        # The guided step makes (or finds) the separate "WedSync" calendar only once confirmed: nothing is written before.
        changes["calendarId"] = _separate_calendar(integration).id
    if "calendarId" in changes and changes["calendarId"] != integration.calendar_id:
        calendar = _account_calendar(integration, changes["calendarId"])
        if not calendar.can_edit:
            raise ActionError("calendar_read_only", f"WedSync can't add events to “{calendar.name}”. Please choose a calendar you can edit.")
        integration.calendar_id, integration.calendar_name = calendar.id, calendar.name
        integration.delta_link = None
        fields += ["calendar_id", "calendar_name", "delta_link"]
        requires_full = True
    if "syncDirection" in changes and changes["syncDirection"] != integration.sync_direction:
        integration.sync_direction = changes["syncDirection"]
        fields.append("sync_direction")
        requires_full = True
    if "syncEnabled" in changes and changes["syncEnabled"] != integration.sync_enabled:
        integration.sync_enabled = changes["syncEnabled"]
        fields.append("sync_enabled")
        schedule_changed = True
        requires_full |= integration.sync_enabled
    webhook_changed = False
    if "webhookEnabled" in changes and changes["webhookEnabled"] != integration.webhook_enabled:
        integration.webhook_enabled = changes["webhookEnabled"]
        fields.append("webhook_enabled")
        webhook_changed = True
    busy_added = "busyCalendarIds" in changes and set_busy_calendars(integration, changes["busyCalendarIds"])
    if confirming:
        integration.needs_setup = False
        fields.append("needs_setup")
        webhook_changed = requires_full = True
    integration.save(update_fields=fields)
    if webhook_changed or "calendar_id" in fields or schedule_changed:
        integration_id = str(integration.pk)
        transaction.on_commit(lambda: tasks.enqueue(tasks.ensure_subscription, integration_id))
    if requires_full and integration.sync_enabled and not integration.needs_reauthorization and not integration.needs_setup:
        run, _ = request_sync(integration, sync_type=SyncType.FULL_SYNC, triggered_by="connect" if confirming else "settings_change")
        if not confirming:
            new_scope = {"calendar": integration.calendar_name, "syncDirection": integration.sync_direction}
            if "sync_preferences" in fields:
                old_scope["syncPreferences"], new_scope["syncPreferences"] = old_prefs.to_json(), integration.sync_preferences
            journal.record_settings(run, old_scope, new_scope)  # undoing the run restores them (preferences, calendar, direction)
    elif busy_added and integration.sync_enabled and not integration.needs_reauthorization and not integration.needs_setup:
        request_sync(integration, sync_type=SyncType.INCREMENTAL, triggered_by="settings_change")  # reads the newly ticked calendars
    return {"webhookSubscriptionUpdated": webhook_changed, "syncScheduleChanged": schedule_changed, "requiresFullResync": requires_full,
            "busyCalendarsAdded": bool(busy_added)}


def set_busy_calendars(integration: OutlookCalendarIntegration, calendar_ids: list[str]) -> bool:
    """The calendars that count as busy besides the synced one (from the cached list); True when one was newly ticked.

    A newly ticked calendar is read in full by the next run (the caller starts
    one); an unticked one is forgotten with its busy time at once.
    """
    known = _known_calendars(integration, calendar_ids)
    wanted = set(calendar_ids)
    current = set(integration.busy_calendars.values_list("calendar_id", flat=True))
    if wanted == current:
        return False
    integration.busy_calendars.exclude(calendar_id__in=wanted).delete()
    integration.busy_times.exclude(calendar_id="").exclude(calendar_id__in=wanted).delete()
    OutlookBusyCalendar.objects.bulk_create([OutlookBusyCalendar(integration=integration, calendar_id=c, name=known[c].name) for c in sorted(wanted - current)])
    return bool(wanted - current)


def _known_calendars(integration: OutlookCalendarIntegration, calendar_ids: list[str]) -> dict:
    """The cached calendars by id; refuses ids not among them (400 ``unknown_calendar``)."""
    known = {c.id: c for c in account_calendars(integration)}
    unknown = [c for c in calendar_ids if c not in known]
    if unknown:
        raise ActionError("unknown_calendar", "Some of those calendars aren't in your Outlook account any more. Please tick them again.",
                          details={"busyCalendarIds": [f"Not one of your Outlook calendars: {shorten(c, 80)}" for c in unknown]})
    return known


def setup_choices(integration: OutlookCalendarIntegration) -> dict:
    """What the guided step shows: the cached calendars, the choices so far and what the first sync will do."""
    calendars = account_calendars(integration)
    busy_ids = sorted(integration.busy_calendars.values_list("calendar_id", flat=True))
    return {"calendars": calendars, "calendarId": integration.calendar_id, "busyCalendarIds": busy_ids,
            "preview": selectors.first_sync_preview(integration, calendar_name=setup_calendar_name(integration))}


def setup_calendar_name(integration: OutlookCalendarIntegration) -> str:
    """The calendar the first sync will write to: the separate "WedSync" calendar when chosen (made on confirming)."""
    if mapping.SyncPreferences.from_json(integration.sync_preferences or {}).create_separate_calendar:
        return SEPARATE_CALENDAR_NAME
    return integration.calendar_name or ""


def _graph_call(integration, fn):
    try:
        return fn(tokens.graph_client(integration))
    except GraphError as exc:
        code = wording.error_code(exc)
        raise ActionError(code, wording.user_message(exc), status_code=409 if code == "needs_reconnect" else 502) from None


#: The cached calendar list is refreshed by the worker when older than this.
CALENDAR_LIST_MAX_AGE = 10 * 60


def account_calendars(integration: OutlookCalendarIntegration, *, live: bool = False):
    """The account's calendars from the list the worker cached (no call to Microsoft), refreshed in the background when old.

    ``live`` reads Microsoft now (a settings change naming a calendar the cache does not know yet).
    """
    if live:
        calendars = _graph_call(integration, calendar_api.list_calendars)
        store_calendar_list(integration, calendars)
        return calendars
    age = (timezone.now() - integration.calendar_list_at).total_seconds() if integration.calendar_list_at else None
    if age is None or age > CALENDAR_LIST_MAX_AGE:
        integration_id = str(integration.pk)
        transaction.on_commit(lambda: tasks.enqueue(tasks.refresh_calendar_list, integration_id))
    return [wording.calendar_from_contract(c) for c in integration.calendar_list or []]


def store_calendar_list(integration: OutlookCalendarIntegration, calendars) -> None:
    now = timezone.now()
    integration.calendar_list, integration.calendar_list_at = [wording.calendar_contract(c) for c in calendars], now
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(calendar_list=integration.calendar_list, calendar_list_at=now)


def _account_calendar(integration, calendar_id: str):
    calendar = next((c for c in account_calendars(integration) if c.id == calendar_id), None)
    if calendar is None:  # a calendar made in Outlook since the worker last read the list
        calendar = next((c for c in account_calendars(integration, live=True) if c.id == calendar_id), None)
    if calendar is None:
        raise ActionError("unknown_calendar", "That calendar isn't in your Outlook account any more. Please pick another.", details={"calendarId": calendar_id})
    return calendar


SEPARATE_CALENDAR_NAME = "WedSync"


def _separate_calendar(integration):
    """The dedicated "WedSync" calendar: reused when the cached list has it, created otherwise (Graph refuses a second one
    with the same name, ErrorFolderExists, so a calendar made since the list was cached is then looked up live)."""
    existing = next((c for c in account_calendars(integration) if c.name == SEPARATE_CALENDAR_NAME), None)
    if existing is not None:
        return existing

    def create_or_find(client):
        try:
            created = calendar_api.create_calendar(client, SEPARATE_CALENDAR_NAME)
        except GraphError as exc:
            if exc.status != 409:
                raise
        else:  # cached at once, so choosing it needs no second call to Microsoft
            store_calendar_list(integration, [*(wording.calendar_from_contract(c) for c in integration.calendar_list or []), created])
            return created
        calendars = calendar_api.list_calendars(client)
        store_calendar_list(integration, calendars)
        return next(c for c in calendars if c.name == SEPARATE_CALENDAR_NAME)

    return _graph_call(integration, create_or_find)


# --- disconnect ---
#: Answered (409 ``disconnecting``) to sync, settings and connect requests while a disconnect is under way.
DISCONNECTING_MESSAGE = "Outlook is being disconnected. Wait until that has finished, then connect again if you like."


def _refuse_while_disconnecting(integration: OutlookCalendarIntegration | None) -> None:
    if integration is not None and disconnecting.is_disconnecting(integration):
        raise ActionError("disconnecting", DISCONNECTING_MESSAGE, status_code=409)


def disconnect(integration: OutlookCalendarIntegration, *, remove_events: bool = True) -> dict:
    """Start disconnecting: the integration turns ``disconnecting`` and a worker does the rest (:mod:`.disconnecting`).

    Nothing is sent to Microsoft here. The choice is recorded (remove WedSync's
    copies from Outlook, or leave them as ordinary events: nothing is then
    written to Outlook and nobody gets a cancellation), and the task is enqueued
    when this commits. Returns the spec's ``RemoveIntegrationResponse`` counts of
    what is done so far (nothing yet: ``eventsDeleted`` and ``mappingsDeleted``
    are 0) plus ``disconnectState``, ``disconnectId``, ``eventsToRemove`` and
    ``eventsKept`` (the copies left in Outlook). Asking again while it runs
    answers the same disconnect (and sends its task again, in case it was lost).
    """
    with transaction.atomic():
        locked = OutlookCalendarIntegration.objects.select_for_update().filter(pk=integration.pk).first()
        if locked is None:
            raise ActionError("not_connected", "Outlook isn't connected yet. Connect it from your calendar settings.", status_code=404)
        record = selectors.disconnect_in_progress(locked)
        if record is None:
            copies = locked.mappings.count()
            record = OutlookDisconnect.objects.create(
                user_id=locked.user_id, integration=locked, account_label=str(locked),
                choice=DisconnectChoice.REMOVE if remove_events else DisconnectChoice.KEEP,
                events_to_remove=copies if remove_events else 0, events_kept=0 if remove_events else copies,
            )
            locked.connection_state = ConnectionState.DISCONNECTING
            locked.save(update_fields=["connection_state", "updated_at"])
            logger.info("Supplier %s asked to disconnect integration %s (%s)", locked.user_id, locked.pk, record.choice)
        record_id = str(record.pk)
        transaction.on_commit(lambda: tasks.enqueue(tasks.disconnect_integration, record_id))
    integration.connection_state = ConnectionState.DISCONNECTING
    return disconnect_answer(record)


def disconnect_answer(record: OutlookDisconnect) -> dict:
    """``RemoveIntegrationResponse`` for a disconnect: the spec's counts so far, and WedSync's additions."""
    return {"success": True, "eventsDeleted": record.events_removed, "mappingsDeleted": record.mappings_deleted,
            "webhookUnsubscribed": record.webhook_unsubscribed, "disconnectState": record.status, "disconnectId": record.pk,
            "eventsToRemove": record.events_to_remove, "eventsKept": record.events_kept}


# --- availability ---
def availability(integration: OutlookCalendarIntegration, start, end) -> tuple[list[dict], str]:
    """Outlook busy time in [start, end): from synced data when the window is synced, else Graph's getSchedule."""
    window_start, window_end = integration.delta_window_start, integration.delta_window_end
    if integration.delta_link and window_start and window_end and window_start <= start and end <= window_end:
        rows = selectors.busy_intervals(integration, start, end)
        return [{"start": r.starts_at, "end": r.ends_at, "subject": r.subject, "isAllDay": r.is_all_day, "showAs": r.show_as} for r in rows], "synced"
    items = _graph_call(integration, lambda client: calendar_api.get_schedule(client, integration.microsoft_account_email, start, end))
    return [{"start": i.start, "end": i.end, "subject": i.subject, "isAllDay": False, "showAs": i.status} for i in items], "schedule"

