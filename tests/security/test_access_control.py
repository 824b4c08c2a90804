"""Who may do what: another supplier's data (IDOR), no integration, no session, no CSRF token.

Two suppliers are connected to two Outlook mailboxes; supplier B has events, a
sync history and an event in conflict. Supplier A then tries every endpoint of
``/api/calendar/outlook/``, ``/api/events/`` and the settings pages with B's
event ids and sync job ids: every attempt is a 404 (or a 400 for ids inside a
request body), and B's data on both sides is exactly what it was.
"""
from __future__ import annotations

import uuid

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from rest_framework.test import APIClient

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookNotification, OutlookSyncHistory
from tests.conftest import MAILBOX, TASKS, CsrfApiClient, settle, wait_for
from tests.integration.outlook_helpers import BASE, connect, disconnect, run_sync, wait_for_idle
from tests.security.conftest import OTHER_MAILBOX, at, create_event
from wedsync.events.models import CalendarEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def victim(graph, other_api_client, other_supplier):
    """Supplier B: connected to their own mailbox, with events, runs and one event in conflict."""
    graph.create_user(OTHER_MAILBOX, "Blake Doe")
    events = [create_event(other_api_client, f"Blake's event {n}", days=3 + n) for n in range(3)]
    connect(other_api_client, graph, email=OTHER_MAILBOX)
    wait_for_idle(other_api_client)
    conflicted = events[0]["id"]
    outlook_id = next(r["outlookEventId"] for r in other_api_client.get(f"{BASE}/events").json()["events"] if r["wedSyncEventId"] == conflicted)
    graph.update_event(OTHER_MAILBOX, outlook_id, {"subject": "WedSync: Blake's title in Outlook"})
    other_api_client.patch(f"/api/events/{conflicted}/", {"title": "Blake's title in WedSync"})
    wait_for(lambda: OutlookEventMapping.objects.filter(wedsync_event_id=conflicted, sync_state="conflict").exists(), message="B's conflict")
    job = run_sync(other_api_client)
    wait_for_idle(other_api_client)
    return {"events": [e["id"] for e in events], "conflicted": conflicted, "sync_id": job["syncId"], "client": other_api_client}


@pytest.fixture
def attacker(api_client, graph, supplier):
    """Supplier A: connected too (so a 404 is never just "you are not connected")."""
    create_event(api_client, "Avery's own event")
    connect(api_client, graph)
    wait_for_idle(api_client)
    return api_client


def _snapshot(user, graph, mailbox) -> dict:
    """Everything of one supplier, both sides (timestamps included: any write would show).

    Outlook changes events by itself (text bodies become HTML, attendees answer): those are made to happen now,
    before reading, so that only a write by WedSync can make two snapshots differ."""
    graph.run_outlook(convert_bodies=True, respond=True)
    integration = OutlookCalendarIntegration.objects.filter(user=user).first()
    return {
        "events": sorted(repr(model_to_dict(e) | {"updated_at": e.updated_at, "version": e.version}) for e in CalendarEvent.objects.filter(supplier=user)),
        "integration": repr(model_to_dict(integration) | {"updated_at": integration.updated_at}) if integration else None,
        "mappings": sorted(repr(model_to_dict(m) | {"id": m.id}) for m in OutlookEventMapping.objects.filter(integration__user=user)),
        "runs": sorted(repr(model_to_dict(r) | {"id": r.id}) for r in OutlookSyncHistory.objects.filter(integration__user=user)),
        "notifications": OutlookNotification.objects.filter(integration__user=user).count(),
        "outlook": sorted((e["id"], e["changeKey"]) for e in graph.events(mailbox)),
    }


