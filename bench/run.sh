#!/usr/bin/env bash
# Mica benchmark entry point: `bash bench/run.sh [--quick] [--only mica] [--help]`.
# Ensures the toolchain is present, then hands over to bench/run.mjs (Node), which starts its
# own memcached on a free loopback port and runs every client one after another.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v node >/dev/null 2>&1; then
  echo "bench: node is required (Node 20+)" >&2
  exit 2
fi

if [[ ! -x node_modules/.bin/deno || ! -x node_modules/.bin/bun || ! -d node_modules/memjs ||
  ! -d node_modules/memcache-client || ! -d node_modules/memcached ]]; then
  echo "bench: installing npm devDependencies (deno, bun, peers)..." >&2
  npm install --no-audit --no-fund >&2
fi

apt_install() {
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: missing system packages: $* (install them with apt-get)" >&2
    return 1
  fi
  echo "bench: apt-get install -y $*" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
  fi
}

missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v memcslap >/dev/null 2>&1 || command -v memslap >/dev/null 2>&1 ||
  missing+=(libmemcached-tools)
[[ -f /usr/include/libmemcached/memcached.h ]] || missing+=(libmemcached-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ((${#missing[@]} > 0)); then
  # memcached is required; the C reference client and memcslap are optional ("n/a" if absent).
  apt_install "${missing[@]}" || command -v memcached >/dev/null 2>&1 || exit 2
fi

exec node bench/run.mjs "$@"
