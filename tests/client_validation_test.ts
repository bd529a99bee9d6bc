/**
 * Every bad input rejects with a `MemcachedError` of the right stable code before a byte is
 * written, and the client keeps working; lifecycle and connect failures have their own codes.
 *
 * "Nothing was written" is checked three ways: the call leaves nothing queued or in flight
 * (`client.counters()`), the server's command counters are unchanged, and the server read no
 * byte but those of the raw `stats` request used to check it.
 *
 * Runs unchanged under `deno test --sanitize-ops --sanitize-resources` and `bun test`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { type MemcachedServer, pickFreePort, rawStats, startMemcached } from "./_memcached.ts";
import { assertIdle, settle, utf8 } from "./_util.ts";
import {
  Client,
  type ClientOptions,
  connect,
  type Connector,
  type ErrorCode,
  isMemcachedError,
  type Key,
  MemcachedError,
  type ServerAddress,
  type Ttl,
  type Value,
} from "../mod.ts";

/** Bytes of the raw request `rawStats` sends: "stats\r\n" plus rawCommand's "mn\r\n". */
const RAW_STATS_BYTES = "stats\r\nmn\r\n".length;
/** Server counters that any command reaching memcached would move. */
const WATCHED = [
  "cmd_get",
  "cmd_set",
  "cmd_touch",
  "cmd_flush",
  "get_misses",
  "delete_misses",
  "incr_misses",
  "decr_misses",
  "touch_misses",
  "curr_items",
];

/** A bad call and the code it must reject with. */
interface Case {
  what: string;
  code: ErrorCode;
  call: (client: Client) => Promise<unknown>;
}

function label(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array[${value.length}](${value.slice(0, 4)})`;
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (value instanceof Map) return `Map(${value.size})`;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** Settles `promise` into the error it rejected with, or fails if it resolved. */
async function rejection(promise: Promise<unknown>, what: string): Promise<MemcachedError> {
  const outcome = await settle(promise);
  if (outcome.ok) assert.fail(`${what} resolved ${label(outcome.value)} instead of rejecting`);
  const { error } = outcome;
  assert.ok(error instanceof MemcachedError, `${what}: expected a MemcachedError, got ${error}`);
  return error;
}

/**
 * Runs each case on `client` and checks that it rejects (never throws) with its code, that
 * nothing was queued or reached the server, and that the client still stores and reads.
 */
async function assertRejectedUnsent(
  server: MemcachedServer,
  client: Client,
  cases: readonly Case[],
  stillWorks: (client: Client, what: string) => Promise<void> = storesAndReads,
): Promise<void> {
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const before = await rawStats(server);
    let promise: Promise<unknown>;
    try {
      promise = c.call(client);
    } catch (error) {
      assert.fail(`${c.what} threw synchronously instead of rejecting: ${error}`);
    }
    assert.ok(promise instanceof Promise, `${c.what} did not return a promise`);
    assertIdle(client, 1, `${c.what} queued a request`);
    const error = await rejection(promise, c.what);
    assert.equal(error.code, c.code, `${c.what}: ${error.code} ${error.message}`);
    assert.equal(error.name, "MemcachedError");
    assert.match(error.message, /^Cannot /, c.what);
    assertIdle(client, 1, `${c.what} left a request behind`);
    const after = await rawStats(server);
    for (const name of WATCHED) {
      assert.equal(after.get(name), before.get(name), `${c.what} changed the server's ${name}`);
    }
    const read = Number(after.get("bytes_read")) - Number(before.get("bytes_read"));
    assert.equal(read, RAW_STATS_BYTES, `${c.what}: the server read ${read} bytes, not 11`);
    await stillWorks(client, c.what);
  }
}

/** Checks that `client` still works after the bad call `what`: a set and a get succeed. */
async function storesAndReads(client: Client, what: string): Promise<void> {
  await client.set("still-works", what);
  assert.equal(await client.get("still-works"), what, `after ${what}`);
}

/** Checks that `client` still works with requests other than stores: delete, incr, get. */
async function countsAndReads(client: Client, what: string): Promise<void> {
  await client.delete("still works");
  assert.equal(await client.incr("still works", 1, { initial: 7 }), 7n, `after ${what}`);
  assert.equal(await client.get("still works"), "7", `after ${what}`);
}

