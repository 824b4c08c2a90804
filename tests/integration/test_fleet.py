"""A fleet on one deployment: queues and priorities, and beat's sweeps fanned out per integration.

The sweeps are executed here (``task.apply``, the code a worker runs) on a pair of fresh queues nobody
consumes, and the messages they left on the real Redis broker are read back: which queue, which task,
for which integration, due when. The integrations of the fleet are database rows (no Graph account):
the sweeps select and send, they call no Graph themselves.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncHistory
from wedsync import queues
from wedsync.celery import app

pytestmark = pytest.mark.django_db(transaction=True)

SAFETY_NET = "outlook_sync.tasks.safety_net_sync_one"
ENSURE = "outlook_sync.tasks.ensure_subscription"
CHUNK = "outlook_sync.tasks.fan_out_chunk"


@pytest.fixture
def fresh_queues():
    """A queue pair of this test only (no worker consumes it); emptied afterwards."""
    base, saved = f"wedsync-fleet-{uuid.uuid4().hex[:8]}", app.conf.task_default_queue
    app.conf.task_default_queue = base
    try:
        yield queues.both(base)
    finally:
        app.conf.task_default_queue = saved
        _take_all(*queues.both(base))


def _take_all(*names: str) -> dict[str, list[dict]]:
    """Every message on these queues (removed from them): task, args, and seconds until due (0 when not deferred)."""
    taken: dict[str, list[dict]] = {}
    with app.connection_for_read() as connection:
        for name in names:
            queue = connection.SimpleQueue(name, no_ack=True)
            found = []
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                eta = message.headers.get("eta")
                due = (dt.datetime.fromisoformat(eta) - timezone.now()).total_seconds() if eta else 0.0
                found.append({"task": message.headers["task"], "args": message.payload[0], "due": due})
            queue.close()
            taken[name] = found
    return taken


def _integration(n: int, **fields) -> OutlookCalendarIntegration:
    user = get_user_model().objects.create_user(username=f"fleet-{n}", email=f"fleet-{n}@example.com", password=None)
    integration = OutlookCalendarIntegration(user=user, tenant_id="fleet-tenant", microsoft_user_id=f"fleet-user-{n}", calendar_id=f"calendar-{n}",
                                             microsoft_account_email=f"fleet-{n}@contoso-weddings.example")
    integration.set_tokens(access_token=f"access-{n}", refresh_token=f"refresh-{n}", expires_at=timezone.now() + dt.timedelta(hours=1))
    for name, value in fields.items():
        setattr(integration, name, value)
    integration.save()
    return integration


def _full_read(integration, *, days_ago: float = 0.0) -> None:
    when = timezone.now() - dt.timedelta(days=days_ago)
    OutlookSyncHistory.objects.create(integration=integration, sync_type="full_sync", sync_direction="bidirectional", sync_status="completed",
                                      started_at=when, began_at=when, completed_at=when, triggered_by="schedule")


def test_sweeps_route_to_the_background_queue_and_supplier_work_to_the_interactive_one(fresh_queues):
    interactive, background = fresh_queues
    integration = _integration(0)
    assert tasks.safety_net_sync.apply().get() == 1
    tasks.enqueue(tasks.run_sync, uuid.uuid4())  # how a manual sync, a push, a notification's sync or an undo is sent
    tasks.enqueue(tasks.ensure_subscription, integration.pk)  # connecting: the first subscription
    tasks.maintain_subscriptions.delay()  # beat's own entries
    tasks.refresh_expiring_tokens.delay()
    tasks.prune_change_journal.delay()
    tasks.refresh_calendar_list.delay(str(integration.pk))
    taken = _take_all(interactive, background)
    assert sorted(m["task"] for m in taken[interactive]) == ["outlook_sync.tasks.ensure_subscription", "outlook_sync.tasks.run_sync"]
    assert sorted(m["task"] for m in taken[background]) == sorted([
        CHUNK, "outlook_sync.tasks.maintain_subscriptions", "outlook_sync.tasks.refresh_expiring_tokens",
        "outlook_sync.tasks.prune_change_journal", "outlook_sync.tasks.refresh_calendar_list",
    ])


def test_the_safety_net_sweeps_in_chunks_spread_over_its_period_and_skips_who_needs_no_sweep(fresh_queues, settings):
    interactive, background = fresh_queues
    settings.SAFETY_NET_SKIP_RECENT_SECONDS = 300
    settings.SAFETY_NET_SYNC_MINUTES = 15
    settings.FAN_OUT_CHUNK_SIZE = 100
    settings.FAN_OUT_SPREAD_SECONDS = 600
    settings.FAN_OUT_MAX_GAP_SECONDS = 10.0  # 233 integrations fill the 600 s (2.6 s apart)
    now = timezone.now()
    due = [_integration(n) for n in range(230)]  # never synced
    stale = _integration(300, last_sync_at=now - dt.timedelta(hours=1), last_sync_status="success")
    _full_read(stale)
    failed = _integration(301, last_sync_at=now, last_sync_status="error")  # synced a moment ago but failed: swept
    _full_read(failed)
    full_due = _integration(302, last_sync_at=now, last_sync_status="success")  # fresh, but its daily full read is due
    _full_read(full_due, days_ago=2)
    due += [stale, failed, full_due]
    skipped = [
        _integration(400, needs_reauthorization=True),
        _integration(401, throttled_until=now + dt.timedelta(minutes=5)),
        _integration(402, sync_enabled=False),
        _integration(403, calendar_id=None),
        _integration(404, last_sync_at=now - dt.timedelta(minutes=2), last_sync_status="success"),
    ]
    _full_read(skipped[-1])

    assert tasks.safety_net_sync.apply().get() == len(due)
    taken = _take_all(interactive, background)
    assert taken[interactive] == []
    chunks = taken[background]
    assert [m["task"] for m in chunks] == [CHUNK] * math.ceil(len(due) / 100)
    gap = 600 / len(due)  # min(15 minutes, FAN_OUT_SPREAD_SECONDS) over the swept fleet
    for n, chunk in enumerate(chunks):
        task_name, ids, chunk_gap = chunk["args"]
        assert task_name == SAFETY_NET and chunk_gap == pytest.approx(gap)
        assert chunk["due"] == pytest.approx(n * 100 * gap, abs=5)  # each chunk due when its first integration is
    swept = [i for chunk in chunks for i in chunk["args"][1]]
    assert sorted(swept) == sorted(str(i.pk) for i in due)
    assert not {str(i.pk) for i in skipped} & set(swept)
    assert max(c["due"] for c in chunks) < 600  # the whole sweep within the spread: no countdown near the visibility timeout

    # A chunk sends its integrations' syncs a gap apart, on the background queue.
    tasks.fan_out_chunk.apply(args=chunks[1]["args"])
    sent = _take_all(interactive, background)
    assert sent[interactive] == []
    assert [m["task"] for m in sent[background]] == [SAFETY_NET] * 100
    assert [m["args"] for m in sent[background]] == [[i] for i in chunks[1]["args"][1]]
    dues = [m["due"] for m in sent[background]]
    assert dues[-1] == pytest.approx(99 * gap, abs=5) and dues == sorted(dues)


def test_a_small_fleet_is_swept_at_once(fresh_queues, settings):
    interactive, background = fresh_queues
    settings.FAN_OUT_MAX_GAP_SECONDS = 1.0
    fleet = [_integration(n) for n in range(3)]
    assert tasks.safety_net_sync.apply().get() == 3
    (chunk,) = _take_all(background)[background]
    assert chunk["args"][2] == 1.0 and chunk["due"] == 0.0  # 3 integrations a second apart, not 5 minutes apart
    tasks.fan_out_chunk.apply(args=chunk["args"])
    assert [m["args"] for m in _take_all(background)[background]] == [[str(i.pk)] for i in sorted(fleet, key=lambda i: i.pk)]


def test_a_chunk_sends_only_the_sweeps_tasks(fresh_queues):
    interactive, background = fresh_queues
    assert tasks.fan_out_chunk.apply(args=["outlook_sync.tasks.run_sync", [str(uuid.uuid4())], 0.0]).get() == 0
    assert _take_all(interactive, background) == {interactive: [], background: []}


def test_subscription_upkeep_fans_out_only_what_needs_renewing(fresh_queues, settings):
    interactive, background = fresh_queues
    settings.WEBHOOK_PUBLIC_BASE_URL = "https://wedsync.example"
    now = timezone.now()
    fine = [_integration(n, webhook_subscription_id=f"sub-{n}", webhook_expires_at=now + dt.timedelta(days=5), webhook_calendar_id=f"calendar-{n}")
            for n in range(20)]
    lapsing = _integration(100, webhook_subscription_id="sub-100", webhook_expires_at=now + dt.timedelta(days=1), webhook_calendar_id="calendar-100")
    missing = _integration(101)
    unwanted = _integration(102, webhook_subscription_id="sub-102", webhook_expires_at=now + dt.timedelta(days=5), webhook_enabled=False)
    # Watching the calendar the supplier switched away from: replaced (subscriptions.maintain resubscribes).
    switched = _integration(103, webhook_subscription_id="sub-103", webhook_expires_at=now + dt.timedelta(days=5), webhook_calendar_id="calendar-old")
    skipped = [
        _integration(200, needs_reauthorization=True),
        _integration(201, throttled_until=now + dt.timedelta(minutes=5)),
        _integration(202, webhook_enabled=False),  # none wanted, none there
    ]
    assert tasks.maintain_subscriptions.apply().get() == 4
    (chunk,) = _take_all(interactive, background)[background]
    assert chunk["args"][0] == ENSURE
    assert sorted(chunk["args"][1]) == sorted(str(i.pk) for i in (lapsing, missing, unwanted, switched))
    assert not {str(i.pk) for i in [*fine, *skipped]} & set(chunk["args"][1])
    tasks.fan_out_chunk.apply(args=chunk["args"])
    sent = _take_all(interactive, background)
    assert sent[interactive] == [] and [m["task"] for m in sent[background]] == [ENSURE] * 4


def test_notifications_skip_the_middleware_a_browser_needs(client):
    """Microsoft's POSTs go from the security headers and the error shape straight to the receiver."""
    integration = _integration(0, webhook_subscription_id="sub-fast", webhook_client_state="s" * 32)
    body = {"value": [{"subscriptionId": "sub-fast", "clientState": "s" * 32, "changeType": "updated", "resourceData": {"id": f"evt-{n}"}}
                      for n in range(3)]}
    answer = client.post("/api/calendar/outlook/webhook", body, content_type="application/json")
    assert answer.status_code == 202 and answer["Content-Length"] == "0"
    assert answer["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert "Content-Security-Policy" not in answer and "X-Frame-Options" not in answer and not answer.cookies  # the rest does not
    assert integration.notifications.count() == 3
    refused = client.post("/api/calendar/outlook/webhook", {"value": [{"subscriptionId": "sub-fast", "clientState": "wrong"}]},
                          content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_notification"
    page = client.get("/api/calendar/outlook/webhook")  # not a notification: the whole stack, the error shape
    assert page.status_code == 405 and page.json()["success"] is False
