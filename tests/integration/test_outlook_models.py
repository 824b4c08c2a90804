"""The spec's tables in PostgreSQL: names, constraints, indexes, and tokens encrypted at rest."""
import datetime as dt
import json
import logging
import uuid

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory

pytestmark = pytest.mark.django_db

ACCESS = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-plaintext"
REFRESH = "M.R3_BAY.refresh-token-plaintext"


@pytest.fixture
def integration(supplier):
    integration = OutlookCalendarIntegration(user=supplier, tenant_id="tenant-1", microsoft_user_id="oid-1", microsoft_account_email="avery@contoso.example")
    integration.set_tokens(access_token=ACCESS, refresh_token=REFRESH, expires_at=timezone.now() + dt.timedelta(hours=1))
    integration.save()
    return integration


def raw_row(table, row_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [row_id])
        return " ".join(str(value) for value in cursor.fetchone())


def test_spec_defaults_apply_at_the_database(supplier):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outlook_calendar_integrations (id, user_id, tenant_id, microsoft_user_id, access_token_encrypted,"
            " refresh_token_encrypted, token_expires_at, updated_at, microsoft_account_email, needs_reauthorization,"
            " reauthorization_reason, webhook_client_state, webhook_enabled, default_conflict_rules)"
            " VALUES (%s, %s, 't', 'o', 'x', 'y', now(), now(), '', false, '', '', true, '{}') RETURNING sync_direction, last_sync_status, sync_enabled, sync_preferences",
            [uuid.uuid4(), supplier.id],
        )
        direction, status, enabled, prefs = cursor.fetchone()
    assert (direction, status, enabled) == ("bidirectional", "pending", True)
    assert json.loads(prefs) == {
        "syncClientMeetings": True, "syncWeddingEvents": True, "syncDeadlines": True, "syncTravelTime": False,
        "eventPrefix": "WedSync: ", "createSeparateCalendar": False, "notificationMinutes": [15, 60],
    }


@pytest.mark.parametrize(
    "table, column, bad",
    [
        ("outlook_calendar_integrations", "sync_direction", "sideways"),
        ("outlook_calendar_integrations", "last_sync_status", "fine"),
        ("outlook_event_mappings", "wedsync_event_type", "stag_do"),
        ("outlook_sync_history", "sync_type", "partial_sync"),
        ("outlook_sync_history", "sync_status", "done"),
    ],
)
def test_check_constraints_reject_bad_values_at_the_database(integration, table, column, bad):
    mapping = OutlookEventMapping.objects.create(integration=integration, wedsync_event_type="client_meeting", wedsync_event_id="e1", outlook_event_id="o1", outlook_calendar_id="c1")
    run = OutlookSyncHistory.objects.create(integration=integration, sync_type="full_sync", sync_direction="bidirectional", sync_status="in_progress")
    row_id = {"outlook_calendar_integrations": integration.id, "outlook_event_mappings": mapping.id, "outlook_sync_history": run.id}[table]
    with pytest.raises(IntegrityError, match=f"{table}_{column}_check"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [bad, row_id])


def test_unique_pairs_and_one_integration_per_supplier(integration, supplier):
    OutlookEventMapping.objects.create(integration=integration, wedsync_event_type="deadline", wedsync_event_id="e1", outlook_event_id="o1", outlook_calendar_id="c")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutlookEventMapping.objects.create(integration=integration, wedsync_event_type="deadline", wedsync_event_id="e1", outlook_event_id="o2", outlook_calendar_id="c")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutlookEventMapping.objects.create(integration=integration, wedsync_event_type="deadline", wedsync_event_id="e2", outlook_event_id="o1", outlook_calendar_id="c")
    with pytest.raises(IntegrityError), transaction.atomic():
        second = OutlookCalendarIntegration(user=supplier, tenant_id="t", microsoft_user_id="o")
        second.set_tokens(access_token="a", refresh_token="r", expires_at=timezone.now())
        second.save()


def test_spec_indexes_exist_with_their_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'outlook_%%'")
        indexes = dict(cursor.fetchall())
    expected = {
        "idx_outlook_integrations_user": "outlook_calendar_integrations USING btree (user_id)",
        "idx_outlook_event_mappings_integration": "outlook_event_mappings USING btree (integration_id)",
        "idx_outlook_event_mappings_wedsync_event": "outlook_event_mappings USING btree (wedsync_event_id)",
        "idx_outlook_event_mappings_outlook_event": "outlook_event_mappings USING btree (outlook_event_id)",
        "idx_outlook_sync_history_integration": "outlook_sync_history USING btree (integration_id)",
        "idx_outlook_sync_history_completed": "outlook_sync_history USING btree (completed_at)",
    }
    for name, definition in expected.items():
        assert definition in indexes[name]


def test_tokens_are_ciphertext_in_the_table_and_never_in_repr(integration):
    row = raw_row("outlook_calendar_integrations", integration.id)
    assert ACCESS not in row and REFRESH not in row and "access-token" not in row
    fresh = OutlookCalendarIntegration.objects.get(pk=integration.pk)
    assert fresh.get_access_token() == ACCESS and fresh.get_refresh_token() == REFRESH
    assert "token" not in repr(fresh).lower() and ACCESS not in str(fresh)


def test_rotate_token_keys_reencrypts_with_the_newest_key(integration, settings, capsys):
    old_keys = list(settings.TOKEN_ENCRYPTION_KEYS)
    before = raw_row("outlook_calendar_integrations", integration.id)
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_token_keys")
    assert "1 integration" in capsys.readouterr().out
    after = OutlookCalendarIntegration.objects.get(pk=integration.pk)
    assert after.access_token_encrypted not in before and after.refresh_token_encrypted not in before
    # Only the new key is needed from now on.
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    assert after.get_access_token() == ACCESS and after.get_refresh_token() == REFRESH


def test_admin_pages_never_show_tokens(integration, client, caplog):
    admin = get_user_model().objects.create_superuser("support", "support@wedsync.example", "support pass 9")
    client.force_login(admin)
    caplog.set_level(logging.DEBUG)
    pages = [
        "/admin/outlook_sync/outlookcalendarintegration/",
        f"/admin/outlook_sync/outlookcalendarintegration/{integration.pk}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200
        html = response.content.decode()
        assert integration.microsoft_account_email in html
        for secret in (ACCESS, REFRESH, integration.access_token_encrypted, integration.refresh_token_encrypted):
            assert secret not in html
    assert ACCESS not in caplog.text and REFRESH not in caplog.text
