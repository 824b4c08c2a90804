"""Initial import of N Outlook events (the supplier's own: read as busy time): time and peak memory.

    bash scripts/bench.sh import_memory [--sizes 1000,5000,10000]

Memory is the peak of Python allocations (tracemalloc) during the run; delta
pages are processed one at a time, so it should stay flat as N grows.
"""
from __future__ import annotations

import argparse
import tracemalloc

from tests.bench import harness, scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,10000")
    args = parser.parse_args()
    harness.setup_django()
    from outlook_sync.models import OutlookBusyTime, OutlookSyncHistory
    from outlook_sync.sync import engine

    rows = []
    with harness.emulator() as process:
        control = process.control
        for n in [int(x) for x in args.sizes.split(",")]:
            email = f"import-{n}@contoso-weddings.example"
            control.create_user(email, f"Import {n}")
            scale.bulk_outlook_events(control, email, n)
            supplier = harness.fresh_supplier(f"bench-import-{n}")
            integration = harness.connect(process, supplier, email)
            run = OutlookSyncHistory.objects.filter(integration=integration, sync_type="full_sync").latest("started_at")
            control.reset_stats()
            tracemalloc.start()
            with harness.Timer() as timer:
                finished = engine.execute_run(run.pk)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            stats = control.stats()
            rows.append({
                "outlook_events": n, "elapsed_s": round(timer.elapsed, 3), "events_per_s": round(n / timer.elapsed, 1),
                "peak_python_mb": round(peak / 2**20, 2), "graph_requests": stats["requests"],
                "busy_times_stored": OutlookBusyTime.objects.filter(integration=integration).count(), "run_status": finished.sync_status,
            })
            supplier.delete()
    harness.report("import_memory", rows)


if __name__ == "__main__":
    main()
