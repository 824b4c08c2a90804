"""Disconnect runs in the background (issue 13 item 6, issue 17 item 3): state, progress, retries, a revoked token.

All through public surfaces: the HTTP API, the settings pages (Django's test client, htmx headers), the real
Celery worker and the Graph emulator over HTTPS, with its fault injection playing a busy Outlook.
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, disconnect, graph_when, wait_for_disconnect, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def four_synced(api_client, graph, supplier, settings):
    """Four WedSync events copied to Outlook beside the supplier's own dentist appointment."""
    settings.DISCONNECT_RETRY_SECONDS = 0.2  # a busy Outlook is tried again quickly in tests
    for n in range(4):
        answer = api_client.post("/api/events/", {"eventType": "client_meeting", "title": f"Meeting {n}", "startsAt": at(2 + n, 10).isoformat(),
                                                  "endsAt": at(2 + n, 11).isoformat(), "timeZone": "Europe/London"})
        assert answer.status_code == 201, answer.content
    graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 14), at(3, 15))})
    connect(api_client, graph)
    wait_for_idle(api_client)
    copies = {row["outlookEventId"] for row in api_client.get(f"{BASE}/events").json()["events"]}
    assert len(copies) == 4
    return sorted(copies)


def _page(client, path="/calendar/outlook/disconnect/", **extra) -> str:
    return re.sub(r"\s+", " ", client.get(path, **extra).content.decode())


def test_progress_is_visible_while_outlook_is_busy_and_nothing_else_may_sync_meanwhile(api_client, graph, four_synced, supplier):
    from django.test import Client

    browser = Client()
    browser.force_login(supplier)
    stuck = four_synced[-1]
    # Outlook keeps answering "slow down" to the delete of one copy (throttling.md: 429 with Retry-After).
    graph.inject_fault("DELETE", re.escape(stuck), status=429, retry_after=0, count=None)

    answer = browser.post("/calendar/outlook/disconnect/", {"events": "remove"})
    assert answer.status_code == 302 and answer["Location"] == "/calendar/outlook/disconnect/"

    def waiting():
        state = api_client.get(f"{BASE}/integration").json()
        progress = state["disconnect"]
        return state if progress["problem"] and progress["eventsRemoved"] == 3 else None

    state = wait_for(waiting, timeout=60, message="the disconnect to wait for a busy Outlook")
    progress = state["disconnect"]
    assert state["connectionState"] == "disconnecting"
    assert (progress["status"], progress["eventsToRemove"], progress["eventsRemoved"]) == ("in_progress", 4, 3)
    assert progress["summary"] == "Disconnecting… 3 of 4 removed." and progress["problem"] == "Outlook is busy, we'll keep trying."
    # GET /sync shows it too, and the page polls a progress box that says the same in words.
    status = api_client.get(f"{BASE}/sync").json()["integration"]
    assert status["connectionState"] == "disconnecting" and status["disconnect"]["eventsRemoved"] == 3
    box = _page(browser, "/calendar/outlook/disconnect/progress/", **HTMX)
    assert 'hx-trigger="every 1s"' in box and "Disconnecting… 3 of 4 removed." in box and "Outlook is busy, we&#x27;ll keep trying." in box
    assert browser.get("/calendar/outlook/")["Location"] == "/calendar/outlook/disconnect/"  # the settings page shows the progress
    # Meanwhile nothing syncs and nobody connects: a clear 409 in the contract's error shape.
    for method, path, body in (("post", f"{BASE}/sync", {"syncType": "full_sync"}), ("get", f"{BASE}/auth", None),
                               ("put", f"{BASE}/settings", {"syncEnabled": False})):
        refused = getattr(api_client, method)(path, body) if body is not None else getattr(api_client, method)(path)
        assert refused.status_code == 409, (path, refused.content)
        assert refused.json()["success"] is False and refused.json()["error"]["code"] == "disconnecting", refused.json()
    # Asking again answers the same disconnect, with the first choice (the page's button sent twice too).
    again = api_client.delete(f"{BASE}/integration?removeEvents=false")
    assert again.status_code == 202 and again.json()["disconnectId"] == progress["id"] and again.json()["eventsToRemove"] == 4
    assert browser.post("/calendar/outlook/disconnect/", {"events": "keep"})["Location"] == "/calendar/outlook/disconnect/"

    graph.clear_faults()  # Outlook answers again: the worker's next attempt finishes
    done = wait_for_disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsToRemove"], done["eventsNotRemoved"], done["mappingsDeleted"], done["problem"]) == (4, 4, 0, 4, "")
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
    final = _page(browser, "/calendar/outlook/disconnect/progress/", **HTMX)
    assert "hx-trigger" not in final and "Outlook is disconnected. We removed 4 events WedSync had added" in final
    assert api_client.get(f"{BASE}/sync").status_code == 404


