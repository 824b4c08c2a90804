"""Support admin for Outlook integrations (issue 8): search, filters, actions, permissions, and no tokens anywhere."""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from outlook_sync.models import MappingState, OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from wedsync.events import actions as event_actions

pytestmark = pytest.mark.django_db

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.ACCESS-TOKEN-do-not-show-7f3a"
REFRESH_TOKEN = "0.AXoA-REFRESH-TOKEN-do-not-show-91bd"
CHANGELIST = "/admin/outlook_sync/outlookcalendarintegration/"


def _integration(user, *, email: str, **fields) -> OutlookCalendarIntegration:
    integration = OutlookCalendarIntegration(
        user=user, tenant_id="contoso-tenant", microsoft_user_id=f"ms-{user.username}", microsoft_account_email=email,
        calendar_id=f"cal-{user.username}", calendar_name="Calendar", webhook_client_state=f"client-state-secret-{user.username}-5d2e", **fields,
    )
    integration.set_tokens(access_token=ACCESS_TOKEN + user.username, refresh_token=REFRESH_TOKEN + user.username,
                           expires_at=timezone.now() + dt.timedelta(hours=1))
    integration.save()
    return integration


@pytest.fixture
def integration(supplier):
    return _integration(supplier, email="avery@contoso-weddings.example", webhook_subscription_id="sub-1",
                        webhook_expires_at=timezone.now() + dt.timedelta(days=2))


@pytest.fixture
def conflicted(integration, supplier):
    rows = []
    for n in range(2):
        event = event_actions.create_event(supplier, event_type="client_meeting", title=f"Consultation {n}",
                                           starts_at=timezone.now() + dt.timedelta(days=3, hours=n), ends_at=timezone.now() + dt.timedelta(days=3, hours=n + 1))
        rows.append(OutlookEventMapping.objects.create(
            integration=integration, wedsync_event_type="client_meeting", wedsync_event_id=str(event.pk), outlook_event_id=f"AAMk-{n}",
            outlook_calendar_id=integration.calendar_id, event=event, sync_state=MappingState.CONFLICT,
            sync_conflicts=[{"field": "title", "wedSyncValue": "A", "outlookValue": "B", "conflictType": "title", "suggestedResolution": "use_wedsync"}],
        ))
    return rows


