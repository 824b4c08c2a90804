"""Fault matrix, part 3 (destructive): a worker SIGKILLed mid-sync, PostgreSQL and Redis restarts during a sync.

How this stays safe next to the other pytest-xdist worker (``--dist loadfile``
keeps this module on one xdist process, but the other one runs concurrently
against the same PostgreSQL and Redis servers):

* **Celery worker**: each scenario starts its own worker *process*
  (``celery -A wedsync worker -P threads -c 2``) on a fresh queue, with the
  emulator, the test database and the token keys passed as environment
  variables, and kills only that process (by its pid).
* **Redis**: this module starts a *private* ``redis-server`` on a free port
  (same flags as ``scripts/test.sh``: no persistence) and points the private
  worker's broker and cache, and this test process's broker, cache and locks,
  at it. "Redis restart" shuts that instance down (``shutdown nosave``: queued
  and unacknowledged messages, locks and cache keys are lost, as in a real
  restart without persistence) and starts it again. The shared Redis on 6379 is
  never touched.
* **PostgreSQL**: restarting the cluster (``pg_ctlcluster 15 main restart``
  works here) would break the other xdist process's connections, so "PostgreSQL
  restart" is simulated for this xdist worker's test database only, as its
  clients would see a restart: ``ALTER DATABASE ... ALLOW_CONNECTIONS false``,
  every backend of it except this test's own is terminated
  (``pg_terminate_backend``: connections die mid-query), new connections are
  refused for 3 s, then allowed again.

Each scenario ends with the convergence check. Where the project's behaviour
keeps the check from passing in reasonable time, the scenario records the
defect with its diagnosis, then simulates the passage of time (deletes the
expired-to-be lock, redelivers unacked messages as the visibility timeout
would) to check the rest of the recovery (no duplicate, edits applied), and
fails at the end listing the defects.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from outlook_sync import locks
from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncHistory
from wedsync import queues
from tests.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, wait_for
from tests.faults.convergence import ARTIFACTS, problems
from tests.integration.outlook_helpers import BASE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(django_settings.BASE_DIR)
#: This interpreter's Celery (a copied venv's bin/celery may point at another venv's python).
CELERY = [sys.executable, "-m", "celery"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own (no persistence, like scripts/test.sh), restartable without harming anyone."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="wedsync-faults-redis-")

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    def start(self) -> None:
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                        "--dir", self.dir, "--logfile", f"{self.dir}/redis.log", "--pidfile", f"{self.dir}/redis.pid"], check=True)
        wait_for(self.alive, timeout=15, message="private redis-server")

    def alive(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis_lib.RedisError:
            return False

    def shutdown(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        wait_for(lambda: not self.alive(), timeout=15, message="redis shutdown")


@pytest.fixture(scope="module")
def private_redis():
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        if server.alive():
            server.shutdown()


@pytest.fixture
def isolated(private_redis, graph, monkeypatch):
    """This test process and its workers on the private Redis and a fresh queue; restored afterwards."""
    from django.test import override_settings

    from wedsync.celery import app

    queue = f"wedsync-faults-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CELERY_BROKER_URL", os.environ.get("CELERY_BROKER_URL", app.conf.broker_url))  # restored afterwards
    saved = (app.conf.broker_url, app.conf.task_default_queue)

    def use_broker(url: str, queue_name: str) -> None:
        os.environ["CELERY_BROKER_URL"] = url  # Celery prefers the environment variable to its conf
        app.conf.broker_url = url
        app.conf.task_default_queue = queue_name
        app._pool = None  # connection and producer pools are built from the broker URL on first use
        app.amqp._producer_pool = None

    try:
        with override_settings(CACHES={"default": {**django_settings.CACHES["default"], "LOCATION": private_redis.url(2)}}):
            locks._redis.cache_clear()  # the locks' Redis client is cached from settings.CACHES
            use_broker(private_redis.url(1), queue)
            yield queue
    finally:
        use_broker(*saved)
        locks._redis.cache_clear()
        if not private_redis.alive():
            private_redis.start()


class WorkerProcess:
    """``celery -A wedsync worker`` as a child process on the scenario's queue; killed by its own pid only."""

    def __init__(self, queue: str, private_redis: PrivateRedis, emulator, log_dir: Path, name: str, consume: list[str] | None = None):
        self.queue = queue
        self.consume = consume or queues.both(queue)  # the queues it takes tasks from (-Q): by default interactive and background
        self.log = log_dir / f"worker-{name}.log"
        db = django_settings.DATABASES["default"]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "wedsync.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": private_redis.url(1),
            "CACHE_URL": private_redis.url(2),
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "SAFETY_NET_SKIP_RECENT_SECONDS": "0",  # as in this process (tests/conftest.py)
            "MICROSOFT_CLIENT_ID": CLIENT_ID,
            "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
            "MICROSOFT_AUTHORITY": f"{emulator.authority}/common",
            "MICROSOFT_REDIRECT_URI": REDIRECT_URI,
            "GRAPH_BASE_URL": emulator.graph_url,
            "GRAPH_CA_BUNDLE": emulator.ca_file,
            "WEBHOOK_PUBLIC_BASE_URL": "",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        handle = open(self.log, "ab")
        try:
            self.process = subprocess.Popen(
                [*CELERY, "-A", "wedsync", "worker", "-Q", ",".join(self.consume), "-P", "threads", "-c", "2", "-n", f"{self.name}-{uuid.uuid4().hex[:6]}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
                cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            handle.close()
        wait_for(lambda: " ready." in self.log.read_text(errors="replace") or self.process.poll() is not None, timeout=60, message=f"worker {self.name}")
        assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(isolated, private_redis, emulator, request):
    """Start worker processes on demand (logs in test-artifacts/faults-workers/); every one still running is stopped at the end."""
    started: list[WorkerProcess] = []
    log_dir = ARTIFACTS / "faults-workers"
    log_dir.mkdir(parents=True, exist_ok=True)

    def start(name: str) -> WorkerProcess:
        path = log_dir / f"worker-{request.node.name}-{name}.log"
        path.unlink(missing_ok=True)
        worker = WorkerProcess(isolated, private_redis, emulator, log_dir, f"{request.node.name}-{name}").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _running(supplier) -> list[OutlookSyncHistory]:
    return list(OutlookSyncHistory.objects.filter(integration__user=supplier, sync_status="in_progress"))


def _wait_for_creates(graph, at_least: int = 1, timeout: float = 30.0) -> None:
    """Until a $batch of creates is on its way to Graph (the run is in its slow part)."""
    wait_for(lambda: graph.stats()["by_endpoint"].get("POST /$batch", 0) >= at_least, timeout=timeout, message="$batch creates in flight")


def _converged_within(scenario, timeout: float, *, safety_net_every: float = 10.0) -> list[str]:
    """[] when converged within ``timeout`` (the beat's safety-net sync allowed); else the problems left."""
    from outlook_sync.tasks import safety_net_sync

    nudged = [time.monotonic()]
    found: list[str] = []

    def converged() -> bool:
        found[:] = problems(scenario.api_client, scenario.graph, supplier=scenario.supplier)
        if found and time.monotonic() - nudged[0] > safety_net_every:
            safety_net_sync.delay()
            nudged[0] = time.monotonic()
        return not found

    try:
        wait_for(converged, timeout=timeout, interval=0.3, message="convergence")
    except AssertionError:
        pass  # the caller reports what is left
    return found


def _first_creates_landed(graph, mailbox: str) -> None:
    """Until the first WedSync events exist in Outlook: the run is inside its $batch of creates."""
    wait_for(lambda: any(e["subject"].startswith("WedSync: ") for e in graph.events(mailbox)), timeout=30, message="first creates in Outlook")


def _log_since(path: Path, offset: int) -> str:
    return path.read_text(errors="replace")[offset:] if path.exists() else ""


def _database_outage(until, *, timeout: float = 30.0) -> int:
    """A PostgreSQL restart as this test database's clients see it: connections die, new ones are refused
    until ``until()`` holds (the worker has observably met the outage).

    Only this xdist worker's test database is affected (ALLOW_CONNECTIONS false, then its backends are terminated);
    this test's own connection is kept so the test can go on reading.
    """
    import psycopg

    db = django_settings.DATABASES["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as admin:
        name = psycopg.sql.Identifier(db["NAME"])
        admin.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            terminated = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                                       (db["NAME"], mine)).fetchone()[0]
            wait_for(until, timeout=timeout, message="the worker to meet the database outage")
        finally:
            admin.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    return terminated


def _redeliver_unacked(private_redis: PrivateRedis) -> int:
    """What the broker does once the visibility timeout has passed: unacknowledged messages go back on their queue."""
    from kombu import Connection

    with Connection(private_redis.url(1), transport_options={"visibility_timeout": 0}) as conn:
        channel = conn.default_channel
        before = channel.client.hlen(channel.unacked_key)
        channel.qos.restore_visible(num=1000)
        return before


def _run_states(supplier) -> list[tuple[str, str, str, bool, str]]:
    return [(str(r.pk)[:8], r.sync_type, r.sync_status, r.is_queued, ",".join(e.get("errorCode", "") for e in r.sync_errors or []))
            for r in OutlookSyncHistory.objects.filter(integration__user=supplier).order_by("started_at")]


#: A supplier whose worker, database or broker came back expects Outlook in step within this (seconds).
RECOVERY_BOUND = 90.0


def test_worker_killed_mid_sync_then_restarted(world, workers, private_redis, graph):
    graph.set_config(service_time_ms=150)  # a $batch of 20 creates takes 3 s
    first = workers("first")
    scenario = world.scenario("worker SIGKILLed mid-sync, then restarted")
    scenario.worker_logs.append(first.log)
    scenario.start()
    defects: list[str] = []

    world.connect(wait=False)
    _wait_for_creates(graph)
    _first_creates_landed(graph, world.mailbox)
    first.kill()  # mid-$batch: Graph goes on creating events whose mappings will never be written
    killed = _running(world.supplier)
    assert killed, "the run finished before the kill: make it slower"
    integration = OutlookCalendarIntegration.objects.get(user=world.supplier)
    prefix = django_settings.REDIS_KEY_PREFIX
    lock_key = f"{prefix}:wedsync:lock:sync-run:{integration.pk}" if prefix else f"wedsync:lock:sync-run:{integration.pk}"
    graph.set_config(service_time_ms=0)

    second = workers("second")
    scenario.worker_logs.append(second.log)
    restarted = time.monotonic()
    started = world.api_client.post(f"{BASE}/sync", {"syncType": "incremental"})  # the supplier clicks "Sync now"
    assert started.status_code == 202, started.content
    scenario.notes.append(f"POST /sync after restart answered {started.json()['status']}")

    left = _converged_within(scenario, RECOVERY_BOUND)
    if left:
        ttl = private_redis.client(2).pttl(lock_key)
        visibility = (django_settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("visibility_timeout", 3600)
        defect(scenario, defects, f"not in step {RECOVERY_BOUND:.0f} s after the worker restart",
               f"not converged {RECOVERY_BOUND:.0f} s after the worker restart: {left[0]}. Runs: {_run_states(world.supplier)}. "
               f"The dead worker's sync lock {lock_key} has {ttl / 1000:.0f} s left (engine.execute_run's locks.exclusive lease); "
               f"the killed task is redelivered only after the broker's visibility_timeout ({visibility} s)")
        scenario.notes.append("simulated: lock expiry + visibility-timeout redelivery + stuck runs closed")
        private_redis.client(2).delete(lock_key)
        _redeliver_unacked(private_redis)
        OutlookSyncHistory.objects.filter(pk__in=[r.pk for r in killed], sync_status="in_progress").update(sync_status="failed")
    else:
        scenario.notes.append(f"recovered {time.monotonic() - restarted:.0f} s after the restart; killed run ended "
                              f"{OutlookSyncHistory.objects.get(pk=killed[0].pk).sync_status}")

    scenario.converge(timeout=45, safety_net_every=10.0)
    ours = [e for e in graph.events(world.mailbox) if e["subject"].startswith("WedSync: ")]
    assert len(ours) == len(world.events)  # every event once: nothing duplicated by the re-run after the crash
    assert not defects, "\n".join(defects)


def test_postgresql_restart_during_a_sync(world, workers, graph):
    graph.set_config(service_time_ms=120)
    worker = workers("pg")
    scenario = world.scenario("PostgreSQL restart (connections killed, 3 s refused) during a sync")
    scenario.worker_logs.append(worker.log)
    scenario.start()
    defects: list[str] = []

    world.connect(wait=False)
    _wait_for_creates(graph)
    _first_creates_landed(graph, world.mailbox)
    interrupted = _running(world.supplier)
    offset = len(worker.log.read_text(errors="replace"))
    refused_at = time.monotonic()
    # Refused until the worker has hit it (its log shows the database error), so the outage is really met.
    terminated = _database_outage(lambda: "OperationalError" in _log_since(worker.log, offset))
    scenario.notes.append(f"{terminated} backend(s) terminated, database refused connections for {time.monotonic() - refused_at:.1f} s")
    graph.set_config(service_time_ms=0)
    back = time.monotonic()
    started = world.api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert started.status_code == 202, started.content
    scenario.notes.append(f"POST /sync afterwards answered {started.json()['status']}")

    left = _converged_within(scenario, RECOVERY_BOUND)
    if left:
        stuck = _running(world.supplier)
        defect(scenario, defects, f"not in step {RECOVERY_BOUND:.0f} s after the database came back",
               f"not converged {RECOVERY_BOUND:.0f} s after the database came back: {left[0]}. Runs: {_run_states(world.supplier)}. "
               f"The interrupted run's failure handler (engine.execute_run, except BaseException: runs.finish) needs the database "
               f"while it still refuses connections, raises again, and the task (no autoretry) is acked as failed; nothing closes the run")
        scenario.notes.append("simulated: the stuck run closed by hand")
        OutlookSyncHistory.objects.filter(pk__in=[r.pk for r in stuck], sync_status="in_progress").update(sync_status="failed")
    else:
        scenario.notes.append(f"recovered {time.monotonic() - back:.0f} s after; interrupted run ended "
                              f"{OutlookSyncHistory.objects.get(pk=interrupted[0].pk).sync_status if interrupted else '?'}")

    scenario.converge(timeout=45, safety_net_every=10.0)
    ours = [e for e in graph.events(world.mailbox) if e["subject"].startswith("WedSync: ")]
    assert len(ours) == len(world.events)
    assert worker.process.poll() is None, "the worker process died with its database connections"
    assert not defects, "\n".join(defects)


def test_redis_restarted_during_a_sync(world, workers, private_redis, graph):
    graph.set_config(service_time_ms=120)
    worker = workers("redis")
    scenario = world.scenario("Redis restart (no persistence) during a sync")
    scenario.worker_logs.append(worker.log)
    scenario.start()
    defects: list[str] = []

    world.connect(wait=False)
    _wait_for_creates(graph)
    _first_creates_landed(graph, world.mailbox)
    offset = len(worker.log.read_text(errors="replace"))
    down_at = timezone.now()
    private_redis.shutdown()
    # A supplier clicks "Sync now" while Redis is down.
    world.api_client.client.raise_request_exception = False
    during = world.api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    world.api_client.client.raise_request_exception = True
    # Down until the worker has noticed (its log says the broker connection was lost).
    wait_for(lambda: "onnection" in _log_since(worker.log, offset) or worker.process.poll() is not None, timeout=30, message="the worker to lose the broker")
    private_redis.start()
    back = time.monotonic()
    scenario.notes.append(f"POST /sync while Redis was down answered {during.status_code}")
    graph.set_config(service_time_ms=0)
    # The supplier gets either the run (queued) or "try again" in the error shape: never a server error.
    shaped = during.json().get("error", {}).get("code") if during.headers.get("Content-Type", "").startswith("application/json") else None
    if not (during.status_code == 202 or (during.status_code == 503 and shaped in ("sync_unavailable", "temporarily_unavailable"))):
        defect(scenario, defects, "POST /sync during the broker outage: not 202 and not a 503 to retry",
               f"POST /sync while Redis was down answered HTTP {during.status_code} ({shaped or 'not the API error shape'})")

    # Until the worker is back on the broker (a new "Connected to redis://" line) or has exited.
    wait_for(lambda: "Connected to redis://" in _log_since(worker.log, offset) or worker.process.poll() is not None, timeout=60,
             message="the worker to reconnect to the broker or exit")
    if worker.process.poll() is not None:
        # Seen with Celery 5.7 / kombu 5.7 (-P threads): "Unrecoverable error: AttributeError('NoneType' object has no
        # attribute 'hostname')" while restoring unacked messages on the lost connection. docker-compose restarts it
        # (restart: unless-stopped); so do we.
        scenario.notes.append(f"worker process exited ({worker.process.returncode}) on the lost broker connection; restarted")
        worker = workers("redis-restarted")
        scenario.worker_logs.append(worker.log)
    after = world.api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    assert after.status_code == 202, after.content
    scenario.notes.append(f"POST /sync after the restart answered {after.json()['status']}")

    left = _converged_within(scenario, RECOVERY_BOUND)
    if left:
        stuck = _running(world.supplier)
        orphans = [r for r in stuck if r.started_at >= down_at]
        defect(scenario, defects, f"not in step {RECOVERY_BOUND:.0f} s after Redis came back",
               f"not converged {RECOVERY_BOUND:.0f} s after Redis came back: {left[0]}. Runs: {_run_states(world.supplier)}. "
               f"Run(s) {[str(r.pk)[:8] for r in orphans]} created during the outage were never sent to the broker and stay "
               f"in_progress; a queued one is handed back by runs.open_run to every later POST /sync and safety-net sync "
               f"(created=False, so nothing is enqueued again)")
        scenario.notes.append("simulated: orphaned runs closed by hand, then Sync now")
        OutlookSyncHistory.objects.filter(pk__in=[r.pk for r in stuck], sync_status="in_progress").update(sync_status="failed")
        world.api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    else:
        scenario.notes.append(f"recovered {time.monotonic() - back:.0f} s after Redis came back")

    scenario.converge(timeout=45, safety_net_every=10.0)
    ours = [e for e in graph.events(world.mailbox) if e["subject"].startswith("WedSync: ")]
    assert len(ours) == len(world.events)
    assert not defects, "\n".join(defects)


def defect(scenario, defects: list[str], short: str, long: str) -> None:
    """Record a project defect: in the summary line (short) and in the final assertion (long)."""
    scenario.notes.append(f"DEFECT: {short}")
    defects.append(long)
