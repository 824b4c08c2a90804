"""Every call ``useOutlookSync.ts`` makes, and every spec endpoint, checked against the spec's interfaces.

Issue 16, items 1 (filters), 2 (Outlook's own title and date), 3 (syncStats
are real), 6 (triggeredBy in the spec's four values, ISO dates with Z).
"""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import MAILBOX, wait_for
from tests.contract import tsschema
from tests.contract.conftest import TRIGGERS, at, conforms, create_event, error_shape, graph_when, mapped
from tests.integration.outlook_helpers import BASE, consent, run_sync, wait_for_disconnect, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _poll_job(api_client, sync_id: str) -> list[dict]:
    """Poll GET /sync/{id} as the spec's component does until the run ends; every answer is checked."""
    seen = []

    def ended():
        response = api_client.get(f"{BASE}/sync/{sync_id}")
        assert response.status_code == 200, response.content
        seen.append(conforms(response.json(), "OutlookSyncJobResponse"))
        return seen[-1]["status"] in ("completed", "failed", "cancelled")

    wait_for(ended, timeout=90, message=f"sync {sync_id}")
    return seen


def test_every_call_of_the_hook_answers_as_the_spec_says(api_client, graph, supplier):
    # loadIntegration before connecting: 404 is how the hook knows there is no integration.
    error_shape(api_client.get(f"{BASE}/sync"), 404, "not_connected")
    create_event(api_client, "Consultation with Priya & Sam")

    # connectOutlook: GET /auth -> OutlookAuthResponse; then Microsoft, then POST /auth/callback.
    auth = conforms(api_client.get(f"{BASE}/auth").json(), "OutlookAuthResponse")
    assert auth["authUrl"].startswith("https://") and auth["state"]
    query = {k: v for k, v in consent(api_client, graph).items() if k in ("code", "state")}
    callback = api_client.post(f"{BASE}/auth/callback", query)
    assert callback.status_code == 200, callback.content
    body = conforms(callback.json(), "OutlookCallbackResponse")
    assert body["success"] is True and body["calendars"] and body["integration"]["calendarId"]
    # The guided step (a WedSync addition): nothing is written to Outlook until the supplier confirms.
    assert body["integration"]["needsSetup"] is True
    assert api_client.put(f"{BASE}/settings", {"confirmSetup": True}).status_code == 200
    wait_for_idle(api_client)

    # loadIntegration: GET /sync -> OutlookSyncStatusResponse.
    status = conforms(api_client.get(f"{BASE}/sync").json(), "OutlookSyncStatusResponse")
    assert status["recentSyncHistory"], status

    # triggerSync({syncType: 'incremental'}) -> OutlookSyncResponse; the component polls GET /sync/{id}.
    started = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert started.status_code == 202, started.content
    job = conforms(started.json(), "OutlookSyncResponse")
    polls = _poll_job(api_client, job["syncId"])
    assert polls[-1]["status"] == "completed" and polls[-1]["syncId"] == job["syncId"]
    # triggerSync() with no options (the hook's default {}).
    assert conforms(api_client.post(f"{BASE}/sync", {}).json(), "OutlookSyncResponse")
    wait_for_idle(api_client)

    # GET /events -> OutlookEventsResponse.
    conforms(api_client.get(f"{BASE}/events").json(), "OutlookEventsResponse")

    # updateSettings: the component sends the whole preferences object back with one change.
    integration = status["integration"]
    settings = api_client.put(f"{BASE}/settings", {"syncPreferences": {**integration["syncPreferences"], "syncTravelTime": False}})
    assert settings.status_code == 200, settings.content
    conforms(settings.json(), "UpdateOutlookSettingsResponse")
    for change in ({"syncDirection": "to_outlook"}, {"syncEnabled": True}, {"webhookEnabled": False}, {"calendarId": integration["calendarId"]}):
        answer = api_client.put(f"{BASE}/settings", change)
        assert answer.status_code == 200, (change, answer.content)
        conforms(answer.json(), "UpdateOutlookSettingsResponse")
    wait_for_idle(api_client)

    # disconnectOutlook: DELETE /integration -> RemoveIntegrationResponse; then GET /sync is 404 again.
    # It answers at once (202, ``response.ok``) and a worker disconnects; GET /integration shows the progress.
    removed = api_client.delete(f"{BASE}/integration")
    assert removed.status_code == 202, removed.content
    assert conforms(removed.json(), "RemoveIntegrationResponse")["success"] is True
    wait_for_disconnect(api_client)
    error_shape(api_client.get(f"{BASE}/sync"), 404, "not_connected")


