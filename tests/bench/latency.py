"""End-to-end latency both ways, and webhook receiver throughput, against the running stack.

    bash scripts/bench.sh latency [--samples 20] [--notifications 1000]

Starts the emulator, gunicorn (the web process: API + webhook receiver) and a
Celery worker as separate processes on the benchmark database and Redis, with
the emulator delivering real change notifications to gunicorn. Then:

- Outlook -> WedSync: an edit made in Outlook (emulator control API) until the
  WedSync event shows it (notification -> receiver -> worker -> delta -> DB);
- WedSync -> Outlook: an edit through WedSync's actions until the Outlook
  event shows it (signal after commit -> worker -> PATCH);
- receiver: N valid notifications POSTed by 8 concurrent senders; reports
  notifications/s and p50/p99 response times (the receiver must answer well
  inside Graph's 3 s).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.bench import harness
from wedsync import queues


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _wait(predicate, timeout: float = 30.0, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise TimeoutError("change did not arrive within the timeout")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--notifications", type=int, default=1000)
    args = parser.parse_args()
    harness.setup_django()
    import requests
    from django.conf import settings

    from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping
    from wedsync.events import actions as event_actions
    from wedsync.events.models import CalendarEvent

    web_port = _free_port()
    rows = []
    with harness.emulator() as process:
        env = {
            **os.environ, "MICROSOFT_CLIENT_ID": harness.CLIENT_ID, "MICROSOFT_CLIENT_SECRET": harness.CLIENT_SECRET,
            "MICROSOFT_AUTHORITY": settings.MICROSOFT_AUTHORITY, "MICROSOFT_REDIRECT_URI": harness.REDIRECT_URI,
            "GRAPH_BASE_URL": settings.GRAPH_BASE_URL, "GRAPH_CA_BUNDLE": settings.GRAPH_CA_BUNDLE,
            "WEBHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        settings.WEBHOOK_PUBLIC_BASE_URL = env["WEBHOOK_PUBLIC_BASE_URL"]
        children = [
            subprocess.Popen([sys.executable, "-m", "gunicorn", "wedsync.wsgi", "-b", f"127.0.0.1:{web_port}", "-w", "3", "--threads", "4", "--log-level", "warning"], env=env),
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "wedsync", "worker", "-P", "threads", "-c", "4", "-Q", ",".join(queues.both(settings.CELERY_TASK_DEFAULT_QUEUE)), "--loglevel", "WARNING"], env=env),
        ]
        try:
            _wait(lambda: _up(f"http://127.0.0.1:{web_port}/healthz"), timeout=30, interval=0.2)
            control = process.control
            control.create_user(harness.MAILBOX, "Bench Supplier")
            supplier = harness.fresh_supplier("bench-latency")
            import datetime as dt

            from django.utils import timezone

            start = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
            event = event_actions.create_event(supplier, event_type="client_meeting", title="Consultation", starts_at=start, ends_at=start + dt.timedelta(hours=1), time_zone="Europe/London")
            integration = harness.connect(process, supplier)
            _wait(lambda: OutlookEventMapping.objects.filter(integration=integration, event=event).exists(), timeout=30, interval=0.1)
            _wait(lambda: OutlookCalendarIntegration.objects.filter(pk=integration.pk, webhook_subscription_id__isnull=False).exists(), timeout=30, interval=0.1)
            outlook_id = OutlookEventMapping.objects.get(integration=integration, event=event).outlook_event_id

            inbound, outbound = [], []
            for i in range(args.samples):
                marker = f"Outlook room {i}"
                started = time.perf_counter()
                control.update_event(harness.MAILBOX, outlook_id, {"location": {"displayName": marker}})
                _wait(lambda: CalendarEvent.objects.filter(pk=event.pk, location=marker).exists())
                inbound.append(time.perf_counter() - started)
                time.sleep(0.3)  # let the echo of our own write settle
                title = f"Consultation v{i}"
                started = time.perf_counter()
                event_actions.update_event(CalendarEvent.objects.get(pk=event.pk), title=title)
                _wait(lambda: control.event(harness.MAILBOX, outlook_id)["subject"].endswith(title))
                outbound.append(time.perf_counter() - started)
                time.sleep(0.3)
            for direction, values in (("outlook_to_wedsync", inbound), ("wedsync_to_outlook", outbound)):
                rows.append({
                    "measure": direction, "samples": len(values), "p50_s": round(statistics.median(values), 3),
                    "p95_s": round(_percentile(values, 95), 3), "max_s": round(max(values), 3),
                })

            integration.refresh_from_db()
            body = json.dumps({"value": [{
                "subscriptionId": integration.webhook_subscription_id, "clientState": integration.webhook_client_state,
                "changeType": "updated", "resource": f"Users/x/Events/{outlook_id}", "resourceData": {"id": outlook_id},
                "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": integration.tenant_id,
            }]})
            url = f"http://127.0.0.1:{web_port}/api/calendar/outlook/webhook"
            local = threading.local()

            def send(_):
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                session = local.session
                t0 = time.perf_counter()
                response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
                return time.perf_counter() - t0, response.status_code

            with harness.Timer() as timer, ThreadPoolExecutor(8) as pool:
                results = list(pool.map(send, range(args.notifications)))
            times = [t for t, _ in results]
            rows.append({
                "measure": "webhook_receiver", "samples": len(times), "p50_s": round(statistics.median(times), 4),
                "p95_s": round(_percentile(times, 95), 4), "max_s": round(max(times), 4),
                "p99_s": round(_percentile(times, 99), 4), "notifications_per_s": round(len(times) / timer.elapsed, 1),
                "status_202": sum(1 for _, code in results if code == 202),
            })
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()
        supplier.delete()
    harness.report("latency", rows)


def _up(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
