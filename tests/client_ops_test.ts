/**
 * Live tests of every client operation against a real memcached, one fresh server per test.
 *
 * Runs unchanged under `deno test --sanitize-ops --sanitize-resources` and `bun test`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { rawCommand, rawStats, remainingTtl, startMemcached } from "./_memcached.ts";
import { assertBytes, assertIdle, MAX_U64, pattern, sleep, utf8, withCode } from "./_util.ts";
import {
  connect,
  FLAG_BYTES,
  FLAG_STRING,
  isMemcachedError,
  MemcachedError,
  type Value,
} from "../mod.ts";

const THIRTY_ONE_DAYS = 31 * 24 * 60 * 60;

/** Asserts `actual` is within `slack` of `expected`. */
function assertNear(actual: number, expected: number, slack: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= slack,
    `${what}: ${actual} is not within ${slack} of ${expected}`,
  );
}

// --- get / set ---------------------------------------------------------------------------------

test("Client.get() returns strings stored by Client.set(), including UTF-8 and the empty string", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const values: Record<string, string> = {
    ascii: "hello",
    utf8: "héllo wörld ✓ 🎉 日本語",
    empty: "",
    framing: "line\r\nVA 5 O1\r\nEND\r\nMN\r\n",
  };
  for (const [key, value] of Object.entries(values)) await client.set(key, value);
  for (const [key, value] of Object.entries(values)) {
    assert.equal(await client.get(key), value, key);
  }
  assert.equal(await rawCommand(server, "mg utf8 s\r\n"), `HD s${utf8(values.utf8!).length}\r\n`);
});

test("Client.get() returns a Uint8Array stored by Client.set(), including CRLF bytes and empty", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const binary = pattern(1000);
  const crlf = new Uint8Array([13, 10, 13, 10, 0, 255, 13, 10]);
  await client.set("binary", binary);
  await client.set("crlf", crlf);
  await client.set("empty", new Uint8Array(0));
  assertBytes(await client.get("binary"), binary, "binary");
  assertBytes(await client.get("crlf"), crlf, "crlf");
  assertBytes(await client.get("empty"), new Uint8Array(0), "empty");
  assert.equal(await rawCommand(server, "mg crlf f\r\n"), `HD f${FLAG_BYTES}\r\n`);
});

test("Client.get() returns undefined on a miss", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.get("missing"), undefined);
  assert.equal(await client.get("missing", { as: "bytes" }), undefined);
  assert.equal(await client.gets("missing"), undefined);
  assert.equal(await client.getAndTouch("missing", 10), undefined);
});

test("Client.set() with flags stores them as given and such values read back as bytes", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("flagged", "text", { flags: 42 });
  await client.set("max-flags", "text", { flags: 0xffff_ffff });
  await client.set("zero-flags", utf8("bytes"), { flags: 0 });
  assert.equal(await rawCommand(server, "mg flagged f v\r\n"), "VA 4 f42\r\ntext\r\n");
  assert.equal(await rawCommand(server, "mg max-flags f\r\n"), "HD f4294967295\r\n");
  assertBytes(await client.get("flagged"), utf8("text"), "as auto");
  assert.equal(await client.get("flagged", { as: "string" }), "text");
  assertBytes(await client.get("flagged", { as: "bytes" }), utf8("text"), "as bytes");
  const item = await client.gets("flagged");
  assert.equal(item?.flags, 42);
  assertBytes(item?.value, utf8("text"), "gets value");
  assert.equal((await client.gets("max-flags"))?.flags, 0xffff_ffff);
  assert.equal((await client.gets("flagged", { as: "string" }))?.value, "text");
  // Flags 0 is Mica's string flag, so bytes stored with it read back as text.
  assert.equal(await client.get("zero-flags"), "bytes");
});

test('Client.get() with as: "string" or "bytes" converts whatever type was stored', async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("text", "é");
  await client.set("raw", utf8("ok"));
  assertBytes(await client.get("text", { as: "bytes" }), utf8("é"), "text as bytes");
  assert.equal(await client.get("raw", { as: "string" }), "ok");
  assert.equal(await client.get("text", { as: "auto" }), "é");
  assertBytes(await client.get("raw", { as: "auto" }), utf8("ok"), "raw as auto");
});

// --- gets / cas --------------------------------------------------------------------------------