def test_resolve_and_force_sync_take_the_spec_requests(api_client, graph, connected):
    event = connected["events"][0]
    row = mapped(api_client, event["id"])
    graph.update_event(MAILBOX, row["outlookEventId"], {"subject": "WedSync: Consultation (Outlook)"})
    api_client.patch(f"/api/events/{event['id']}/", {"title": "Consultation (WedSync)"})
    run_sync(api_client)
    row = conforms(mapped(api_client, event["id"]), "OutlookMappedEvent")
    assert row["syncStatus"] == "conflict" and row["syncConflicts"], row

    # resolveConflicts(eventId, ResolveConflictRequest)
    request = {"resolutions": {"title": {"useValue": "custom", "customValue": "Consultation with Priya & Sam"}}, "setAsDefault": False}
    assert not tsschema.check(request, "ResolveConflictRequest")  # the test sends what the spec's type allows
    resolved = api_client.post(f"{BASE}/events/{event['id']}/resolve", request)
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["success"] is True
    conforms(resolved.json()["event"], "OutlookMappedEvent")
    wait_for_idle(api_client)

    # POST /events/{id}/force-sync with ForceSyncEventRequest
    forced = api_client.post(f"{BASE}/events/{event['id']}/force-sync", {"direction": "to_outlook", "overwriteConflicts": False})
    assert forced.status_code == 202, forced.content
    _poll_job(api_client, forced.json()["syncId"])
    assert mapped(api_client, event["id"])["syncStatus"] == "synced"


def test_the_webhook_endpoint_answers_graphs_validation_handshake(client):
    response = client.post(f"{BASE}/webhook?validationToken=abc%20123", content_type="text/plain")
    assert response.status_code == 200 and response.content == b"abc 123" and response["Content-Type"].startswith("text/plain")


# --------------------------------------------------------------------------- item 1: filters
def test_events_list_has_the_filters_object_with_applied_and_available_values(api_client, graph, connected):
    body = conforms(api_client.get(f"{BASE}/events").json(), "OutlookEventsResponse")
    filters = body["filters"]
    assert filters["eventTypes"] == sorted({"client_meeting", "venue_visit", "wedding_ceremony", "deadline"})
    assert filters["syncStatuses"] == ["synced"]
    starts = [e["wedSyncEventDate"] for e in body["events"]]
    assert filters["dateRange"]["start"] <= min(s for s in starts if "T" in s)

    filtered = conforms(api_client.get(f"{BASE}/events", {"eventType": "venue_visit", "startDate": at(1, 0).isoformat()}).json(), "OutlookEventsResponse")
    assert filtered["filters"]["eventTypes"] == ["venue_visit"] and [e["wedSyncEventType"] for e in filtered["events"]] == ["venue_visit"]
    assert filtered["filters"]["dateRange"]["start"] == at(1, 0).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert filtered["filters"]["available"]["eventTypes"] == filters["eventTypes"]
    assert filtered["filters"]["applied"] == {"eventType": "venue_visit", "status": None, "startDate": at(1, 0).strftime("%Y-%m-%dT%H:%M:%SZ"), "endDate": None}


