"""WedSync event <-> sync snapshot conversions and the preferences' words, found by mutation testing.

``scripts/mutation.sh`` mutated :mod:`outlook_sync.sync.mapping` and these cases
were not pinned by ``test_mapping.py``. They test the pure conversions
(WedSync values -> snapshot, Outlook event -> snapshot, snapshot -> WedSync
changes, HTML -> text) and what the supplier reads, not the Graph JSON (which
``graph/`` builds).
"""
from __future__ import annotations

import datetime as dt
import time

import pytest

from outlook_sync.sync import mapping
from outlook_sync.sync.mapping import (
    PreferencesError,
    SyncPreferences,
    html_to_text,
    snapshot_from_graph,
    snapshot_from_wedsync,
    travel_snapshot,
    validate_preferences_patch,
    wedsync_changes,
)
from tests.unit.test_mapping import PREFS, event_values, graph_event

UTC = dt.timezone.utc


# --------------------------------------------------------------------------- preferences


def test_stored_preferences_are_read_key_by_key():
    prefs = SyncPreferences.from_json({"syncDeadlines": False, "notificationMinutes": [30, 1440], "eventPrefix": None})
    assert prefs.sync_deadlines is False and prefs.notification_minutes == (30, 1440) and prefs.event_prefix == "WedSync: "


def test_a_preferences_error_lists_every_key_in_its_message():
    assert str(PreferencesError({"eventPrefix": "Too long.", "syncDeadlines": "On or off."})) == "eventPrefix: Too long.; syncDeadlines: On or off."


@pytest.mark.parametrize(
    "patch, key, message",
    [
        (["syncDeadlines"], "syncPreferences", "Sync preferences must be an object of settings."),
        ({"eventPrefix": 5}, "eventPrefix", 'The event prefix must be text, for example "WedSync: ".'),
        ({"eventPrefix": "WedSync:\n"}, "eventPrefix", "The event prefix must fit on one line."),
        ({"eventPrefix": "WedSync:\r"}, "eventPrefix", "The event prefix must fit on one line."),
        ({"notificationMinutes": 15}, "notificationMinutes", "Reminders must be a list of minutes before the event, for example [15, 60]."),
        ({"notificationMinutes": [15, "60"]}, "notificationMinutes", "Each reminder must be a whole number of minutes, for example 15 or 60."),
        ({"inviteAttendeesFor": "client_meeting"}, "inviteAttendeesFor",
         'Choose the event types to send invitations for as a list, for example ["client_meeting"].'),
        ({"inviteAttendeesFor": [5]}, "inviteAttendeesFor", 'Choose the event types to send invitations for as a list, for example ["client_meeting"].'),
        ({"inviteAttendeesFor": ["brunch", "picnic"]}, "inviteAttendeesFor", "Unknown event type: brunch, picnic."),
        ({"inviteAttendeesFor": ["wedding_ceremony", "deadline"]}, "inviteAttendeesFor",
         "Outlook invitations are never sent for: Wedding ceremony, Deadline. Wedding-day guest lists, deadlines and tasks would "
         "email people who should not hear from your calendar. Choose from client meetings, venue visits, vendor meetings and "
         "engagement shoots."),
    ],
)
def test_preferences_errors_in_these_exact_words(patch, key, message):
    with pytest.raises(PreferencesError) as exc:
        validate_preferences_patch(patch)
    assert exc.value.errors == {key: message}


def test_preferences_limits_are_inclusive():
    patch = {"eventPrefix": "x" * mapping.MAX_PREFIX_LENGTH, "notificationMinutes": [0, mapping.MAX_REMINDER_MINUTES] + list(range(1, 9))}
    assert validate_preferences_patch(patch)["notificationMinutes"][:2] == [0, 1]


# --------------------------------------------------------------------------- WedSync -> snapshot


def test_empty_wedsync_fields_are_empty_snapshot_text():
    snapshot = snapshot_from_wedsync(event_values(title=None, location=None, description=None), PREFS)
    assert (snapshot["title"], snapshot["location"], snapshot["description"]) == ("", "", "")


