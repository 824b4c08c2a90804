"""Subscriptions: validation handshake, change notifications with retries, lifecycle notifications."""
from __future__ import annotations

import datetime as dt

from .conftest import event_payload


def expiry(minutes: float = 60) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def subscribe(graph, receiver, resource="/me/events", **extra):
    body = {"changeType": "created,updated,deleted", "notificationUrl": receiver.url + "/notify", "resource": resource,
            "expirationDateTime": expiry(), "clientState": "s3cret-state", "lifecycleNotificationUrl": receiver.url + "/lifecycle", **extra}
    return graph.post("/subscriptions", json=body)


def test_validation_success_and_subscription_crud(alice, receiver, control):
    user, graph = alice
    control.reset_stats()
    response = subscribe(graph, receiver)
    assert response.status_code == 201, response.text
    sub = response.json()
    assert sub["resource"] == "/me/events" and sub["clientState"] == "s3cret-state" and sub["changeType"] == "created,updated,deleted"
    assert sub["creatorId"] == user["id"] and sub["applicationId"] and sub["notificationUrl"] == receiver.url + "/notify"
    assert len(receiver.validations) == 2 and receiver.validations[0].startswith("Validation: ")  # notification + lifecycle URLs
    assert control.stats()["validations"] == 2
    assert graph.get(f"/subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sub["id"]]
    renewed = graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expiry(120)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    assert len(receiver.validations) == 2  # same URL: no new handshake
    assert [s["id"] for s in control.subscriptions("alice@contoso.com")] == [sub["id"]]
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_wrong_echo_is_refused(alice, receiver):
    _, graph = alice
    receiver.mode = "wrong"
    response = subscribe(graph, receiver)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert "Subscription validation request failed" in response.json()["error"]["message"]
    assert graph.get("/subscriptions").json()["value"] == []
    receiver.mode = "status500"
    assert subscribe(graph, receiver).status_code == 400


def test_slow_validation_is_refused(alice, receiver, control):
    _, graph = alice
    control.set_config(validation_timeout_s=0.3)
    receiver.mode = "slow"  # answers only when the test ends
    assert subscribe(graph, receiver).status_code == 400


def test_subscription_limits(alice, receiver):
    _, graph = alice
    assert subscribe(graph, receiver, expirationDateTime=expiry(10081)).status_code == 400
    assert subscribe(graph, receiver, clientState="x" * 129).status_code == 400
    assert subscribe(graph, receiver, resource="/me/calendars/nope/events").status_code in (400, 404)
    assert subscribe(graph, receiver, expirationDateTime=expiry(10079)).status_code == 201


def test_notification_after_change_with_client_state(alice, receiver, control):
    user, graph = alice
    cal = graph.post("/me/calendars", json={"name": "Weddings"}).json()
    sub = subscribe(graph, receiver, resource=f"/me/calendars/{cal['id']}/events").json()
    graph.post("/me/events", json=event_payload())  # default calendar: not subscribed
    # The receiver holds this notification until the test ends: were the API call waiting for delivery, it
    # would never answer. It answers, and the notification is there, still unanswered.
    receiver.hold_next = 1
    event = graph.post(f"/me/calendars/{cal['id']}/events", json=event_payload()).json()
    items = receiver.wait_for(lambda n: len(n) >= 1)
    assert items[0]["status"] == "held"
    note = items[0]["payload"]["value"][0]
    assert items[0]["path"] == "/notify"
    assert note["subscriptionId"] == sub["id"] and note["changeType"] == "created" and note["clientState"] == "s3cret-state"
    assert note["resource"] == f"Users/{user['id']}/Events/{event['id']}" and note["tenantId"] == user["tenantId"]
    assert note["resourceData"] == {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": note["resource"], "@odata.etag": event["@odata.etag"], "id": event["id"]}
    control.update_event("alice@contoso.com", event["id"], {"subject": "Moved by a person in Outlook"})
    control.delete_event("alice@contoso.com", event["id"])

    def flat(posts):
        return [v["changeType"] for p in posts for v in p["payload"]["value"]]

    items = receiver.wait_for(lambda n: len(flat(n)) >= 4)
    # Creating an event sends created and then updated (as Outlook does); several may share one POST.
    assert flat(items) == ["created", "updated", "updated", "deleted"]


def test_failing_receiver_gets_the_same_notification_again(alice, receiver, control):
    _, graph = alice
    control.set_config(notification_retry_delays_s=[0.2])
    subscribe(graph, receiver, changeType="created")
    control.reset_stats()
    receiver.fail_next = 1
    graph.post("/me/events", json=event_payload())
    items = receiver.wait_for(lambda n: len(n) >= 2)
    assert [i["status"] for i in items] == [500, 202]
    assert items[0]["payload"] == items[1]["payload"]
    assert control.stats()["notifications"] == {"delivered": 1, "attempts": 2, "failed": 1, "dropped": 0, "lifecycle_delivered": 0}


def test_slow_receiver_is_retried(alice, receiver, control):
    _, graph = alice
    control.set_config(notification_retry_delays_s=[0.1], notification_timeout_s=0.3)
    subscribe(graph, receiver, changeType="created")
    receiver.hold_next = 1  # the first delivery is never answered in time
    graph.post("/me/events", json=event_payload())
    items = receiver.wait_for(lambda n: len(n) >= 2)
    assert items[0]["payload"] == items[1]["payload"]


def test_duplicate_notifications_option(alice, receiver, control):
    _, graph = alice
    control.set_config(duplicate_notifications=True, reorder_notifications=True, reorder_window_s=0.1)
    subscribe(graph, receiver, changeType="created")
    graph.post("/me/events", json=event_payload())
    items = receiver.wait_for(lambda n: len(n) >= 2)
    assert items[0]["payload"] == items[1]["payload"]


def test_lifecycle_notifications(alice, receiver, control):
    user, graph = alice
    sub = subscribe(graph, receiver).json()
    control.trigger_lifecycle(sub["id"], "reauthorizationRequired")
    items = receiver.wait_for(lambda n: any(i["path"] == "/lifecycle" for i in n))
    note = next(i for i in items if i["path"] == "/lifecycle")["payload"]["value"][0]
    assert note["lifecycleEvent"] == "reauthorizationRequired" and note["subscriptionId"] == sub["id"]
    assert note["clientState"] == "s3cret-state" and note["tenantId"] == user["tenantId"] and note["organizationId"] == user["tenantId"]
    control.trigger_lifecycle(sub["id"], "subscriptionRemoved")
    receiver.wait_for(lambda n: sum(i["path"] == "/lifecycle" for i in n) >= 2)
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404
    assert control.stats()["notifications"]["lifecycle_delivered"] == 2


def test_automatic_reauthorization_notice(alice, receiver, control):
    _, graph = alice
    control.set_config(reauthorization_notice_s=3600)
    subscribe(graph, receiver)
    items = receiver.wait_for(lambda n: any(i["path"] == "/lifecycle" for i in n), timeout=5)
    assert next(i for i in items if i["path"] == "/lifecycle")["payload"]["value"][0]["lifecycleEvent"] == "reauthorizationRequired"


def test_several_notifications_share_one_post(alice, receiver, control):
    """change-notifications-delivery-webhooks.md: the POST body's `value` is a collection; changes made close
    together arrive in one POST."""
    _, graph = alice
    control.set_config(notification_batch_window_s=0.5)
    subscribe(graph, receiver, changeType="created")
    batch = {"requests": [{"id": str(i), "method": "POST", "url": "/me/events", "body": event_payload(subject=f"E{i}"),
                           "headers": {"Content-Type": "application/json"}} for i in range(3)]}
    assert graph.post("/$batch", json=batch).status_code == 200
    items = receiver.wait_for(lambda n: sum(len(p["payload"]["value"]) for p in n) >= 3)
    assert len(items) == 1 and len(items[0]["payload"]["value"]) == 3


def test_dropped_notifications_raise_a_missed_lifecycle_event(alice, receiver, control):
    """After the retries (change-notifications-delivery-webhooks.md) a notification is dropped; the subscription's
    lifecycle URL then gets `missed` (change-notifications-lifecycle-events.md)."""
    _, graph = alice
    control.set_config(notification_retry_delays_s=[0.1], notification_retry_max_total_s=0.25)
    subscribe(graph, receiver, changeType="created")
    receiver.fail_next = 3  # the first attempt and both retries fail
    graph.post("/me/events", json=event_payload())
    items = receiver.wait_for(lambda n: any(i["path"] == "/lifecycle" for i in n))
    assert [i["status"] for i in items if i["path"] == "/notify"] == [500, 500, 500]
    missed = next(i for i in items if i["path"] == "/lifecycle")["payload"]["value"][0]
    assert missed["lifecycleEvent"] == "missed"
    assert control.stats()["notifications"]["dropped"] == 1
