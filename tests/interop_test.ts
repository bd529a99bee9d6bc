/**
 * Interoperability with libmemcached's own tools (Debian `libmemcached-tools`): bytes Mica
 * stores with each protocol are read back exactly by `memccat`, and files stored by `memccp`
 * are read back exactly by Mica, over libmemcached's text and binary protocols.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";
import { assertBytes, pattern } from "./_util.ts";
import { connect } from "../mod.ts";
import type { Protocol } from "../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error) {
        reject(new Error(`${command} ${args.join(" ")} failed: ${stderr}`, { cause: error }));
      } else resolve();
    });
  });
}

/** Bytes that break any framing by line: CR, LF, NUL, high bytes, a fake reply line. */
function awkwardBytes(seed: number): Uint8Array {
  const tail = new TextEncoder().encode("\r\nEND\r\nVALUE k 0 1\r\n");
  const out = new Uint8Array(4096 + tail.length);
  out.set(pattern(4096, seed));
  out.set(tail, 4096);
  return out;
}

for (const protocol of PROTOCOLS) {
  test(`interop [${protocol}]: memccat reads back the bytes Mica stored`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    const dir = mkdtempSync(join(tmpdir(), "mica-interop-"));
    try {
      for (const binary of [false, true]) {
        const value = awkwardBytes(binary ? 2 : 1);
        const key = `mica-${protocol}-${binary ? "bin" : "txt"}`;
        await client.set(key, value);
        const out = join(dir, key);
        await run("memccat", [
          `--servers=${server.address}`,
          ...(binary ? ["--binary"] : []),
          `--file=${out}`,
          key,
        ]);
        assertBytes(
          new Uint8Array(readFileSync(out)),
          value,
          `memccat${binary ? " --binary" : ""}`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`interop [${protocol}]: Mica reads back files stored by memccp`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    const dir = mkdtempSync(join(tmpdir(), "mica-interop-"));
    try {
      for (const binary of [false, true]) {
        const value = awkwardBytes(binary ? 4 : 3);
        const key = `memccp-${protocol}-${binary ? "bin" : "txt"}.dat`;
        writeFileSync(join(dir, key), value);
        await run("memccp", [
          `--servers=${server.address}`,
          ...(binary ? ["--binary"] : []),
          join(dir, key),
        ]);
        // memccp stores flags 0, which Mica reads as text by default: ask for the bytes.
        assertBytes(
          await client.get(key, { as: "bytes" }),
          value,
          `memccp${binary ? " --binary" : ""}`,
        );
        const item = await client.gets(key, { as: "bytes" });
        assert.equal(item?.flags, 0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