def test_a_copy_changed_in_outlook_meanwhile_is_read_again_and_removed(api_client, graph, four_synced):
    # The first delete of one copy meets a changed event (412: our If-Match changeKey is stale); it is read and deleted again.
    graph.inject_fault("DELETE", re.escape(four_synced[0]), status=412, count=1)
    graph.reset_stats()

    _, done = disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsToRemove"], done["eventsNotRemoved"]) == (4, 4, 0), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
    stats = graph.stats()
    assert stats["batch_item_status_counts"].get("412") == 1, stats  # the stale changeKey was really met ...
    assert stats["by_endpoint"].get("GET /me/events/{id}") == 1 and stats["by_endpoint"].get("DELETE /me/events/{id}") == 1, stats  # ... then read and deleted


def test_copies_whose_mapping_was_lost_are_found_by_their_tag_and_counted(api_client, graph, four_synced, supplier):
    from outlook_sync.models import OutlookEventMapping

    # A crash between a create and its mapping leaves a tagged copy without a mapping (rows removed here to play it).
    OutlookEventMapping.objects.filter(integration__user=supplier, outlook_event_id=four_synced[1]).delete()

    answer, done = disconnect(api_client)

    assert answer["eventsToRemove"] == 3 and (done["eventsToRemove"], done["eventsRemoved"], done["mappingsDeleted"]) == (4, 4, 3), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]


def test_a_revoked_connection_finishes_locally_and_says_which_copies_stay_in_outlook(api_client, graph, four_synced, supplier):
    from django.test import Client

    graph.revoke_refresh_tokens(MAILBOX)  # the supplier removed WedSync's access in their Microsoft account
    graph.expire_access_tokens(MAILBOX)

    _, done = disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsNotRemoved"], done["mappingsDeleted"]) == (0, 4, 4), done
    assert "Microsoft no longer accepts WedSync's connection" in done["summary"]
    assert "couldn't remove the other 4 events WedSync had added: they are still in your Outlook calendar" in done["summary"]
    settle(graph)
    assert len(graph.events(MAILBOX)) == 5  # nothing could be removed; nothing else was touched
    assert api_client.get(f"{BASE}/sync").status_code == 404
    browser = Client()
    browser.force_login(supplier)
    assert "they are still in your Outlook calendar" in _page(browser).replace("&#x27;", "'")


def test_an_unreachable_outlook_is_retried_and_said_in_words(api_client, graph, four_synced):
    # Outlook answers one copy's delete with 503 ServiceUnavailable (errors.md: transient) until it recovers.
    graph.inject_fault("DELETE", re.escape(four_synced[0]), status=503, retry_after=0, count=None)

    assert api_client.delete(f"{BASE}/integration").status_code == 202
    waiting = wait_for(lambda: (d := api_client.get(f"{BASE}/integration").json()["disconnect"])["problem"] and d, timeout=60, message="a retry")
    assert waiting["problem"] == "We can't reach Outlook just now, we'll keep trying." and waiting["status"] == "in_progress"
    assert "503" not in waiting["summary"] + waiting["problem"] and "ServiceUnavailable" not in waiting["problem"]  # never provider codes

    graph.clear_faults()
    done = wait_for_disconnect(api_client)
    assert (done["eventsRemoved"], done["eventsToRemove"], done["problem"]) == (4, 4, ""), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]