# --------------------------------------------------------------------------- item 2: Outlook's own values
def test_outlook_title_and_date_are_what_outlook_holds_during_a_conflict_and_after_a_prefix_change(api_client, graph, connected):
    event = connected["events"][0]
    row = mapped(api_client, event["id"])
    assert row["outlookEventTitle"] == "Consultation with Priya & Sam" and row["outlookEventDate"] == at(3, 14).strftime("%Y-%m-%dT%H:%M:%SZ")

    moved = at(3, 16)
    graph.update_event(MAILBOX, row["outlookEventId"], {"subject": "WedSync: Consultation moved by Outlook", **graph_when(moved, moved + dt.timedelta(hours=1))})
    api_client.patch(f"/api/events/{event['id']}/", {"title": "Consultation renamed in WedSync", "startsAt": at(3, 11).isoformat(), "endsAt": at(3, 12).isoformat()})
    run_sync(api_client)
    row = conforms(mapped(api_client, event["id"]), "OutlookMappedEvent")
    assert row["syncStatus"] == "conflict"
    assert row["wedSyncEventTitle"] == "Consultation renamed in WedSync"
    assert row["outlookEventTitle"] == "Consultation moved by Outlook"  # Outlook's subject, our prefix stripped
    assert row["outlookEventDate"] == moved.strftime("%Y-%m-%dT%H:%M:%SZ")

    # A prefix change: until the resync reached Outlook (sync is off here), Outlook still holds the old prefix, and
    # the title is its subject with that prefix stripped (never the new prefix, never WedSync's title plus a prefix).
    other = connected["events"][1]
    assert api_client.put(f"{BASE}/settings", {"syncEnabled": False}).status_code == 200
    response = api_client.put(f"{BASE}/settings", {"syncPreferences": {"eventPrefix": "[WS] "}})
    assert response.status_code == 200 and response.json()["requiresFullResync"] is True
    wait_for_idle(api_client)
    row = mapped(api_client, other["id"])
    assert graph.event(MAILBOX, row["outlookEventId"])["subject"] == "WedSync: Venue visit: The Old Barn"
    assert row["outlookEventTitle"] == "Venue visit: The Old Barn" and row["outlookEventDate"] == at(4, 10).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Sync back on: the full resync rewrites Outlook's subject with the new prefix, which is stripped as applied.
    assert api_client.put(f"{BASE}/settings", {"syncEnabled": True}).status_code == 200
    wait_for_idle(api_client)
    row = mapped(api_client, other["id"])
    assert graph.event(MAILBOX, row["outlookEventId"])["subject"] == "[WS] Venue visit: The Old Barn"
    assert row["outlookEventTitle"] == "Venue visit: The Old Barn"

    # The all-day deadline's dates are dates (documented), on both sides.
    deadline = mapped(api_client, connected["events"][3]["id"])
    assert deadline["isAllDay"] is True and deadline["wedSyncEventDate"] == deadline["outlookEventDate"] == at(5, 0).date().isoformat()


def test_outlook_title_and_date_are_empty_once_outlook_no_longer_holds_the_event(api_client, graph, connected):
    """Edit in WedSync, delete in Outlook: an edit-versus-delete conflict. Outlook's side is gone, not its old title."""
    event = connected["events"][0]
    row = mapped(api_client, event["id"])
    graph.delete_event(MAILBOX, row["outlookEventId"])
    api_client.patch(f"/api/events/{event['id']}/", {"title": "Consultation, kept in WedSync"})
    wait_for_idle(api_client)
    run_sync(api_client)
    row = conforms(mapped(api_client, event["id"]), "OutlookMappedEvent")
    assert row["syncStatus"] == "conflict" and [c["field"] for c in row["syncConflicts"]] == ["deleted"], row
    assert (row["outlookEventTitle"], row["outlookEventDate"]) == ("", ""), row
    assert row["wedSyncEventTitle"] == "Consultation, kept in WedSync"


# --------------------------------------------------------------------------- item 3: syncStats
def test_sync_stats_are_real_values(api_client, graph, connected):
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from wedsync.celery import app

    status = conforms(api_client.get(f"{BASE}/sync").json(), "OutlookSyncStatusResponse")
    full = next(run for run in status["recentSyncHistory"] if run["syncType"] == "full_sync" and run["syncStatus"] == "completed")
    assert status["syncStats"]["lastFullSync"] == full["completedAt"]
    assert status["syncStats"]["totalEvents"] == 4 and status["syncStats"]["syncedEvents"] == 4 and status["syncStats"]["pendingEvents"] == 0
    assert status["syncStats"]["nextScheduledSync"] is None  # beat has never registered its schedule here

    # Beat's own schedule (what `celery beat` installs from CELERY_BEAT_SCHEDULE), last run 4 minutes ago.
    DatabaseScheduler(app=app, lazy=False)
    last_run = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=4)
    PeriodicTask.objects.filter(name="outlook-safety-net-sync").update(last_run_at=last_run)
    from django.conf import settings

    expected = (last_run + dt.timedelta(minutes=settings.SAFETY_NET_SYNC_MINUTES)).strftime("%Y-%m-%dT%H:%M:%S")
    first = api_client.get(f"{BASE}/sync").json()["syncStats"]["nextScheduledSync"]
    assert first.startswith(expected), (first, expected)
    assert api_client.get(f"{BASE}/sync").json()["syncStats"]["nextScheduledSync"] == first  # not recomputed from "now"

    # Sync switched off: no scheduled run includes this integration; events made meanwhile wait, never synced.
    assert api_client.put(f"{BASE}/settings", {"syncEnabled": False}).status_code == 200
    for n in range(3):
        create_event(api_client, f"Tasting {n}", days=7 + n)
    stats = conforms(api_client.get(f"{BASE}/sync").json(), "OutlookSyncStatusResponse")["syncStats"]
    assert stats["nextScheduledSync"] is None
    assert (stats["totalEvents"], stats["pendingEvents"], stats["syncedEvents"]) == (7, 3, 4)


