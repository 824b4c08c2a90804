"""Fault matrix, part 1: Microsoft Graph and the identity platform misbehaving.

Each scenario runs the real flows (connect + first full sync, pushes on commit,
incremental sync) on the in-process Celery worker against the emulator with
faults injected, then checks convergence with :mod:`tests.faults.convergence`
and writes one summary line to ``test-artifacts/faults-summary.txt``.
"""
from __future__ import annotations

import threading
import time

import pytest

from outlook_sync import tasks
from tests.conftest import MAILBOX, emulator_quiet, settle, wait_for
from tests.faults.conftest import at as world_at
from tests.faults.convergence import Edit
from tests.integration.outlook_helpers import BASE, run_sync, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker"), pytest.mark.slow]

BATCH = r"^/\$batch$"
#: Event creates, which the engine sends as $batch items (faults match items too).
CREATE_ITEM = r"/calendars/[^/]+/events$"
EVENT = r"/events/[^/]+$"
DELTA = r"calendarView/delta"


def _sync_after_edits(world) -> dict:
    """The pushes of the WedSync edits finish, then one incremental sync reads Outlook's edits."""
    settle(world.graph, timeout=90)  # the pushes (sent 0.3 s after the commit) have run
    wait_for_idle(world.api_client, timeout=90)
    return run_sync(world.api_client, timeout=90)


def _count(stats: dict, status: str) -> int:
    return stats["status_counts"].get(status, 0) + stats["batch_item_status_counts"].get(status, 0)


def test_edits_right_after_the_first_sync(world):
    """No fault: the supplier edits both calendars right after connecting, then a sync runs (the baseline)."""
    world.connect()
    scenario = world.scenario("no fault: edits right after the first full sync").start()
    edits = world.edit_both_sides()
    job = _sync_after_edits(world)

    scenario.converge(edits=edits, timeout=20)
    assert job["status"] == "completed", job


def test_outlook_deletes_an_event_pushed_since_the_last_delta_read(world):
    """No fault: a new WedSync event is pushed to Outlook, the supplier deletes it in Outlook, a sync runs.

    Graph's delta does not report an item created and deleted between two reads of the same delta link,
    and the push run that created the event did not move the stored delta link past its own create
    (only full/incremental runs follow the link after creating). So the deletion is never seen: the
    mapping points at a missing Outlook event and the WedSync event stays live until a full sync.
    """
    world.connect()
    scenario = world.scenario("no fault: Outlook deletes an event pushed since the last delta read").start()
    new = world.create_event("client_meeting", "Tasting menu call", world_at(8, 10), world_at(8, 11))
    outlook_id = wait_for(lambda: next((r["outlookEventId"] for r in world.api_client.get(f"{BASE}/events", {"pageSize": 200}).json()["events"]
                                        if r["wedSyncEventId"] == new["id"]), None), message="push of the new event")
    wait_for_idle(world.api_client)
    world.graph.delete_event(MAILBOX, outlook_id)
    job = run_sync(world.api_client)

    scenario.converge(edits=[Edit(new["id"], deleted=True)], timeout=15)
    assert job["status"] == "completed", job


def test_429_storm_with_retry_after(world):
    graph = world.graph
    scenario = world.scenario("429 storm (Retry-After 0.5 s) on $batch, creates and PATCH").start()
    graph.inject_fault("POST", BATCH, status=429, retry_after=0.5, count=4, error_code="TooManyRequests")
    graph.inject_fault("POST", CREATE_ITEM, status=429, retry_after=0.5, count=8, error_code="ApplicationThrottled")
    graph.inject_fault("PATCH", EVENT, status=429, retry_after=0.5, count=4, error_code="TooManyRequests")

    world.connect()
    edits = world.edit_both_sides()
    job = _sync_after_edits(world)

    scenario.converge(edits=edits)
    stats = graph.stats()
    assert _count(stats, "429") >= 12, stats
    assert job["status"] == "completed", job
    assert graph.faults() == []  # every injected fault was hit (used-up faults disappear)


def test_503_and_504_bursts(world):
    graph = world.graph
    scenario = world.scenario("503/504 bursts (with and without Retry-After)").start()
    graph.inject_fault("GET", DELTA, status=503, count=2)
    graph.inject_fault("POST", BATCH, status=504, count=2)
    graph.inject_fault("POST", CREATE_ITEM, status=503, retry_after=0.2, count=5)
    graph.inject_fault("PATCH", EVENT, status=503, count=2)
    graph.inject_fault("GET", EVENT, status=504, count=2)

    world.connect()
    edits = world.edit_both_sides()
    graph.inject_fault("GET", DELTA, status=504, count=2)
    job = _sync_after_edits(world)

    scenario.converge(edits=edits)
    stats = graph.stats()
    assert _count(stats, "503") >= 5 and _count(stats, "504") >= 3, stats
    assert job["status"] == "completed", job


