"""The supplier's Outlook pages (issue 8) through the Django test client, the emulator and, where sync runs, a real worker.

Pages are driven as a browser would: the settings page's own buttons and
forms (plain POSTs and htmx requests, marked with the ``HX-Request`` header).
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from outlook_sync.models import MappingState, OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import at, graph_when
from outlook_sync.sync.mapping import SyncPreferences
from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

HTMX = {"HTTP_HX_REQUEST": "true"}
SETTINGS_URL = "/calendar/outlook/"


def _text(response) -> str:
    return response.content.decode()


def _connect(client: Client, graph) -> OutlookCalendarIntegration:
    """Click "Connect Microsoft Outlook", accept on the emulator's consent page, come back to the callback."""
    started = client.post("/calendar/outlook/connect/")
    assert started.status_code == 302, _text(started)
    location = graph.consent(started["Location"], MAILBOX, accept=True)
    callback = urlsplit(location)
    assert callback.path == "/calendar/outlook/callback/"
    back = client.get(f"{callback.path}?{callback.query}")
    assert back.status_code == 302 and back["Location"] == "/calendar/outlook/setup/"  # the guided step first
    integration = OutlookCalendarIntegration.objects.get(microsoft_account_email=MAILBOX)
    invited = sorted(SyncPreferences.from_json(integration.sync_preferences).invite_attendees_for)  # the choices as offered
    started = client.post("/calendar/outlook/setup/", {"calendar": integration.calendar_id, "inviteAttendeesFor": invited})
    assert started.status_code == 302 and started["Location"] == SETTINGS_URL, _text(started)
    return OutlookCalendarIntegration.objects.get(pk=integration.pk)


def _preferences_post(integration, **overrides) -> dict:
    data = {
        "calendar": integration.calendar_id,
        "syncDirection": "bidirectional",
        "syncEnabled": "on",
        "syncClientMeetings": "on",
        "syncWeddingEvents": "on",
        "syncDeadlines": "on",
        "eventPrefix": "WedSync: ",
        "notificationMinutes": ["15", "60"],
        "inviteAttendeesFor": ["client_meeting"],
        "webhookEnabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _wait_idle(integration, timeout: float = 60.0):
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress").exists(),
             timeout=timeout, message="sync runs to finish")


