"""One supplier's disconnect never harms another (issue 15, item 1, second half).

Suppliers A and B are connected to two separate Microsoft accounts. A's
mailbox also holds events tagged by someone else: one with another
integration's tag (B's integration id) and one with an older install's tag
(no integration id). A disconnects. Checked on both sides: A's own copies are
gone from A's Outlook, the foreign-tagged and the supplier's own events are
still there; B's Outlook and B's WedSync (events, mappings) are exactly what
they were, and B's next sync deletes nothing.
"""
from __future__ import annotations

import uuid

import pytest
from django.forms.models import model_to_dict

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping
from outlook_sync.sync.mapping import TAG_PROPERTY_ID
from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import BASE, connect, disconnect, run_sync, wait_for_idle
from tests.security.conftest import OTHER_MAILBOX, at, create_event, graph_when
from wedsync.events.models import CalendarEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _wedsync_side(user) -> dict:
    return {
        "events": sorted(repr(model_to_dict(e) | {"updated_at": e.updated_at, "version": e.version}) for e in CalendarEvent.objects.filter(supplier=user)),
        "mappings": sorted(repr(model_to_dict(m) | {"id": m.id}) for m in OutlookEventMapping.objects.filter(integration__user=user)),
    }


def _outlook_side(graph, mailbox) -> list:
    graph.run_outlook(convert_bodies=True, respond=True)  # Outlook's own changes happen now, not between two snapshots
    return sorted((e["id"], e["changeKey"], e["subject"]) for e in graph.events(mailbox))


def test_a_disconnect_leaves_another_suppliers_outlook_and_wedsync_untouched(api_client, other_api_client, graph, supplier, other_supplier):
    graph.create_user(OTHER_MAILBOX, "Blake Doe")
    for n in range(3):
        create_event(api_client, f"Avery's meeting {n}", days=2 + n)
        create_event(other_api_client, f"Blake's meeting {n}", days=2 + n)
    connect(other_api_client, graph, email=OTHER_MAILBOX)
    wait_for_idle(other_api_client)
    b_integration = OutlookCalendarIntegration.objects.get(user=other_supplier)
    # In A's mailbox: A's own private event, an event tagged by B's integration, and one from an older install.
    graph.create_event(MAILBOX, {"subject": "Avery's dentist", **graph_when(at(6, 9), at(6, 10))})
    graph.create_event(MAILBOX, {"subject": "Tagged by another integration", **graph_when(at(7, 9), at(7, 10)),
                                 "singleValueExtendedProperties": [{"id": TAG_PROPERTY_ID, "value": f"{b_integration.pk}:{uuid.uuid4()}"}]})
    graph.create_event(MAILBOX, {"subject": "Tagged by an older install", **graph_when(at(8, 9), at(8, 10)),
                                 "singleValueExtendedProperties": [{"id": TAG_PROPERTY_ID, "value": str(uuid.uuid4())}]})
    connect(api_client, graph)
    wait_for_idle(api_client)
    a_copies = {r["outlookEventId"] for r in api_client.get(f"{BASE}/events").json()["events"]}
    assert len(a_copies) == 3
    b_wedsync, b_outlook = _wedsync_side(other_supplier), _outlook_side(graph, OTHER_MAILBOX)
    assert len(b_outlook) == 3 and len(b_wedsync["mappings"]) == 3

    answer, done = disconnect(api_client)  # answered at once (202); the worker removes A's copies

    assert answer["eventsToRemove"] == 3 and (done["eventsRemoved"], done["eventsToRemove"], done["eventsNotRemoved"]) == (3, 3, 0), done
    left_in_a = {e["subject"] for e in graph.events(MAILBOX)}
    assert left_in_a == {"Avery's dentist", "Tagged by another integration", "Tagged by an older install"}
    assert not a_copies & {e["id"] for e in graph.events(MAILBOX)}
    assert CalendarEvent.objects.filter(supplier=supplier, is_deleted=False).count() == 3  # A keeps its WedSync events
    # B: both sides exactly as before, and B's next sync deletes nothing.
    assert _outlook_side(graph, OTHER_MAILBOX) == b_outlook
    assert _wedsync_side(other_supplier) == b_wedsync
    job = run_sync(other_api_client)
    assert job["status"] == "completed" and job["progress"]["deletedEvents"] == 0, job
    assert not CalendarEvent.objects.filter(supplier=other_supplier, is_deleted=True).exists()
    assert _outlook_side(graph, OTHER_MAILBOX) == b_outlook
