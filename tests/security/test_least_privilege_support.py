"""Least-privilege support (issue 15, item 3), through the admin pages over HTTP.

A staff member of the "Support" group (what the demo seeds as ``support``) can
look at integrations and run the four support actions, each of which leaves an
audit row (who, what, when) on the integration's page. They cannot open or
change a user (so cannot set a supplier's password), cannot delete mappings,
runs, busy time, notifications or audit rows, and never see the subject of a
supplier's private Outlook event. Deleting is refused to superusers too.
"""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from outlook_sync.models import (
    OutlookBusyTime,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookNotification,
    OutlookSupportAuditEntry,
    OutlookSyncHistory,
)
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import BASE, connect, outlook_events, wait_for_idle
from tests.security.conftest import at, create_event, graph_when

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SUBJECT = "Dentist: root canal (private)"
INTEGRATIONS = "/admin/outlook_sync/outlookcalendarintegration/"


@pytest.fixture
def connected(api_client, graph, supplier):
    """A supplier with WedSync events, one private Outlook event (busy time) and sync history."""
    events = [create_event(api_client, f"Consultation {n}", days=2 + n) for n in range(2)]
    graph.create_event(MAILBOX, {"subject": SUBJECT, **graph_when(at(5, 7), at(5, 8)), "showAs": "busy"})
    connect(api_client, graph)
    wait_for_idle(api_client)
    wait_for(lambda: OutlookBusyTime.objects.filter(subject=SUBJECT).exists(), message="busy time imported")
    return {"integration": OutlookCalendarIntegration.objects.get(user=supplier), "events": [e["id"] for e in events]}


