#!/usr/bin/env bash
# The README's test command: sets up everything and runs the whole suite
# against the real PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements-dev.txt

# --- services: start them if installed but stopped ---
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "Starting PostgreSQL ..."
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  else
    echo "PostgreSQL is not installed: install it (apt-get install postgresql) and rerun." >&2; exit 1
  fi
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis ..."
  command -v redis-server >/dev/null || { echo "Redis is not installed: apt-get install redis-server" >&2; exit 1; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# --- environment for the tests (overridable) ---
export DJANGO_SETTINGS_MODULE=wedsync.settings
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-test-only-secret-key-not-for-production-0123456789}"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}"
export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/1}"
export CACHE_URL="${TEST_CACHE_URL:-redis://127.0.0.1:6379/2}"
export TOKEN_ENCRYPTION_KEYS="${TOKEN_ENCRYPTION_KEYS:-$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export WEDSYNC_VAR_DIR="${WEDSYNC_VAR_DIR:-$ROOT/var/test}"
export DJANGO_SECURE_COOKIES=0
mkdir -p "$WEDSYNC_VAR_DIR" test-artifacts

"$PY" manage.py makemigrations --check --dry-run >/dev/null || { echo "Model changes without migrations: run makemigrations." >&2; exit 1; }

"$PY" manage.py collectstatic --noinput -v 0

WORKERS="${PYTEST_WORKERS:-2}"
exec "$PY" -m pytest -n "$WORKERS" --dist loadfile "$@"
