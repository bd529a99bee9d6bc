/**
 * The item size limit, as memcached counts it: an item of at most `-I` bytes holds the key, the
 * value and a 59-byte header (63 with nonzero flags). The client's check (`maxValueSize` is the
 * server's `-I`) and the server must agree at limit - 1, limit and limit + 1, in every protocol;
 * a server whose `-I` is below the client's setting refuses with the same `VALUE_TOO_LARGE`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { type MemcachedServer, rawStats, startMemcached } from "./_memcached.ts";
import { assertIdle, MIB, withCode } from "./_util.ts";
import { type Client, connect, type Protocol } from "../mod.ts";
import { checkItem, ITEM_OVERHEAD, valueLimit } from "../src/protocol/values.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];

/** What a store case puts: a string (flags 0) or bytes (Mica's flags 4). */
type Kind = "string" | "bytes";

function valueOf(kind: Kind, length: number): string | Uint8Array {
  return kind === "string" ? "v".repeat(length) : new Uint8Array(length).fill(0x61);
}

function lengthOf(value: unknown): number {
  assert.ok(typeof value === "string" || value instanceof Uint8Array, "a value came back");
  return value.length;
}

/** Server counters that any store reaching the server moves. */
async function storeCounters(server: MemcachedServer): Promise<string> {
  const stats = await rawStats(server);
  return ["cmd_set", "curr_items", "total_items"].map((name) => stats.get(name)).join("/");
}

/** Stores at limit - 1 and limit (both read back whole), and refuses limit + 1 unsent. */
async function checkLimit(
  server: MemcachedServer,
  client: Client,
  key: string,
  kind: Kind,
  limit: number,
  what: string,
): Promise<void> {
  for (const size of [limit - 1, limit]) {
    await client.set(key, valueOf(kind, size));
    assert.equal(lengthOf(await client.get(key)), size, `${what}: ${size} bytes read back`);
  }
  await client.delete(key);
  const before = await storeCounters(server);
  await assert.rejects(
    client.set(key, valueOf(kind, limit + 1)),
    (error) =>
      withCode("VALUE_TOO_LARGE")(error) &&
      (error as Error).message.includes(`the value is ${limit + 1} bytes, over the ${limit}`),
    `${what}: limit + 1 is refused`,
  );
  assertIdle(client, 1, `${what}: the refused store left a request behind`);
  assert.equal(await storeCounters(server), before, `${what}: limit + 1 reached the server`);
  assert.equal(await client.get(key), undefined, `${what}: nothing was stored`);
}

test("valueLimit and checkItem count the key, the flags and memcached's item header", () => {
  assert.equal(ITEM_OVERHEAD, 59);
  assert.equal(valueLimit(1, 0, MIB), MIB - 60);
  assert.equal(valueLimit(250, 4, MIB), MIB - 59 - 250 - 4);
  // A value far below the limit passes without the key being measured.
  checkItem("set", "k", false, "x".repeat(1000), 0, MIB);
  // Multi-byte UTF-8 counts in bytes: 2 per "é".
  const limit = valueLimit(1, 0, 4096);
  checkItem("set", "k", false, "é".repeat(limit / 2 - 1) + "x", 0, 4096);
  assert.throws(
    () => checkItem("set", "k", false, "é".repeat(limit / 2 + 1), 0, 4096),
    withCode("VALUE_TOO_LARGE"),
  );
  // A non-ASCII key counts its UTF-8 bytes.
  assert.throws(
    () => checkItem("set", "ké", false, new Uint8Array(valueLimit(2, 4, 4096)), 4, 4096),
    withCode("VALUE_TOO_LARGE"),
  );
  checkItem("set", "ké", false, new Uint8Array(valueLimit(3, 4, 4096)), 4, 4096);
  // A base64 key counts decoded: "AAEC" is 3 bytes, "AAE=" 2, "AA==" 1.
  for (const [key, length] of [["AAEC", 3], ["AAE=", 2], ["AA==", 1]] as const) {
    const fits = valueLimit(length, 0, 4096);
    checkItem("set", key, true, new Uint8Array(fits), 0, 4096);
    assert.throws(
      () => checkItem("set", key, true, new Uint8Array(fits + 1), 0, 4096),
      withCode("VALUE_TOO_LARGE"),
      `base64 key ${key}`,
    );
  }
});

