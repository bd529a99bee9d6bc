#!/usr/bin/env bash
# Chaos soak: `bash bench/chaos.sh [--quick] [chaos.ts options...]`.
# Runs bench/chaos.ts on Deno and Bun, each with failover "fail-fast" and "eject" (four runs, one
# after another, ~40 s each). Each run starts and stops its own three memcached servers. Writes
# bench/results/chaos-<runtime>-<failover>[-<protocol>].json (the protocol when not meta) and
# chaos-latest.md, prints the summary, and
# exits 1 if any run failed its checks. Other options go to every run (not --failover).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ! -x node_modules/.bin/deno || ! -x node_modules/.bin/bun ]]; then
  echo "chaos: installing npm devDependencies (deno, bun)..." >&2
  npm install --no-audit --no-fund >&2
fi
if [[ ! -x /usr/bin/memcached ]]; then
  echo "chaos: /usr/bin/memcached is required (apt-get install -y memcached)" >&2
  exit 2
fi

DENO=node_modules/.bin/deno
BUN=node_modules/.bin/bun
args=()
suffix=""
prev=""
for a in "$@"; do
  if [[ "$a" == "--quick" ]]; then
    args+=(--ops 20000 --sample-every 2000)
  else
    args+=("$a")
  fi
  # Results of another protocol keep their own files.
  if [[ "$prev" == "--protocol" && "$a" != meta ]]; then suffix="-$a"; fi
  prev="$a"
done

mkdir -p bench/results
files=()
failed=0
for failover in fail-fast eject; do
  for rt in deno bun; do
    out="bench/results/chaos-$rt-$failover$suffix.json"
    rm -f "$out"
    echo "== chaos: $rt, failover $failover" >&2
    if [[ "$rt" == deno ]]; then
      cmd=("$DENO" run -A --v8-flags=--expose-gc bench/chaos.ts)
    else
      cmd=("$BUN" bench/chaos.ts)
    fi
    # chaos.ts bounds itself (--time-limit, 120 s by default); timeout is the backstop.
    code=0
    timeout -k 10 300 "${cmd[@]}" --failover "$failover" --json-out "$out" ${args[@]+"${args[@]}"} \
      >/dev/null || code=$?
    if ((code != 0)); then
      echo "chaos: $rt $failover exited with $code" >&2
      failed=1
    fi
    [[ -f "$out" ]] && files+=("$out")
  done
done

if ((${#files[@]} > 0)); then
  "$DENO" run -A bench/chaos.ts --summary "${files[@]}" | tee bench/results/chaos-latest.md ||
    failed=1
fi
exit "$failed"
