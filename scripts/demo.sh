#!/usr/bin/env bash
# The README's demo command: runs WedSync with the Graph emulator and a worker
# on SQLite with a filesystem broker (no services needed), seeds a supplier
# with wedding events this week and next, and prints the URL and logins. Ctrl-C stops all.
# DEMO_PORT (default 8000) and DEMO_EMULATOR_PORT (default 8001) choose the ports; rm -rf var/demo resets it.
# DEMO_FAULT_PROFILE=realistic makes the emulated Microsoft misbehave now and then (503/504, slow answers), as real Graph does.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements.txt

DEMO_DIR="$ROOT/var/demo"
PORT="${DEMO_PORT:-8000}"
EMULATOR_PORT="${DEMO_EMULATOR_PORT:-8001}"
mkdir -p "$DEMO_DIR"
[ -f "$DEMO_DIR/token.key" ] || "$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$DEMO_DIR/token.key"
[ -f "$DEMO_DIR/secret.key" ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DEMO_DIR/secret.key"
[ -f "$DEMO_DIR/client.secret" ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$DEMO_DIR/client.secret"

export DJANGO_SETTINGS_MODULE=wedsync.settings
export DJANGO_DEBUG=1
export DJANGO_SECRET_KEY="$(cat "$DEMO_DIR/secret.key")"
export WEDSYNC_VAR_DIR="$DEMO_DIR"
export DATABASE_URL="sqlite:///$DEMO_DIR/db.sqlite3"
export CELERY_BROKER_URL="filesystem://"
export CACHE_URL="filecache://$DEMO_DIR/cache"
export TOKEN_ENCRYPTION_KEYS="$(cat "$DEMO_DIR/token.key")"
export MICROSOFT_CLIENT_ID="wedsync-demo"
export MICROSOFT_CLIENT_SECRET="$(cat "$DEMO_DIR/client.secret")"
export MICROSOFT_AUTHORITY="https://127.0.0.1:$EMULATOR_PORT/common"
export MICROSOFT_REDIRECT_URI="http://127.0.0.1:$PORT/calendar/outlook/callback/"
export GRAPH_BASE_URL="https://127.0.0.1:$EMULATOR_PORT/v1.0"
export GRAPH_CA_BUNDLE="$DEMO_DIR/emulator-ca.pem"
export WEBHOOK_PUBLIC_BASE_URL="http://127.0.0.1:$PORT"

"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed_demo

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# --allow-insecure-notification-urls: the demo's webhook receiver is plain http on 127.0.0.1; Microsoft (and the
# emulator without this development flag) accepts only https notification URLs.
"$PY" -m graph_emulator --host 127.0.0.1 --port "$EMULATOR_PORT" --tls --ca-file "$GRAPH_CA_BUNDLE" \
  --state-file "$DEMO_DIR/emulator-state.json" --client-id "$MICROSOFT_CLIENT_ID" \
  --client-secret "$MICROSOFT_CLIENT_SECRET" --redirect-uri "$MICROSOFT_REDIRECT_URI" --seed-demo-user \
  --allow-insecure-notification-urls --fault-profile "${DEMO_FAULT_PROFILE:-none}" \
  > "$DEMO_DIR/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 40); do grep -q base_url "$DEMO_DIR/emulator.log" 2>/dev/null && break; sleep 0.25; done
grep -q base_url "$DEMO_DIR/emulator.log" || { echo "The Graph emulator did not start; see $DEMO_DIR/emulator.log" >&2; exit 1; }

# The worker is supervised: if it dies (e.g. the filesystem broker's known JSONDecodeError race), it is
# restarted after 2 s and the exit is written to worker.log, so runs never stay "in progress" unnoticed.
# Without -Q it consumes both queues, interactive and background (CELERY_TASK_QUEUES; README "Workers and queues").
: > "$DEMO_DIR/worker.log"
(
  child=""
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 0' TERM INT
  while true; do
    "$PY" -m celery -A wedsync worker -B --pool threads --concurrency 4 --loglevel INFO \
      --schedule "$DEMO_DIR/celerybeat-schedule" >> "$DEMO_DIR/worker.log" 2>&1 &
    child=$!
    status=0; wait "$child" || status=$?
    echo "$(date -u +%FT%TZ) demo: the worker exited with status $status; restarting it in 2 s" | tee -a "$DEMO_DIR/worker.log" >&2
    sleep 2
  done
) &
PIDS+=($!)

cat <<MSG

  WedSync demo is running
  -----------------------
  App:            http://127.0.0.1:$PORT/
  Supplier login: avery / wedding-demo-2026   (Outlook account in the emulator: planner@contoso-weddings.example)
  "Outlook":      https://127.0.0.1:$EMULATOR_PORT/?user=planner@contoso-weddings.example
                  (the emulator's calendar page; its CA is $GRAPH_CA_BUNDLE, or accept the browser's warning)
  Support admin:  http://127.0.0.1:$PORT/admin/   support / support-demo-2026
  API docs:       http://127.0.0.1:$PORT/api/docs/
  Logs:           $DEMO_DIR/{emulator,worker}.log
  Stop with Ctrl-C.

MSG
"$PY" manage.py runserver "127.0.0.1:$PORT" --noreload