test("Client.gets() returns the value, a bigint CAS token and the flags", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("text", "v1");
  await client.set("raw", new Uint8Array([1, 2]));
  const text = await client.gets("text");
  assert.ok(text !== undefined);
  assert.equal(text.value, "v1");
  assert.equal(typeof text.cas, "bigint");
  assert.ok(text.cas > 0n);
  assert.equal(text.flags, FLAG_STRING);
  const raw = await client.gets("raw");
  assert.ok(raw !== undefined);
  assertBytes(raw.value, new Uint8Array([1, 2]));
  assert.equal(raw.flags, FLAG_BYTES);
  assert.notEqual(raw.cas, text.cas);
  const reply = await rawCommand(server, "mg text c\r\n");
  assert.equal(reply, `HD c${text.cas}\r\n`);
});

test("Client.cas() stores when the token matches and returns false after another set", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("doc", "v1");
  const first = await client.gets("doc");
  assert.ok(first !== undefined);
  assert.equal(await client.cas("doc", "v2", first.cas), true);
  assert.equal(await client.get("doc"), "v2");
  // The old token no longer matches: a conflict is an answer, not an error.
  assert.equal(await client.cas("doc", "stale", first.cas), false);
  const second = await client.gets("doc");
  assert.ok(second !== undefined);
  assert.notEqual(second.cas, first.cas);
  await client.set("doc", "someone else");
  assert.equal(await client.cas("doc", "mine", second.cas), false);
  assert.equal(await client.get("doc"), "someone else");
  const third = await client.gets("doc");
  assert.ok(third !== undefined);
  assert.equal(await client.cas("doc", new Uint8Array([7]), third.cas, { ttl: 100 }), true);
  assertBytes(await client.get("doc"), new Uint8Array([7]));
  assertNear(await remainingTtl(server, "doc"), 100, 2, "TTL after cas");
});

test("Client.cas() returns false when the key was deleted", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("doc", "v1");
  const item = await client.gets("doc");
  assert.ok(item !== undefined);
  assert.equal(await client.delete("doc"), true);
  assert.equal(await client.cas("doc", "v2", item.cas), false);
  assert.equal(await client.get("doc"), undefined);
});

// --- add / replace / append / prepend / delete -------------------------------------------------

test("Client.add() stores only a missing key", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.add("lock", "worker-1", { ttl: 100 }), true);
  assert.equal(await client.add("lock", "worker-2"), false);
  assert.equal(await client.get("lock"), "worker-1");
  assertNear(await remainingTtl(server, "lock"), 100, 2, "TTL after add");
});

test("Client.replace() stores only an existing key", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.replace("config", "v1"), false);
  assert.equal(await client.get("config"), undefined);
  await client.set("config", "v1");
  assert.equal(await client.replace("config", new Uint8Array([2])), true);
  assertBytes(await client.get("config"), new Uint8Array([2]));
});

test("Client.append() and Client.prepend() extend an existing value and keep its TTL and flags", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.append("missing", "x"), false);
  assert.equal(await client.prepend("missing", "x"), false);
  assert.equal(await client.get("missing"), undefined);
  await client.set("log", "middle", { ttl: 100 });
  assert.equal(await client.append("log", ",end"), true);
  assert.equal(await client.prepend("log", "start,"), true);
  assert.equal(await client.get("log"), "start,middle,end");
  assertNear(await remainingTtl(server, "log"), 100, 2, "TTL after append and prepend");
  await client.set("raw", new Uint8Array([2]));
  assert.equal(await client.append("raw", new Uint8Array([3, 13, 10])), true);
  assert.equal(await client.prepend("raw", "\x01"), true);
  assertBytes(await client.get("raw"), new Uint8Array([1, 2, 3, 13, 10]));
});

test("Client.delete() returns whether the key existed", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("gone", "soon");
  assert.equal(await client.delete("gone"), true);
  assert.equal(await client.delete("gone"), false);
  assert.equal(await client.get("gone"), undefined);
  assert.equal(await client.delete("never-was"), false);
});

// --- incr / decr -------------------------------------------------------------------------------

test("Client.incr() and Client.decr() on a missing key without initial return undefined", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.incr("counter"), undefined);
  assert.equal(await client.decr("counter", 5), undefined);
  assert.equal(await client.get("counter"), undefined);
});

