#!/usr/bin/env bash
# Benchmarks (not part of the test suite): `bash scripts/bench.sh bulk_push --events 1000 --service-ms 50`.
# Same services and environment as scripts/test.sh, with its own database `wedsync_bench`.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements-dev.txt
NAME="${1:?usage: scripts/bench.sh <bulk_push|fleet|import_memory|incremental_cost|latency|noisy_neighbour|receiver_load> [args]}"
shift
psql -h 127.0.0.1 -U root -d test -tAc "SELECT 1 FROM pg_database WHERE datname='wedsync_bench'" | grep -q 1 \
  || psql -h 127.0.0.1 -U root -d test -c "CREATE DATABASE wedsync_bench" >/dev/null
export DJANGO_SETTINGS_MODULE=wedsync.settings
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-bench-only-secret-key-not-for-production-0123456789}"
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://root@127.0.0.1:5432/wedsync_bench}"
export CELERY_BROKER_URL="${BENCH_CELERY_BROKER_URL:-redis://127.0.0.1:6379/3}"
export CELERY_TASK_DEFAULT_QUEUE=wedsync-bench
export CACHE_URL="${BENCH_CACHE_URL:-redis://127.0.0.1:6379/4}"
export TOKEN_ENCRYPTION_KEYS="${TOKEN_ENCRYPTION_KEYS:-$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export WEDSYNC_VAR_DIR="${WEDSYNC_VAR_DIR:-$ROOT/var/bench}"
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
mkdir -p "$WEDSYNC_VAR_DIR"
"$PY" -m "tests.bench.$NAME" "$@"
redis-cli -h 127.0.0.1 -p 6379 -n 3 del wedsync-bench wedsync-bench-background >/dev/null 2>&1 || true