def _api_attempts(b: dict) -> list[tuple[str, str, dict | None, tuple[int, ...]]]:
    """(method, path, body, allowed statuses) of every API operation aimed at B's ids."""
    event, conflicted, sync_id = b["events"][1], b["conflicted"], b["sync_id"]
    return [
        ("get", f"/api/events/{event}/", None, (404,)),
        ("patch", f"/api/events/{event}/", {"title": "Taken over"}, (404,)),
        ("delete", f"/api/events/{event}/", None, (404,)),
        ("get", f"{BASE}/sync/{sync_id}", None, (404,)),
        ("post", f"{BASE}/events/{conflicted}/resolve", {"resolutions": {"title": {"useValue": "outlook"}}, "setAsDefault": True}, (404,)),
        ("post", f"{BASE}/events/{event}/force-sync", {"direction": "to_outlook", "overwriteConflicts": True}, (404,)),
        ("post", f"{BASE}/events/{conflicted}/force-sync", {"direction": "from_outlook", "overwriteConflicts": True}, (404,)),
        ("post", f"{BASE}/sync", {"syncType": "full_sync", "specificEvents": [event]}, (400, 404)),
    ]


def test_another_suppliers_event_ids_and_sync_jobs_are_404_through_the_api(attacker, victim, graph, other_supplier, supplier):
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    a_runs = sorted(OutlookSyncHistory.objects.filter(integration__user=supplier).values_list("id", flat=True))
    mark = TASKS.mark()

    for method, path, body, allowed in _api_attempts(victim):
        response = getattr(attacker, method)(path, body)
        assert response.status_code in allowed, (method, path, response.status_code, response.content[:300])
        assert b"Blake" not in response.content, (method, path)
    # Nothing was queued for anyone (read from what this process sent to the worker), and A has no new run.
    settle(graph)
    assert TASKS.sent_since(mark) == []
    assert sorted(OutlookSyncHistory.objects.filter(integration__user=supplier).values_list("id", flat=True)) == a_runs

    # Lists only ever show A's own rows.
    listed = attacker.get("/api/events/").json()["events"]
    assert [e["title"] for e in listed] == ["Avery's own event"]
    mapped = attacker.get(f"{BASE}/events", {"pageSize": 200}).json()["events"]
    assert {m["wedSyncEventId"] for m in mapped}.isdisjoint(victim["events"])
    assert all(run["id"] != victim["sync_id"] for run in attacker.get(f"{BASE}/sync").json()["recentSyncHistory"])
    # A cannot point their integration at B's calendar.
    b_calendar = OutlookCalendarIntegration.objects.get(user=other_supplier).calendar_id
    moved = attacker.put(f"{BASE}/settings", {"calendarId": b_calendar})
    assert moved.status_code == 400 and moved.json()["error"]["code"] == "unknown_calendar", moved.content
    # Disconnecting removes A's integration only.
    disconnect(attacker)  # answered at once; waits for the worker

    settle(graph)  # what the disconnect queued (A's unsubscribe) has run
    wait_for_idle(victim["client"])
    assert _snapshot(other_supplier, graph, OTHER_MAILBOX) == before


def test_another_suppliers_ids_are_404_on_the_settings_pages(attacker, victim, graph, other_supplier, supplier):
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    mark = TASKS.mark()
    browser = Client()
    browser.force_login(supplier)
    event, conflicted, sync_id = victim["events"][1], victim["conflicted"], victim["sync_id"]
    attempts = [
        ("get", f"/calendar/outlook/sync/{sync_id}/", {}),
        ("post", f"/calendar/outlook/conflicts/{conflicted}/resolve/", {"field": "title", "use": "outlook", "setAsDefault": "on"}),
        ("post", f"/calendar/outlook/events/{event}/sync/", {}),
        ("get", f"/calendar/events/{event}/edit/", {}),
        ("post", f"/calendar/events/{event}/edit/", {"event_type": "client_meeting", "title": "Taken over", "starts_at": "2030-01-01T10:00",
                                                     "ends_at": "2030-01-01T11:00", "time_zone": "UTC"}),
    ]
    for method, path, data in attempts:
        response = getattr(browser, method)(path, data)
        assert response.status_code == 404, (method, path, response.status_code)
    for page in ("/calendar/outlook/", "/calendar/outlook/events/", "/calendar/outlook/conflicts/", f"/calendar/events/?week={at(3, 0).date().isoformat()}"):
        html = browser.get(page).content.decode()
        assert "Blake" not in html, page
    settle(graph)
    assert TASKS.sent_since(mark) == []
    wait_for_idle(victim["client"])
    assert _snapshot(other_supplier, graph, OTHER_MAILBOX) == before


