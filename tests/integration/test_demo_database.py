"""The demo (the README's first command) runs on SQLite: what is written for PostgreSQL needs a SQLite way too.

The suite runs on PostgreSQL, so a raw PostgreSQL statement (``unnest``, array parameters) would pass here and
break the demo's first sync; it did once (``OutlookEventMapping.remember_outlook_changes``). This test runs the
models in a separate process on a fresh SQLite file, migrated as the demo migrates it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import datetime as dt
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.utils import timezone
from outlook_sync.models import MappingState, OutlookCalendarIntegration, OutlookEventMapping
from wedsync.events import actions as event_actions

supplier = get_user_model().objects.create_user(username="demo-db", password=None)
start = timezone.now() + dt.timedelta(days=3)
events = [event_actions.create_event(supplier, event_type="client_meeting", title=f"Meeting {n}", starts_at=start + dt.timedelta(days=n),
                                     ends_at=start + dt.timedelta(days=n, hours=1), time_zone="UTC") for n in range(2)]
integration = OutlookCalendarIntegration(user=supplier, tenant_id="t", microsoft_user_id="demo", calendar_id="cal", calendar_name="Calendar")
integration.set_tokens(access_token="a", refresh_token="r", expires_at=timezone.now() + dt.timedelta(hours=1))
integration.save()
rows = [OutlookEventMapping.objects.create(integration=integration, wedsync_event_type="client_meeting", wedsync_event_id=str(e.pk),
                                           outlook_event_id=f"AAMk-{n}", outlook_calendar_id="cal", event=e, sync_state=MappingState.SYNCED,
                                           synced_wedsync_version=e.version, outlook_change_key="old")
        for n, e in enumerate(events)]
for n, row in enumerate(rows):
    row.outlook_change_key, row.outlook_last_seen, row.last_synced_at = f"new-{n}", {"title": f"Meeting {n}"}, timezone.now()
OutlookEventMapping.remember_outlook_changes(rows)
stored = sorted(OutlookEventMapping.objects.values_list("outlook_change_key", flat=True))
print("remembered", stored)
"""


def test_remembering_outlook_changes_works_on_the_demos_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wedsync.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "memory://",
        "WEDSYNC_VAR_DIR": str(tmp_path),
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "remembered ['new-0', 'new-1']"
