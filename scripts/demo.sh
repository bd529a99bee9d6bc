#!/usr/bin/env bash
# The demo command: bash scripts/demo.sh
# Installs what is missing (see scripts/_setup.sh), then runs examples/demo.ts under Deno and Bun.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_setup.sh
source scripts/_setup.sh
mica_setup

echo
echo "==> Deno: deno run --allow-all examples/demo.ts"
node_modules/.bin/deno run --allow-all examples/demo.ts
echo
echo "==> Bun: bun examples/demo.ts"
node_modules/.bin/bun examples/demo.ts
