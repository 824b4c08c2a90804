"""Abuse is bounded (issue 15, item 4): per-user API throttles and login lockout.

A flood of ``POST /sync`` (different ``specificEvents`` each time, as in the
report: 150 requests) is answered 202 up to the configured rate, then 429 in
the error shape with ``Retry-After``; the runs it made are bounded, and another
supplier's requests are still accepted. Wrong passwords on the supplier login
and on the admin login lock that username out after the limit, with a 429 page
and ``Retry-After``, and then even the right password is refused until the
cool-off ends.
"""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from outlook_sync.models import OutlookSyncHistory
from tests.integration.outlook_helpers import BASE, connect, wait_for_idle
from tests.security.conftest import OTHER_MAILBOX, create_event
from wedsync.security import EndpointThrottle

pytestmark = [pytest.mark.django_db(transaction=True)]


def _forget_throttles(*users):
    """Counters from an earlier run of the suite (same user ids, same cache) must not count here."""
    throttle = EndpointThrottle()
    for user in users:
        for scope in ("sync", "force_sync", "availability", "auth"):
            cache.delete(throttle.cache_format % {"scope": scope, "ident": user.pk})


def _assert_throttled(response):
    assert response.status_code == 429, (response.status_code, response.content[:300])
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "throttled"
    assert body["error"]["message"] == "Too many requests. Please wait a moment and try again."
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60  # DRF's throttle sets it: seconds until the window has room again


@pytest.mark.usefixtures("celery_worker")
def test_a_sync_flood_gets_429_with_retry_after_and_other_suppliers_are_not_limited(api_client, other_api_client, graph, supplier, other_supplier, settings):
    _forget_throttles(supplier, other_supplier)
    events = [create_event(api_client, f"Consultation {n}", days=2 + n % 20, hour=8 + n % 10) for n in range(30)]
    connect(api_client, graph)
    wait_for_idle(api_client)
    graph.create_user(OTHER_MAILBOX, "Blake Doe")
    connect(other_api_client, graph, email=OTHER_MAILBOX)
    wait_for_idle(other_api_client)
    _forget_throttles(supplier, other_supplier)
    runs_before = OutlookSyncHistory.objects.filter(integration__user=supplier).count()
    limit = int(settings.API_THROTTLE_RATES["sync"].split("/")[0])

    answers = [api_client.post(f"{BASE}/sync", {"specificEvents": [events[n % len(events)]["id"]]}) for n in range(150)]

    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert len(accepted) == limit and len(refused) == 150 - limit, [r.status_code for r in answers]
    assert all(r.status_code == 202 for r in answers[:limit])  # the limit is a window, not a lottery
    for response in refused[:3] + refused[-1:]:
        _assert_throttled(response)
    assert OutlookSyncHistory.objects.filter(integration__user=supplier).count() - runs_before <= limit
    # Supplier B is not slowed down by A's flood.
    assert other_api_client.post(f"{BASE}/sync", {}).status_code == 202
    assert other_api_client.get(f"{BASE}/sync").status_code == 200
    # Reading status is never throttled (the settings page polls it).
    assert all(api_client.get(f"{BASE}/sync").status_code == 200 for _ in range(5))
    wait_for_idle(api_client)
    wait_for_idle(other_api_client)


def test_force_sync_availability_and_auth_are_throttled_per_user(api_client, supplier, settings):
    _forget_throttles(supplier)
    settings.API_THROTTLE_RATES = {"sync": "3/minute", "force_sync": "3/minute", "availability": "3/minute", "auth": "3/minute"}
    requests = {
        "force_sync": lambda: api_client.post(f"{BASE}/events/00000000-0000-0000-0000-000000000000/force-sync", {"direction": "to_outlook"}),
        "availability": lambda: api_client.get(f"{BASE}/availability", {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}),
        "auth": lambda: api_client.post(f"{BASE}/auth/callback", {"code": "x", "state": "y"}),
    }
    for scope, call in requests.items():
        statuses = [call().status_code for _ in range(3)]
        assert 429 not in statuses, (scope, statuses)
        _assert_throttled(call())
    assert api_client.get(f"{BASE}/auth").status_code == 429  # GET /auth shares the "auth" budget with the callback


def _login(client: Client, path: str, username: str, password: str):
    client.get(path)
    return client.post(path, {"username": username, "password": password, "next": ""})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_login_flood_is_locked_out_with_429_and_retry_after(path, django_user_model, settings):
    django_user_model.objects.create_user(username="casey", password="right password 9", is_staff=True)
    limit = settings.AXES_FAILURE_LIMIT
    client = Client(enforce_csrf_checks=False)

    answers = [_login(client, path, "casey", f"wrong {n}") for n in range(limit + 5)]

    assert [r.status_code for r in answers[:limit - 1]] == [200] * (limit - 1)  # the form again, with its error
    locked = answers[limit:]
    assert all(r.status_code == 429 for r in locked), [r.status_code for r in answers]
    for response in locked:
        assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
        assert "Too many wrong passwords" in response.content.decode()
        assert "paused for 15 minutes" in response.content.decode()
    right = _login(client, path, "casey", "right password 9")
    assert right.status_code == 429  # locked out: even the right password waits for the cool-off
    assert "_auth_user_id" not in client.session


def test_the_right_password_before_the_limit_still_signs_in(django_user_model, settings):
    django_user_model.objects.create_user(username="drew", password="right password 9")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "/accounts/login/", "drew", f"wrong {n}").status_code == 200
    response = _login(client, "/accounts/login/", "drew", "right password 9")
    assert response.status_code == 302
    assert client.session.get("_auth_user_id")


def test_a_lockout_answers_json_to_an_api_style_request(django_user_model, settings):
    django_user_model.objects.create_user(username="erin", password="right password 9")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "/accounts/login/", "erin", f"wrong {n}")
    response = client.post("/accounts/login/", {"username": "erin", "password": "x"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_locked"
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))


def test_locked_out_user_on_the_same_address_does_not_lock_out_another_user(django_user_model, settings):
    django_user_model.objects.create_user(username="frankie", password="right password 9")
    django_user_model.objects.create_user(username="gale", password="right password 9")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT + 1):
        _login(client, "/accounts/login/", "frankie", f"wrong {n}")
    assert _login(Client(), "/accounts/login/", "gale", "right password 9").status_code == 302


