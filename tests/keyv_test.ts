/**
 * Tests of the Keyv store (`src/keyv.ts`) for what `@keyv/test-suite` does not cover (that suite
 * runs from `tests/keyv/`): keys any string may be, namespaces cleared without flushing, the
 * generation shared between stores, TTL conversion, client ownership and leaks, errors.
 *
 * Runs unchanged under `deno test --sanitize-ops --sanitize-resources` and `bun test`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createConnection } from "node:net";
import Keyv, { type KeyvStoreAdapter } from "keyv";
import { test } from "./_harness.ts";
import {
  type MemcachedServer,
  pickFreePort,
  remainingTtl,
  serverStat,
  startMemcached,
  ttlAfter,
} from "./_memcached.ts";
import { assertAllZero, withCode } from "./_util.ts";
import { Client, connect, MemcachedError } from "../mod.ts";
import { KeyvMemcached } from "../src/keyv.ts";

const THIRTY_ONE_DAYS = 31 * 24 * 60 * 60;

/** The current generation of a namespace (`""` for none), read from its counter item. */
async function generation(client: Client, namespace: string): Promise<string> {
  const value = await client.get<string>(`${namespace}|g`, { as: "string" });
  assert.ok(value !== undefined, `the generation of ${JSON.stringify(namespace)} exists`);
  return value;
}

/** Every key memcached holds, from `lru_crawler metadump all` (keys are URI-encoded there). */
function serverKeys(server: MemcachedServer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: server.host, port: server.port });
    let reply = "";
    const timer = setTimeout(() => socket.destroy(new Error("no END within 5000 ms")), 5_000);
    socket.on("connect", () => socket.write("lru_crawler metadump all\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.endsWith("END\r\n")) socket.end();
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve([...reply.matchAll(/^key=(\S+)/gm)].map((match) => decodeURIComponent(match[1]!)));
    });
  });
}

test("KeyvMemcached is a Keyv 5 store adapter by type", async () => {
  await using store = new KeyvMemcached("127.0.0.1:11211");
  const adapter: KeyvStoreAdapter = store; // a type error here breaks `deno check`
  assert.equal(adapter.opts.dialect, "memcached");
  assert.equal(adapter.opts.url, "127.0.0.1:11211");
  assert.equal(store.client.counters().connections, 0, "a store connects on first use");
});

test("KeyvMemcached stores every string key apart, within memcached's key rules", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const keyv = new Keyv({ store: new KeyvMemcached(client), namespace: "odd keys" });
  const keys = [
    "plain",
    "with space",
    "with%20space",
    "with+space",
    "tab\there",
    "line\r\nbreak",
    "nul\0byte",
    "pipe|and#hash%",
    "",
    " ",
    "héllo wörld",
    "日本語のキー",
    "emoji 🎉",
    "\uD800", // lone surrogates, which UTF-8 encoders turn into the same U+FFFD
    "\uDC00",
    "\uFFFD",
    "a".repeat(1000),
    "a".repeat(999) + "b",
    "é".repeat(1000),
    "x".repeat(230),
  ];
  for (const [index, key] of keys.entries()) {
    assert.equal(await keyv.set(key, { index }), true, `set ${JSON.stringify(key)}`);
  }
  for (const [index, key] of keys.entries()) {
    assert.deepEqual(await keyv.get(key), { index }, `get ${JSON.stringify(key)}`);
  }
  assert.deepEqual(await keyv.get(keys), keys.map((_, index) => ({ index })));
  const scope = `odd%20keys|${await generation(client, "odd%20keys")}|`;
  // Exact: one item per key, plus the namespace's generation counter.
  assert.equal(await serverStat(server, "curr_items"), keys.length + 1, "one item per key");
  // The crawler's dump can miss items it is moving between LRUs: ask again, a bounded number
  // of times, until it lists them all.
  let stored: string[] = [];
  for (let attempt = 0; attempt < 20 && stored.length < keys.length; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    stored = (await serverKeys(server)).filter((key) => key.startsWith(scope));
  }
  assert.equal(stored.length, keys.length, "the dump lists one memcached item per key");
  for (const key of stored) {
    assert.ok(key.length <= 250, `${key} is at most 250 bytes`);
    assert.match(key, /^[\x21-\x7e]+$/, "printable ASCII without spaces");
  }
  assert.ok(stored.includes(`${scope}odd%20keys:plain`), "a plain key is readable");
  assert.equal(await keyv.delete("with space"), true);
  assert.equal(await keyv.get("with space"), undefined);
  assert.deepEqual(await keyv.get("with%20space"), { index: 2 }, "a look-alike key is untouched");
  await keyv.disconnect();
});