/** Asserts that a call made without a server connection rejects with `code`. */
async function assertRejects(
  what: string,
  code: ErrorCode,
  call: () => Promise<unknown>,
): Promise<MemcachedError> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    assert.fail(`${what} threw synchronously instead of rejecting: ${error}`);
  }
  const error = await rejection(promise, what);
  assert.equal(error.code, code, `${what}: ${error.code} ${error.message}`);
  return error;
}

/** A method of the client that takes one argument under test, with the name it is listed by. */
type Method<T> = readonly [name: string, call: (client: Client, arg: T) => Promise<unknown>];

/**
 * Every method in `methods` called with every value in `values`, each expected to reject with
 * `code`. A case is named `"<method>() with <phrase> <value's name>"`.
 */
function everyCall<T>(
  code: ErrorCode,
  phrase: string,
  values: ReadonlyArray<readonly [name: string, value: T]>,
  methods: ReadonlyArray<Method<T>>,
): Case[] {
  return values.flatMap(([what, value]) =>
    methods.map(([name, call]): Case => ({
      what: `${name}() with ${phrase} ${what}`,
      code,
      call: (client) => call(client, value),
    }))
  );
}

const KEY_METHODS: Array<Method<Key>> = [
  ["get", (c, k) => c.get(k)],
  ["gets", (c, k) => c.gets(k)],
  ["getAndTouch", (c, k) => c.getAndTouch(k, 10)],
  ["getMany", (c, k) => c.getMany(["good-key", k])],
  ["set", (c, k) => c.set(k, "v")],
  ["add", (c, k) => c.add(k, "v")],
  ["replace", (c, k) => c.replace(k, "v")],
  ["append", (c, k) => c.append(k, "v")],
  ["prepend", (c, k) => c.prepend(k, "v")],
  ["cas", (c, k) => c.cas(k, "v", 1n)],
  ["delete", (c, k) => c.delete(k)],
  ["incr", (c, k) => c.incr(k, 1, { initial: 0 })],
  ["decr", (c, k) => c.decr(k)],
  ["touch", (c, k) => c.touch(k, 10)],
];

/** Every key method called with each key in `keys`, expected to reject with INVALID_KEY. */
function keyCases(keys: ReadonlyArray<readonly [string, Key]>): Case[] {
  return everyCall("INVALID_KEY", "a key that is", keys, KEY_METHODS);
}

// --- keys --------------------------------------------------------------------------------------

test("Client methods reject bad keys with INVALID_KEY before writing a byte", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await assertRejectedUnsent(
    server,
    client,
    keyCases([
      ["empty", ""],
      ["251 bytes", "k".repeat(251)],
      ["252 bytes of UTF-8 in 126 characters", "é".repeat(126)],
      ["holding a space", "a b"],
      ["holding \\r", "a\rb"],
      ["holding \\n", "a\nb"],
      ["holding \\t", "a\tb"],
      ["holding \\x00", "a\x00b"],
      ["holding \\x7f", "a\x7fb"],
      ["holding a C1 control character", "a\u0085b"],
      ["a CRLF-injected command", "a\r\nflush_all"],
      ["empty bytes", new Uint8Array(0)],
      ["251 bytes as a Uint8Array", new Uint8Array(251).fill(0x6b)],
      ["bytes holding a space", utf8("a b")],
      ["bytes holding 0xff", new Uint8Array([0x61, 0xff])],
      ["bytes holding CRLF", utf8("a\r\nflush_all")],
      ["a number", 42 as unknown as Key],
      ["undefined", undefined as unknown as Key],
    ]),
  );
  assert.equal((await client.stats()).get("cmd_flush"), "0");
});

test("Client with base64Keys rejects empty keys and keys over 186 bytes with INVALID_KEY", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { base64Keys: true });
  await assertRejectedUnsent(
    server,
    client,
    keyCases([
      ["empty", ""],
      ["empty bytes", new Uint8Array(0)],
      ["187 bytes", "k".repeat(187)],
      ["187 bytes as a Uint8Array", new Uint8Array(187)],
    ]),
    // Not set(): base64 stores are broken by a separate bug (see client_ops_test.ts).
    countsAndReads,
  );
});

