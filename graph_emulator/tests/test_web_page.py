"""The Outlook-like page at the emulator's root: a person edits, moves and deletes events with plain forms,
and Graph clients see it as any Outlook change (new changeKey, delta, notifications)."""
from __future__ import annotations

from .conftest import event_payload, http_session
from .test_subscriptions import subscribe

JUNE = {"startDateTime": "2026-06-01T00:00:00Z", "endDateTime": "2026-07-01T00:00:00Z"}


def test_week_grid_edit_move_and_delete_go_through_graph(emulator, alice, control, receiver):
    _user, graph = alice
    event = graph.post("/me/events", json=event_payload(subject="Tasting", start="2026-06-17T16:00:00", end="2026-06-17T17:00:00")).json()
    link = graph.get("/me/calendarView/delta", params=JUNE).json()["@odata.deltaLink"]
    subscribe(graph, receiver, changeType="updated,deleted")
    browser = http_session(emulator)
    week = browser.get(f"{emulator.base_url}/", params={"user": "alice@contoso.com", "week": "2026-06-15"})
    assert week.status_code == 200 and "Tasting" in week.text and "Wed 17 Jun" in week.text
    page = browser.get(f"{emulator.base_url}/outlook/events/{event['id']}")  # the cookie keeps the mailbox
    assert page.status_code == 200 and "value='Tasting'" in page.text
    saved = browser.post(f"{emulator.base_url}/outlook/events/{event['id']}", allow_redirects=False, data={
        "action": "save", "subject": "Tasting (moved)", "start": "2026-06-18T10:00", "end": "2026-06-18T11:30",
        "location": "Kitchen", "showAs": "tentative", "body": "Bring wine"})
    assert saved.status_code == 303
    read = graph.get(f"/me/events/{event['id']}").json()
    assert read["subject"] == "Tasting (moved)" and read["start"]["dateTime"].startswith("2026-06-18T10:00")
    assert read["showAs"] == "tentative" and read["changeKey"] != event["changeKey"]
    changes = graph.get(link).json()["value"]
    assert [c["subject"] for c in changes] == ["Tasting (moved)"]
    deleted = browser.post(f"{emulator.base_url}/outlook/events/{event['id']}", data={"action": "delete"}, allow_redirects=False)
    assert deleted.status_code == 303
    assert graph.get(f"/me/events/{event['id']}").status_code == 404
    kinds = receiver.wait_for(lambda n: {"updated", "deleted"} <= {v["changeType"] for p in n for v in p["payload"]["value"]})
    assert kinds


def test_new_event_form_and_bad_input(emulator, alice):
    _user, graph = alice
    browser = http_session(emulator)
    browser.get(f"{emulator.base_url}/", params={"user": "alice@contoso.com"})
    bad = browser.post(f"{emulator.base_url}/outlook/new", data={"subject": "Backwards", "start": "2026-06-18T10:00", "end": "2026-06-18T09:00"})
    assert bad.status_code == 400 and "before the start" in bad.text
    made = browser.post(f"{emulator.base_url}/outlook/new", allow_redirects=False,
                        data={"subject": "Call venue", "start": "2026-06-19T10:00", "end": "2026-06-19T10:30", "showAs": "busy"})
    assert made.status_code == 303
    assert [e["subject"] for e in graph.get("/me/events").json()["value"]] == ["Call venue"]
    assert browser.get(f"{emulator.base_url}/outlook/events/nope").status_code == 404
