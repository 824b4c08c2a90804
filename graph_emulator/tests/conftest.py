"""Fixtures for the emulator's own tests: one real emulator process per session (TLS),
reset before every test, plus helpers to sign users in and call Graph with ``requests``.

Nothing here needs Django: the tests run with ``-p no:django`` or with the
pytest-django plugin active (they never use the db fixture).
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from graph_emulator.testing import EmulatorProcess


def wait_until(predicate, timeout: float = 10.0, what=lambda: "condition not reached") -> None:
    """The emulator tests' only wait: poll ``predicate`` until true (``tests/test_no_sleeps.py`` allows no other sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out: {what()}")


CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "emulator-test-secret"
REDIRECT_URI = "http://127.0.0.1:8765/calendar/outlook/callback/"
SCOPES = "openid profile offline_access Calendars.ReadWrite User.Read"


@pytest.fixture(scope="session")
def emulator():
    # --allow-insecure-notification-urls: the webhook receivers here are plain http on 127.0.0.1 (Microsoft requires
    # https; test_subscriptions_strict.py switches the flag off to prove the emulator refuses them then).
    with EmulatorProcess(tls=True, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI],
                         allow_insecure_notification_urls=True) as process:
        yield process


@pytest.fixture
def control(emulator):
    emulator.control.reset()
    # Outlook's own changes (body to HTML, attendee answers, reminders) are on by default; these tests check other
    # behaviours exactly, so they switch them off and test_outlook_by_itself.py switches them on as it needs.
    emulator.control.set_config(html_body_conversion_s=None, attendee_response_s=None, reminders_fire=False)
    return emulator.control


def http_session(emulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = emulator.ca_file
    return session


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(emulator, challenge: str, *, state: str = "st", redirect_uri: str = REDIRECT_URI, client_id: str = CLIENT_ID, **extra) -> str:
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": SCOPES, "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256", "response_mode": "query", **extra}
    return f"{emulator.authority}/common/oauth2/v2.0/authorize?{urlencode(params)}"


def get_code(emulator, email: str) -> tuple[str, str]:
    """Sign ``email`` in through the consent page; return (code, verifier)."""
    verifier, challenge = pkce_pair()
    location = emulator.control.consent(authorize_url(emulator, challenge), email)
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], verifier


def redeem(emulator, code: str, verifier: str, **overrides) -> requests.Response:
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "authorization_code", "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier, "scope": SCOPES, "client_info": "1", **overrides}
    return http_session(emulator).post(f"{emulator.authority}/common/oauth2/v2.0/token", data=form)


def refresh(emulator, refresh_token: str) -> requests.Response:
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token", "refresh_token": refresh_token,
            "scope": SCOPES, "client_info": "1"}
    return http_session(emulator).post(f"{emulator.authority}/common/oauth2/v2.0/token", data=form)


def sign_in(emulator, email: str) -> dict:
    code, verifier = get_code(emulator, email)
    response = redeem(emulator, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


class Graph:
    """A tiny Graph caller: base URL + bearer token, nothing else (retries are the client's business, not ours)."""

    def __init__(self, emulator, token: str):
        self.emulator = emulator
        self.token = token
        self.session = http_session(emulator)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.emulator.graph_url + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def user_factory(emulator, control):
    """Create a user, sign them in, return (user dict, Graph)."""

    def make(email: str = "alice@contoso.com", name: str = "Alice Adams"):
        user = control.create_user(email, name)
        tokens = sign_in(emulator, email)
        return user, Graph(emulator, tokens["access_token"])

    return make


@pytest.fixture
def alice(user_factory):
    return user_factory()


def event_payload(subject="Tasting", start="2026-06-20T16:00:00", end="2026-06-20T17:00:00", zone="UTC", **extra) -> dict:
    return {"subject": subject, "start": {"dateTime": start, "timeZone": zone}, "end": {"dateTime": end, "timeZone": zone}, **extra}


# --- a webhook receiver for subscription tests ---
class Receiver:
    """An HTTP endpoint in a thread. ``mode`` decides how validation requests are answered;
    ``fail_next`` / ``hold_next`` script the answers to notifications.

    A slow endpoint ("slow" validation, ``hold_next``) holds its answer until the test ends (``close``), so it
    is slower than any timeout of the emulator's without the test sleeping. A held notification is recorded
    when it arrives (status ``"held"``).
    """

    def __init__(self):
        self.notifications: list[dict] = []
        self.validations: list[str] = []
        self.mode = "echo"  # echo | wrong | status500 | slow | json (the token, but as application/json)
        self.fail_next = 0
        self.hold_next = 0
        self.released = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = parse_qs(urlsplit(self.path).query)
                if "validationToken" in query:
                    token = query["validationToken"][0]
                    receiver.validations.append(token)
                    if receiver.mode == "slow":
                        receiver.released.wait()
                    if receiver.mode == "status500":
                        return self._answer(500, b"nope")
                    body = token if receiver.mode != "wrong" else token.upper() + "x"
                    return self._answer(200, body.encode(), "application/json" if receiver.mode == "json" else "text/plain")
                with receiver.lock:
                    fail = receiver.fail_next > 0
                    if fail:
                        receiver.fail_next -= 1
                    hold = receiver.hold_next > 0
                    if hold:
                        receiver.hold_next -= 1
                payload = json.loads(raw or b"{}")
                with receiver.lock:
                    status = "held" if hold else 500 if fail else 202
                    receiver.notifications.append({"path": urlsplit(self.path).path, "payload": payload, "status": status})
                if hold:
                    receiver.released.wait()
                self._answer(500 if fail else 202, b"")

            def _answer(self, status: int, body: bytes, content_type: str = "text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout: float = 10.0):
        """Wait until the notifications received so far satisfy ``predicate``; return them."""
        seen: list = []

        def received() -> bool:
            with self.lock:
                seen[:] = self.notifications
            return predicate(list(seen))

        wait_until(received, timeout=timeout, what=lambda: f"received {self.notifications}")
        return list(seen)

    def close(self):
        self.released.set()  # held answers go out now; the emulator gave up on them long ago
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