@pytest.fixture
def support_client(db):
    call_command("ensure_support_group")
    user = get_user_model().objects.create_user(username="support", password="support pass 9", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client = Client()
    assert client.post("/admin/login/?next=/admin/", {"username": "support", "password": "support pass 9", "next": "/admin/"}).status_code == 302
    return client


def _action(client, name: str, integration):
    return client.post(INTEGRATIONS, {"action": name, "_selected_action": [str(integration.pk)], "index": "0"}, follow=True)


def test_support_cannot_change_a_suppliers_password_or_open_users(connected, support_client, supplier):
    for path in ("/admin/auth/user/", f"/admin/auth/user/{supplier.pk}/change/", f"/admin/auth/user/{supplier.pk}/password/", "/admin/auth/group/"):
        assert support_client.get(path).status_code == 403, path
    response = support_client.post(f"/admin/auth/user/{supplier.pk}/password/", {"password1": "taken over 123!", "password2": "taken over 123!"})
    assert response.status_code == 403
    supplier.refresh_from_db()
    assert supplier.check_password("correct horse 9") and not supplier.check_password("taken over 123!")
    assert not get_user_model().objects.get(username="support").is_superuser


@pytest.mark.parametrize("as_superuser", [False, True])
def test_nobody_deletes_mappings_history_busy_time_notifications_or_audit_rows(connected, support_client, django_user_model, as_superuser):
    integration = connected["integration"]
    OutlookSupportAuditEntry.objects.create(integration=integration, integration_label=str(integration), actor_username="x", action="clear_conflicts")
    OutlookNotification.objects.create(integration=integration, subscription_id="s", change_type="updated")
    client = support_client
    if as_superuser:
        django_user_model.objects.create_superuser("root", "root@example.com", "root pass 9")
        client = Client()
        client.force_login(django_user_model.objects.get(username="root"))
    models = {"outlookeventmapping": OutlookEventMapping, "outlooksynchistory": OutlookSyncHistory, "outlookbusytime": OutlookBusyTime,
              "outlooknotification": OutlookNotification, "outlooksupportauditentry": OutlookSupportAuditEntry,
              "outlookcalendarintegration": OutlookCalendarIntegration}
    counts = {name: model.objects.count() for name, model in models.items()}
    assert all(counts.values()), counts
    for name, model in models.items():
        pk = model.objects.values_list("pk", flat=True).first()
        changelist = f"/admin/outlook_sync/{name}/"
        assert client.get(changelist).status_code == 200, name
        assert client.post(f"{changelist}{pk}/delete/", {"post": "yes"}).status_code == 403, name
        bulk = client.post(changelist, {"action": "delete_selected", "_selected_action": [str(pk)], "post": "yes", "index": "0"}, follow=True)
        assert bulk.status_code == 200 and b"delete_selected" not in client.get(changelist).content, name
    assert {name: model.objects.count() for name, model in models.items()} == counts


def test_support_never_sees_a_busy_time_subject(connected, support_client):
    busy = OutlookBusyTime.objects.get(subject=SUBJECT)
    pages = ["/admin/outlook_sync/outlookbusytime/", f"/admin/outlook_sync/outlookbusytime/{busy.pk}/change/",
             f"{INTEGRATIONS}{connected['integration'].pk}/change/"]
    for path in pages:
        response = support_client.get(path)
        assert response.status_code == 200, path
        assert "Dentist" not in response.content.decode() and "root canal" not in response.content.decode(), path
    searched = support_client.get("/admin/outlook_sync/outlookbusytime/", {"q": "Dentist"})
    assert searched.status_code == 200 and "0 results" in searched.content.decode()  # not searchable by subject either


def test_support_runs_the_four_actions_and_each_leaves_an_audit_row(connected, support_client, api_client, graph, supplier):
    integration = connected["integration"]
    # A conflict to clear: the same event changed on both sides.
    event_id = connected["events"][0]
    outlook_id = next(r["outlookEventId"] for r in api_client.get(f"{BASE}/events").json()["events"] if r["wedSyncEventId"] == event_id)
    graph.update_event(MAILBOX, outlook_id, {"subject": "WedSync: title changed in Outlook"})
    api_client.patch(f"/api/events/{event_id}/", {"title": "title changed in WedSync"})
    wait_for(lambda: OutlookEventMapping.objects.filter(wedsync_event_id=event_id, sync_state="conflict").exists(), message="a conflict")
    wait_for_idle(api_client)
    runs = OutlookSyncHistory.objects.filter(integration=integration)
    admin_runs = runs.filter(triggered_by="admin").count()

    page = _action(support_client, "run_incremental_sync", integration)
    assert "Incremental sync started for 1 integration(s)." in page.content.decode()
    wait_for_idle(api_client)
    page = _action(support_client, "run_full_resync", integration)
    assert "Full resync started for 1 integration(s)." in page.content.decode()
    wait_for_idle(api_client)
    assert runs.filter(triggered_by="admin").count() == admin_runs + 2
    assert runs.filter(triggered_by="admin", sync_type="full_sync").exists()

    page = _action(support_client, "renew_subscription", integration)
    assert "Subscription renewal queued for 1 integration(s)." in page.content.decode()

    OutlookEventMapping.objects.filter(wedsync_event_id=event_id).update(sync_state="conflict", sync_conflicts=[
        {"field": "title", "wedSyncValue": "a", "outlookValue": "b", "conflictType": "title", "suggestedResolution": "manual_review"}])
    page = _action(support_client, "clear_conflicts_action", integration)
    assert "Cleared conflicts on 1 event(s)" in page.content.decode()
    assert OutlookEventMapping.objects.get(wedsync_event_id=event_id).sync_state != "conflict"

    page = _action(support_client, "request_reconnect", integration)
    assert "Asked 1 supplier(s) to reconnect Outlook" in page.content.decode()
    status = api_client.get(f"{BASE}/sync").json()["integration"]
    assert status["needsReauthorization"] is True

    audit = list(OutlookSupportAuditEntry.objects.filter(integration=integration).order_by("created_at"))
    assert [(a.actor_username, a.action) for a in audit] == [
        ("support", "incremental_sync"), ("support", "full_resync"), ("support", "renew_subscription"),
        ("support", "clear_conflicts"), ("support", "request_reconnect"),
    ]
    assert all(a.created_at for a in audit) and audit[3].outcome == "1 event(s) reset"
    change_page = support_client.get(f"{INTEGRATIONS}{integration.pk}/change/").content.decode()
    assert "Support actions (audit trail)" in change_page
    for label in ("Ran an incremental sync", "Ran a full resync", "Renewed the change subscription", "Cleared conflicts", "Asked the supplier to reconnect"):
        assert label in change_page
    assert outlook_events(graph)  # nothing of the supplier's Outlook was removed by any of it


def test_a_staff_user_without_the_group_cannot_run_actions(connected, django_user_model):
    django_user_model.objects.create_user(username="intern", password="intern pass 9", is_staff=True)
    client = Client()
    client.force_login(django_user_model.objects.get(username="intern"))
    assert client.get(INTEGRATIONS).status_code == 403
    before = OutlookSyncHistory.objects.count()
    assert _action(client, "run_full_resync", connected["integration"]).status_code == 403
    assert OutlookSyncHistory.objects.count() == before and not OutlookSupportAuditEntry.objects.exists()


def test_the_demo_seeds_support_as_staff_of_the_support_group_not_a_superuser():
    call_command("seed_demo", username="demo-supplier", password="demo pass 2026", support_password="support-demo-2026")
    support = get_user_model().objects.get(username="support")
    assert support.is_staff and not support.is_superuser
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert support.has_perm("outlook_sync.run_support_actions") and support.has_perm("outlook_sync.view_outlookbusytime")
    assert not support.has_perm("auth.change_user") and not support.has_perm("outlook_sync.delete_outlooksynchistory")
    client = Client()
    assert client.post("/admin/login/", {"username": "support", "password": "support-demo-2026", "next": "/admin/"}).status_code == 302
    assert client.get("/admin/auth/user/").status_code == 403


def test_support_sees_a_disconnect_in_words_and_nobody_changes_or_deletes_it(connected, support_client, api_client, django_user_model):
    from outlook_sync.models import OutlookDisconnect
    from tests.integration.outlook_helpers import disconnect

    _, done = disconnect(api_client)  # through the API and the real worker
    assert done["eventsRemoved"] == 2, done
    record = OutlookDisconnect.objects.get()
    group = Group.objects.get(name="Support")
    assert {p.codename for p in group.permissions.filter(content_type__model="outlookdisconnect")} == {"view_outlookdisconnect"}

    listing = support_client.get("/admin/outlook_sync/outlookdisconnect/")
    assert listing.status_code == 200
    text = listing.content.decode().replace("&#x27;", "'")
    assert "Remove WedSync's events from Outlook" in text and "Disconnected" in text and "2 of 2 removed" in text
    page = support_client.get(f"/admin/outlook_sync/outlookdisconnect/{record.pk}/change/")
    assert page.status_code == 200
    words = page.content.decode().replace("&#x27;", "'")
    assert "We removed 2 events WedSync had added to your Outlook calendar" in words and "Events to remove" in words
    assert "What the supplier asked" in words and 'name="_save"' not in words  # read only: no save button
    assert str(record).startswith("Disconnected ") and "(Remove WedSync's events from Outlook), asked " in str(record)

    django_user_model.objects.create_superuser("root", "root@example.com", "root pass 9")
    root = Client()
    root.force_login(django_user_model.objects.get(username="root"))
    for client in (support_client, root):
        assert client.get("/admin/outlook_sync/outlookdisconnect/add/").status_code == 403
        assert client.post(f"/admin/outlook_sync/outlookdisconnect/{record.pk}/change/", {"choice": "keep", "status": "in_progress"}).status_code == 403
        assert client.post(f"/admin/outlook_sync/outlookdisconnect/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    record.refresh_from_db()
    assert (record.choice, record.status) == ("remove", "completed")
