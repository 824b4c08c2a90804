"""Shared set-up of the benchmarks: Django against the benchmark database, the emulator, a connected supplier.

Benchmarks are commands, not tests: ``bash scripts/bench.sh bulk_push`` (which
sets the environment) or ``python -m tests.bench.<name>`` with the same
variables as ``scripts/test.sh``. Each prints one JSON line per measurement and
a short table.
"""
from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "wedsync-bench"
CLIENT_SECRET = "wedsync-bench-secret"
REDIRECT_URI = "http://127.0.0.1:8000/calendar/outlook/callback/"
MAILBOX = "bench@contoso-weddings.example"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


@contextmanager
def emulator(**kwargs):
    from graph_emulator.testing import EmulatorProcess

    kwargs.setdefault("allow_insecure_notification_urls", True)  # plain-http localhost webhook receivers (development flag)
    with EmulatorProcess(tls=True, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI], **kwargs) as process:
        from django.conf import settings

        settings.MICROSOFT_CLIENT_ID = CLIENT_ID
        settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
        settings.MICROSOFT_AUTHORITY = f"{process.authority}/common"
        settings.MICROSOFT_REDIRECT_URI = REDIRECT_URI
        settings.GRAPH_BASE_URL = process.graph_url
        settings.GRAPH_CA_BUNDLE = process.ca_file
        yield process


def fresh_supplier(username: str):
    """A new supplier (any earlier one of that name, with its events and integration, is removed)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.filter(username=username).delete()
    return User.objects.create_user(username=username, email=f"{username}@example.com", password="bench-password-1")


def connect(process, supplier, email: str = MAILBOX):
    """The real connect flow (MSAL + the emulator's consent page), without a browser."""
    from outlook_sync import actions

    session: dict = {}
    started = actions.start_connect(session, supplier)
    location = process.control.consent(started["authUrl"], email, accept=True)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    integration, _ = actions.complete_connect(session, supplier, query)
    if integration.needs_setup:  # the guided step, confirmed with the choices as they are
        actions.update_settings(integration, {"confirmSetup": True})
    return integration


def report(name: str, rows: list[dict]) -> None:
    """One JSON line per row, then an aligned table."""
    for row in rows:
        print(json.dumps({"benchmark": name, **row}), flush=True)
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys), file=sys.stderr)
    for row in rows:
        print("  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys), file=sys.stderr)


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.started
