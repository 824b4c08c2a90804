"""Incremental sync cost with N mapped events and one change in Outlook: Graph requests, SQL queries, time.

    bash scripts/bench.sh incremental_cost [--events 10000]
"""
from __future__ import annotations

import argparse

from tests.bench import harness, scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of the measured run")
    args = parser.parse_args()
    harness.setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from outlook_sync.models import OutlookEventMapping, OutlookSyncHistory, SyncType
    from outlook_sync.sync import engine, runs

    rows = []
    with harness.emulator() as process:
        control = process.control
        control.create_user(harness.MAILBOX, "Bench Supplier")
        # Set-up pushes N events at once, beyond Graph's real budget of 10,000 requests per 10 minutes per
        # mailbox (batch items count); the measured incremental run afterwards needs no such allowance.
        control.set_config(request_budget=1_000_000)
        supplier = harness.fresh_supplier("bench-incremental")
        integration = harness.connect(process, supplier)
        scale.bulk_wedsync_events(supplier, args.events)
        first = OutlookSyncHistory.objects.filter(integration=integration, sync_type="full_sync").latest("started_at")
        with harness.Timer() as full:
            engine.execute_run(first.pk)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum does shortly after a bulk load; planner statistics
                cursor.execute("ANALYZE wedsync_calendar_events; ANALYZE outlook_event_mappings")
        mapped = OutlookEventMapping.objects.filter(integration=integration).count()
        one = OutlookEventMapping.objects.filter(integration=integration).first()
        control.update_event(harness.MAILBOX, one.outlook_event_id, {"location": {"displayName": "Moved to the Orangery"}})
        control.reset_stats()
        run, _ = runs.open_run(integration, sync_type=SyncType.INCREMENTAL, triggered_by="benchmark")
        with CaptureQueriesContext(connection) as queries, harness.Timer() as timer:
            finished = engine.execute_run(run.pk)
        stats = control.stats()
        one.event.refresh_from_db()
        rows.append({
            "mapped_events": mapped, "initial_full_sync_s": round(full.elapsed, 2), "incremental_s": round(timer.elapsed, 3),
            "graph_requests": stats["requests"], "sql_queries": len(queries), "updated": finished.events_updated,
            "change_applied": one.event.location == "Moved to the Orangery", "run_status": finished.sync_status,
        })
        if args.show_queries:
            for query in queries.captured_queries:
                print(query["time"], query["sql"][:300] if float(query["time"]) < 0.5 else query["sql"])
        supplier.delete()
    harness.report("incremental_cost", rows)


if __name__ == "__main__":
    main()
