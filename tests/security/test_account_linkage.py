"""A Microsoft account links to at most one WedSync supplier (issue 15, item 1).

Supplier A connects the mailbox; supplier B then signs in to Microsoft with the
same account. B's API call and B's browser callback both end on
``account_in_use`` (409) with words a supplier understands, and nothing
changes: B has no integration, A's integration, mappings and Outlook events are
exactly what they were. The database refuses a second link too.
"""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from outlook_sync import crypto
from outlook_sync.models import OutlookBusyTime, OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, CsrfApiClient
from tests.integration.outlook_helpers import BASE, connect, consent, wait_for_idle
from tests.security.conftest import create_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

MESSAGE = "This Microsoft account is already connected to another WedSync account."


def _state(graph) -> dict:
    graph.run_outlook(convert_bodies=True, respond=True)  # Outlook's own changes happen now, not between two snapshots
    return {
        "integrations": sorted(repr(model_to_dict(i) | {"updated_at": i.updated_at}) for i in OutlookCalendarIntegration.objects.all()),
        "mappings": sorted(repr(model_to_dict(m) | {"id": m.id}) for m in OutlookEventMapping.objects.all()),
        "runs": OutlookSyncHistory.objects.count(),
        "busy": OutlookBusyTime.objects.count(),
        "outlook": sorted((e["id"], e["subject"], e.get("lastModifiedDateTime")) for e in graph.events(MAILBOX)),
    }


@pytest.fixture
def a_connected(api_client, graph, supplier):
    create_event(api_client, "Avery's consultation")
    connect(api_client, graph)
    wait_for_idle(api_client)
    return api_client


def test_a_second_supplier_connecting_the_same_microsoft_account_gets_409_and_nothing_changes(a_connected, other_api_client, other_supplier, graph):
    create_event(other_api_client, "Blake's own event")
    graph.create_event(MAILBOX, {"subject": "Dentist", "start": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"},
                                 "end": {"dateTime": "2030-01-02T11:00:00", "timeZone": "UTC"}})
    before = _state(graph)

    query = consent(other_api_client, graph, email=MAILBOX)
    response = other_api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})

    assert response.status_code == 409, response.content
    assert response.json() == {"success": False, "error": {"code": "account_in_use", "message": MESSAGE}}
    assert not OutlookCalendarIntegration.objects.filter(user=other_supplier).exists()
    assert other_api_client.get(f"{BASE}/sync").json()["error"]["code"] == "not_connected"
    assert _state(graph) == before


def test_the_browser_callback_ends_on_the_settings_page_with_the_message(a_connected, other_supplier, graph):
    browser = APIClient()
    browser.force_login(other_supplier)
    before = _state(graph)
    query = consent(CsrfApiClient(browser), graph, email=MAILBOX)

    page = browser.get("/calendar/outlook/callback/", query, follow=True)

    assert page.status_code == 200
    assert page.redirect_chain[-1][0].endswith("/calendar/outlook/")
    assert MESSAGE in page.content.decode()
    assert not OutlookCalendarIntegration.objects.filter(user=other_supplier).exists()
    assert _state(graph) == before


def test_the_database_refuses_a_second_link_of_one_account(a_connected, supplier, other_supplier):
    existing = OutlookCalendarIntegration.objects.get(user=supplier)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutlookCalendarIntegration.objects.create(
            user=other_supplier, tenant_id=existing.tenant_id, microsoft_user_id=existing.microsoft_user_id,
            access_token_encrypted=crypto.encrypt("a"), refresh_token_encrypted=crypto.encrypt("r"), token_expires_at=existing.token_expires_at,
        )


def test_the_same_supplier_can_still_reconnect_its_own_account(a_connected, supplier, graph):
    before = OutlookCalendarIntegration.objects.get(user=supplier)
    connect(a_connected, graph)
    wait_for_idle(a_connected)
    after = OutlookCalendarIntegration.objects.get(user=supplier)
    assert after.pk == before.pk and after.microsoft_user_id == before.microsoft_user_id
    assert after.access_token_encrypted != before.access_token_encrypted
