"""The "realistic" background fault profile: occasional 503/504 without Retry-After, slow answers; off by default."""
from __future__ import annotations

from collections import Counter


def test_realistic_profile_sends_transient_errors_without_retry_after(alice, control):
    _user, graph = alice
    statuses = Counter(graph.get("/me/calendars").status_code for _ in range(30))
    assert statuses == Counter({200: 30})  # off by default
    control.set_config(fault_profile="realistic", fault_503_rate=0.3, fault_504_rate=0.2, fault_slow_rate=0.0, fault_seed=7)
    answers = [graph.get("/me/calendars") for _ in range(60)]
    statuses = Counter(a.status_code for a in answers)
    assert statuses[503] > 0 and statuses[504] > 0 and statuses[200] > 0
    assert set(statuses) == {200, 503, 504}
    for answer in answers:
        if answer.status_code in (503, 504):
            assert "Retry-After" not in answer.headers
            assert answer.json()["error"]["code"] in ("ServiceUnavailable", "GatewayTimeout")


def test_realistic_profile_applies_to_batch_items_and_is_reproducible(alice, control):
    _user, graph = alice

    def run():
        control.set_config(fault_profile="none")
        assert graph.get("/me").status_code == 200  # a request while the profile is off
        control.set_config(fault_profile="realistic", fault_503_rate=0.4, fault_504_rate=0.0, fault_slow_rate=0.0, fault_seed=3)
        body = {"requests": [{"id": str(i), "method": "GET", "url": "/me/calendars", **({"dependsOn": [str(i - 1)]} if i else {})}
                             for i in range(3)]}
        answer = graph.post("/$batch", json=body)
        assert answer.status_code == 200
        return [r["status"] for r in answer.json()["responses"]]

    first = [run() for _ in range(2)]
    assert any(503 in statuses for statuses in first)
    assert [run() for _ in range(2)] == first  # same seed, same faults
