"""OAuth tokens (and the other secrets of the integration) are encrypted at rest and appear nowhere else.

One full flow — connect, first sync, push, refresh (proactive and after a 401),
a real webhook notification, the settings pages, the admin, disconnect — runs
with every logger at DEBUG (the in-process worker's threads included) and every
response recorded. Every access and refresh token the integration held at any
point (read back decrypted at each step), the client secret, the webhook
clientState, the authorization code and the PKCE verifier are then searched for
in the logs, stdout/stderr, the API and page responses, the admin HTML, and the
raw rows of every table.
"""
from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from outlook_sync import tasks
from outlook_sync.models import OutlookCalendarIntegration, OutlookNotification
from tests.conftest import CLIENT_SECRET, MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, disconnect, wait_for_idle
from tests.security.conftest import RecordingClient, at, create_event, graph_when

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ADMIN_PAGES = [
    "/admin/outlook_sync/outlookcalendarintegration/", "/admin/outlook_sync/outlookeventmapping/", "/admin/outlook_sync/outlooksynchistory/",
    "/admin/outlook_sync/outlookbusytime/", "/admin/outlook_sync/outlooknotification/",
]


def _all_loggers_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level > logging.DEBUG:
            caplog.set_level(logging.DEBUG, logger=name)


#: Loggers of the test's own tooling (the emulator's control client is httpx; the project speaks to Microsoft with requests).
TOOLING = ("httpx", "httpcore")
#: Single-use OAuth values that the real ``msal`` logs at DEBUG in its token-cache event *after* redeeming them
#: (msal redacts the tokens there, not the request's code and code_verifier). Harmless once redeemed, so
#: they are searched for at the project's default level (INFO) and above only; see the report.
REDEEMED = ("authorization code", "PKCE code_verifier")


def _log_text(caplog, min_level: int = logging.NOTSET) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in caplog.records:
        if record.name.split(".")[0] in TOOLING or record.levelno < min_level:
            continue
        try:
            lines.append(formatter.format(record))
        except Exception:  # noqa: BLE001  (a record that cannot be formatted still has its raw parts)
            lines.append(f"{record.name} {record.msg!r} {record.args!r}")
        lines.append(repr(record.__dict__))
    return "\n".join(lines)


def _table_dump() -> str:
    """Every row of every table of the test database, as text (what a database dump or a DBA would see)."""
    out = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            out += [f"{table}: {row!r}" for row in cursor.fetchall()]
    return "\n".join(out)