test("KeyvMemcached hashes keys over maxKeyLength, leaving room for the client's prefix", async () => {
  await using server = await startMemcached();
  const prefix = "p".repeat(100);
  await using client = await connect(server.address, { prefix });
  await using store = new KeyvMemcached(client, { maxKeyLength: 150 });
  const long = "k".repeat(1000);
  await store.set(long, "1");
  await store.set(long + "!", "2");
  await store.set("short", "3");
  assert.deepEqual(await store.getMany([long, long + "!", "short"]), ["1", "2", "3"]);
  for (const key of await serverKeys(server)) assert.ok(key.length <= 250, key);
  for (const maxKeyLength of [109, 251, 200.5]) {
    assert.throws(() => new KeyvMemcached(client, { maxKeyLength }), withCode("INVALID_ARGUMENT"));
  }
});

test("KeyvMemcached.clear() clears only its namespace and never flushes the server", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const store = new KeyvMemcached(client);
  const users = new Keyv({ store, namespace: "users" });
  const orders = new Keyv({ store: new KeyvMemcached(client), namespace: "orders" });
  const bare = new Keyv({ store: new KeyvMemcached(client), namespace: "" });
  await client.set("foreign", "not keyv's");
  await users.set("1", "Ada");
  await users.set("2", "Grace");
  await orders.set("1", "book");
  await bare.set("1", "no namespace");
  assert.equal(bare.namespace, undefined);

  await users.clear();
  assert.deepEqual(await users.get(["1", "2"]), [undefined, undefined]);
  assert.equal(await orders.get("1"), "book");
  assert.equal(await bare.get("1"), "no namespace");
  assert.equal(await client.get("foreign"), "not keyv's");
  await users.set("1", "Ada again");
  assert.equal(await users.get("1"), "Ada again", "the cleared namespace takes new keys");

  await bare.clear();
  assert.equal(await bare.get("1"), undefined);
  assert.equal(await users.get("1"), "Ada again", "clearing no namespace spares the others");
  assert.equal(await orders.get("1"), "book");
  assert.equal(await client.get("foreign"), "not keyv's");
  assert.equal(await serverStat(server, "cmd_flush"), 0, "no flush_all was sent");

  // The namespace a Keyv sets on its store is the one the store's keys and clear() use.
  users.namespace = "orders";
  assert.equal(await users.get("1"), "book");
  await users.clear();
  assert.equal(await users.get("1"), undefined);
  await Promise.all([users.disconnect(), orders.disconnect(), bare.disconnect()]);
});

test("KeyvMemcached sees another store's clear() within generationMaxAge", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const writer = new KeyvMemcached(client);
  const fresh = new KeyvMemcached(client, { generationMaxAge: 0 });
  const cached = new KeyvMemcached(client, { generationMaxAge: Infinity });
  for (const store of [writer, fresh, cached]) store.namespace = "shared";
  await writer.set("shared:k", "v");
  assert.equal(await fresh.get("shared:k"), "v");
  assert.equal(await cached.get("shared:k"), "v");
  const before = BigInt(await generation(client, "shared"));

  await writer.clear();
  assert.equal(BigInt(await generation(client, "shared")), before + 1n, "clear() increments");
  assert.equal(await writer.get("shared:k"), undefined, "the clearing store sees it at once");
  assert.equal(await fresh.get("shared:k"), undefined, "generationMaxAge 0 reads it every time");
  assert.equal(
    await cached.get("shared:k"),
    "v",
    "generationMaxAge Infinity keeps the generation it read: the documented trade-off",
  );
  await cached.clear();
  assert.equal(BigInt(await generation(client, "shared")), before + 2n);
  assert.equal(await cached.get("shared:k"), undefined, "its own clear() moves it on");
  await Promise.all([writer.disconnect(), fresh.disconnect(), cached.disconnect()]);
});

