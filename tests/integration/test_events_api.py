"""The /api/events/ REST API: camelCase contract, validation errors, ownership, CSRF."""
import pytest
from rest_framework.test import APIClient

from wedsync.events.models import CalendarEvent

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "eventType": "venue_visit",
    "title": "Venue visit at Hatley Park",
    "startsAt": "2026-06-18T10:00:00+01:00",
    "endsAt": "2026-06-18T11:30:00+01:00",
    "timeZone": "Europe/London",
    "location": "Hatley Park",
    "attendees": [{"name": "Jo", "email": "jo@example.com"}],
    "travelMinutes": 30,
}


def test_create_read_update_delete(api_client):
    created = api_client.post("/api/events/", PAYLOAD)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["eventType"] == "venue_visit" and body["version"] == 1 and body["travelMinutes"] == 30
    event_id = body["id"]

    listed = api_client.get("/api/events/", {"start": "2026-06-18T00:00:00Z", "end": "2026-06-19T00:00:00Z"})
    assert [e["id"] for e in listed.json()["events"]] == [event_id]

    updated = api_client.patch(f"/api/events/{event_id}/", {"startsAt": "2026-06-19T10:00:00+01:00", "endsAt": "2026-06-19T11:00:00+01:00", "expectedVersion": 1})
    assert updated.status_code == 200, updated.content
    assert updated.json()["version"] == 2

    stale = api_client.patch(f"/api/events/{event_id}/", {"title": "Lost", "expectedVersion": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"

    assert api_client.delete(f"/api/events/{event_id}/").status_code == 204
    assert api_client.get("/api/events/").json()["events"] == []
    assert CalendarEvent.objects.get(pk=event_id).is_deleted


@pytest.mark.parametrize(
    "change, field",
    [({"eventType": "party"}, "eventType"), ({"endsAt": "2026-06-18T09:00:00+01:00"}, "endsAt"), ({"timeZone": "Nowhere/Land"}, "timeZone"), ({"startsAt": "tuesday"}, "startsAt")],
)
def test_bad_input_is_a_400_in_the_shared_error_shape(api_client, change, field):
    response = api_client.post("/api/events/", PAYLOAD | change)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "validation_error"
    assert field in body["error"]["details"]
    assert not CalendarEvent.objects.exists()


def test_a_supplier_cannot_see_or_change_another_suppliers_event(api_client, other_supplier):
    other = APIClient()
    other.force_login(other_supplier)
    theirs = other.post("/api/events/", PAYLOAD, format="json").json()["id"]
    assert api_client.get(f"/api/events/{theirs}/").status_code == 404
    assert api_client.patch(f"/api/events/{theirs}/", {"title": "Mine now"}).status_code == 404
    assert api_client.delete(f"/api/events/{theirs}/").status_code == 404
    assert api_client.get("/api/events/not-a-uuid/").status_code == 404
    assert CalendarEvent.objects.get(pk=theirs).title == PAYLOAD["title"]


def test_session_writes_need_the_csrf_token(supplier):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(supplier)
    response = client.post("/api/events/", PAYLOAD, format="json")
    assert response.status_code == 403
    assert not CalendarEvent.objects.exists()


def test_anonymous_requests_get_401():
    response = APIClient().get("/api/events/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_openapi_schema_and_docs_are_served(client, supplier):
    client.force_login(supplier)  # signed-in users only (issue 15)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/events/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_health_probe_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
