"""WedSync event <-> Graph event mapping (pure functions, no database)."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from outlook_sync.graph import wire
from outlook_sync.graph.types import EventFields, EventTiming, GraphAttendee, GraphEvent, Reminder
from outlook_sync.sync import mapping
from outlook_sync.sync.mapping import (
    CATEGORY_BY_TYPE,
    TAG_PROPERTY_ID,
    PreferencesError,
    SyncPreferences,
    changed_preferences_need_full_resync,
    html_to_text,
    is_type_synced,
    snapshot_from_graph,
    snapshot_from_wedsync,
    tag_of,
    transaction_id,
    travel_snapshot,
    validate_preferences_patch,
    wedsync_changes,
)

UTC = dt.timezone.utc
EVENT_ID = "5b0c8a52-55b8-4b6e-a4a1-6f8f3f6a2c10"
INTEGRATION_ID = "0d9b1b43-1f57-4c2b-9d7e-2b1d3f1a8e77"
PREFS = SyncPreferences()


def event_payload(values, prefs, *, fields=None, integration_id=None):
    """The Graph JSON of what mapping builds: mapping makes the typed values, ``graph.wire`` writes them."""
    if integration_id is not None:
        return wire.new_event_json(mapping.new_event(values, prefs, integration_id=integration_id))
    return wire.event_json(mapping.event_fields(values, prefs, fields=fields))


def create_payload(values, prefs, *, integration_id, attempt=0):
    return wire.new_event_json(mapping.new_event(values, prefs, integration_id=integration_id, attempt=attempt))


def travel_payload(values, prefs, *, integration_id):
    travel = mapping.travel_event(values, prefs, integration_id=integration_id)
    return None if travel is None else wire.new_event_json(travel)


def event_values(**overrides):
    london = ZoneInfo("Europe/London")
    values = {
        "id": uuid.UUID(EVENT_ID),
        "event_type": "client_meeting",
        "title": "Consultation with Priya & Sam",
        "description": "Bring the venue shortlist.",
        "location": "The Old Barn, Kent",
        "starts_at": dt.datetime(2026, 6, 20, 16, 0, tzinfo=london),
        "ends_at": dt.datetime(2026, 6, 20, 17, 30, tzinfo=london),
        "time_zone": "Europe/London",
        "is_all_day": False,
        "attendees": [{"name": "Priya Shah", "email": "Priya@Example.com"}, {"name": "Sam Lee", "email": "sam@example.com"}],
        "client_name": "Priya & Sam",
        "wedding_reference": "W-2026-014",
        "travel_minutes": None,
    }
    values.update(overrides)
    return values


def graph_event(**fields):
    base = {"id": "AAMk-1", "change_key": "ck1", "subject": "WedSync: Consultation with Priya & Sam", "start": dt.datetime(2026, 6, 20, 15, 0, tzinfo=UTC), "end": dt.datetime(2026, 6, 20, 16, 30, tzinfo=UTC)}
    base.update(fields)
    return GraphEvent(**base)


def test_event_types_match_the_wedsync_model():
    from wedsync.events.models import EventType

    assert list(mapping.EVENT_TYPES) == list(EventType.values)
    assert set(mapping.TYPE_SWITCH) == set(EventType.values)
    assert set(CATEGORY_BY_TYPE) == set(EventType.values)
    assert CATEGORY_BY_TYPE["client_meeting"] == "WedSync · Client meeting"


# --------------------------------------------------------------------------- preferences


def test_preferences_defaults_are_the_spec_defaults():
    prefs = SyncPreferences.from_json({})
    assert prefs == SyncPreferences()
    assert prefs.to_json() == {
        "syncClientMeetings": True,
        "syncWeddingEvents": True,
        "syncDeadlines": True,
        "syncTravelTime": False,
        "eventPrefix": "WedSync: ",
        "createSeparateCalendar": False,
        "notificationMinutes": [15, 60],
        "inviteAttendeesFor": ["client_meeting", "engagement_shoot", "vendor_meeting", "venue_visit"],
    }


def test_preferences_round_trip_through_json():
    prefs = SyncPreferences(sync_deadlines=False, event_prefix="", notification_minutes=(), invite_attendees_for=frozenset({"venue_visit"}))
    assert SyncPreferences.from_json(prefs.to_json()) == prefs


def test_preferences_patch_is_cleaned():
    clean = validate_preferences_patch({"notificationMinutes": [60, 15, 60], "eventPrefix": "[WS] ", "syncTravelTime": True, "inviteAttendeesFor": []})
    assert clean == {"notificationMinutes": [15, 60], "eventPrefix": "[WS] ", "syncTravelTime": True, "inviteAttendeesFor": []}


@pytest.mark.parametrize(
    "patch, key, words",
    [
        ({"syncDeadlines": "yes"}, "syncDeadlines", "deadlines"),
        ({"syncClientMeetings": 1}, "syncClientMeetings", "on (true) or off (false)"),
        ({"colour": "blue"}, "colour", 'no sync setting called "colour"'),
        ({"eventPrefix": "x" * 51}, "eventPrefix", "50 characters"),
        ({"eventPrefix": 5}, "eventPrefix", "must be text"),
        ({"notificationMinutes": 15}, "notificationMinutes", "list of minutes"),
        ({"notificationMinutes": [15, "60"]}, "notificationMinutes", "whole number"),
        ({"notificationMinutes": [True]}, "notificationMinutes", "whole number"),
        ({"notificationMinutes": [40321]}, "notificationMinutes", "4 weeks"),
        ({"notificationMinutes": [-5]}, "notificationMinutes", "between 0 minutes"),
        ({"notificationMinutes": list(range(11))}, "notificationMinutes", "at most 10"),
        ({"inviteAttendeesFor": ["brunch"]}, "inviteAttendeesFor", "Unknown event type: brunch"),
        ({"inviteAttendeesFor": ["wedding_ceremony"]}, "inviteAttendeesFor", "never sent for: Wedding ceremony"),
    ],
)
def test_preferences_patch_errors_speak_to_the_supplier(patch, key, words):
    with pytest.raises(PreferencesError) as exc:
        validate_preferences_patch(patch)
    assert set(exc.value.errors) == {key}
    assert words in exc.value.errors[key]


def test_preferences_patch_reports_every_problem_at_once():
    with pytest.raises(PreferencesError) as exc:
        validate_preferences_patch({"syncDeadlines": None, "eventPrefix": "x" * 60, "notificationMinutes": [99999]})
    assert set(exc.value.errors) == {"syncDeadlines", "eventPrefix", "notificationMinutes"}


def test_preferences_patch_must_be_an_object():
    with pytest.raises(PreferencesError) as exc:
        validate_preferences_patch(["syncDeadlines"])
    assert "syncPreferences" in exc.value.errors


def test_type_switches():
    prefs = SyncPreferences(sync_client_meetings=False, sync_deadlines=False)
    assert not is_type_synced("client_meeting", prefs)
    assert not is_type_synced("vendor_meeting", prefs)
    assert is_type_synced("wedding_ceremony", prefs)
    assert is_type_synced("engagement_shoot", prefs)
    assert not is_type_synced("task_due", prefs)
    assert not is_type_synced("brunch", PREFS)


@pytest.mark.parametrize(
    "change, full",
    [
        ({"sync_wedding_events": False}, True),
        ({"event_prefix": ""}, True),
        ({"sync_travel_time": True}, True),
        ({"create_separate_calendar": True}, True),
        ({"notification_minutes": (30,)}, False),
        ({"invite_attendees_for": frozenset()}, False),
        ({}, False),
    ],
)
def test_full_resync_decision(change, full):
    old = SyncPreferences()
    assert changed_preferences_need_full_resync(old, SyncPreferences(**change)) is full


# --------------------------------------------------------------------------- payloads


def test_post_payload_adds_prefix_tag_category_and_local_time():
    payload = event_payload(event_values(), PREFS, integration_id=INTEGRATION_ID)
    assert payload["subject"] == "WedSync: Consultation with Priya & Sam"
    assert payload["body"] == {"contentType": "text", "content": "Bring the venue shortlist."}
    # British Summer Time: 16:00 local is 15:00 UTC; Graph gets the wall time and the Windows zone.
    assert payload["start"] == {"dateTime": "2026-06-20T16:00:00.0000000", "timeZone": "GMT Standard Time"}
    assert payload["end"] == {"dateTime": "2026-06-20T17:30:00.0000000", "timeZone": "GMT Standard Time"}
    assert payload["isAllDay"] is False
    assert payload["location"] == {"displayName": "The Old Barn, Kent"}
    assert payload["categories"] == ["WedSync · Client meeting"]
    assert payload["showAs"] == "busy"
    assert payload["singleValueExtendedProperties"] == [{"id": TAG_PROPERTY_ID, "value": f"{INTEGRATION_ID}:{EVENT_ID}"}]


def test_winter_london_time_is_utc_wall_time():
    starts = dt.datetime(2026, 1, 10, 14, 0, tzinfo=UTC)
    values = event_values(starts_at=starts, ends_at=starts + dt.timedelta(hours=1))
    payload = event_payload(values, PREFS)
    assert payload["start"] == {"dateTime": "2026-01-10T14:00:00.0000000", "timeZone": "GMT Standard Time"}
    assert snapshot_from_wedsync(values, PREFS)["when"] == {"start": "2026-01-10T14:00:00Z", "end": "2026-01-10T15:00:00Z", "allDay": False}


@pytest.mark.parametrize(
    "zone_name, windows, local",
    [
        ("America/New_York", "Eastern Standard Time", "2026-06-20T11:00:00.0000000"),  # EDT, UTC-4
        ("Asia/Kolkata", "India Standard Time", "2026-06-20T20:30:00.0000000"),  # UTC+5:30
        ("UTC", "UTC", "2026-06-20T15:00:00.0000000"),
    ],
)
def test_time_zones_become_windows_names_and_local_wall_time(zone_name, windows, local):
    starts = dt.datetime(2026, 6, 20, 15, 0, tzinfo=UTC)
    values = event_values(starts_at=starts, ends_at=starts + dt.timedelta(hours=1), time_zone=zone_name)
    payload = event_payload(values, PREFS)
    assert payload["start"] == {"dateTime": local, "timeZone": windows}
    # The comparison value is the instant, whatever the zone.
    assert snapshot_from_wedsync(values, PREFS)["when"]["start"] == "2026-06-20T15:00:00Z"


def test_unknown_zone_falls_back_to_utc_with_the_right_instant():
    starts = dt.datetime(2026, 6, 20, 15, 0, tzinfo=UTC)
    payload = event_payload(event_values(starts_at=starts, ends_at=starts, time_zone="Mars/Olympus_Mons"), PREFS)
    assert payload["start"] == {"dateTime": "2026-06-20T15:00:00.0000000", "timeZone": "UTC"}


def test_all_day_events_are_midnight_dates():
    kolkata = ZoneInfo("Asia/Kolkata")
    values = event_values(
        event_type="wedding_ceremony",
        is_all_day=True,
        time_zone="Asia/Kolkata",
        starts_at=dt.datetime(2026, 12, 5, tzinfo=kolkata),
        ends_at=dt.datetime(2026, 12, 7, tzinfo=kolkata),
    )
    payload = event_payload(values, PREFS)
    assert payload["isAllDay"] is True
    assert payload["start"] == {"dateTime": "2026-12-05T00:00:00.0000000", "timeZone": "India Standard Time"}
    assert payload["end"] == {"dateTime": "2026-12-07T00:00:00.0000000", "timeZone": "India Standard Time"}
    assert snapshot_from_wedsync(values, PREFS)["when"] == {"start": "2026-12-05", "end": "2026-12-07", "allDay": True}


def test_all_day_event_ending_before_midnight_still_covers_its_last_day():
    london = ZoneInfo("Europe/London")
    values = event_values(is_all_day=True, starts_at=dt.datetime(2026, 6, 20, tzinfo=london), ends_at=dt.datetime(2026, 6, 20, 23, 59, tzinfo=london))
    assert snapshot_from_wedsync(values, PREFS)["when"] == {"start": "2026-06-20", "end": "2026-06-21", "allDay": True}


def test_attendees_are_invited_only_for_invite_types():
    payload = event_payload(event_values(), PREFS)
    assert payload["attendees"] == [
        {"emailAddress": {"address": "Priya@Example.com", "name": "Priya Shah"}, "type": "required"},
        {"emailAddress": {"address": "sam@example.com", "name": "Sam Lee"}, "type": "required"},
    ]
    ceremony = event_values(event_type="wedding_ceremony")
    assert "attendees" not in event_payload(ceremony, PREFS)
    assert "attendees" not in event_payload(ceremony, PREFS, fields={"attendees", "title"})
    assert snapshot_from_wedsync(ceremony, PREFS)["attendees"] is None
    no_invites = SyncPreferences(invite_attendees_for=frozenset())
    assert "attendees" not in event_payload(event_values(), no_invites)


def test_reminder_is_the_earliest_notification():
    payload = event_payload(event_values(), SyncPreferences(notification_minutes=(15, 1440, 60)))
    assert payload["reminderMinutesBeforeStart"] == 1440
    assert payload["isReminderOn"] is True


def test_no_notifications_turns_the_reminder_off():
    payload = event_payload(event_values(), SyncPreferences(notification_minutes=()))
    assert payload["isReminderOn"] is False
    assert "reminderMinutesBeforeStart" not in payload


def test_deadlines_do_not_block_time():
    assert event_payload(event_values(event_type="deadline"), PREFS)["showAs"] == "free"
    assert event_payload(event_values(event_type="task_due"), PREFS)["showAs"] == "free"
    assert event_payload(event_values(event_type="venue_visit"), PREFS)["showAs"] == "busy"


def test_patch_payload_holds_only_the_named_fields():
    payload = event_payload(event_values(), PREFS, fields={"title", "when"})
    assert set(payload) == {"subject", "start", "end", "isAllDay"}
    assert event_payload(event_values(), PREFS, fields={"location"}) == {"location": {"displayName": "The Old Barn, Kent"}}
    assert event_payload(event_values(), PREFS, fields={"reminder"}) == {"reminderMinutesBeforeStart": 60, "isReminderOn": True}
    with pytest.raises(ValueError):
        event_payload(event_values(), PREFS, fields={"categories"})


def test_mapping_builds_typed_fields_and_an_update_sends_only_the_named_ones():
    everything = mapping.event_fields(event_values(), PREFS)
    assert isinstance(everything, EventFields)
    assert everything.reminder == Reminder(60)
    assert everything.timing == EventTiming(event_values()["starts_at"], event_values()["ends_at"], "Europe/London")
    assert mapping.event_fields(event_values(), PREFS, fields={"title"}) == EventFields(subject="WedSync: Consultation with Priya & Sam")
    assert mapping.event_fields(event_values(), SyncPreferences(notification_minutes=()), fields={"reminder"}) == EventFields(reminder=Reminder(None))
    all_day = mapping.event_fields(event_values(is_all_day=True, starts_at=dt.datetime(2026, 6, 20, 9, tzinfo=UTC), ends_at=dt.datetime(2026, 6, 20, 10, tzinfo=UTC)),
                                   PREFS, fields={"when"})
    assert all_day.timing == EventTiming(dt.date(2026, 6, 20), dt.date(2026, 6, 21), "Europe/London", all_day=True)


def test_create_payload_carries_a_deterministic_transaction_id():
    first = create_payload(event_values(), PREFS, integration_id=INTEGRATION_ID)
    again = create_payload(event_values(title="Renamed"), PREFS, integration_id=INTEGRATION_ID)
    assert first["transactionId"] == again["transactionId"] == transaction_id(INTEGRATION_ID, EVENT_ID)
    assert first["transactionId"] == transaction_id(uuid.UUID(INTEGRATION_ID), uuid.UUID(EVENT_ID), 0)
    uuid.UUID(first["transactionId"])  # a uuid string
    assert create_payload(event_values(), PREFS, integration_id=INTEGRATION_ID, attempt=1)["transactionId"] != first["transactionId"]
    assert transaction_id("other-integration", EVENT_ID) != first["transactionId"]


def test_empty_prefix_leaves_the_title_alone():
    prefs = SyncPreferences(event_prefix="")
    assert event_payload(event_values(), prefs)["subject"] == "Consultation with Priya & Sam"


# --------------------------------------------------------------------------- snapshots


def test_snapshot_from_wedsync():
    assert snapshot_from_wedsync(event_values(description="  Bring the shortlist.\r\n"), PREFS) == {
        "title": "Consultation with Priya & Sam",
        "when": {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:30:00Z", "allDay": False},
        "location": "The Old Barn, Kent",
        "description": "Bring the shortlist.",
        "attendees": ["priya@example.com", "sam@example.com"],
    }


def test_our_own_write_reads_back_as_the_same_snapshot():
    values = event_values()
    payload = create_payload(values, PREFS, integration_id=INTEGRATION_ID)
    echoed = GraphEvent.from_json({"id": "AAMk-1", "changeKey": "ck", **payload})
    assert snapshot_from_graph(echoed, PREFS, "client_meeting") == snapshot_from_wedsync(values, PREFS)
    assert tag_of(echoed, INTEGRATION_ID) == ("event", EVENT_ID)
    assert tag_of(echoed, "another-integration") is None


def test_all_day_write_reads_back_as_the_same_snapshot():
    tz = ZoneInfo("America/New_York")
    values = event_values(is_all_day=True, time_zone="America/New_York", starts_at=dt.datetime(2026, 3, 8, tzinfo=tz), ends_at=dt.datetime(2026, 3, 9, tzinfo=tz))
    echoed = GraphEvent.from_json({"id": "AAMk-2", **event_payload(values, PREFS)})
    assert snapshot_from_graph(echoed, PREFS, "client_meeting")["when"] == {"start": "2026-03-08", "end": "2026-03-09", "allDay": True}


def test_time_zone_round_trip_loss_is_not_a_difference():
    dublin = ZoneInfo("Europe/Dublin")
    values = event_values(time_zone="Europe/Dublin", starts_at=dt.datetime(2026, 6, 20, 16, tzinfo=dublin), ends_at=dt.datetime(2026, 6, 20, 17, tzinfo=dublin))
    echoed = GraphEvent.from_json({"id": "AAMk-3", **event_payload(values, PREFS)})
    assert echoed.time_zone == "Europe/London"  # lossy: Dublin -> "GMT Standard Time" -> London
    assert snapshot_from_graph(echoed, PREFS, "client_meeting")["when"] == snapshot_from_wedsync(values, PREFS)["when"]


def test_snapshot_from_graph_strips_the_prefix():
    assert snapshot_from_graph(graph_event(), PREFS, "client_meeting")["title"] == "Consultation with Priya & Sam"
    assert snapshot_from_graph(graph_event(subject="WedSync:Trimmed"), PREFS, "client_meeting")["title"] == "Trimmed"
    # A supplier who removed the prefix in Outlook still has a title.
    assert snapshot_from_graph(graph_event(subject="Tasting"), PREFS, "client_meeting")["title"] == "Tasting"
    assert snapshot_from_graph(graph_event(subject="WedSync: x"), SyncPreferences(event_prefix=""), "client_meeting")["title"] == "WedSync: x"


def test_snapshot_from_graph_reads_utc_instants_with_second_precision():
    event = graph_event(start=dt.datetime(2026, 6, 20, 15, 0, 0, 999, tzinfo=UTC), end=dt.datetime(2026, 6, 20, 12, 0, tzinfo=ZoneInfo("America/New_York")))
    assert snapshot_from_graph(event, PREFS, "client_meeting")["when"] == {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:00:00Z", "allDay": False}


def test_snapshot_from_graph_attendees_only_for_invite_types():
    event = graph_event(attendees=(GraphAttendee("sam@example.com"), GraphAttendee("priya@example.com", "Priya")))
    assert snapshot_from_graph(event, PREFS, "vendor_meeting")["attendees"] == ["priya@example.com", "sam@example.com"]
    assert snapshot_from_graph(event, PREFS, "wedding_reception")["attendees"] is None


def test_html_body_becomes_plain_text():
    body = (
        "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n"
        "<style type=\"text/css\" style=\"display:none;\"> P {margin-top:0;margin-bottom:0;} </style>\r\n</head>\r\n"
        "<body dir=\"ltr\">\r\n<div class=\"elementToProof\">Bring the   venue&nbsp;shortlist &amp; samples.<br>\r\n"
        "Parking at the rear.</div>\r\n<div><br></div>\r\n<p>Call &lt;Sam&gt; first</p>\r\n</body>\r\n</html>\r\n"
    )
    assert html_to_text(body) == "Bring the venue shortlist & samples.\nParking at the rear.\n\nCall <Sam> first"
    event = graph_event(body=body, body_type="html")
    assert snapshot_from_graph(event, PREFS, "client_meeting")["description"].startswith("Bring the venue shortlist")


def test_text_body_is_compared_without_outlook_line_endings():
    event = graph_event(body="Line one\r\nLine two\r\n", body_type="text")
    assert snapshot_from_graph(event, PREFS, "client_meeting")["description"] == "Line one\nLine two"


# --------------------------------------------------------------------------- back to WedSync


def test_wedsync_changes_for_timed_fields():
    current = event_values()
    changes = wedsync_changes(
        {"title": "Tasting", "when": {"start": "2026-06-21T09:00:00Z", "end": "2026-06-21T10:00:00Z", "allDay": False}},
        current_values=current,
    )
    assert changes["title"] == "Tasting"
    assert changes["is_all_day"] is False
    assert changes["starts_at"] == dt.datetime(2026, 6, 21, 9, tzinfo=UTC)
    assert changes["starts_at"].utcoffset() == dt.timedelta(hours=1)  # shown in the event's own zone (BST)
    assert changes["ends_at"] == dt.datetime(2026, 6, 21, 10, tzinfo=UTC)


def test_wedsync_changes_for_all_day_dates_use_the_current_zone():
    changes = wedsync_changes({"when": {"start": "2026-12-05", "end": "2026-12-06", "allDay": True}}, current_values=event_values(time_zone="Asia/Kolkata"))
    tz = ZoneInfo("Asia/Kolkata")
    assert changes == {"starts_at": dt.datetime(2026, 12, 5, tzinfo=tz), "ends_at": dt.datetime(2026, 12, 6, tzinfo=tz), "is_all_day": True}


def test_wedsync_changes_keep_known_attendee_names():
    changes = wedsync_changes({"attendees": ["new@example.com", "priya@example.com"], "location": "", "description": "x"}, current_values=event_values())
    assert changes["attendees"] == [{"name": "", "email": "new@example.com"}, {"name": "Priya Shah", "email": "priya@example.com"}]
    assert changes["location"] == "" and changes["description"] == "x"
    assert wedsync_changes({"attendees": None}, current_values=event_values()) == {}
    with pytest.raises(ValueError):
        wedsync_changes({"colour": "red"}, current_values=event_values())


def test_merged_snapshot_applied_to_wedsync_gives_the_same_snapshot():
    current = event_values()
    fields = {"title": "Final fitting", "when": {"start": "2026-07-01", "end": "2026-07-02", "allDay": True}, "attendees": ["sam@example.com"]}
    updated = {**current, **wedsync_changes(fields, current_values=current)}
    snapshot = snapshot_from_wedsync(updated, PREFS)
    assert {k: snapshot[k] for k in fields} == fields


# --------------------------------------------------------------------------- travel and tags


def test_travel_block_ends_at_the_event_start():
    values = event_values(travel_minutes=45)
    prefs = SyncPreferences(sync_travel_time=True)
    payload = travel_payload(values, prefs, integration_id=INTEGRATION_ID)
    assert payload["subject"] == "WedSync: Travel to Consultation with Priya & Sam"
    assert payload["start"] == {"dateTime": "2026-06-20T15:15:00.0000000", "timeZone": "GMT Standard Time"}
    assert payload["end"] == {"dateTime": "2026-06-20T16:00:00.0000000", "timeZone": "GMT Standard Time"}
    assert payload["showAs"] == "busy"
    assert payload["categories"] == ["WedSync · Travel"]
    assert payload["singleValueExtendedProperties"] == [{"id": TAG_PROPERTY_ID, "value": f"{INTEGRATION_ID}:travel:{EVENT_ID}"}]
    assert payload["transactionId"] == transaction_id(INTEGRATION_ID, f"travel:{EVENT_ID}")
    assert payload["transactionId"] != transaction_id(INTEGRATION_ID, EVENT_ID)
    assert "attendees" not in payload
    echoed = GraphEvent.from_json({"id": "AAMk-4", **payload})
    assert tag_of(echoed, INTEGRATION_ID) == ("travel", EVENT_ID)
    read_back = snapshot_from_graph(echoed, prefs, "client_meeting")
    assert {k: read_back[k] for k in ("title", "when")} == travel_snapshot(values)


@pytest.mark.parametrize(
    "values, prefs",
    [
        (event_values(travel_minutes=45), SyncPreferences()),  # travel time off
        (event_values(travel_minutes=None), SyncPreferences(sync_travel_time=True)),
        (event_values(travel_minutes=0), SyncPreferences(sync_travel_time=True)),
        (event_values(travel_minutes=45, is_all_day=True), SyncPreferences(sync_travel_time=True)),
        (event_values(travel_minutes=45), SyncPreferences(sync_travel_time=True, sync_client_meetings=False)),
    ],
)
def test_no_travel_block(values, prefs):
    assert travel_payload(values, prefs, integration_id=INTEGRATION_ID) is None


def test_tag_of_ignores_the_suppliers_own_events_and_other_integrations():
    assert tag_of(graph_event(), "i1") is None
    assert tag_of(graph_event(extended_properties={TAG_PROPERTY_ID.lower(): "i1:abc"}), "i1") == ("event", "abc")
    assert tag_of(graph_event(extended_properties={TAG_PROPERTY_ID.lower(): "i1:abc"}), "i2") is None
    assert tag_of(graph_event(extended_properties={TAG_PROPERTY_ID.lower(): "abc"}), "i1") is None  # untagged by integration: not ours
    assert tag_of(graph_event(extended_properties={TAG_PROPERTY_ID.lower(): "i1:travel:"}), "i1") is None
