"""Another supplier's sync flood against one supplier's push latency (issue 15, "abuse is bounded").

    bash scripts/bench.sh noisy_neighbour [--samples 10] [--flood 150] [--sync-rate 20/minute]

Starts the emulator, gunicorn (3 workers x 4 threads) and one Celery worker
(4 threads) as separate processes on the benchmark database and Redis. Two
suppliers, A and B, are connected to two mailboxes. B's push latency (an edit
through WedSync's actions until the Outlook event shows it) is measured first
alone, then while A, signed in over HTTP, sends ``--flood`` ``POST /sync``
requests, each with a different ``specificEvents``, as fast as one client can
(the report's attack: 150 in 17 s). ``--sync-rate`` is passed to gunicorn as
``THROTTLE_SYNC_RATE``; a huge rate (``100000/minute``) shows the same code with
the throttle out of the way.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from tests.bench import harness
from wedsync import queues
from tests.bench.latency import _free_port, _percentile, _up, _wait

MAILBOX_A = "noisy-a@contoso-weddings.example"
MAILBOX_B = "quiet-b@contoso-weddings.example"
PASSWORD = "bench-password-1"


def _flood(base: str, username: str, event_ids: list[str], count: int, out: dict) -> None:
    """Sign in as ``username`` over HTTP and send ``count`` POST /sync, each naming another event."""
    import requests

    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10)
    login = session.post(f"{base}/accounts/login/", data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                         headers={"Referer": f"{base}/accounts/login/"}, allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.status_code
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/", "Content-Type": "application/json"}
    statuses: list[int] = []
    started = time.perf_counter()
    for n in range(count):
        response = session.post(f"{base}/api/calendar/outlook/sync", json={"specificEvents": [event_ids[n % len(event_ids)]]}, headers=headers, timeout=30)
        statuses.append(response.status_code)
    out["seconds"] = time.perf_counter() - started
    out["statuses"] = statuses


def _push_latency(control, event, outlook_id: str, label: str) -> float:
    from wedsync.events import actions as event_actions
    from wedsync.events.models import CalendarEvent

    started = time.perf_counter()
    event_actions.update_event(CalendarEvent.objects.get(pk=event.pk), title=label)
    if not _wait(lambda: control.event(MAILBOX_B, outlook_id)["subject"].endswith(label), timeout=120, interval=0.02):
        raise TimeoutError(f"B's edit {label!r} did not reach Outlook in 120 s")
    return time.perf_counter() - started


def _row(measure: str, values: list[float], **extra) -> dict:
    return {"measure": measure, "samples": len(values), "p50_s": round(statistics.median(values), 3),
            "p95_s": round(_percentile(values, 95), 3), "max_s": round(max(values), 3), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--flood", type=int, default=150)
    parser.add_argument("--sync-rate", default="20/minute")
    args = parser.parse_args()
    harness.setup_django()
    from django.conf import settings
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the login page needs the static manifest
    from django.core.cache import cache
    from django.utils import timezone

    from outlook_sync.models import OutlookEventMapping, OutlookSyncHistory
    from wedsync.events import actions as event_actions

    web_port = _free_port()
    base = f"http://127.0.0.1:{web_port}"
    rows = []
    with harness.emulator() as process:
        control = process.control
        env = {
            **os.environ, "MICROSOFT_CLIENT_ID": harness.CLIENT_ID, "MICROSOFT_CLIENT_SECRET": harness.CLIENT_SECRET,
            "MICROSOFT_AUTHORITY": settings.MICROSOFT_AUTHORITY, "MICROSOFT_REDIRECT_URI": harness.REDIRECT_URI,
            "GRAPH_BASE_URL": settings.GRAPH_BASE_URL, "GRAPH_CA_BUNDLE": settings.GRAPH_CA_BUNDLE, "WEBHOOK_PUBLIC_BASE_URL": "",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SECURE_COOKIES": "0", "THROTTLE_SYNC_RATE": args.sync_rate,
        }
        children = [
            subprocess.Popen([sys.executable, "-m", "gunicorn", "wedsync.wsgi", "-b", f"127.0.0.1:{web_port}", "-w", "3", "--threads", "4", "--log-level", "warning"], env=env),
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "wedsync", "worker", "-P", "threads", "-c", "4", "-Q", ",".join(queues.both(settings.CELERY_TASK_DEFAULT_QUEUE)), "--loglevel", "WARNING"], env=env),
        ]
        try:
            assert _wait(lambda: _up(f"{base}/healthz"), timeout=30, interval=0.2), "gunicorn did not start"
            control.create_user(MAILBOX_A, "Noisy A")
            control.create_user(MAILBOX_B, "Quiet B")
            supplier_a = harness.fresh_supplier("bench-noisy-a")
            supplier_b = harness.fresh_supplier("bench-quiet-b")
            cache.delete_many([f"throttle_sync_{supplier_a.pk}"])
            start = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
            a_events = [event_actions.create_event(supplier_a, event_type="client_meeting", title=f"A meeting {n}", time_zone="Europe/London",
                                                   starts_at=start + dt.timedelta(hours=n), ends_at=start + dt.timedelta(hours=n, minutes=30))
                        for n in range(args.flood)]
            b_event = event_actions.create_event(supplier_b, event_type="client_meeting", title="B consultation", time_zone="Europe/London",
                                                 starts_at=start, ends_at=start + dt.timedelta(hours=1))
            integration_a = harness.connect(process, supplier_a, MAILBOX_A)
            integration_b = harness.connect(process, supplier_b, MAILBOX_B)
            assert _wait(lambda: OutlookEventMapping.objects.filter(integration=integration_a).count() == args.flood, timeout=300, interval=0.2)
            assert _wait(lambda: OutlookEventMapping.objects.filter(integration=integration_b, event=b_event).exists(), timeout=60, interval=0.1)
            assert _wait(lambda: not OutlookSyncHistory.objects.filter(integration__in=[integration_a, integration_b], sync_status="in_progress").exists(),
                         timeout=120, interval=0.2)
            outlook_id = OutlookEventMapping.objects.get(integration=integration_b, event=b_event).outlook_event_id

            alone = []
            for i in range(args.samples):
                alone.append(_push_latency(control, b_event, outlook_id, f"alone {i}"))
                time.sleep(0.3)
            rows.append(_row("b_push_alone", alone))

            runs_before = OutlookSyncHistory.objects.filter(integration=integration_a).count()
            flood: dict = {}
            attacker = threading.Thread(target=_flood, args=(base, supplier_a.username, [str(e.pk) for e in a_events], args.flood, flood))
            attacker.start()
            during = []
            i = 0
            while attacker.is_alive() or i < args.samples:
                during.append(_push_latency(control, b_event, outlook_id, f"flood {i}"))
                i += 1
                time.sleep(0.3)
                if i >= 4 * args.samples and not attacker.is_alive():
                    break
            attacker.join()
            if "statuses" not in flood:
                raise RuntimeError("the flood did not run (see its error above)")
            statuses = flood["statuses"]
            rows.append(_row("b_push_during_a_flood", during, a_requests=len(statuses), a_seconds=round(flood["seconds"], 1),
                             a_202=statuses.count(202), a_429=statuses.count(429), a_other=len(statuses) - statuses.count(202) - statuses.count(429),
                             a_runs=OutlookSyncHistory.objects.filter(integration=integration_a).count() - runs_before, sync_rate=args.sync_rate))
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
    harness.report("noisy_neighbour", rows)


if __name__ == "__main__":
    main()
