"""Bulk push: N WedSync events to Outlook, ours vs a naive client and two real peers, same emulator settings.

    bash scripts/bench.sh bulk_push [--events 1000] [--service-ms 50] [--skip-naive] [--skip-peers]

Ours is a real full-sync run (the Celery task's body): ``$batch`` of 20, one
batch in flight (Outlook runs 4 of its items at once, each counting against the
mailbox's 4 concurrent requests). The naive client sends one blocking POST per
event; python-o365 one ``Event.save()`` per event; msgraph-sdk its batch
support (see ``peers.py``). Each peer writes into a calendar of its own. The
lower bound with Graph's 4 concurrent requests per mailbox is N*S/4.
``load_1min`` is the machine's 1-minute load average when the row started;
``ours_faster_x`` is the row's time over ours.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os

from tests.bench import harness, peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--service-ms", type=int, default=50)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-peers", action="store_true", help="leave out python-o365 and msgraph-sdk")
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
        load = os.getloadavg()[0]
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
            "load_1min": round(load, 2),
        })
        token = integration.__class__.objects.get(pk=integration.pk).get_access_token()
        prefs = mapping.SyncPreferences.from_json(integration.sync_preferences)
        events = list(supplier.calendar_events.all())

        def peer(name: str, push) -> None:
            """Run one peer into a calendar of its own; add its row (same columns as ours)."""
            calendar = control.create_calendar(harness.MAILBOX, name)
            control.reset_stats()
            load = os.getloadavg()[0]
            elapsed, errors = push(calendar["id"])
            peer_stats = control.stats()
            rows.append({
                "client": name, "events": n, "service_ms": args.service_ms, "elapsed_s": round(elapsed, 3),
                "graph_requests": peer_stats["requests"], "batch_items": peer_stats["batch_items"],
                "peak_concurrency": peer_stats["peak_concurrency"].get(harness.MAILBOX, 0),
                "lower_bound_s": round(bound, 3), "ratio_to_bound": round(elapsed / bound, 3),
                "created_in_outlook": len(control.events(harness.MAILBOX, calendar_id=calendar["id"])), "run_status": "n/a", "errors": errors,
                "load_1min": round(load, 2),
            })

        def naive(calendar_id: str) -> tuple[float, int]:
            session = requests.Session()
            session.trust_env = False
            session.verify = process.ca_file
            with session, harness.Timer() as timer:
                for event in events:
                    payload = wire.event_json(mapping.event_fields(engine.event_values(event), prefs))
                    response = session.post(f"{process.graph_url}/me/calendars/{calendar_id}/events", json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                    response.raise_for_status()
            return timer.elapsed, 0

        values = [{"subject": f"{prefs.event_prefix}{e.title}", "start": e.starts_at, "end": e.ends_at, "location": e.location} for e in events]
        if not args.skip_naive:
            peer("naive", naive)
        if not args.skip_peers:
            peer("python-o365", lambda calendar_id: peers.o365_push(process, calendar_id, values))
            peer("msgraph-sdk-batch", lambda calendar_id: peers.msgraph_batch_push(process, token, calendar_id, values))
        for row in rows:
            row["ours_faster_x"] = round(row["elapsed_s"] / rows[0]["elapsed_s"], 2)
        supplier.delete()
    harness.report("bulk_push", rows)


if __name__ == "__main__":
    main()
