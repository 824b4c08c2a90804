"""$batch, throttling (MailboxConcurrency, request budget), injected faults and exact statistics."""
from __future__ import annotations

import threading

import pytest
import requests

from .conftest import event_payload, http_session


def test_batch_items_dependson_and_limits(alice):
    _, graph = alice
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]}
    response = graph.post("/$batch", json=too_many)
    assert response.status_code == 400
    batch = {"requests": [
        {"id": "1", "method": "POST", "url": "/me/events", "headers": {"Content-Type": "application/json"}, "body": event_payload(subject="A")},
        {"id": "2", "method": "GET", "url": "/me/events/nope"},
        {"id": "3", "method": "GET", "url": "/me/calendars?$select=id,name", "dependsOn": ["1"]},
        {"id": "4", "method": "DELETE", "url": "/me/events/nope2", "dependsOn": ["2"]},
    ]}
    envelope = graph.post("/$batch", json=batch)
    assert envelope.status_code == 200
    answers = {a["id"]: a for a in envelope.json()["responses"]}
    assert answers["1"]["status"] == 201 and answers["1"]["body"]["subject"] == "A"
    assert answers["2"]["status"] == 404 and answers["2"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert answers["3"]["status"] == 200 and set(answers["3"]["body"]["value"][0]) == {"id", "name"}
    assert answers["4"]["status"] == 424
    assert graph.post("/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}]}).status_code == 400
    twenty = graph.post("/$batch", json={"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(20)]})
    assert twenty.status_code == 200 and len(twenty.json()["responses"]) == 20


def test_batch_item_over_budget_gets_its_own_429(alice, control):
    _, graph = alice
    control.set_config(request_budget=2, request_window_s=60)
    envelope = graph.post("/$batch", json={"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(4)]})
    assert envelope.status_code == 200
    statuses = [(a["id"], a["status"]) for a in envelope.json()["responses"]]
    assert statuses == [("0", 200), ("1", 200), ("2", 429), ("3", 429)]
    throttled = envelope.json()["responses"][2]
    assert 0 < float(throttled["headers"]["Retry-After"]) <= 60
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"


def test_five_concurrent_requests_one_429_other_mailbox_unaffected(user_factory, control, emulator):
    _, alice_graph = user_factory("alice@contoso.com", "Alice")
    _, bob_graph = user_factory("bob@contoso.com", "Bob")
    control.set_config(service_time_ms=1200)
    control.reset_stats()
    barrier = threading.Barrier(7)
    results: dict[str, list] = {"alice": [], "bob": []}
    sessions = [http_session(emulator) for _ in range(7)]
    for s in sessions:  # connect (TLS handshake) before the race
        s.get(f"{emulator.base_url}/_emulator/health")

    def call(name, graph, session):
        barrier.wait()
        response = session.get(graph.url("/me"), headers={"Authorization": f"Bearer {graph.token}"}, timeout=30)
        results[name].append(response)

    threads = [threading.Thread(target=call, args=("alice", alice_graph, sessions[i])) for i in range(5)]
    threads += [threading.Thread(target=call, args=("bob", bob_graph, sessions[5 + i])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alice_statuses = sorted(r.status_code for r in results["alice"])
    assert alice_statuses == [200, 200, 200, 200, 429]
    throttled = next(r for r in results["alice"] if r.status_code == 429)
    assert 0 < float(throttled.headers["Retry-After"]) <= 1.2
    assert throttled.json()["error"]["code"] == "ApplicationThrottled" and "MailboxConcurrency" in throttled.json()["error"]["message"]
    assert [r.status_code for r in results["bob"]] == [200, 200]
    stats = control.stats()
    assert stats["peak_concurrency"] == {"alice@contoso.com": 4, "bob@contoso.com": 2}
    assert stats["status_counts"] == {"200": 6, "429": 1}


def test_request_budget_429(user_factory, control):
    _, alice_graph = user_factory("alice@contoso.com", "Alice")
    _, bob_graph = user_factory("bob@contoso.com", "Bob")
    control.set_config(request_budget=3, request_window_s=30)
    assert [alice_graph.get("/me").status_code for _ in range(3)] == [200, 200, 200]
    over = alice_graph.get("/me")
    assert over.status_code == 429 and over.json()["error"]["code"] == "ApplicationThrottled"
    assert 25 < float(over.headers["Retry-After"]) <= 30
    assert bob_graph.get("/me").status_code == 200


def test_injected_503_with_retry_after(alice, control):
    _, graph = alice
    fault_id = control.inject_fault("GET", r"^/me/events$", status=503, retry_after=2, count=2)
    assert isinstance(fault_id, int)
    first, second, third = graph.get("/me/events"), graph.get("/me/events"), graph.get("/me/events")
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "2" and first.json()["error"]["code"] == "ServiceUnavailable"
    assert graph.get("/me").status_code == 200
    control.inject_fault("GET", "/me", status=429, retry_after="0.5", error_code="TooManyRequests", mailbox="someone@else.com")
    assert graph.get("/me").status_code == 200  # another mailbox's fault
    control.clear_faults()


def test_injected_latency(alice, control):
    import time

    _, graph = alice
    control.inject_fault("GET", "^/me$", latency_ms=300)
    started = time.monotonic()
    assert graph.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_is_a_connection_error(alice, control):
    _, graph = alice
    control.inject_fault("GET", "^/me$", drop_connection=True)
    with pytest.raises(requests.ConnectionError):
        graph.get("/me")
    assert graph.get("/me").status_code == 200
    assert control.stats()["status_counts"].get("dropped") == 1


def test_fault_on_a_batch_item_is_an_item_status(alice, control):
    _, graph = alice
    control.inject_fault("POST", "/me/events", status=503, retry_after="1.5")
    envelope = graph.post("/$batch", json={"requests": [
        {"id": "a", "method": "POST", "url": "/me/events", "body": event_payload()},
        {"id": "b", "method": "POST", "url": "/me/events", "body": event_payload()},
    ]})
    assert envelope.status_code == 200
    a, b = envelope.json()["responses"]
    assert (a["status"], a["headers"]["Retry-After"]) == (503, "1.5") and b["status"] == 201


def test_fault_on_token_endpoint(emulator, control):
    control.inject_fault("POST", "/oauth2/v2.0/token", status=503, retry_after=1)
    response = http_session(emulator).post(f"{emulator.authority}/common/oauth2/v2.0/token", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "c"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"


def test_stats_are_exact(alice, control):
    _, graph = alice
    control.reset_stats()
    graph.get("/me")
    graph.get("/me/events/AAMkNOPE=")
    event = graph.post("/me/events", json=event_payload()).json()
    graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/me/events/{event['id']}"},
        {"id": "2", "method": "GET", "url": "/me/calendars"},
        {"id": "3", "method": "PATCH", "url": f"/me/events/{event['id']}", "body": {"subject": "x"}, "headers": {"If-Match": 'W/"old"'}},
    ]})
    graph.get("/me", headers={"Authorization": "Bearer nope"})
    control.create_event("alice@contoso.com", event_payload())  # control calls are not counted
    assert control.stats() == {
        "requests": 5,
        "batch_items": 3,
        "by_endpoint": {"GET /me": 2, "GET /me/events/{id}": 1, "POST /me/events": 1, "POST /$batch": 1},
        "batch_items_by_endpoint": {"GET /me/events/{id}": 1, "GET /me/calendars": 1, "PATCH /me/events/{id}": 1},
        "status_counts": {"200": 2, "404": 1, "201": 1, "401": 1},
        "batch_item_status_counts": {"200": 2, "412": 1},
        "peak_concurrency": {"alice@contoso.com": 1},
        "token_requests": {"authorization_code": 0, "refresh_token": 0},
        "notifications": {"delivered": 0, "attempts": 0, "failed": 0, "dropped": 0, "lifecycle_delivered": 0},
        "validations": 0,
    }
