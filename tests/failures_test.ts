/**
 * Fault tests against real memcached processes: timeouts and aborts in the middle of a
 * pipeline, a server killed, stopped or sending garbage, connections reset or swallowed by a
 * proxy, and closing the client under load. Every test bounds each wait by a deadline, so a
 * request that never settles fails the test instead of hanging the run, and every test asserts
 * the typed error code callers would see.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "./_harness.ts";
import { type MemcachedServer, rawCommand, startMemcached } from "./_memcached.ts";
import { type Proxy, startProxy } from "./_proxy.ts";
import {
  Client,
  connect,
  type Connector,
  type ErrorCode,
  isMemcachedError,
  type Value,
} from "../mod.ts";
import { bunConnector } from "../src/adapters/bun.ts";
import { denoConnector } from "../src/adapters/deno.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** How one request ended. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Never rejects: turns a request's promise into its {@linkcode Outcome}. */
function settle(promise: Promise<unknown>): Promise<Outcome> {
  return promise.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }));
}

/** Resolves with `promise`, or rejects if it has not settled within `ms`; clears its timer. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 5 ms until it holds; throws after `ms`. */
async function waitFor(what: string, condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The error code of a failed outcome, for messages. */
function codeOf(outcome: Outcome): string {
  if (outcome.ok) return "(resolved)";
  return isMemcachedError(outcome.error) ? outcome.error.code : String(outcome.error);
}

/** Asserts that `outcome` failed with a {@linkcode MemcachedError} whose code is in `codes`. */
function assertFailed(outcome: Outcome, codes: readonly ErrorCode[], what: string): void {
  assert.ok(
    !outcome.ok && codes.some((code) => isMemcachedError(outcome.error, code)),
    `${what}: expected ${codes.join(" or ")}, got ${codeOf(outcome)}`,
  );
}

/** Counts outcomes by code ("ok" for resolved ones). */
function tally(outcomes: readonly Outcome[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    const key = outcome.ok ? "ok" : codeOf(outcome);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Key number `i`; every seeded key holds its own name as its value. */
function key(i: number): string {
  return `key:${i}`;
}

/** Stores `key(i)` = `key(i)` for `i` in `0..n-1`. */
async function seed(client: Client, n: number): Promise<void> {
  for (let start = 0; start < n; start += 1_000) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(n, start + 1_000); i++) batch.push(client.set(key(i), key(i)));
    await Promise.all(batch);
  }
}

/** A get whose outcome, if it resolved, must be the key's own name. */
async function checkedGet(
  client: Client,
  k: string,
  options?: { timeout?: number; signal?: AbortSignal },
): Promise<Outcome> {
  const outcome = await settle(client.get(k, options));
  if (outcome.ok) assert.equal(outcome.value, k, `get(${k}) resolved with another key's value`);
  return outcome;
}

/** A getMany whose map, if it resolved, must hold every key with its own name. */
async function checkedGetMany(
  client: Client,
  keys: string[],
  options?: { timeout?: number },
): Promise<Outcome> {
  const outcome = await settle(client.getMany(keys, options));
  if (outcome.ok) {
    const found = outcome.value as Map<string, Value>;
    assert.equal(found.size, keys.length, `getMany(${keys[0]}...) missed keys`);
    for (const [k, v] of found) assert.equal(v, k, `getMany() gave ${k} another key's value`);
  }
  return outcome;
}

/** A set of a key to its own name (so the invariant holds whether or not it lands). */
async function checkedSet(
  client: Client,
  k: string,
  options?: { timeout?: number },
): Promise<Outcome> {
  const outcome = await settle(client.set(k, k, options));
  if (outcome.ok) assert.equal(outcome.value, undefined);
  return outcome;
}

/** Reads numeric general stats straight from the server, bypassing client and proxy. */
async function serverStat(server: MemcachedServer, name: string): Promise<number> {
  const text = await rawCommand(server, "stats\r\n");
  const match = new RegExp(`^STAT ${name} (\\d+)\\r$`, "m").exec(text);
  assert.ok(match !== null, `no stat ${name}`);
  return Number(match[1]);
}

/** Whether the server holds `k`, asked without the client under test. */
async function serverHas(server: MemcachedServer, k: string): Promise<boolean> {
  return (await rawCommand(server, `mg ${k}\r\n`)) !== "EN\r\n";
}

/** Whether process `pid` is stopped (state `T` in `/proc/PID/stat`, Linux only). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
}

function assertIdle(client: Client): void {
  assert.deepEqual(client.counters(), { connections: 0, inFlight: 0, queued: 0 });
}

const encoder = new TextEncoder();
const KEYS = 3_000;

/** This runtime's own connector, to wrap in a slow one. */
const runtimeConnector: Connector = "Bun" in globalThis ? bunConnector : denoConnector;

/** A connector whose connections open only once `release()` is called. */
function gatedConnector(): { connector: Connector; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  return {
    connector: async (endpoint, handlers, options) => {
      await gate;
      return runtimeConnector(endpoint, handlers, options);
    },
    release,
  };
}

// ---------------------------------------------------------------------------------------------
// Timeouts in the middle of a pipeline

/**
 * One round: a mix of short-timeout and long-timeout gets, sets and getMany batches is written
 * while the proxy holds (or delays) the traffic, so the short ones time out after being written
 * and their replies arrive later among everybody else's.
 */
async function mixedRound(
  client: Client,
  proxy: Proxy,
  round: number,
  hold: "pause" | "delay",
): Promise<void> {
  const short: Promise<Outcome>[] = [];
  const long: Promise<Outcome>[] = [];
  if (hold === "pause") proxy.pause();
  else proxy.delay(100);
  const base = round * 240;
  for (let i = 0; i < 240; i++) {
    const k = key((base + i) % KEYS);
    const batch = [0, 1, 2, 3, 4].map((j) => key((base + i + j * 7) % KEYS));
    switch (i % 6) {
      case 0:
        short.push(checkedGet(client, k, { timeout: 30 }));
        break;
      case 1:
        long.push(checkedGet(client, k, { timeout: 10_000 }));
        break;
      case 2:
        short.push(checkedSet(client, k, { timeout: 30 }));
        break;
      case 3:
        short.push(checkedGetMany(client, batch, { timeout: 30 }));
        break;
      case 4:
        long.push(checkedGetMany(client, batch, { timeout: 10_000 }));
        break;
      default:
        long.push(checkedSet(client, k, { timeout: 10_000 }));
    }
  }
  await waitFor("the round to be written", () => client.counters().queued === 0);
  const shortOutcomes = await within(5_000, "short-timeout requests", Promise.all(short));
  if (hold === "pause") {
    // Nothing can come back while the proxy holds the traffic: each must have timed out.
    for (const outcome of shortOutcomes) assertFailed(outcome, ["TIMEOUT"], "short request");
    proxy.resume();
  } else {
    // With 100 ms each way a 30 ms request times out unless the event loop stalled longer than
    // that; a reply that still won the race must be the right one (checked above).
    for (const outcome of shortOutcomes) {
      if (!outcome.ok) assertFailed(outcome, ["TIMEOUT"], "short request");
    }
    assert.ok(shortOutcomes.some((outcome) => !outcome.ok), "no short request timed out");
    proxy.delay(0);
  }
  for (const outcome of await within(10_000, "long-timeout requests", Promise.all(long))) {
    assert.ok(outcome.ok, `long request failed with ${codeOf(outcome)}`);
  }
  // Thousands of further requests after the abandoned replies: each must get its own reply.
  const after: Promise<Outcome>[] = [];
  for (let i = 0; i < 2_000; i++) after.push(checkedGet(client, key((base + i * 13) % KEYS)));
  for (let i = 0; i < 100; i++) {
    after.push(checkedGetMany(client, [0, 1, 2, 3].map((j) => key((base + i * 4 + j) % KEYS))));
    after.push(checkedSet(client, key((base + i * 17) % KEYS)));
  }
  for (const outcome of await within(10_000, "follow-up requests", Promise.all(after))) {
    assert.ok(outcome.ok, `follow-up request failed with ${codeOf(outcome)}`);
  }
}

test("Requests that time out mid-pipeline never receive or steal another caller's reply", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  try {
    await seed(client, KEYS);
    const connectionsBefore = await serverStat(server, "total_connections");
    for (let round = 0; round < 6; round++) {
      await mixedRound(client, proxy, round, round % 2 === 0 ? "pause" : "delay");
    }
    // Abandoned replies were read and dropped on the same connection: no reconnect happened.
    // (The +1 is the raw connection of this second `stats` call itself.)
    assert.equal(await serverStat(server, "total_connections"), connectionsBefore + 1);
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// Aborts

test("A request with an already-aborted signal rejects with ABORTED and writes nothing", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address, { timeout: 10_000 });
  try {
    const getsBefore = await serverStat(server, "cmd_get");
    const signal = AbortSignal.abort(new Error("gone"));
    assertFailed(await settle(client.get("a", { signal })), ["ABORTED"], "get()");
    assertFailed(await settle(client.getMany(["a", "b"], { signal })), ["ABORTED"], "getMany()");
    assertFailed(await settle(client.set("aborted", "x", { signal })), ["ABORTED"], "set()");
    assertFailed(await settle(client.incr("n", 1, { signal })), ["ABORTED"], "incr()");
    // One real get after them: if anything aborted had been queued, it would leave with it.
    assert.equal(await client.get("a"), undefined);
    assert.equal(await serverStat(server, "cmd_get"), getsBefore + 1);
    assert.equal(await serverStat(server, "cmd_set"), 0);
    assert.equal(await serverHas(server, "aborted"), false);
  } finally {
    await client.close();
  }
  assertIdle(client);
});

test("A queued request that is aborted rejects with ABORTED and is never sent", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { maxInFlight: 1, timeout: 10_000 });
  try {
    proxy.pause();
    const first = settle(client.get("first"));
    await waitFor("the first request to be written", () => client.counters().inFlight === 1);
    const controller = new AbortController();
    const queued = settle(client.set("aborted", "x", { signal: controller.signal }));
    const kept = settle(client.set("kept", "y"));
    assert.equal(client.counters().queued, 2);
    controller.abort();
    // It rejects at once, while the proxy still holds everything.
    assertFailed(await within(1_000, "the aborted request", queued), ["ABORTED"], "set()");
    assert.equal(client.counters().queued, 1);
    proxy.resume();
    assert.deepEqual(await within(5_000, "the first request", first), {
      ok: true,
      value: undefined,
    });
    assert.deepEqual(await within(5_000, "the request behind it", kept), {
      ok: true,
      value: undefined,
    });
    assert.equal(await serverHas(server, "aborted"), false);
    assert.equal(await serverHas(server, "kept"), true);
    assert.equal(await serverStat(server, "cmd_set"), 1);
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

test("Aborting a written request rejects it at once and later replies still reach their callers", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  try {
    await seed(client, 1_000);
    proxy.pause();
    const controllers: AbortController[] = [];
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 200; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      outcomes.push(checkedGet(client, key(i), { signal: controller.signal }));
    }
    await waitFor("all 200 requests to be written", () => client.counters().inFlight === 200);
    for (let i = 0; i < 200; i += 2) controllers[i]!.abort();
    const aborted = outcomes.filter((_, i) => i % 2 === 0);
    for (const outcome of await within(1_000, "aborted requests", Promise.all(aborted))) {
      assertFailed(outcome, ["ABORTED"], "aborted get()");
    }
    // Abandoned, not forgotten: they stay in flight until their replies are read.
    assert.equal(client.counters().inFlight, 200);
    proxy.resume();
    const rest = outcomes.filter((_, i) => i % 2 === 1);
    for (const outcome of await within(5_000, "other requests", Promise.all(rest))) {
      assert.ok(outcome.ok, `get() failed with ${codeOf(outcome)}`);
    }
    // Aborting after completion changes nothing.
    for (const controller of controllers) controller.abort();
    const after: Promise<Outcome>[] = [];
    for (let i = 0; i < 1_000; i++) after.push(checkedGet(client, key(i)));
    for (const outcome of await within(5_000, "later requests", Promise.all(after))) {
      assert.ok(outcome.ok, `later get() failed with ${codeOf(outcome)}`);
    }
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

test("An aborted request that is never answered does not hold the connection past its stall timeout", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 200, maxInFlight: 1 });
  try {
    await client.set("k", "v", { timeout: 5_000 });
    // The request's bytes vanish, so its reply never comes; its caller gives up at once.
    proxy.blackhole(true);
    const controller = new AbortController();
    const lost = settle(client.get("lost", { timeout: 30_000, signal: controller.signal }));
    await waitFor("the request to be written", () => client.counters().inFlight === 1);
    controller.abort();
    assertFailed(await within(1_000, "the aborted request", lost), ["ABORTED"], "get()");
    proxy.blackhole(false);
    // The server is healthy again, but the aborted request still fills the in-flight window.
    // Requests queued behind it time out unsent, and the connection has been silent with
    // requests overdue: within a few `timeout`s it must be dropped and replaced, not kept until
    // the aborted request's own 30 s deadline.
    const started = Date.now();
    let value: unknown;
    for (let attempt = 0; attempt < 20 && Date.now() - started < 3_000; attempt++) {
      const outcome = await within(5_000, "get()", settle(client.get("k")));
      if (outcome.ok) {
        value = outcome.value;
        break;
      }
      // Queued behind the aborted request it times out unsent, or is rejected when the silent
      // connection is dropped.
      assertFailed(outcome, ["TIMEOUT", "CONNECTION_CLOSED"], "get() behind the aborted request");
    }
    assert.equal(value, "v", "the connection stayed wedged behind the aborted request");
  } finally {
    proxy.blackhole(false);
    await client.close();
  }
  assertIdle(client);
});