test("Keys of exactly the longest allowed length are accepted", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await using b64 = await connect(server.address, { base64Keys: true });
  await client.set("k".repeat(250), "ascii");
  await client.set("é".repeat(125), "utf8");
  assert.equal(await client.get("k".repeat(250)), "ascii");
  assert.equal(await client.get("é".repeat(125)), "utf8");
  assert.equal(await b64.get(new Uint8Array(186)), undefined);
  assert.equal(await b64.incr(new Uint8Array(186), 1, { initial: 5 }), 5n);
});

// --- values ------------------------------------------------------------------------------------

const STORE_METHODS: Array<Method<Value>> = [
  ["set", (c, v) => c.set("k", v)],
  ["add", (c, v) => c.add("k", v)],
  ["replace", (c, v) => c.replace("k", v)],
  ["append", (c, v) => c.append("k", v)],
  ["prepend", (c, v) => c.prepend("k", v)],
  ["cas", (c, v) => c.cas("k", v, 1n)],
];

/** Every store method called with each value in `values`, expected to reject with `code`. */
function valueCases(code: ErrorCode, values: ReadonlyArray<readonly [string, Value]>): Case[] {
  return everyCall(code, "a value that is", values, STORE_METHODS);
}

test("Client stores reject values over maxValueSize with VALUE_TOO_LARGE", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { maxValueSize: 1000 });
  await using defaults = await connect(server.address);
  await assertRejectedUnsent(
    server,
    client,
    valueCases("VALUE_TOO_LARGE", [
      ["1001 characters", "x".repeat(1001)],
      ["1002 bytes of UTF-8 in 501 characters", "é".repeat(501)],
      ["1001 bytes", new Uint8Array(1001)],
    ]),
  );
  await assertRejectedUnsent(
    server,
    defaults,
    valueCases("VALUE_TOO_LARGE", [["1 MiB + 1 bytes", new Uint8Array(1024 * 1024 + 1)]]),
  );
  // maxValueSize is the item size: the key and memcached's 59-byte header take their share, so
  // a 1-byte key leaves 940 bytes for a string, and 936 for bytes (nonzero flags take 4).
  await assertRejectedUnsent(
    server,
    client,
    valueCases("VALUE_TOO_LARGE", [
      ["941 characters", "x".repeat(941)],
      ["937 bytes", new Uint8Array(937)],
    ]),
  );
  await client.set("k", "x".repeat(940));
  assert.equal(await client.get("k"), "x".repeat(940));
  await client.set("k", new Uint8Array(936));
  assert.equal((await client.get<Uint8Array>("k"))?.length, 936);
});

test("Client stores reject values their serializer cannot store with INVALID_VALUE", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  // The default scheme stores numbers, objects, arrays and null as JSON: only what JSON cannot
  // hold, or would silently turn into {} or an index map, is refused.
  await assertRejectedUnsent(
    server,
    client,
    valueCases(
      "INVALID_VALUE",
      [
        ["undefined", undefined],
        ["a bigint", 1n],
        ["a function", () => 1],
        ["a symbol", Symbol("s")],
        ["a cyclic object", cyclic],
        ["an ArrayBuffer", new ArrayBuffer(4)],
        ["a Uint16Array", new Uint16Array(2)],
        ["a DataView", new DataView(new ArrayBuffer(2))],
        ["a Map", new Map([["a", 1]])],
        ["a Set", new Set([1])],
      ].map(([what, value]) => [String(what), value as unknown as Value] as const),
    ),
  );
  // append and prepend add raw bytes to what is stored: only a string or bytes will do.
  await assertRejectedUnsent(
    server,
    client,
    everyCall(
      "INVALID_VALUE",
      "a value that is",
      [["a number", 42], ["an object", { toString: () => "v" }], ["null", null], ["an array", [1]]]
        .map(([what, value]) => [String(what), value as unknown as Value] as const),
      STORE_METHODS.filter(([name]) => name === "append" || name === "prepend"),
    ),
  );
});

