"""The bearer token goes only to Microsoft Graph (issue 15, item 2).

A local TCP listener stands for an attacker's server: it records every
connection it accepts. A ``delta_link`` planted in the database (other port,
plain http, a user-info trick) and an ``@odata.nextLink`` rewritten in Graph's
reply (by an HTTPS relay in front of the emulator) must never reach it: the run
ends failed with ``untrusted_link``, the listener saw no connection at all, and
the log names the link without its query string.
"""
from __future__ import annotations

import http.server
import json
import logging
import re
import socket
import ssl
import threading
from pathlib import Path

import pytest
import requests
import trustme

from outlook_sync.models import OutlookCalendarIntegration
from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import BASE, connect, run_sync, wait_for_idle
from tests.security.conftest import at, create_event, graph_when

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SECRET_QUERY = "$deltatoken=planted-secret-0f3c"


class Listener:
    """A TCP server that accepts and records connections (and the first bytes sent), answering nothing."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.received.append(conn.recv(65536))
            except OSError:
                self.received.append(b"")
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def connected(api_client, graph, supplier):
    for n in range(3):
        create_event(api_client, f"Consultation {n}", days=2 + n)
    connect(api_client, graph)
    wait_for_idle(api_client)
    return OutlookCalendarIntegration.objects.get(user=supplier)


def _planted_links(listener, emulator) -> list[str]:
    graph_host = emulator.graph_url.split("://", 1)[1].split("/", 1)[0]
    path = "/v1.0/me/calendarView/delta?" + SECRET_QUERY
    return [
        f"https://127.0.0.1:{listener.port}{path}",  # https, right host, other port
        f"http://127.0.0.1:{listener.port}{path}",  # plain http
        f"https://{graph_host}@127.0.0.1:{listener.port}{path}",  # looks like Graph, is not
    ]


def test_a_planted_delta_link_never_receives_the_token(api_client, connected, listener, emulator, caplog):
    caplog.set_level(logging.INFO)
    for link in _planted_links(listener, emulator):
        OutlookCalendarIntegration.objects.filter(pk=connected.pk).update(delta_link=link)
        job = run_sync(api_client)
        assert job["status"] == "failed", job
        assert [e["errorCode"] for e in job["errors"]] == ["untrusted_link"], job["errors"]
    assert listener.received == []
    assert "planted-secret" not in caplog.text
    assert f"127.0.0.1:{listener.port}/v1.0/me/calendarView/delta is not Microsoft Graph" in caplog.text


# --- a foreign @odata.nextLink in Graph's own reply ---
class Relay(http.server.ThreadingHTTPServer):
    """HTTPS in front of the emulator's Graph; rewrites each ``@odata.nextLink`` to point at ``foreign``."""

    daemon_threads = True

    def __init__(self, upstream: str, upstream_ca: str, foreign: str, cert: trustme.LeafCert):
        super().__init__(("127.0.0.1", 0), RelayHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.upstream, self.foreign = upstream, foreign
        self.origin = f"https://127.0.0.1:{self.server_address[1]}"
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
        self.session.verify = upstream_ca
        self.rewritten = 0


class RelayHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        upstream = self.server.session.request(self.command, self.server.upstream + self.path, data=body, headers=headers, timeout=30)
        # Graph's own links name the relay (so they are trusted), except each nextLink, which goes to ``foreign``.
        content = upstream.content.replace(self.server.upstream.encode(), self.server.origin.encode())
        if b"@odata.nextLink" in content:
            data = json.loads(content)
            data["@odata.nextLink"] = re.sub(r"^https://[^/]+", self.server.foreign, data["@odata.nextLink"])
            content = json.dumps(data).encode()
            self.server.rewritten += 1
        self.send_response(upstream.status_code)
        for key in ("Content-Type", "Retry-After", "ETag"):
            if key in upstream.headers:
                self.send_header(key, upstream.headers[key])
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PATCH = do_DELETE = _relay


@pytest.fixture
def relay(graph, emulator, listener, settings, tmp_path):
    ca = trustme.CA()
    upstream = emulator.graph_url.split("/v1.0")[0]
    server = Relay(upstream, emulator.ca_file, f"https://127.0.0.1:{listener.port}", ca.issue_cert("127.0.0.1"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(Path(emulator.ca_file).read_bytes() + ca.cert_pem.bytes())
    settings.GRAPH_BASE_URL = f"https://127.0.0.1:{server.server_address[1]}/v1.0"
    settings.GRAPH_CA_BUNDLE = str(bundle)
    yield server
    server.shutdown()
    server.server_close()


def test_a_foreign_next_link_in_graphs_reply_never_receives_the_token(api_client, graph, relay, listener, supplier):
    graph.set_config(max_page_size=2)  # Graph pages at most 2 events per reply
    for n in range(5):
        graph.create_event(MAILBOX, {"subject": f"Dentist {n}", **graph_when(at(2 + n, 10), at(2 + n, 11))})

    connect(api_client, graph)  # through the relay: /me and the calendar list have no next page
    history = wait_for_idle(api_client)

    first = history[-1]
    assert first["syncStatus"] == "failed", history
    assert "untrusted_link" in [e["errorCode"] for e in first["errors"]]
    assert relay.rewritten >= 1  # the reply did carry a foreign link
    assert listener.received == []
    assert OutlookCalendarIntegration.objects.get(user=supplier).delta_link is None


def test_through_the_relay_graphs_own_links_still_work(api_client, graph, relay, listener, supplier):
    """The control: with nextLinks left pointing at Graph (the relay), the same import succeeds."""
    relay.foreign = relay.origin
    graph.set_config(max_page_size=2)  # Graph pages at most 2 events per reply
    for n in range(5):
        graph.create_event(MAILBOX, {"subject": f"Dentist {n}", **graph_when(at(2 + n, 10), at(2 + n, 11))})
    connect(api_client, graph)
    history = wait_for_idle(api_client)
    assert history[-1]["syncStatus"] == "completed", history
    assert relay.rewritten >= 2
    assert listener.received == []
