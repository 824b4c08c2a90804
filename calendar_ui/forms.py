"""HTML forms of the supplier pages.

The forms only parse what the browser sends into the shapes the actions take
(``update_settings`` changes, ``resolve_conflict`` resolutions, event values);
the rules themselves (prefix length, reminder limits, valid events, ...) are
checked by the actions, whose per-field messages are put back on these forms.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import available_timezones

from django import forms

from outlook_sync.sync import mapping
from wedsync.events.models import EventType

from . import display

SEPARATE_CALENDAR = "__separate__"

#: Action error keys (the API's camelCase) -> form field names.
PREFERENCE_FIELD_FOR_KEY = {
    "syncClientMeetings": "syncClientMeetings",
    "syncWeddingEvents": "syncWeddingEvents",
    "syncDeadlines": "syncDeadlines",
    "syncTravelTime": "syncTravelTime",
    "eventPrefix": "eventPrefix",
    "createSeparateCalendar": "calendar",
    "notificationMinutes": "notificationMinutes",
    "inviteAttendeesFor": "inviteAttendeesFor",
    "calendarId": "calendar",
    "syncDirection": "syncDirection",
    "syncEnabled": "syncEnabled",
    "webhookEnabled": "webhookEnabled",
    "busyCalendarIds": "busy",
}


#: The event types whose single new events may mail their guests an Outlook invitation.
INVITE_CHOICES = [(t, mapping.EVENT_TYPE_LABELS[t]) for t in mapping.EVENT_TYPES if t in mapping.INVITABLE_TYPES]


class PreferencesForm(forms.Form):
    """Everything on the settings page, turned into one ``update_settings`` call."""

    calendar = forms.ChoiceField(label="Outlook calendar to use", required=False)
    syncDirection = forms.ChoiceField(label="Which way should changes go?", widget=forms.RadioSelect,
                                      choices=[(value, label) for value, label, _ in display.DIRECTION_CHOICES])
    syncEnabled = forms.BooleanField(label="Keep my calendars in step", required=False,
                                     help_text="Untick to pause syncing without disconnecting.")
    syncClientMeetings = forms.BooleanField(label="Client meetings & consultations", required=False)
    syncWeddingEvents = forms.BooleanField(label="Wedding events", required=False)
    syncDeadlines = forms.BooleanField(label="Deadlines & tasks", required=False)
    eventPrefix = forms.CharField(label="Start Outlook titles with", required=False, strip=False,
                                  help_text="So you can tell WedSync bookings apart in Outlook, e.g. “WedSync: ”. Leave empty for none.")
    notificationMinutes = forms.TypedMultipleChoiceField(label="Remind me", coerce=int, required=False,
                                                         widget=forms.CheckboxSelectMultiple)
    syncTravelTime = forms.BooleanField(label="Block travel time before events", required=False,
                                        help_text="Adds a “Travel” block before events that have a travel time.")
    inviteAttendeesFor = forms.MultipleChoiceField(label="Send Outlook invitations to clients for", required=False,
                                                   widget=forms.CheckboxSelectMultiple, choices=INVITE_CHOICES)
    busy = forms.MultipleChoiceField(label="Check these calendars for double bookings", required=False, widget=forms.CheckboxSelectMultiple)
    webhookEnabled = forms.BooleanField(label="Instant updates from Outlook", required=False,
                                        help_text="Outlook tells us straight away when you change something there. "
                                                  "When off, we check for changes every few minutes.")

    def __init__(self, *args, integration, calendars=None, **kwargs):
        self.integration = integration
        prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
        self.prefs = prefs
        kwargs.setdefault("initial", {
            "calendar": SEPARATE_CALENDAR if prefs.create_separate_calendar else (integration.calendar_id or ""),
            "syncDirection": integration.sync_direction,
            "syncEnabled": integration.sync_enabled,
            "syncClientMeetings": prefs.sync_client_meetings,
            "syncWeddingEvents": prefs.sync_wedding_events,
            "syncDeadlines": prefs.sync_deadlines,
            "eventPrefix": prefs.event_prefix,
            "notificationMinutes": list(prefs.notification_minutes),
            "syncTravelTime": prefs.sync_travel_time,
            "inviteAttendeesFor": sorted(prefs.invite_attendees_for & mapping.INVITABLE_TYPES),
            "webhookEnabled": integration.webhook_enabled,
            "busy": list(integration.busy_calendars.values_list("calendar_id", flat=True)),
        })
        super().__init__(*args, **kwargs)
        self.calendars = calendars
        self.fields["busy"].choices = [(c.id, c.name) for c in calendars or []]
        if calendars is None:  # Outlook couldn't be asked: offer the calendar we already use
            choices = [(integration.calendar_id or "", integration.calendar_name or "(no calendar chosen)")]
        else:
            choices = [(c.id, c.name + ("" if c.can_edit else " (read only)")) for c in calendars]
            if integration.calendar_id and integration.calendar_id not in {c.id for c in calendars}:
                choices.insert(0, (integration.calendar_id, integration.calendar_name or "Current calendar"))
        choices.append((SEPARATE_CALENDAR, "Create a separate WedSync calendar"))
        self.fields["calendar"].choices = choices
        reminders = sorted(set(display.REMINDER_CHOICES) | set(prefs.notification_minutes))
        self.fields["notificationMinutes"].choices = [(m, display.reminder_label(m)) for m in reminders]

    def changes(self) -> dict:
        """The ``update_settings`` changes for the cleaned form."""
        data = self.cleaned_data
        preferences = {
            "syncClientMeetings": data["syncClientMeetings"],
            "syncWeddingEvents": data["syncWeddingEvents"],
            "syncDeadlines": data["syncDeadlines"],
            "syncTravelTime": data["syncTravelTime"],
            "eventPrefix": data["eventPrefix"],
            "notificationMinutes": list(data["notificationMinutes"]),
            "inviteAttendeesFor": list(data["inviteAttendeesFor"]),
        }
        changes: dict = {
            "syncDirection": data["syncDirection"],
            "syncEnabled": data["syncEnabled"],
            "webhookEnabled": data["webhookEnabled"],
        }
        calendar = data.get("calendar") or ""
        if calendar == SEPARATE_CALENDAR:
            preferences["createSeparateCalendar"] = True
        else:
            if self.prefs.create_separate_calendar:
                preferences["createSeparateCalendar"] = False
            if calendar:
                changes["calendarId"] = calendar
        changes["syncPreferences"] = preferences
        if self.calendars is not None:  # the ticks are only offered (and so only replaced) when the list is known
            changes["busyCalendarIds"] = [c for c in data["busy"] if c != changes.get("calendarId")]
        return changes

    def add_action_errors(self, details: dict | None, message: str) -> None:
        """Put an action's per-field messages next to the fields (anything else at the top)."""
        placed = False
        for key, text in (details or {}).items():
            name = PREFERENCE_FIELD_FOR_KEY.get(key)
            if name:
                self.add_error(name, str(text))
                placed = True
        if not placed:
            self.add_error(None, message)


