"""Scaling out: two worker processes on the same Redis and PostgreSQL keep the per-mailbox cap and run exclusivity.

Two ``celery -A wedsync worker`` processes (the README's command, both queues) share this test's Redis
(broker, cache, locks, under the run's key prefix) and its database, on a queue pair of this test only (the
in-process worker never sees these tasks). The emulator admits up to 32 concurrent requests per mailbox
here, so only our own cap (``outlook_sync.locks``, 4 per mailbox, in Redis) can keep a mailbox at 4; Graph
is slowed down (200 ms a request) so that the work of both processes overlaps.
"""
from __future__ import annotations

import uuid

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncHistory
from tests.conftest import MAILBOX, CsrfApiClient, emulator_quiet, wait_for
from tests.faults.convergence import ARTIFACTS
from tests.faults.test_destructive import WorkerProcess
from tests.integration.outlook_helpers import BASE, at, connect
from tests.integration.test_outlook_sync import _create_event
from wedsync import queues
from wedsync.celery import app

pytestmark = pytest.mark.django_db(transaction=True)

SECOND_MAILBOX = "blake@contoso-weddings.example"


class SharedRedis:
    """This run's Redis as ``WorkerProcess`` asks for it: the broker (db 1) and the cache and locks (db 2)."""

    def url(self, db: int) -> str:
        return {1: django_settings.CELERY_BROKER_URL, 2: django_settings.CACHES["default"]["LOCATION"]}[db]


@pytest.fixture
def worker_processes(graph, emulator, request):
    """``start(name, consume=None)``: a worker process on a queue pair of this test (this process sends its tasks
    there too), consuming both queues or only ``consume``; all stopped and the queues emptied at the end."""
    base, saved = f"wedsync-scale-{uuid.uuid4().hex[:8]}", app.conf.task_default_queue
    app.conf.task_default_queue = base
    log_dir = ARTIFACTS / "scale-out-workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []

    def start(name: str, consume: list[str] | None = None) -> WorkerProcess:
        (log_dir / f"worker-{request.node.name}-{name}.log").unlink(missing_ok=True)
        started.append(WorkerProcess(base, SharedRedis(), emulator, log_dir, f"{request.node.name}-{name}", consume=consume).start())
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        app.conf.task_default_queue = saved
        with app.connection_for_write() as connection:
            for name in queues.both(base):
                connection.default_channel.queue_purge(name)


@pytest.fixture
def two_workers(worker_processes):
    return [worker_processes("one"), worker_processes("two")]


def _client(user) -> CsrfApiClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return CsrfApiClient(client)


def _runs_done(integrations) -> bool:
    return not OutlookSyncHistory.objects.filter(integration__in=integrations, sync_status="in_progress").exists()