@pytest.fixture
def support(django_user_model):
    user = django_user_model.objects.create_user(username="support", email="support@wedsync.example", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_outlookcalendarintegration"),
                              *Permission.objects.filter(content_type__app_label="outlook_sync", codename__startswith="view_"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(django_user_model):
    """Staff who may look at integrations but not act on them."""
    user = django_user_model.objects.create_user(username="viewer", email="viewer@wedsync.example", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="outlook_sync", codename__startswith="view_"))
    client = Client()
    client.force_login(user)
    return client


def _action(client, name: str, *ids):
    return client.post(CHANGELIST, {"action": name, "_selected_action": [str(i) for i in ids], "index": "0"}, follow=True)


def _assert_no_secrets(html: str, integration: OutlookCalendarIntegration) -> None:
    secrets = (integration.get_access_token(), integration.get_refresh_token(), integration.access_token_encrypted,
               integration.refresh_token_encrypted, integration.webhook_client_state)
    for secret in secrets:
        assert secret and secret not in html
    for column in ("access_token_encrypted", "refresh_token_encrypted", "webhook_client_state"):
        assert column not in html


# --------------------------------------------------------------------------- actions


def test_run_incremental_sync_action_opens_a_run(support, integration):
    response = _action(support, "run_incremental_sync", integration.pk)

    assert response.status_code == 200
    assert "Incremental sync started for 1 integration(s)." in response.content.decode()
    run = OutlookSyncHistory.objects.get(integration=integration)
    assert (run.sync_type, run.sync_status, run.triggered_by) == ("incremental", "in_progress", "admin")


def test_run_full_resync_action_opens_a_full_run(support, integration):
    _action(support, "run_full_resync", integration.pk)

    assert OutlookSyncHistory.objects.get(integration=integration).sync_type == "full_sync"


def test_sync_action_explains_why_an_integration_was_skipped(support, integration):
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(needs_reauthorization=True)

    response = _action(support, "run_incremental_sync", integration.pk)

    assert "Please reconnect Outlook first" in response.content.decode()
    assert not OutlookSyncHistory.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_renew_subscription_action_renews_it_at_microsoft(support, api_client, graph, supplier, live_server, settings):
    """The action goes all the way: the real worker renews the subscription at Graph (the emulator) and stores the new expiry."""
    from tests.conftest import MAILBOX, settle, wait_for
    from tests.integration.outlook_helpers import connect, wait_for_idle

    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    connect(api_client, graph)
    wait_for_idle(api_client)
    integration = wait_for(lambda: OutlookCalendarIntegration.objects.filter(user=supplier, webhook_subscription_id__isnull=False).first(),
                           message="subscription")
    settle(graph)
    soon = timezone.now() + dt.timedelta(hours=1)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_expires_at=soon)  # as if it were about to lapse
    [before] = graph.subscriptions(MAILBOX)

    response = _action(support, "renew_subscription", integration.pk)

    assert "Subscription renewal queued for 1 integration(s)." in response.content.decode()
    settle(graph)
    integration.refresh_from_db()
    assert integration.webhook_expires_at > timezone.now() + dt.timedelta(days=6)
    [after] = graph.subscriptions(MAILBOX)
    assert after["id"] == before["id"] == integration.webhook_subscription_id  # renewed (PATCH), not replaced
    assert after["expirationDateTime"] >= before["expirationDateTime"]
    assert graph.stats()["by_endpoint"].get("PATCH /subscriptions/{id}", 0) == 1


def test_clear_conflicts_action_sets_events_back_to_waiting(support, integration, conflicted, other_supplier):
    others = _integration(other_supplier, email="blake@contoso.example")
    event = event_actions.create_event(other_supplier, event_type="deadline", title="Theirs", starts_at=timezone.now(), ends_at=timezone.now())
    untouched = OutlookEventMapping.objects.create(
        integration=others, wedsync_event_type="deadline", wedsync_event_id=str(event.pk), outlook_event_id="X", outlook_calendar_id="c",
        event=event, sync_state=MappingState.CONFLICT, sync_conflicts=[{"field": "title"}],
    )

    response = _action(support, "clear_conflicts_action", integration.pk)

    assert "Cleared conflicts on 2 event(s)" in response.content.decode()
    for row in conflicted:
        row.refresh_from_db()
        assert row.sync_state == MappingState.PENDING and row.sync_conflicts == []
    untouched.refresh_from_db()
    assert untouched.sync_state == MappingState.CONFLICT


# --------------------------------------------------------------------------- permissions


def test_staff_without_permission_cannot_run_actions(viewer, integration, conflicted):
    page = viewer.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    for action in ("run_incremental_sync", "run_full_resync", "renew_subscription", "clear_conflicts_action"):
        assert f'value="{action}"' not in html

    for action in ("run_incremental_sync", "run_full_resync", "renew_subscription", "clear_conflicts_action"):
        _action(viewer, action, integration.pk)

    assert not OutlookSyncHistory.objects.exists()
    assert all(row.sync_state == MappingState.CONFLICT for row in OutlookEventMapping.objects.all())


