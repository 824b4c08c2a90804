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
from tests.conftest import MAILBOX, wait_for
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


def test_outlook_changing_every_event_by_itself_costs_a_fixed_number_of_queries(api_client, graph, supplier, django_assert_max_num_queries):
    """Outlook turns each pushed text body into HTML a moment after the create (a new changeKey on every event, and
    no field we sync changed): the next read remembers the new keys per delta page, not with queries per event."""
    graph.set_config(html_body_conversion_s=5)  # after the full sync below has read its creations back
    connect(api_client, graph)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    bulk_wedsync_events(supplier, 200)
    first, _ = runs.open_run(integration, sync_type=SyncType.FULL_SYNC, triggered_by="test")
    tasks.run_sync.apply(args=[str(first.pk)])
    mappings = OutlookEventMapping.objects.filter(integration=integration)
    assert mappings.count() == 200
    stored = dict(mappings.values_list("outlook_event_id", "outlook_change_key"))
    wait_for(lambda: all(e["body"]["contentType"] == "html" for e in graph.events(MAILBOX)), timeout=30, message="Outlook's HTML bodies")
    changed = {e["id"] for e in graph.events(MAILBOX) if e["changeKey"] != stored.get(e["id"])}
    assert len(changed) >= 50  # converted after the run read its creations back (2 queries each before the fix)
    run, _ = runs.open_run(integration, sync_type=SyncType.INCREMENTAL, triggered_by="test")

    with django_assert_max_num_queries(MAX_QUERIES):
        tasks.run_sync.apply(args=[str(run.pk)])

    run.refresh_from_db()
    assert run.sync_status == "completed" and run.events_updated == 0 and run.conflicts_detected == 0
    now = dict(mappings.values_list("outlook_event_id", "outlook_change_key"))
    assert now == {e["id"]: e["changeKey"] for e in graph.events(MAILBOX) if e["id"] in now}
