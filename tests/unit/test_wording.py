"""The frontend contract of Graph outcomes (``outlook_sync.wording``): one stable code and supplier words per typed error."""
from __future__ import annotations

import inspect

import pytest

from outlook_sync import wording
from outlook_sync.graph import errors
from outlook_sync.graph.types import GraphCalendar
from outlook_sync.sync import outcomes

GRAPH_ERRORS = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.GraphError) and cls is not errors.GraphError]
SYNC_ERROR_KEYS = {"eventId", "eventType", "errorCode", "errorMessage", "retryable"}  # the spec's SyncError


@pytest.mark.parametrize("cls", [*GRAPH_ERRORS, outcomes.SyncBusy, outcomes.KeptChanging], ids=lambda c: c.__name__)
def test_every_typed_error_has_its_own_code_and_words(cls):
    error = cls("raw detail from Microsoft", code="ErrorSomethingInternal")
    assert wording.error_code(error) != "graph_error"
    message = wording.user_message(error)
    assert message != wording.user_message(errors.GraphError())
    assert "ErrorSomethingInternal" not in message and "raw detail" not in message


def test_codes_are_distinct():
    codes = [wording.error_code(cls()) for cls in [*GRAPH_ERRORS, outcomes.SyncBusy, outcomes.KeptChanging]]
    assert len(codes) == len(set(codes))


def test_run_and_event_errors_carry_the_stable_code_never_graphs():
    error = errors.GraphError.from_parts(429, {"Retry-After": "3"}, {"error": {"code": "ApplicationThrottled", "message": "slow down"}})
    assert isinstance(error, errors.ThrottledError)
    run = wording.run_error(error)
    assert set(run) == SYNC_ERROR_KEYS
    assert run == {"eventId": "", "eventType": "", "errorCode": "throttled", "retryable": True,
                   "errorMessage": "Outlook is busy and asked us to slow down. We'll retry shortly."}
    event = wording.sync_error(error, event_id=7, event_type="deadline")
    assert (event["eventId"], event["eventType"], event["errorCode"]) == ("7", "deadline", "throttled")
    gone = errors.GraphError.from_parts(404, {}, {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found."}})
    assert wording.sync_error(gone, event_id=8)["errorCode"] == "not_found"  # the provider's code never reaches the API


def test_needs_reconnect_and_unknown_errors():
    assert wording.error_code(errors.ReauthorizationRequired("dead", code="invalid_grant")) == "needs_reconnect"
    assert wording.run_error(errors.GraphError("?"))["errorCode"] == "graph_error"


def test_sign_in_words_follow_the_code_and_an_unreachable_microsoft():
    assert "cancelled" in wording.sign_in_message(errors.OAuthError("access_denied"))
    assert wording.sign_in_message(errors.OAuthError("microsoft_unavailable", unreachable=True)) == "We couldn't reach Microsoft. Please try again in a minute."
    assert wording.sign_in_message(errors.OAuthError("microsoft_unavailable")) != wording.sign_in_message(errors.OAuthError("microsoft_unavailable", unreachable=True))
    assert "couldn't complete the sign-in" in wording.sign_in_message(errors.OAuthError("sign_in_failed"))


def test_calendar_contract_round_trip():
    calendar = GraphCalendar(id="c1", name="Work", color="lightBlue", is_default=True, can_edit=False, owner_name="Ann", owner_email="ann@example.com")
    contract = wording.calendar_contract(calendar)
    assert contract == {"id": "c1", "name": "Work", "color": "lightBlue", "isDefaultCalendar": True, "canEdit": False,
                        "owner": {"name": "Ann", "address": "ann@example.com"}}
    assert wording.calendar_from_contract(contract) == calendar