test("Requests sharing one AbortSignal remove their abort listeners when they complete", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address, { timeout: 10_000 });
  try {
    await seed(client, 1_000);
    const controller = new AbortController();
    const { signal } = controller;
    // Spy on the signal's listeners: the client must remove each one when its request settles.
    const live = new Set<EventListenerOrEventListenerObject>();
    let added = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    Object.defineProperty(signal, "addEventListener", {
      value: (
        type: string,
        listener: EventListenerOrEventListenerObject,
        options?: boolean | AddEventListenerOptions,
      ) => {
        if (type === "abort") {
          added++;
          live.add(listener);
        }
        add(type, listener, options);
      },
    });
    Object.defineProperty(signal, "removeEventListener", {
      value: (
        type: string,
        listener: EventListenerOrEventListenerObject,
        options?: boolean | EventListenerOptions,
      ) => {
        if (type === "abort") live.delete(listener);
        remove(type, listener, options);
      },
    });
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const k = key(i % 1_000);
      if (i % 10 === 3) outcomes.push(checkedGetMany(client, [k, key((i + 1) % 1_000)]));
      else if (i % 10 === 7) outcomes.push(settle(client.set(k, k, { signal })));
      else outcomes.push(checkedGet(client, k, { signal }));
    }
    for (const outcome of await within(20_000, "10,000 requests", Promise.all(outcomes))) {
      assert.ok(outcome.ok, `request failed with ${codeOf(outcome)}`);
    }
    assert.ok(added >= 9_000, `only ${added} abort listeners were added`);
    assert.equal(live.size, 0, `${live.size} abort listeners were left on the signal`);
    controller.abort();
    assert.equal(await client.get(key(1)), key(1));
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// Timeouts before the write, queue limits