test("Client stores numbers, objects, arrays and null as JSON and reads them back", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const values: unknown[] = [42, -1.5, true, false, null, { a: [1, "b", { c: null }] }, [], "text"];
  for (const [i, value] of values.entries()) {
    await client.set(`json:${i}`, value);
    assert.deepEqual(await client.get<unknown>(`json:${i}`), value, JSON.stringify(value));
  }
  const item = await client.gets<{ a: unknown[] }>("json:5");
  assert.equal(item?.flags, 6, "JSON values carry flags 6");
  assert.equal(await client.get("json:5", { as: "string" }), '{"a":[1,"b",{"c":null}]}');
  const found = await client.getMany<string, unknown>(values.map((_, i) => `json:${i}`));
  assert.deepEqual([...found.values()], values);
});

// --- TTLs --------------------------------------------------------------------------------------

test("Client methods reject bad TTLs with INVALID_TTL", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const ttls: Array<[string, Ttl]> = [
    ["-1", -1],
    ["1.5", 1.5],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["2**53", 2 ** 53],
    ["an invalid Date", new Date(NaN)],
    ["a Date too early to send", new Date(1_000)],
    ["a string", "10" as unknown as Ttl],
  ];
  const methods: Array<Method<Ttl>> = [
    ["set", (c, ttl) => c.set("k", "v", { ttl })],
    ["add", (c, ttl) => c.add("k", "v", { ttl })],
    ["replace", (c, ttl) => c.replace("k", "v", { ttl })],
    ["cas", (c, ttl) => c.cas("k", "v", 1n, { ttl })],
    ["touch", (c, ttl) => c.touch("k", ttl)],
    ["getAndTouch", (c, ttl) => c.getAndTouch("k", ttl)],
    ["incr", (c, ttl) => c.incr("k", 1, { initial: 0, ttl })],
    ["decr", (c, ttl) => c.decr("k", 1, { initial: 0, ttl })],
  ];
  const delays = [-1, 1.5, NaN, Infinity].map((delay) => [String(delay), delay] as const);
  const cases = [
    ...everyCall("INVALID_TTL", "ttl", ttls, methods),
    ...everyCall("INVALID_TTL", "delay", delays, [["flush", (c, delay) => c.flush({ delay })]]),
  ];
  await assertRejectedUnsent(server, client, cases);
});

// --- incr / decr -------------------------------------------------------------------------------

test("Client.incr() and Client.decr() reject bad deltas and initial values with INVALID_DELTA", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const bad: Array<[string, number | bigint]> = [
    ["-1", -1],
    ["1.5", 1.5],
    ["2**53 (not a safe integer)", 2 ** 53],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-1n", -1n],
    ["2n**64n", 2n ** 64n],
    ["a string", "1" as unknown as number],
    ["null", null as unknown as number],
  ];
  const cases = [
    ...everyCall("INVALID_DELTA", "delta", bad, [
      ["incr", (c, n) => c.incr("k", n)],
      ["decr", (c, n) => c.decr("k", n)],
    ]),
    ...everyCall("INVALID_DELTA", "initial", bad, [
      ["incr", (c, n) => c.incr("k", 1, { initial: n })],
      ["decr", (c, n) => c.decr("k", 1, { initial: n })],
    ]),
  ];
  await assertRejectedUnsent(server, client, cases);
  assert.equal(await client.incr("k", 2n ** 64n - 1n, { initial: 2n ** 64n - 1n }), 2n ** 64n - 1n);
  assert.equal(await client.incr("k", 2 ** 53 - 1), 2n ** 53n - 2n);
});

// --- other arguments ---------------------------------------------------------------------------

test("Client stores reject bad flags with INVALID_ARGUMENT", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const flags: Array<[string, number]> = [
    ["-1", -1],
    ["2**32", 2 ** 32],
    ["1.5", 1.5],
    ["NaN", NaN],
    ["a string", "1" as unknown as number],
  ];
  const cases = everyCall("INVALID_ARGUMENT", "flags", flags, [
    ["set", (c, flags) => c.set("k", "v", { flags })],
    ["add", (c, flags) => c.add("k", "v", { flags })],
    ["replace", (c, flags) => c.replace("k", "v", { flags })],
    ["cas", (c, flags) => c.cas("k", "v", 1n, { flags })],
  ]);
  await assertRejectedUnsent(server, client, cases);
});