test("KeyvMemcached starts a higher generation when the counter is evicted", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const keyv = new Keyv({ store: new KeyvMemcached(client, { generationMaxAge: 0 }) });
  await keyv.set("k", "old");
  await keyv.clear();
  await keyv.clear();
  await keyv.set("k", "current");
  const last = BigInt(await generation(client, "keyv"));
  assert.equal(await client.delete("keyv|g"), true); // what an eviction would do

  assert.equal(await keyv.get("k"), undefined, "a new generation starts empty");
  const next = BigInt(await generation(client, "keyv"));
  assert.ok(next > last, `the new generation ${next} is above the evicted ${last}`);
  await client.delete("keyv|g");
  await keyv.clear(); // a clear() of a missing counter creates it too
  assert.ok(BigInt(await generation(client, "keyv")) > next);
  await client.set("keyv|g", "not a number");
  await assert.rejects(keyv.store.get("keyv:k"), withCode("DECODE_FAILED"));
  await keyv.disconnect();
});

test("KeyvMemcached rounds TTLs up to whole seconds and sends long ones as Unix times", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await using store = new KeyvMemcached(client); // no namespace: keys are `|<generation>|<key>`
  await store.set("forever", "v");
  const gen = await generation(client, "");
  const wire = (key: string) => `|${gen}|${key}`;
  assert.equal(await remainingTtl(server, wire("forever")), -1);
  await store.set("zero", "v", 0);
  assert.equal(await remainingTtl(server, wire("zero")), -1, "0 is no expiry");
  // Each TTL is read within one tick of memcached's clock, so it is exactly the one sent.
  const ttlOf = async (key: string, ttl: number) =>
    (await ttlAfter(server, wire(key), () => store.set(key, "v", ttl))).ttl;
  assert.equal(await ttlOf("1ms", 1), 1, "1 ms is kept 1 s");
  assert.equal(await ttlOf("1.5s", 1500), 2);
  assert.equal(await ttlOf("2s", 2000), 2);
  // Over 30 days, the expiry is sent as a Unix time: 31 days after the client's clock when it
  // was sent, in whole seconds, and memcached keeps exactly that time.
  const from = Math.floor(Date.now() / 1000) + THIRTY_ONE_DAYS;
  const { ttl, clock } = await ttlAfter(
    server,
    wire("31d"),
    () => store.set("31d", "v", THIRTY_ONE_DAYS * 1000),
  );
  const to = Math.floor(Date.now() / 1000) + THIRTY_ONE_DAYS;
  const expiry = clock + ttl;
  assert.ok(
    expiry >= from && expiry <= to,
    `31 days is kept until ${expiry}, not between ${from} and ${to} (${ttl} s left)`,
  );
  for (const bad of [-1, Number.NaN, Infinity]) {
    await assert.rejects(store.set("bad", "v", bad), withCode("INVALID_TTL"), String(bad));
  }

  const keyv = new Keyv({ store, namespace: "" });
  const viaKeyv = await ttlAfter(server, wire("via%20keyv"), () => keyv.set("via keyv", "v", 1500));
  assert.equal(viaKeyv.ttl, 2);
});