test("A request that times out while queued rejects with TIMEOUT and is never sent", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { maxInFlight: 1, timeout: 10_000 });
  try {
    proxy.pause();
    const first = settle(client.get("first"));
    await waitFor("the first request to be written", () => client.counters().inFlight === 1);
    const late = settle(client.set("late", "x", { timeout: 50 }));
    assertFailed(await within(2_000, "the queued request", late), ["TIMEOUT"], "set()");
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 1, queued: 0 });
    proxy.resume();
    assert.deepEqual(await within(5_000, "the first request", first), {
      ok: true,
      value: undefined,
    });
    assert.equal(await client.get("late"), undefined);
    assert.equal(await serverStat(server, "cmd_set"), 0);
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

test("The request beyond maxQueued rejects with QUEUE_FULL and the others are unaffected", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { maxInFlight: 1, maxQueued: 10, timeout: 10_000 });
  try {
    // One at a time: a burst of more than maxQueued calls in one tick is itself over the limit.
    for (let i = 0; i < 13; i++) await client.set(key(i), key(i));
    proxy.pause();
    const outcomes = [checkedGet(client, key(0))];
    await waitFor("the first request to be written", () => client.counters().inFlight === 1);
    for (let i = 1; i < 12; i++) outcomes.push(checkedGet(client, key(i)));
    assertFailed(await within(1_000, "the 12th request", outcomes[11]!), ["QUEUE_FULL"], "12th");
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 1, queued: 10 });
    proxy.resume();
    const others = await within(5_000, "the other requests", Promise.all(outcomes.slice(0, 11)));
    for (const outcome of others) assert.ok(outcome.ok, `get() failed with ${codeOf(outcome)}`);
    assert.equal(await client.get(key(12)), key(12));
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

