"""Query counts of the hot paths: they must not grow with the supplier's calendar (no N+1).

Each path is measured on a small and on a larger calendar (through the API, a
real worker for the set-up and the emulator); the count must be the same, and
it is pinned with ``django_assert_num_queries`` so that a new query on a hot
path is a decision, not an accident. The counts are of this thread's
connection: the HTTP request (test client) or the Celery task executed here
(``task.apply``, the same code the worker runs).
"""
from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookNotification, OutlookSyncHistory
from outlook_sync.sync import runs
from tests.conftest import MAILBOX, settle
from tests.integration.outlook_helpers import BASE, at, connect, graph_when, wait_for_idle
from tests.integration.test_fleet import _full_read, _integration
from tests.integration.test_outlook_sync import _create_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

#: Pinned counts (see each test). Change them only together with the reason in the commit message.
#: Measured with `PYTEST_WORKERS=0 bash scripts/test.sh tests/integration/test_query_counts.py -s` (prints QUERIES n);
#: a failing pin lists its queries with -vv. A signed-in request starts with the session and the user (2); the
#: session is written only once its expiry lags by SESSION_RENEWAL_INTERVAL_SECONDS (wedsync/sessions.py, 5 min),
#: which these tests never last.
#: session, user, integration, mapping counts (one aggregate), events never synced, last full sync,
#: beat's safety-net entry (nextScheduledSync), recent history (with has_changes)
GET_SYNC_QUERIES = 8
#: session, user, integration, filters and total (one grouped query), the page's rows (with their events)
GET_EVENTS_QUERIES = 5
#: session, user, integration, the supplier's time zone, the run shown in progress, the sync statistics
#: (mapping counts, events never synced, last full sync, beat's entry), recent history, the retry waiting for
#: Outlook's Retry-After (the health line's "we'll try again at"); the navigation's conflict badge reuses the
#: statistics' count; the events the recent runs changed (the history names them); the calendars ticked as busy
SETTINGS_PAGE_QUERIES = 13
#: No run waiting to read Outlook: the subscriptions looked up (with whether a run waits), BEGIN, INSERT of the
#: batch, COMMIT; then recording the run (runs.open_run): BEGIN, the integration locked, the waiting runs read
#: again under the lock, INSERT of the run, COMMIT
RECEIVER_QUERIES = 9
#: A run already waiting (the common case under load): the subscriptions looked up, BEGIN, INSERT, COMMIT
RECEIVER_QUERIES_RUN_WAITING = 4
#: One incremental run with one Outlook change, whole task: the run (with its integration) read, then read again
#: under the run lock; interrupted runs; the work counted (2), the run begun with that total (UPDATE) and read
#: back (what a request widened meanwhile); the delta read whole, its changes added to the total (UPDATE, before
#: any is applied); the delta page's mappings; the event re-read and updated (BEGIN,
#: SELECT FOR UPDATE, UPDATE, COMMIT), its mapping saved; the delta link stored; copies to remove, WedSync
#: changes, events never synced; the journal (BEGIN, INSERT, COMMIT) and the progress (with the total); finish
#: (read, UPDATE run, UPDATE integration); the other calendars ticked as busy (none here). The token is the one
#: read with the integration: no query for it.
INCREMENTAL_QUERIES = 27
#: An idle integration's safety-net sync (the background task, nothing changed on either side): the integration
#: selected again (with whether its daily full read is done); the run recorded (runs.open_run: BEGIN, the
#: integration locked, the waiting runs, INSERT, COMMIT); then the run as in INCREMENTAL_QUERIES without a
#: change to apply (the calendars ticked as busy looked up too: none here). Whatever the number of other
#: integrations, runs and notifications in the database.
IDLE_SAFETY_NET_QUERIES = 21


