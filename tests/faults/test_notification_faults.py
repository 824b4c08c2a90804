"""Fault matrix, part 2: change notifications that arrive twice, out of order, not at all, or stop.

The emulator delivers real notifications over HTTP to pytest-django's live
server (``WEBHOOK_PUBLIC_BASE_URL``); the in-process Celery worker processes
them. Outlook edits are made as the supplier would, through the emulator's
control API, and no manual sync is started: only notifications (or, for lost
ones, the beat's safety-net sync) may bring them to WedSync.
"""
from __future__ import annotations


import pytest
import requests

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookNotification
from tests.conftest import MAILBOX, settle, wait_for
from tests.faults.convergence import Edit, problems
from tests.integration.outlook_helpers import BASE, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker"), pytest.mark.slow]


@pytest.fixture
def subscribed(world, live_server, settings):
    """The world, connected, with an active change subscription pointing at the live server."""
    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    world.connect()
    wait_for(lambda: world.api_client.get(f"{BASE}/sync").json()["webhookStatus"]["isActive"], message="subscription")
    # The first sync's own creates may come back as notifications: let those runs finish first.
    settle(world.graph)
    wait_for(lambda: not OutlookNotification.objects.filter(processed_at__isnull=True).exists(), message="notifications processed")
    wait_for_idle(world.api_client)
    return world


def _subscription_id(world) -> str:
    return OutlookCalendarIntegration.objects.get(user=world.supplier).webhook_subscription_id


def test_duplicate_notifications(subscribed):
    world, graph = subscribed, subscribed.graph
    graph.set_config(duplicate_notifications=True)
    scenario = world.scenario("duplicate notifications").start()

    edits = world.edit_both_sides()

    scenario.converge(edits=edits, timeout=30)
    notes = graph.stats()["notifications"]
    assert notes["delivered"] >= 8, notes  # 4 Outlook edits, each delivered twice
    scenario.notes.append(f"{notes['delivered']} notifications delivered")


def test_reordered_notifications(subscribed):
    world, graph = subscribed, subscribed.graph
    graph.set_config(reorder_notifications=True, reorder_window_s=0.4)
    scenario = world.scenario("reordered notifications (0.4 s shuffle window)").start()
    target = world.events[12]["id"]
    outlook_id = world.outlook_id(target)

    for place in ("First place", "Second place", "Final place"):
        graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": place}})
    edits = [*world.edit_both_sides(), Edit(target, "location", "Final place")]

    scenario.converge(edits=edits, timeout=30)
    assert graph.stats()["notifications"]["delivered"] >= 7


def test_lost_notifications_are_caught_up_by_the_safety_net_sync(subscribed):
    world, graph = subscribed, subscribed.graph
    integration = OutlookCalendarIntegration.objects.get(user=world.supplier)
    # Microsoft drops the subscription without a lifecycle notice: every notification from now on is lost.
    gone = requests.delete(f"{world.graph_url}/subscriptions/{integration.webhook_subscription_id}",
                           headers={"Authorization": f"Bearer {integration.get_access_token()}"}, verify=world.ca_file, timeout=10)
    assert gone.status_code == 204, gone.text
    scenario = world.scenario("lost notifications (subscription gone), safety-net sync").start()
    # Observation for the report: the app does not notice the missing subscription before its renewal date.
    upkeep = tasks.ensure_subscription.apply(args=[str(integration.pk)]).get()
    scenario.notes.append(f"subscription upkeep right after: {upkeep!r}")

    edits = world.edit_outlook_only()  # WedSync edits would push, and a push run that creates reads Outlook too
    settle(graph)  # the emulator has nothing left to deliver: the edits really sent no notification
    wait_for_idle(world.api_client)
    assert graph.stats()["notifications"]["attempts"] == 0
    assert problems(world.api_client, graph, supplier=world.supplier, edits=edits), "Outlook edits arrived without a notification?"

    scenario.converge(edits=edits, timeout=45, safety_net_every=5.0)


def test_subscription_removed_is_recreated_and_changes_flow_again(subscribed):
    world, graph = subscribed, subscribed.graph
    old_id = _subscription_id(world)
    scenario = world.scenario("subscription removed (lifecycle)").start()

    graph.trigger_lifecycle(old_id, "subscriptionRemoved")
    gap = world.events[14]["id"]
    graph.update_event(MAILBOX, world.outlook_id(gap), {"location": {"displayName": "Changed while unsubscribed"}})
    new_id = wait_for(lambda: (sid := _subscription_id(world)) not in (None, old_id) and sid, timeout=20, message="new subscription")
    assert [s["id"] for s in graph.subscriptions(MAILBOX)] == [new_id]
    # The edit made while no subscription existed sent no notification; the next notification's delta read carries it.
    edits = world.edit_both_sides()
    scenario.converge(edits=[*edits, Edit(gap, "location", "Changed while unsubscribed")], timeout=30)
    assert graph.stats()["notifications"]["delivered"] >= 4