test("Queued requests that were aborted or timed out no longer count against maxQueued", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { maxInFlight: 1, maxQueued: 10, timeout: 10_000 });
  try {
    proxy.pause();
    const first = settle(client.get("first"));
    await waitFor("the first request to be written", () => client.counters().inFlight === 1);
    const controller = new AbortController();
    const gone: Promise<Outcome>[] = [];
    for (let i = 0; i < 5; i++) {
      gone.push(settle(client.get(key(i), { signal: controller.signal })));
    }
    for (let i = 5; i < 10; i++) gone.push(settle(client.get(key(i), { timeout: 30 })));
    controller.abort();
    for (const outcome of await within(2_000, "given-up requests", Promise.all(gone))) {
      assertFailed(outcome, ["ABORTED", "TIMEOUT"], "given-up get()");
    }
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 1, queued: 0 });
    // Nothing is waiting to be written, so there is room for a request.
    const next = settle(client.get("next"));
    proxy.resume();
    assert.deepEqual(await within(5_000, "the next request", next), { ok: true, value: undefined });
    assert.deepEqual(await within(5_000, "the first request", first), {
      ok: true,
      value: undefined,
    });
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// Requests waiting for their connection to open

test("A request waiting for its connection rejects with ABORTED at once and is never sent", async () => {
  await using server = await startMemcached();
  const { connector, release } = gatedConnector();
  const client = new Client(server.address, { connector, connectTimeout: 10_000 });
  try {
    const controller = new AbortController();
    const aborted = settle(client.set("aborted", "x", { signal: controller.signal }));
    controller.abort();
    assertFailed(
      await within(1_000, "a request aborted while connecting", aborted),
      ["ABORTED"],
      "set()",
    );
    release();
    await within(5_000, "set() once connected", client.set("kept", "y"));
    assert.equal(await serverHas(server, "aborted"), false);
    assert.equal(await serverStat(server, "cmd_set"), 1);
  } finally {
    release();
    await client.close();
  }
  assertIdle(client);
});

