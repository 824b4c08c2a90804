"""Issue 16 item 5: one error shape everywhere under /api/, strict input, nothing changed by a refused request."""
from __future__ import annotations

import re
import uuid

import pytest
from rest_framework.test import APIClient

from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncHistory
from tests.conftest import MAILBOX
from tests.contract.conftest import create_event, error_shape, mapped
from tests.integration.outlook_helpers import BASE, consent, run_sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LONG = "x" * 10_000


def _state(supplier) -> tuple:
    """What a refused request must leave untouched: the runs and the integration's settings."""
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    return (OutlookSyncHistory.objects.filter(integration=integration).count(), integration.sync_enabled, integration.webhook_enabled,
            integration.sync_direction, dict(integration.sync_preferences), integration.calendar_id, integration.default_conflict_rules)


def _no_long_echo(response) -> None:
    assert not re.search("x{101}", response.content.decode()), response.content[:400]


BAD_BODIES = [
    # (method, path, body, field expected in details)
    ("post", "sync", {"sync_type": "full_sync"}, "sync_type"),
    ("post", "sync", {"syncType": "everything"}, "syncType"),
    ("post", "sync", {"syncType": LONG}, "syncType"),
    ("post", "sync", {LONG: 1}, None),
    ("post", "sync", {"specificEvents": "not-a-list"}, "specificEvents"),
    ("post", "sync", {"syncDirection": 1}, "syncDirection"),
    ("post", "sync", [1, 2], "body"),
    ("post", "sync", "full_sync", "body"),
    ("put", "settings", {"syncEnabled": "no"}, "syncEnabled"),
    ("put", "settings", {"webhookEnabled": 0}, "webhookEnabled"),
    ("put", "settings", {"syncEnabled": "true"}, "syncEnabled"),
    ("put", "settings", {"sync_enabled": False}, "sync_enabled"),
    ("put", "settings", {"syncDirection": LONG}, "syncDirection"),
    ("put", "settings", [], "body"),
    ("put", "settings", {}, "body"),
    ("post", "auth/callback", {"code": "abc", "state": "def", "extra": 1}, "extra"),
    ("post", "auth/callback", None, "state"),
]


def test_bad_bodies_get_400_in_the_one_shape_and_change_nothing(api_client, graph, connected, supplier):
    before = _state(supplier)
    for method, path, body, field in BAD_BODIES:
        response = getattr(api_client, method)(f"{BASE}/{path}", body)
        error = error_shape(response, 400, "validation_error")
        _no_long_echo(response)
        assert "details" in error, (path, body, error)
        if field:
            assert field in error["details"], (path, str(body)[:60], error)
    assert _state(supplier) == before


def test_unknown_keys_are_refused_on_resolve_and_force_sync_too(api_client, graph, connected, supplier):
    event_id = connected["events"][0]["id"]
    before = _state(supplier)
    error = error_shape(api_client.post(f"{BASE}/events/{event_id}/force-sync", {"direction": "to_outlook", "overwrite": True}), 400, "validation_error")
    assert "overwrite" in error["details"]
    error = error_shape(api_client.post(f"{BASE}/events/{event_id}/force-sync", {"direction": "to_outlook", "overwriteConflicts": 1}), 400, "validation_error")
    assert "overwriteConflicts" in error["details"]
    error = error_shape(api_client.post(f"{BASE}/events/{event_id}/resolve", {"resolution": {"title": {"useValue": "wedsync"}}}), 400, "validation_error")
    assert "resolution" in error["details"]
    error = error_shape(api_client.post(f"{BASE}/events/{event_id}/resolve", {"resolutions": {"title": {"useValue": "wedsync", "why": 1}}}), 400)
    assert "resolutions.title.why" in error["details"]
    error = error_shape(api_client.post(f"{BASE}/events/{event_id}/resolve", {"resolutions": {"title": {"useValue": "wedsync"}}, "setAsDefault": "yes"}), 400)
    assert "setAsDefault" in error["details"]
    error = error_shape(api_client.get(f"{BASE}/events", {"eventtype": "deadline"}), 400, "validation_error")
    assert "eventtype" in error["details"]
    assert _state(supplier) == before


def test_a_custom_value_of_the_wrong_kind_is_named_as_such(api_client, graph, connected, supplier):
    event = connected["events"][0]
    row = mapped(api_client, event["id"])
    graph.update_event(MAILBOX, row["outlookEventId"], {"subject": "WedSync: From Outlook"})
    api_client.patch(f"/api/events/{event['id']}/", {"title": "From WedSync"})
    run_sync(api_client)
    assert mapped(api_client, event["id"])["syncStatus"] == "conflict"
    before = _state(supplier)
    response = api_client.post(f"{BASE}/events/{event['id']}/resolve", {"resolutions": {"title": {"useValue": "custom", "customValue": 123}}})
    error = error_shape(response, 400, "validation_error")
    assert error["details"] == {"resolutions.title.customValue": ["The title must be text."]}
    response = api_client.post(f"{BASE}/events/{event['id']}/resolve", {"resolutions": {LONG: {"useValue": "wedsync"}}})
    error_shape(response, 400, "validation_error")
    _no_long_echo(response)
    assert _state(supplier) == before and mapped(api_client, event["id"])["syncStatus"] == "conflict"


def test_ids_that_are_not_found_are_listed_in_error_ids(api_client, graph, connected, supplier):
    missing = [str(uuid.uuid4()), "not-an-id"]
    before = _state(supplier)
    response = api_client.post(f"{BASE}/sync", {"specificEvents": [connected["events"][0]["id"], *missing]})
    error = error_shape(response, 400, "unknown_events")
    assert sorted(error["ids"]) == sorted(missing)
    assert isinstance(error["details"]["specificEvents"], list)
    assert _state(supplier) == before
    error_shape(api_client.post(f"{BASE}/events/{uuid.uuid4()}/resolve", {"resolutions": {"title": {"useValue": "wedsync"}}}), 404, "event_not_found")


