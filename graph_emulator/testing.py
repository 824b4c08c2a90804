"""Helpers for tests and benchmarks: run the emulator as a real process and drive its control API.

    with EmulatorProcess(tls=True, client_id="app", client_secret="s3cret",
                         redirect_uris=["http://127.0.0.1:8000/cb"]) as emulator:
        emulator.control.reset()
        alice = emulator.control.create_user("alice@contoso.com", "Alice")
        ...  # msal with authority=f"{emulator.authority}/common", Graph at emulator.graph_url

Only the standard library and httpx are used here (no Django, no project imports).
"""
from __future__ import annotations

import html.parser
import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any
from urllib.parse import urljoin

import httpx

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorError(RuntimeError):
    """A control API call (or the consent form) did not answer as expected."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class EmulatorProcess:
    """``python -m graph_emulator --port 0 ...`` as a child process; a context manager."""

    def __init__(self, tls: bool = True, client_id: str | None = None, client_secret: str | None = None,
                 redirect_uris: list[str] | None = None, extra_args: list[str] | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, ca_file: str | None = None, state_file: str | None = None,
                 seed_demo_user: bool = False, service_time_ms: int | None = None, startup_timeout: float = 20.0,
                 env: dict[str, str] | None = None, allow_insecure_notification_urls: bool = False):
        self.tls = tls
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris or [])
        self.extra_args = list(extra_args or [])
        self.host = host
        self.port = port
        self.ca_file_arg = ca_file
        self.state_file = state_file
        self.seed_demo_user = seed_demo_user
        self.service_time_ms = service_time_ms
        self.startup_timeout = startup_timeout
        self.env = env
        #: Development flag: accept http://127.0.0.1/... webhook receivers (Microsoft requires https).
        self.allow_insecure_notification_urls = allow_insecure_notification_urls
        self.process: subprocess.Popen | None = None
        self.base_url: str = ""
        self.ca_file: str | None = None
        self._control: EmulatorControl | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._log_path: str | None = None

    # --- derived URLs ---
    @property
    def authority(self) -> str:
        """MSAL authority host: use ``f"{authority}/common"`` (or ``/organizations`` or a tenant id)."""
        return self.base_url

    @property
    def graph_url(self) -> str:
        return self.base_url + "/v1.0"

    @property
    def control(self) -> EmulatorControl:
        if self._control is None:
            self._control = EmulatorControl(self.base_url, self.ca_file)
        return self._control

    @property
    def log(self) -> str:
        """The emulator's stderr so far (for debugging failed tests)."""
        if self._log_path and os.path.exists(self._log_path):
            with open(self._log_path, errors="replace") as handle:
                return handle.read()
        return ""

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "graph_emulator", "--host", self.host, "--port", str(self.port)]
        if self.tls:
            cmd.append("--tls")
            cmd += ["--ca-file", self.ca_file_arg or os.path.join(self._tmpdir.name, "ca.pem")]
        if self.state_file:
            cmd += ["--state-file", self.state_file]
        if self.client_id:
            cmd += ["--client-id", self.client_id]
            if self.client_secret is not None:
                cmd += ["--client-secret", self.client_secret]
            for uri in self.redirect_uris:
                cmd += ["--redirect-uri", uri]
        if self.seed_demo_user:
            cmd.append("--seed-demo-user")
        if self.service_time_ms is not None:
            cmd += ["--service-time-ms", str(self.service_time_ms)]
        if self.allow_insecure_notification_urls:
            cmd.append("--allow-insecure-notification-urls")
        return cmd + self.extra_args

    def start(self) -> EmulatorProcess:
        if self.process is not None:
            return self
        self._tmpdir = tempfile.TemporaryDirectory(prefix="graph-emulator-test-")
        self._log_path = os.path.join(self._tmpdir.name, "emulator.log")
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("PYTHONUNBUFFERED", "1")
        log = open(self._log_path, "wb")
        try:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                            cwd=PACKAGE_PARENT, env=env)
        finally:
            log.close()
        lines: queue.Queue = queue.Queue()

        def pump(stream) -> None:
            for raw in iter(stream.readline, b""):
                lines.put(raw)
            lines.put(None)

        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True, name="graph-emulator-stdout").start()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise EmulatorError(f"graph_emulator did not start within {self.startup_timeout} s:\n{self.log}")
            try:
                raw = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if raw is None:
                code = self.process.wait()
                log_text = self.log
                self.process = None
                raise EmulatorError(f"graph_emulator exited with {code} before it was ready:\n{log_text}")
            try:
                ready = json.loads(raw.decode())
            except ValueError:
                continue
            if isinstance(ready, dict) and "base_url" in ready:
                break
        self.base_url = ready["base_url"]
        self.ca_file = ready.get("ca_file")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if self._control is not None:
            self._control.close()
            self._control = None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if process is not None and process.stdout:
            process.stdout.close()

    def cleanup(self) -> None:
        self.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