def test_a_supplier_without_an_integration_gets_404_everywhere_and_touches_nothing(victim, graph, other_supplier, django_user_model):
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    mark = TASKS.mark()
    user = django_user_model.objects.create_user("casey", "casey@example.com", "correct horse 9")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    casey = CsrfApiClient(client)
    for method, path, body, _ in _api_attempts(victim):
        assert getattr(casey, method)(path, body).status_code in (400, 404), (method, path)
    for method, path, body in [("get", f"{BASE}/sync", None), ("post", f"{BASE}/sync", {"syncType": "incremental"}), ("get", f"{BASE}/events", None),
                               ("put", f"{BASE}/settings", {"syncEnabled": False}), ("delete", f"{BASE}/integration", None),
                               ("get", f"{BASE}/availability", {"start": at(1, 0).isoformat(), "end": at(2, 0).isoformat()})]:
        response = getattr(casey, method)(path, body)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_connected", (method, path, response.content)
    browser = Client()
    browser.force_login(user)
    for path in ("/calendar/outlook/events/", "/calendar/outlook/conflicts/", f"/calendar/outlook/sync/{victim['sync_id']}/", "/calendar/outlook/disconnect/"):
        assert browser.get(path).status_code == 404, path
    assert browser.post("/calendar/outlook/disconnect/").status_code == 404
    settle(graph)
    assert TASKS.sent_since(mark) == []
    assert _snapshot(other_supplier, graph, OTHER_MAILBOX) == before


# --- no session ---
API_OPERATIONS = [
    ("get", "/api/events/"), ("post", "/api/events/"), ("get", "/api/events/{event}/"), ("patch", "/api/events/{event}/"), ("delete", "/api/events/{event}/"),
    ("get", f"{BASE}/auth"), ("post", f"{BASE}/auth/callback"), ("get", f"{BASE}/sync"), ("post", f"{BASE}/sync"), ("get", f"{BASE}/sync/{{sync}}"),
    ("get", f"{BASE}/events"), ("post", f"{BASE}/events/{{event}}/resolve"), ("post", f"{BASE}/events/{{event}}/force-sync"), ("put", f"{BASE}/settings"),
    ("delete", f"{BASE}/integration"), ("get", f"{BASE}/availability"),
]
PAGES = [
    ("get", "/calendar/outlook/"), ("post", "/calendar/outlook/connect/"), ("get", "/calendar/outlook/callback/"), ("post", "/calendar/outlook/settings/"),
    ("post", "/calendar/outlook/sync/"), ("get", "/calendar/outlook/sync/{sync}/"), ("get", "/calendar/outlook/disconnect/"), ("post", "/calendar/outlook/disconnect/"),
    ("get", "/calendar/outlook/conflicts/"), ("post", "/calendar/outlook/conflicts/{event}/resolve/"), ("get", "/calendar/outlook/events/"),
    ("post", "/calendar/outlook/events/{event}/sync/"), ("get", "/calendar/events/"), ("get", "/calendar/events/new/"), ("post", "/calendar/events/new/"),
    ("get", "/calendar/events/check/"), ("get", "/calendar/events/{event}/edit/"), ("post", "/calendar/events/{event}/edit/"),
]


