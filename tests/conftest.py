"""Shared fixtures for the project's tests.

The suite runs against the real PostgreSQL and Redis named by ``DATABASE_URL``,
``CELERY_BROKER_URL`` and ``CACHE_URL`` (``scripts/test.sh`` sets them). Each
run has an id (``WEDSYNC_TEST_RUN_ID``, set by ``scripts/test.sh``, which also
derives the database name and the Redis key prefix from it), and each
pytest-xdist worker of a run gets its own pair of Celery queues (interactive and
background, see ``wedsync/queues.py``), so neither two runs nor two workers ever
take each other's tasks.
"""
from __future__ import annotations

import os
import secrets
import threading
import uuid

import pytest

_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
#: This run's id: from scripts/test.sh, else xdist's id of the whole run, else a fresh one (plain pytest).
RUN_ID = os.environ.get("WEDSYNC_TEST_RUN_ID") or os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or uuid.uuid4().hex[:8]


def pytest_configure(config):
    """One Celery queue per xdist worker, set before any task is sent (pytest-django has read the settings by now)."""
    from django.conf import settings

    from wedsync.celery import app

    settings.CELERY_TASK_DEFAULT_QUEUE = f"wedsync-test-{RUN_ID}-{_XDIST_WORKER}"
    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    from wedsync import queues

    TASKS.queues = set(queues.both(settings.CELERY_TASK_DEFAULT_QUEUE))
    # Tests nudge the safety net right after a sync (a lost notification, a worker killed): it must not skip the
    # integration for having synced a moment ago. The test of that skip sets it back.
    settings.SAFETY_NET_SKIP_RECENT_SECONDS = 0
    from celery import signals

    signals.after_task_publish.connect(TASKS.on_publish, weak=False)
    signals.task_postrun.connect(TASKS.on_postrun, weak=False)


class TaskTracker:
    """Every task this test process sends to its own queue, and every one the in-process worker finished.

    The web requests of the tests (Django's test client, ``live_server``) and the
    ``celery_worker`` fixture's threads all live in this process, so Celery's
    signals see both ends: "drained" is a fact (every message sent to our queue
    has been executed, retries and countdowns included), not a guess after a
    sleep. ``sent_since(mark)`` lists the tasks sent after ``mark()``, so a test
    can prove that nothing was queued.
    """

    def __init__(self):
        self.queues: set[str] = set()  # this process's interactive and background queues
        self._guard = threading.Lock()
        self._outstanding: dict[str, int] = {}  # task id -> messages sent minus executions (a retry re-sends the same id)
        self._sent: list[tuple[str, list]] = []  # (task name, args) of every message, in order
        self._deferred: set[str] = set()  # ids of tasks due later than DEFERRED_AFTER_SECONDS when sent

    def on_publish(self, sender=None, headers=None, routing_key=None, body=None, **_):
        if routing_key not in self.queues or not headers:
            return  # another queue (e.g. the destructive tests' own worker processes)
        with self._guard:
            self._sent.append((sender, list(body[0]) if isinstance(body, (list, tuple)) and body else []))
            if _seconds_until(headers.get("eta")) > DEFERRED_AFTER_SECONDS:
                self._deferred.add(headers["id"])  # a follow-up after Retry-After: scheduled, not in flight
                return
            self._deferred.discard(headers["id"])
            self._count(headers["id"], +1)

    def on_postrun(self, task_id=None, **_):
        with self._guard:
            if task_id in self._deferred:
                self._deferred.discard(task_id)
                return
            self._count(task_id, -1)

    def _count(self, task_id: str, delta: int) -> None:
        # Commutative: the worker may finish a task before its publisher's after_task_publish fires.
        left = self._outstanding.get(task_id, 0) + delta
        if left:
            self._outstanding[task_id] = left
        else:
            self._outstanding.pop(task_id, None)

    def forget_outstanding(self) -> None:
        with self._guard:
            self._outstanding.clear()

    def drained(self) -> bool:
        with self._guard:
            return not any(left > 0 for left in self._outstanding.values())

    def mark(self) -> int:
        with self._guard:
            return len(self._sent)

    def sent_since(self, mark: int) -> list[tuple[str, list]]:
        with self._guard:
            return list(self._sent[mark:])


#: A task sent with a countdown longer than this (a retry after Retry-After, 30 s at least) is "scheduled", not in
#: flight: settle() does not wait for it; a test that needs it waits for its effect.
DEFERRED_AFTER_SECONDS = 10.0


def _seconds_until(eta: str | None) -> float:
    if not eta:
        return 0.0
    import datetime as dt

    when = dt.datetime.fromisoformat(eta)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds()


TASKS = TaskTracker()


def drain(*, timeout: float = 60.0) -> None:
    """Wait until the in-process worker has executed every task this process sent (countdowns and retries included)."""
    wait_for(TASKS.drained, timeout=timeout, message="the worker to execute every task sent to it")


@pytest.fixture(autouse=True)
def _worker_drained_before_the_database_is_flushed(request):
    """A test with the real worker ends only once the worker has run every task the test sent.

    Without this, a run the test started but did not wait for (a settings change starts a full sync)
    was still writing when pytest-django flushed the database: the flush failed and the next test
    found this test's rows. Declared here, this autouse fixture is set up after pytest-django's own
    database fixture, so its teardown runs before the flush.
    """
    yield
    if "celery_worker" in request.fixturenames:
        drain()