def test_blank_attendee_emails_are_left_out():
    values = event_values(attendees=[{"name": "Blank", "email": "  "}, {"name": "Sam", "email": "sam@example.com"}])
    assert snapshot_from_wedsync(values, PREFS)["attendees"] == ["sam@example.com"]


@pytest.mark.parametrize(
    "starts_at, ends_at, when",
    [
        # An end that is not a midnight still covers its day.
        (dt.datetime(2026, 6, 20, 9, tzinfo=UTC), dt.datetime(2026, 6, 22, 10, tzinfo=UTC), ("2026-06-20", "2026-06-23")),
        # A zero-length all-day event still covers one day.
        (dt.datetime(2026, 6, 20, tzinfo=UTC), dt.datetime(2026, 6, 20, tzinfo=UTC), ("2026-06-20", "2026-06-21")),
    ],
)
def test_all_day_wedsync_events_cover_whole_days(starts_at, ends_at, when):
    values = event_values(is_all_day=True, starts_at=starts_at, ends_at=ends_at, time_zone="UTC")
    assert snapshot_from_wedsync(values, PREFS)["when"] == {"start": when[0], "end": when[1], "allDay": True}


def test_snapshot_instants_are_utc_whatever_the_machine_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        when = snapshot_from_wedsync(event_values(), PREFS)["when"]
    finally:
        monkeypatch.undo()
        time.tzset()
    assert when == {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:30:00Z", "allDay": False}


def test_travel_snapshot_of_an_untitled_event():
    assert travel_snapshot(event_values(title=None, travel_minutes=30))["title"] == "Travel to "


# --------------------------------------------------------------------------- Outlook -> snapshot


def test_an_explicit_empty_prefix_keeps_the_raw_subject():
    assert snapshot_from_graph(graph_event(), PREFS, "client_meeting", prefix="")["title"] == "WedSync: Consultation with Priya & Sam"


def test_strip_prefix_drops_every_space_outlook_left_after_a_trimmed_prefix():
    assert mapping.strip_prefix("[WS] Tea", "[WS]  ") == "Tea"


def test_a_lone_carriage_return_is_a_line_break():
    assert mapping.normalise_text("Line one\rLine two") == "Line one\nLine two"


@pytest.mark.parametrize(
    "html, text",
    [
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("<p>One </p><p>Two</p>", "One\nTwo"),
        ("<p>Meet <b>Priya</b> &amp; Sam</p>", "Meet Priya & Sam"),
        ("One<br><p>Two</p>", "One\nTwo"),
        ("<p>One<br></p>Two", "One\nTwo"),
        ("One<br> a <b>b</b>", "One\na b"),
        ("One<br><br><br><br>Two", "One\n\nTwo"),
        ("One<br/>Two<img src=\"x\"/>", "One\nTwo"),
        ("<p>One</p><br/>Two", "One\n\nTwo"),
        ("<style>a</style>b<script>c</script>d", "bd"),
        ("<head><title>T</title>H</head>z", "z"),
    ],
)
def test_outlook_html_becomes_the_text_a_supplier_sees(html, text):
    assert html_to_text(html) == text


# --------------------------------------------------------------------------- snapshot -> WedSync


def test_untracked_attendees_change_nothing_and_the_other_fields_still_apply():
    assert wedsync_changes({"attendees": None, "title": "Tasting"}, current_values=event_values()) == {"title": "Tasting"}


def test_a_known_attendee_without_a_name_keeps_an_empty_name():
    current = event_values(attendees=[{"name": None, "email": "sam@example.com"}])
    assert wedsync_changes({"attendees": ["sam@example.com"]}, current_values=current)["attendees"] == [{"name": "", "email": "sam@example.com"}]


def test_wedsync_changes_name_a_field_that_is_not_synced():
    with pytest.raises(ValueError, match="not a snapshot field: colour"):
        wedsync_changes({"colour": "red"}, current_values=event_values())