test("Client.incr() and Client.decr() with initial create the counter with that value and TTL", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.incr("views", 5, { initial: 10n, ttl: 100 }), 10n);
  assert.equal(await client.get("views"), "10");
  assertNear(await remainingTtl(server, "views"), 100, 2, "TTL of a created counter");
  assert.equal(await client.incr("views", 5, { initial: 10n }), 15n);
  assert.equal(await client.incr("views"), 16n);
  assert.equal(await client.decr("stock", 3, { initial: 7 }), 7n);
  assert.equal(await remainingTtl(server, "stock"), -1);
  assert.equal(await client.decr("stock", 3), 4n);
  await client.set("preset", "41");
  assert.equal(await client.incr("preset", 1), 42n);
  assert.equal(await client.incr("far", 1, { initial: 0, ttl: THIRTY_ONE_DAYS }), 0n);
  assertNear(await remainingTtl(server, "far"), THIRTY_ONE_DAYS, 3, "TTL over 30 days");
});

test("Client.incr() takes a bigint delta and counts exactly up to 2^64-1, then wraps to 0", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.incr("top", 1, { initial: MAX_U64 - 1n }), MAX_U64 - 1n);
  assert.equal(await client.get("top"), "18446744073709551614");
  assert.equal(await client.incr("top", 1n), MAX_U64);
  assert.equal(await client.get("top"), "18446744073709551615");
  assert.equal(await client.incr("top", 1), 0n);
  assert.equal(await client.incr("big", 1n << 60n, { initial: 0n }), 0n);
  assert.equal(await client.incr("big", 1n << 60n), 1n << 60n);
  assert.equal(await client.incr("big", 2 ** 53 - 1), (1n << 60n) + 2n ** 53n - 1n);
  await client.set("wrap", "1");
  assert.equal(await client.incr("wrap", MAX_U64), 0n);
  await client.set("max", "18446744073709551615");
  assert.equal(await client.decr("max", MAX_U64), 0n);
  assert.equal(await client.incr("zero-delta", 0, { initial: 9 }), 9n);
  assert.equal(await client.incr("zero-delta", 0), 9n);
});

test("Client.decr() stops at 0", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("n", "5");
  assert.equal(await client.decr("n", 3), 2n);
  assert.equal(await client.decr("n", 10), 0n);
  assert.equal(await client.decr("n"), 0n);
  assert.equal(await client.decr("n", MAX_U64), 0n);
  assert.equal(await client.get("n"), "0");
});

test("Client.incr() on a non-numeric value rejects with CLIENT_ERROR and the connection stays usable", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("word", "abc");
  await assert.rejects(client.incr("word"), withCode("CLIENT_ERROR"));
  await assert.rejects(client.decr("word", 2), withCode("CLIENT_ERROR"));
  assert.equal(await client.get("word"), "abc");
  assert.equal(await client.incr("counter", 1, { initial: 1 }), 1n);
  // Pipelined neighbours of the failing request get their own replies.
  const [before, failed, after] = await Promise.allSettled([
    client.get("word"),
    client.incr("word"),
    client.incr("counter"),
  ]);
  assert.deepEqual(before, { status: "fulfilled", value: "abc" });
  assert.equal(failed?.status, "rejected");
  assert.deepEqual(after, { status: "fulfilled", value: 2n });
  assertIdle(client, 1);
});

// --- touch / getAndTouch / TTLs ----------------------------------------------------------------

test("Client.touch() returns whether the key exists and sets the new TTL", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.touch("missing", 100), false);
  await client.set("session", "s");
  assert.equal(await remainingTtl(server, "session"), -1);
  assert.equal(await client.touch("session", 500), true);
  assertNear(await remainingTtl(server, "session"), 500, 2, "TTL after touch");
  assert.equal(await client.touch("session", new Date(Date.now() + 200_000)), true);
  assertNear(await remainingTtl(server, "session"), 200, 2, "TTL after touch with a Date");
  assert.equal(await client.touch("session", 0), true);
  assert.equal(await remainingTtl(server, "session"), -1);
  assert.equal(await client.get("session"), "s");
});