def _count(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    print(f"QUERIES {len(captured.captured_queries)}")  # shown with -s; the pinned numbers above come from here
    return len(captured.captured_queries)


def _add_events(api_client, graph, start: int, count: int) -> None:
    for n in range(start, start + count):
        _create_event(api_client, title=f"Meeting {n}", startsAt=at(2 + n % 20, 9 + n % 8).isoformat(), endsAt=at(2 + n % 20, 10 + n % 8).isoformat(), attendees=[])
    settle(graph)
    if api_client.get(f"{BASE}/sync").status_code == 200:  # connected
        wait_for_idle(api_client)


@pytest.fixture
def connected(api_client, graph, supplier):
    _add_events(api_client, graph, 0, 2)
    connect(api_client, graph)
    wait_for_idle(api_client)
    settle(graph)
    return OutlookCalendarIntegration.objects.get(user=supplier)


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    yield
    settle(graph)


def _grow(api_client, graph, integration, *, events: int = 8, runs_more: int = 3) -> None:
    """More events (pushed and mapped), more Outlook-only busy time and more finished runs."""
    _add_events(api_client, graph, 100, events)
    for n in range(3):
        graph.create_event(MAILBOX, {"subject": f"Private {n}", **graph_when(at(4 + n, 7), at(4 + n, 8)), "showAs": "busy"})
    for _ in range(runs_more):
        assert api_client.post(f"{BASE}/sync", {"syncType": "incremental"}).status_code == 202
        settle(graph)
        wait_for_idle(api_client)


def test_get_sync_status_does_not_grow_with_history(api_client, graph, connected, django_assert_num_queries):
    small = _count(lambda: api_client.get(f"{BASE}/sync"))
    _grow(api_client, graph, connected)
    assert OutlookSyncHistory.objects.filter(integration=connected).count() >= 5
    large = _count(lambda: api_client.get(f"{BASE}/sync"))
    assert large == small, (small, large)
    with django_assert_num_queries(GET_SYNC_QUERIES):
        assert api_client.get(f"{BASE}/sync").status_code == 200


def test_get_events_does_not_grow_with_the_page(api_client, graph, connected, django_assert_num_queries):
    small = _count(lambda: api_client.get(f"{BASE}/events", {"pageSize": 200}))
    _grow(api_client, graph, connected)
    assert len(api_client.get(f"{BASE}/events", {"pageSize": 200}).json()["events"]) >= 10
    large = _count(lambda: api_client.get(f"{BASE}/events", {"pageSize": 200}))
    assert large == small, (small, large)
    with django_assert_num_queries(GET_EVENTS_QUERIES):
        assert api_client.get(f"{BASE}/events", {"pageSize": 200}).status_code == 200


def test_settings_page_does_not_grow_with_the_calendar(api_client, graph, connected, supplier, django_assert_num_queries):
    browser = Client()
    browser.force_login(supplier)
    small = _count(lambda: browser.get("/calendar/outlook/"))
    _grow(api_client, graph, connected)
    large = _count(lambda: browser.get("/calendar/outlook/"))
    assert large == small, (small, large)
    with django_assert_num_queries(SETTINGS_PAGE_QUERIES):
        assert browser.get("/calendar/outlook/").status_code == 200


def _notification(integration, outlook_id: str) -> dict:
    return {"subscriptionId": integration.webhook_subscription_id, "clientState": integration.webhook_client_state, "changeType": "updated",
            "resource": f"Users/x/Events/{outlook_id}", "resourceData": {"id": outlook_id}, "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
            "tenantId": "t"}


@pytest.fixture
def notify(connected):
    """Post a batch of ``count`` change notifications of the integration to the receiver (as Microsoft does)."""
    OutlookCalendarIntegration.objects.filter(pk=connected.pk).update(webhook_subscription_id="sub-q", webhook_client_state="s" * 64)
    connected.refresh_from_db()
    client = Client()

    def post(count: int):
        body = {"value": [_notification(connected, f"e{n}") for n in range(count)]}
        response = client.post("/api/calendar/outlook/webhook", json.dumps(body), content_type="application/json")
        assert response.status_code == 202, response.content

    return post


def test_receiver_does_not_grow_with_the_batch(connected, graph, notify, django_assert_num_queries):
    """No run waiting (the worker ran the previous one): the receiver records one for the whole batch."""
    settle(graph)
    one = _count(lambda: notify(1))
    settle(graph)
    ten = _count(lambda: notify(10))
    settle(graph)
    assert ten == one, (one, ten)
    with django_assert_num_queries(RECEIVER_QUERIES):
        notify(1)


def test_receiver_adds_nothing_to_a_waiting_run(connected, graph, notify, django_assert_num_queries):
    """A run waiting to read Outlook covers every notification that arrives meanwhile: the receiver only stores them,
    the burst shares that run, and its end counts them processed."""
    settle(graph)
    waiting, created = runs.open_run(connected, sync_type="webhook_triggered", triggered_by="webhook")  # recorded, not sent to the worker
    assert created
    one = _count(lambda: notify(1))
    ten = _count(lambda: notify(10))
    assert ten == one, (one, ten)
    with django_assert_num_queries(RECEIVER_QUERIES_RUN_WAITING):
        notify(1)
    assert list(OutlookSyncHistory.objects.filter(integration=connected, sync_status="in_progress")) == [waiting]
    tasks.run_sync.apply(args=[str(waiting.pk)])
    waiting.refresh_from_db()
    assert waiting.sync_status == "completed", waiting.sync_errors
    assert OutlookNotification.objects.filter(integration=connected).count() == 12
    assert not OutlookNotification.objects.filter(integration=connected, processed_at__isnull=True).exists()


@pytest.fixture
def outlook_changes_nothing_by_itself(graph):
    """Outlook turns pushed text bodies into HTML and answers for attendees by itself a moment later (the
    emulator does too); either would add a change to the run being counted, so both are off. Before any event
    is written (this fixture comes before ``connected``): a conversion is scheduled when an event is written,
    and one scheduled before switching off still happens, 2 s later, inside whichever run is reading then."""
    graph.set_config(html_body_conversion_s=None, attendee_response_s=None)


def test_incremental_sync_does_not_grow_with_the_calendar(api_client, graph, outlook_changes_nothing_by_itself, connected):
    """One incremental run with one Outlook change, on a small and on a larger calendar: same number of queries."""

    def incremental_with_one_change(title: str) -> int:
        settle(graph)
        wait_for_idle(api_client)
        ours = next(e for e in graph.events(MAILBOX) if e["subject"].startswith("WedSync: "))
        graph.update_event(MAILBOX, ours["id"], {"subject": f"WedSync: {title}"})
        run, created = runs.open_run(connected, sync_type="incremental", triggered_by="manual")
        assert created
        count = _count(lambda: tasks.run_sync.apply(args=[str(run.pk)]))
        run.refresh_from_db()
        assert run.sync_status == "completed", run.sync_errors
        return count

    small = incremental_with_one_change("First change")
    _grow(api_client, graph, connected, events=12, runs_more=1)  # the run reads the echoes of the pushes
    large = incremental_with_one_change("Second change")
    assert large == small, (small, large)
    assert small == INCREMENTAL_QUERIES, small


def test_an_idle_integrations_sync_costs_one_graph_request_whatever_the_fleet(graph, connected):
    def idle_sync() -> tuple[int, int]:
        """(SQL queries, Graph requests) of one safety-net sync that found nothing to do.

        A run that still found something (Outlook's own touches of the events the connect pushed come back once
        in a delta read) was not idle: it is left out and the next one measured.
        """
        for _ in range(5):
            graph.reset_stats()
            with CaptureQueriesContext(connection) as captured:
                assert tasks.safety_net_sync_one.apply(args=[str(connected.pk)]).get() is True
            run = OutlookSyncHistory.objects.filter(integration=connected).latest("started_at")
            assert (run.sync_type, run.sync_status, run.triggered_by) == ("incremental", "completed", "schedule")
            if run.events_processed == 0:
                return len(captured.captured_queries), graph.stats()["requests"]
            settle(graph)
        raise AssertionError("no safety-net sync of the integration was idle")

    assert idle_sync() == (IDLE_SAFETY_NET_QUERIES, 1)  # one delta read, nothing else
    fleet = [_integration(n, last_sync_at=timezone.now(), last_sync_status="success") for n in range(40)]
    for integration in fleet:  # other suppliers, with history and notifications
        _full_read(integration)
        _full_read(integration, days_ago=1)
        OutlookNotification.objects.create(integration=integration, subscription_id=f"sub-{integration.pk}", change_type="updated")
    assert idle_sync() == (IDLE_SAFETY_NET_QUERIES, 1)
