"""The process itself: plain-HTTP ready line, state file surviving a restart, open registration."""
from __future__ import annotations

import os
import subprocess
import sys

import requests

from graph_emulator.testing import PACKAGE_PARENT, EmulatorProcess

from .conftest import event_payload, pkce_pair


def test_ready_line_and_state_file_survive_restart(tmp_path):
    state = str(tmp_path / "state.json")
    with EmulatorProcess(tls=False, state_file=state) as first:
        assert first.base_url.startswith("http://127.0.0.1:") and first.ca_file is None
        user = first.control.create_user("dana@contoso.com", "Dana")
        event = first.control.create_event("dana@contoso.com", event_payload(subject="Kept"))
    assert os.path.exists(state)
    with EmulatorProcess(tls=False, state_file=state) as second:
        assert second.control.users()[0]["id"] == user["id"]
        assert [e["id"] for e in second.control.events("dana@contoso.com")] == [event["id"]]


def test_open_registration_accepts_any_client_and_seed_user(tmp_path):
    ca_file = str(tmp_path / "ca.pem")
    with EmulatorProcess(tls=True, ca_file=ca_file, seed_demo_user=True) as emulator:
        assert emulator.ca_file == ca_file and os.path.exists(ca_file + ".key")
        users = emulator.control.users()
        assert users[0]["email"] == "planner@contoso-weddings.example"
        assert len(emulator.control.events("planner@contoso-weddings.example")) == 3
        verifier, challenge = pkce_pair()
        url = (f"{emulator.authority}/common/oauth2/v2.0/authorize?client_id=any-app&response_type=code"
               f"&redirect_uri=http://localhost:9/cb&scope=User.Read&state=s&code_challenge={challenge}&code_challenge_method=S256")
        location = emulator.control.consent(url, "planner@contoso-weddings.example")
        code = location.split("code=")[1].split("&")[0]
        session = requests.Session()
        session.trust_env, session.verify = False, ca_file
        token = session.post(f"{emulator.authority}/common/oauth2/v2.0/token", data={
            "client_id": "any-app", "client_secret": "whatever", "grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://localhost:9/cb", "code_verifier": verifier})
        assert token.status_code == 200, token.text


def test_cli_help_runs_without_django():
    out = subprocess.run([sys.executable, "-c", "import sys, graph_emulator.app, graph_emulator.testing; print('django' in sys.modules)"],
                         cwd=PACKAGE_PARENT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