def _copy_of(api_client, title: str) -> tuple[str, str]:
    """``(WedSync event id, Outlook copy id)`` of the synced event with this title."""
    row = next(r for r in api_client.get(f"{BASE}/events").json()["events"] if r["outlookEventTitle"] == title)
    return row["wedSyncEventId"], row["outlookEventId"]


def test_an_outlook_edit_since_the_last_sync_reaches_wedsync_before_its_copy_is_removed(api_client, graph, four_synced):
    event_id, copy = _copy_of(api_client, "Meeting 0")
    # The supplier edits WedSync's copy in Outlook; no webhook URL here, so the notification is lost: no sync saw it.
    graph.update_event(MAILBOX, copy, {"subject": "WedSync: Meeting 0 with Rosa", "location": {"displayName": "The Orangery"}})

    _, done = disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsToRemove"], done["eventsNotRemoved"], done["mappingsDeleted"]) == (4, 4, 0, 4), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
    event = api_client.get(f"/api/events/{event_id}/").json()
    assert (event["title"], event["location"]) == ("Meeting 0 with Rosa", "The Orangery")  # the supplier's last Outlook edit is kept


def test_a_conflict_open_at_disconnect_keeps_wedsyncs_version_and_notes_outlooks(api_client, graph, four_synced):
    event_id, copy = _copy_of(api_client, "Meeting 1")
    graph.update_event(MAILBOX, copy, {"location": {"displayName": "The Orangery"}})  # notification lost
    edited = api_client.patch(f"/api/events/{event_id}/", {"location": "The Walled Garden"})
    assert edited.status_code == 200, edited.content
    wait_for(lambda: next(r for r in api_client.get(f"{BASE}/events").json()["events"] if r["wedSyncEventId"] == event_id)["syncStatus"] == "conflict",
             message="the location conflict")
    wait_for_idle(api_client)

    _, done = disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsNotRemoved"]) == (4, 0), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
    event = api_client.get(f"/api/events/{event_id}/").json()
    assert event["location"] == "The Walled Garden"  # WedSync's own version stays ...
    assert "its copy of this event differed; WedSync kept its own version" in event["description"]  # ... and Outlook's is noted
    assert "- location: “The Orangery”" in event["description"]


def test_a_disconnect_whose_task_was_lost_is_sent_again_by_the_safety_net_beat(api_client, graph, four_synced, settings, monkeypatch):
    from kombu.exceptions import OperationalError

    from outlook_sync import tasks
    from tests.conftest import settle

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    # The broker is unreachable just when the supplier asks (only this send fails; the worker keeps running).
    monkeypatch.setattr(tasks.disconnect_integration, "apply_async", broker_down)
    answer = api_client.delete(f"{BASE}/integration")
    assert answer.status_code == 202, answer.content  # the request never fails for the broker
    monkeypatch.undo()
    settle()
    lost = api_client.get(f"{BASE}/integration").json()
    assert lost["connectionState"] == "disconnecting" and lost["disconnect"]["eventsRemoved"] == 0, lost

    # A disconnect asked less than DISCONNECT_RESEND_AFTER_SECONDS ago may still be on its way: the beat leaves it.
    tasks.safety_net_sync.delay()
    settle()
    assert api_client.get(f"{BASE}/integration").json()["connectionState"] == "disconnecting"
    assert len(graph.events(MAILBOX)) == 5

    settings.DISCONNECT_RESEND_AFTER_SECONDS = 0  # ... time has passed: no worker began it, so its task was lost
    tasks.safety_net_sync.delay()
    done = wait_for_disconnect(api_client)

    assert (done["eventsRemoved"], done["eventsToRemove"], done["mappingsDeleted"]) == (4, 4, 4), done
    assert [e["subject"] for e in graph.events(MAILBOX)] == ["Dentist"]
