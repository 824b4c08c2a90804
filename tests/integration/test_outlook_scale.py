"""Incremental sync cost does not grow with the calendar (issue 6 acceptance).

10,000 mapped events, one change in Outlook: the run makes at most 2 Graph
requests and a fixed, small number of SQL queries. The runs execute through
the Celery task in this process so that the queries can be counted.
"""
from __future__ import annotations

import pytest

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, SyncType
from outlook_sync.sync import runs
from tests.bench.scale import bulk_wedsync_events
from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_QUERIES = 30


@pytest.mark.parametrize("events", [200, 10_000])
def test_incremental_sync_with_one_outlook_change_is_cheap_whatever_the_size(api_client, graph, supplier, settings, django_assert_max_num_queries, events):
    graph.set_config(request_budget=1_000_000)  # set-up pushes more than Graph's 10,000 requests / 10 min
    # Outlook would turn every pushed text body into HTML a moment later (a change to each event, so the next
    # incremental reads them all); this measures one Outlook change, so that conversion is switched off here.
    graph.set_config(html_body_conversion_s=None)
    connect(api_client, graph)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    bulk_wedsync_events(supplier, events)
    # A full sync of its own (the one connect queued may already have run, on a worker, before the events existed).
    first, _ = runs.open_run(integration, sync_type=SyncType.FULL_SYNC, triggered_by="test")
    tasks.run_sync.apply(args=[str(first.pk)])
    assert OutlookEventMapping.objects.filter(integration=integration).count() == events
    changed = OutlookEventMapping.objects.filter(integration=integration).select_related("event").first()
    graph.update_event(MAILBOX, changed.outlook_event_id, {"location": {"displayName": "Moved to the Orangery"}})
    graph.reset_stats()
    run, _ = runs.open_run(integration, sync_type=SyncType.INCREMENTAL, triggered_by="test")

    with django_assert_max_num_queries(MAX_QUERIES):
        tasks.run_sync.apply(args=[str(run.pk)])

    run.refresh_from_db()
    changed.event.refresh_from_db()
    assert run.sync_status == "completed" and run.events_updated == 1
    assert changed.event.location == "Moved to the Orangery"
    assert graph.stats()["requests"] <= 2
