# shellcheck shell=bash
# Installs what Mica's tests and demo need; sourced by scripts/test.sh and scripts/demo.sh.
#
#   mica_setup   installs memcached, libmemcached-tools, sasl2-bin (saslpasswd2, for SASL tests),
#                openssl (certificates for TLS tests), nutcracker (twemproxy, for the proxy
#                interop test) and the clients of other languages that the
#                interop tests run (python3-pylibmc, python3-pymemcache, php-cli, php-memcached)
#                from Debian if missing, then the npm devDependencies (deno, bun, bun-types,
#                benchmark peers) if missing or stale.
#
# Expects the current directory to be the repository root. Returns non-zero on failure.

MEMCACHED_BIN=/usr/bin/memcached

mica_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup: need root or sudo to run: $*" >&2
    return 1
  fi
}

mica_apt_install() {
  echo "setup: installing Debian packages: $*"
  mica_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    mica_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

mica_peers_present() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import pylibmc, pymemcache" 2>/dev/null &&
    [ -x /usr/bin/php ] && /usr/bin/php -r 'exit(class_exists("Memcached") ? 0 : 1);' 2>/dev/null
}

mica_install_memcached() {
  if [ -x "$MEMCACHED_BIN" ] && command -v memcslap >/dev/null 2>&1 &&
    [ -x /usr/sbin/saslpasswd2 ] && [ -x /usr/bin/openssl ] && [ -x /usr/sbin/nutcracker ] &&
    mica_peers_present; then
    return 0
  fi
  mica_apt_install memcached libmemcached-tools sasl2-bin openssl nutcracker \
    python3-pylibmc python3-pymemcache php-cli php-memcached || return 1
  if ! mica_peers_present; then
    echo "setup: pylibmc, pymemcache or php-memcached is still missing after apt-get install" >&2
    return 1
  fi
  if [ ! -x "$MEMCACHED_BIN" ]; then
    echo "setup: $MEMCACHED_BIN is still missing after apt-get install" >&2
    return 1
  fi
}

mica_node_deps_stale() {
  [ -x node_modules/.bin/deno ] || return 0
  [ -x node_modules/.bin/bun ] || return 0
  # npm writes node_modules/.package-lock.json on every install; older than the manifests = stale.
  [ -f node_modules/.package-lock.json ] || return 0
  [ package.json -nt node_modules/.package-lock.json ] && return 0
  [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
  return 1
}

mica_install_node_deps() {
  if ! command -v npm >/dev/null 2>&1; then
    mica_apt_install nodejs npm || return 1
  fi
  if mica_node_deps_stale; then
    if [ -f package-lock.json ]; then
      echo "setup: npm ci"
      npm ci --no-audit --no-fund || return 1
    else
      echo "setup: npm install"
      npm install --no-audit --no-fund || return 1
    fi
  fi
  node_modules/.bin/deno --version >/dev/null || return 1
  node_modules/.bin/bun --version >/dev/null || return 1
}

mica_setup() {
  mica_install_memcached && mica_install_node_deps || return 1
  echo "setup: $("$MEMCACHED_BIN" -V), deno $(node_modules/.bin/deno --version | head -n 1 |
    cut -d ' ' -f 2), bun $(node_modules/.bin/bun --version)"
}
