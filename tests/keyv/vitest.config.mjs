/**
 * vitest configuration of the Keyv suite under Node (`tests/keyv/suite.node.mjs`):
 *
 * ```sh
 * node_modules/.bin/vitest run --root tests/keyv
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Keep vite's cache with the others, not in a node_modules/ under tests/keyv/.
  cacheDir: fileURLToPath(new URL("../../node_modules/.vite", import.meta.url)),
  test: {
    include: ["suite.node.mjs"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