test("Client.cas() rejects a CAS token that is not a bigint from gets() with INVALID_ARGUMENT", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("k", "v");
  const tokens: unknown[] = ["1", 1, undefined, null, {}, -1n, 2n ** 64n];
  await assertRejectedUnsent(
    server,
    client,
    everyCall("INVALID_ARGUMENT", "token", tokens.map((token) => [label(token), token] as const), [
      ["cas", (c, token) => c.cas("k", "v2", token as bigint)],
    ]),
  );
  assert.equal(await client.get("k"), "v");
});

test("Client methods reject a bad timeout option with INVALID_ARGUMENT", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const methods: Array<Method<number>> = [
    ["get", (c, timeout) => c.get("k", { timeout })],
    ["gets", (c, timeout) => c.gets("k", { timeout })],
    ["getAndTouch", (c, timeout) => c.getAndTouch("k", 1, { timeout })],
    ["getMany", (c, timeout) => c.getMany(["k"], { timeout })],
    ["getMany of no keys", (c, timeout) => c.getMany([], { timeout })],
    ["set", (c, timeout) => c.set("k", "v", { timeout })],
    ["add", (c, timeout) => c.add("k", "v", { timeout })],
    ["replace", (c, timeout) => c.replace("k", "v", { timeout })],
    ["append", (c, timeout) => c.append("k", "v", { timeout })],
    ["prepend", (c, timeout) => c.prepend("k", "v", { timeout })],
    ["cas", (c, timeout) => c.cas("k", "v", 1n, { timeout })],
    ["delete", (c, timeout) => c.delete("k", { timeout })],
    ["incr", (c, timeout) => c.incr("k", 1, { timeout })],
    ["decr", (c, timeout) => c.decr("k", 1, { timeout })],
    ["touch", (c, timeout) => c.touch("k", 1, { timeout })],
    ["flush", (c, timeout) => c.flush({ timeout })],
    ["version", (c, timeout) => c.version({ timeout })],
    ["stats", (c, timeout) => c.stats(undefined, { timeout })],
    ["verbosity", (c, timeout) => c.verbosity(0, { timeout })],
  ];
  const timeouts = [0, -5, NaN, Infinity].map((timeout) => [String(timeout), timeout] as const);
  const cases = everyCall("INVALID_ARGUMENT", "timeout", timeouts, methods);
  await assertRejectedUnsent(server, client, cases);
});

test("Client methods reject other bad arguments with INVALID_ARGUMENT", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  // Up to four words are arguments ("cachedump 1 10"); five, or a double space, are not.
  const groups = ["a b\r\nflush_all", "", "slabs\r\n", "a b c d e", "a  b", "x".repeat(65)];
  const cases: Case[] = groups.map((group) => ({
    what: `stats(${label(group)})`,
    code: "INVALID_ARGUMENT",
    call: (c) => c.stats(group),
  }));
  for (const level of [-1, 1.5, 2 ** 32, NaN]) {
    cases.push({
      what: `verbosity(${level})`,
      code: "INVALID_ARGUMENT",
      call: (c) => c.verbosity(level),
    });
  }
  const json: Array<[string, "auto"]> = [['"json"', "json" as unknown as "auto"]];
  cases.push(
    ...everyCall("INVALID_ARGUMENT", "as", json, [
      ["get", (c, as) => c.get("k", { as })],
      ["gets", (c, as) => c.gets("k", { as })],
      ["getMany", (c, as) => c.getMany(["k"], { as })],
      ["getAndTouch", (c, as) => c.getAndTouch("k", 1, { as })],
    ]),
    {
      what: "close() with timeout -1",
      code: "INVALID_ARGUMENT",
      call: (c) => c.close({ timeout: -1 }),
    },
  );
  await assertRejectedUnsent(server, client, cases);
  assert.equal(client.closed, false);
  assert.equal((await client.stats()).get("cmd_flush"), "0");
});

