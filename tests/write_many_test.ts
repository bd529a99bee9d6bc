/**
 * Batch writes (`setMany`, `deleteMany`, `touchMany`), `noop()` and `stats()` with arguments,
 * against real memcached processes in all three protocols: per-key outcomes, keys of a failed
 * server reported in `failed`, error replies tied to their keys, and bad input refused before
 * any byte is written.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { rawCommand, startMemcached } from "./_memcached.ts";
import { expectCode, startServers, suspend, utf8, within } from "./_util.ts";
import { connect, type ErrorCode, MemcachedError, type Protocol } from "../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];

/** The remaining TTL of a key, read with a raw `mg <key> t` (not the client under test). */
async function ttlOf(server: Parameters<typeof rawCommand>[0], key: string): Promise<number> {
  const reply = await rawCommand(server, `mg ${key} t\r\n`);
  const match = reply.match(/^HD t(-?\d+)/);
  assert.ok(match, `mg ${key} t answered ${JSON.stringify(reply)}`);
  return Number(match[1]);
}

for (const protocol of PROTOCOLS) {
  test(`[${protocol}] setMany stores every entry with its type; getMany reads them back`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    const entries = new Map<string, string | Uint8Array>();
    for (let i = 0; i < 200; i++) {
      entries.set(`k:${i}`, i % 3 === 0 ? utf8(`bytes ${i}`) : `text ${i} é`);
    }
    const result = await client.setMany(entries, { ttl: 300 });
    assert.equal(result.failed.size, 0);
    assert.deepEqual([...result.keys()], [...entries.keys()]);
    assert.ok([...result.values()].every((stored) => stored === true));
    const found = await client.getMany([...entries.keys()]);
    assert.deepEqual([...found], [...entries]);
    const ttl = await ttlOf(server, "k:7");
    assert.ok(ttl > 290 && ttl <= 300, `TTL ${ttl}`);
    assert.equal(client.counters().inFlight, 0);
  });

  test(`[${protocol}] deleteMany and touchMany tell, per key, whether it existed`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    await client.setMany([["a", "1"], ["c", "3"], ["e", "5"]]);
    const touched = await client.touchMany(["a", "b", "c", "d"], 1234);
    assert.deepEqual([...touched], [["a", true], ["b", false], ["c", true], ["d", false]]);
    const ttl = await ttlOf(server, "c");
    assert.ok(ttl > 1200 && ttl <= 1234, `TTL ${ttl}`);
    const deleted = await client.deleteMany(["a", "b", "c", "d", "e"]);
    assert.deepEqual(
      [...deleted],
      [["a", true], ["b", false], ["c", true], ["d", false], ["e", true]],
    );
    assert.equal((await client.getMany(["a", "c", "e"])).size, 0);
    const empty = await client.deleteMany([]);
    assert.equal(empty.size + empty.failed.size, 0);
  });

  test(`[${protocol}] noop() answers; stats() takes arguments`, async () => {
    // Without the segmented LRU, cachedump sees an item at once (not only once it turns cold).
    await using server = await startMemcached({ args: ["-o", "no_lru_maintainer"] });
    await using client = await connect(server.address, { protocol });
    await client.noop();
    await client.set("dumped", "xyz");
    const slabs = await client.stats("slabs");
    assert.ok(slabs.has("active_slabs"));
    assert.ok((await client.stats("settings")).has("item_size_max"));
    if (protocol !== "binary") {
      // memcached's binary protocol has no cachedump: it answers "Not found".
      const dump = await client.stats("cachedump 1 100");
      assert.match(dump.get("dumped") ?? "", /^\[3 b; \d+ s\]$/);
    }
    assert.equal((await client.stats("reset")).size, 0);
    assert.equal(Number((await client.stats()).get("cmd_set")), 0, "stats reset took effect");
    await client.stats("detail on");
    await client.stats("detail dump");
    await client.stats("detail off");
    for (const bad of ["a  b", "a b c d e", "slabs\r\nflush_all", "", " x"]) {
      await expectCode(client.stats(bad), ["INVALID_ARGUMENT"], JSON.stringify(bad));
    }
    assert.equal(await client.get("dumped"), "xyz", "the connection is still in step");
  });
}

