#!/usr/bin/env bash
# Mutation check of the sync core (not part of the suite; run it by hand or nightly):
#
#   bash scripts/mutation.sh      # mutate outlook_sync/sync/{plan,merge,mapping}.py, kill with tests/unit (~11 min, 1 child)
#   MUTATION_FILES="outlook_sync/sync/merge.py" bash scripts/mutation.sh                          # fewer files
#   bash scripts/mutation.sh --engine                                                               # engine.py (see below)
#
# Settings (environment):
#   MUTATION_FILES    files to mutate (default: plan.py merge.py mapping.py of outlook_sync/sync)
#   MUTATION_TESTS    pytest selection that must kill them (default: tests/unit)
#   MUTATION_MUTANTS  mutant names or globs to run (default: all), e.g.
#                     'outlook_sync.sync.engine.xǁSyncEngineǁstate_of__mutmut_*'
#   MUTATION_JOBS     mutmut's --max-children: test processes at once (default 1: the machine is shared)
#
# The engine (--engine): sync/engine.py only runs inside a sync run, and no unit
# test starts one. mutmut picks the tests of a mutant from the functions each test
# called *in the pytest process*, so the selection must drive the engine there:
# the integration tests whose `celery_worker` fixture is a threaded worker in the
# pytest process (tests/conftest.py; the tasks run in its threads, which mutmut
# sees), against the emulator over HTTP, PostgreSQL and Redis. A worker in another
# process (tests/faults' destructive tests start some) is invisible to mutmut:
# its mutants would be "no tests", never "killed". --engine therefore defaults to
#   MUTATION_FILES=outlook_sync/sync/engine.py
#   MUTATION_TESTS="tests/integration/test_no_data_lost.py tests/integration/test_outlook_sync.py"
#   MUTATION_MUTANTS=<the functions between the database and the planner: state_of, wedsync_of,
#                     settings_for, outlook_side, settle, execute>
# and needs PostgreSQL and Redis running (as for scripts/test.sh). Each engine mutant
# runs the integration tests that reach its function (stopping at the first failure),
# about 1-2 minutes each on the shared 2 cores, so the whole file (~900 mutants) is a
# night's run: set MUTATION_MUTANTS='outlook_sync.sync.engine.*' for it.
#
# mutmut (pinned in requirements-dev.txt) works on a copy of the tracked files in
# var/mutation/ (your checkout is never modified). Files of the list that do not
# exist yet are skipped and named. At the end it prints the status counts, writes
# every result to test-artifacts/mutation-results.txt and every surviving mutant
# with its diff to test-artifacts/mutation-survivors.txt. Mutants in code no
# selected test runs are reported as "no tests", not as killed.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements-dev.txt

if [ "${1:-}" = "--engine" ]; then
  MUTATION_FILES="${MUTATION_FILES:-outlook_sync/sync/engine.py}"
  MUTATION_TESTS="${MUTATION_TESTS:-tests/integration/test_no_data_lost.py}"
  e="outlook_sync.sync.engine.xǁSyncEngineǁ"
  MUTATION_MUTANTS="${MUTATION_MUTANTS-${e}state_of__mutmut_* ${e}wedsync_of__mutmut_* ${e}settings_for__mutmut_* ${e}outlook_side__mutmut_* ${e}settle__mutmut_*}"
fi
FILES="${MUTATION_FILES:-outlook_sync/sync/plan.py outlook_sync/sync/merge.py outlook_sync/sync/mapping.py}"
TESTS="${MUTATION_TESTS:-tests/unit}"
MUTANTS="${MUTATION_MUTANTS:-}"
present=(); missing=()
for f in $FILES; do if [ -f "$f" ]; then present+=("$f"); else missing+=("$f"); fi; done
[ "${#missing[@]}" -eq 0 ] || echo "not there (skipped): ${missing[*]}"
[ "${#present[@]}" -gt 0 ] || { echo "nothing to mutate" >&2; exit 1; }

WORK="$ROOT/var/mutation"
rm -rf "$WORK"; mkdir -p "$WORK" "$ROOT/test-artifacts"
git ls-files -z | xargs -0 -I{} cp --parents {} "$WORK"/ 2>/dev/null || true
for f in "${present[@]}"; do cp "$f" "$WORK/$f"; done  # the working-tree version, committed or not
cd "$WORK"

