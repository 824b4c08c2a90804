"""Outlook changes events by itself (graph_emulator/outlook.py): text bodies become HTML, attendees answer,
reminders fire. Each is a real change: new changeKey, in delta, notified."""
from __future__ import annotations

import datetime as dt

from .conftest import event_payload
from .test_subscriptions import subscribe

WINDOW = {"startDateTime": "2026-06-01T00:00:00Z", "endDateTime": "2026-07-01T00:00:00Z"}


def _delta_link(graph):
    page = graph.get("/me/calendarView/delta", params=WINDOW).json()
    return page["@odata.deltaLink"]


def test_text_body_becomes_html_later_with_a_new_change_key(alice, control):
    _user, graph = alice
    control.set_config(html_body_conversion_s=None)  # the test decides when
    created = graph.post("/me/events", json=event_payload(body={"contentType": "text", "content": "Bring the menu\nand wine"})).json()
    assert created["body"]["contentType"] == "text"
    link = _delta_link(graph)
    assert control.run_outlook(convert_bodies=True)["converted"] == 1
    read = graph.get(f"/me/events/{created['id']}").json()
    assert read["body"]["contentType"] == "html" and "Bring the menu<br>and wine" in read["body"]["content"]
    assert read["changeKey"] != created["changeKey"]
    changes = graph.get(link).json()["value"]
    assert [c["id"] for c in changes] == [created["id"]] and changes[0]["body"]["contentType"] == "html"


def test_text_body_conversion_is_on_by_default(alice, control, receiver):
    """With the default settings the conversion happens by itself, a couple of seconds after the write."""
    _user, graph = alice
    control.set_config(html_body_conversion_s=0.3)
    subscribe(graph, receiver, changeType="updated")
    created = graph.post("/me/events", json=event_payload(body={"contentType": "text", "content": "hi"})).json()

    def converted(posts):
        return any(v["resourceData"]["@odata.etag"] != created["@odata.etag"] for p in posts for v in p["payload"]["value"])

    receiver.wait_for(converted)
    assert graph.get(f"/me/events/{created['id']}").json()["body"]["contentType"] == "html"


def test_attendee_response_changes_the_event(alice, control):
    _user, graph = alice
    control.set_config(attendee_response_s=None)
    attendees = [{"emailAddress": {"address": "florist@example.com", "name": "Flo"}, "type": "required"}]
    created = graph.post("/me/events", json=event_payload(attendees=attendees)).json()
    assert created["attendees"][0]["status"]["response"] == "none"
    control.respond("alice@contoso.com", created["id"], "florist@example.com", "tentativelyAccepted")
    read = graph.get(f"/me/events/{created['id']}").json()
    assert read["attendees"][0]["status"]["response"] == "tentativelyAccepted"
    assert read["changeKey"] != created["changeKey"]
    control.set_config(attendee_auto_response="declined")
    other = graph.post("/me/events", json=event_payload(attendees=attendees)).json()
    control.run_outlook(respond=True)
    assert graph.get(f"/me/events/{other['id']}").json()["attendees"][0]["status"]["response"] == "declined"


def test_due_reminder_changes_the_event(alice, control):
    _user, graph = alice
    control.set_config(reminders_fire=False)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    start, end = soon.strftime("%Y-%m-%dT%H:%M:00"), (soon + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00")
    due = graph.post("/me/events", json=event_payload(start=start, end=end, reminderMinutesBeforeStart=15)).json()
    later = graph.post("/me/events", json=event_payload(start="2027-06-01T10:00:00", end="2027-06-01T11:00:00")).json()
    assert control.run_outlook(fire_reminders=True)["reminders"] == 1
    assert graph.get(f"/me/events/{due['id']}").json()["changeKey"] != due["changeKey"]
    assert graph.get(f"/me/events/{later['id']}").json()["changeKey"] == later["changeKey"]
    assert control.run_outlook(fire_reminders=True)["reminders"] == 0  # once per occurrence