def test_slow_responses_time_out_and_are_retried(world, settings):
    settings.GRAPH_TIMEOUT_SECONDS = 1.0
    graph = world.graph
    scenario = world.scenario("slow responses (2.5 s > 1 s timeout)").start()
    # A slow request still completes on Graph's side after we gave up on it: the retry must not duplicate it.
    graph.inject_fault("POST", BATCH, latency_ms=2500, count=2)
    graph.inject_fault("GET", DELTA, latency_ms=2500, count=1)

    world.connect()
    graph.inject_fault("PATCH", EVENT, latency_ms=2500, count=2)
    edits = world.edit_both_sides()
    graph.inject_fault("GET", DELTA, latency_ms=2500, count=1)
    job = _sync_after_edits(world)

    wait_for(lambda: emulator_quiet(graph), timeout=30, message="the slow requests' late effects to land on Graph")
    scenario.converge(edits=edits)
    assert job["status"] == "completed", job
    assert graph.faults() == []  # every slow request happened (used-up faults disappear)


def test_dropped_connections(world):
    graph = world.graph
    scenario = world.scenario("dropped connections ($batch, create item, PATCH, delta)").start()
    graph.inject_fault("POST", BATCH, drop_connection=True, count=2)
    graph.inject_fault("POST", CREATE_ITEM, drop_connection=True, count=1)

    world.connect()
    graph.inject_fault("PATCH", EVENT, drop_connection=True, count=2)
    edits = world.edit_both_sides()
    graph.inject_fault("GET", DELTA, drop_connection=True, count=1)
    job = _sync_after_edits(world)

    scenario.converge(edits=edits)
    assert graph.stats()["status_counts"].get("dropped", 0) >= 4, graph.stats()
    assert job["status"] == "completed", job


def test_access_token_expiry_mid_run(world):
    graph = world.graph
    # Tokens look fresh for 5 s only (MSAL's 5-minute margin), and Graph also revokes them while the run goes on.
    graph.set_config(access_token_lifetime_s=305, service_time_ms=120)
    scenario = world.scenario("access token expiry mid-run").start()
    stop = threading.Event()

    def expire_repeatedly():
        while not stop.wait(0.8):
            graph.expire_access_tokens(MAILBOX)

    expirer = threading.Thread(target=expire_repeatedly, daemon=True)
    world.connect(wait=False)
    expirer.start()
    try:
        history = wait_for_idle(world.api_client, timeout=90)
        edits = world.edit_both_sides()
        job = _sync_after_edits(world)
    finally:
        stop.set()
        expirer.join(5)
    first = next(run for run in history if run["reason"] == "connect")
    scenario.notes.append(f"first full sync {first['syncStatus']} with {len(first.get('errors') or [])} error(s)")

    scenario.converge(edits=edits)
    stats = graph.stats()
    assert stats["status_counts"].get("401", 0) >= 1, stats
    assert stats["token_requests"]["refresh_token"] >= 2, stats
    assert first["syncStatus"] == "completed" and not first.get("errors"), (first["syncStatus"], first.get("errors"))
    assert job["status"] == "completed", job


def test_refresh_token_revoked_then_reconnect(world):
    graph, api = world.graph, world.api_client
    world.connect()
    scenario = world.scenario("refresh token revoked, then reconnect").start()
    graph.revoke_refresh_tokens(MAILBOX)
    graph.expire_access_tokens(MAILBOX)

    edits = world.edit_both_sides()  # the pushes of these edits find the refresh token dead
    settle(graph)
    wait_for_idle(api)
    status = api.get(f"{BASE}/sync").json()
    assert status["integration"]["needsReauthorization"] is True
    assert status["integration"]["lastSyncStatus"] == "error"
    refused = api.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "needs_reconnect"

    # From now on nothing may call Microsoft for this integration: not beat, not pushes.
    graph.reset_stats()
    tasks.safety_net_sync.apply()
    tasks.refresh_expiring_tokens.apply()
    tasks.maintain_subscriptions.apply()
    world.patch(world.events[10]["id"], location="Kew Gardens")
    settle(graph)  # the push this edit scheduled has run (and found the integration needing a reconnect)
    wait_for_idle(api)
    stats = graph.stats()
    assert stats["requests"] == 0 and sum(stats["token_requests"].values()) == 0, stats

    world.connect()  # the supplier reconnects through the consent page: a full sync catches up
    assert api.get(f"{BASE}/sync").json()["integration"]["needsReauthorization"] is False
    scenario.converge(edits=[*edits, *_location(world, 10, "Kew Gardens")])


def _location(world, index: int, value: str):
    return [Edit(world.events[index]["id"], "location", value)]


def test_delta_token_expired_410(world):
    graph = world.graph
    world.connect()
    scenario = world.scenario("delta token expired (410)").start()
    graph.expire_delta_tokens()
    edits = world.edit_both_sides()
    job = _sync_after_edits(world)

    scenario.converge(edits=edits)
    assert graph.stats()["status_counts"].get("410", 0) >= 1
    assert job["status"] == "completed", job