test("Client.getAndTouch() returns the value and sets the new TTL", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.getAndTouch("missing", 500), undefined);
  await client.set("session", "data");
  await client.set("raw", new Uint8Array([9]));
  assert.equal(await client.getAndTouch("session", 500), "data");
  assertNear(await remainingTtl(server, "session"), 500, 2, "TTL after getAndTouch");
  assertBytes(await client.getAndTouch("raw", 300), new Uint8Array([9]));
  assertNear(await remainingTtl(server, "raw"), 300, 2, "TTL after getAndTouch");
  assert.equal(await client.getAndTouch("raw", 300, { as: "string" }), "\t");
});

test("Items stored with a TTL of 1 second are gone 2 seconds later", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("set", "v", { ttl: 1 });
  assert.equal(await client.add("add", "v", { ttl: 1 }), true);
  assert.equal(await client.incr("counter", 1, { initial: 5, ttl: 1 }), 5n);
  await client.set("touched", "v");
  assert.equal(await client.touch("touched", 1), true);
  await client.set("kept", "v", { ttl: 100 });
  assert.equal(await client.get("set"), "v");
  await sleep(2_100);
  const found = await client.getMany(["set", "add", "counter", "touched", "kept"]);
  assert.deepEqual([...found.keys()], ["kept"]);
});

test("Client.set() with a Date TTL expires the item at that time", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("dated", "v", { ttl: new Date(Date.now() + 100_000) });
  assertNear(await remainingTtl(server, "dated"), 100, 2, "TTL from a Date");
  await client.set("far", "v", { ttl: new Date(Date.now() + THIRTY_ONE_DAYS * 1000) });
  assertNear(await remainingTtl(server, "far"), THIRTY_ONE_DAYS, 3, "TTL from a far Date");
  assert.equal(await client.get("far"), "v");
});

test("Client.set() sends a relative TTL over 30 days as an absolute time", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("month", "v", { ttl: THIRTY_ONE_DAYS });
  assert.equal(await client.get("month"), "v");
  assertNear(await remainingTtl(server, "month"), THIRTY_ONE_DAYS, 3, "TTL of 31 days");
  await client.set("edge", "v", { ttl: 30 * 24 * 60 * 60 });
  assertNear(await remainingTtl(server, "edge"), 30 * 24 * 60 * 60, 3, "TTL of 30 days");
  await client.set("short", "v");
  assert.equal(await client.touch("short", THIRTY_ONE_DAYS), true);
  assertNear(await remainingTtl(server, "short"), THIRTY_ONE_DAYS, 3, "touch of 31 days");
});

test("Client with defaultTtl applies it to stores that pass no ttl", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { defaultTtl: 100 });
  await client.set("default", "v");
  assertNear(await remainingTtl(server, "default"), 100, 2, "defaultTtl");
  await client.set("explicit", "v", { ttl: 0 });
  assert.equal(await remainingTtl(server, "explicit"), -1);
});

test("Client with defaultTtl over 30 days stores items that stay readable", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { defaultTtl: THIRTY_ONE_DAYS });
  await client.set("month", "v");
  assert.equal(await client.get("month"), "v", "the item expired at once");
  assertNear(await remainingTtl(server, "month"), THIRTY_ONE_DAYS, 3, "defaultTtl of 31 days");
});

// --- server commands ---------------------------------------------------------------------------

test("Client.flush() invalidates every item", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("a", "1");
  await client.set("b", new Uint8Array([2]));
  await client.flush();
  assert.equal(await client.get("a"), undefined);
  assert.equal(await client.get("b"), undefined);
  assert.equal((await client.stats()).get("cmd_flush"), "1");
  await client.set("a", "again");
  assert.equal(await client.get("a"), "again");
});

test("Client.flush() with a delay keeps items until then", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("a", "1");
  await client.flush({ delay: 60 });
  assert.equal(await client.get("a"), "1");
  assert.equal((await client.stats()).get("cmd_flush"), "1");
});

test("Client.version() returns the server's version number", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const version = await client.version();
  assert.match(version, /^\d+\.\d+\.\d+/);
  assert.equal(await rawCommand(server, "version\r\n"), `VERSION ${version}\r\n`);
});

