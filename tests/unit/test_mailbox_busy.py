"""Request slots of a mailbox that stay taken are a typed, retryable ``MailboxBusy``, not a bare ``LockTimeout`` (issue 13 item 7)."""
from __future__ import annotations

import contextlib

import pytest

from outlook_sync import locks, wording
from outlook_sync.graph.client import GraphClient
from outlook_sync.graph.errors import MailboxBusy
from outlook_sync.sync.engine import RUN_ENDING


@contextlib.contextmanager
def _taken(mailbox: str, weight: int):
    raise locks.LockTimeout(f"mailbox {mailbox}")
    yield  # pragma: no cover


def test_slots_that_stay_taken_end_the_request_as_mailbox_busy_before_anything_is_sent():
    client = GraphClient("ann@example.com", lambda force_refresh: "token", slots=_taken)
    with pytest.raises(MailboxBusy) as raised:
        client.get("/me")
    assert client.requests_sent == 0
    assert raised.value.retryable
    assert wording.run_error(raised.value)["errorCode"] == "outlook_busy"


def test_mailbox_busy_ends_the_run_like_throttling():
    """The engine's one per-event guard lets it through: every later event would wait as long."""
    assert MailboxBusy in RUN_ENDING