def test_two_worker_processes_keep_every_mailbox_at_4_requests_and_every_integration_to_one_run(
        graph, two_workers, supplier, other_supplier):
    graph.create_user(SECOND_MAILBOX, "Blake Rowe")
    graph.set_config(concurrency_limit=32, service_time_ms=200)
    suppliers = [(supplier, MAILBOX), (other_supplier, SECOND_MAILBOX)]
    clients = []
    for user, mailbox in suppliers:
        client = _client(user)
        created = []
        for n in range(45):  # three $batch requests of creates per full sync
            created.append(_create_event(client, title=f"{user.username} meeting {n}", startsAt=at(2 + n % 20, 8 + n % 9).isoformat(),
                          endsAt=at(2 + n % 20, 9 + n % 9).isoformat(), attendees=[]))
        connect(client, graph, email=mailbox)
        clients.append((client, created))
    integrations = list(OutlookCalendarIntegration.objects.filter(user__in=[s for s, _ in suppliers]))
    assert len(integrations) == 2

    # While both full syncs push, ask for everything else at once: manual syncs (runs queued behind the running
    # one, on either process), beat's safety net and calendar-list refreshes (background queue), more edits.
    for client, _ in clients:
        for sync_type in ("full_sync", "incremental", "full_sync"):
            assert client.post(f"{BASE}/sync", {"syncType": sync_type}).status_code == 202
    tasks.safety_net_sync.apply()
    for integration in integrations:
        for _ in range(4):
            tasks.enqueue(tasks.refresh_calendar_list, integration.pk)
    for client, created in clients:
        for event in created[:3]:
            assert client.patch(f"/api/events/{event['id']}/", {"location": "The Orangery"}).status_code == 200

    # A second wave once the manual full syncs have begun (a begun run absorbs nothing): new runs, queued on
    # whichever process is free, that must wait for the running ones.
    wait_for(lambda: OutlookSyncHistory.objects.filter(integration__in=integrations, triggered_by="manual", began_at__isnull=False).count() == 2,
             timeout=120, interval=0.2, message="the manual full syncs to begin")
    for client, created in clients:
        assert client.post(f"{BASE}/sync", {"syncType": "incremental"}).status_code == 202
        assert client.patch(f"/api/events/{created[5]['id']}/", {"location": "The Long Barn"}).status_code == 200

    wait_for(lambda: _runs_done(integrations) and emulator_quiet(graph), timeout=240, interval=0.5, message="every run to finish on the two workers")
    wait_for(lambda: _runs_done(integrations) and emulator_quiet(graph), timeout=60, interval=0.5, message="nothing started meanwhile")

    stats = graph.stats()
    peaks = {mailbox: stats["peak_concurrency"].get(mailbox, 0) for _, mailbox in suppliers}
    assert peaks == {MAILBOX: 4, SECOND_MAILBOX: 4}, stats["peak_concurrency"]  # reached, never exceeded

    for integration in integrations:
        runs = list(OutlookSyncHistory.objects.filter(integration=integration, began_at__isnull=False).order_by("began_at"))
        assert len(runs) >= 3, [(r.sync_type, r.triggered_by, r.sync_status) for r in runs]
        for earlier, later in zip(runs, runs[1:]):
            assert earlier.completed_at <= later.began_at, f"two runs of {integration.pk} at once: {earlier.pk} and {later.pk}"
        assert all(r.sync_status == "completed" for r in runs), [(r.sync_type, r.sync_status, r.sync_errors) for r in runs]

    logs = [worker.log.read_text(errors="replace") for worker in two_workers]
    assert all("Task outlook_sync.tasks." in log for log in logs), "both processes took tasks"


def _waiting(queue: str) -> int:
    """Messages on the queue, read as Redis holds them (a list under the broker's key prefix)."""
    import redis

    prefix = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL).llen(f"{prefix}{queue}")


def test_a_supplier_edit_reaches_outlook_past_a_background_backlog(graph, worker_processes, api_client):
    """The interactive worker (README: ``-Q wedsync``) never takes background work, however much of it waits."""
    worker_processes("interactive", consume=[queues.interactive()])
    event = _create_event(api_client, title="Tasting", startsAt=at(3, 11).isoformat(), endsAt=at(3, 12).isoformat(), attendees=[])
    connect(api_client, graph)
    wait_for(lambda: any(e["subject"].endswith("Tasting") for e in graph.events(MAILBOX)), timeout=60, message="the first full sync")
    integration = OutlookCalendarIntegration.objects.get()
    for _ in range(300):  # beat's fan-out nobody has taken yet (no background worker here)
        tasks.enqueue(tasks.refresh_calendar_list, integration.pk)
    tasks.safety_net_sync.apply()
    backlog = _waiting(queues.background())
    assert backlog >= 301

    assert api_client.patch(f"/api/events/{event['id']}/", {"title": "Tasting with the chef"}).status_code == 200
    wait_for(lambda: any(e["subject"].endswith("Tasting with the chef") for e in graph.events(MAILBOX)), timeout=60, message="the edit in Outlook")
    assert _waiting(queues.background()) == backlog  # the edit went past the backlog, which is still all there
