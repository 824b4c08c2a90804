"""$batch as Outlook runs it (json-batching.md; throttling-limits.md, "Outlook service limits for JSON batching").

Driven by msgraph-sdk's BatchRequestContent where it can express the case, else by raw requests.
"""
from __future__ import annotations

import asyncio
import threading
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from msgraph.generated.models.event import Event
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

from .clients import graph_sdk
from .conftest import event_payload, sign_in, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*", "ignore::DeprecationWarning:kiota_abstractions.*")



def test_sdk_batch_per_item_status_and_depends_on(emulator, control):
    control.create_user("batch@contoso.com", "Bea Tch")
    token = sign_in(emulator, "batch@contoso.com")["access_token"]

    async def body():
        client, http = graph_sdk(emulator, token)
        try:
            info = client.me.events.to_post_request_information(Event(subject="Batched"))
            first = BatchRequestItem(info, id="1")
            missing = BatchRequestItem(client.me.events.by_event_id("AAMkAGnotthere=").to_get_request_information(), id="2")
            # (msgraph-core 1.5 serialises dependsOn as "depends_on", which is not Graph's name; see the raw test below.)
            after = BatchRequestItem(client.me.calendars.to_get_request_information(), id="3")
            content = BatchRequestContent({"1": first, "2": missing, "3": after})
            answer = await client.batch.post(content)
            return answer.get_response_status_codes()
        finally:
            await http.aclose()

    statuses = asyncio.run(body())
    # Per-item statuses: an event without start/end is refused (400), an unknown id is 404, the rest 200.
    assert statuses == {"1": 400, "2": 404, "3": 200}


def test_batch_failed_dependency_is_424(alice):
    """json-batching.md: "If an individual request fails, any request that depends on that request fails with
    status code 424 (Failed Dependency)"."""
    _user, graph = alice
    body = {"requests": [{"id": "1", "method": "GET", "url": "/me/events/AAMkAGnotthere="},
                         {"id": "2", "method": "GET", "url": "/me/calendars", "dependsOn": ["1"]}]}
    statuses = {r["id"]: r["status"] for r in graph.post("/$batch", json=body).json()["responses"]}
    assert statuses == {"1": 404, "2": 424}


def test_batch_refuses_absolute_urls(alice):
    _user, graph = alice
    body = {"requests": [{"id": "1", "method": "GET", "url": f"{graph.emulator.graph_url}/me/events"}]}
    response = graph.post("/$batch", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadRequest"
    assert graph.post("/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/me/events"}]}).status_code == 200


def test_batch_runs_four_items_in_parallel_and_depends_on_serialises(alice, control):
    _user, graph = alice
    control.set_config(service_time_ms=150)
    parallel = {"requests": [{"id": str(i), "method": "GET", "url": "/me/calendars"} for i in range(8)]}
    assert graph.post("/$batch", json=parallel).status_code == 200
    assert control.stats()["peak_concurrency"]["alice@contoso.com"] == 4
    control.reset_stats()
    chained = {"requests": [{"id": str(i), "method": "GET", "url": "/me/calendars", **({"dependsOn": [str(i - 1)]} if i else {})}
                            for i in range(4)]}
    answer = graph.post("/$batch", json=chained).json()
    assert [r["status"] for r in answer["responses"]] == [200] * 4
    assert control.stats()["peak_concurrency"]["alice@contoso.com"] == 1


def test_second_concurrent_batch_items_get_mailbox_concurrency_429(alice, control):
    """A batch of 4 parallel items holds all 4 of the mailbox's slots; a second batch's items get 429
    ApplicationThrottled (MailboxConcurrency), each with its own Retry-After, while the envelope is 200."""
    _user, graph = alice
    control.set_config(service_time_ms=3000)
    first_answer = {}

    def first():
        body = {"requests": [{"id": str(i), "method": "GET", "url": "/me/calendars"} for i in range(4)]}
        first_answer["r"] = graph.post("/$batch", json=body)

    thread = threading.Thread(target=first)
    thread.start()
    wait_until(lambda: control.stats()["peak_concurrency"].get("alice@contoso.com", 0) == 4)
    second = graph.post("/$batch", json={"requests": [{"id": "a", "method": "GET", "url": "/me/calendars"},
                                                      {"id": "b", "method": "GET", "url": "/me/events"}]})
    thread.join()
    assert second.status_code == 200
    for item in second.json()["responses"]:
        assert item["status"] == 429
        assert item["body"]["error"]["code"] == "ApplicationThrottled"
        assert "MailboxConcurrency" in item["body"]["error"]["message"]
        assert float(item["headers"]["Retry-After"]) > 0
    assert [r["status"] for r in first_answer["r"].json()["responses"]] == [200] * 4


def test_batch_more_than_twenty_is_400(alice):
    _user, graph = alice
    body = {"requests": [{"id": str(i), "method": "POST", "url": "/me/events", "body": event_payload(), "headers": {"Content-Type": "application/json"}}
                         for i in range(21)]}
    assert graph.post("/$batch", json=body).status_code == 400
