"""Conformance: Microsoft's official msgraph-sdk (async) and python-o365 against the emulator.

These clients were not written with the emulator; their URL forms, paging and error
handling are the ones real integrations use against Microsoft Graph.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import warnings

with warnings.catch_warnings():  # the SDK's generated request builders warn about their own deprecated classes on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
    from msgraph.generated.models.event import Event
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
    from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

from .clients import graph_sdk, o365_account
from .conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, event_payload, sign_in

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:msgraph.*", "ignore::DeprecationWarning:kiota_abstractions.*",
    # O365 starts msal's auth-code flow without response_mode; msal recommends form_post.
    "ignore:response_mode='form_post' is recommended:UserWarning",
)

WINDOW = ("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def sdk_user(emulator, control):
    control.create_user("sdk@contoso.com", "Sam Dee")
    tokens = sign_in(emulator, "sdk@contoso.com")
    return tokens["access_token"]


async def _with_client(emulator, token, body):
    client, http = graph_sdk(emulator, token)
    try:
        return await body(client)
    finally:
        await http.aclose()


def _view_config(start=WINDOW[0], end=WINDOW[1]):
    params = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(start_date_time=start, end_date_time=end)
    return RequestConfiguration(query_parameters=params)


def _delta_config(start=WINDOW[0], end=WINDOW[1]):
    params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(start_date_time=start, end_date_time=end)
    return RequestConfiguration(query_parameters=params)


def _event(subject, start, end):
    return Event(subject=subject, start=DateTimeTimeZone(date_time=start, time_zone="UTC"), end=DateTimeTimeZone(date_time=end, time_zone="UTC"))


async def _full_delta(client, config=None):
    """Follow nextLinks to the deltaLink with the SDK; return (items, deltaLink)."""
    page = await client.me.calendar_view.delta.get(request_configuration=config or _delta_config())
    items = list(page.value or [])
    while page.odata_next_link:
        page = await client.me.calendar_view.delta.with_url(page.odata_next_link).get()
        items += page.value or []
    return items, page.odata_delta_link


def test_sdk_calendars_events_and_calendar_view(emulator, sdk_user):
    async def body(client):
        me = await client.me.get()
        assert me.mail == "sdk@contoso.com"
        calendars = await client.me.calendars.get()
        assert [c.name for c in calendars.value] == ["Calendar"] and calendars.value[0].is_default_calendar
        created = await client.me.events.post(_event("Tasting", "2026-06-20T16:00:00", "2026-06-20T17:00:00"))
        assert created.id and created.change_key and created.type.value == "singleInstance"
        read = await client.me.events.by_event_id(created.id).get()
        assert read.subject == "Tasting" and read.start.date_time.startswith("2026-06-20T16:00:00")
        await client.me.events.by_event_id(created.id).patch(Event(subject="Tasting (moved)"))
        view = await client.me.calendar_view.get(request_configuration=_view_config())
        assert [e.subject for e in view.value] == ["Tasting (moved)"]
        await client.me.events.by_event_id(created.id).delete()
        with pytest.raises(ODataError) as err:
            await client.me.events.by_event_id(created.id).get()
        assert err.value.response_status_code == 404 and err.value.error.code == "ErrorItemNotFound"
    run(_with_client(emulator, sdk_user, body))


def test_sdk_delta_initial_and_follow_delta_link(emulator, control, sdk_user):
    """The SDK calls `/me/calendarView/delta()` (with parentheses): the emulator must route it."""
    async def body(client):
        control.create_event("sdk@contoso.com", event_payload("One", "2026-06-10T10:00:00", "2026-06-10T11:00:00"))
        items, delta_link = await _full_delta(client)
        assert [i.subject for i in items] == ["One"] and "$deltatoken=" in delta_link
        control.create_event("sdk@contoso.com", event_payload("Two", "2026-06-11T10:00:00", "2026-06-11T11:00:00"))
        page = await client.me.calendar_view.delta.with_url(delta_link).get()
        assert [i.subject for i in page.value] == ["Two"] and page.odata_delta_link
    run(_with_client(emulator, sdk_user, body))


def test_sdk_expired_delta_token_is_410_sync_state_not_found(emulator, control, sdk_user):
    async def body(client):
        _items, delta_link = await _full_delta(client)
        control.expire_delta_tokens()
        with pytest.raises(ODataError) as err:
            await client.me.calendar_view.delta.with_url(delta_link).get()
        assert err.value.response_status_code == 410
        assert err.value.error.code == "SyncStateNotFound"
        assert err.value.error.message
    run(_with_client(emulator, sdk_user, body))


def test_o365_basics(emulator, control, monkeypatch):
    """python-o365 signs in with its own flow (msal inside) and reads and writes events."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)  # O365's own requests sessions read it
    control.create_user("o365@contoso.com", "Olive Three")
    account = o365_account(emulator, "o365@contoso.com", CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
                           ["Calendars.ReadWrite", "User.Read"])
    assert account.is_authenticated
    schedule = account.schedule()
    calendar = schedule.get_default_calendar()
    assert calendar is not None and calendar.name == "Calendar"
    event = calendar.new_event()
    event.subject = "Florist call"
    event.start = dt.datetime(2026, 6, 12, 9, 0, tzinfo=ZoneInfo("UTC"))
    event.end = dt.datetime(2026, 6, 12, 9, 30, tzinfo=ZoneInfo("UTC"))
    assert event.save()
    query = calendar.new_query("start").greater_equal(dt.datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")))
    query.chain("and").on_attribute("end").less_equal(dt.datetime(2026, 7, 1, tzinfo=ZoneInfo("UTC")))
    events = list(calendar.get_events(query=query, include_recurring=True))
    assert [e.subject for e in events] == ["Florist call"]
    assert control.events("o365@contoso.com")[0]["subject"] == "Florist call"


def _removed_ids(items) -> list[str]:
    return [i.id for i in items if (i.additional_data or {}).get("@removed") == {"reason": "deleted"}]


def test_sdk_delta_reports_changes_outside_the_window_as_removed(emulator, control, sdk_user):
    """event-delta.md: "Events that are outside the date range and that have been added, deleted, or updated since
    the previous delta call" come back under @removed with reason deleted; so do events moved out of the window
    and events created and deleted between two rounds."""
    user = "sdk@contoso.com"

    async def body(client):
        inside = control.create_event(user, event_payload("Inside", "2026-06-10T10:00:00", "2026-06-10T11:00:00"))
        leaving = control.create_event(user, event_payload("Leaving", "2026-06-12T10:00:00", "2026-06-12T11:00:00"))
        outside = control.create_event(user, event_payload("Outside", "2026-09-01T10:00:00", "2026-09-01T11:00:00"))
        items, delta_link = await _full_delta(client)
        assert sorted(i.subject for i in items) == ["Inside", "Leaving"]
        control.update_event(user, outside["id"], {"subject": "Outside, edited"})
        control.update_event(user, leaving["id"], {"start": {"dateTime": "2026-08-12T10:00:00", "timeZone": "UTC"},
                                                   "end": {"dateTime": "2026-08-12T11:00:00", "timeZone": "UTC"}})
        brief = control.create_event(user, event_payload("Brief", "2026-06-15T10:00:00", "2026-06-15T11:00:00"))
        control.delete_event(user, brief["id"])
        later = control.create_event(user, event_payload("Later", "2026-10-01T10:00:00", "2026-10-01T11:00:00"))
        page = await client.me.calendar_view.delta.with_url(delta_link).get()
        assert sorted(_removed_ids(page.value)) == sorted([outside["id"], leaving["id"], brief["id"], later["id"]])
        assert inside["id"] not in [i.id for i in page.value]
    run(_with_client(emulator, sdk_user, body))


def test_delta_refuses_select_and_other_unsupported_query_options(alice):
    """event-delta.md: "You cannot use $select" on calendarView delta; nor $expand, $filter, $orderby, $search."""
    _user, graph = alice
    for option in ("$select=subject", "$filter=subject eq 'x'", "$orderby=start/dateTime"):
        response = graph.get(f"/me/calendarView/delta?startDateTime={WINDOW[0]}&endDateTime={WINDOW[1]}&{option}")
        assert response.status_code == 400, option
        assert response.json()["error"]["code"] == "ErrorInvalidUrlQuery"


def test_delta_410_carries_the_initial_query_in_location(alice, control):
    """delta-query-overview.md, "Synchronization reset": 410 with a Location header holding the initial request."""
    _user, graph = alice
    first = graph.get(f"/me/calendarView/microsoft.graph.delta?startDateTime={WINDOW[0]}&endDateTime={WINDOW[1]}")
    assert first.status_code == 200, first.text
    delta_link = first.json()["@odata.deltaLink"]
    control.expire_delta_tokens()
    gone = graph.get(delta_link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    location = gone.headers["Location"]
    assert "$deltatoken" not in location and "startDateTime=2026-06-01T00" in location
    restart = graph.get(location)
    assert restart.status_code == 200 and "@odata.deltaLink" in restart.json()