@pytest.fixture
def client_for(supplier):
    def make(user=supplier, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    return make


# --------------------------------------------------------------------------- rendering


@pytest.mark.django_db
def test_not_connected_page_offers_connect_and_says_what_happens(client_for):
    response = client_for().get(SETTINGS_URL)

    assert response.status_code == 200
    html = _text(response)
    assert "Connect Microsoft Outlook" in html
    assert "You'll be taken to Microsoft to sign in" in html
    assert 'action="/calendar/outlook/connect/"' in html
    assert "/static/vendor/htmx" in html  # htmx shipped from our static files, no CDN
    assert "Sync now" not in html


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (SETTINGS_URL, "/calendar/outlook/conflicts/", "/calendar/outlook/events/", "/calendar/events/", "/calendar/events/new/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


@pytest.mark.django_db
def test_connected_page_shows_account_settings_and_actions(client_for, graph):
    graph.create_calendar(MAILBOX, "Shared with assistant")
    client = client_for()
    integration = _connect(client, graph)

    response = client.get(SETTINGS_URL)

    assert response.status_code == 200
    html = _text(response)
    assert MAILBOX in html
    assert f'<option value="{integration.calendar_id}" selected>' in html
    assert "Shared with assistant" in html
    assert 'value="__separate__"' in html and "Create a separate WedSync calendar" in html
    for label in ("Both ways", "WedSync to Outlook only", "Outlook to WedSync only",
                  "Client meetings &amp; consultations", "Wedding events", "Deadlines &amp; tasks",
                  "Start Outlook titles with", "1 day before", "Block travel time before events",
                  "Instant updates from Outlook", "Sync now", "Recent sync activity", "Disconnect Outlook"):
        assert label in html, label
    assert 'id="direction-bidirectional" value="bidirectional" checked' in html
    assert re.search(r'id="reminder-15" value="15" checked', html) and not re.search(r'id="reminder-1440" value="1440" checked', html)
    # Every form control on the page has a label.
    for control_id in re.findall(r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html):
        assert f'for="{control_id}"' in html, f"no label for #{control_id}"
    # No jargon for the supplier.
    for jargon in ("sync_state", "mapping", "delta", "webhook"):
        visible = re.sub(r"<[^>]+>", " ", html)
        assert jargon not in visible.lower(), jargon


@pytest.mark.django_db
def test_needs_reconnect_banner_and_throttled_notice(client_for, graph, supplier):
    client = client_for()
    integration = _connect(client, graph)
    event_actions.create_event(supplier, event_type="task_due", title="Send timeline", starts_at=at(2, 9), ends_at=at(2, 9), time_zone="Asia/Tokyo")
    retry_at = timezone.now() + dt.timedelta(minutes=3)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(needs_reauthorization=True, throttled_until=retry_at)

    html = _text(client.get(SETTINGS_URL))

    assert 'id="reconnect-banner"' in html and "Reconnect Outlook" in html
    tokyo = retry_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")  # the supplier's zone (UTC+9)
    assert f"Outlook asked us to slow down; we'll retry at {tokyo} (Asia/Tokyo time)." in html
    assert 'id="sync-now" disabled' in html
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(throttled_until=timezone.now() - dt.timedelta(seconds=1))
    assert "slow down" not in _text(client.get(SETTINGS_URL))  # the retry time has passed


# --------------------------------------------------------------------------- preferences


@pytest.mark.django_db
def test_preferences_form_saves_through_update_settings(client_for, graph):
    client = client_for()
    integration = _connect(client, graph)

    response = client.post("/calendar/outlook/settings/", _preferences_post(
        integration, eventPrefix="[WS] ", notificationMinutes=["60", "1440"], syncDeadlines=None, webhookEnabled=None,
        syncDirection="to_outlook", inviteAttendeesFor=["client_meeting", "venue_visit"],
    ))

    assert response.status_code == 302 and response["Location"] == SETTINGS_URL
    integration.refresh_from_db()
    prefs = integration.sync_preferences
    assert prefs["eventPrefix"] == "[WS] " and prefs["notificationMinutes"] == [60, 1440] and prefs["syncDeadlines"] is False
    assert prefs["inviteAttendeesFor"] == ["client_meeting", "venue_visit"]
    assert integration.sync_direction == "to_outlook" and integration.webhook_enabled is False
    page = _text(client.get(SETTINGS_URL))
    assert "Your Outlook settings are saved." in page
    assert 'value="[WS] "' in page


@pytest.mark.django_db
def test_choosing_a_separate_wedsync_calendar_creates_it_once(client_for, graph):
    client = client_for()
    integration = _connect(client, graph)

    client.post("/calendar/outlook/settings/", _preferences_post(integration, calendar="__separate__"))
    integration.refresh_from_db()
    client.post("/calendar/outlook/settings/", _preferences_post(integration, calendar="__separate__"))

    integration.refresh_from_db()
    assert integration.sync_preferences["createSeparateCalendar"] is True and integration.calendar_name == "WedSync"
    assert [c["name"] for c in graph.calendars(MAILBOX)].count("WedSync") == 1
    html = _text(client.get(SETTINGS_URL))
    assert '<option value="__separate__" selected>' in html and 'id="calendar-name">WedSync<' in html

    default = next(c for c in graph.calendars(MAILBOX) if c["name"] != "WedSync")
    client.post("/calendar/outlook/settings/", _preferences_post(integration, calendar=default["id"]))
    integration.refresh_from_db()
    assert integration.sync_preferences["createSeparateCalendar"] is False and integration.calendar_id == default["id"]


@pytest.mark.django_db
def test_preferences_over_htmx_return_the_panel_with_a_saved_message(client_for, graph):
    client = client_for()
    integration = _connect(client, graph)

    response = client.post("/calendar/outlook/settings/", _preferences_post(integration, syncTravelTime="on"), **HTMX)

    assert response.status_code == 200
    html = _text(response)
    assert html.lstrip().startswith('<section class="card" aria-labelledby="settings-heading" id="settings-panel">')
    assert "Your Outlook settings are saved." in html and 'hx-swap-oob="true"' in html
    integration.refresh_from_db()
    assert integration.sync_preferences["syncTravelTime"] is True


@pytest.mark.django_db
def test_preference_errors_are_shown_next_to_their_fields_and_nothing_is_saved(client_for, graph):
    client = client_for()
    integration = _connect(client, graph)
    before = dict(integration.sync_preferences)

    response = client.post("/calendar/outlook/settings/", _preferences_post(integration, eventPrefix="W" * 60, syncDeadlines=None))

    assert response.status_code == 400
    html = _text(response)
    # The action's own message (update_settings -> PreferencesError), next to the prefix input.
    prefix_errors = re.search(r'<ul class="field-errors" id="id_eventPrefix-errors">(.*?)</ul>', html, re.S)
    assert prefix_errors and "Keep the event prefix to 50 characters or fewer" in prefix_errors.group(1)
    assert re.search(r'id="id_eventPrefix" value="W{60}"[^>]*aria-invalid="true"', html)
    assert 'id="settings-errors"' in html

    wedding_invites = client.post("/calendar/outlook/settings/", _preferences_post(integration, inviteAttendeesFor=["wedding_ceremony"]))
    assert wedding_invites.status_code == 400
    invite_errors = re.search(r'<ul class="field-errors" id="id_inviteAttendeesFor-errors">(.*?)</ul>', _text(wedding_invites), re.S)
    assert invite_errors and "wedding_ceremony" in invite_errors.group(1)  # never offered: wedding guests get no invitations
    integration.refresh_from_db()
    assert integration.sync_preferences == before


@pytest.mark.django_db
def test_action_errors_land_on_their_field(client_for, graph):
    client = client_for()
    integration = _connect(client, graph)

    response = client.post("/calendar/outlook/settings/", _preferences_post(integration, notificationMinutes=["15", "50000"]))

    assert response.status_code == 400
    html = _text(response)
    errors = re.search(r'<ul class="field-errors" id="id_notificationMinutes-errors">(.*?)</ul>', html, re.S)
    assert errors and "50000" in errors.group(1)  # Django's "not one of the available choices"


# --------------------------------------------------------------------------- other suppliers (IDOR)


@pytest.mark.django_db
def test_another_supplier_cannot_see_or_act_on_this_suppliers_outlook(client_for, graph, supplier, other_supplier):
    mine = client_for()
    integration = _connect(mine, graph)
    event = event_actions.create_event(supplier, event_type="client_meeting", title="Consultation", starts_at=at(2, 10), ends_at=at(2, 11), time_zone="Europe/London")
    OutlookEventMapping.objects.create(
        integration=integration, wedsync_event_type="client_meeting", wedsync_event_id=str(event.pk), outlook_event_id="AAMk-1",
        outlook_calendar_id=integration.calendar_id, event=event, sync_state=MappingState.CONFLICT,
        sync_conflicts=[{"field": "title", "wedSyncValue": "Consultation", "outlookValue": "Consult", "conflictType": "title", "suggestedResolution": "use_wedsync"}],
    )
    run = OutlookSyncHistory.objects.filter(integration=integration).first() or OutlookSyncHistory.objects.create(
        integration=integration, sync_type="incremental", sync_direction="bidirectional", sync_status="completed")
    # The other supplier has an Outlook connection of their own.
    theirs = OutlookCalendarIntegration(user=other_supplier, tenant_id="t", microsoft_user_id="other", calendar_id="cal-2", calendar_name="Blake")
    theirs.set_tokens(access_token="other-access", refresh_token="other-refresh", expires_at=timezone.now() + dt.timedelta(hours=1))
    theirs.save()
    intruder = client_for(other_supplier)

    conflicts_page = _text(intruder.get("/calendar/outlook/conflicts/"))
    assert "Consultation" not in conflicts_page and "Nothing to decide" in conflicts_page
    assert "Consultation" not in _text(intruder.get("/calendar/outlook/events/"))
    assert intruder.post(f"/calendar/outlook/conflicts/{event.pk}/resolve/", {"field": "title", "use": "outlook"}).status_code == 404
    assert intruder.post(f"/calendar/outlook/events/{event.pk}/sync/").status_code == 404
    assert intruder.get(f"/calendar/outlook/sync/{run.pk}/").status_code == 404
    assert intruder.get(f"/calendar/events/{event.pk}/edit/").status_code == 404
    assert intruder.post(f"/calendar/events/{event.pk}/edit/", {"title": "Hijacked"}).status_code == 404
    assert MAILBOX not in _text(intruder.get(SETTINGS_URL))

    event.refresh_from_db()
    assert event.title == "Consultation"
    assert OutlookEventMapping.objects.get(wedsync_event_id=str(event.pk)).sync_state == MappingState.CONFLICT
    # A supplier without Outlook gets 404s too (nothing to act on).
    theirs.delete()
    assert intruder.get("/calendar/outlook/conflicts/").status_code == 404
    assert intruder.post("/calendar/outlook/disconnect/").status_code == 404
    assert OutlookCalendarIntegration.objects.filter(pk=integration.pk).exists()


# --------------------------------------------------------------------------- CSRF


@pytest.mark.django_db
def test_posts_without_the_csrf_token_are_refused(client_for, graph, supplier):
    plain = client_for()
    integration = _connect(plain, graph)
    event = event_actions.create_event(supplier, event_type="client_meeting", title="Consultation", starts_at=at(2, 10), ends_at=at(2, 11))
    strict = client_for(enforce_csrf_checks=True)

    for url, data in (
        ("/calendar/outlook/settings/", _preferences_post(integration, eventPrefix="X ")),
        ("/calendar/outlook/sync/", {}),
        ("/calendar/outlook/disconnect/", {}),
        ("/calendar/outlook/connect/", {}),
        (f"/calendar/outlook/conflicts/{event.pk}/resolve/", {"field": "title", "use": "outlook"}),
        (f"/calendar/outlook/events/{event.pk}/sync/", {}),
        ("/calendar/events/new/", {"title": "x"}),
        (f"/calendar/events/{event.pk}/edit/", {"title": "x"}),
    ):
        assert strict.post(url, data).status_code == 403, url
        assert strict.post(url, data, **HTMX).status_code == 403, url
    assert OutlookCalendarIntegration.objects.filter(pk=integration.pk).exists()
    integration.refresh_from_db()
    assert integration.sync_preferences["eventPrefix"] == "WedSync: "

    # With the token the page hands out (the htmx header on <body>), the same request goes through.
    page = _text(strict.get(SETTINGS_URL))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    ok = strict.post("/calendar/outlook/settings/", _preferences_post(integration, eventPrefix="X "), HTTP_X_CSRFTOKEN=token, **HTMX)
    assert ok.status_code == 200
    integration.refresh_from_db()
    assert integration.sync_preferences["eventPrefix"] == "X "


# --------------------------------------------------------------------------- event form


@pytest.mark.django_db
def test_event_form_creates_and_edits_through_the_events_actions(client_for, supplier):
    client = client_for()
    form = {
        "event_type": "venue_visit", "title": "Venue visit: Hatley Park", "starts_at": "2031-06-20T14:00", "ends_at": "2031-06-20T15:30",
        "time_zone": "Europe/London", "location": "Hatley Park", "attendees": "Priya Shah <Priya@Example.com>\nsam@example.com",
    }
    created = client.post("/calendar/events/new/", form)

    assert created.status_code == 302
    event = CalendarEvent.objects.get(supplier=supplier)
    assert event.starts_at == dt.datetime(2031, 6, 20, 13, 0, tzinfo=dt.timezone.utc)  # 14:00 BST
    assert event.attendees == [{"name": "Priya Shah", "email": "priya@example.com"}, {"name": "", "email": "sam@example.com"}]
    assert created["Location"] == f"/calendar/events/{event.pk}/edit/"
    edit_page = _text(client.get(created["Location"]))
    assert "is added to your WedSync calendar" in edit_page and 'value="2031-06-20T14:00"' in edit_page

    bad = client.post(created["Location"], {**form, "ends_at": "2031-06-20T13:00"})
    assert bad.status_code == 400 and "The event can&#x27;t end before it starts." in _text(bad)

    moved = client.post(created["Location"], {**form, "title": "Venue visit (moved)", "is_all_day": "on", "starts_at": "2031-06-21T00:00", "ends_at": "2031-06-22T00:00"})
    assert moved.status_code == 302
    event.refresh_from_db()
    assert event.title == "Venue visit (moved)" and event.is_all_day and event.version == 2
    assert event.ends_at - event.starts_at == dt.timedelta(days=2)  # the 21st and the 22nd, end exclusive

    week = _text(client.get("/calendar/events/?week=2031-06-16"))
    assert "Venue visit (moved)" in week


# --------------------------------------------------------------------------- flows with a real worker


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_sync_now_progress_conflict_inbox_event_list_and_double_booking(client_for, graph, supplier):
    consultation = event_actions.create_event(
        supplier, event_type="client_meeting", title="Consultation with Priya & Sam", location="The Old Barn",
        starts_at=at(3, 14), ends_at=at(3, 15), time_zone="Europe/London",
    )
    graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(4, 9), at(4, 10)), "showAs": "busy"})
    client = client_for()
    integration = _connect(client, graph)
    _wait_idle(integration)

    # Sync now: the htmx answer polls itself every second until the run is done, then shows 100 %.
    started = client.post("/calendar/outlook/sync/", **HTMX)
    assert started.status_code == 200
    html = _text(started)
    poll_url = re.search(r'hx-get="(/calendar/outlook/sync/[0-9a-f-]+/)" hx-trigger="every 1s"', html)
    assert poll_url, html
    done = wait_for(lambda: (r := _text(client.get(poll_url.group(1), **HTMX))) and 'data-status="completed"' in r and r, message="sync to finish")
    assert 'hx-trigger="every 1s"' not in done and '<span id="sync-progress-percent">100%</span>' in done
    assert 'id="sync-history" class' not in done and 'id="sync-history"' in done and 'hx-swap-oob="true"' in done

    # A conflict: the title changed on both sides.
    mapping_row = OutlookEventMapping.objects.get(integration=integration, wedsync_event_id=str(consultation.pk))
    graph.update_event(MAILBOX, mapping_row.outlook_event_id, {"subject": "WedSync: Consultation (Outlook)"})
    event_actions.update_event(consultation, title="Consultation (WedSync)")
    _wait_idle(integration)
    client.post("/calendar/outlook/sync/")
    _wait_idle(integration)
    wait_for(lambda: OutlookEventMapping.objects.get(pk=mapping_row.pk).sync_state == MappingState.CONFLICT, message="conflict")

    inbox = _text(client.get("/calendar/outlook/conflicts/"))
    assert "Consultation (WedSync)" in inbox and "Consultation (Outlook)" in inbox
    assert "Always do this for client meeting title conflicts" in inbox
    events_page = _text(client.get("/calendar/outlook/events/?status=conflict"))
    assert "Needs your decision" in events_page and "1 event" in events_page
    refused = _text(client.post(f"/calendar/outlook/events/{consultation.pk}/sync/", **HTMX))
    assert "needs your decision first" in refused

    card = client.post(f"/calendar/outlook/conflicts/{consultation.pk}/resolve/", {"field": "title", "use": "outlook"}, **HTMX)
    assert card.status_code == 200
    assert f'id="conflict-{consultation.pk}"' in _text(card) and "Kept the Outlook version." in _text(card)
    _wait_idle(integration)
    consultation.refresh_from_db()
    assert consultation.title == "Consultation (Outlook)"
    wait_for(lambda: OutlookEventMapping.objects.get(pk=mapping_row.pk).sync_state == MappingState.SYNCED, message="synced again")

    # Mapped events list: filters and "Sync this event now".
    listing = _text(client.get("/calendar/outlook/events/?eventType=client_meeting&status=synced"))
    assert "Consultation (Outlook)" in listing and "In sync" in listing
    assert "No events match" in _text(client.get("/calendar/outlook/events/?eventType=deadline"))
    row = _text(client.post(f"/calendar/outlook/events/{consultation.pk}/sync/", **HTMX))
    assert row.lstrip().startswith(f'<tr id="mapped-{consultation.pk}">') and "Sending this event to Outlook now." in row
    _wait_idle(integration)

    # The double-booking check (htmx, before saving) and the warning after saving.
    local = (at(4, 9) + dt.timedelta(minutes=30)).astimezone(dt.timezone.utc)
    check = _text(client.get("/calendar/events/check/", {"starts_at": local.strftime("%Y-%m-%dT%H:%M"), "ends_at": (local + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "time_zone": "UTC"}, **HTMX))
    assert "Possible double booking" in check and "You have “Dentist” in Outlook at that time." in check
    clear = _text(client.get("/calendar/events/check/", {"starts_at": at(4, 12).strftime("%Y-%m-%dT%H:%M"), "ends_at": at(4, 13).strftime("%Y-%m-%dT%H:%M"), "time_zone": "UTC"}, **HTMX))
    assert "double booking" not in clear
    saved = client.post("/calendar/events/new/", {
        "event_type": "vendor_meeting", "title": "Florist tasting", "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (local + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "time_zone": "UTC",
    }, follow=True)
    assert 'role="alert"><strong>Possible double booking: You have “Dentist” in Outlook at that time.</strong>' in _text(saved)
    wait_for(lambda: OutlookEventMapping.objects.filter(integration=integration, event__title="Florist tasting").exists(), message="push of the new event")
    _wait_idle(integration)

    # Disconnect: the confirmation states the count, then the result.
    ours = OutlookEventMapping.objects.filter(integration=integration).count()
    assert ours == 2
    confirm = _text(client.get("/calendar/outlook/disconnect/", **HTMX))
    assert f"Removing takes the {ours} events WedSync added out of your Outlook calendar. Your own Outlook events stay." in confirm
    started = client.post("/calendar/outlook/disconnect/", follow=True)
    assert started.redirect_chain == [("/calendar/outlook/disconnect/", 302)] and "Disconnect" in _text(started)

    def finished():  # a worker removes the copies; the page shows the outcome once it has finished
        page = _text(client.get("/calendar/outlook/disconnect/"))
        return page if "Outlook is disconnected" in page else None

    gone = wait_for(finished, timeout=60, message="the disconnect to finish")
    assert f"We removed {ours} events WedSync had added to your Outlook calendar" in gone
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
    assert not OutlookCalendarIntegration.objects.filter(user=supplier).exists()


# --------------------------------------------------------------------------- conflict inbox details


@pytest.mark.django_db
def test_conflict_inbox_formats_values_in_the_events_zone_and_applies_an_edited_value(client_for, graph, supplier):
    client = client_for()
    integration = _connect(client, graph)
    event = event_actions.create_event(
        supplier, event_type="venue_visit", title="Venue visit: Hatley Park", location="Hatley Park",
        starts_at=dt.datetime(2031, 6, 20, 13, tzinfo=dt.timezone.utc), ends_at=dt.datetime(2031, 6, 20, 14, tzinfo=dt.timezone.utc), time_zone="Europe/London",
    )
    when_ours = {"start": "2031-06-20T13:00:00Z", "end": "2031-06-20T14:00:00Z", "allDay": False}
    when_theirs = {"start": "2031-06-20T15:30:00Z", "end": "2031-06-20T16:30:00Z", "allDay": False}
    OutlookEventMapping.objects.create(
        integration=integration, wedsync_event_type="venue_visit", wedsync_event_id=str(event.pk), outlook_event_id="AAMk-v",
        outlook_calendar_id=integration.calendar_id, event=event, sync_state=MappingState.CONFLICT,
        base_snapshot={"title": "Venue visit: Hatley Park", "when": {"start": "2031-06-20T12:00:00Z", "end": "2031-06-20T13:00:00Z", "allDay": False},
                       "location": "Hatley", "description": "", "attendees": []},
        sync_conflicts=[
            {"field": "when", "wedSyncValue": when_ours, "outlookValue": when_theirs, "conflictType": "date_time", "suggestedResolution": "manual_review"},
            {"field": "location", "wedSyncValue": "Hatley Park", "outlookValue": "Hatley Park, orangery", "conflictType": "location", "suggestedResolution": "use_outlook"},
        ],
    )
    gone = event_actions.create_event(supplier, event_type="deadline", title="Final numbers", starts_at=dt.datetime(2031, 6, 1, tzinfo=dt.timezone.utc),
                                      ends_at=dt.datetime(2031, 6, 2, tzinfo=dt.timezone.utc), is_all_day=True)
    OutlookEventMapping.objects.create(
        integration=integration, wedsync_event_type="deadline", wedsync_event_id=str(gone.pk), outlook_event_id="AAMk-d",
        outlook_calendar_id=integration.calendar_id, event=gone, sync_state=MappingState.CONFLICT,
        sync_conflicts=[{"field": "deleted", "wedSyncValue": None, "outlookValue": {"title": "Final numbers (call venue)", "when": {"start": "2031-06-01", "end": "2031-06-02", "allDay": True}},
                         "conflictType": "title", "suggestedResolution": "manual_review"}],
    )

    inbox = _text(client.get("/calendar/outlook/conflicts/"))

    assert "Fri 20 Jun 2031, 14:00–15:00" in inbox and "Fri 20 Jun 2031, 16:30–17:30" in inbox  # London summer time
    assert "Always do this for venue visit date &amp; time conflicts" in inbox
    assert "Suggestion: keep the Outlook version." in inbox
    assert "Deleted in WedSync" in inbox and "Final numbers (call venue) · Sun 1 Jun 2031 (all day)" in inbox
    assert 'name="start" id="cs-' in inbox and 'value="2031-06-20T14:00"' in inbox  # the Edit form starts from WedSync's time

    bad = _text(client.post(f"/calendar/outlook/conflicts/{event.pk}/resolve/", {"field": "when", "use": "custom", "start": "2031-06-20T17:00", "end": "2031-06-20T16:00"}, **HTMX))
    assert "The event must end after it starts." in bad

    card = _text(client.post(f"/calendar/outlook/conflicts/{event.pk}/resolve/", {"field": "when", "use": "custom", "start": "2031-06-20T15:00", "end": "2031-06-20T16:15"}, **HTMX))

    assert "Saved your version." in card
    assert 'data-field="when"' not in card and 'data-field="location"' in card  # the other difference is still open
    event.refresh_from_db()
    assert event.starts_at == dt.datetime(2031, 6, 20, 14, tzinfo=dt.timezone.utc) and event.ends_at == dt.datetime(2031, 6, 20, 15, 15, tzinfo=dt.timezone.utc)

    client.post(f"/calendar/outlook/conflicts/{event.pk}/resolve/", {"field": "location", "use": "outlook", "setAsDefault": "on"})
    event.refresh_from_db()
    integration.refresh_from_db()
    assert event.location == "Hatley Park, orangery"
    assert integration.default_conflict_rules == {"venue_visit:location": "outlook"}
    assert OutlookEventMapping.objects.get(wedsync_event_id=str(event.pk)).sync_state == MappingState.PENDING


@pytest.mark.django_db
def test_synced_events_list_filters_by_type_status_and_dates_and_pages(client_for, graph, supplier):
    client = client_for()
    integration = _connect(client, graph)
    first_day = dt.datetime(2031, 3, 1, 10, tzinfo=dt.timezone.utc)
    for n in range(25):
        event_type = "deadline" if n % 5 == 0 else "client_meeting"
        event = event_actions.create_event(supplier, event_type=event_type, title=f"Booking {n:02d}", starts_at=first_day + dt.timedelta(days=n),
                                           ends_at=first_day + dt.timedelta(days=n, hours=1), time_zone="UTC")
        OutlookEventMapping.objects.create(
            integration=integration, wedsync_event_type=event_type, wedsync_event_id=str(event.pk), outlook_event_id=f"AAMk-{n}",
            outlook_calendar_id=integration.calendar_id, event=event, sync_state=MappingState.ERROR if n == 7 else MappingState.SYNCED,
            synced_wedsync_version=event.version,  # in step: no WedSync change waits (else the event is "pending")
            last_error={"errorCode": "throttled", "errorMessage": "Outlook was busy; we'll try again.", "retryable": True} if n == 7 else {},
            base_snapshot={"title": f"Booking {n:02d}"}, outlook_last_seen={"title": f"Booking {n:02d} as Outlook has it", "start": "", "allDay": False},
        )

    first = _text(client.get("/calendar/outlook/events/"))
    assert "25 events" in first and "Page 1 of 2" in first and "Booking 00" in first and "Booking 20" not in first
    assert "Booking 00 as Outlook has it" in first  # Outlook's own title as last read, not WedSync's
    second = _text(client.get("/calendar/outlook/events/", {"page": 2}))
    assert "Booking 20" in second and "Booking 19" not in second

    deadlines = _text(client.get("/calendar/outlook/events/", {"eventType": "deadline"}))
    assert "5 events" in deadlines and "Booking 05" in deadlines and "Booking 01" not in deadlines
    failing = _text(client.get("/calendar/outlook/events/", {"status": "error"}))
    assert "1 event<" in failing and "Booking 07" in failing and "Couldn&#x27;t sync" in failing and "Outlook was busy" in failing
    window = _text(client.get("/calendar/outlook/events/", {"startDate": "2031-03-03", "endDate": "2031-03-04", "page": 1}))
    assert "2 events" in window and "Booking 02" in window and "Booking 03" in window and "Booking 04" not in window
    backwards = client.get("/calendar/outlook/events/", {"startDate": "2031-03-04", "endDate": "2031-03-03"})
    assert "The end date must be on or after the start date." in _text(backwards)
    paged = _text(client.get("/calendar/outlook/events/", {"status": "synced"}))
    assert "24 events" in paged and "status=synced&amp;page=2" in paged  # paging keeps the filters

    confirm = _text(client.get("/calendar/outlook/disconnect/"))  # without htmx: a page of its own
    assert "<title>Disconnect Outlook · WedSync</title>" in confirm and "Removing takes the 25 events WedSync added" in confirm
