# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/keyv_suite.sh: how a test runner's counts are judged.
#
#   mica_judge NAME STATUS PASSED FAILED   prints "PASSED FAILED" as they count: a run that failed
#                                          without counting a failure (a crash, a type error, no
#                                          tests found) is one failure, and so is a run of no test.

mica_judge() {
  local name=$1 status=$2 p=${3:-0} f=${4:-0}
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "$name ran no test" >&2
    f=1
  fi
  echo "$p $f"
}

strip_ansi() { sed -E $'s/\x1b\\[[0-9;]*[A-Za-z]//g'; }