test("A request waiting for its connection rejects with TIMEOUT at its deadline and is never sent", async () => {
  await using server = await startMemcached();
  const { connector, release } = gatedConnector();
  const client = new Client(server.address, { connector, connectTimeout: 10_000 });
  try {
    const late = settle(client.set("late", "x", { timeout: 50 }));
    assertFailed(
      await within(1_000, "a request timing out while connecting", late),
      ["TIMEOUT"],
      "set()",
    );
    release();
    await within(5_000, "set() once connected", client.set("kept", "y"));
    assert.equal(await serverHas(server, "late"), false);
    assert.equal(await serverStat(server, "cmd_set"), 1);
  } finally {
    release();
    await client.close();
  }
  assertIdle(client);
});

test("A request whose deadline passed while connecting is not sent once connected", async () => {
  await using server = await startMemcached();
  const { connector, release } = gatedConnector();
  const client = new Client(server.address, { connector, connectTimeout: 10_000 });
  try {
    const late = settle(client.set("late", "x", { timeout: 20 }));
    // Open the connection only well after the deadline, however the rejection is timed.
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    assertFailed(await within(5_000, "the late request", late), ["TIMEOUT"], "set()");
    await within(5_000, "set() once connected", client.set("kept", "y"));
    assert.equal(await serverHas(server, "late"), false);
    assert.equal(await serverStat(server, "cmd_set"), 1);
  } finally {
    release();
    await client.close();
  }
  assertIdle(client);
});

