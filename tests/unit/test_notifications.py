"""Change notifications parsed at the edge (``graph.types``): untrusted bodies never raise, whatever their values."""
from __future__ import annotations

import json

import pytest

from outlook_sync.graph.types import ChangeNotification, parse_notifications


def test_a_notification_reads_into_its_fields():
    body = {"value": [{"subscriptionId": "s1", "clientState": "secret", "changeType": "updated", "resource": "me/events/AAMk",
                       "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "AAMk"}}]}
    assert parse_notifications(json.dumps(body).encode()) == [ChangeNotification("s1", "secret", "updated", "AAMk", "")]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"value": {}}', b'{"value": [1]}', "\u00e9".encode("latin-1")])
def test_what_is_not_a_notification_list_is_none(body):
    assert parse_notifications(body) is None


def test_odd_values_read_as_text_and_never_raise():
    body = {"value": [{"subscriptionId": 5, "clientState": None, "resourceData": "AAMk", "lifecycleEvent": ["missed"]}]}
    [item] = parse_notifications(json.dumps(body).encode())
    assert (item.subscription_id, item.client_state, item.event_id) == ("5", "None", "")
