"""The lower items of issue 15 (item 5): each one through its public surface.

Access log without query strings (a real gunicorn), OAuth ``error`` mapped to a
fixed set of codes, ``rotate_token_keys`` naming and checking its key, session
idle timeout, CSP and HSTS headers, schema and docs behind sign-in, and the
production system check on ``WEBHOOK_PUBLIC_BASE_URL``.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import time_machine
from cryptography.fernet import Fernet
from django.contrib.sessions.models import Session
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import Client

from outlook_sync import crypto
from outlook_sync.models import OutlookCalendarIntegration
from tests.conftest import wait_for
from tests.integration.outlook_helpers import BASE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True)]


# --- access log ---
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_access_log_has_no_query_strings(tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wedsync.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--access-logfile", str(log)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            try:
                requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10)
            except requests.RequestException:
                return False
            return True

        wait_for(answers, message="gunicorn to start")
        requests.get(f"http://127.0.0.1:{port}/calendar/outlook/callback/?code=SECRET-CODE-42&state=SECRET-STATE-42", timeout=5,
                     headers={"Referer": "https://login.example/?code=SECRET-REFERER"}, allow_redirects=False)
        wait_for(lambda: "/calendar/outlook/callback/" in (log.read_text() if log.exists() else ""), message="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = log.read_text()
    assert '"GET /calendar/outlook/callback/ HTTP/1.1" 302' in text
    assert "SECRET" not in text and "code=" not in text and "state=" not in text


def test_docker_compose_and_the_dockerfile_use_that_log_format():
    assert "-c gunicorn.conf.py" in (ROOT / "docker-compose.yml").read_text()
    assert '"-c", "gunicorn.conf.py"' in (ROOT / "Dockerfile").read_text()


# --- OAuth error codes ---
@pytest.mark.parametrize("sent, expected", [
    ("access_denied", "access_denied"),
    ("consent_required", "consent_required"),
    ("temporarily_unavailable", "microsoft_unavailable"),
    ("<script>alert(1)</script>", "sign_in_failed"),
    ("admin_approved_please_trust_me", "sign_in_failed"),
])
def test_an_oauth_error_from_the_callback_maps_to_a_fixed_code(api_client, graph, supplier, sent, expected):
    state = api_client.get(f"{BASE}/auth").json()["state"]
    response = api_client.post(f"{BASE}/auth/callback", {"state": state, "error": sent, "error_description": "<b>attacker text</b>"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == expected
    assert "attacker text" not in response.content.decode()
    if sent != expected:
        assert sent not in response.content.decode()
    assert not OutlookCalendarIntegration.objects.exists()


# --- rotate_token_keys ---
@pytest.fixture
def stored(supplier):
    return OutlookCalendarIntegration.objects.create(
        user=supplier, tenant_id="t", microsoft_user_id="m", access_token_encrypted=crypto.encrypt("access-1"),
        refresh_token_encrypted=crypto.encrypt("refresh-1"), token_expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    )


def test_rotate_token_keys_refuses_when_the_new_key_is_not_first(stored, settings, capsys):
    old = list(settings.TOKEN_ENCRYPTION_KEYS)
    new = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [*old, new]  # the mistake from the report: new key placed last
    before = OutlookCalendarIntegration.objects.values_list("access_token_encrypted", "refresh_token_encrypted").get(pk=stored.pk)
    with pytest.raises(CommandError, match=f"{crypto.fingerprint(new)} is number 2 of 2"):
        call_command("rotate_token_keys", new_key_fingerprint=crypto.fingerprint(new))
    assert OutlookCalendarIntegration.objects.values_list("access_token_encrypted", "refresh_token_encrypted").get(pk=stored.pk) == before


def test_rotate_token_keys_prints_the_fingerprint_it_encrypted_with(stored, settings, capsys):
    new = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new, *settings.TOKEN_ENCRYPTION_KEYS]
    call_command("rotate_token_keys", new_key_fingerprint=crypto.fingerprint(new))
    out = capsys.readouterr().out
    assert f"Re-encrypted tokens of 1 integration(s) with key {crypto.fingerprint(new)}." in out
    assert new not in out
    settings.TOKEN_ENCRYPTION_KEYS = [new]  # only the new key decrypts now
    assert OutlookCalendarIntegration.objects.get(pk=stored.pk).get_access_token() == "access-1"


def test_generate_prints_a_key_and_its_fingerprint(capsys):
    call_command("rotate_token_keys", generate=True)
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert Fernet(key) and f"fingerprint: {crypto.fingerprint(key)}" in captured.err


# --- sessions ---
def test_a_session_ends_after_two_hours_without_activity(supplier, settings):
    assert settings.SESSION_COOKIE_AGE == 2 * 60 * 60
    client = Client()
    start = dt.datetime(2030, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as clock:
        assert client.post("/accounts/login/", {"username": "avery", "password": "correct horse 9"}).status_code == 302
        for _ in range(3):  # active every 1 h 50 min: still signed in after 5 h 30 min
            clock.shift(dt.timedelta(hours=1, minutes=50))
            assert client.get("/calendar/outlook/").status_code == 200
        clock.shift(dt.timedelta(hours=2, minutes=1))
        response = client.get("/calendar/outlook/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert client.get(f"{BASE}/sync").status_code == 401


def test_a_session_is_written_only_when_its_expiry_lags_by_the_renewal_interval(supplier, settings):
    """Requests renew the idle timeout without a write each: the row (and the cookie) move only once the stored
    expiry lags by more than the renewal interval, so the session never outlives the idle time after a request."""
    interval = dt.timedelta(seconds=settings.SESSION_RENEWAL_INTERVAL_SECONDS)
    age = dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert dt.timedelta(0) < interval <= age / 10
    client = Client()
    start = dt.datetime(2030, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as clock:
        assert client.post("/accounts/login/", {"username": "avery", "password": "correct horse 9"}).status_code == 302
        key = client.cookies[settings.SESSION_COOKIE_NAME].value

        def stored_expiry():
            return Session.objects.get(session_key=key).expire_date

        assert stored_expiry() == start + age
        clock.shift(interval)
        response = client.get("/calendar/outlook/")
        assert response.status_code == 200
        assert stored_expiry() == start + age and settings.SESSION_COOKIE_NAME not in response.cookies  # lags by the interval only
        clock.shift(dt.timedelta(seconds=1))
        response = client.get("/calendar/outlook/")
        renewed = start + interval + dt.timedelta(seconds=1) + age
        assert stored_expiry() == renewed
        assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == int(age.total_seconds())
        clock.shift(age + dt.timedelta(seconds=1))  # past the renewed expiry: signed out
        response = client.get("/calendar/outlook/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- headers ---
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, supplier):
    client.force_login(supplier)
    for path in ("/calendar/outlook/", "/accounts/login/", "/api/docs/", "/admin/login/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'", (path, policy)
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "https://login.microsoftonline.com" in directives["form-action"] or "127.0.0.1" in directives["form-action"]


def test_the_production_example_turns_hsts_on_and_django_sends_it(client, settings):
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#"))
    assert int(example["DJANGO_SECURE_HSTS_SECONDS"]) >= 31536000
    assert example["DJANGO_SECURE_SSL_REDIRECT"] == "1"
    settings.SECURE_HSTS_SECONDS = int(example["DJANGO_SECURE_HSTS_SECONDS"])
    assert client.get("/accounts/login/", secure=True)["Strict-Transport-Security"].startswith(f"max-age={settings.SECURE_HSTS_SECONDS}")


# --- API schema and docs ---
def test_schema_and_docs_need_a_signed_in_user(client, supplier):
    assert client.get("/api/schema/").status_code == 401
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 401 and schema.json()["error"]["code"] == "not_authenticated"
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    client.force_login(supplier)
    assert client.get("/api/schema/").status_code == 200
    page = client.get("/api/docs/")
    assert page.status_code == 200 and b"swagger" in page.content.lower()
    assert client.get("/api/docs/", {"script": ""}).status_code == 200  # the split view's start-up script, a file (CSP)


# --- system check ---
def test_production_refuses_a_non_https_webhook_url(settings):
    settings.DEBUG = False
    settings.WEBHOOK_PUBLIC_BASE_URL = "http://wedsync.example.com"
    assert "outlook_sync.E003" in [e.id for e in run_checks()]
    settings.WEBHOOK_PUBLIC_BASE_URL = "https://wedsync.example.com"
    assert "outlook_sync.E003" not in [e.id for e in run_checks()]
    settings.WEBHOOK_PUBLIC_BASE_URL = ""  # no webhooks at all is allowed (the periodic sync catches up)
    assert "outlook_sync.E003" not in [e.id for e in run_checks()]
    settings.DEBUG = True
    settings.WEBHOOK_PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # the demo
    assert "outlook_sync.E003" not in [e.id for e in run_checks()]