def test_query_keys_on_endpoints_that_take_none_are_refused_and_change_nothing(api_client, graph, connected, supplier):
    """``?syncType=full_sync`` on POST /sync would otherwise run an incremental sync: every unknown key is refused."""
    event_id = connected["events"][0]["id"]
    before = _state(supplier)
    calls = [
        ("get", "auth", None), ("post", "auth/callback", {"code": "x", "state": "y"}), ("get", "sync", None),
        ("post", "sync", {"syncType": "incremental"}), ("get", f"sync/{uuid.uuid4()}", None),
        ("post", f"events/{event_id}/resolve", {"resolutions": {"title": {"useValue": "wedsync"}}}),
        ("post", f"events/{event_id}/force-sync", {"direction": "to_outlook"}), ("put", "settings", {"syncEnabled": False}),
        ("get", "integration", None), ("get", f"sync/{uuid.uuid4()}/changes", None), ("post", f"sync/{uuid.uuid4()}/undo", {}),
        ("post", f"events/{event_id}/undo", {"changeId": str(uuid.uuid4())}),
    ]
    for method, path, body in calls:
        response = getattr(api_client, method)(f"{BASE}/{path}?syncType=full_sync&{'x' * 200}=1", body)
        error = error_shape(response, 400, "validation_error")
        assert "syncType" in error["details"], (path, error)
        _no_long_echo(response)
    assert _state(supplier) == before


@pytest.mark.parametrize("path", [
    "sync/not-a-uuid", "sync/6f1c2b4e-0d7a-4c59-9a55-2f8f0e8e9d11", "sync/", "events/", "settings/",
    "sync/6f1c2b4e-0d7a-4c59-9a55-2f8f0e8e9d11/", "nothing-here", "events/abc/resolve/",
])
def test_every_api_path_that_does_not_exist_answers_json_404(api_client, graph, connected, path):
    response = api_client.get(f"{BASE}/{path}")
    error = error_shape(response, 404)
    assert error["code"] in ("sync_not_found", "no_such_endpoint"), error


def test_unknown_paths_outside_outlook_and_wrong_methods_are_json_too(api_client, graph, connected):
    error_shape(api_client.get("/api/nothing"), 404, "no_such_endpoint")
    error = error_shape(api_client.delete(f"{BASE}/sync"), 405, "method_not_allowed")
    assert "GET" in error["message"] and "POST" in error["message"]
    error_shape(api_client.get(f"{BASE}/webhook"), 405, "method_not_allowed")  # a plain Django view: shaped by the middleware
    error_shape(api_client.get(f"{BASE}/webhook/lifecycle"), 405, "method_not_allowed")


def test_a_missing_csrf_header_says_the_x_csrftoken_header_is_needed(api_client, graph, connected, supplier):
    raw = APIClient(enforce_csrf_checks=True)
    raw.force_login(supplier)
    before = _state(supplier)
    for method, path, body in (("post", "sync", {}), ("put", "settings", {"syncEnabled": False}), ("delete", "integration", None)):
        error = error_shape(getattr(raw, method)(f"{BASE}/{path}", body, format="json"), 403, "csrf_failed")
        assert "X-CSRFToken" in error["message"]
    assert _state(supplier) == before


def test_malformed_json_wrong_content_type_and_signed_out(api_client, graph, connected, supplier):
    before = _state(supplier)
    error = error_shape(api_client.client.post(f"{BASE}/sync", "{bad json", content_type="application/json", HTTP_X_CSRFTOKEN=api_client._token()), 400, "parse_error")
    assert "JSON" in error["message"]
    error = error_shape(api_client.client.post(f"{BASE}/sync", "syncType=full_sync", content_type="text/plain", HTTP_X_CSRFTOKEN=api_client._token()), 415, "unsupported_media_type")
    assert "JSON" in error["message"]
    error_shape(APIClient().get(f"{BASE}/sync"), 401, "not_authenticated")
    error_shape(APIClient().get(f"{BASE}/sync/not-a-uuid"), 401, "not_authenticated")
    assert _state(supplier) == before


def test_callback_with_unknown_keys_does_not_connect(api_client, graph, supplier):
    create_event(api_client, "Consultation")
    query = consent(api_client, graph)
    error = error_shape(api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"], "tenant": "x"}), 400, "validation_error")
    assert "tenant" in error["details"]
    assert not OutlookCalendarIntegration.objects.filter(user=supplier).exists()


def test_the_wedsync_events_api_is_as_strict(api_client, graph, supplier):
    from wedsync.events.models import CalendarEvent

    base = {"eventType": "client_meeting", "title": "Tasting", "startsAt": "2031-03-01T10:00:00Z", "endsAt": "2031-03-01T11:00:00Z"}
    for body, field in (({**base, "colour": "red"}, "colour"), ({**base, "isAllDay": "yes"}, "isAllDay"), ({**base, "eventType": LONG}, "eventType"),
                        ({**base, "attendees": [{"email": "a@example.com", "role": "x"}]}, "attendees.0.role"), ([base], "body")):
        response = api_client.post("/api/events/", body)
        error = error_shape(response, 400, "validation_error")
        _no_long_echo(response)
        assert field in error["details"], (field, error)
    error_shape(api_client.get("/api/events/", {"from": "2031-01-01T00:00:00Z"}), 400, "validation_error")
    assert not CalendarEvent.objects.filter(supplier=supplier).exists()