test("Client.close() waits for a request that is still waiting for its connection", async () => {
  await using server = await startMemcached();
  const { connector, release } = gatedConnector();
  const client = new Client(server.address, { connector, connectTimeout: 10_000 });
  try {
    const pending = settle(client.set("pending", "x"));
    const closing = client.close();
    release();
    await within(5_000, "close()", closing);
    assert.deepEqual(await within(1_000, "the pending request", pending), {
      ok: true,
      value: undefined,
    });
    assert.equal(await serverHas(server, "pending"), true);
  } finally {
    release();
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// The server dies, stops, or sends garbage

test("Killing the server mid-pipeline rejects every pending request and a restart is picked up", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address, { timeout: 10_000 });
  try {
    await seed(client, 1_000);
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 5_000; i++) outcomes.push(checkedGet(client, key(i % 1_000)));
    server.kill("SIGKILL");
    const settled = await within(10_000, "5,000 pending requests", Promise.all(outcomes));
    for (const outcome of settled) {
      if (!outcome.ok) assertFailed(outcome, ["CONNECTION_CLOSED"], "pending get()");
    }
    assert.ok((tally(settled).get("CONNECTION_CLOSED") ?? 0) > 0, "nothing was rejected");
    await within(5_000, "memcached to exit", server.waitExit());
    assertFailed(await settle(client.get("a")), ["CONNECT_FAILED"], "get() while down");
    await server.restart();
    // The same client reconnects on its next call.
    await within(5_000, "set() after restart", client.set("after", "restart"));
    assert.equal(await client.get("after"), "restart");
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    await client.close();
  }
  assertIdle(client);
});

test("A stopped server makes requests time out, then the connection is dropped and replaced", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address, { timeout: 200 });
  try {
    await client.set("k", "v", { timeout: 5_000 });
    server.kill("SIGSTOP");
    await waitFor("memcached to stop", () => isStopped(server.pid));
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 100; i++) outcomes.push(settle(client.get("k")));
    for (
      const outcome of await within(5_000, "requests to a stopped server", Promise.all(outcomes))
    ) {
      assertFailed(outcome, ["TIMEOUT"], "get()");
    }
    // Overdue requests and silence for another `timeout` ms: the connection is dropped.
    await waitFor("the stalled connection to be dropped", () => {
      const c = client.counters();
      return c.connections === 0 && c.inFlight === 0;
    });
    server.kill("SIGCONT");
    assert.equal(
      await within(5_000, "get() after SIGCONT", client.get("k", { timeout: 5_000 })),
      "v",
    );
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    server.kill("SIGCONT");
    await client.close();
  }
  assertIdle(client);
});

