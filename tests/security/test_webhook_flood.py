"""A flood of forged change notifications is counted and logged once per interval (issue 15, webhook flood).

Every forged notification is still refused (403, stored nothing); the log gets
one line per interval, and the next interval's line carries the total of the
flood before it.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import random

import pytest
import time_machine

from outlook_sync.models import OutlookNotification

pytestmark = [pytest.mark.django_db]


def _forged(n: int) -> str:
    return json.dumps({"value": [{"subscriptionId": f"forged-{n}", "clientState": "guess", "changeType": "updated",
                                  "resource": "Users/u/Events/e", "resourceData": {"id": "e"}}]})


def _refusal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "outlook_sync.webhooks" and "Refused" in r.getMessage()]


def test_a_flood_of_forged_notifications_is_logged_once_per_interval(client, settings, caplog):
    settings.WEBHOOK_REFUSED_LOG_INTERVAL_SECONDS = 60
    caplog.set_level(logging.INFO)
    # A moment of its own, so that counts of earlier runs (same cache) cannot mix in.
    start = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=random.randrange(10**7))
    with time_machine.travel(start, tick=False) as clock:
        answers = [client.post("/api/calendar/outlook/webhook", _forged(n), content_type="application/json").status_code for n in range(300)]
        assert answers == [403] * 300
        assert _refusal_lines(caplog) == ["Refused webhook notifications (unknown subscription or wrong clientState): 1 now; 0 in the previous 60 s"]

        clock.shift(dt.timedelta(seconds=60))
        assert client.post("/api/calendar/outlook/webhook", _forged(0), content_type="application/json").status_code == 403
        lines = _refusal_lines(caplog)
        assert len(lines) == 2
        assert lines[1] == "Refused webhook notifications (unknown subscription or wrong clientState): 1 now; 300 in the previous 60 s"
    assert not OutlookNotification.objects.exists()
