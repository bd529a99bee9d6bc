#!/usr/bin/env bash
# The official Keyv store suite (@keyv/test-suite) against Mica's Keyv store, under Bun (the
# sources, tests/keyv/suite.bun.ts) and under Node (the compiled package in dist/, run by
# vitest: tests/keyv/suite.node.mjs). Each suite starts and stops its own memcached.
#
#   bash scripts/keyv_suite.sh
#
# Builds dist/ first (scripts/build_npm.sh). Logs go to .tmp/test-logs/keyv-*.log. The last line
# is "keyv suite: N passed, M failed"; the exit status is non-zero if any test failed, a runner
# failed without counting a failure, or no test ran.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# The pinned Node (node_modules/.bin/node, 20.20.2, the oldest supported) runs vitest.
export PATH="$PWD/node_modules/.bin:$PATH"
export NO_COLOR=1
unset FORCE_COLOR
LOG_DIR=.tmp/test-logs
mkdir -p "$LOG_DIR"

passed=0
failed=0

source scripts/_tally.sh

# count NAME STATUS PASSED FAILED: adds a runner's counts, judged by mica_judge.
count() {
  local p f
  read -r p f < <(mica_judge "$@")
  echo "$1: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
}

echo "==> build: bash scripts/build_npm.sh"
if ! bash scripts/build_npm.sh 2>&1 | tee "$LOG_DIR/keyv-build.log"; then
  echo "build failed; the Node suite needs dist/"
  count build 1 0 1
  echo "keyv suite: ${passed} passed, ${failed} failed"
  exit 1
fi

echo
echo "==> bun: node_modules/.bin/bun test ./tests/keyv/suite.bun.ts"
node_modules/.bin/bun test ./tests/keyv/suite.bun.ts 2>&1 | tee "$LOG_DIR/keyv-bun.log"
status=${PIPESTATUS[0]}
log=$(strip_ansi <"$LOG_DIR/keyv-bun.log")
count bun "$status" \
  "$(sed -nE 's/^ *([0-9]+) pass$/\1/p' <<<"$log" | tail -n 1)" \
  "$(sed -nE 's/^ *([0-9]+) fail$/\1/p' <<<"$log" | tail -n 1)"

echo
echo "==> node: node_modules/.bin/vitest run --root tests/keyv (node $(node --version))"
node_modules/.bin/vitest run --root tests/keyv 2>&1 | tee "$LOG_DIR/keyv-node.log"
status=${PIPESTATUS[0]}
# The summary line is "Tests  38 passed (38)" or "Tests  2 failed | 36 passed (38)".
tests=$(strip_ansi <"$LOG_DIR/keyv-node.log" | grep -E '^ *Tests +' | tail -n 1)
count node "$status" \
  "$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$tests")" \
  "$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$tests")"

echo
echo "keyv suite: ${passed} passed, ${failed} failed"
if [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
exit 0