def test_tokens_are_encrypted_at_rest_and_absent_from_logs_responses_and_admin(caplog, capfd, api_client, graph, supplier, live_server, settings,
                                                                               django_user_model):
    _all_loggers_at_debug(caplog)
    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    client = RecordingClient(api_client)
    secrets: dict[str, str] = {"client secret": CLIENT_SECRET}
    raw_columns: list[str] = []

    def snapshot(step: str) -> OutlookCalendarIntegration:
        integration = OutlookCalendarIntegration.objects.get(user=supplier)
        secrets[f"access token ({step})"] = integration.get_access_token()
        secrets[f"refresh token ({step})"] = integration.get_refresh_token()
        secrets["webhook clientState"] = integration.webhook_client_state
        raw_columns.extend([integration.access_token_encrypted, integration.refresh_token_encrypted])
        # At rest: ciphertext (Fernet), never the token itself.
        assert integration.access_token_encrypted.startswith("gAAAA") and integration.refresh_token_encrypted.startswith("gAAAA")
        assert integration.get_access_token() not in integration.access_token_encrypted
        return integration

    event = create_event(client, "Consultation with Priya & Sam")
    # --- connect (consent page, callback) ---
    started = client.get(f"{BASE}/auth").json()
    flow = api_client.client.session["outlook_oauth_flows"][started["state"]]["flow"]
    secrets["PKCE code_verifier"] = flow["code_verifier"]
    location = graph.consent(started["authUrl"], MAILBOX)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    secrets["authorization code"] = query["code"]
    assert client.post(f"{BASE}/auth/callback", {"code": query["code"], "state": query["state"]}).status_code == 200
    assert client.put(f"{BASE}/settings", {"confirmSetup": True}).status_code == 200  # the guided step, choices as offered
    wait_for_idle(client)
    wait_for(lambda: client.get(f"{BASE}/sync").json()["webhookStatus"]["isActive"], message="subscription")
    snapshot("connect")

    # --- push a WedSync change ---
    client.patch(f"/api/events/{event['id']}/", {"location": "The Orangery, Kew"})
    outlook_id = wait_for(lambda: next((e["id"] for e in graph.events(MAILBOX) if e["location"]["displayName"] == "The Orangery, Kew"), None), message="push")
    wait_for_idle(client)

    # --- refresh: proactively (beat) and after Graph refused the access token ---
    OutlookCalendarIntegration.objects.filter(user=supplier).update(token_expires_at=timezone.now() + dt.timedelta(minutes=1))
    assert tasks.refresh_expiring_tokens.apply().get() == 1
    snapshot("beat refresh")
    graph.expire_access_tokens(MAILBOX)
    job = client.post(f"{BASE}/sync", {"syncType": "incremental"}).json()
    wait_for(lambda: client.get(f"{BASE}/sync/{job['syncId']}").json()["status"] not in ("queued", "in_progress"), message="sync after 401")
    integration = snapshot("refresh after 401")
    assert graph.stats()["token_requests"]["refresh_token"] >= 2

    # --- a real change notification from Outlook ---
    graph.update_event(MAILBOX, outlook_id, graph_when(at(3, 15), at(3, 16)))
    wait_for(lambda: client.get(f"/api/events/{event['id']}/").json()["startsAt"].startswith(at(3, 15).strftime("%Y-%m-%dT%H")), timeout=15,
             message="notification-driven sync")
    assert OutlookNotification.objects.filter(integration=integration).exists()
    wait_for_idle(client)
    snapshot("after webhook")

    # --- every page the supplier sees, and the admin as a superuser ---
    for path in ("/calendar/outlook/", "/calendar/outlook/events/", "/calendar/outlook/conflicts/", "/calendar/events/",
                 f"{BASE}/sync", f"{BASE}/events", f"{BASE}/availability?start={at(2, 0).isoformat()}&end={at(4, 0).isoformat()}".replace("+", "%2B")):
        assert client.get(path).status_code == 200, path
    admin_user = django_user_model.objects.create_superuser("support", "support@example.com", "correct horse 9")
    admin = Client()
    admin.force_login(admin_user)
    admin_html = []
    for page in ADMIN_PAGES:
        listing = admin.get(page)
        assert listing.status_code == 200, page
        admin_html.append(listing.content.decode())
    for obj_page in (f"/admin/outlook_sync/outlookcalendarintegration/{integration.pk}/change/",
                     f"/admin/outlook_sync/outlookcalendarintegration/{integration.pk}/history/",
                     f"/admin/outlook_sync/outlookcalendarintegration/?q={integration.microsoft_account_email}"):
        response = admin.get(obj_page)
        assert response.status_code == 200, obj_page
        admin_html.append(response.content.decode())
    for model in ("outlookeventmapping", "outlooksynchistory", "outlooknotification"):
        first = admin.get(f"/admin/outlook_sync/{model}/")
        import re

        for object_id in re.findall(rf"/admin/outlook_sync/{model}/([^/]+)/change/", first.content.decode())[:3]:
            admin_html.append(admin.get(f"/admin/outlook_sync/{model}/{object_id}/change/").content.decode())
    # Tokens are not searchable either: searching for one finds nothing.
    searched = admin.get("/admin/outlook_sync/outlookcalendarintegration/", {"q": secrets["refresh token (after webhook)"]})
    assert str(integration.pk) not in searched.content.decode()  # (the page echoes the search term itself, so it is not searched)

    table_dump = _table_dump()

    # --- disconnect ---
    disconnect(client)  # the worker removes the copies and unsubscribes
    settle(graph)  # the unsubscribe the disconnect queued has run (and logged)

    logs = _log_text(caplog)
    info_logs = _log_text(caplog, logging.INFO)
    out, err = capfd.readouterr()
    assert len(logs) > 1000 and "outlook_sync" in logs  # the capture did capture (worker threads included)
    assert any(r.name.startswith("outlook_sync.graph.client") for r in caplog.records), "no Graph client log line captured"
    assert any(r.name.startswith("outlook_sync") and r.threadName != "MainThread" for r in caplog.records), "no worker-thread log captured"
    places = {"logs": logs, "logs at INFO and above": info_logs, "stdout/stderr": out + err, "API and page responses": client.text(), "admin HTML": "\n".join(admin_html),
              "database rows": table_dump}
    leaks = [f"{name} found in {place}" for name, value in secrets.items() if value and len(value) >= 8
             for place, text in places.items() if value in text
             if not (place == "database rows" and name == "webhook clientState")  # stored in clear by design: Graph echoes it
             and not (place in ("logs", "stdout/stderr") and name in REDEEMED)]
    assert not leaks, "\n".join(leaks)
    assert len({v for k, v in secrets.items() if k.startswith("access token")}) >= 3  # the tokens did rotate along the way