test("Garbage from the server rejects the requests waiting for replies and the next call reconnects", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  try {
    await seed(client, 100);
    proxy.pause();
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 50; i++) outcomes.push(checkedGet(client, key(i)));
    await waitFor("requests to be written", () => client.counters().inFlight === 50);
    proxy.inject(encoder.encode("XYZ garbage\r\n"));
    for (const outcome of await within(5_000, "requests", Promise.all(outcomes))) {
      assertFailed(outcome, ["PROTOCOL_ERROR", "CONNECTION_CLOSED"], "get()");
    }
    proxy.resume();
    assert.equal(await within(5_000, "get() after garbage", client.get(key(1))), key(1));
  } finally {
    proxy.resume();
    await client.close();
  }
  assertIdle(client);
});

test("Garbage injected among flowing replies never yields a wrong value", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  try {
    await seed(client, 1_000);
    for (let round = 0; round < 3; round++) {
      proxy.delay(10);
      const outcomes: Promise<Outcome>[] = [];
      for (let i = 0; i < 2_000; i++) outcomes.push(checkedGet(client, key(i % 1_000)));
      // Inject as soon as the first reply is delivered: later replies are still on their way.
      void outcomes[0]!.then(() => proxy.inject(encoder.encode("XYZ garbage\r\n")));
      const settled = await within(10_000, "requests", Promise.all(outcomes));
      for (const outcome of settled) {
        if (!outcome.ok) assertFailed(outcome, ["PROTOCOL_ERROR", "CONNECTION_CLOSED"], "get()");
      }
      assert.ok(settled.some((outcome) => !outcome.ok), "the garbage went unnoticed");
      proxy.delay(0);
      assert.equal(await within(5_000, "get() after garbage", client.get(key(round))), key(round));
    }
  } finally {
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// The network fails

test("A connection reset mid-pipeline rejects pending requests with CONNECTION_CLOSED", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  try {
    await seed(client, 1_000);
    proxy.delay(20);
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 2_000; i++) outcomes.push(checkedGet(client, key(i % 1_000)));
    void outcomes[0]!.then(() => proxy.reset());
    const settled = await within(10_000, "requests", Promise.all(outcomes));
    for (const outcome of settled) {
      if (!outcome.ok) assertFailed(outcome, ["CONNECTION_CLOSED"], "get()");
    }
    const counts = tally(settled);
    assert.ok((counts.get("ok") ?? 0) > 0 && (counts.get("CONNECTION_CLOSED") ?? 0) > 0);
    proxy.delay(0);
    assert.equal(await within(5_000, "get() after reset", client.get(key(7))), key(7));
  } finally {
    await client.close();
  }
  assertIdle(client);
});

test("Requests into a black hole time out and the silent connection is replaced", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 100 });
  try {
    await client.set("k", "v", { timeout: 5_000 });
    proxy.blackhole(true);
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 200; i++) outcomes.push(settle(client.get("k")));
    outcomes.push(settle(client.getMany(["k", "j"])), settle(client.set("k", "w")));
    for (const outcome of await within(5_000, "swallowed requests", Promise.all(outcomes))) {
      assertFailed(outcome, ["TIMEOUT"], "swallowed request");
    }
    await waitFor("the silent connection to be dropped", () => {
      const c = client.counters();
      return c.connections === 0 && c.inFlight === 0;
    });
    proxy.blackhole(false);
    assert.equal(
      await within(5_000, "get() after the black hole", client.get("k", { timeout: 5_000 })),
      "v",
    );
  } finally {
    await client.close();
  }
  assertIdle(client);
});

// ---------------------------------------------------------------------------------------------
// Closing under load

