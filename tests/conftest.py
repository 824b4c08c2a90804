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
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"wedsync-test-{_XDIST_WORKER}")


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
