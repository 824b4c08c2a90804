#!/usr/bin/env bash
# Mutation check of the sync core (not part of the suite; run it by hand or nightly):
#
#   bash scripts/mutation.sh                 # mutate outlook_sync/sync/{plan,merge,mapping,engine}.py, kill with tests/unit
#   MUTATION_TESTS="tests/unit tests/integration/test_outlook_sync.py" bash scripts/mutation.sh   # more tests (needs the
#                                            # services, like scripts/test.sh; much slower)
#   MUTATION_FILES="outlook_sync/sync/merge.py" bash scripts/mutation.sh                          # fewer files
#
# mutmut (pinned in requirements-dev.txt) works on a copy of the tracked files in
# var/mutation/ (your checkout is never modified). Files of the list that do not
# exist yet are skipped and named. At the end it prints every surviving mutant
# (`mutmut results`) and writes them, with `mutmut show` diffs, to
# test-artifacts/mutation-survivors.txt. Mutants in code no selected test runs
# are reported as "no tests", not as killed.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements-dev.txt

FILES="${MUTATION_FILES:-outlook_sync/sync/plan.py outlook_sync/sync/merge.py outlook_sync/sync/mapping.py outlook_sync/sync/engine.py}"
TESTS="${MUTATION_TESTS:-tests/unit}"
present=(); missing=()
for f in $FILES; do if [ -f "$f" ]; then present+=("$f"); else missing+=("$f"); fi; done
[ "${#missing[@]}" -eq 0 ] || echo "not there (skipped): ${missing[*]}"
[ "${#present[@]}" -gt 0 ] || { echo "nothing to mutate" >&2; exit 1; }

WORK="$ROOT/var/mutation"
rm -rf "$WORK"; mkdir -p "$WORK" "$ROOT/test-artifacts"
git ls-files -z | xargs -0 -I{} cp --parents {} "$WORK"/ 2>/dev/null || true
for f in "${present[@]}"; do cp "$f" "$WORK/$f"; done  # the working-tree version, committed or not
cd "$WORK"
{
  echo "[mutmut]"
  echo "source_paths = outlook_sync"
  echo "only_mutate ="; for f in "${present[@]}"; do echo "    $f"; done
  echo "also_copy ="; for p in wedsync calendar_ui graph_emulator templates static tests manage.py pytest.ini; do [ -e "$p" ] && echo "    $p"; done
  echo "pytest_add_cli_args_test_selection ="; for t in $TESTS; do echo "    $t"; done
  echo "pytest_add_cli_args ="; echo "    -p"; echo "    no:xdist"; echo "    -p"; echo "    no:cacheprovider"; echo "    -q"
} > setup.cfg

export DJANGO_SETTINGS_MODULE=wedsync.settings DJANGO_DEBUG=0 CI=1
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-mutation-only-secret-key-not-for-production-0123456789}"
export TOKEN_ENCRYPTION_KEYS="${TOKEN_ENCRYPTION_KEYS:-$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export WEDSYNC_VAR_DIR="$WORK/var"; mkdir -p "$WEDSYNC_VAR_DIR"

started=$(date +%s)
"$ROOT/.venv/bin/python" -m mutmut run --max-children "${MUTATION_JOBS:-2}" > "$ROOT/test-artifacts/mutation-run.log" 2>&1 || true
tail -c 300 "$ROOT/test-artifacts/mutation-run.log" | tr '\r' '\n' | tail -2
echo "mutmut ran $(( $(date +%s) - started )) s over: ${present[*]} with tests: $TESTS"
"$ROOT/.venv/bin/python" -m mutmut results --all true > "$ROOT/test-artifacts/mutation-results.txt" 2>&1 || "$ROOT/.venv/bin/python" -m mutmut results > "$ROOT/test-artifacts/mutation-results.txt" 2>&1 || true
{
  echo "# surviving mutants ($(date -u +%FT%TZ)): ${present[*]} / tests: $TESTS"
  grep -E ": survived$" "$ROOT/test-artifacts/mutation-results.txt" | while read -r line; do
    name="${line%%:*}"; name="${name// /}"; echo; echo "## $line"; "$ROOT/.venv/bin/python" -m mutmut show "$name" 2>/dev/null || true
  done
} > "$ROOT/test-artifacts/mutation-survivors.txt"
echo "status counts:"; sed -E 's/.*: //' "$ROOT/test-artifacts/mutation-results.txt" | sort | uniq -c
echo "survivors (with diffs) in test-artifacts/mutation-survivors.txt"
