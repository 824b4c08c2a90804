"""Refresh tokens after rotation and password change (refresh-tokens.md); transactionId's limited memory."""
from __future__ import annotations

from .conftest import event_payload, refresh, sign_in


def test_old_refresh_token_stays_valid_until_password_change(emulator, control):
    control.create_user("rota@contoso.com", "Ro Ta")
    first = sign_in(emulator, "rota@contoso.com")["refresh_token"]
    second = refresh(emulator, first).json()["refresh_token"]
    third = refresh(emulator, first)  # the rotated-away token still works
    assert third.status_code == 200, third.text
    control.change_password("rota@contoso.com", "n3w-pass")
    for token in (first, second, third.json()["refresh_token"]):
        answer = refresh(emulator, token)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        assert answer.json()["error_codes"] == [50173]


def test_transaction_id_is_remembered_only_for_a_short_window(alice, control):
    """resources/event.md: transactionId avoids redundant POSTs on client retries; how long is not documented,
    so the emulator keeps it for transaction_id_window_s only."""
    _user, graph = alice
    body = event_payload(transactionId="txn-123")
    first = graph.post("/me/events", json=body).json()
    assert first["transactionId"] == "txn-123"
    retry = graph.post("/me/events", json=body).json()
    assert retry["id"] == first["id"]
    control.set_config(transaction_id_window_s=0)
    late = graph.post("/me/events", json=body).json()
    assert late["id"] != first["id"]  # a retry after the window makes a second event
    assert len(control.events("alice@contoso.com")) == 2


def test_transaction_id_absent_unless_the_client_set_it(alice):
    _user, graph = alice
    created = graph.post("/me/events", json=event_payload()).json()
    assert "transactionId" not in created
    assert "transactionId" not in graph.get(f"/me/events/{created['id']}").json()
