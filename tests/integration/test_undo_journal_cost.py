"""The change journal's cost (issue 18 acceptance): at most 2 SQL queries per changed event.

The runs execute through the Celery task in this process so that their queries can be counted.
"""
from __future__ import annotations

import pytest

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncChange, OutlookSyncHistory, SyncType
from outlook_sync.sync import runs
from tests.bench.scale import bulk_wedsync_events
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import connect

pytestmark = [pytest.mark.django_db(transaction=True)]

EVENTS = 50


def _journal_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "outlook_sync_changes" in q["sql"]]


def test_the_journal_adds_at_most_2_queries_per_changed_event_on_a_50_event_run(api_client, graph, supplier, django_assert_max_num_queries):
    connect(api_client, graph)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    # The run connect queued is not part of this measurement: cancelled unless the worker of an earlier test
    # module (session-wide) began it first; then it is waited for (it ends before the events below exist).
    for queued in OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress", is_queued=True):
        runs.cancel_waiting(queued)
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress").exists(), timeout=60,
             message="a run a worker already began")
    bulk_wedsync_events(supplier, EVENTS)

    # 50 creates in Outlook ($batch): each journaled.
    first, _ = runs.open_run(integration, sync_type=SyncType.FULL_SYNC, triggered_by="test")
    with django_assert_max_num_queries(100_000) as captured:
        tasks.run_sync.apply(args=[str(first.pk)])
    assert OutlookSyncChange.objects.filter(run=first, side="outlook", kind="created").count() == EVENTS
    creates = _journal_queries(captured)
    assert len(creates) <= 2 * EVENTS, creates

    # 50 Outlook edits taken into WedSync: each journaled.
    for row in OutlookEventMapping.objects.filter(integration=integration):
        graph.update_event(MAILBOX, row.outlook_event_id, {"location": {"displayName": "Moved to the Orangery"}})
    run, _ = runs.open_run(integration, sync_type=SyncType.INCREMENTAL, triggered_by="test")
    with django_assert_max_num_queries(100_000) as captured:
        tasks.run_sync.apply(args=[str(run.pk)])
    changes = OutlookSyncChange.objects.filter(run=run, side="wedsync", kind="updated")
    assert changes.count() == EVENTS
    assert all(c.fields == {"location": {"old": "The Old Barn", "new": "Moved to the Orangery"}} for c in changes)
    updates = _journal_queries(captured)
    assert len(updates) <= 2 * EVENTS, updates
    print(f"\njournal queries: {len(creates)} for {EVENTS} creates, {len(updates)} for {EVENTS} updates "
          f"(runs: {len(captured.captured_queries)} queries in all for the update run)")