export DJANGO_SETTINGS_MODULE=wedsync.settings DJANGO_DEBUG=0 CI=1 DJANGO_SECURE_COOKIES=0
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-mutation-only-secret-key-not-for-production-0123456789}"
export TOKEN_ENCRYPTION_KEYS="${TOKEN_ENCRYPTION_KEYS:-$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export WEDSYNC_VAR_DIR="$WORK/var"; mkdir -p "$WEDSYNC_VAR_DIR"
pytest_extra=()
if [ "$TESTS" != "tests/unit" ]; then
  # Tests beyond the pure ones use PostgreSQL and Redis, under names of this run only (as scripts/test.sh does).
  pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null \
    || { echo "PostgreSQL and Redis must be running (bash scripts/test.sh starts them)" >&2; exit 1; }
  RUN_ID="mut$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  export WEDSYNC_TEST_RUN_ID="$RUN_ID" REDIS_KEY_PREFIX="wedsync-test-$RUN_ID"
  export DATABASE_URL="${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}_$RUN_ID"
  export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/1}" CACHE_URL="${TEST_CACHE_URL:-redis://127.0.0.1:6379/2}"
  cleanup() {
    for url in "$CELERY_BROKER_URL" "$CACHE_URL"; do
      redis-cli -u "$url" --scan --pattern "${REDIS_KEY_PREFIX}:*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$url" del >/dev/null 2>&1 || true
    done
    psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists \"test_${DATABASE_URL##*/}\" with (force)" >/dev/null 2>&1 || true
  }
  trap cleanup EXIT
  "$PY" manage.py collectstatic --noinput -v 0  # the pages' static files, into this copy's var dir
  # One test database for every mutant (migrated once); -x: a mutant is killed at its first failing test.
  pytest_extra=(--reuse-db -x)
fi
{
  echo "[mutmut]"
  echo "source_paths = outlook_sync"
  echo "only_mutate ="; for f in "${present[@]}"; do echo "    $f"; done
  echo "also_copy ="; for p in wedsync calendar_ui graph_emulator templates static tests manage.py pytest.ini; do [ -e "$p" ] && echo "    $p"; done
  echo "pytest_add_cli_args_test_selection ="; for t in $TESTS; do echo "    $t"; done
  echo "pytest_add_cli_args ="; for a in -p no:xdist -p no:cacheprovider -q "${pytest_extra[@]}"; do echo "    $a"; done
} > setup.cfg

started=$(date +%s)
# shellcheck disable=SC2086  # MUTANTS is a list of names/globs
"$ROOT/.venv/bin/python" -m mutmut run --max-children "${MUTATION_JOBS:-1}" $MUTANTS > "$ROOT/test-artifacts/mutation-run.log" 2>&1 || true
tail -c 300 "$ROOT/test-artifacts/mutation-run.log" | tr '\r' '\n' | tail -2
echo "mutmut ran $(( $(date +%s) - started )) s over: ${present[*]} with tests: $TESTS${MUTANTS:+ (mutants: $MUTANTS)}"
"$ROOT/.venv/bin/python" -m mutmut results --all true > "$ROOT/test-artifacts/mutation-results.txt" 2>&1 || true
# Survivors with their diffs, in one process (one `mutmut show` each takes a second).
"$ROOT/.venv/bin/python" - "$ROOT/test-artifacts/mutation-results.txt" "${present[*]} / tests: $TESTS" > "$ROOT/test-artifacts/mutation-survivors.txt" <<'EOF'
import datetime, sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
print(f"# surviving mutants ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}): {sys.argv[2]}")
for line in open(sys.argv[1], encoding="utf-8"):
    name, _, status = line.strip().rpartition(": ")
    if status == "survived":
        print(f"\n## {name}: survived")
        print(get_diff_for_mutant(name, path=find_mutant(name).path))
EOF
echo "status counts (file: status):"
sed -nE 's/^ *outlook_sync\.sync\.([a-z_]+)\..*: (.*)$/\1.py: \2/p' "$ROOT/test-artifacts/mutation-results.txt" | sort | uniq -c
echo "survivors (with diffs) in test-artifacts/mutation-survivors.txt"
