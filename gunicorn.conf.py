"""gunicorn settings for WedSync (read from the working directory; docker-compose and the Dockerfile pass it).

The access log leaves out query strings and the Referer header: the OAuth
callback carries ``code`` and ``state`` in its query, and pages after it would
carry them in their Referer.
"""
accesslog = "-"
#: host, time, method, path without query (%(U)s), protocol, status, bytes, user agent, duration in ms.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s "%(a)s" %(M)sms'

# --- processes and threads (docs/BENCHMARKS.md, "Webhook receiver": how these were chosen) ---
import multiprocessing
import os

#: Worker processes: 2 per core (``WEB_CONCURRENCY`` overrides). Requests are short and mostly wait on
#: PostgreSQL and Redis, so a second process per core keeps the cores busy while the other waits.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
#: Threads per process (``gthread``): a few requests in flight per process without one thread per request
#: spawned on demand; keep-alive connections (Microsoft's notifier reuses them) are kept by the thread pool.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
#: Seconds an idle keep-alive connection stays open (behind a proxy that reuses connections).
keepalive = 5
#: Pending connections the kernel queues while every thread is busy (a burst waits instead of being refused).
backlog = 2048
#: A worker is replaced after this many requests (plus jitter), so memory stays flat over weeks.
max_requests = 10000
max_requests_jitter = 1000
#: The web process keeps its PostgreSQL connections (one per thread) for a minute instead of opening one per
#: request (a connection costs more than a notification's whole insert); an explicit DATABASE_CONN_MAX_AGE wins.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
