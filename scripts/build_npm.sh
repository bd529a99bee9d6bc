#!/usr/bin/env bash
# Builds the npm package into dist/: JavaScript (ES2022 modules) and .d.ts declarations for
# every entry point of package.json's "exports", compiled by the pinned TypeScript from the
# same sources JSR publishes. Relative imports are rewritten from .ts to .js in both.
#
#   bash scripts/build_npm.sh      (npm pack and npm publish run it through "prepack")
#
# Needs the devDependencies (npm install). Exits non-zero on a type error or a leftover .ts import.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf dist
node_modules/.bin/tsc -p scripts/npm/tsconfig.json

# tsc rewrites the JavaScript's imports but leaves the declarations' `.ts` specifiers.
node --input-type=module -e '
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const RELATIVE_TS = /((?:from|import)\s*\(?\s*["'"'"'])(\.\.?\/[^"'"'"']+)\.ts(["'"'"'])/g;
let left = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (/\.(d\.ts|js)$/.test(entry.name)) {
      const text = readFileSync(path, "utf8");
      const fixed = text.replace(RELATIVE_TS, "$1$2.js$3");
      if (fixed !== text) writeFileSync(path, fixed);
      if (RELATIVE_TS.test(fixed)) left.push(path);
      RELATIVE_TS.lastIndex = 0;
    }
  }
};
walk("dist");
if (left.length > 0) {
  console.error("build_npm: .ts imports left in " + left.join(", "));
  process.exit(1);
}
'
echo "build_npm: dist/ built ($(find dist -name '*.js' | wc -l) modules)" >&2
