#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds once, starts a private local
# stack (its own ports and state directory, so a running demo is left alone), runs every tier, stops the
# stack, and ends with one line "N passed, N failed". Exit status is non-zero if anything failed.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"

use_private_stack test 2
mkdir -p "$PATHLIGHT_LOGS"

passed=0 failed=0 broken=()

# Runs one tier, streams its output, and adds its counts (read from the runner's own summary) to the total.
# A tier that fails without a parsable count still counts as one failure.
tier() {
  local name=$1; shift
  local out="$PATHLIGHT_LOGS/tier-$name.log"
  log "tier $name: $*"
  "$@" 2>&1 | tee "$out"
  local status=${PIPESTATUS[0]}
  local p f
  read -r p f < <(python3 "$PATHLIGHT_ROOT/scripts/count-results.py" "$out")
  if ((status != 0 && f == 0)); then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  ((status == 0)) || broken+=("$name")
  log "tier $name: $p passed, $f failed (exit $status)"
}

bash scripts/install.sh || die "installing tools failed"
cargo build --workspace --all-targets --locked || die "cargo build failed"
bash scripts/build-worker.sh || die "building the worker failed"

# A clean stack every run: no topic, table or row left over from an earlier run can make a test pass.
bash scripts/stack.sh down --purge >/dev/null 2>&1 || true
bash scripts/stack.sh up || { bash scripts/stack.sh logs || true; die "the local stack did not start"; }
trap 'bash scripts/stack.sh down >/dev/null 2>&1' EXIT

tier lint bash -c 'cargo fmt --all --check && cargo clippy --workspace --all-targets --locked -- -D warnings \
  && cargo clippy -p edge-worker --target wasm32-unknown-unknown --locked -- -D warnings && echo "lint: 1 passed, 0 failed"'
tier rust cargo test --workspace --locked --no-fail-fast
tier tracker bash -c 'cd tracker-js && npm ci --no-audit --no-fund --loglevel=error && npm run -s size && npm test'
tier chdb python3 tests/sql/test_chdb.py
tier worker node --test tests/worker/
tier browser-tracker node --test tests/browser-tracker/
tier e2e node --test tests/e2e/
tier bundle bash scripts/check-bundle.sh

echo
((${#broken[@]})) && log "failed tiers: ${broken[*]} (logs in $PATHLIGHT_LOGS)"
echo "$passed passed, $failed failed"
((failed == 0 && ${#broken[@]} == 0))
