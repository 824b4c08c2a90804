"""Shared fixtures for the project's tests.

The suite runs against the real PostgreSQL and Redis named by ``DATABASE_URL``,
``CELERY_BROKER_URL`` and ``CACHE_URL`` (``scripts/test.sh`` sets them). Each
pytest-xdist worker gets its own Celery queue and cache prefix so that workers
never take each other's tasks.
"""
from __future__ import annotations

import os
import secrets

import pytest

_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_configure(config):
    """One Celery queue per xdist worker, set before any task is sent (pytest-django has read the settings by now)."""
    from django.conf import settings

    from wedsync.celery import app

    settings.CELERY_TASK_DEFAULT_QUEUE = f"wedsync-test-{_XDIST_WORKER}"
    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


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
    return emulator.control


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (threads) consuming this test worker's own queue on the real Redis broker."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings as django_settings

    from wedsync.celery import app

    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_write() as connection:  # tasks left by earlier runs point at rows that no longer exist
        connection.default_channel.queue_purge(queue)
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60, queues=[queue]) as worker:
        yield worker


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
