#!/usr/bin/env bash
# The README's test command: sets up everything and runs the whole suite
# against the real PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
#
#   bash scripts/test.sh --repeat N [pytest args]   runs the suite N times in a row (a fresh run id each
#                                                    time), stops at the first red run, prints each wall time.
#
# Every run has its own id (TEST_RUN_ID, random unless set). The database name,
# the Redis key prefix (cache, locks, Celery broker), the Celery queue names and
# the var directory are derived from it, so two runs on one machine (two
# checkouts, or one checkout twice) never see each other's data. The TEST_*
# variables choose the servers and base names; the run id is still appended.
set -euo pipefail

if [ "${1:-}" = "--repeat" ]; then
  count="${2:?--repeat needs a number}"
  shift 2
  mkdir -p "$(dirname "$0")/../test-artifacts"
  for i in $(seq "$count"); do
    started=$(date +%s%N)
    status=0
    TEST_RUN_ID="" bash "$0" "$@" || status=$?
    elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
    printf 'repeat %d/%d: exit %d, wall %d.%03d s\n' "$i" "$count" "$status" $((elapsed / 1000)) $((elapsed % 1000)) | tee -a "$(dirname "$0")/../test-artifacts/repeat.log"
    [ "$status" -eq 0 ] || exit "$status"
  done
  exit 0
fi

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

# --- this run's id and the names derived from it ---
RUN_ID="${TEST_RUN_ID:-}"
[ -n "$RUN_ID" ] || RUN_ID="r$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
export WEDSYNC_TEST_RUN_ID="$RUN_ID"
BASE_DATABASE_URL="${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}"
# pytest-django creates test_<name>_gw<N> from this name and drops it at the end.
export DATABASE_URL="${BASE_DATABASE_URL%%\?*}_${RUN_ID}"
[ "$BASE_DATABASE_URL" = "${BASE_DATABASE_URL%%\?*}" ] || DATABASE_URL="${DATABASE_URL}?${BASE_DATABASE_URL#*\?}"
DB_NAME="${BASE_DATABASE_URL%%\?*}"; DB_NAME="${DB_NAME##*/}_${RUN_ID}"
export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/1}"
export CACHE_URL="${TEST_CACHE_URL:-redis://127.0.0.1:6379/2}"
export REDIS_KEY_PREFIX="wedsync-test-${RUN_ID}"
export WEDSYNC_VAR_DIR="${WEDSYNC_VAR_DIR:-$ROOT/var/test/$RUN_ID}"

cleanup() {
  # Whatever this run left behind (a killed run's test databases, Redis keys, var dir); never another run's.
  for url in "$CELERY_BROKER_URL" "$CACHE_URL"; do
    case "$url" in
      redis://*) redis-cli -u "$url" --scan --pattern "${REDIS_KEY_PREFIX}:*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$url" del >/dev/null 2>&1 || true ;;
    esac
  done
  if command -v psql >/dev/null && [[ "$DATABASE_URL" == postgres* ]]; then
    server="${DATABASE_URL%/*}"
    for db in $(psql "$server/postgres" -Atc "select datname from pg_database where datname like 'test\\_${DB_NAME//_/\\_}%'" 2>/dev/null); do
      psql "$server/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
    done
  fi
  case "$WEDSYNC_VAR_DIR" in "$ROOT/var/test/$RUN_ID") rm -rf "$WEDSYNC_VAR_DIR" ;; esac
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- environment for the tests (overridable) ---
export DJANGO_SETTINGS_MODULE=wedsync.settings
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-test-only-secret-key-not-for-production-0123456789}"
export TOKEN_ENCRYPTION_KEYS="${TOKEN_ENCRYPTION_KEYS:-$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export DJANGO_SECURE_COOKIES=0
mkdir -p "$WEDSYNC_VAR_DIR" test-artifacts
echo "test run $RUN_ID: database test_${DB_NAME}_gw*, Redis key prefix ${REDIS_KEY_PREFIX}:, var dir $WEDSYNC_VAR_DIR"

# (against a throw-away SQLite file: this run's PostgreSQL database does not exist until pytest creates it)
DATABASE_URL="sqlite:///$WEDSYNC_VAR_DIR/makemigrations.sqlite3" "$PY" manage.py makemigrations --check --dry-run >/dev/null || { echo "Model changes without migrations: run makemigrations." >&2; exit 1; }

"$PY" manage.py collectstatic --noinput -v 0

WORKERS="${PYTEST_WORKERS:-2}"
"$PY" -m pytest -n "$WORKERS" --dist loadfile "$@"
