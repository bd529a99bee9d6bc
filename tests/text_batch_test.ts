/**
 * Text-protocol `get`s queued together leave as one `get k1 k2 ...` line. These tests check
 * that every value still reaches its own caller: against a real memcached (hits, misses,
 * duplicates, order with stores, timeouts mid-batch), and against a scripted server that
 * answers out of order or with an error, where the connection must fail rather than hand a
 * value to the wrong key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";
import {
  assertFailed,
  assertMemcachedError,
  lineRecorder,
  scriptedServer,
  settle,
  suspend,
  within,
} from "./_util.ts";
import { type Client, connect, isMemcachedError } from "../mod.ts";

/**
 * A text client on a {@linkcode scriptedServer} that answers every `get` line with `getReply`,
 * `version` with a version, and anything else with `ERROR`.
 */
function scriptedClient(getReply: string): Promise<Client> {
  const connector = scriptedServer((line) =>
    line.startsWith("get ") ? getReply : line === "version" ? "VERSION 1.6.18\r\n" : "ERROR\r\n"
  );
  return connect("127.0.0.1:1", { protocol: "text", connector });
}

/** Gets `keys` together (one batch); each outcome is the value or the error. */
function getOutcomes(client: Client, keys: readonly string[]): Promise<unknown[]> {
  return Promise.all(keys.map((key) => client.get(key).then((v) => v, (e: unknown) => e)));
}

test("text gets queued together leave as one line and each caller gets its own value", async () => {
  await using server = await startMemcached();
  const { connector, lines } = lineRecorder();
  await using client = await connect(server.address, { protocol: "text", connector });
  for (let i = 0; i < 300; i += 3) await client.set(`k${i}`, `v${i}`);
  lines.length = 0;
  const keys = Array.from({ length: 300 }, (_, i) => `k${i % 150 * 2}`); // duplicates, misses
  const values = await Promise.all(keys.map((key) => client.get(key)));
  for (const [i, key] of keys.entries()) {
    const n = Number(key.slice(1));
    assert.equal(values[i], n % 3 === 0 ? `v${n}` : undefined, key);
  }
  const gets = lines.filter((line) => line.startsWith("get "));
  // Up to 8 keys per line (MAX_BATCH in src/connection/connection.ts).
  assert.ok(gets.length <= keys.length / 4, `${gets.length} get lines for ${keys.length} gets`);
  assert.ok(gets.every((line) => line.split(" ").length <= 9), "at most 8 keys per line");
  assert.equal(gets.reduce((n, line) => n + line.split(" ").length - 1, 0), keys.length);
});

test("text batching keeps the order of gets, gets and stores issued together", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { protocol: "text" });
  await client.set("a", "old");
  const [before, item, , after, casBefore] = await Promise.all([
    client.get("a"),
    client.gets("a"),
    client.set("a", "new"),
    client.get("a"),
    client.gets("b"),
  ]);
  assert.equal(before, "old");
  assert.equal(item?.value, "old");
  assert.equal(after, "new");
  assert.equal(casBefore, undefined);
  assert.equal(await client.cas("a", "x", item!.cas), false, "the set changed the CAS token");
});

test("text batch members that time out are dropped and the others still get their values", async () => {
  await using server = await startMemcached();
  // The client's own timeout (which also bounds how long a connection may stay silent with a
  // request overdue) is generous: only the short per-request timeouts are under test.
  await using client = await connect(server.address, { protocol: "text", timeout: 10_000 });
  for (let i = 0; i < 50; i++) await client.set(`k${i}`, `v${i}`);
  try {
    await suspend(server);
    const early = Array.from(
      { length: 50 },
      (_, i) => settle(client.get(`k${i}`, { timeout: i % 2 === 0 ? 30 : 10_000 })),
    );
    // The short ones time out while the server is still stopped, so none can get its value.
    const short = early.filter((_, i) => i % 2 === 0);
    await within(5_000, "the short-timeout gets", Promise.all(short));
    server.kill("SIGCONT");
    const outcomes = await within(15_000, "the gets", Promise.all(early));
    for (const [i, outcome] of outcomes.entries()) {
      if (i % 2 === 0) assertFailed(outcome, ["TIMEOUT"], `k${i}`);
      else assert.deepEqual(outcome, { ok: true, value: `v${i}` }, `k${i}`);
    }
  } finally {
    server.kill("SIGCONT");
  }
  const later = await Promise.all(Array.from({ length: 50 }, (_, i) => client.get(`k${i}`)));
  assert.deepEqual(later, Array.from({ length: 50 }, (_, i) => `v${i}`));
});

test("a batched text get answered in a different key order fails the connection, never a wrong value", async () => {
  // Values for the last and the first key, in the wrong order.
  await using client = await scriptedClient("VALUE c 0 2\r\nvc\r\nVALUE a 0 2\r\nva\r\nEND\r\n");
  const results = await getOutcomes(client, ["a", "b", "c"]);
  // `a` and `b` are misses once `c`'s value arrives first; `a`'s late value then matches
  // nobody still waiting, so the connection fails and `c`, still waiting for `END`, gets the
  // protocol error: no caller sees another key's value.
  assert.equal(results[0], undefined);
  assert.equal(results[1], undefined);
  assert.ok(isMemcachedError(results[2], "PROTOCOL_ERROR"), String(results[2]));
  assert.equal(client.counters().connections, 0, "the connection was dropped");
});

test("an error line for a batched text get rejects every member with it", async () => {
  await using client = await scriptedClient("SERVER_ERROR out of memory writing get response\r\n");
  const results = await getOutcomes(client, ["a", "b", "c"]);
  for (const result of results) assertMemcachedError(result, "SERVER_ERROR");
  assert.equal(await client.version(), "1.6.18", "the connection is still in step");
});
