"""The change journal's retention (pruned by beat) and its read-only admin (issue 18)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncChange, OutlookSyncHistory

pytestmark = pytest.mark.django_db

JOURNAL = "/admin/outlook_sync/outlooksyncchange/"


@pytest.fixture
def journal(supplier):
    integration = OutlookCalendarIntegration(user=supplier, tenant_id="t", microsoft_user_id="ms", token_expires_at=timezone.now(), calendar_id="cal")
    integration.set_tokens(access_token="ACCESS-do-not-show", refresh_token="REFRESH-do-not-show", expires_at=timezone.now())
    integration.save()
    run = OutlookSyncHistory.objects.create(integration=integration, sync_type="incremental", sync_direction="bidirectional", sync_status="completed")
    now = timezone.now()
    return [
        OutlookSyncChange.objects.create(run=run, integration=integration, wedsync_event_id="e1", event_title="Ceremony", side="wedsync", kind="updated",
                                         fields={"location": {"old": "The Old Barn", "new": "The Orangery"}}, created_at=now - dt.timedelta(days=age))
        for age in (31, 29, 0)
    ]


def test_beat_prunes_journal_entries_older_than_the_retention(journal, settings):
    assert django_settings.OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS == 30  # the documented default
    assert django_settings.CELERY_BEAT_SCHEDULE["outlook-prune-change-journal"]["task"] == "outlook_sync.tasks.prune_change_journal"
    assert tasks.prune_change_journal.apply().get() == 1
    assert list(OutlookSyncChange.objects.order_by("created_at")) == journal[1:]
    settings.OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS = 7
    assert tasks.prune_change_journal.apply().get() == 1
    assert list(OutlookSyncChange.objects.all()) == journal[2:]


def test_journal_admin_is_read_only_for_everyone_and_shows_old_and_new(journal, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root-admin", "root@example.com", "pw-9-long-enough")
    staff = django_user_model.objects.create_user("support", "support@example.com", "pw-9-long-enough", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_outlooksyncchange"))
    change = journal[2]
    for user in (admin_user, staff):
        client = Client()
        client.force_login(user)
        listing = client.get(JOURNAL)
        assert listing.status_code == 200 and b"Ceremony" in listing.content
        page = client.get(f"{JOURNAL}{change.pk}/change/")
        assert page.status_code == 200
        assert b"The Old Barn" in page.content and b"The Orangery" in page.content
        assert b"do-not-show" not in page.content and b'name="_save"' not in page.content
        assert client.get(f"{JOURNAL}add/").status_code == 403
        assert client.get(f"{JOURNAL}{change.pk}/delete/").status_code == 403
        assert client.post(f"{JOURNAL}{change.pk}/change/", {"event_title": "edited"}).status_code == 403
    assert OutlookSyncChange.objects.get(pk=change.pk).event_title == "Ceremony" and OutlookSyncChange.objects.count() == 3
