"""Steps shared by the Outlook integration tests, all through public surfaces (HTTP API, emulator)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from tests.conftest import MAILBOX, wait_for

BASE = "/api/calendar/outlook"

#: Graph's dateTime format (seven fractional digits, no offset; the zone goes in ``timeZone``).
GRAPH_DATETIME = "%Y-%m-%dT%H:%M:%S.0000000"


def at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """``days`` from today at ``hour:minute`` UTC (an instant; a test's events are placed relative to now)."""
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)


def graph_when(start: dt.datetime, end: dt.datetime) -> dict:
    """``start``/``end`` as a Graph event body gives them (UTC)."""
    return {"start": {"dateTime": start.strftime(GRAPH_DATETIME), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime(GRAPH_DATETIME), "timeZone": "UTC"}}


def consent(api_client, graph, *, email: str = MAILBOX, accept: bool = True) -> dict:
    """Start connecting, go through the emulator's consent page; return the redirect's query (code/state or error)."""
    started = api_client.get(f"{BASE}/auth")
    assert started.status_code == 200, started.content
    location = graph.consent(started.json()["authUrl"], email, accept=accept)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == started.json()["state"]
    return query


def connect(api_client, graph, *, email: str = MAILBOX, confirm: bool = True) -> dict:
    """The whole connect flow; returns the callback's JSON.

    A new connection waits in the guided step (``needsSetup``); ``confirm`` confirms it with the choices as they
    are (``PUT /settings {"confirmSetup": true}``), which starts the first sync.
    """
    query = consent(api_client, graph, email=email)
    response = api_client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]})
    assert response.status_code == 200, response.content
    body = response.json()
    if confirm and body["integration"]["needsSetup"]:
        confirmed = api_client.put(f"{BASE}/settings", {"confirmSetup": True})
        assert confirmed.status_code == 200, confirmed.content
    return body


def wait_for_idle(api_client, *, timeout: float = 60.0) -> list[dict]:
    """Wait until every task sent so far has run (a push is sent 0.3 s after the edit) and no sync run of the
    supplier is in progress; return the recent history."""
    from tests.conftest import settle

    settle(timeout=timeout)

    def idle():
        history = api_client.get(f"{BASE}/sync").json()["recentSyncHistory"]
        return history if history and all(run["syncStatus"] not in ("queued", "in_progress") for run in history) else None

    return wait_for(idle, timeout=timeout, message="sync runs to finish")


def run_sync(api_client, *, sync_type: str = "incremental", timeout: float = 60.0, **extra) -> dict:
    """Start a sync through the API and wait for it; returns the finished job."""
    started = api_client.post(f"{BASE}/sync", {"syncType": sync_type, **extra})
    assert started.status_code == 202, started.content
    sync_id = started.json()["syncId"]

    def finished():
        job = api_client.get(f"{BASE}/sync/{sync_id}").json()
        return job if job["status"] not in ("queued", "in_progress") else None

    return wait_for(finished, timeout=timeout, message=f"sync {sync_id}")


def outlook_events(graph, email: str = MAILBOX) -> list[dict]:
    return graph.events(email)


def disconnect(api_client, *, remove_events: bool = True, timeout: float = 60.0) -> tuple[dict, dict]:
    """Disconnect through the API and wait for the worker; returns ``(the DELETE's answer, the finished disconnect)``.

    The DELETE answers at once (202) while the integration is ``disconnecting``; ``GET /integration`` then shows
    the progress and, once the worker has finished, the outcome.
    """
    answer = api_client.delete(f"{BASE}/integration" + ("" if remove_events else "?removeEvents=false"))
    assert answer.status_code == 202, answer.content
    return answer.json(), wait_for_disconnect(api_client, timeout=timeout)


def wait_for_disconnect(api_client, *, timeout: float = 60.0) -> dict:
    """Wait until ``GET /integration`` says disconnected; returns its finished ``disconnect``."""

    def finished():
        state = api_client.get(f"{BASE}/integration").json()
        return state["disconnect"] if state["connectionState"] == "disconnected" else None

    return wait_for(finished, timeout=timeout, message="the disconnect to finish")
