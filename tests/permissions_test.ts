/**
 * The Deno permissions Mica needs, as the README documents them: `--allow-net=host:port` for
 * TCP, `--allow-net=unix:PATH --allow-read=PATH --allow-write=PATH` for a unix socket, and
 * `--allow-env=MEMCACHE_SERVERS` only when no address is given. Each case runs
 * `tests/fixtures/scripts/permissions_probe.ts` under `deno run --no-prompt` with exactly those
 * flags (from either runtime's test run), and a missing permission fails with a typed error
 * that names the flag.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";

const DENO = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
const PROBE = fileURLToPath(new URL("./fixtures/scripts/permissions_probe.ts", import.meta.url));

interface ProbeResult {
  ok: boolean;
  code?: string;
  message?: string;
  servers?: string[];
}

/** Runs the probe under `deno run --no-prompt` with `flags`, and parses its one line. */
function probe(flags: string[], args: string[], env: Record<string, string> = {}) {
  return new Promise<ProbeResult>((resolve, reject) => {
    execFile(
      DENO,
      ["run", "--no-prompt", "--no-config", ...flags, PROBE, ...args],
      { timeout: 30_000, env: { ...process.env, NO_COLOR: "1", ...env } },
      (error, stdout, stderr) => {
        const line = stdout.trim().split("\n").at(-1) ?? "";
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`the probe printed no JSON: ${error?.message} ${stdout} ${stderr}`));
        }
      },
    );
  });
}

test("Deno: --allow-net=host:port is all a TCP client needs", async () => {
  await using server = await startMemcached();
  const result = await probe([`--allow-net=${server.address}`], [server.address]);
  assert.deepEqual(result, { ok: true, servers: [server.address] });

  const other = await probe([`--allow-net=${server.address}`], [`127.0.0.1:${server.port + 1}`]);
  assert.equal(other.code, "CONNECT_FAILED");
  assert.match(other.message ?? "", /Requires net access to "127\.0\.0\.1:\d+".*--allow-net/);
});

test("Deno: a unix socket needs --allow-net=unix:PATH, --allow-read and --allow-write of it", async () => {
  await using server = await startMemcached({ unixSocket: true });
  const path = server.socketPath!;
  const all = [`--allow-net=unix:${path}`, `--allow-read=${path}`, `--allow-write=${path}`];
  assert.deepEqual(await probe(all, [path]), { ok: true, servers: [path] });
  for (const [i, missing] of all.entries()) {
    const result = await probe(all.filter((_, j) => j !== i), [path]);
    assert.equal(result.code, "CONNECT_FAILED", missing);
    assert.match(result.message ?? "", /Requires (net|read|write) access/, missing);
  }
});

test("Deno: MEMCACHE_SERVERS needs --allow-env=MEMCACHE_SERVERS, and says so without it", async () => {
  await using server = await startMemcached();
  const env = { MEMCACHE_SERVERS: server.address };
  const net = `--allow-net=${server.address}`;
  assert.deepEqual(await probe([net, "--allow-env=MEMCACHE_SERVERS"], [], env), {
    ok: true,
    servers: [server.address],
  });
  const denied = await probe([net], [], env);
  assert.equal(denied.code, "INVALID_ARGUMENT");
  assert.match(denied.message ?? "", /--allow-env=MEMCACHE_SERVERS/);
});