test("Client.stats() returns general, slabs and settings statistics", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("a", "1");
  const general = await client.stats();
  assert.equal(general.get("pid"), String(server.pid));
  assert.equal(general.get("curr_items"), "1");
  assert.match(general.get("version") ?? "", /^\d+\.\d+\.\d+/);
  const slabs = await client.stats("slabs");
  assert.ok(slabs.has("active_slabs"), [...slabs.keys()].join(","));
  assert.ok(slabs.has("total_malloced"));
  const settings = await client.stats("settings");
  assert.equal(settings.get("item_size_max"), "1048576");
  assert.equal(settings.get("tcpport"), String(server.port));
  const items = await client.stats("items");
  assert.ok([...items.keys()].some((name) => /^items:\d+:number$/.test(name)));
});

test("Client.verbosity() resolves once the server accepted it", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal(await client.verbosity(1), undefined);
  assert.equal(await client.verbosity(0), undefined);
  assert.equal(await client.get("after"), undefined);
});

// --- getMany -----------------------------------------------------------------------------------

test("Client.getMany() returns the hits of a mix of hits, misses and duplicates", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("a", "1");
  await client.set("b", new Uint8Array([2]));
  await client.set("c", "3");
  const found = await client.getMany(["a", "missing", "b", "a", "other-miss", "c", "c"]);
  assert.deepEqual([...found.keys()].sort(), ["a", "b", "c"]);
  assert.equal(found.get("a"), "1");
  assertBytes(found.get("b"), new Uint8Array([2]));
  assert.equal(found.get("c"), "3");
  assert.equal(found.has("missing"), false);
  const allMisses = await client.getMany(["x", "y", "z"]);
  assert.equal(allMisses.size, 0);
  const asBytes = await client.getMany(["a", "b"], { as: "bytes" });
  assertBytes(asBytes.get("a"), utf8("1"));
  const asString = await client.getMany(["b"], { as: "string" });
  assert.equal(asString.get("b"), "\x02");
});

test("Client.getMany() reads 100 keys in one batch", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const keys = Array.from({ length: 100 }, (_, i) => `key-${i}`);
  await Promise.all(keys.map((key, i) => i % 3 === 0 ? undefined : client.set(key, `v${i}`)));
  const found = await client.getMany(keys);
  assert.equal(found.size, 66);
  for (const [i, key] of keys.entries()) {
    assert.equal(found.get(key), i % 3 === 0 ? undefined : `v${i}`, key);
  }
});

test("Client.getMany() maps Uint8Array keys to their values", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("bk1", "one");
  await client.set(utf8("bk2"), "two");
  const k1 = utf8("bk1");
  const k2 = utf8("bk2");
  const k3 = utf8("bk3");
  const found = await client.getMany([k1, k2, k3]);
  assert.equal(found.size, 2);
  assert.equal(found.get(k1), "one");
  assert.equal(found.get(k2), "two");
  assert.equal(found.has(k3), false);
  assert.equal(await client.get("bk2"), "two");
  assert.equal(await client.get(k1), "one");
});

test("Client.getMany() of an empty list resolves an empty map without any I/O", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const before = await rawStats(server);
  const promise = client.getMany([]);
  assertIdle(client, 1);
  const found = await promise;
  assert.equal(found.size, 0);
  const after = await rawStats(server);
  assert.equal(after.get("cmd_get"), before.get("cmd_get"));
  // Only the 11 bytes of the second raw "stats\r\nmn\r\n" were read in between.
  assert.equal(Number(after.get("bytes_read")) - Number(before.get("bytes_read")), 11);
});

test("Client.getMany() returns the same results whatever the key order", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
  for (const [i, key] of keys.entries()) if (i % 2 === 0) await client.set(key, `v${i}`);
  const forward = await client.getMany(keys);
  const backward = await client.getMany([...keys].reverse());
  const shuffled = await client.getMany(keys.map((_, i) => keys[(i * 7) % keys.length]!));
  const sorted = (m: Map<string, Value>) => [...m.entries()].sort(([a], [b]) => a < b ? -1 : 1);
  assert.equal(forward.size, 10);
  assert.deepEqual(sorted(backward), sorted(forward));
  assert.deepEqual(sorted(shuffled), sorted(forward));
});

// --- volume and size ---------------------------------------------------------------------------

test("10,000 pipelined sets and then gets each return their own key's value", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { timeout: 10_000 });
  const n = 10_000;
  const stored = await Promise.all(
    Array.from({ length: n }, (_, i) => client.set(`p:${i}`, `value-of-${i}`)),
  );
  assert.equal(stored.length, n);
  const values = await Promise.all(Array.from({ length: n }, (_, i) => client.get(`p:${i}`)));
  for (let i = 0; i < n; i++) {
    if (values[i] !== `value-of-${i}`) assert.fail(`p:${i} read ${String(values[i])}`);
  }
  assertIdle(client, 1);
  assert.equal((await client.stats()).get("curr_items"), String(n));
});