def test_an_edit_not_yet_in_outlook_is_pending_in_the_list_as_in_the_stats(api_client, graph, connected):
    """After a revoked sign-in, a WedSync edit cannot reach Outlook: the event is "pending", not "synced", everywhere."""
    event = connected["events"][1]
    graph.revoke_refresh_tokens(MAILBOX)
    graph.expire_access_tokens(MAILBOX)
    api_client.patch(f"/api/events/{event['id']}/", {"location": "The New Barn"})  # the push finds out
    wait_for(lambda: api_client.get(f"{BASE}/sync").json()["integration"]["needsReauthorization"], message="needs reconnect")
    wait_for_idle(api_client)
    status = conforms(api_client.get(f"{BASE}/sync").json(), "OutlookSyncStatusResponse")
    assert (status["syncStats"]["pendingEvents"], status["syncStats"]["syncedEvents"]) == (1, 3), status["syncStats"]
    body = conforms(api_client.get(f"{BASE}/events").json(), "OutlookEventsResponse")
    assert {e["wedSyncEventId"]: e["syncStatus"] for e in body["events"]}[event["id"]] == "pending"
    assert sorted(e["syncStatus"] for e in body["events"]) == ["pending", "synced", "synced", "synced"]
    assert body["filters"]["syncStatuses"] == ["pending", "synced"]
    pending = conforms(api_client.get(f"{BASE}/events", {"status": "pending"}).json(), "OutlookEventsResponse")
    assert [e["wedSyncEventId"] for e in pending["events"]] == [event["id"]] and pending["pagination"]["totalEvents"] == 1
    synced = api_client.get(f"{BASE}/events", {"status": "synced"}).json()
    assert event["id"] not in [e["wedSyncEventId"] for e in synced["events"]] and synced["pagination"]["totalEvents"] == 3


# --------------------------------------------------------------------------- item 6: triggeredBy and dates
def test_triggered_by_stays_in_the_spec_values_with_the_reason_alongside(api_client, graph, connected):
    event = connected["events"][0]
    api_client.patch(f"/api/events/{event['id']}/", {"title": "Consultation, moved"})  # a push: reason wedsync_change
    wait_for(lambda: any(r["reason"] == "wedsync_change" and r["syncStatus"] == "completed" for r in api_client.get(f"{BASE}/sync").json()["recentSyncHistory"]),
             message="push run")
    forced = api_client.post(f"{BASE}/events/{event['id']}/force-sync", {"direction": "to_outlook"})
    assert forced.status_code == 202
    assert api_client.put(f"{BASE}/settings", {"syncPreferences": {"syncDeadlines": False}}).json()["requiresFullResync"] is True
    wait_for_idle(api_client)
    history = conforms(api_client.get(f"{BASE}/sync").json(), "OutlookSyncStatusResponse")["recentSyncHistory"]
    reasons = {run["reason"]: run["triggeredBy"] for run in history}
    assert {"connect", "wedsync_change", "force", "settings_change"} <= set(reasons), reasons
    assert all(run["triggeredBy"] in TRIGGERS for run in history), history
    assert (reasons["connect"], reasons["wedsync_change"], reasons["force"], reasons["settings_change"]) == ("auto", "auto", "manual", "auto")
    job = api_client.get(f"{BASE}/sync/{forced.json()['syncId']}").json()
    assert job["triggeredBy"] == "manual" and job["reason"] == "force"
    for run in history:  # every timestamp ISO-8601 UTC with Z (the validator checks the format too)
        assert run["startedAt"].endswith("Z") and run["completedAt"].endswith("Z") and run["beganAt"].endswith("Z")
        assert run["beganAt"] >= run["startedAt"]
