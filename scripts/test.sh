#!/usr/bin/env bash
# The test command: bash scripts/test.sh
#
# Installs what is missing (memcached, libmemcached-tools, npm devDependencies), then runs every
# check, carrying on after failures:
#   static checks (one test each): deno fmt --check, deno lint, deno check, the JSDoc
#     examples (deno test --doc), deno publish --dry-run, scripts/check_layering.ts,
#     scripts/check_docs.ts (every export has JSDoc with an @example)
#   test runners (each test counted): deno test (sanitizers on), bun test
# Full logs go to .tmp/test-logs/. The last line is "N passed, N failed"; the exit status is
# non-zero if anything failed or no test ran.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/_setup.sh
source scripts/_setup.sh
source scripts/_tally.sh

export NO_COLOR=1
unset FORCE_COLOR
LOG_DIR=.tmp/test-logs
mkdir -p "$LOG_DIR"
DENO=node_modules/.bin/deno
BUN=node_modules/.bin/bun

passed=0
failed=0
runner_tests=0
failures=()

record() { # record NAME PASSED FAILED
  passed=$((passed + $2))
  failed=$((failed + $3))
  if [ "$3" -gt 0 ]; then failures+=("$1 ($3 failed)"); fi
}


# run_logged NAME CMD... : runs CMD, tees output to $LOG_DIR/NAME.log, returns CMD's status.
run_logged() {
  local name=$1
  shift
  echo
  echo "==> $name: $*"
  "$@" 2>&1 | tee "$LOG_DIR/$name.log"
  return "${PIPESTATUS[0]}"
}

# static NAME CMD... : one test that passes when CMD exits 0.
static() {
  local name=$1
  if run_logged "$@"; then
    record "$name" 1 0
  else
    record "$name" 0 1
  fi
}

if ! run_logged setup mica_setup; then
  echo "setup failed; see $LOG_DIR/setup.log" >&2
  echo
  echo "0 passed, 1 failed"
  exit 1
fi

static fmt "$DENO" fmt --check
static lint "$DENO" lint

check_targets=()
for target in mod.ts src tests bench examples scripts; do
  if [ -e "$target" ]; then check_targets+=("$target"); fi
done
static check "$DENO" check "${check_targets[@]}"
static doc "$DENO" test --doc mod.ts src/
static publish "$DENO" publish --dry-run --allow-dirty
static layering "$DENO" run --allow-read scripts/check_layering.ts
static docs "$DENO" run --allow-read --allow-run scripts/check_docs.ts

# tally NAME STATUS PASSED FAILED: records a runner's counts as mica_judge counts them.
tally() {
  local p f
  read -r p f < <(mica_judge "$@")
  record "$1" "$p" "$f"
  tallied=$p
}

# Deno: the closing line is "ok | 12 passed (3 steps) | 0 failed (2s)" or "FAILED | ...".
run_logged deno-test "$DENO" test --sanitize-ops --sanitize-resources --allow-all tests/
status=$?
summary=$(strip_ansi <"$LOG_DIR/deno-test.log" | grep -E '^(ok|FAILED) \| ' | tail -n 1)
tally deno-test "$status" "$(sed -nE 's/.*[|] ([0-9]+) passed.*/\1/p' <<<"$summary")" \
  "$(sed -nE 's/.*[|] ([0-9]+) failed.*/\1/p' <<<"$summary")"
runner_tests=$((runner_tests + tallied))

# Bun: the closing lines are " 12 pass" and " 0 fail".
run_logged bun-test "$BUN" test
status=$?
log=$(strip_ansi <"$LOG_DIR/bun-test.log")
tally bun-test "$status" "$(sed -nE 's/^ *([0-9]+) pass$/\1/p' <<<"$log" | tail -n 1)" \
  "$(sed -nE 's/^ *([0-9]+) fail$/\1/p' <<<"$log" | tail -n 1)"
runner_tests=$((runner_tests + tallied))

# The official Keyv store suite, under Bun (sources) and Node (the built package); its last line
# is "keyv suite: N passed, M failed".
run_logged keyv-suite bash scripts/keyv_suite.sh
status=$?
summary=$(strip_ansi <"$LOG_DIR/keyv-suite.log" | grep -E '^keyv suite: ' | tail -n 1)
tally keyv-suite "$status" "$(sed -nE 's/^keyv suite: ([0-9]+) passed.*/\1/p' <<<"$summary")" \
  "$(sed -nE 's/.* ([0-9]+) failed$/\1/p' <<<"$summary")"

echo
echo "==> summary (logs in $LOG_DIR/)"
if [ "$runner_tests" -eq 0 ]; then
  echo "no test ran under deno test or bun test"
  failures+=("no tests ran")
fi
for failure in "${failures[@]}"; do echo "FAILED: $failure"; done
echo "${passed} passed, ${failed} failed"
if [ "$failed" -gt 0 ] || [ "$runner_tests" -eq 0 ]; then exit 1; fi
exit 0
