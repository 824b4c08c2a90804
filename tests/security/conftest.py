"""Helpers of the security tests: a second supplier connected to a second mailbox, and response recording."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import CsrfApiClient

OTHER_MAILBOX = "blake@contoso-weddings.example"


def at(days: int, hour: int) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)


def graph_when(start: dt.datetime, end: dt.datetime) -> dict:
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {"start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"}, "end": {"dateTime": end.strftime(fmt), "timeZone": "UTC"}}


def create_event(client, title: str, days: int = 3, hour: int = 10, **extra) -> dict:
    body = {"eventType": "client_meeting", "title": title, "location": "The Old Barn", "startsAt": at(days, hour).isoformat(),
            "endsAt": at(days, hour + 1).isoformat(), "timeZone": "Europe/London", "attendees": []} | extra
    response = client.post("/api/events/", body)
    assert response.status_code == 201, response.content
    return response.json()


class RecordingClient:
    """A CsrfApiClient that keeps every response (status, headers, body) for later searching."""

    def __init__(self, inner: CsrfApiClient):
        self.inner = inner
        self.client = inner.client
        self.responses: list[tuple[str, str, int, str]] = []

    def _keep(self, method, path, response):
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
        self.responses.append((method, str(path), response.status_code, headers + "\n\n" + body.decode("utf-8", "replace")))
        return response

    def get(self, path, data=None, **extra):
        return self._keep("GET", path, self.inner.get(path, data, **extra))

    def post(self, path, data=None, **extra):
        return self._keep("POST", path, self.inner.post(path, data, **extra))

    def put(self, path, data=None, **extra):
        return self._keep("PUT", path, self.inner.put(path, data, **extra))

    def patch(self, path, data=None, **extra):
        return self._keep("PATCH", path, self.inner.patch(path, data, **extra))

    def delete(self, path, data=None, **extra):
        return self._keep("DELETE", path, self.inner.delete(path, data, **extra))

    def text(self) -> str:
        return "\n".join(body for *_, body in self.responses)


@pytest.fixture
def other_api_client(other_supplier) -> CsrfApiClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(other_supplier)
    return CsrfApiClient(client)
