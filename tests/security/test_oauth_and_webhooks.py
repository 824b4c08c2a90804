"""OAuth state and PKCE misuse, and webhook notifications that must be refused.

OAuth goes through the real ``msal`` flow against the emulator; the PKCE check
itself is the identity platform's, so it is exercised by sending token
requests straight to the emulator's token endpoint with a wrong verifier.
"""
from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from rest_framework.test import APIClient

from outlook_sync import crypto
from outlook_sync.models import OutlookCalendarIntegration, OutlookNotification, OutlookSyncHistory
from tests.conftest import CLIENT_ID, CLIENT_SECRET, MAILBOX, REDIRECT_URI, TASKS, CsrfApiClient, settle, wait_for
from tests.integration.outlook_helpers import BASE, connect, consent, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _token_request(emulator, **form) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI, "grant_type": "authorization_code",
            "scope": "offline_access Calendars.ReadWrite User.Read openid profile"} | form
    return requests.post(f"{emulator.authority}/common/oauth2/v2.0/token", data={k: v for k, v in body.items() if v is not None},
                         verify=emulator.ca_file, timeout=10)


def _flow(api_client, state: str) -> dict:
    return api_client.client.session["outlook_oauth_flows"][state]["flow"]


# --- OAuth state ---
def test_tampered_state_is_refused_and_the_genuine_one_still_works(api_client, graph, supplier):
    query = consent(api_client, graph)
    for bad in (query["state"] + "x", query["state"][:-1], "", "null"):
        response = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": bad})
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"]["code"] in ("invalid_state", "validation_error")
    assert not OutlookCalendarIntegration.objects.exists()
    assert graph.stats()["token_requests"]["authorization_code"] == 0  # the code was never even presented
    assert api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]}).status_code == 200
    assert OutlookCalendarIntegration.objects.get(user=supplier).needs_setup  # connected; the guided step waits (no run yet)


def test_state_from_another_session_of_the_same_supplier_is_refused(api_client, graph, supplier):
    query = consent(api_client, graph)  # started in session 1
    second = APIClient(enforce_csrf_checks=True)
    second.force_login(supplier)  # session 2, same supplier (another browser)
    response = CsrfApiClient(second).post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_state"
    assert not OutlookCalendarIntegration.objects.exists()
    browser = CsrfApiClient(second).client.get("/calendar/outlook/callback/", query, follow=True)
    assert b"no longer valid" in browser.content
    assert not OutlookCalendarIntegration.objects.exists()


def test_a_code_cannot_be_used_twice(api_client, graph, supplier):
    first = consent(api_client, graph)
    assert api_client.post(f"{BASE}/auth/callback", {"code": first["code"], "state": first["state"]}).status_code == 200
    stored = OutlookCalendarIntegration.objects.get(user=supplier)
    tokens = (stored.access_token_encrypted, stored.refresh_token_encrypted)

    fresh_state = api_client.get(f"{BASE}/auth").json()["state"]  # a genuine new flow, with the old code
    replay = api_client.post(f"{BASE}/auth/callback", {"code": first["code"], "state": fresh_state})

    assert replay.status_code == 400, replay.content
    assert replay.json()["error"]["code"] == "invalid_grant"
    stored.refresh_from_db()
    assert (stored.access_token_encrypted, stored.refresh_token_encrypted) == tokens


def test_pkce_verifier_mismatch_is_refused_by_the_identity_platform(api_client, graph, emulator, supplier):
    started = api_client.get(f"{BASE}/auth").json()
    auth_query = parse_qs(urlsplit(started["authUrl"]).query)
    verifier = _flow(api_client, started["state"])["code_verifier"]
    # The app sends an S256 challenge of a verifier it keeps server-side (never in the URL or the response).
    assert auth_query["code_challenge_method"] == ["S256"]
    assert auth_query["code_challenge"][0] == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert verifier not in started["authUrl"] and verifier not in json.dumps(started)
    location = graph.consent(started["authUrl"], MAILBOX)
    code = parse_qs(urlsplit(location).query)["code"][0]

    wrong = _token_request(emulator, code=code, code_verifier="W" * 64)
    missing = _token_request(emulator, code=code, code_verifier=None)
    for response in (wrong, missing):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"
    assert "AADSTS501481" in wrong.json()["error_description"]
    assert not OutlookCalendarIntegration.objects.exists()