test("KeyvMemcached closes the client it created and leaves a borrowed one open", async () => {
  await using server = await startMemcached();

  const owned = new KeyvMemcached(server.address, { clientOptions: { timeout: 2_000 } });
  const keyv = new Keyv({ store: owned });
  await keyv.set("a", "1");
  assert.equal(await keyv.get("a"), "1");
  assert.equal(owned.client.counters().connections, 1);
  await keyv.disconnect();
  assert.equal(owned.disconnected, true);
  assert.equal(owned.client.closed, true, "disconnect() closes the store's own client");
  assertAllZero(owned.client);
  await owned.disconnect(); // again: nothing more
  await assert.rejects(owned.get("keyv:a"), withCode("CLIENT_CLOSED"));

  const client = await connect(server.address);
  const borrowed = new KeyvMemcached(client);
  await borrowed.set("b", "2");
  await borrowed.disconnect();
  assert.equal(client.closed, false, "a borrowed client stays open");
  assert.equal(await client.get(`|${await generation(client, "")}|b`), "2");
  for (
    const call of [
      () => borrowed.get("b"),
      () => borrowed.getMany(["b"]),
      () => borrowed.set("b", "3"),
      () => borrowed.delete("b"),
      () => borrowed.deleteMany(["b"]),
      () => borrowed.clear(),
    ]
  ) {
    await assert.rejects(call(), withCode("CLIENT_CLOSED"));
  }
  await client.close();
  assertAllZero(client);

  assert.throws(
    () => new KeyvMemcached(client, { clientOptions: { timeout: 1 } }),
    withCode("INVALID_ARGUMENT"),
  );
  assert.throws(
    () => new KeyvMemcached(server.address, { generationMaxAge: -1 }),
    withCode("INVALID_ARGUMENT"),
  );
});

test("KeyvMemcached leaves nothing behind after many stores come and go", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  for (let i = 0; i < 20; i++) {
    await using owned = new KeyvMemcached(server.address);
    await using borrowed = new KeyvMemcached(client);
    owned.namespace = borrowed.namespace = `round ${i}`;
    await owned.set("k", String(i));
    assert.equal(await borrowed.get("k"), String(i));
    await Promise.all([owned.getMany(["k", "x"]), borrowed.deleteMany(["k"]), owned.clear()]);
    await owned.disconnect();
    assertAllZero(owned.client, `round ${i}: the owned client`);
  }
  const { connections, inFlight, queued } = client.counters();
  assert.deepEqual({ connections, inFlight, queued }, { connections: 1, inFlight: 0, queued: 0 });
});

test("KeyvMemcached emits its own client's errors and rejects failed operations", async () => {
  const port = await pickFreePort(); // nothing listens there
  const store = new KeyvMemcached(`127.0.0.1:${port}`, {
    clientOptions: { connectTimeout: 500, timeout: 500 },
  });
  const emitted: unknown[] = [];
  store.on("error", (error) => emitted.push(error));
  await assert.rejects(store.get("k"), (error) => error instanceof MemcachedError);
  assert.ok(emitted.length > 0, "the failed connection was emitted");
  assert.ok(emitted.every((error) => error instanceof MemcachedError));

  const keyv = new Keyv({ store });
  const keyvErrors: unknown[] = [];
  keyv.on("error", (error: unknown) => keyvErrors.push(error));
  assert.equal(await keyv.set("k", "v"), false, "Keyv reports a failed set as false");
  assert.ok(keyvErrors.length > 0, "and emits the error");
  await keyv.disconnect();
  assertAllZero(store.client);

  // A borrowed client's events are its owner's, not the store's.
  const client = new Client(`127.0.0.1:${port}`, { connectTimeout: 500, timeout: 500 });
  const borrowed = new KeyvMemcached(client);
  const forwarded: unknown[] = [];
  borrowed.on("error", (error) => forwarded.push(error));
  await assert.rejects(borrowed.get("k"), (error) => error instanceof MemcachedError);
  assert.equal(forwarded.length, 0);
  await client.close();
  assertAllZero(client);
});

test("KeyvMemcached.on(), off() and emit() call listeners like an event emitter", () => {
  using client = new Client("127.0.0.1:11211"); // never connects: no request is made
  const store = new KeyvMemcached(client);
  const calls: unknown[][] = [];
  const listener = (...args: unknown[]) => calls.push(args);
  assert.equal(store.emit("error", 1), false, "no listener: dropped, not thrown");
  assert.equal(store.on("error", listener).on("error", listener), store);
  assert.equal(store.emit("error", 2, 3), true);
  store.off("error", listener);
  store.emit("error", 4);
  store.off("error", listener);
  assert.equal(store.emit("error", 5), false);
  assert.deepEqual(calls, [[2, 3], [2, 3], [4]]);
});
