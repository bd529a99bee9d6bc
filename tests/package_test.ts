/**
 * The npm package as a user gets it: `npm pack` (which builds `dist/` through `prepack`), the
 * tarball installed into a fresh folder with nothing else, then the same smoke script
 * (`tests/fixtures/package/smoke.mjs`) run against a real memcached by Node, by Bun and by
 * Deno (through `npm:` specifiers), and a TypeScript consumer type-checked against the
 * installed declarations. The tarball must hold the compiled package and nothing else.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "tests", "fixtures", "package");
const BIN = join(ROOT, "node_modules", ".bin");

/** Runs a command, resolving its stdout; rejects with its stderr when it fails. */
function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd,
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: "1" },
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(" ")} failed: ${stderr || error.message}`));
        } else resolve(stdout);
      },
    );
  });
}

/** What the smoke script prints on every runtime. */
const EXPECTED = {
  get: "héllo",
  many: { "smoke:text": "héllo", "smoke:object": { a: [1, 2] } },
  long: 10_000,
  incr: "41",
  loaded: "loaded",
  deleted: true,
  badKey: "INVALID_KEY",
  wire: "mg foo v f O7\r\n",
  hits: 4, // get, 2 of getMany, get again
  closed: true,
  keyv: "stored through the Keyv store",
};

test("the npm tarball installs into a fresh folder and runs under Node, Bun and Deno", async () => {
  await using server = await startMemcached();
  const work = mkdtempSync(join(tmpdir(), "mica-package-"));
  try {
    const packed = JSON.parse(
      await run("npm", ["pack", "--json", "--pack-destination", work], ROOT),
    );
    const { filename, files } = packed[0] as { filename: string; files: { path: string }[] };
    const paths = files.map((file) => file.path).sort();
    for (
      const needed of [
        "dist/mod.js",
        "dist/mod.d.ts",
        "dist/src/adapters/node.js",
        "dist/src/cli.js",
        "package.json",
      ]
    ) {
      assert.ok(paths.includes(needed), `${needed} is packed`);
    }
    const strays = paths.filter((path) =>
      !/^dist\/.*\.(js|d\.ts)$/.test(path) &&
      !["package.json", "README.md", "CHANGELOG.md", "LICENSE"].includes(path)
    );
    assert.deepEqual(strays, [], "only the compiled package and its documents are packed");

    const app = join(work, "app");
    await run("mkdir", ["-p", app], work);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "fresh-app",
        private: true,
        type: "module",
        dependencies: { "@mica/memcached": `file:../${filename}` },
      }),
    );
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund"], app);
    copyFileSync(join(FIXTURES, "smoke.mjs"), join(app, "smoke.mjs"));
    const viaNpm = readFileSync(join(FIXTURES, "smoke.mjs"), "utf8")
      .replaceAll('from "@mica/memcached', 'from "npm:@mica/memcached');
    writeFileSync(join(app, "smoke_deno.mjs"), viaNpm);

    const runs: Array<[string, string, string[]]> = [
      ["node", join(BIN, "node"), ["smoke.mjs", server.address]],
      ["bun", join(BIN, "bun"), ["smoke.mjs", server.address]],
      ["deno", join(BIN, "deno"), [
        "run",
        "--no-prompt",
        `--allow-net=${server.address}`,
        "--allow-env",
        "smoke_deno.mjs",
        server.address,
      ]],
    ];
    for (const [runtime, command, args] of runs) {
      const line = (await run(command, args, app)).trim().split("\n").at(-1) ?? "";
      assert.deepEqual(JSON.parse(line), { runtime, results: EXPECTED }, `${runtime}: ${line}`);
    }

    // The `mica` command the package installs, under Node.
    const mica = join(app, "node_modules", ".bin", "mica");
    const versions = await run(
      join(BIN, "node"),
      [mica, "-s", server.address, "--json", "version"],
      app,
    );
    assert.match(JSON.parse(versions)[server.address], /^\d+\.\d+\.\d+/);
    assert.equal(await run(join(BIN, "node"), [mica, "--version"], app), "mica 0.1.0\n");

    // A TypeScript user on Node: the declarations resolve and check (skipLibCheck off).
    copyFileSync(join(FIXTURES, "smoke.ts"), join(app, "smoke.ts"));
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2024", "ESNext.Disposable", "DOM"],
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules", "@types")],
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ["smoke.ts"],
      }),
    );
    await run(join(BIN, "tsc"), ["-p", "tsconfig.json"], app);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, { timeout: 240_000 });
