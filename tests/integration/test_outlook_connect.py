"""Connecting Outlook (issue 5): the OAuth flow over TLS against the emulator, the token lifecycle and the Graph client.

Everything goes through the HTTP API, Celery tasks and the emulator speaking
real HTTPS; the real ``msal`` package does the OAuth work.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.utils import timezone

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import BASE, connect, consent, wait_for_idle

pytestmark = pytest.mark.django_db(transaction=True)


def _other_calendar(graph) -> str:
    return graph.create_calendar(MAILBOX, "Studio bookings")["id"]


def test_connect_flow_creates_integration_and_lists_calendars(api_client, graph, supplier):
    body = connect(api_client, graph)

    assert body["success"] is True
    integration = body["integration"]
    assert integration["accountEmail"] == MAILBOX
    assert integration["needsReauthorization"] is False
    assert integration["syncPreferences"]["eventPrefix"] == "WedSync: "
    default = [c for c in body["calendars"] if c["isDefaultCalendar"]]
    assert len(default) == 1 and integration["calendarId"] == default[0]["id"]
    assert set(default[0]) == {"id", "name", "color", "isDefaultCalendar", "canEdit", "owner"}
    assert set(default[0]["owner"]) == {"name", "address"}
    stored = OutlookCalendarIntegration.objects.get(user=supplier)
    assert stored.microsoft_user_id == integration["microsoftUserId"] and stored.tenant_id
    # The tokens are stored encrypted and returned nowhere.
    access = stored.get_access_token()
    assert access and access not in stored.access_token_encrypted
    assert stored.get_refresh_token() not in stored.refresh_token_encrypted
    assert access not in str(body) and "accessToken" not in str(body)


def test_browser_callback_lands_on_the_guided_step_with_nothing_in_outlook(api_client, graph, supplier):
    query = consent(api_client, graph)
    response = api_client.client.get("/calendar/outlook/callback/", query, follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/calendar/outlook/setup/"
    assert "Choose how WedSync uses your Outlook" in response.content.decode()
    assert "Nothing has been added to Outlook yet" in response.content.decode()
    assert OutlookCalendarIntegration.objects.filter(user=supplier).count() == 1


def test_denied_consent_is_a_clear_error_and_creates_nothing(api_client, graph, supplier):
    query = consent(api_client, graph, accept=False)
    assert query["error"] == "access_denied"

    response = api_client.post(f"{BASE}/auth/callback", {"state": query["state"], "error": query["error"]})

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "access_denied"
    assert "cancelled" in response.json()["error"]["message"]
    assert not OutlookCalendarIntegration.objects.exists()


def test_replayed_state_is_refused(api_client, graph, supplier):
    query = consent(api_client, graph)
    first = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})
    assert first.status_code == 200

    replay = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_state"
    assert OutlookCalendarIntegration.objects.count() == 1


def test_another_suppliers_state_is_refused(api_client, graph, supplier, other_supplier):
    from tests.conftest import CsrfApiClient
    from rest_framework.test import APIClient

    other = APIClient(enforce_csrf_checks=True)
    other.force_login(other_supplier)
    other_query = consent(CsrfApiClient(other), graph)

    response = api_client.post(f"{BASE}/auth/callback", {"code": other_query["code"], "state": other_query["state"]})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"
    assert not OutlookCalendarIntegration.objects.exists()


def test_expired_code_is_refused_without_half_made_integration(api_client, graph, supplier):
    graph.set_config(code_lifetime_s=0)  # the code has expired by the time it is redeemed (no waiting)
    query = consent(api_client, graph)

    response = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_grant"
    assert "expired" in response.json()["error"]["message"]
    assert not OutlookCalendarIntegration.objects.exists()


def test_reconnecting_the_same_account_updates_the_integration(api_client, graph, supplier):
    first = connect(api_client, graph)["integration"]
    OutlookCalendarIntegration.objects.filter(pk=first["id"]).update(needs_reauthorization=True, reauthorization_reason="AADSTS50173")

    second = connect(api_client, graph)["integration"]

    assert second["id"] == first["id"]
    assert second["needsReauthorization"] is False
    assert OutlookCalendarIntegration.objects.count() == 1


def test_connecting_a_different_account_while_connected_is_a_409_and_changes_nothing(api_client, graph, supplier):
    first = connect(api_client, graph)["integration"]
    graph.create_user("second@contoso-weddings.example")
    query = consent(api_client, graph, email="second@contoso-weddings.example")

    response = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "already_connected"
    assert MAILBOX in error["message"] and "Disconnect it first" in error["message"]
    stored = OutlookCalendarIntegration.objects.get(user=supplier)
    assert (str(stored.pk), stored.microsoft_account_email) == (first["id"], MAILBOX)


def test_expiring_access_tokens_never_fail_a_call_and_rotated_refresh_tokens_are_stored(api_client, graph, supplier, celery_worker):
    connect(api_client, graph)
    wait_for_idle(api_client)  # the first full sync runs on the worker
    graph.set_config(access_token_lifetime_s=1)  # every new token is "about to expire": each call refreshes first
    OutlookCalendarIntegration.objects.filter(user=supplier).update(token_expires_at=timezone.now())
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    graph.reset_stats()
    refresh_tokens = {integration.get_refresh_token()}
    start = timezone.now() + dt.timedelta(days=400)  # beyond the synced window: served by getSchedule
    for _ in range(8):
        response = api_client.get(f"{BASE}/availability", {"start": start.isoformat(), "end": (start + dt.timedelta(days=1)).isoformat()})
        assert response.status_code == 200, response.content
        assert response.json()["source"] == "schedule"
        integration.refresh_from_db()
        refresh_tokens.add(integration.get_refresh_token())
    stats = graph.stats()
    assert stats["token_requests"]["refresh_token"] == 8
    assert len(refresh_tokens) == 9  # each refresh rotated the token and the newest was stored
    assert stats["status_counts"].get("401", 0) == 0


def test_access_token_refused_by_graph_is_refreshed_once_and_the_call_succeeds(api_client, graph, supplier, celery_worker):
    connect(api_client, graph)
    wait_for_idle(api_client)
    graph.expire_access_tokens(MAILBOX)
    graph.reset_stats()
    calendar_id = _other_calendar(graph)

    response = api_client.put(f"{BASE}/settings", {"calendarId": calendar_id})
    stats = graph.stats()

    assert response.status_code == 200, response.content
    assert response.json()["integration"]["calendarId"] == calendar_id
    assert stats["status_counts"]["401"] == 1
    assert stats["token_requests"]["refresh_token"] == 1


def test_concurrent_refreshes_make_one_token_request(api_client, graph, supplier, celery_worker):
    connect(api_client, graph)
    wait_for_idle(api_client)
    OutlookCalendarIntegration.objects.filter(user=supplier).update(token_expires_at=timezone.now() - dt.timedelta(minutes=1))
    graph.reset_stats()
    barrier = threading.Barrier(4)
    results = []

    def refresh():
        from django.db import connection

        barrier.wait()
        try:
            results.append(tasks.refresh_expiring_tokens.apply().get())
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert graph.stats()["token_requests"]["refresh_token"] == 1
    assert sorted(results) == [1, 1, 1, 1]  # every caller ended with a valid token
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    assert integration.token_expires_at > timezone.now() + dt.timedelta(minutes=30)
    assert integration.needs_reauthorization is False


def test_revoked_refresh_token_moves_integration_to_needs_reauthorization(api_client, graph, supplier, celery_worker):
    connect(api_client, graph)
    wait_for_idle(api_client)
    graph.revoke_refresh_tokens(MAILBOX)
    graph.expire_access_tokens(MAILBOX)
    OutlookCalendarIntegration.objects.filter(user=supplier).update(token_expires_at=timezone.now() - dt.timedelta(minutes=1))

    started = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert started.status_code == 202
    job = wait_for(lambda: (j := api_client.get(f"{BASE}/sync/{started.json()['syncId']}").json())["status"] not in ("queued", "in_progress") and j)

    assert job["status"] == "failed"
    assert job["errors"][-1]["errorCode"] == "needs_reconnect"
    assert "reconnect" in job["errors"][-1]["errorMessage"].lower()
    status = api_client.get(f"{BASE}/sync").json()
    assert status["integration"]["needsReauthorization"] is True
    assert status["integration"]["lastSyncStatus"] == "error"
    graph.reset_stats()
    again = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "needs_reconnect"
    tasks.refresh_expiring_tokens.apply()
    stats = graph.stats()
    assert stats["requests"] == 0 and sum(stats["token_requests"].values()) == 0


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1.5), (503, 0.7)])
def test_throttled_calls_wait_for_retry_after_and_then_succeed(api_client, graph, supplier, status, retry_after, celery_worker):
    connect(api_client, graph)
    wait_for_idle(api_client)
    calendar_id = _other_calendar(graph)
    graph.reset_stats()
    graph.inject_fault("GET", r"/me/calendars$", status=status, count=1, retry_after=retry_after)

    started = time.monotonic()
    response = api_client.put(f"{BASE}/settings", {"calendarId": calendar_id})
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.content
    assert elapsed >= retry_after
    assert graph.stats()["status_counts"][str(status)] == 1
