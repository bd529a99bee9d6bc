/**
 * Mica's text protocol through twemproxy (`nutcracker`), the proxy many fleets put in front
 * of memcached: every command twemproxy proxies works through it, keys spread over the
 * servers behind it, multi-key gets split and merged by the proxy come back whole, values
 * written through the proxy by Mica read back in php-memcached through it and the reverse,
 * and the commands twemproxy does not proxy (it closes the connection) fail alone, leaving
 * the client working. Closed clients hold nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { type MemcachedServer, startMemcached } from "../_memcached.ts";
import { startNutcracker } from "../_nutcracker.ts";
import { assertAllZero, expectCode, startServers } from "../_util.ts";
import { type Client, connect } from "../../mod.ts";
import { runPeer } from "./_peers.ts";

const KEYS = Array.from({ length: 200 }, (_, i) => `proxied:${i}`);

/** Two memcached servers behind twemproxy, a Mica text client on the proxy, and `body`. */
async function withProxy(
  body: (client: Client, proxy: string, servers: MemcachedServer[]) => Promise<void>,
): Promise<void> {
  await using servers = await startServers(2, () => startMemcached());
  await using proxy = await startNutcracker(servers);
  const client = await connect(proxy.address, { protocol: "text", serializer: "php" });
  try {
    await body(client, proxy.address, servers);
  } finally {
    await client.close();
    assertAllZero(client);
  }
}

test("twemproxy: stores, reads, counters and CAS round-trip through the proxy", async () => {
  await withProxy(async (client) => {
    await client.set("k", "v", { ttl: 60 });
    assert.equal(await client.get("k"), "v");
    assert.equal(await client.add("k", "other"), false);
    assert.equal(await client.add("fresh", "added"), true);
    assert.equal(await client.replace("k", "w"), true);
    assert.equal(await client.replace("missing", "w"), false);
    assert.equal(await client.append("k", "-end"), true);
    assert.equal(await client.prepend("k", "start-"), true);
    assert.equal(await client.get("k"), "start-w-end");

    const item = await client.gets("k");
    assert.ok(item !== undefined && item.cas > 0n);
    assert.equal(await client.cas("k", "swapped", item.cas), true);
    assert.equal(await client.cas("k", "lost", item.cas), false, "a stale CAS token loses");
    assert.equal(await client.get("k"), "swapped");

    await client.set("n", 5);
    assert.equal(await client.incr("n", 10), 15n);
    assert.equal(await client.decr("n", 20), 0n, "decr stops at zero");
    assert.equal(await client.incr("absent"), undefined);
    assert.equal(await client.touch("k", 120), true);
    assert.equal(await client.touch("absent", 120), false);
    assert.equal(await client.delete("k"), true);
    assert.equal(await client.delete("k"), false);
    assert.equal(await client.get("k"), undefined);

    const big = new Uint8Array(600_000).map((_, i) => i % 251);
    await client.set("big", big);
    assert.deepEqual(await client.get("big", { as: "bytes" }), big);
    assert.equal(await client.getOrSet("loaded", () => "once", { ttl: 60 }), "once");
    assert.match(await client.version(), /^\d+\.\d+/);
  });
});

test("twemproxy: pipelined writes spread over both servers and a split multi-get comes back whole", async () => {
  await withProxy(async (client, _proxy, servers) => {
    await Promise.all(KEYS.map((key, i) => client.set(key, { i, key })));
    const found = await client.getMany<string, unknown>(KEYS);
    assert.equal(found.failed.size, 0);
    assert.deepEqual([...found.keys()], KEYS);
    for (const [i, key] of KEYS.entries()) assert.deepEqual(found.get(key), { i, key });
    const reads = await Promise.all(KEYS.map((key) => client.get(key)));
    assert.deepEqual(reads, KEYS.map((key, i) => ({ i, key })));

    // Straight to each server: every key is on exactly one, and both hold some.
    const held = await Promise.all(servers.map(async (server) => {
      await using direct = await connect(server.address, { serializer: "php" });
      return (await direct.getMany<string, unknown>(KEYS)).size;
    }));
    assert.equal(held[0]! + held[1]!, KEYS.length, `held ${held}`);
    assert.ok(held.every((n) => n > KEYS.length / 5), `the proxy spread the keys: ${held}`);
  });
});

test("twemproxy: php-memcached through the proxy reads Mica's values and the reverse", async () => {
  await withProxy(async (client, proxy) => {
    const values: Array<[string, unknown]> = [
      ["text", "héllo wörld"],
      ["int", 42],
      ["float", 2.5],
      ["object", { a: [1, "x"] }],
      ["long", "Lorem ipsum ".repeat(1_000)],
    ];
    for (const [name, value] of values) await client.set(`mica:${name}`, value);
    const read = await runPeer({
      client: "php",
      options: { OPT_SERIALIZER: "SERIALIZER_JSON" },
      servers: [proxy],
      ops: values.map(([name]) => ({ op: "get", key: `mica:${name}` })),
    });
    assert.deepEqual(read, [
      "héllo wörld",
      { $int: "42" },
      { $float: "2.5" },
      { a: [1, "x"] },
      "Lorem ipsum ".repeat(1_000),
    ]);

    const stored = await runPeer({
      client: "php",
      options: { OPT_SERIALIZER: "SERIALIZER_JSON" },
      servers: [proxy],
      ops: [
        { op: "set", key: "php:text", value: "from php" },
        { op: "set", key: "php:int", value: { $int: "-7" } },
        { op: "set", key: "php:array", value: { list: [1, 2, 3] } },
      ],
    });
    assert.deepEqual(stored, [true, true, true]);
    const found = await client.getMany(["php:text", "php:int", "php:array"]);
    assert.deepEqual([...found.values()], ["from php", -7, { list: [1, 2, 3] }]);
  });
});

test("twemproxy: a command it does not proxy fails alone with CONNECTION_CLOSED and the client goes on", async () => {
  await withProxy(async (client) => {
    await client.set("k", "v");
    // twemproxy 0.5 closes the connection on gat, stats, flush_all and verbosity.
    const refused = [
      () => client.getAndTouch("k", 60),
      () => client.stats(),
      () => client.flush(),
      () => client.verbosity(1),
    ];
    for (const call of refused) {
      await expectCode(call(), ["CONNECTION_CLOSED"], String(call));
      assert.equal(await client.get("k"), "v", `the client works after ${call}`);
    }
    assert.equal(client.counters().servers[0]?.state, "up");
  });
});
