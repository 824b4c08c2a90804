"""A fleet of suppliers on one deployment: the safety-net sweep, what an idle integration costs, and whether a
supplier's edit still reaches Outlook quickly while the sweep runs.

    bash scripts/bench.sh fleet [--integrations 2000] [--events 3] [--active 0.1] [--edits 20] [--spread SECONDS]

Starts the emulator with ``--integrations`` mailboxes (``--events`` Outlook events each) and, as the README's
"Workers and queues" documents, one Celery worker process per queue (interactive, background) on the benchmark
database and Redis. Every mailbox is connected through the real connect flow (MSAL + the emulator's consent
page) and its first full sync runs on the interactive worker. Then, with ``--active`` of the mailboxes changed in
Outlook, beat's safety-net sweep is started (``safety_net_sync``, spread over ``--spread`` seconds, default
``FAN_OUT_SPREAD_SECONDS`` capped by the 15-minute period) and, while it runs, ``--edits`` WedSync edits of one
supplier are timed until Outlook shows them (edit -> push on the interactive queue -> PATCH).

Prints: the sweep's time until every integration's scheduled run finished (it must fit in
``SAFETY_NET_SYNC_MINUTES``), the Graph requests and SQL queries of one idle integration's sync (measured in this
process after the sweep), p50/p95 of the edit -> Outlook latencies, and the RSS of each process before and after
the sweep.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from tests.bench import harness
from tests.bench.latency import _percentile, _wait
from wedsync import queues


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrations", type=int, default=2000)
    parser.add_argument("--events", type=int, default=3, help="Outlook events per mailbox")
    parser.add_argument("--active", type=float, default=0.1, help="share of mailboxes with an Outlook change before the sweep")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--spread", type=float, default=None, help="seconds the sweep is spread over (default: FAN_OUT_SPREAD_SECONDS, at most the period)")
    parser.add_argument("--concurrency", type=int, default=8, help="threads of each worker process")
    args = parser.parse_args()
    harness.setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from outlook_sync import tasks
    from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
    from wedsync.events import actions as event_actions
    from wedsync.events.models import CalendarEvent

    period = settings.SAFETY_NET_SYNC_MINUTES * 60
    spread = args.spread if args.spread is not None else min(period, settings.FAN_OUT_SPREAD_SECONDS)
    settings.FAN_OUT_SPREAD_SECONDS = spread
    settings.FAN_OUT_MAX_GAP_SECONDS = max(settings.FAN_OUT_MAX_GAP_SECONDS, spread)  # fill the spread whatever the fleet size
    settings.SAFETY_NET_SKIP_RECENT_SECONDS = 0  # every integration just synced (set-up): sweep them all anyway
    settings.WEBHOOK_PUBLIC_BASE_URL = ""  # no subscriptions: only the sweep and the pushes talk to Graph
    prefix = "bench-fleet"
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith=f"{prefix}-").delete()
    rows = []
    with harness.emulator() as process:
        control = process.control
        control.set_config(request_budget=1_000_000)
        mailboxes = [f"{prefix}-{n}@contoso-weddings.example" for n in range(args.integrations)]
        start = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)

        def mailbox_with_events(n: int) -> None:
            control.create_user(mailboxes[n], f"Fleet Supplier {n}")
            for k in range(args.events):
                when = start + dt.timedelta(days=k, hours=n % 8)
                control.create_event(mailboxes[n], {"subject": f"Viewing {k}", "showAs": "busy",
                                                    "start": {"dateTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                                                    "end": {"dateTime": (when + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})

        with harness.Timer() as seeding, ThreadPoolExecutor(8) as pool:
            list(pool.map(mailbox_with_events, range(args.integrations)))

        env = {
            **os.environ, "MICROSOFT_CLIENT_ID": harness.CLIENT_ID, "MICROSOFT_CLIENT_SECRET": harness.CLIENT_SECRET,
            "MICROSOFT_AUTHORITY": settings.MICROSOFT_AUTHORITY, "MICROSOFT_REDIRECT_URI": harness.REDIRECT_URI,
            "GRAPH_BASE_URL": settings.GRAPH_BASE_URL, "GRAPH_CA_BUNDLE": settings.GRAPH_CA_BUNDLE, "WEBHOOK_PUBLIC_BASE_URL": "",
            "SAFETY_NET_SKIP_RECENT_SECONDS": "0",
        }
        base = settings.CELERY_TASK_DEFAULT_QUEUE
        log_dir = harness_log_dir()
        workers = {
            name: subprocess.Popen([sys.executable, "-m", "celery", "-A", "wedsync", "worker", "-Q", queue, "-P", "threads", "-c", str(args.concurrency),
                                    "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                                   env=env, stdout=open(log_dir / f"fleet-{name}.log", "wb"), stderr=subprocess.STDOUT)
            for name, queue in (("interactive", queues.interactive(base)), ("background", queues.background(base)))
        }
        try:
            def connected(n: int):
                from django.db import connection as thread_connection

                try:
                    supplier = harness.fresh_supplier(f"{prefix}-{n}")
                    harness.connect(process, supplier, mailboxes[n])
                    return supplier
                finally:
                    thread_connection.close()  # this pool thread's own connection

            with harness.Timer() as connecting:
                with ThreadPoolExecutor(4) as pool:  # 4 suppliers connecting at once (each: MSAL, consent, token exchange)
                    suppliers = list(pool.map(connected, range(args.integrations)))
                integrations = list(OutlookCalendarIntegration.objects.filter(user__in=suppliers))
                _wait(lambda: not OutlookSyncHistory.objects.filter(integration__in=integrations, sync_status="in_progress").exists(),
                      timeout=3600, interval=1.0)

            # The supplier whose edits are timed: one WedSync event, pushed and mapped.
            edited_supplier = suppliers[0]
            event = event_actions.create_event(edited_supplier, event_type="client_meeting", title="Consultation", starts_at=start,
                                               ends_at=start + dt.timedelta(hours=1), time_zone="Europe/London")
            _wait(lambda: OutlookEventMapping.objects.filter(event=event).exists(), timeout=120, interval=0.1)
            outlook_id = OutlookEventMapping.objects.get(event=event).outlook_event_id

            active = mailboxes[1:1 + int(args.active * args.integrations)]
            for mailbox in active:
                first = control.events(mailbox)[0]
                control.update_event(mailbox, first["id"], {"location": {"displayName": "Moved to the Orangery"}})

            pids = {"interactive_worker": workers["interactive"].pid, "background_worker": workers["background"].pid,
                    "emulator": process.process.pid, "bench": os.getpid()}
            rss_before = {name: _rss_mb(pid) for name, pid in pids.items()}
            control.reset_stats()
            swept_since = timezone.now()
            with harness.Timer() as sweeping:
                sent = tasks.safety_net_sync.apply().get()
                latencies = []
                for i in range(args.edits):
                    title = f"Consultation v{i}"
                    started = time.perf_counter()
                    event_actions.update_event(CalendarEvent.objects.get(pk=event.pk), title=title)
                    _wait(lambda: control.event(mailboxes[0], outlook_id)["subject"].endswith(title), timeout=120, interval=0.02)
                    latencies.append(time.perf_counter() - started)
                    time.sleep(max(0.0, min(spread / max(args.edits, 1), 5.0)))  # edits spread over the sweep
                # Swept: every integration has a run finished since the sweep began (the edited supplier's sweep may have
                # joined one of its pushes), and none is in progress.
                runs_since = OutlookSyncHistory.objects.filter(integration__in=integrations, started_at__gte=swept_since)
                _wait(lambda: runs_since.filter(completed_at__isnull=False).values("integration").distinct().count() >= sent
                      and not runs_since.filter(sync_status="in_progress").exists(), timeout=max(3 * period, 600), interval=1.0)
            stats = control.stats()
            rss_after = {name: _rss_mb(pid) for name, pid in pids.items()}

            # One idle integration's sync, measured here (nothing changed on either side since the sweep).
            idle = integrations[-1]
            control.reset_stats()
            with CaptureQueriesContext(connection) as queries:
                tasks.safety_net_sync_one.apply(args=[str(idle.pk)]).get()
            idle_requests = control.stats()["requests"]
            failed = OutlookSyncHistory.objects.filter(integration__in=integrations, triggered_by="schedule", started_at__gte=swept_since, sync_status="failed").count()
            rows.append({
                "integrations": args.integrations, "events_per_mailbox": args.events, "active": len(active), "spread_s": spread, "period_s": period,
                "sweep_s": round(sweeping.elapsed, 1), "fits_period": sweeping.elapsed < period, "sweep_runs": sent, "sweep_failed_runs": failed,
                "sweep_graph_requests": stats["requests"], "idle_graph_requests": idle_requests, "idle_sql_queries": len(queries),
                "edit_to_outlook_p50_s": round(statistics.median(latencies), 3), "edit_to_outlook_p95_s": round(_percentile(latencies, 95), 3),
                "edits": len(latencies), "rss_mb_before": rss_before, "rss_mb_after": rss_after,
                "setup_seed_s": round(seeding.elapsed, 1), "setup_connect_s": round(connecting.elapsed, 1), "loadavg_1m": round(os.getloadavg()[0], 2),
            })
        finally:
            for child in workers.values():
                child.send_signal(signal.SIGTERM)
            for child in workers.values():
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
            get_user_model().objects.filter(username__startswith=f"{prefix}-").delete()
    harness.report("fleet", rows)


def harness_log_dir():
    from pathlib import Path

    path = Path(os.environ.get("WEDSYNC_VAR_DIR", ".")) / "bench-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