class SetupForm(forms.Form):
    """The guided connect step: where WedSync writes, which calendars count as busy, who gets invitations.

    Choices come from the calendar list the worker cached on the integration.
    """

    calendar = forms.ChoiceField(label="Add WedSync events to", widget=forms.RadioSelect)
    busy = forms.MultipleChoiceField(label="Check these calendars for double bookings", required=False, widget=forms.CheckboxSelectMultiple)
    inviteAttendeesFor = forms.MultipleChoiceField(label="Send Outlook invitations to clients for", required=False,
                                                   widget=forms.CheckboxSelectMultiple, choices=INVITE_CHOICES)

    def __init__(self, *args, integration, calendars, busy_ids, **kwargs):
        prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
        self.prefs = prefs
        kwargs.setdefault("initial", {
            "calendar": SEPARATE_CALENDAR if prefs.create_separate_calendar else (integration.calendar_id or ""),
            "busy": list(busy_ids),
            "inviteAttendeesFor": sorted(prefs.invite_attendees_for & mapping.INVITABLE_TYPES),
        })
        super().__init__(*args, **kwargs)
        self.calendars = calendars
        self.fields["calendar"].choices = [(c.id, c.name) for c in calendars if c.can_edit] + [
            (SEPARATE_CALENDAR, "A new calendar called “WedSync”, just for WedSync's events")]
        self.fields["busy"].choices = [(c.id, c.name) for c in calendars]

    def calendar_name(self) -> str:
        chosen = self.cleaned_data.get("calendar") if hasattr(self, "cleaned_data") else self["calendar"].value()
        if chosen == SEPARATE_CALENDAR:
            return "WedSync"
        return next((c.name for c in self.calendars if c.id == chosen), "")

    def busy_names(self) -> list[str]:
        chosen = self.cleaned_data.get("calendar")
        return [c.name for c in self.calendars if c.id in set(self.cleaned_data.get("busy") or []) and c.id != chosen]

    def preferences(self) -> mapping.SyncPreferences:
        """The preferences as they will be once confirmed (for the preview)."""
        return mapping.SyncPreferences.from_json({**self.prefs.to_json(), **self.changes()["syncPreferences"]})

    def changes(self) -> dict:
        """The ``update_settings`` changes that confirm the step."""
        data = self.cleaned_data
        preferences = {"inviteAttendeesFor": list(data["inviteAttendeesFor"]), "createSeparateCalendar": data["calendar"] == SEPARATE_CALENDAR}
        changes: dict = {"syncPreferences": preferences, "busyCalendarIds": [c for c in data["busy"] if c != data["calendar"]]}
        if data["calendar"] != SEPARATE_CALENDAR:
            changes["calendarId"] = data["calendar"]
        return changes