class _FormParser(html.parser.HTMLParser):
    """Finds the consent form: its action and its hidden inputs."""

    def __init__(self):
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.users: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action") or ""
        elif tag == "input":
            if attrs.get("type") == "hidden" and attrs.get("name"):
                self.fields[attrs["name"]] = attrs.get("value") or ""
            elif attrs.get("name") == "user":
                self.users.append(attrs.get("value") or "")


class EmulatorControl:
    """Thin client over ``/_emulator/``. Users are identified by email."""

    def __init__(self, base_url: str, ca_file: str | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        verify: Any = True
        if ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
        self.http = httpx.Client(base_url=self.base_url, verify=verify, trust_env=False, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: Any = None, params: dict | None = None, expect=(200, 201, 202, 204)) -> Any:
        response = self.http.request(method, "/_emulator" + path, json=body, params=params)
        if response.status_code not in expect:
            raise EmulatorError(f"{method} /_emulator{path} -> {response.status_code}: {response.text}", response.status_code, response.text)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @staticmethod
    def _q(email: str) -> str:
        from urllib.parse import quote

        return quote(email, safe="@")

    # --- state ---
    def reset(self) -> None:
        self._call("POST", "/reset")

    def register_app(self, client_id: str, client_secret: str | None, redirect_uris: list[str]) -> dict:
        return self._call("POST", "/apps", {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris})

    def create_user(self, email: str, display_name: str | None = None, password: str | None = None, **extra) -> dict:
        return self._call("POST", "/users", {"email": email, "display_name": display_name, "password": password, **extra})

    def users(self) -> list[dict]:
        return self._call("GET", "/users")["value"]

    def create_calendar(self, user: str, name: str, **extra) -> dict:
        return self._call("POST", f"/users/{self._q(user)}/calendars", {"name": name, **extra})

    def calendars(self, user: str) -> list[dict]:
        return self._call("GET", f"/users/{self._q(user)}/calendars")["value"]

    # --- acting as the person in Outlook ---
    def create_event(self, user: str, payload: dict, calendar_id: str | None = None) -> dict:
        params = {"calendar_id": calendar_id} if calendar_id else None
        return self._call("POST", f"/users/{self._q(user)}/events", payload, params=params)

    def update_event(self, user: str, event_id: str, changes: dict) -> dict:
        return self._call("PATCH", f"/users/{self._q(user)}/events/{event_id}", changes)

    def delete_event(self, user: str, event_id: str) -> None:
        self._call("DELETE", f"/users/{self._q(user)}/events/{event_id}")

    def events(self, user: str, calendar_id: str | None = None) -> list[dict]:
        params = {"calendar_id": calendar_id} if calendar_id else None
        return self._call("GET", f"/users/{self._q(user)}/events", params=params)["value"]

    def event(self, user: str, event_id: str) -> dict:
        return self._call("GET", f"/users/{self._q(user)}/events/{event_id}")

    # --- knobs ---
    def config(self) -> dict:
        return self._call("GET", "/config")

    def set_config(self, **changes) -> dict:
        return self._call("PUT", "/config", changes)

    def inject_fault(self, method: str, path_regex: str, status: int | None = None, count: int | None = 1, latency_ms: int = 0,
                     retry_after: float | str | None = None, drop_connection: bool = False, error_code: str | None = None,
                     mailbox: str | None = None, error_message: str | None = None) -> int:
        body = {"method": method, "path_regex": path_regex, "status": status, "count": count, "latency_ms": latency_ms,
                "retry_after": retry_after, "drop_connection": drop_connection, "error_code": error_code, "mailbox": mailbox,
                "error_message": error_message}
        return self._call("POST", "/faults", body)["id"]

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["value"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # --- tokens ---
    def revoke_refresh_tokens(self, user: str) -> dict:
        return self._call("POST", f"/users/{self._q(user)}/tokens/revoke")

    def respond(self, user: str, event_id: str, attendee: str, response: str) -> dict:
        """An attendee answers the invitation (changes the organizer's event)."""
        return self._call("POST", f"/users/{self._q(user)}/events/{event_id}/respond", {"attendee": attendee, "response": response})

    def run_outlook(self, convert_bodies: bool = False, fire_reminders: bool = False, respond: bool = False) -> dict:
        """Make Outlook's own changes happen now (body to HTML, due reminders, automatic attendee answers)."""
        return self._call("POST", "/outlook/run", {"convert_bodies": convert_bodies, "fire_reminders": fire_reminders, "respond": respond})

    def change_password(self, user: str, password: str) -> dict:
        """The person changes their password: all their refresh tokens are revoked."""
        return self._call("POST", f"/users/{self._q(user)}/password", {"password": password})

    def age_refresh_tokens(self, user: str, days: float) -> dict:
        return self._call("POST", f"/users/{self._q(user)}/tokens/age", {"days": days})

    def expire_access_tokens(self, user: str) -> dict:
        return self._call("POST", f"/users/{self._q(user)}/tokens/expire-access")

    def expire_delta_tokens(self) -> dict:
        return self._call("POST", "/delta/expire")

    # --- subscriptions ---
    def subscriptions(self, user: str | None = None) -> list[dict]:
        return self._call("GET", "/subscriptions", params={"user": user} if user else None)["value"]

    def trigger_lifecycle(self, subscription_id: str, event: str) -> dict:
        return self._call("POST", f"/subscriptions/{subscription_id}/lifecycle", {"event": event})

    # --- statistics ---
    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def activity(self) -> dict:
        """``{"requests_in_flight", "pending_notifications"}``: both 0 when the emulator is quiet."""
        return self._call("GET", "/activity")

    def reset_stats(self) -> None:
        self._call("POST", "/stats/reset")

    def invitations(self) -> list[dict]:
        return self._call("GET", "/invitations")["value"]

    # --- the consent page, like a browser ---
    def consent(self, authorize_url: str, user_email: str, accept: bool = True) -> str:
        """Open ``authorize_url``, submit the consent form as ``user_email``; return the redirect Location (not followed)."""
        page = self.http.get(authorize_url)
        if page.status_code in (301, 302, 303, 307, 308):
            return page.headers["location"]
        if page.status_code != 200:
            raise EmulatorError(f"authorize page answered {page.status_code}: {page.text}", page.status_code, page.text)
        parser = _FormParser()
        parser.feed(page.text)
        if parser.action is None:
            raise EmulatorError("no consent form on the authorize page", page.status_code, page.text)
        form = dict(parser.fields)
        form["user"] = user_email
        form["action"] = "accept" if accept else "deny"
        answer = self.http.post(urljoin(str(page.url), parser.action), data=form)
        if answer.status_code not in (301, 302, 303, 307, 308):
            raise EmulatorError(f"consent form answered {answer.status_code}: {answer.text}", answer.status_code, answer.text)
        return answer.headers["location"]
