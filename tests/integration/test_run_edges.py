"""Edges of a run, through the API, a real worker and the emulator: the identity platform down in the middle of a
run, a conflict resolved while a sync runs, a throttled force-sync and its retry."""
from __future__ import annotations

import pytest

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, connect, run_sync, wait_for_idle
from tests.integration.test_outlook_sync import _create_event, _outlook_event_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

TOKEN = r"/oauth2/v2\.0/token$"
DELTA = r"calendarView/delta"
#: Microsoft's own error codes, which a supplier must never be shown.
PROVIDER_CODES = {"temporarily_unavailable", "ServiceUnavailable", "TooManyRequests", "ApplicationThrottled", "invalid_grant", "server_error"}


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    yield
    graph.clear_faults()
    settle(graph, timeout=120)
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client)


@pytest.fixture
def connected(api_client, graph, supplier):
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    settle(graph)
    return {"event": event, "integration": OutlookCalendarIntegration.objects.get(user=supplier), "outlook_id": _outlook_event_of(api_client, event["id"])}


def _conflict(api_client, graph, connected) -> None:
    """Outlook and WedSync both retitle the event before either side saw the other's edit: a title conflict."""
    event, outlook_id = connected["event"], connected["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"subject": "WedSync: Outlook's title"})  # no subscription: nothing notifies
    assert api_client.patch(f"/api/events/{event['id']}/", {"title": "WedSync's title"}).status_code == 200
    settle(graph)
    wait_for(lambda: OutlookEventMapping.objects.filter(wedsync_event_id=event["id"], sync_state="conflict").exists(), message="the conflict")


def test_identity_platform_down_during_a_run_fails_the_run_readably_and_the_next_one_recovers(api_client, graph, connected):
    integration = connected["integration"]
    graph.expire_access_tokens(MAILBOX)  # the run's first Graph call gets 401 and must refresh ...
    graph.inject_fault("POST", TOKEN, status=503, count=50)  # ... while login.microsoftonline.com answers 503

    job = run_sync(api_client, timeout=180)
    settle(graph)

    assert job["status"] != "in_progress"
    run = OutlookSyncHistory.objects.get(pk=job["syncId"])
    assert run.sync_status == "failed", (run.sync_status, run.sync_errors)
    codes = {e.get("errorCode") for e in run.sync_errors or []}
    assert codes and not codes & PROVIDER_CODES, run.sync_errors
    assert all(e.get("errorMessage") for e in run.sync_errors), run.sync_errors
    status = api_client.get(f"{BASE}/sync").json()["integration"]
    assert status["needsReauthorization"] is False  # an outage is not a revoked consent
    integration.refresh_from_db()
    assert not integration.needs_reauthorization

    graph.clear_faults()
    settle(graph)
    wait_for_idle(api_client)
    graph.update_event(MAILBOX, connected["outlook_id"], {"location": {"displayName": "After the outage"}})
    assert run_sync(api_client, timeout=120)["status"] == "completed"
    assert api_client.get(f"/api/events/{connected['event']['id']}/").json()["location"] == "After the outage"


def test_resolving_a_conflict_while_a_sync_runs_sticks(api_client, graph, connected):
    event = connected["event"]
    _conflict(api_client, graph, connected)

    graph.inject_fault("GET", DELTA, latency_ms=3000, count=1)  # a slow incremental sync is reading Outlook
    started = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert started.status_code == 202, started.content
    wait_for(lambda: OutlookSyncHistory.objects.filter(pk=started.json()["syncId"], sync_status="in_progress").exists(), message="the slow run")

    resolved = api_client.post(f"{BASE}/events/{event['id']}/resolve", {"resolutions": {"title": {"useValue": "outlook"}}})
    assert resolved.status_code in (200, 202), resolved.content

    settle(graph, timeout=120)
    wait_for_idle(api_client)
    assert api_client.get(f"/api/events/{event['id']}/").json()["title"] == "Outlook's title"
    assert graph.event(MAILBOX, connected["outlook_id"])["subject"] == "WedSync: Outlook's title"
    mapping = OutlookEventMapping.objects.get(wedsync_event_id=event["id"])
    assert mapping.sync_state != "conflict" and not mapping.sync_conflicts
    # And it stays resolved through the next syncs.
    assert run_sync(api_client, sync_type="full_sync")["status"] == "completed"
    assert OutlookEventMapping.objects.get(wedsync_event_id=event["id"]).sync_state != "conflict"
    assert api_client.get(f"/api/events/{event['id']}/").json()["title"] == "Outlook's title"


def test_a_throttled_force_sync_is_retried_and_still_forces(api_client, graph, connected):
    """Outlook throttles the forced push beyond the retry budget: the run fails as throttled, one follow-up run
    (after Retry-After, at least 30 s) carries the same force (direction, the event, overwriting the conflict)."""
    event, outlook_id = connected["event"], connected["outlook_id"]
    _conflict(api_client, graph, connected)
    graph.inject_fault("PATCH", r"/events/[^/]+$", status=429, retry_after=0.1, count=1000, error_code="ApplicationThrottled")

    forced = api_client.post(f"{BASE}/events/{event['id']}/force-sync", {"direction": "to_outlook", "overwriteConflicts": True})
    assert forced.status_code in (200, 202), forced.content
    first = wait_for(lambda: (r := OutlookSyncHistory.objects.get(pk=forced.json()["syncId"])).sync_status != "in_progress" and r,
                     timeout=60, message="the forced run")
    assert first.sync_status == "failed", (first.sync_status, first.sync_errors)
    assert {e.get("errorCode") for e in first.sync_errors} == {"throttled"}, first.sync_errors
    graph.clear_faults()  # Outlook accepts again before the follow-up runs (at least 30 s later)
    retry = wait_for(lambda: OutlookSyncHistory.objects.filter(integration=connected["integration"], triggered_by="retry").first(), message="the follow-up run")
    assert retry.specific_event_ids == [event["id"]] and retry.sync_direction == "to_outlook"

    wait_for(lambda: OutlookSyncHistory.objects.get(pk=retry.pk).sync_status != "in_progress", timeout=120, message="the retry")
    settle(graph)
    assert OutlookSyncHistory.objects.get(pk=retry.pk).sync_status == "completed"
    assert graph.event(MAILBOX, outlook_id)["subject"] == "WedSync: WedSync's title"  # the follow-up kept the force
    mapping = OutlookEventMapping.objects.get(wedsync_event_id=event["id"])
    assert mapping.sync_state != "conflict" and not mapping.sync_conflicts
