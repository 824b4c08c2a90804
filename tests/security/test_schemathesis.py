"""Property-based fuzzing of the whole OpenAPI schema (``/api/schema/``, drf-spectacular) with schemathesis.

Runs against pytest-django's live server, signed in as a supplier whose Outlook
is connected through the emulator (so the endpoints return real data), with the
session cookie and a CSRF token header on every request. For each operation,
``MAX_EXAMPLES`` generated requests (schema-conforming, then schema-violating)
are sent, plus requests with real event and sync ids in the path. Checks:
``not_a_server_error`` (no 5xx), ``response_schema_conformance`` (documented
responses, the ``ApiError`` shape of every 4xx included, match their schema) and
``status_code_conformance`` (no status the schema does not document). ``DELETE /integration`` is left out (it would
disconnect mid-run); the webhook endpoints are not in the schema (Graph calls
them, they are covered in test_oauth_and_webhooks.py).

Every failure is collected (operation, mode, check, status, a curl command to
reproduce) and reported together at the end.
"""
from __future__ import annotations

import secrets
from collections import defaultdict

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import BASE, connect, run_sync, wait_for_idle
from tests.security.conftest import at, create_event, graph_when

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker"), pytest.mark.slow]

MAX_EXAMPLES = 25
SKIPPED = {"DELETE /api/calendar/outlook/integration"}


@pytest.fixture
def session(api_client, graph, supplier, settings):
    """A connected supplier with events, a conflict and sync history; returns (cookies, headers, real ids)."""
    events = [create_event(api_client, f"Event {n}", days=2 + n, hour=9 + n) for n in range(4)]
    graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(2, 7), at(2, 8)), "showAs": "busy"})
    connect(api_client, graph)
    wait_for_idle(api_client)
    mapped = api_client.get(f"{BASE}/events").json()["events"]
    outlook_id = next(r["outlookEventId"] for r in mapped if r["wedSyncEventId"] == events[0]["id"])
    graph.update_event(MAILBOX, outlook_id, {"subject": "WedSync: Outlook title"})
    api_client.patch(f"/api/events/{events[0]['id']}/", {"title": "WedSync title"})
    job = run_sync(api_client)
    csrf = secrets.token_hex(16)
    cookies = {"sessionid": api_client.client.cookies[settings.SESSION_COOKIE_NAME].value, "csrftoken": csrf}
    return {"cookies": cookies, "headers": {"X-CSRFToken": csrf}, "event_ids": [e["id"] for e in events], "sync_id": job["syncId"]}


def _describe(exc: BaseException) -> str:
    parts = getattr(exc, "exceptions", None) or [exc]
    return "; ".join(f"{getattr(f, 'title', type(f).__name__)}: {str(getattr(f, 'message', f))[:300]}" for f in parts)


def test_fuzzing_the_openapi_schema_finds_no_server_error_and_no_schema_mismatch(live_server, session, capsys):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", headers=session["headers"], cookies=session["cookies"])
    failures: dict[str, list[str]] = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    # Every Outlook operation documents its errors in the one shape (so conformance covers 4xx answers too).
    for operation in operations:
        if operation.path.startswith(BASE):
            documented = set(operation.definition.raw["responses"])
            assert {"400", "401", "403", "404"} <= documented, (operation.label, sorted(documented))
            assert operation.definition.raw["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}

    def fuzz(operation, mode: GenerationMode, examples: int, **fixed) -> None:
        strategy = operation.as_strategy(generation_mode=mode, cookies=session["cookies"], headers=session["headers"], **fixed)

        @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            response = case.call(base_url=live_server.url, headers=session["headers"], cookies=session["cookies"], timeout=120)
            calls[operation.label] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance], headers=session["headers"])
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collected, reported at the end)
                if len(failures[operation.label]) < 3:
                    failures[operation.label].append(
                        f"[{mode.value}{' ' + repr(fixed) if fixed else ''}] {response.status_code} {response.text[:160]!r}: {_describe(exc)}\n"
                        f"    reproduce: {case.as_curl_command(headers=session['headers'], base_url=live_server.url)[:600]}")

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing to make invalid (e.g. negative mode of an operation without parameters)

    for operation in operations:
        if operation.label in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, MAX_EXAMPLES)
        names = {p.name for p in operation.path_parameters}
        if "event_id" in names:
            for event_id in session["event_ids"][:2]:
                fuzz(operation, GenerationMode.POSITIVE, 8, path_parameters={"event_id": event_id})
        if "sync_id" in names:
            fuzz(operation, GenerationMode.POSITIVE, 5, path_parameters={"sync_id": session["sync_id"]})

    # Last, the one operation left out above: disconnecting, once, checked against its documented response too.
    disconnect = schema["/api/calendar/outlook/integration"]["DELETE"].Case(cookies=session["cookies"], headers=session["headers"])
    response = disconnect.call(base_url=live_server.url, headers=session["headers"], cookies=session["cookies"], timeout=120)
    calls[disconnect.operation.label] += 1
    try:
        disconnect.validate_response(response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance], headers=session["headers"])
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
        failures[disconnect.operation.label].append(f"{response.status_code} {response.text[:160]!r}: {_describe(exc)}")

    with capsys.disabled():
        print(f"\nschemathesis: {sum(calls.values())} requests over {len(calls)} operations; failing operations: {len(failures)}")
        for label, found in failures.items():
            print(f"  {label}:\n    " + "\n    ".join(found))
    assert not failures, "\n".join(f"{label}:\n  " + "\n  ".join(found) for label, found in failures.items())