test("Client.set() and Client.get() round-trip a 1 MiB - 512 byte value on a default server", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const value = pattern(1024 * 1024 - 512, 7);
  await client.set("large", value);
  assertBytes(await client.get("large"), value, "1 MiB - 512 bytes");
  const text = "x".repeat(1024 * 1024 - 512);
  await client.set("large-text", text);
  assert.equal(await client.get("large-text"), text);
});

test("Client with maxValueSize 2 MiB round-trips a 1.5 MiB value on a server run with -I 2m", async () => {
  await using server = await startMemcached({ args: ["-I", "2m"] });
  await using client = await connect(server.address, { maxValueSize: 2 * 1024 * 1024 });
  const value = pattern(1536 * 1024, 3);
  const [, small] = await Promise.all([client.set("big", value), client.set("small", "s")]);
  assert.equal(small, undefined);
  const [big, smallValue] = await Promise.all([client.get("big"), client.get("small")]);
  assertBytes(big, value, "1.5 MiB");
  assert.equal(smallValue, "s");
  const item = await client.gets("big");
  assertBytes(item?.value, value, "gets of 1.5 MiB");
});

// --- keys --------------------------------------------------------------------------------------

test("Client with base64Keys round-trips keys holding spaces, newlines and binary bytes", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { base64Keys: true });
  await using plain = await connect(server.address);
  const keys: Array<string | Uint8Array> = [
    "with space",
    "with\nnewline",
    "with\r\nCRLF",
    "with\r\nflush_all",
    "tab\there",
    "日本語キー",
    "plain",
    new Uint8Array([0, 1, 2, 255]),
    new Uint8Array([0, 1, 2, 254]),
    new Uint8Array([0]),
    "k".repeat(186),
  ];
  for (const [i, key] of keys.entries()) await client.set(key, `value-${i}`);
  for (const [i, key] of keys.entries()) assert.equal(await client.get(key), `value-${i}`);
  const found = await client.getMany(keys);
  assert.equal(found.size, keys.length);
  for (const [i, key] of keys.entries()) assert.equal(found.get(key), `value-${i}`);
  // No two keys collided and nothing else was flushed or stored.
  const stats = await client.stats();
  assert.equal(stats.get("curr_items"), String(keys.length));
  assert.equal(stats.get("cmd_flush"), "0");
  // memcached stores the decoded bytes: a plain client sees the same item.
  assert.equal(await plain.get("plain"), "value-6");
  assert.equal(await rawCommand(server, "mg d2l0aCBzcGFjZQ== b v\r\n"), "VA 7\r\nvalue-0\r\n");
  assert.equal(await client.delete("with space"), true);
  assert.equal(await client.incr(new Uint8Array([10, 13]), 1, { initial: 3 }), 3n);
  assert.equal(await client.incr(new Uint8Array([10, 13])), 4n);
});

test("Client with base64Keys reads, touches, counts and deletes items under binary keys", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { base64Keys: true });
  // Stored with raw meta commands, so this test does not depend on the client's stores.
  const spaced = "with space"; // d2l0aCBzcGFjZQ==
  const binary = new Uint8Array([0, 1, 2, 255]); // AAEC/w==
  const crlf = "a\r\nflush_all"; // YQ0KZmx1c2hfYWxs
  await rawCommand(server, "ms d2l0aCBzcGFjZQ== 3 b\r\none\r\n");
  await rawCommand(server, "ms AAEC/w== 3 b F4\r\ntwo\r\n");
  await rawCommand(server, "ms YQ0KZmx1c2hfYWxs 5 b\r\nthree\r\n");
  assert.equal(await client.get(spaced), "one");
  assertBytes(await client.get(binary), utf8("two"), "binary key");
  assert.equal(await client.get(crlf), "three");
  assert.equal(await client.get(new Uint8Array([0, 1, 2, 254])), undefined);
  const item = await client.gets(binary, { as: "string" });
  assert.equal(item?.value, "two");
  assert.equal(item?.flags, FLAG_BYTES);
  const found = await client.getMany([spaced, binary, crlf, "missing key"]);
  assert.equal(found.size, 3);
  assert.equal(found.get(crlf), "three");
  assert.equal(await client.touch(spaced, 500), true);
  assertNear(await remainingTtl(server, "d2l0aCBzcGFjZQ== b"), 500, 2, "TTL after touch");
  assert.equal(await client.getAndTouch(crlf, 300), "three");
  assert.equal(await client.incr(new Uint8Array([10, 13]), 1, { initial: 3 }), 3n);
  assert.equal(await client.incr(new Uint8Array([10, 13])), 4n);
  assert.equal(await rawCommand(server, "mg Cg0= b v\r\n"), "VA 1\r\n4\r\n");
  assert.equal(await client.delete(spaced), true);
  assert.equal(await client.delete(spaced), false);
  assert.equal((await client.stats()).get("cmd_flush"), "0");
});