test("Client.gets() rejects an `as` naming an Object.prototype member with INVALID_ARGUMENT", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("k", "v");
  await assertRejectedUnsent(
    server,
    client,
    everyCall(
      "INVALID_ARGUMENT",
      "as",
      ["constructor", "toString", "hasOwnProperty", "__proto__"].map((name) =>
        [JSON.stringify(name), name as unknown as "auto"] as const
      ),
      [["gets", (c, as) => c.gets("k", { as })]],
    ),
  );
});

// --- addresses and options ---------------------------------------------------------------------

test("connect() rejects bad addresses with INVALID_ARGUMENT and opens nothing", async () => {
  await using server = await startMemcached();
  const before = await rawStats(server);
  const addresses: unknown[] = [
    "host:99999",
    "host:abc",
    "",
    "host:",
    ":11211",
    "host:0",
    "a:b:c",
    "[::1",
    "[::1]x",
    "with space:11211",
    { host: "", port: 11211 },
    { host: "127.0.0.1", port: 0 },
    { host: "127.0.0.1", port: 1.5 },
    { host: "127.0.0.1", port: 65536 },
    { host: 42 },
    { path: "" },
    [],
    "host:11211:0",
    "host:11211:x",
    `${server.address}:1.5`,
    { host: "127.0.0.1", port: 11211, weight: 0 },
    { path: "/tmp/x.sock", weight: -1 },
    [server.address, "host:99999"],
    42,
    null,
  ];
  for (const address of addresses) {
    await assertRejects(
      `connect(${label(address)})`,
      "INVALID_ARGUMENT",
      () => connect(address as ServerAddress),
    );
  }
  const after = await rawStats(server);
  assert.equal(Number(after.get("total_connections")) - Number(before.get("total_connections")), 1);
});

test("connect() rejects bad ClientOptions with INVALID_ARGUMENT or INVALID_TTL and opens nothing", async () => {
  await using server = await startMemcached();
  const before = await rawStats(server);
  const bad: Array<[ClientOptions, ErrorCode]> = [];
  for (const name of ["timeout", "connectTimeout", "closeTimeout", "maxInFlight", "maxQueued"]) {
    for (const value of [0, -5, NaN, Infinity, "100"]) {
      bad.push([{ [name]: value } as ClientOptions, "INVALID_ARGUMENT"]);
    }
  }
  for (const value of [0, -1, NaN, "1024"]) {
    bad.push([{ maxValueSize: value } as unknown as ClientOptions, "INVALID_ARGUMENT"]);
  }
  for (const value of [-1, 1.5, NaN]) bad.push([{ defaultTtl: value }, "INVALID_TTL"]);
  for (const [options, code] of bad) {
    await assertRejects(
      `connect() with ${label(options)}`,
      code,
      () => connect(server.address, options),
    );
  }
  const after = await rawStats(server);
  assert.equal(Number(after.get("total_connections")) - Number(before.get("total_connections")), 1);
});

// --- lifecycle ---------------------------------------------------------------------------------

test("Client methods reject with CLIENT_CLOSED after close()", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address);
  await client.set("k", "v");
  await client.close();
  assert.equal(client.closed, true);
  assertIdle(client);
  const before = await rawStats(server);
  const calls: Array<[string, () => Promise<unknown>]> = [
    ["open", () => client.open()],
    ["get", () => client.get("k")],
    ["gets", () => client.gets("k")],
    ["getAndTouch", () => client.getAndTouch("k", 1)],
    ["getMany", () => client.getMany(["k"])],
    ["set", () => client.set("k", "v")],
    ["add", () => client.add("k", "v")],
    ["replace", () => client.replace("k", "v")],
    ["append", () => client.append("k", "v")],
    ["prepend", () => client.prepend("k", "v")],
    ["cas", () => client.cas("k", "v", 1n)],
    ["delete", () => client.delete("k")],
    ["incr", () => client.incr("k")],
    ["decr", () => client.decr("k")],
    ["touch", () => client.touch("k", 1)],
    ["flush", () => client.flush()],
    ["version", () => client.version()],
    ["stats", () => client.stats()],
    ["verbosity", () => client.verbosity(0)],
  ];
  for (const [name, call] of calls) {
    await assertRejects(`${name}() after close()`, "CLIENT_CLOSED", call);
  }
  assert.equal(await client.close(), undefined);
  const after = await rawStats(server);
  for (const name of WATCHED) assert.equal(after.get(name), before.get(name), name);
  const read = Number(after.get("bytes_read")) - Number(before.get("bytes_read"));
  assert.equal(read, RAW_STATS_BYTES, "the server read bytes after close()");
});