@pytest.fixture
def supplier(django_user_model):
    """A wedding supplier (a plain Django user)."""
    return django_user_model.objects.create_user(username="avery", email="avery@example.com", password="correct horse 9")


@pytest.fixture
def other_supplier(django_user_model):
    return django_user_model.objects.create_user(username="blake", email="blake@example.com", password="correct horse 9")


@pytest.fixture
def api_client(supplier):
    """A browser-like API client signed in as ``supplier``, with CSRF enforced."""
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(supplier)
    return CsrfApiClient(client)


class CsrfApiClient:
    """Wraps DRF's APIClient to send the CSRF token header the way the WedSync frontend does."""

    def __init__(self, client):
        self.client = client

    def _token(self) -> str:
        if "csrftoken" not in self.client.cookies:
            self.client.cookies["csrftoken"] = secrets.token_hex(16)  # a 32-character CSRF secret
        return self.client.cookies["csrftoken"].value

    def get(self, path, data=None, **extra):
        return self.client.get(path, data, **extra)

    def _unsafe(self, method, path, data=None, **extra):
        extra.setdefault("HTTP_X_CSRFTOKEN", self._token())
        return getattr(self.client, method)(path, data, format="json", **extra)

    def post(self, path, data=None, **extra):
        return self._unsafe("post", path, data, **extra)

    def put(self, path, data=None, **extra):
        return self._unsafe("put", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._unsafe("patch", path, data, **extra)

    def delete(self, path, data=None, **extra):
        return self._unsafe("delete", path, data, **extra)


# --- Microsoft: the graph_emulator, spoken to over TLS ---
CLIENT_ID = "wedsync-tests"
CLIENT_SECRET = "wedsync-tests-secret-6d1f"
REDIRECT_URI = "http://testserver/calendar/outlook/callback/"
MAILBOX = "avery@contoso-weddings.example"


@pytest.fixture(scope="session")
def emulator():
    """One emulator process per test worker (HTTPS with its own CA)."""
    from graph_emulator.testing import EmulatorProcess

    # The webhook receiver in tests is Django's live server, plain http on localhost: the emulator accepts it only
    # with this development flag (Microsoft requires https notification URLs).
    with EmulatorProcess(tls=True, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI],
                         allow_insecure_notification_urls=True) as process:
        yield process


@pytest.fixture
def graph(emulator, settings):
    """The emulator, reset, with settings pointing the app at it; returns its control client."""
    emulator.control.reset()
    emulator.control.create_user(MAILBOX, "Avery Quinn")
    settings.MICROSOFT_CLIENT_ID = CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
    settings.MICROSOFT_AUTHORITY = f"{emulator.authority}/common"
    settings.MICROSOFT_REDIRECT_URI = REDIRECT_URI
    settings.GRAPH_BASE_URL = emulator.graph_url
    settings.GRAPH_CA_BUNDLE = emulator.ca_file
    yield emulator.control
    # Nothing of this test's mailbox may reach the next test: a notification Graph would still retry (with
    # back-off, for hours) would otherwise arrive at the live server between tests.
    emulator.control.reset()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (threads) consuming this test worker's own queues (interactive and background) on the real Redis broker."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings as django_settings

    from wedsync.celery import app

    from wedsync import queues

    names = queues.both(django_settings.CELERY_TASK_DEFAULT_QUEUE)
    with app.connection_for_write() as connection:  # tasks left by earlier runs point at rows that no longer exist
        for name in names:
            connection.default_channel.queue_purge(name)
    TASKS.forget_outstanding()  # what tests sent before the worker existed was just purged: it will never run
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60, queues=names) as worker:
        yield worker
    _close_other_sessions(django_db_blocker)


def _close_other_sessions(django_db_blocker) -> None:
    """End the database sessions the worker's (now finished) threads left open, so the test database can be dropped.

    Django keeps one connection per thread and closes it only in the thread that
    opened it; a pool thread that has exited can no longer do so.
    """
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        connection.close()


def emulator_quiet(control) -> bool:
    """The emulator answered every Graph request it received and has no notification left to deliver."""
    activity = control.activity()
    return activity["requests_in_flight"] == 0 and activity["pending_notifications"] == 0


def settle(control=None, *, timeout: float = 60.0) -> None:
    """Wait until nothing is left to happen: the worker executed every task sent to it and (given the
    emulator's control client) the emulator answered every request and delivered every notification.

    Checked as one stable observation (no task sent between the first and the last look), so a
    notification delivered, or a task sent, between the checks starts the wait over.
    """

    def quiet() -> bool:
        mark = TASKS.mark()
        return TASKS.drained() and (control is None or emulator_quiet(control)) and TASKS.drained() and TASKS.mark() == mark

    wait_for(quiet, timeout=timeout, message="the worker and the emulator to finish everything in flight")


#: Every wait_for waits at least this long before failing (the shared 2-core machine can be slow; only a real
#: failure ever pays the full time).
WAIT_FLOOR_SECONDS = 60.0


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds.

    The only place in the test tree allowed to sleep (``tests/test_no_sleeps.py`` enforces it): every wait
    is on something observable, the poll interval is not a duration the test relies on.
    """
    import time

    timeout = max(timeout, WAIT_FLOOR_SECONDS)  # a wait is never a timing assertion: a busy machine only makes it slower
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
