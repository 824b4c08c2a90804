#!/usr/bin/env bash
# Randomized convergence beyond the suite's fixed budget: the hypothesis state machine of
# tests/convergence/machine.py (real planner, engine and emulator) over many random cases.
#
#   bash scripts/convergence.sh --cases 500 [--steps 12] [--seed N] [--chunk 25]
#
# Cases run in chunks of --chunk, each chunk with its own seed (seed, seed+1, ...), so a failure
# names the seed that replays it: CONVERGENCE_SEED=<seed> CONVERGENCE_CASES=<chunk> bash scripts/test.sh
# tests/convergence -p no:randomly --hypothesis-seed=<seed>. Results go to test-artifacts/convergence.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=500; STEPS=12; SEED=$(( $(date +%s) % 100000 )); CHUNK=25
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) CASES=$2; shift 2;; --steps) STEPS=$2; shift 2;; --seed) SEED=$2; shift 2;; --chunk) CHUNK=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
mkdir -p test-artifacts
OUT=test-artifacts/convergence.txt
echo "# convergence: $CASES cases, <= $STEPS steps, seeds from $SEED, chunks of $CHUNK ($(date -u +%FT%TZ))" > "$OUT"
done_cases=0; failures=0; seed=$SEED; started=$(date +%s)
while [ "$done_cases" -lt "$CASES" ]; do
  n=$(( CASES - done_cases < CHUNK ? CASES - done_cases : CHUNK ))
  t0=$(date +%s)
  before=$(wc -l < test-artifacts/convergence-summary.txt 2>/dev/null || echo 0)
  if CONVERGENCE_CASES=$n CONVERGENCE_STEPS=$STEPS CONVERGENCE_SEED=$seed PYTEST_WORKERS=1 \
      bash scripts/test.sh tests/convergence -q -p no:randomly -s --timeout=0 --hypothesis-seed="$seed" > "test-artifacts/convergence-$seed.log" 2>&1; then
    # the test's own line: cases run, mean and max seconds per case
    timing=$(tail -n +"$(( before + 1 ))" test-artifacts/convergence-summary.txt 2>/dev/null | grep '^CONVERGENCE' | tail -1 || true)
    echo "seed $seed: $n cases passed in $(( $(date +%s) - t0 )) s; ${timing#CONVERGENCE }; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
  else
    failures=$(( failures + 1 ))
    echo "seed $seed: FAILED ($n cases) in $(( $(date +%s) - t0 )) s, see test-artifacts/convergence-$seed.log" | tee -a "$OUT"
    grep -m1 -A25 -E "not converged|conflicts left|AssertionError" "test-artifacts/convergence-$seed.log" | sed 's/^/    /' >> "$OUT" || true
  fi
  done_cases=$(( done_cases + n )); seed=$(( seed + 1 ))
done
echo "total: $done_cases cases, $failures failed chunk(s), $(( $(date +%s) - started )) s" | tee -a "$OUT"
[ "$failures" -eq 0 ]