test("setMany ties a server's error reply to its key (text, binary) or to its silent span (meta)", async () => {
  await using server = await startMemcached({ args: ["-I", "1m"] });
  const big = new Uint8Array(1024 * 1024 + 1).fill(65); // over the server's item size
  for (const protocol of PROTOCOLS) {
    await using client = await connect(server.address, {
      protocol,
      maxValueSize: 2 * 1024 * 1024,
    });
    const keys = ["s:0", "s:1", "big", "s:3", "s:4"].map((k) => `${protocol}:${k}`);
    const result = await client.setMany(keys.map((k) => [k, k.endsWith("big") ? big : "v"]));
    const error = result.failed.get(`${protocol}:big`);
    assert.ok(error instanceof MemcachedError, `${protocol}: the big value is reported failed`);
    // memcached answers "SERVER_ERROR object too large for cache" in text and meta, and the
    // binary status 0x03 ("Too large."): both are VALUE_TOO_LARGE, as the client's own check.
    assert.equal(error.code, "VALUE_TOO_LARGE", protocol);
    if (protocol !== "meta") assert.equal(result.failed.size, 1, `${protocol}: only its key`);
    // Whatever is reported stored was stored; a key reported failed shares the same error.
    for (const key of keys) {
      if (result.get(key) === true) assert.equal(await client.get(key), "v", key);
      else assert.equal(result.failed.get(key), error, key);
    }
    assert.equal(await client.get(keys[0]!), "v", `${protocol}: the connection is in step`);
  }
});

test("setMany over three servers reports a dead server's keys in failed; allOrNothing rejects", async () => {
  await using servers = await startServers(3, () => startMemcached());
  await using client = await connect(servers.map((s) => s.address), {
    timeout: 2_000,
    failureLimit: 1,
    retryTimeout: 60_000,
  });
  const victim = servers[2]!;
  const keys = Array.from({ length: 300 }, (_, i) => `w:${i}`);
  const lost = new Set(keys.filter((k) => client.serverFor(k) === victim.address));
  assert.ok(lost.size > 30, `${lost.size} keys go to the victim`);
  victim.kill("SIGKILL");
  await within(5_000, "memcached to exit", victim.waitExit());
  const codes: ErrorCode[] = ["CONNECTION_CLOSED", "CONNECT_FAILED", "SERVER_DEAD"];
  for (let round = 0; round < 2; round++) {
    const result = await client.setMany(keys.map((k) => [k, k]));
    for (const key of keys) {
      if (lost.has(key)) {
        const error = result.failed.get(key);
        assert.ok(error instanceof MemcachedError && codes.includes(error.code), key);
        assert.equal(result.has(key), false);
      } else assert.equal(result.get(key), true, key);
    }
    assert.deepEqual([...result.keys()], keys.filter((k) => !lost.has(k)));
  }
  const found = await client.getMany(keys);
  assert.equal(found.size, keys.length - lost.size, "the live servers' keys were stored");
  await assert.rejects(
    client.deleteMany(keys, { allOrNothing: true }),
    (error: unknown) => error instanceof MemcachedError && error.code === "SERVER_DEAD",
  );
  // allOrNothing rejects the call; the live servers' parts ran all the same.
  assert.equal((await client.getMany(keys)).size, 0);
});

test("Batch writes refuse bad input before writing a byte, and nothing else is disturbed", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { maxValueSize: 1000 });
  const before = Number((await client.stats()).get("cmd_set"));
  const pending = client.get("other");
  await expectCode(
    client.setMany([["ok:1", "v"], ["bad key", "v"]]),
    ["INVALID_KEY"],
    "a bad key anywhere",
  );
  await expectCode(
    client.setMany([["ok:1", "v"], ["ok:2", "x".repeat(1001)]]),
    ["VALUE_TOO_LARGE"],
    "a value over maxValueSize",
  );
  await expectCode(client.setMany([["ok:1", "v"]], { ttl: -5 }), ["INVALID_TTL"], "a bad TTL");
  await expectCode(
    client.setMany([["ok:1", "v"]], { flags: 2 ** 32 }),
    ["INVALID_ARGUMENT"],
    "bad flags",
  );
  await expectCode(client.deleteMany(["ok", ""]), ["INVALID_KEY"], "an empty key");
  await expectCode(client.touchMany(["ok"], Number.NaN), ["INVALID_TTL"], "a NaN TTL");
  assert.equal(await pending, undefined);
  assert.equal(Number((await client.stats()).get("cmd_set")), before, "nothing was stored");
  assert.equal(await client.get("ok:1"), undefined);
  await using text = await connect(server.address, { protocol: "text" });
  await using base64 = await connect(server.address, { protocol: "meta", base64Keys: true });
  await base64.setMany([[new Uint8Array([0, 1, 2]), "binary key"]]);
  assert.equal(await base64.get(new Uint8Array([0, 1, 2])), "binary key");
  assert.equal(await text.get("ok:1"), undefined);
});

test("A batch write past its deadline rejects with TIMEOUT and the connection stays usable", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  try {
    await suspend(server);
    const result = await client.setMany([["t:1", "v"], ["t:2", "v"]], { timeout: 100 });
    const error = result.failed.get("t:1");
    assert.ok(error instanceof MemcachedError && error.code === "TIMEOUT", String(error));
  } finally {
    server.kill("SIGCONT");
  }
  await client.set("after", "ok");
  assert.equal(await client.get("after"), "ok");
});