def test_staff_without_any_outlook_permission_sees_nothing(django_user_model, integration):
    user = django_user_model.objects.create_user(username="intern", password="x", is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{integration.pk}/change/").status_code == 403
    _action(client, "run_incremental_sync", integration.pk)
    assert not OutlookSyncHistory.objects.exists()


def test_nobody_can_add_edit_or_delete_integrations_by_hand(admin_client, integration):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{integration.pk}/delete/").status_code == 403
    admin_client.post(f"{CHANGELIST}{integration.pk}/change/", {"calendar_name": "Hacked"})
    integration.refresh_from_db()
    assert integration.calendar_name == "Calendar"


# --------------------------------------------------------------------------- no tokens, anywhere


@pytest.mark.parametrize("who", ["admin_client", "support", "viewer"])
def test_tokens_never_appear_in_changelist_or_change_page(request, who, integration, conflicted):
    client = request.getfixturevalue(who)
    OutlookSyncHistory.objects.create(
        integration=integration, sync_type="incremental", sync_direction="bidirectional", sync_status="completed",
        sync_errors=[{"eventId": "e1", "eventType": "client_meeting", "errorCode": "throttled", "errorMessage": "Outlook was busy.", "retryable": True}],
    )

    for url in (CHANGELIST, f"{CHANGELIST}{integration.pk}/change/", "/admin/outlook_sync/outlookeventmapping/",
                f"/admin/outlook_sync/outlookeventmapping/{conflicted[0].pk}/change/", "/admin/outlook_sync/outlooksynchistory/"):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_no_secrets(response.content.decode(), integration)


def test_change_page_shows_history_and_errors_readably(admin_client, integration):
    OutlookSyncHistory.objects.create(
        integration=integration, sync_type="full_sync", sync_direction="bidirectional", sync_status="completed", events_created=3,
        sync_errors=[{"eventId": "e1", "eventType": "venue_visit", "errorCode": "throttled", "errorMessage": "Outlook asked us to slow down.", "retryable": True}],
    )
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(
        last_sync_status="partial", sync_errors=[{"eventId": "e2", "eventType": "deadline", "errorCode": "not_found", "errorMessage": "The Outlook event is gone.", "retryable": False}],
    )

    html = admin_client.get(f"{CHANGELIST}{integration.pk}/change/").content.decode()

    assert "Outlook asked us to slow down. <small>[throttled · venue_visit e1 · will retry]</small>" in html
    assert "The Outlook event is gone. <small>[not_found · deadline e2 · no retry]</small>" in html
    assert "Recent sync runs" in html and "Synced events" in html
    assert '"errorCode"' not in html  # never raw JSON


# --------------------------------------------------------------------------- search and filters


def test_search_by_supplier_and_microsoft_account(admin_client, integration, other_supplier):
    _integration(other_supplier, email="blake@fabrikam.example")

    def found(query):
        html = admin_client.get(CHANGELIST, {"q": query}).content.decode()
        return {name for name in ("avery@contoso-weddings.example", "blake@fabrikam.example") if name in html}

    assert found("avery@example.com") == {"avery@contoso-weddings.example"}  # supplier's email
    assert found("blake") == {"blake@fabrikam.example"}  # username
    assert found("fabrikam") == {"blake@fabrikam.example"}  # Microsoft account
    assert found(ACCESS_TOKEN) == set()  # tokens are not searchable


def test_filters_needs_reauthorization_failing_and_webhook_expired(admin_client, integration, other_supplier, django_user_model):
    broken = _integration(other_supplier, email="blake@fabrikam.example", needs_reauthorization=True, last_sync_status="error")
    third = django_user_model.objects.create_user(username="casey", email="casey@example.com")
    lapsed = _integration(third, email="casey@tailspin.example", last_sync_status="partial",
                          webhook_expires_at=timezone.now() - dt.timedelta(hours=1), throttled_until=timezone.now() + dt.timedelta(minutes=3))

    def shown(**params):
        html = admin_client.get(CHANGELIST, params).content.decode()
        return {i.microsoft_account_email for i in (integration, broken, lapsed) if i.microsoft_account_email in html}

    assert shown(needs_reauthorization__exact="1") == {"blake@fabrikam.example"}
    assert shown(failing="yes") == {"blake@fabrikam.example", "casey@tailspin.example"}
    assert shown(webhook="expired") == {"blake@fabrikam.example", "casey@tailspin.example"}  # never subscribed counts as expired
    assert shown(webhook="active") == {"avery@contoso-weddings.example"}
    assert shown(throttled="yes") == {"casey@tailspin.example"}
