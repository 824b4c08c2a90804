"""Webhook receiver under load: valid change notifications per second, response times, nothing lost.

    bash scripts/bench.sh receiver_load [--notifications 10000] [--integrations 50] [--concurrency 16] [--per-post 1]

Starts gunicorn exactly as deployed (``gunicorn -c gunicorn.conf.py wedsync.wsgi``; its settings are printed)
on the benchmark database, creates ``--integrations`` subscribed integrations, and POSTs valid notifications
(Graph's body, the right ``clientState``) round-robin over them from ``--concurrency`` keep-alive
connections (an asyncio client with no dependency, light enough to leave the cores to gunicorn). No worker
consumes the queue: after each integration's first notification a run waits, which is the receiver's
common case under load (store only; README, "Webhook receiver"). Reports notifications/s, p50/p95/p99 and
max response time, how many were answered 202, and how many are missing from the database (lost).
"""
from __future__ import annotations

import argparse
import datetime as dt
import asyncio
import json
import os
import runpy
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.bench import harness
from tests.bench.latency import _free_port, _percentile, _up, _wait

ROOT = Path(__file__).resolve().parents[2]
#: What the bench prints of gunicorn.conf.py.
GUNICORN_KEYS = ("workers", "worker_class", "threads", "keepalive", "backlog", "max_requests", "accesslog")


def gunicorn_settings() -> dict:
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {key: config.get(key) for key in GUNICORN_KEYS}


def fleet_integrations(count: int, prefix: str) -> list:
    """``count`` connected, subscribed integrations (database rows; the receiver never calls Graph)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from outlook_sync.models import OutlookCalendarIntegration

    User = get_user_model()
    User.objects.filter(username__startswith=f"{prefix}-").delete()
    users = User.objects.bulk_create([User(username=f"{prefix}-{n}", email=f"{prefix}-{n}@example.com") for n in range(count)])
    rows = []
    for n, user in enumerate(users):
        row = OutlookCalendarIntegration(
            user=user, tenant_id=f"{prefix}-tenant", microsoft_user_id=f"{prefix}-{n}", calendar_id=f"{prefix}-calendar-{n}",
            microsoft_account_email=f"{prefix}-{n}@contoso-weddings.example", webhook_subscription_id=str(uuid.uuid4()),
            webhook_client_state=uuid.uuid4().hex, webhook_expires_at=timezone.now() + dt.timedelta(days=5),
        )
        row.set_tokens(access_token=f"access-{n}", refresh_token=f"refresh-{n}", expires_at=timezone.now() + dt.timedelta(hours=1))
        rows.append(row)
    return OutlookCalendarIntegration.objects.bulk_create(rows)


def notification_body(integration, per_post: int, seq: int) -> bytes:
    return json.dumps({"value": [{
        "subscriptionId": integration.webhook_subscription_id, "clientState": integration.webhook_client_state,
        "changeType": "updated", "resource": f"Users/{integration.microsoft_user_id}/Events/evt-{seq}-{k}",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": f"evt-{seq}-{k}"},
        "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": integration.tenant_id,
    } for k in range(per_post)]}).encode()


async def _post_all(port: int, path: str, bodies: list[bytes], concurrency: int) -> list[tuple[float, int]]:
    """POST every body over ``concurrency`` keep-alive HTTP/1.1 connections; (seconds, status) of each."""
    results: list[tuple[float, int]] = []
    cursor = iter(range(len(bodies)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in cursor:
                body = bodies[i]
                head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode()
                started = time.perf_counter()
                writer.write(head + body)
                status_line = await reader.readline()
                length, closing, chunked = 0, False, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    name, value = name.strip().lower(), value.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value == "close":
                        closing = True
                    elif name == "transfer-encoding" and value == "chunked":
                        chunked = True
                if chunked:
                    while (size := int((await reader.readline()).strip() or b"0", 16)):
                        await reader.readexactly(size + 2)
                    await reader.readline()
                elif length:
                    await reader.readexactly(length)
                results.append((time.perf_counter() - started, int(status_line.split()[1]) if status_line else 0))
                if closing:  # a sync gunicorn worker closes after each answer: reconnect
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=10000)
    parser.add_argument("--integrations", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--per-post", type=int, default=1, help="notifications in one POST (Graph may batch them)")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    harness.setup_django()
    from outlook_sync.models import OutlookNotification, OutlookSyncHistory

    integrations = fleet_integrations(args.integrations, "bench-receiver")
    port = _free_port()
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "WEBHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    log = open(Path(os.environ.get("WEDSYNC_VAR_DIR", ".")) / "receiver_load-gunicorn.log", "wb")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wedsync.wsgi", "-b", f"127.0.0.1:{port}"],
                           cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        _wait(lambda: _up(f"http://127.0.0.1:{port}/healthz"), timeout=60, interval=0.2)
        path = "/api/calendar/outlook/webhook"
        warm = [notification_body(integrations[n % len(integrations)], 1, -n - 1) for n in range(args.warmup)]
        asyncio.run(_post_all(port, path, warm, args.concurrency))
        posts = -(-args.notifications // args.per_post)
        bodies = [notification_body(integrations[n % len(integrations)], args.per_post, n) for n in range(posts)]
        before = OutlookNotification.objects.filter(integration__in=integrations).count()
        load_before = os.getloadavg()
        with harness.Timer() as timer:
            results = asyncio.run(_post_all(port, path, bodies, args.concurrency))
        load_after = os.getloadavg()
        stored = OutlookNotification.objects.filter(integration__in=integrations).count() - before
        times = [t for t, _ in results]
        sent = posts * args.per_post
        rows.append({
            "notifications": sent, "posts": posts, "per_post": args.per_post, "concurrency": args.concurrency, "integrations": args.integrations,
            "notifications_per_s": round(sent / timer.elapsed, 1), "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(_percentile(times, 95) * 1000, 1), "p99_ms": round(_percentile(times, 99) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "status_202": sum(1 for _, code in results if code == 202) * args.per_post,
            "stored": stored, "lost": sent - stored, "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(load_after[0], 2),
            "gunicorn": gunicorn_settings(),
        })
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(20)
        except subprocess.TimeoutExpired:
            web.kill()
        log.close()
        OutlookSyncHistory.objects.filter(integration__in=integrations).delete()
        for integration in integrations:
            integration.user.delete()
    harness.report("receiver_load", rows)


if __name__ == "__main__":
    main()
