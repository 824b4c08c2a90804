"""Real time both ways (issue 7): subscriptions with the validation handshake, notifications delivered by
the emulator over real HTTP to a live server, push on commit, lifecycle events, availability."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from outlook_sync.models import OutlookCalendarIntegration, OutlookNotification, OutlookSyncHistory
from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, disconnect, graph_when, wait_for_idle
from tests.integration.test_outlook_sync import _create_event, _outlook_event_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def live(graph, live_server, settings):
    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.fixture
def subscribed(api_client, graph, live, supplier):
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    status = wait_for(lambda: (s := api_client.get(f"{BASE}/sync").json())["webhookStatus"]["isActive"] and s, message="subscription")
    settle(graph)  # the first sync's creates may come back as notifications: their runs are over
    return {"event": event, "status": status, "integration": OutlookCalendarIntegration.objects.get(user=supplier)}


@pytest.fixture(autouse=True)
def _settle(api_client, graph):  # after ``graph``: torn down while the settings still point at the emulator
    yield
    settle(graph)
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client)


def test_subscription_is_created_on_connect_after_the_validation_handshake(api_client, graph, subscribed):
    webhook = subscribed["status"]["webhookStatus"]
    subscriptions = graph.subscriptions(MAILBOX)
    assert [s["id"] for s in subscriptions] == [webhook["subscriptionId"]]
    sub = subscriptions[0]
    assert sub["notificationUrl"].endswith("/api/calendar/outlook/webhook")
    assert sub["resource"] == f"/me/calendars/{subscribed['integration'].calendar_id}/events"
    assert sub["clientState"] == subscribed["integration"].webhook_client_state
    assert graph.stats()["validations"] >= 1
    expires = dt.datetime.fromisoformat(webhook["expiresAt"].replace("Z", "+00:00"))
    assert dt.timedelta(days=6) < expires - timezone.now() <= dt.timedelta(days=7)
    assert webhook["renewalNeeded"] is False


def test_validation_handshake_answers_the_token_as_plain_text(client):
    response = client.post("/api/calendar/outlook/webhook?validationToken=Validation%3A%20Testing%20client%20application")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"Validation: Testing client application"


def test_outlook_change_reaches_wedsync_through_a_real_notification(api_client, graph, subscribed):
    event = subscribed["event"]
    outlook_id = _outlook_event_of(api_client, event["id"])
    before = graph.stats()["notifications"]["delivered"]

    graph.update_event(MAILBOX, outlook_id, graph_when(at(3, 10), at(3, 11)))

    # No other sync is running or due (the fixture settled), so only the notification can bring the change.
    # (How fast is a benchmark: scripts/bench.sh latency.)
    wait_for(lambda: api_client.get(f"/api/events/{event['id']}/").json()["startsAt"].startswith(at(3, 10).strftime("%Y-%m-%dT%H")), timeout=30, message="notification-driven sync")
    assert graph.stats()["notifications"]["delivered"] > before
    wait_for(lambda: OutlookNotification.objects.filter(integration=subscribed["integration"], processed_at__isnull=False).exists(), timeout=5)
    assert OutlookSyncHistory.objects.filter(integration=subscribed["integration"], sync_type="webhook_triggered", sync_status="completed").exists()


def test_wedsync_change_is_pushed_to_outlook_on_commit(api_client, graph, subscribed):
    """The edit reaches Outlook by the push scheduled on commit (no sync asked for); its latency is a benchmark."""
    event = subscribed["event"]
    outlook_id = _outlook_event_of(api_client, event["id"])

    api_client.patch(f"/api/events/{event['id']}/", {"location": "The Orangery, Kew"})

    wait_for(lambda: graph.event(MAILBOX, outlook_id)["location"]["displayName"] == "The Orangery, Kew", timeout=30, message="push")


def test_wrong_client_state_and_unknown_subscription_are_refused_without_touching_data(client, subscribed):
    integration = subscribed["integration"]
    body = {"value": [{
        "subscriptionId": integration.webhook_subscription_id, "clientState": "guess", "changeType": "updated",
        "resource": "Users/x/Events/y", "resourceData": {"id": "y"}, "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": "t",
    }]}
    wrong_state = client.post("/api/calendar/outlook/webhook", json.dumps(body), content_type="application/json")
    body["value"][0] |= {"subscriptionId": "unknown", "clientState": integration.webhook_client_state}
    unknown = client.post("/api/calendar/outlook/webhook", json.dumps(body), content_type="application/json")
    garbage = client.post("/api/calendar/outlook/webhook", "not json", content_type="application/json")

    assert wrong_state.status_code == 403 and unknown.status_code == 403
    assert wrong_state.json()["error"]["code"] == "invalid_notification"
    assert garbage.status_code == 400
    assert not OutlookNotification.objects.filter(outlook_event_id="y").exists()


def test_a_burst_of_notifications_shares_runs_and_converges(client, api_client, graph, subscribed):
    """50 notifications for one real Outlook edit: fewer runs than notifications, and WedSync ends with the edit.

    (How many runs exactly depends on timing and belongs to the benchmarks, as does the receiver's speed.)
    """
    integration, event = subscribed["integration"], subscribed["event"]
    outlook_id = _outlook_event_of(api_client, event["id"])
    before = OutlookSyncHistory.objects.filter(integration=integration, sync_type="webhook_triggered").count()
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Burst: The Orangery"}})  # the emulator notifies too
    item = {
        "subscriptionId": integration.webhook_subscription_id, "clientState": integration.webhook_client_state, "changeType": "updated",
        "resource": f"Users/x/Events/{outlook_id}", "resourceData": {"id": outlook_id}, "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": "t",
    }
    for _ in range(50):
        response = client.post("/api/calendar/outlook/webhook", json.dumps({"value": [item]}), content_type="application/json")
        assert response.status_code == 202
    settle(graph)
    wait_for_idle(api_client)

    assert not OutlookNotification.objects.filter(integration=integration, processed_at__isnull=True).exists()
    runs = OutlookSyncHistory.objects.filter(integration=integration, sync_type="webhook_triggered").count() - before
    assert 1 <= runs < 50, runs
    assert api_client.get(f"/api/events/{event['id']}/").json()["location"] == "Burst: The Orangery"


def test_lifecycle_events_renew_recreate_and_resync(api_client, graph, subscribed):
    integration = subscribed["integration"]
    old_id = integration.webhook_subscription_id

    graph.trigger_lifecycle(old_id, "subscriptionRemoved")
    wait_for(lambda: (i := OutlookCalendarIntegration.objects.get(pk=integration.pk)).webhook_subscription_id not in (None, old_id) and i, message="resubscribe")
    new_id = OutlookCalendarIntegration.objects.get(pk=integration.pk).webhook_subscription_id
    assert [s["id"] for s in graph.subscriptions(MAILBOX)] == [new_id]

    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_expires_at=timezone.now() + dt.timedelta(hours=1))
    graph.trigger_lifecycle(new_id, "reauthorizationRequired")
    wait_for(lambda: OutlookCalendarIntegration.objects.get(pk=integration.pk).webhook_expires_at > timezone.now() + dt.timedelta(days=6), message="renewal")

    before = OutlookSyncHistory.objects.filter(integration=integration, sync_type="webhook_triggered").count()
    graph.trigger_lifecycle(new_id, "missed")
    wait_for(lambda: OutlookSyncHistory.objects.filter(integration=integration, sync_type="webhook_triggered").count() > before, message="catch-up sync")


def test_turning_instant_updates_off_deletes_the_subscription_and_disconnect_unsubscribes(api_client, graph, subscribed):
    response = api_client.put(f"{BASE}/settings", {"webhookEnabled": False})
    assert response.json()["webhookSubscriptionUpdated"] is True
    wait_for(lambda: graph.subscriptions(MAILBOX) == [], message="unsubscribe")
    assert api_client.get(f"{BASE}/sync").json()["webhookStatus"]["isActive"] is False

    api_client.put(f"{BASE}/settings", {"webhookEnabled": True})
    wait_for(lambda: len(graph.subscriptions(MAILBOX)) == 1, message="subscribe again")
    wait_for(lambda: OutlookCalendarIntegration.objects.filter(webhook_subscription_id__isnull=False).exists())

    answer, removed = disconnect(api_client)
    assert answer["webhookUnsubscribed"] is False and removed["webhookUnsubscribed"] is True  # the worker unsubscribes
    assert graph.subscriptions(MAILBOX) == []


def test_switching_calendars_moves_the_subscription_and_the_new_calendars_changes_arrive(api_client, graph, live, supplier):
    """A subscription watches one calendar's events: after a switch it must watch the new one, not the old."""
    work = graph.create_calendar(MAILBOX, "Work")  # before connecting: in the calendar list the worker caches
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    wait_for(lambda: len(graph.subscriptions(MAILBOX)) == 1, message="subscription on the default calendar")
    assert graph.subscriptions(MAILBOX)[0]["resource"] != f"/me/calendars/{work['id']}/events"

    assert api_client.put(f"{BASE}/settings", {"calendarId": work["id"]}).status_code == 200
    wait_for(lambda: [s["resource"] for s in graph.subscriptions(MAILBOX)] == [f"/me/calendars/{work['id']}/events"],
             message="one subscription, on the new calendar")
    wait_for_idle(api_client)
    settle(graph)  # the switch's full sync and its echoes are over: only a notification can bring the next change
    outlook_id = _outlook_event_of(api_client, event["id"])
    assert graph.event(MAILBOX, outlook_id)  # the copy now lives in "Work"

    graph.update_event(MAILBOX, outlook_id, graph_when(at(4, 15), at(4, 16)))
    wait_for(lambda: api_client.get(f"/api/events/{event['id']}/").json()["startsAt"].startswith(at(4, 15).strftime("%Y-%m-%dT%H")),
             timeout=30, message="notification from the new calendar")


def test_availability_reads_synced_busy_time_and_get_schedule_beyond_the_window(api_client, graph, subscribed):
    graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(2, 9), at(2, 10)), "showAs": "busy"})
    graph.create_event(MAILBOX, {"subject": "Lunch (free)", **graph_when(at(2, 12), at(2, 13)), "showAs": "free"})
    wait_for(lambda: api_client.get(f"{BASE}/availability", {"start": at(2, 0).isoformat(), "end": at(3, 0).isoformat()}).json()["busy"], timeout=10)

    near = api_client.get(f"{BASE}/availability", {"start": at(2, 0).isoformat(), "end": at(3, 0).isoformat()}).json()
    assert near["source"] == "synced"
    assert [b["subject"] for b in near["busy"]] == ["Dentist"]

    far_start = timezone.now() + dt.timedelta(days=400)
    graph.create_event(MAILBOX, {"subject": "Holiday", **graph_when(far_start, far_start + dt.timedelta(hours=5)), "showAs": "oof"})
    far = api_client.get(f"{BASE}/availability", {"start": far_start.isoformat(), "end": (far_start + dt.timedelta(days=1)).isoformat()}).json()
    assert far["source"] == "schedule" and len(far["busy"]) == 1

    bad = api_client.get(f"{BASE}/availability", {"start": at(3, 0).isoformat(), "end": at(2, 0).isoformat()})
    assert bad.status_code == 400
