"""A sync run keeps its integration to itself for as long as it runs, however much longer than the lock lease.

The run lock is a Redis lease (``engine.RUN_LOCK_LEASE_SECONDS``) renewed by a
heartbeat thread. Here the lease is shortened to 3 s (the module constant the
engine reads on every run, set for this test only) and the emulator makes the
run's delta read take 12 s. A WedSync edit made meanwhile schedules a push run
on the same integration: it must wait for the lock, so its PATCH reaches
Outlook only after the slow run finished. Without a working heartbeat the lease
lapses after 3 s and the push runs beside the slow run.
"""
from __future__ import annotations

import time

import pytest

from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncHistory
from outlook_sync.sync import engine
from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, connect, wait_for_idle
from tests.integration.test_outlook_sync import _create_event, _outlook_event_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LEASE = 3
SLOW_DELTA_MS = 12000
DELTA = "GET /me/calendars/{id}/calendarView/delta"


def _delta_reads(graph) -> int:
    by_endpoint = graph.stats()["by_endpoint"]
    return sum(count for endpoint, count in by_endpoint.items() if endpoint.startswith("GET ") and endpoint.endswith("/delta"))


def _patches(graph) -> int:
    stats = graph.stats()
    return sum(count for endpoint, count in [*stats["by_endpoint"].items(), *stats["batch_items_by_endpoint"].items()] if endpoint.startswith("PATCH "))


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    yield
    graph.clear_faults()
    settle(graph, timeout=90)


def test_a_run_longer_than_twice_the_lease_keeps_the_integration_and_a_second_run_waits(api_client, graph, supplier, monkeypatch):
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    settle(graph)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    outlook_id = _outlook_event_of(api_client, event["id"])
    monkeypatch.setattr(engine, "RUN_LOCK_LEASE_SECONDS", LEASE)

    graph.inject_fault("GET", r"calendarView/delta", latency_ms=SLOW_DELTA_MS, count=1)
    reads = _delta_reads(graph)
    slow = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert slow.status_code == 202, slow.content
    wait_for(lambda: _delta_reads(graph) > reads, timeout=30, message="the slow run's delta read to reach Graph")  # it holds the lock now
    held_since = time.monotonic()
    patches = _patches(graph)

    # The supplier edits the event meanwhile: a push run on the same integration is scheduled.
    assert api_client.patch(f"/api/events/{event['id']}/", {"location": "The Orangery, Kew"}).status_code == 200

    # Watch for more than twice the lease: the push must not touch Outlook while the slow run holds the lock.
    def lease_outlived() -> bool:
        assert _patches(graph) == patches, "a second run wrote to Outlook while the first one still held the integration"
        return time.monotonic() - held_since > 2.5 * LEASE

    wait_for(lease_outlived, timeout=30, interval=0.05, message="2.5 leases to pass")
    slow_run = OutlookSyncHistory.objects.get(pk=slow.json()["syncId"])
    assert slow_run.sync_status == "in_progress", "the slow run finished within 2.5 leases: make it slower"
    assert graph.event(MAILBOX, outlook_id)["location"]["displayName"] == "The Old Barn"

    # Once the slow run is done, the waiting push goes through.
    wait_for(lambda: graph.event(MAILBOX, outlook_id)["location"]["displayName"] == "The Orangery, Kew", timeout=60, message="the push after the slow run")
    settle(graph)
    slow_run.refresh_from_db()
    assert slow_run.sync_status == "completed", slow_run.sync_errors
    push = OutlookSyncHistory.objects.filter(integration=integration, triggered_by="wedsync_change").latest("started_at")
    assert push.sync_status == "completed" and push.completed_at >= slow_run.completed_at