test('Client rejects the key "a\\r\\nflush_all" with INVALID_KEY and other keys survive', async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("survivor-1", "one");
  await client.set("survivor-2", new Uint8Array([2]));
  const bad = "a\r\nflush_all";
  await assert.rejects(client.set(bad, "x"), withCode("INVALID_KEY"));
  await assert.rejects(client.get(bad), withCode("INVALID_KEY"));
  await assert.rejects(client.delete(bad), withCode("INVALID_KEY"));
  await assert.rejects(client.getMany(["survivor-1", bad]), withCode("INVALID_KEY"));
  await assert.rejects(client.set(utf8(bad), "x"), withCode("INVALID_KEY"));
  assert.equal(await rawCommand(server, "mg survivor-1 v\r\n"), "VA 3\r\none\r\n");
  assert.equal(await rawCommand(server, "mg survivor-2 v\r\n"), "VA 1\r\n\x02\r\n");
  assert.equal(await client.get("survivor-1"), "one");
  assertBytes(await client.get("survivor-2"), new Uint8Array([2]));
  const stats = await client.stats();
  assert.equal(stats.get("cmd_flush"), "0");
  assert.equal(stats.get("curr_items"), "2");
});

// --- addresses and unix sockets ----------------------------------------------------------------

test("Client works over a unix socket", async () => {
  await using server = await startMemcached({ unixSocket: true });
  assert.ok(server.socketPath !== undefined);
  await using client = await connect(server.socketPath);
  assert.deepEqual(client.servers, [server.socketPath]);
  await client.set("a", "1");
  await client.set("b", pattern(100_000));
  assert.equal(await client.get("a"), "1");
  assertBytes(await client.get("b"), pattern(100_000));
  assert.equal((await client.getMany(["a", "x"])).get("a"), "1");
  assert.equal(await client.incr("n", 2, { initial: 1 }), 1n);
  assert.equal(await client.incr("n", 2), 3n);
  assert.equal(await client.delete("a"), true);
  assert.match(await client.version(), /^\d+\.\d+\.\d+/);
  assert.equal(await rawCommand(server, "mg n v\r\n"), "VA 1\r\n3\r\n");
});

test('connect() accepts "host:port", { host, port }, { path } and a socket path', async () => {
  await using tcp = await startMemcached();
  await using unix = await startMemcached({ unixSocket: true });
  const socketPath = unix.socketPath;
  assert.ok(socketPath !== undefined);
  const addresses = [
    tcp.address,
    { host: tcp.host, port: tcp.port },
    socketPath,
    { path: socketPath },
    `unix:${socketPath}`,
  ];
  for (const [i, address] of addresses.entries()) {
    await using client = await connect(address);
    await client.set(`via-${i}`, JSON.stringify(address));
    assert.equal(await client.get(`via-${i}`), JSON.stringify(address));
  }
  assert.equal((await rawStats(tcp)).get("curr_items"), "2");
  assert.equal((await rawStats(unix)).get("curr_items"), "3");
});

test("Errors of rejected calls are MemcachedErrors with a stable code", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("word", "abc");
  const error = await client.incr("word").then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof MemcachedError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "MemcachedError");
  assert.ok(isMemcachedError(error));
  assert.ok(isMemcachedError(error, "CLIENT_ERROR"));
  assert.equal(isMemcachedError(error, "SERVER_ERROR"), false);
  assert.match(error.message, /^Cannot incr: /);
});