# --- conflicts ---
class ConflictChoiceForm(forms.Form):
    """One field of one conflict: keep a side (optionally as the default rule) or enter a custom value."""

    field = forms.ChoiceField(choices=[(f, f) for f in (*mapping.SNAPSHOT_FIELDS, "deleted")])
    use = forms.ChoiceField(choices=[("wedsync", "wedsync"), ("outlook", "outlook"), ("custom", "custom")])
    setAsDefault = forms.BooleanField(required=False)
    text = forms.CharField(required=False, strip=False)
    start = forms.CharField(required=False)
    end = forms.CharField(required=False)
    allDay = forms.BooleanField(required=False)

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone

    def resolution(self) -> tuple[dict, bool]:
        """``(resolutions, set_as_default)`` for ``resolve_conflict``; custom values in the API's form."""
        data = self.cleaned_data
        field, use = data["field"], data["use"]
        if use != "custom":
            return {field: {"useValue": use}}, data["setAsDefault"]
        return {field: {"useValue": "custom", "customValue": self._custom_value(field)}}, False

    def _custom_value(self, field: str):
        data = self.cleaned_data
        if field == "when":
            zone = display.zone_or_default(self.time_zone)
            if data["allDay"]:
                start, last = (str(data[k] or "")[:10] for k in ("start", "end"))
                try:
                    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
                except ValueError:
                    end = last
                return {"start": start, "end": end, "allDay": True}
            values = {}
            for key in ("start", "end"):
                try:
                    values[key] = dt.datetime.fromisoformat(str(data[key] or "")).replace(tzinfo=zone).isoformat()
                except ValueError:
                    values[key] = str(data[key] or "")
            return {**values, "allDay": False}
        if field == "attendees":
            return [part for part in re.split(r"[\s,;]+", data["text"] or "") if part]
        return data["text"] or ""


# --- mapped events list ---
class MappedEventsFilterForm(forms.Form):
    eventType = forms.ChoiceField(label="Type", required=False, choices=[("", "All types"), *EventType.choices])
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *display.MAPPING_STATUS_LABELS.items()])
    startDate = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    endDate = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("startDate") and data.get("endDate") and data["endDate"] < data["startDate"]:
            self.add_error("endDate", "The end date must be on or after the start date.")
        return data


# --- WedSync events ---
def _zone_choices():
    return [(z, z.replace("_", " ")) for z in sorted(available_timezones()) if "/" in z and not z.startswith(("Etc/", "SystemV/"))] + [("UTC", "UTC")]


