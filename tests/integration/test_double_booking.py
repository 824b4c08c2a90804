"""Double-booking warnings against the supplier's own WedSync bookings ("I never double-book clients").

Through the events API (``warnings`` in the answer) and the event form's live check (htmx). Outlook's
busy time is covered by the Outlook tests; here no Outlook is connected, so every warning is WedSync's own.
"""
from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client

from tests.conftest import CsrfApiClient
from tests.integration.outlook_helpers import at

pytestmark = pytest.mark.django_db


def _create(api_client, title: str, start: dt.datetime, end: dt.datetime, event_type: str = "client_meeting", **extra):
    response = api_client.post("/api/events/", {"eventType": event_type, "title": title, "startsAt": start.isoformat(), "endsAt": end.isoformat(),
                                                "timeZone": "UTC", "attendees": [], **extra})
    assert response.status_code == 201, response.content
    return response.json()


CLASH = "You already have “Ceremony: Priya & Sam” in WedSync at that time."


@pytest.fixture
def ceremony(api_client):
    return _create(api_client, "Ceremony: Priya & Sam", at(5, 15), at(5, 16), event_type="wedding_ceremony")


def test_a_booking_over_an_own_ceremony_is_warned_about_by_name(api_client, ceremony):
    overlapping = _create(api_client, "Consultation with Lee", at(5, 15, 30), at(5, 16, 30))
    assert overlapping["warnings"] == [CLASH]


def test_back_to_back_bookings_tasks_and_all_day_entries_do_not_clash(api_client, ceremony):
    assert "warnings" not in _create(api_client, "Right after", at(5, 16), at(5, 17))
    assert "warnings" not in _create(api_client, "Right before", at(5, 14), at(5, 15))
    assert "warnings" not in _create(api_client, "Send mood board", at(5, 15), at(5, 15, 30), event_type="task_due")
    assert "warnings" not in _create(api_client, "Final numbers", at(5, 0), at(6, 0), event_type="deadline", isAllDay=True)


def test_editing_a_booking_never_clashes_with_itself_and_moving_it_onto_another_does(api_client, ceremony):
    renamed = api_client.patch(f"/api/events/{ceremony['id']}/", {"title": "Ceremony: Priya & Sam"})
    assert renamed.status_code == 200 and "warnings" not in renamed.json()
    visit = _create(api_client, "Venue visit", at(6, 10), at(6, 11), event_type="venue_visit")
    assert "warnings" not in visit
    moved = api_client.patch(f"/api/events/{visit['id']}/", {"startsAt": at(5, 15, 45).isoformat(), "endsAt": at(5, 16, 45).isoformat()})
    assert moved.status_code == 200 and moved.json()["warnings"] == [CLASH]


def test_a_deleted_booking_no_longer_clashes(api_client, ceremony):
    assert api_client.delete(f"/api/events/{ceremony['id']}/").status_code in (200, 204)
    assert "warnings" not in _create(api_client, "Consultation with Lee", at(5, 15, 30), at(5, 16, 30))


def test_another_suppliers_bookings_never_show(api_client, ceremony, other_supplier):
    from rest_framework.test import APIClient

    other = APIClient(enforce_csrf_checks=True)
    other.force_login(other_supplier)
    theirs = _create(CsrfApiClient(other), "Their own meeting", at(5, 15), at(5, 16))
    assert "warnings" not in theirs  # our ceremony at the same time is none of their business


def test_the_event_form_warns_while_typing(api_client, ceremony, supplier):
    browser = Client()
    browser.force_login(supplier)
    when = {"starts_at": at(5, 15, 30).strftime("%Y-%m-%dT%H:%M"), "ends_at": at(5, 16, 30).strftime("%Y-%m-%dT%H:%M"), "time_zone": "UTC"}
    page = browser.get("/calendar/events/check/", {**when, "event_type": "client_meeting"})
    assert page.status_code == 200
    assert CLASH in html.unescape(page.content.decode())
    # The ceremony's own form (its id sent along) does not warn about itself; a task at that time does not clash.
    for query in ({"event_type": "wedding_ceremony", "event_id": ceremony["id"]}, {"event_type": "task_due"}):
        assert "Possible double booking" not in browser.get("/calendar/events/check/", {**when, **query}).content.decode()
