"""Issue 13, typed errors: an identity-platform outage during a token refresh is an outage like any other.

Before, ``OAuthError`` escaped the engine as "Something went wrong on our side"; now the
refresh failure is a GraphError subclass, so the run ends failed with a readable,
retryable reason and a follow-up run is queued.
"""
from __future__ import annotations

import pytest

from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import BASE, connect, run_sync, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_identity_outage_during_refresh_is_a_readable_retryable_run_failure(api_client, graph):
    connect(api_client, graph)
    wait_for_idle(api_client)
    graph.expire_access_tokens(MAILBOX)  # Graph refuses the stored token: the engine must refresh it
    graph.inject_fault("POST", r"oauth2/v2\.0/token", status=503, count=None, retry_after=0)

    job = run_sync(api_client, timeout=120)

    graph.clear_faults()
    assert job["status"] == "failed"
    codes = [e["errorCode"] for e in job["errors"]]
    assert "internal_error" not in codes, job["errors"]
    run_error = job["errors"][-1]
    assert run_error["errorCode"] == "microsoft_unavailable" and run_error["retryable"] is True
    assert "Microsoft" in run_error["errorMessage"]
    assert api_client.get(f"{BASE}/sync").json()["integration"]["needsReauthorization"] is False  # an outage is not a dead connection


def test_the_settings_page_never_calls_microsoft(api_client, graph, client, supplier):
    """Issue 13 item 6: the calendar list comes from the worker's cache; the page GET sends no Graph request."""
    graph.create_calendar(MAILBOX, "Weddings 2027")
    connect(api_client, graph)  # reading the calendars is part of connecting
    wait_for_idle(api_client)
    client.force_login(supplier)
    graph.reset_stats()

    page = client.get("/calendar/outlook/")

    assert page.status_code == 200
    assert "Weddings 2027" in page.content.decode()
    assert graph.stats()["requests"] == 0