test("Client.close() with a short timeout under load resolves some requests and rejects the rest with CLIENT_CLOSED", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  await seed(client, 1_000);
  const outcomes: Promise<Outcome>[] = [];
  for (let i = 0; i < 10_000; i++) outcomes.push(checkedGet(client, key(i % 1_000)));
  // Once replies are flowing, hold the rest in the proxy and close with 20 ms to spare.
  let closing: Promise<void> | undefined;
  void outcomes[0]!.then(() => {
    proxy.pause();
    closing = client.close({ timeout: 20 });
  });
  const settled = await within(10_000, "10,000 requests", Promise.all(outcomes));
  assert.ok(closing !== undefined);
  await within(5_000, "close()", closing);
  proxy.resume();
  for (const outcome of settled) {
    if (!outcome.ok) assertFailed(outcome, ["CLIENT_CLOSED"], "get()");
  }
  const counts = tally(settled);
  assert.ok((counts.get("ok") ?? 0) > 0, "nothing resolved");
  assert.ok((counts.get("CLIENT_CLOSED") ?? 0) > 0, "nothing was cut short");
  assertFailed(await settle(client.get(key(1))), ["CLIENT_CLOSED"], "get() after close()");
  assertFailed(await settle(client.set("x", "y")), ["CLIENT_CLOSED"], "set() after close()");
  assert.equal(client.closed, true);
  assertIdle(client);
});

test("Client.destroy() under load rejects every pending request with CLIENT_CLOSED", async () => {
  await using server = await startMemcached();
  const client = await connect(server.address, { timeout: 10_000 });
  await seed(client, 1_000);
  const outcomes: Promise<Outcome>[] = [];
  for (let i = 0; i < 10_000; i++) outcomes.push(checkedGet(client, key(i % 1_000)));
  // Destroy as soon as replies flow: at most maxInFlight requests can have been answered.
  void outcomes[0]!.then(() => client.destroy());
  const settled = await within(10_000, "10,000 requests", Promise.all(outcomes));
  const counts = tally(settled);
  const resolved = counts.get("ok") ?? 0;
  assert.ok(resolved > 0 && resolved <= 256, `${resolved} requests resolved`);
  assert.equal(counts.get("CLIENT_CLOSED") ?? 0, 10_000 - resolved);
  assertFailed(await settle(client.get(key(1))), ["CLIENT_CLOSED"], "get() after destroy()");
  // destroy() lets sockets finish closing in the background; close() waits for that.
  await within(5_000, "close() after destroy()", client.close());
  assertIdle(client);
});

test("Leaving an await using block with requests in flight closes gracefully", async () => {
  await using server = await startMemcached();
  let held: Client | undefined;
  let outcomes: Promise<Outcome>[] = [];
  {
    await using client = await connect(server.address, { timeout: 10_000 });
    held = client;
    await seed(client, 1_000);
    outcomes = Array.from({ length: 5_000 }, (_, i) => checkedGet(client, key(i % 1_000)));
  }
  assert.equal(held.closed, true);
  assertIdle(held);
  for (const outcome of await within(1_000, "requests", Promise.all(outcomes))) {
    assert.ok(outcome.ok, `get() failed with ${codeOf(outcome)}`);
  }
});

test("Leaving a using block with requests in flight rejects them with CLIENT_CLOSED", async () => {
  await using server = await startMemcached();
  let held: Client | undefined;
  let outcomes: Promise<Outcome>[] = [];
  {
    using client = await connect(server.address, { timeout: 10_000 });
    held = client;
    outcomes = Array.from({ length: 5_000 }, (_, i) => checkedGet(client, key(i % 1_000)));
  }
  for (const outcome of await within(5_000, "requests", Promise.all(outcomes))) {
    assertFailed(outcome, ["CLIENT_CLOSED"], "get()");
  }
  await within(5_000, "close() after dispose", held.close());
  assertIdle(held);
});

test("Client.close() waits for requests in flight to finish", async () => {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, { timeout: 10_000 });
  await seed(client, 1_000);
  proxy.delay(50);
  const outcomes = Array.from({ length: 1_000 }, (_, i) => checkedGet(client, key(i)));
  await within(10_000, "close()", client.close());
  assertIdle(client);
  for (const outcome of await within(1_000, "requests", Promise.all(outcomes))) {
    assert.ok(outcome.ok, `get() failed with ${codeOf(outcome)}`);
  }
});