def test_without_a_session_the_api_answers_401_and_pages_redirect_to_sign_in(victim, graph, other_supplier):
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    mark = TASKS.mark()
    ids = {"event": victim["events"][1], "sync": victim["sync_id"]}
    anonymous = APIClient()
    for method, path in API_OPERATIONS:
        response = getattr(anonymous, method)(path.format(**ids), {}, format="json")
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"
    browser = Client()
    for method, path in PAGES:
        response = getattr(browser, method)(path.format(**ids))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), (method, path, response.status_code)
    assert Client().get("/admin/outlook_sync/outlookcalendarintegration/").status_code == 302
    settle(graph)
    assert TASKS.sent_since(mark) == []
    assert _snapshot(other_supplier, graph, OTHER_MAILBOX) == before


def test_a_plain_supplier_cannot_open_the_admin(victim, other_supplier):
    browser = Client()
    browser.force_login(other_supplier)
    response = browser.get("/admin/outlook_sync/outlookcalendarintegration/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- CSRF on session-authenticated writes ---
def test_csrf_token_is_required_for_every_unsafe_request(victim, graph, other_supplier):
    """B's own session, without (or with a wrong) CSRF token: every write is refused with 403 and nothing changes."""
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    mark = TASKS.mark()
    ids = {"event": victim["events"][1], "sync": victim["sync_id"]}
    session = victim["client"].client  # logged in as B, CSRF enforced, has a csrftoken cookie from earlier requests
    bodies = {
        "/api/events/": {"eventType": "client_meeting", "title": "Forged", "startsAt": at(5, 9).isoformat(), "endsAt": at(5, 10).isoformat()},
        "/api/events/{event}/": {"title": "Forged"},
        f"{BASE}/sync": {"syncType": "full_sync"},
        f"{BASE}/settings": {"syncEnabled": False},
        f"{BASE}/events/{{event}}/force-sync": {"direction": "to_outlook"},
        f"{BASE}/events/{{event}}/resolve": {"resolutions": {"title": {"useValue": "outlook"}}},
        f"{BASE}/auth/callback": {"code": "x", "state": "y"},
    }
    unsafe = [(m, p) for m, p in API_OPERATIONS if m in ("post", "put", "patch", "delete")]
    for method, path in unsafe:
        body = bodies.get(path)
        no_header = getattr(session, method)(path.format(**ids), body, format="json")
        wrong_header = getattr(session, method)(path.format(**ids), body, format="json", HTTP_X_CSRFTOKEN=uuid.uuid4().hex)
        for response in (no_header, wrong_header):
            assert response.status_code == 403, (method, path, response.status_code, response.content[:200])
            assert b"CSRF" in response.content or response.json()["error"]["code"] == "permission_denied"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(other_supplier)
    for method, path in PAGES:
        if method == "post":
            assert browser.post(path.format(**ids), {}).status_code == 403, path
    settle(graph)
    assert TASKS.sent_since(mark) == []
    assert _snapshot(other_supplier, graph, OTHER_MAILBOX) == before
    # The same request with the token goes through (so the 403s above were CSRF, not something else).
    ok = victim["client"].patch(f"/api/events/{ids['event']}/", {"title": "Blake's event, renamed"})
    assert ok.status_code == 200


def test_disconnect_endpoint_of_another_supplier_does_not_exist(attacker, victim, graph, other_supplier):
    """There is no integration id in any URL: DELETE /integration always means the caller's own."""
    settle(graph)
    before = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    b_integration = OutlookCalendarIntegration.objects.get(user=other_supplier).pk
    for path in (f"{BASE}/integration/{b_integration}", f"{BASE}/integration?id={b_integration}"):
        response = attacker.delete(path)
        assert response.status_code in (404, 400, 200), path  # no such endpoint, or the unknown "id" refused: never B's
    assert OutlookCalendarIntegration.objects.filter(pk=b_integration).exists()
    settle(graph)
    wait_for_idle(victim["client"])
    after = _snapshot(other_supplier, graph, OTHER_MAILBOX)
    assert after == before
    assert graph.events(MAILBOX) == [] or all(not e["subject"].startswith("WedSync: Blake") for e in graph.events(MAILBOX))