test("Client methods reject with CLIENT_CLOSED after destroy()", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address);
  client.destroy();
  assert.equal(client.closed, true);
  await assertRejects("get() after destroy()", "CLIENT_CLOSED", () => client.get("k"));
  await assertRejects("set() after destroy()", "CLIENT_CLOSED", () => client.set("k", "v"));
  await client.close();
  assertIdle(client);
});

test("Client.getMany() of no keys rejects with CLIENT_CLOSED after close()", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address);
  await client.close();
  await assertRejects("getMany([]) after close()", "CLIENT_CLOSED", () => client.getMany([]));
});

// --- connecting --------------------------------------------------------------------------------

test("connect() to a port with nothing listening rejects with CONNECT_FAILED", async () => {
  const port = await pickFreePort();
  const error = await assertRejects(
    "connect() to a closed port",
    "CONNECT_FAILED",
    () => connect(`127.0.0.1:${port}`),
  );
  assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message);
  const client = new Client({ host: "127.0.0.1", port });
  await assertRejects("get() with no server", "CONNECT_FAILED", () => client.get("k"));
  await assertRejects("set() with no server", "CONNECT_FAILED", () => client.set("k", "v"));
  await client.close();
});

test("connect() to a missing unix socket rejects with CONNECT_FAILED", async () => {
  await using server = await startMemcached({ unixSocket: true });
  const path = `${server.socketPath}.missing`;
  await assertRejects("connect() to a missing socket", "CONNECT_FAILED", () => connect(path));
});

test("connect() rejects with CONNECT_TIMEOUT when the connector never settles", async () => {
  const hanging: Connector = () => new Promise(() => {});
  const started = Date.now();
  await assertRejects(
    "connect() with a hanging connector",
    "CONNECT_TIMEOUT",
    () => connect("127.0.0.1:1", { connector: hanging, connectTimeout: 50 }),
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 45 && elapsed < 1_000, `${elapsed} ms`);
});

test("connect() aborts the connector's signal on CONNECT_TIMEOUT", async () => {
  const signals: AbortSignal[] = [];
  const abortable: Connector = (_endpoint, _handlers, { signal }) => {
    signals.push(signal);
    return new Promise((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  };
  await assertRejects(
    "connect() with a slow connector",
    "CONNECT_TIMEOUT",
    () => connect({ host: "127.0.0.1", port: 1 }, { connector: abortable, connectTimeout: 50 }),
  );
  assert.equal(signals.length, 1);
  assert.equal(signals[0]?.aborted, true);
  // A request on a client that cannot connect rejects with the same code and leaks nothing.
  const client = new Client("127.0.0.1:1", { connector: abortable, connectTimeout: 50 });
  await assertRejects("get() with a slow connector", "CONNECT_TIMEOUT", () => client.get("k"));
  await client.close();
  assert.equal(signals.length, 2);
  assert.equal(signals[1]?.aborted, true);
});

test("Errors are MemcachedErrors named MemcachedError that isMemcachedError() recognises", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const error = await rejection(client.get("bad key"), "get()");
  assert.ok(error instanceof Error);
  assert.ok(error instanceof MemcachedError);
  assert.equal(error.name, "MemcachedError");
  assert.equal(error.code, "INVALID_KEY");
  assert.ok(isMemcachedError(error));
  assert.ok(isMemcachedError(error, "INVALID_KEY"));
  assert.equal(isMemcachedError(error, "TIMEOUT"), false);
  assert.equal(isMemcachedError(new Error("other")), false);
  assert.equal(isMemcachedError({ code: "INVALID_KEY", name: "MemcachedError" }), false);
  assert.equal(isMemcachedError(undefined), false);
  assert.match(String(error), /^MemcachedError: Cannot /);
});
