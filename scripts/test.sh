#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds once, starts a private local
# stack (its own ports and state directory, so a running demo is left alone), runs every tier, stops the
# stack, and ends with one line "N passed, N failed" (", N skipped" when some were).
# Exit status is non-zero if anything failed.
#
# Counts come from the runners' own JUnit XML reports (scripts/count-results.py), one directory of reports
# per tier in $PATHLIGHT_LOGS/junit/. A tier that fails without a report, or whose reports show no failure,
# counts as one failure.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"

use_private_stack test 2
REPORTS="$PATHLIGHT_LOGS/junit"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"

passed=0 failed=0 skipped=0 broken=()

# Runs one tier with TIER_REPORTS set to its own report directory, streams its output (also kept in
# $PATHLIGHT_LOGS/tier-NAME.log), and adds up the reports it wrote.
tier() { # name command...
  local name=$1; shift
  local dir="$REPORTS/$name" out="$PATHLIGHT_LOGS/tier-$name.log"
  mkdir -p "$dir"
  log "tier $name: $*"
  TIER_REPORTS="$dir" "$@" 2>&1 | tee "$out"
  local status=${PIPESTATUS[0]} p=0 f=0 s=0 reports=()
  mapfile -t reports < <(find "$dir" -name '*.xml' | sort)
  if ((${#reports[@]})); then
    read -r p f s < <(python3 scripts/count-results.py "${reports[@]}")
  fi
  if ((status != 0 && f == 0)); then f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  ((status == 0)) || broken+=("$name")
  log "tier $name: $p passed, $f failed, $s skipped (exit $status)"
}

# A check without a test reporter of its own (a formatter, a linter, a script) as one JUnit test case,
# passed or failed by its exit status.
check() { # name command...
  local name=$1; shift
  "$@"
  local status=$? failure=""
  ((status == 0)) || failure="<failure message=\"exit status $status\"/>"
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="%s" tests="1"><testcase classname="check" name="%s">%s</testcase></testsuite>\n' \
    "$name" "$name" "$failure" >"$TIER_REPORTS/$name.xml"
  return "$status"
}

lint() {
  local status=0
  check rustfmt cargo fmt --all --check || status=1
  check clippy cargo clippy --workspace --all-targets --locked -- -D warnings || status=1
  check clippy-wasm32 cargo clippy -p edge-worker --target wasm32-unknown-unknown --locked -- -D warnings || status=1
  return "$status"
}

rust_tests() {
  local status=0
  if cargo nextest --version >/dev/null 2>&1; then
    local junit="$PATHLIGHT_ROOT/target/nextest/ci/junit.xml" # .config/nextest.toml, profile ci
    rm -f "$junit"
    cargo nextest run --workspace --locked --profile ci || status=1
    if [ -f "$junit" ]; then cp "$junit" "$TIER_REPORTS/nextest.xml"; fi
  else
    log "cargo-nextest is not installed: the Rust tests count as one check (cargo install cargo-nextest --locked)"
    check cargo-test cargo test --workspace --locked --no-fail-fast || status=1
  fi
  # nextest does not run doctests, and cargo's doctest runner has no stable machine-readable output.
  check doctests cargo test --doc --workspace --locked || status=1
  return "$status"
}

node_tests() { # report-name test-path...
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=junit --test-reporter-destination="$TIER_REPORTS/$1.xml" "${@:2}"
}

tracker_tests() {
  cd tracker-js || return 1
  # Older checkouts keep tracker-js's own node_modules; newer ones use the cached tool tree.
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error || return 1; fi
  local status=0
  check snippet-size npm run -s size || status=1
  # `npm test` is package.json's definition of the snippet's tests; the reporters go in by NODE_OPTIONS.
  NODE_OPTIONS="--test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination=$TIER_REPORTS/tracker.xml" \
    npm test || status=1
  return "$status"
}

sql_tests() {
  python3 -m pytest tests/sql --junitxml="$TIER_REPORTS/pytest.xml"
}

# The dashboards' and the alert's SQL, expanded as Grafana's ClickHouse plugin does, in chDB and on the stack's
# ClickHouse 18.16 (CLICKHOUSE_URL); the provisioning and compose files, statically.
grafana_tests() {
  # The stack's gateway is scraped too, so the pipeline-health panels are held to what a running gateway serves.
  GATEWAY_METRICS_URL="http://127.0.0.1:$GATEWAY_PORT/metrics" \
    python3 -m pytest tests/grafana --junitxml="$TIER_REPORTS/pytest-grafana.xml"
}

bash scripts/install.sh || die "installing tools failed"
cargo build --workspace --all-targets --locked || die "cargo build failed"
bash scripts/build-worker.sh || die "building the worker failed"

# A clean stack every run: no topic, table or row left over from an earlier run can make a test pass.
bash scripts/stack.sh down --purge >/dev/null 2>&1 || true
bash scripts/stack.sh up || { bash scripts/stack.sh logs || true; die "the local stack did not start"; }
trap 'bash scripts/stack.sh down >/dev/null 2>&1' EXIT

tier lint lint
tier rust rust_tests
tier tracker tracker_tests
tier chdb sql_tests
tier grafana grafana_tests
tier worker node_tests worker tests/worker/
tier browser-tracker node_tests browser-tracker tests/browser-tracker/
tier browser-recorder node_tests browser-recorder tests/browser-recorder/
tier browser-replay node_tests browser-replay tests/browser-replay/
tier browser-dashboard node_tests browser-dashboard tests/browser-dashboard/
tier replay-bundle node_tests replay-bundle ingest-gateway/assets/test/
tier e2e node_tests e2e tests/e2e/
tier bundle check bundle bash scripts/check-bundle.sh
# Last: the outage tests stop and restart the stack's components while load flows.
tier faults node_tests faults tests/faults/

echo
((${#broken[@]})) && log "failed tiers: ${broken[*]} (logs and JUnit reports in $PATHLIGHT_LOGS)"
summary="$passed passed, $failed failed"
((skipped == 0)) || summary+=", $skipped skipped"
echo "$summary"
((failed == 0 && ${#broken[@]} == 0))