for (const protocol of PROTOCOLS) {
  test(`[${protocol}] stores at the item size limit - 1 and limit, refuses limit + 1 unsent (-I 1m)`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    for (const keyLength of [1, 250]) {
      for (const kind of ["string", "bytes"] as const) {
        const key = "k".repeat(keyLength);
        const limit = MIB - 59 - keyLength - (kind === "bytes" ? 4 : 0);
        await checkLimit(server, client, key, kind, limit, `${keyLength}-byte key, ${kind}`);
      }
    }
    // Raw flags: nonzero flags cost 4 bytes, zero none, whatever the value's type.
    const limit = MIB - 59 - 3;
    await client.set("raw", new Uint8Array(limit), { flags: 0 });
    await assert.rejects(
      client.set("raw", new Uint8Array(limit), { flags: 1 }),
      withCode("VALUE_TOO_LARGE"),
    );
    await client.set("raw", new Uint8Array(limit - 4), { flags: 1 });
    // Every store command checks: add, replace, cas, append, prepend, setMany.
    const over = "v".repeat(limit + 1);
    await assert.rejects(client.add("new", over), withCode("VALUE_TOO_LARGE"));
    await assert.rejects(client.replace("raw", over), withCode("VALUE_TOO_LARGE"));
    await assert.rejects(client.append("raw", over), withCode("VALUE_TOO_LARGE"));
    await assert.rejects(client.prepend("raw", over), withCode("VALUE_TOO_LARGE"));
    const item = await client.gets("raw");
    assert.ok(item !== undefined);
    await assert.rejects(client.cas("raw", over, item.cas), withCode("VALUE_TOO_LARGE"));
    const before = await storeCounters(server);
    await assert.rejects(
      client.setMany([["ok1", "v".repeat(limit)], ["ok2", over]]),
      withCode("VALUE_TOO_LARGE"),
    );
    assert.equal(await storeCounters(server), before, "a refused setMany sent nothing");
    const stored = await client.setMany([["ok1", "v".repeat(limit)], ["ok2", "v".repeat(limit)]]);
    assert.equal(stored.failed.size, 0);
    assert.equal(lengthOf(await client.get("ok2")), limit);
  });

  test(`[${protocol}] agrees with a server run with -I 2m at limit - 1, limit and limit + 1`, async () => {
    await using server = await startMemcached({ args: ["-I", "2m"] });
    await using client = await connect(server.address, { protocol, maxValueSize: 2 * MIB });
    await checkLimit(server, client, "key", "bytes", 2 * MIB - 59 - 3 - 4, "-I 2m, bytes");
    await checkLimit(server, client, "key", "string", 2 * MIB - 59 - 3, "-I 2m, string");
  });

  test(`[${protocol}] a server with a smaller -I refuses with VALUE_TOO_LARGE and stays in step`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol, maxValueSize: 2 * MIB });
    await client.set("before", "kept");
    const limit = MIB - 59 - 3;
    // Past the server's limit, within the client's: only the server can refuse it.
    for (const size of [limit + 1, Math.floor(1.5 * MIB)]) {
      await assert.rejects(
        client.set("big", "v".repeat(size)),
        (error) =>
          withCode("VALUE_TOO_LARGE")(error) &&
          /the server answered .*\(its item size limit, -I, is below/.test(
            (error as Error).message,
          ),
        `${size} bytes`,
      );
      assert.equal(await client.get("before"), "kept", "the connection is still in step");
    }
    await client.set("big", "v".repeat(limit));
    assert.equal(lengthOf(await client.get("big")), limit);
  });
}

test("[meta] a base64 key counts its decoded bytes at the limit", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { base64Keys: true });
  const key = new Uint8Array(186).fill(0x20); // 186 bytes: base64 text of 248 characters
  const limit = MIB - 59 - 186;
  for (const size of [limit - 1, limit]) {
    await client.set(key, "v".repeat(size));
    assert.equal(lengthOf(await client.get(key)), size);
  }
  await assert.rejects(client.set(key, "v".repeat(limit + 1)), withCode("VALUE_TOO_LARGE"));
});
