"""Real peers for the bulk-push benchmark: the same events pushed by python-o365 and by msgraph-sdk.

Each is used the way its documentation shows, with the clients the emulator's conformance suite
builds (``graph_emulator/tests/clients.py``), into a calendar of its own on the same mailbox:

* **python-o365**: ``calendar.new_event()``, set the fields, ``event.save()``: one blocking POST per event
  (O365's docs, "Calendar": "event.save()"). It has no batch support.
* **msgraph-sdk**: its batch support (``msgraph_core`` ``BatchRequestContentCollection`` and
  ``client.batch.post``, Microsoft's "Use the Microsoft Graph SDKs to batch requests"): the creates are
  cut into ``$batch`` envelopes of 20 and the SDK sends the envelopes one after another.

Each function returns ``(elapsed seconds, errors)``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from graph_emulator.tests.clients import graph_sdk, o365_account

from . import harness

SCOPES = ["Calendars.ReadWrite", "User.Read"]
UTC = ZoneInfo("UTC")


@contextmanager
def _ca_bundle(ca_file: str):
    """O365 opens requests sessions of its own, which read REQUESTS_CA_BUNDLE."""
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved


def o365_push(process, calendar_id: str, events: list[dict]) -> tuple[float, int]:
    """One ``Event.save()`` per event (``events``: subject, start, end as aware datetimes, location)."""
    with _ca_bundle(process.ca_file):
        account = o365_account(process, harness.MAILBOX, harness.CLIENT_ID, harness.CLIENT_SECRET, harness.REDIRECT_URI, SCOPES)
        calendar = account.schedule().get_calendar(calendar_id=calendar_id)
        errors = 0
        started = time.perf_counter()
        for values in events:
            event = calendar.new_event()
            event.subject = values["subject"]
            event.start = values["start"].astimezone(UTC)  # O365 wants ZoneInfo time zones
            event.end = values["end"].astimezone(UTC)
            event.location = values["location"]
            errors += not event.save()
        return time.perf_counter() - started, errors


def msgraph_batch_push(process, token: str, calendar_id: str, events: list[dict]) -> tuple[float, int]:
    """The SDK's batch support: a ``BatchRequestContentCollection`` of the creates, ``client.batch.post``."""
    from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
    from msgraph.generated.models.event import Event
    from msgraph.generated.models.location import Location
    from msgraph_core.requests.batch_request_content_collection import BatchRequestContentCollection
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    def when(value: dt.datetime) -> DateTimeTimeZone:
        return DateTimeTimeZone(date_time=value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), time_zone="UTC")

    async def push() -> tuple[float, int]:
        client, http = graph_sdk(process, token)
        try:
            started = time.perf_counter()
            collection = BatchRequestContentCollection()
            target = client.me.calendars.by_calendar_id(calendar_id).events
            for values in events:
                event = Event(subject=values["subject"], start=when(values["start"]), end=when(values["end"]),
                              location=Location(display_name=values["location"]))
                collection.add_batch_request_item(BatchRequestItem(request_information=target.to_post_request_information(event)))
            answers = await client.batch.post(batch_request_content=collection)
            statuses = [status for response in answers.get_responses() for status in response.get_response_status_codes().values()]
            elapsed = time.perf_counter() - started
            return elapsed, len(events) - sum(1 for status in statuses if status == 201)
        finally:
            await http.aclose()

    return asyncio.run(push())
