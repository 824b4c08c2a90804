"""Bulk push: N WedSync events to Outlook, ours vs a naive sequential client, same emulator settings.

    bash scripts/bench.sh bulk_push [--events 1000] [--service-ms 50]

Ours is a real full-sync run (the Celery task's body): ``$batch`` of 20, four
batches in flight. The naive client sends one blocking POST per event. The
lower bound with Graph's 4 concurrent requests per mailbox is N*S/4.
"""
from __future__ import annotations

import argparse
import datetime as dt

from tests.bench import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--service-ms", type=int, default=50)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    harness.setup_django()

    import requests
    from django.utils import timezone

    from outlook_sync.models import SyncType
    from outlook_sync.graph import wire
    from outlook_sync.sync import engine, mapping, runs
    from wedsync.events import actions as event_actions

    n, service = args.events, args.service_ms / 1000
    rows = []
    with harness.emulator() as process:
        control = process.control
        control.create_user(harness.MAILBOX, "Bench Supplier")
        supplier = harness.fresh_supplier("bench-bulk")
        integration = harness.connect(process, supplier)
        base = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        for i in range(n):
            start = base + dt.timedelta(hours=i % 2000)
            event_actions.create_event(
                supplier, event_type="client_meeting", title=f"Consultation {i}", starts_at=start, ends_at=start + dt.timedelta(hours=1),
                time_zone="Europe/London", location="The Old Barn", source="outlook_sync",
            )
        control.set_config(service_time_ms=args.service_ms)
        control.reset_stats()
        run, _ = runs.open_run(integration, sync_type=SyncType.FULL_SYNC, triggered_by="benchmark")
        with harness.Timer() as timer:
            finished = engine.execute_run(run.pk)
        stats = control.stats()
        created = len(control.events(harness.MAILBOX))
        bound = n * service / 4
        rows.append({
            "client": "wedsync", "events": n, "service_ms": args.service_ms, "elapsed_s": round(timer.elapsed, 3),
            "graph_requests": stats["requests"], "batch_items": stats["batch_items"],
            "peak_concurrency": stats["peak_concurrency"].get(harness.MAILBOX, 0),
            "lower_bound_s": round(bound, 3), "ratio_to_bound": round(timer.elapsed / bound, 3),
            "created_in_outlook": created, "run_status": finished.sync_status, "errors": len(finished.sync_errors),
        })
        if not args.skip_naive:
            calendar = control.create_calendar(harness.MAILBOX, "Naive")
            token = integration.__class__.objects.get(pk=integration.pk).get_access_token()
            session = requests.Session()
            session.trust_env = False
            session.verify = process.ca_file
            prefs = mapping.SyncPreferences.from_json(integration.sync_preferences)
            events = list(supplier.calendar_events.all())
            control.reset_stats()
            with harness.Timer() as naive:
                for event in events:
                    payload = wire.event_json(mapping.event_fields(engine.event_values(event), prefs))
                    response = session.post(f"{process.graph_url}/me/calendars/{calendar['id']}/events", json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                    response.raise_for_status()
            naive_stats = control.stats()
            rows.append({
                "client": "naive", "events": n, "service_ms": args.service_ms, "elapsed_s": round(naive.elapsed, 3),
                "graph_requests": naive_stats["requests"], "batch_items": 0,
                "peak_concurrency": naive_stats["peak_concurrency"].get(harness.MAILBOX, 0),
                "lower_bound_s": round(bound, 3), "ratio_to_bound": round(naive.elapsed / bound, 3),
                "created_in_outlook": len(control.events(harness.MAILBOX, calendar_id=calendar["id"])), "run_status": "n/a", "errors": 0,
            })
            rows[0]["speedup_vs_naive"] = round(naive.elapsed / timer.elapsed, 2)
            rows[1]["speedup_vs_naive"] = 1.0
        supplier.delete()
    harness.report("bulk_push", rows)


if __name__ == "__main__":
    main()