class EventForm(forms.Form):
    """A WedSync calendar event; times are entered as wall-clock times in the chosen time zone."""

    event_type = forms.ChoiceField(label="Type", choices=EventType.choices)
    title = forms.CharField(label="Title", max_length=255)
    is_all_day = forms.BooleanField(label="All day", required=False)
    starts_at = forms.DateTimeField(label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    ends_at = forms.DateTimeField(label="Ends", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                                  input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
                                  help_text="For an all-day event, the end is the last day it covers.")
    time_zone = forms.ChoiceField(label="Time zone")
    location = forms.CharField(label="Location", max_length=255, required=False)
    description = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    client_name = forms.CharField(label="Client", max_length=255, required=False)
    wedding_reference = forms.CharField(label="Wedding reference", max_length=255, required=False)
    travel_minutes = forms.IntegerField(label="Travel time (minutes)", required=False, min_value=0, max_value=1440)
    attendees = forms.CharField(label="Guests", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                help_text="One per line: Name <email@example.com>, or just the email address.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zone_choices()

    @classmethod
    def initial_for(cls, event) -> dict:
        zone = display.zone_or_default(event.time_zone)
        starts, ends = event.starts_at.astimezone(zone), event.ends_at.astimezone(zone)
        if event.is_all_day:
            ends = ends - dt.timedelta(days=1)
        return {
            "event_type": event.event_type, "title": event.title, "is_all_day": event.is_all_day,
            "starts_at": starts.replace(tzinfo=None), "ends_at": ends.replace(tzinfo=None), "time_zone": event.time_zone,
            "location": event.location, "description": event.description, "client_name": event.client_name,
            "wedding_reference": event.wedding_reference, "travel_minutes": event.travel_minutes,
            "attendees": "\n".join(f"{a.get('name')} <{a.get('email')}>" if a.get("name") else a.get("email", "") for a in event.attendees or []),
        }

    def clean_starts_at(self):
        return _naive(self.cleaned_data["starts_at"])

    def clean_ends_at(self):
        return _naive(self.cleaned_data["ends_at"])

    def clean_attendees(self):
        attendees = []
        for line in (self.cleaned_data.get("attendees") or "").splitlines():
            line = line.strip()
            if not line:
                continue
            match = re.match(r"^(?P<name>.*?)\s*<(?P<email>[^>]+)>$", line)
            if match:
                attendees.append({"name": match["name"].strip().strip('"'), "email": match["email"].strip()})
            else:
                attendees.append({"name": "", "email": line})
        return attendees

    def event_values(self) -> dict:
        """Keyword arguments for ``create_event``/``update_event`` (aware datetimes in the chosen zone)."""
        data = dict(self.cleaned_data)
        starts_at, ends_at = aware_times(data["starts_at"], data["ends_at"], data["time_zone"], data["is_all_day"])
        return {
            "event_type": data["event_type"], "title": data["title"], "description": data["description"],
            "location": data["location"], "starts_at": starts_at, "ends_at": ends_at, "time_zone": data["time_zone"],
            "is_all_day": data["is_all_day"], "attendees": data["attendees"], "client_name": data["client_name"],
            "wedding_reference": data["wedding_reference"], "travel_minutes": data["travel_minutes"],
        }

    def add_action_errors(self, errors: dict) -> None:
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    """The wall-clock time the supplier typed (Django made it aware in the site zone; the event's zone is applied later)."""
    if value is not None and value.tzinfo is not None:
        from django.utils import timezone

        value = timezone.make_naive(value)
    return value


def aware_times(starts: dt.datetime, ends: dt.datetime, zone_name: str, all_day: bool) -> tuple[dt.datetime, dt.datetime]:
    """Wall-clock inputs in ``zone_name`` as aware datetimes; all-day covers whole days up to the end date inclusive."""
    zone = display.zone_or_default(zone_name)
    if all_day:
        start_day = starts.date()
        end_day = max(ends.date(), start_day) + dt.timedelta(days=1)
        return dt.datetime.combine(start_day, dt.time(), zone), dt.datetime.combine(end_day, dt.time(), zone)
    return starts.replace(tzinfo=zone), ends.replace(tzinfo=zone)


class BusyCheckForm(forms.Form):
    """The start/end being typed on the event form, for the double-booking check."""

    starts_at = EventForm.base_fields["starts_at"].__class__(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    ends_at = EventForm.base_fields["ends_at"].__class__(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    time_zone = forms.CharField(required=False)
    is_all_day = forms.BooleanField(required=False)
    event_type = forms.CharField(required=False)
    event_id = forms.UUIDField(required=False)

    def clean_starts_at(self):
        return _naive(self.cleaned_data["starts_at"])

    def clean_ends_at(self):
        return _naive(self.cleaned_data["ends_at"])

    def window(self) -> tuple[dt.datetime, dt.datetime] | None:
        data = self.cleaned_data
        starts_at, ends_at = aware_times(data["starts_at"], data["ends_at"], data.get("time_zone") or "UTC", data["is_all_day"])
        return (starts_at, ends_at) if ends_at > starts_at else None