def test_callback_without_code_or_state_is_a_validation_error(api_client, graph, supplier):
    consent(api_client, graph)
    assert api_client.post(f"{BASE}/auth/callback", {"code": "abc"}).status_code == 400
    assert api_client.post(f"{BASE}/auth/callback", {"state": "abc"}).status_code == 400
    assert not OutlookCalendarIntegration.objects.exists()


# --- webhooks ---
@pytest.fixture
def subscribed(api_client, graph, supplier, live_server, settings):
    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    connect(api_client, graph)
    wait_for_idle(api_client)
    integration = wait_for(lambda: OutlookCalendarIntegration.objects.filter(user=supplier, webhook_subscription_id__isnull=False).first(), message="subscription")
    settle(graph)  # the connect's creates came back as notifications and their runs are over
    wait_for(lambda: not OutlookNotification.objects.filter(processed_at__isnull=True).exists(), message="connect notifications processed")
    wait_for_idle(api_client)
    return integration


def _item(subscription_id: str, client_state: str, **extra) -> dict:
    return {"subscriptionId": subscription_id, "clientState": client_state, "changeType": "updated", "resource": "Users/u/Events/e1",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "e1"}, "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
            "tenantId": "t"} | extra


def _state(integration) -> tuple[int, int]:
    return OutlookNotification.objects.count(), OutlookSyncHistory.objects.filter(integration=integration).count()


def test_notifications_with_a_bad_client_state_or_unknown_subscription_are_refused_and_not_stored(client, subscribed, other_supplier):
    integration = subscribed
    # Another supplier's integration with its own subscription: its id with our clientState must not pass either.
    other = OutlookCalendarIntegration.objects.create(
        user=other_supplier, tenant_id="t2", microsoft_user_id="m2", access_token_encrypted=crypto.encrypt("a"), refresh_token_encrypted=crypto.encrypt("r"),
        token_expires_at=integration.token_expires_at, calendar_id="c2", webhook_subscription_id="sub-of-blake", webhook_client_state="b" * 64,
    )
    before = _state(integration)
    mark = TASKS.mark()
    bad = [
        _item(integration.webhook_subscription_id, "guess"),
        _item(integration.webhook_subscription_id, integration.webhook_client_state[:-1]),
        _item(integration.webhook_subscription_id, ""),
        _item("unknown-subscription", integration.webhook_client_state),
        _item(other.webhook_subscription_id, integration.webhook_client_state),
        _item(integration.webhook_subscription_id, other.webhook_client_state),
    ]
    for item in bad:
        for url in ("/api/calendar/outlook/webhook", "/api/calendar/outlook/webhook/lifecycle"):
            body = item if url.endswith("webhook") else {k: v for k, v in item.items() if k != "resourceData"} | {"lifecycleEvent": "subscriptionRemoved"}
            response = client.post(url, json.dumps({"value": [body]}), content_type="application/json")
            assert response.status_code == 403, (url, item["clientState"][:8], response.status_code)
            assert response.json()["error"]["code"] == "invalid_notification"
    for garbage in (b"not json", b"[]", b'{"value": "x"}', b'{"value": [1]}'):
        assert client.post("/api/calendar/outlook/webhook", garbage, content_type="application/json").status_code == 400
    assert client.get("/api/calendar/outlook/webhook").status_code == 405
    settle()
    assert TASKS.sent_since(mark) == []  # nothing was queued either
    assert _state(integration) == before
    integration.refresh_from_db()
    assert integration.webhook_subscription_id is not None  # a forged subscriptionRemoved did not drop it
    assert OutlookCalendarIntegration.objects.get(pk=other.pk).webhook_subscription_id == "sub-of-blake"


def test_a_batch_mixing_genuine_and_forged_notifications_stores_only_the_genuine_one(client, subscribed):
    integration = subscribed
    before = OutlookNotification.objects.count()
    body = {"value": [_item(integration.webhook_subscription_id, integration.webhook_client_state, resourceData={"id": "genuine"}),
                      _item(integration.webhook_subscription_id, "forged", resourceData={"id": "forged"})]}
    response = client.post("/api/calendar/outlook/webhook", json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    assert OutlookNotification.objects.count() == before + 1
    assert list(OutlookNotification.objects.filter(outlook_event_id__in=["genuine", "forged"]).values_list("outlook_event_id", flat=True)) == ["genuine"]


def test_the_validation_handshake_echoes_only_as_plain_text(client):
    payload = "<script>alert(1)</script>"
    response = client.post("/api/calendar/outlook/webhook", QUERY_STRING=f"validationToken={payload}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
