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
import { test } from "./_harness.ts";
import { type MemcachedServer, rawCommand, serverStat, startMemcached } from "./_memcached.ts";
import { type Proxy, startProxy } from "./_proxy.ts";
import {
  assertFailed,
  assertIdle,
  assertOk,
  assertOkOr,
  closeAfter,
  codeOf,
  killUnderLoad,
  type Outcome,
  RESOLVED_UNDEFINED,
  runtimeConnector,
  settle,
  sleep,
  timeOutOnStoppedServer,
  totals,
  utf8,
  waitFor,
  waitForDisconnect,
  within,
} from "./_util.ts";
import {
  Client,
  type ClientOptions,
  connect,
  type Connector,
  type ErrorCode,
  type Value,
} from "../mod.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

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

/** `n` checked gets of the first 1,000 seeded keys, round robin. */
function seededGets(client: Client, n: number): Promise<Outcome>[] {
  return Array.from({ length: n }, (_, i) => checkedGet(client, key(i % 1_000)));
}

/**
 * An all-or-nothing getMany whose map, if it resolved, must hold every key with its own name
 * (a partial getMany is tested in the cluster tests).
 */
async function checkedGetMany(
  client: Client,
  keys: string[],
  options?: { timeout?: number },
): Promise<Outcome> {
  const outcome = await settle(client.getMany(keys, { ...options, allOrNothing: true }));
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

/** Whether the server holds `k`, asked without the client under test. */
async function serverHas(server: MemcachedServer, k: string): Promise<boolean> {
  return (await rawCommand(server, `mg ${k}\r\n`)) !== "EN\r\n";
}

const GARBAGE = utf8("XYZ garbage\r\n");
const KEYS = 3_000;

/** A fresh memcached and a client of it, connected directly or through a proxy. */
interface Setup {
  server: MemcachedServer;
  client: Client;
}

/**
 * Runs `body` with a client connected straight to a fresh memcached, then closes the client
 * and asserts that it is idle.
 */
async function direct(
  options: ClientOptions,
  body: (setup: Setup) => Promise<void>,
): Promise<void> {
  await using server = await startMemcached();
  const client = await connect(server.address, options);
  await closeAfter(client, () => body({ server, client }));
}

/**
 * Runs `body` with a client connected to a fresh memcached through a fault-injection proxy,
 * then lets traffic flow again, closes the client and asserts that it is idle.
 */
async function throughProxy(
  options: ClientOptions,
  body: (setup: Setup & { proxy: Proxy }) => Promise<void>,
): Promise<void> {
  await using server = await startMemcached();
  await using proxy = await startProxy(server);
  const client = await connect(proxy.address, options);
  await closeAfter(client, () => body({ server, proxy, client }), () => {
    proxy.resume();
    proxy.blackhole(false);
    proxy.delay(0);
  });
}

/**
 * Runs `body` with a client of a fresh memcached whose connections open only once `release()`
 * is called, then opens them, closes the client and asserts that it is idle.
 */
async function whileConnecting(
  body: (setup: Setup & { release: () => void }) => Promise<void>,
): Promise<void> {
  await using server = await startMemcached();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const connector: Connector = async (endpoint, handlers, options) => {
    await gate;
    return runtimeConnector(endpoint, handlers, options);
  };
  const client = new Client(server.address, { connector, connectTimeout: 10_000 });
  await closeAfter(client, () => body({ server, client, release }), release);
}

/**
 * Pauses the proxy and sends one get, which fills a client's single in-flight slot; resolves
 * once it is written, with its outcome still to come.
 */
async function holdFirst(client: Client, proxy: Proxy): Promise<{ first: Promise<Outcome> }> {
  proxy.pause();
  const first = settle(client.get("first"));
  await waitFor("the first request to be written", () => client.counters().inFlight === 1);
  return { first };
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
  const quick = { timeout: 30 };
  const patient = { timeout: 10_000 };
  /** Request `i` of the round is of kind `i % 6`: the list it joins and how it is sent. */
  const kinds: Array<[Promise<Outcome>[], (k: string, batch: string[]) => Promise<Outcome>]> = [
    [short, (k) => checkedGet(client, k, quick)],
    [long, (k) => checkedGet(client, k, patient)],
    [short, (k) => checkedSet(client, k, quick)],
    [short, (_, batch) => checkedGetMany(client, batch, quick)],
    [long, (_, batch) => checkedGetMany(client, batch, patient)],
    [long, (k) => checkedSet(client, k, patient)],
  ];
  if (hold === "pause") proxy.pause();
  else proxy.delay(100);
  const base = round * 240;
  for (let i = 0; i < 240; i++) {
    const batch = [0, 1, 2, 3, 4].map((j) => key((base + i + j * 7) % KEYS));
    const [list, send] = kinds[i % 6]!;
    list.push(send(key((base + i) % KEYS), batch));
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
    for (const outcome of shortOutcomes) assertOkOr(outcome, ["TIMEOUT"], "short request");
    assert.ok(shortOutcomes.some((outcome) => !outcome.ok), "no short request timed out");
    proxy.delay(0);
  }
  for (const outcome of await within(10_000, "long-timeout requests", Promise.all(long))) {
    assertOk(outcome, "long request");
  }
  // Thousands of further requests after the abandoned replies: each must get its own reply.
  const after: Promise<Outcome>[] = [];
  for (let i = 0; i < 2_000; i++) after.push(checkedGet(client, key((base + i * 13) % KEYS)));
  for (let i = 0; i < 100; i++) {
    after.push(checkedGetMany(client, [0, 1, 2, 3].map((j) => key((base + i * 4 + j) % KEYS))));
    after.push(checkedSet(client, key((base + i * 17) % KEYS)));
  }
  for (const outcome of await within(10_000, "follow-up requests", Promise.all(after))) {
    assertOk(outcome, "follow-up request");
  }
}

test("Requests that time out mid-pipeline never receive or steal another caller's reply", () =>
  throughProxy({ timeout: 10_000 }, async ({ server, proxy, client }) => {
    await seed(client, KEYS);
    const connectionsBefore = await serverStat(server, "total_connections");
    for (let round = 0; round < 6; round++) {
      await mixedRound(client, proxy, round, round % 2 === 0 ? "pause" : "delay");
    }
    // Abandoned replies were read and dropped on the same connection: no reconnect happened.
    // (The +1 is the raw connection of this second `stats` call itself.)
    assert.equal(await serverStat(server, "total_connections"), connectionsBefore + 1);
    assertIdle(client, 1);
  }));

// ---------------------------------------------------------------------------------------------
// Aborts

test("A request with an already-aborted signal rejects with ABORTED and writes nothing", () =>
  direct({ timeout: 10_000 }, async ({ server, client }) => {
    const getsBefore = await serverStat(server, "cmd_get");
    const signal = AbortSignal.abort(new Error("gone"));
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["get()", () => client.get("a", { signal })],
      ["getMany()", () => client.getMany(["a", "b"], { signal })],
      ["set()", () => client.set("aborted", "x", { signal })],
      ["incr()", () => client.incr("n", 1, { signal })],
    ];
    for (const [what, call] of calls) assertFailed(await settle(call()), ["ABORTED"], what);
    // One real get after them: if anything aborted had been queued, it would leave with it.
    assert.equal(await client.get("a"), undefined);
    assert.equal(await serverStat(server, "cmd_get"), getsBefore + 1);
    assert.equal(await serverStat(server, "cmd_set"), 0);
    assert.equal(await serverHas(server, "aborted"), false);
  }));

test("A queued request that is aborted rejects with ABORTED and is never sent", () =>
  throughProxy({ maxInFlight: 1, timeout: 10_000 }, async ({ server, proxy, client }) => {
    const { first } = await holdFirst(client, proxy);
    const controller = new AbortController();
    const queued = settle(client.set("aborted", "x", { signal: controller.signal }));
    const kept = settle(client.set("kept", "y"));
    assert.equal(client.counters().queued, 2);
    controller.abort();
    // It rejects at once, while the proxy still holds everything.
    assertFailed(await within(1_000, "the aborted request", queued), ["ABORTED"], "set()");
    assert.equal(client.counters().queued, 1);
    proxy.resume();
    assert.deepEqual(await within(5_000, "the first request", first), RESOLVED_UNDEFINED);
    assert.deepEqual(await within(5_000, "the request behind it", kept), RESOLVED_UNDEFINED);
    assert.equal(await serverHas(server, "aborted"), false);
    assert.equal(await serverHas(server, "kept"), true);
    assert.equal(await serverStat(server, "cmd_set"), 1);
  }));

test("Aborting a written request rejects it at once and later replies still reach their callers", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
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
      assertOk(outcome, "get()");
    }
    // Aborting after completion changes nothing.
    for (const controller of controllers) controller.abort();
    const after = seededGets(client, 1_000);
    for (const outcome of await within(5_000, "later requests", Promise.all(after))) {
      assertOk(outcome, "later get()");
    }
    assertIdle(client, 1);
  }));

test("An aborted request that is never answered does not hold the connection past its stall timeout", () =>
  throughProxy({ timeout: 200, maxInFlight: 1 }, async ({ proxy, client }) => {
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
  }));

test("Requests sharing one AbortSignal remove their abort listeners when they complete", () =>
  direct({ timeout: 10_000 }, async ({ client }) => {
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
      assertOk(outcome, "request");
    }
    assert.ok(added >= 9_000, `only ${added} abort listeners were added`);
    assert.equal(live.size, 0, `${live.size} abort listeners were left on the signal`);
    controller.abort();
    assert.equal(await client.get(key(1)), key(1));
    assertIdle(client, 1);
  }));

// ---------------------------------------------------------------------------------------------
// Timeouts before the write, queue limits

test("A request that times out while queued rejects with TIMEOUT and is never sent", () =>
  throughProxy({ maxInFlight: 1, timeout: 10_000 }, async ({ server, proxy, client }) => {
    const { first } = await holdFirst(client, proxy);
    const late = settle(client.set("late", "x", { timeout: 50 }));
    assertFailed(await within(2_000, "the queued request", late), ["TIMEOUT"], "set()");
    assert.deepEqual(totals(client), { connections: 1, inFlight: 1, queued: 0 });
    proxy.resume();
    assert.deepEqual(await within(5_000, "the first request", first), RESOLVED_UNDEFINED);
    assert.equal(await client.get("late"), undefined);
    assert.equal(await serverStat(server, "cmd_set"), 0);
  }));

test("The request beyond maxQueued rejects with QUEUE_FULL and the others are unaffected", () =>
  throughProxy({ maxInFlight: 1, maxQueued: 10, timeout: 10_000 }, async ({ proxy, client }) => {
    // One at a time: a burst of more than maxQueued calls in one tick is itself over the limit.
    for (let i = 0; i < 13; i++) await client.set(key(i), key(i));
    proxy.pause();
    const outcomes = [checkedGet(client, key(0))];
    await waitFor("the first request to be written", () => client.counters().inFlight === 1);
    for (let i = 1; i < 12; i++) outcomes.push(checkedGet(client, key(i)));
    assertFailed(await within(1_000, "the 12th request", outcomes[11]!), ["QUEUE_FULL"], "12th");
    assert.deepEqual(totals(client), { connections: 1, inFlight: 1, queued: 10 });
    proxy.resume();
    const others = await within(5_000, "the other requests", Promise.all(outcomes.slice(0, 11)));
    for (const outcome of others) assertOk(outcome, "get()");
    assert.equal(await client.get(key(12)), key(12));
  }));

test("Calls made in one tick count against maxQueued only beyond the room in flight", () =>
  throughProxy({ maxInFlight: 100, maxQueued: 10, timeout: 10_000 }, async ({ client }) => {
    for (let i = 0; i < 120; i++) await client.set(key(i), key(i));
    // 110 calls in one tick: 100 are written at once, 10 wait; none is refused.
    const burst = Array.from({ length: 110 }, (_, i) => checkedGet(client, key(i)));
    for (const outcome of await within(5_000, "the burst", Promise.all(burst))) {
      assertOk(outcome, "get()");
    }
    // 115: the five beyond 100 in flight plus 10 waiting are refused, and only they.
    const over = await within(
      5_000,
      "the larger burst",
      Promise.all(Array.from({ length: 115 }, (_, i) => settle(client.get(key(i))))),
    );
    over.slice(0, 110).forEach((outcome, i) => assertOk(outcome, `get() ${i}`));
    for (const outcome of over.slice(110)) assertFailed(outcome, ["QUEUE_FULL"], "beyond");
  }));

test("Queued requests that were aborted or timed out no longer count against maxQueued", () =>
  throughProxy({ maxInFlight: 1, maxQueued: 10, timeout: 10_000 }, async ({ proxy, client }) => {
    const { first } = await holdFirst(client, proxy);
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
    assert.deepEqual(totals(client), { connections: 1, inFlight: 1, queued: 0 });
    // Nothing is waiting to be written, so there is room for a request.
    const next = settle(client.get("next"));
    proxy.resume();
    assert.deepEqual(await within(5_000, "the next request", next), RESOLVED_UNDEFINED);
    assert.deepEqual(await within(5_000, "the first request", first), RESOLVED_UNDEFINED);
  }));

// ---------------------------------------------------------------------------------------------
// Requests waiting for their connection to open

/** A set that gives up while its connection is still opening, and the code it must fail with. */
interface GiveUpCase {
  name: string;
  /** The key the set stores: it must never reach the server. */
  key: string;
  code: ErrorCode;
  /** Starts the set of `key`, opens the connection with `release`, and returns how it ended. */
  giveUp: (client: Client, key: string, release: () => void) => Promise<Outcome>;
}

const GIVE_UP_WHILE_CONNECTING: GiveUpCase[] = [
  {
    name: "A request waiting for its connection rejects with ABORTED at once and is never sent",
    key: "aborted",
    code: "ABORTED",
    giveUp: async (client, key, release) => {
      const controller = new AbortController();
      const aborted = settle(client.set(key, "x", { signal: controller.signal }));
      controller.abort();
      const outcome = await within(1_000, "a request aborted while connecting", aborted);
      release();
      return outcome;
    },
  },
  {
    name:
      "A request waiting for its connection rejects with TIMEOUT at its deadline and is never sent",
    key: "late",
    code: "TIMEOUT",
    giveUp: async (client, key, release) => {
      const late = settle(client.set(key, "x", { timeout: 50 }));
      const outcome = await within(1_000, "a request timing out while connecting", late);
      release();
      return outcome;
    },
  },
  {
    name: "A request whose deadline passed while connecting is not sent once connected",
    key: "late",
    code: "TIMEOUT",
    giveUp: async (client, key, release) => {
      const late = settle(client.set(key, "x", { timeout: 20 }));
      // Open the connection only well after the deadline, however the rejection is timed.
      await sleep(100);
      release();
      return await within(5_000, "the late request", late);
    },
  },
];

for (const c of GIVE_UP_WHILE_CONNECTING) {
  test(c.name, () =>
    whileConnecting(async ({ server, client, release }) => {
      assertFailed(await c.giveUp(client, c.key, release), [c.code], "set()");
      await within(5_000, "set() once connected", client.set("kept", "y"));
      assert.equal(await serverHas(server, c.key), false);
      assert.equal(await serverStat(server, "cmd_set"), 1);
    }));
}

test("Client.close() waits for a request that is still waiting for its connection", () =>
  whileConnecting(async ({ server, client, release }) => {
    const pending = settle(client.set("pending", "x"));
    const closing = client.close();
    release();
    await within(5_000, "close()", closing);
    assert.deepEqual(await within(1_000, "the pending request", pending), RESOLVED_UNDEFINED);
    assert.equal(await serverHas(server, "pending"), true);
  }));

// ---------------------------------------------------------------------------------------------
// The server dies, stops, or sends garbage

test("Killing the server mid-pipeline rejects every pending request and a restart is picked up", () =>
  direct({ timeout: 10_000 }, async ({ server, client }) => {
    await seed(client, 1_000);
    const settled = await killUnderLoad(server, seededGets(client, 5_000));
    assert.ok((tally(settled).get("CONNECTION_CLOSED") ?? 0) > 0, "nothing was rejected");
    assertFailed(await settle(client.get("a")), ["CONNECT_FAILED"], "get() while down");
    await server.restart();
    // The same client reconnects on its next call.
    await within(5_000, "set() after restart", client.set("after", "restart"));
    assert.equal(await client.get("after"), "restart");
    assertIdle(client, 1);
  }));

test("A stopped server makes requests time out, then the connection is dropped and replaced", () =>
  direct({ timeout: 200 }, async ({ server, client }) => {
    await client.set("k", "v", { timeout: 5_000 });
    await timeOutOnStoppedServer(server, client, 100);
  }));

test("Garbage from the server rejects the requests waiting for replies and the next call reconnects", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
    await seed(client, 100);
    proxy.pause();
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 50; i++) outcomes.push(checkedGet(client, key(i)));
    await waitFor("requests to be written", () => client.counters().inFlight === 50);
    proxy.inject(GARBAGE);
    for (const outcome of await within(5_000, "requests", Promise.all(outcomes))) {
      assertFailed(outcome, ["PROTOCOL_ERROR", "CONNECTION_CLOSED"], "get()");
    }
    proxy.resume();
    assert.equal(await within(5_000, "get() after garbage", client.get(key(1))), key(1));
  }));

/**
 * Sends 2,000 gets of seeded keys while the proxy delays traffic by `delay` ms, and runs
 * `fault` as soon as the first reply is delivered, while later replies are still on their way.
 * Each get must resolve with its own value or fail with one of `codes`; the proxy stops
 * delaying once all have settled.
 */
async function faultUnderLoad(
  client: Client,
  proxy: Proxy,
  options: { delay: number; fault: () => void; codes: readonly ErrorCode[] },
): Promise<Outcome[]> {
  proxy.delay(options.delay);
  const outcomes = seededGets(client, 2_000);
  void outcomes[0]!.then(options.fault);
  const settled = await within(10_000, "requests", Promise.all(outcomes));
  for (const outcome of settled) assertOkOr(outcome, options.codes, "get()");
  proxy.delay(0);
  return settled;
}

test("Garbage injected among flowing replies never yields a wrong value", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
    await seed(client, 1_000);
    for (let round = 0; round < 3; round++) {
      const settled = await faultUnderLoad(client, proxy, {
        delay: 10,
        fault: () => proxy.inject(GARBAGE),
        codes: ["PROTOCOL_ERROR", "CONNECTION_CLOSED"],
      });
      assert.ok(settled.some((outcome) => !outcome.ok), "the garbage went unnoticed");
      assert.equal(await within(5_000, "get() after garbage", client.get(key(round))), key(round));
    }
  }));

// ---------------------------------------------------------------------------------------------
// The network fails

test("A connection reset mid-pipeline rejects pending requests with CONNECTION_CLOSED", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
    await seed(client, 1_000);
    const settled = await faultUnderLoad(client, proxy, {
      delay: 20,
      fault: () => proxy.reset(),
      codes: ["CONNECTION_CLOSED"],
    });
    const counts = tally(settled);
    assert.ok((counts.get("ok") ?? 0) > 0 && (counts.get("CONNECTION_CLOSED") ?? 0) > 0);
    assert.equal(await within(5_000, "get() after reset", client.get(key(7))), key(7));
  }));

test("Requests into a black hole time out and the silent connection is replaced", () =>
  throughProxy({ timeout: 100 }, async ({ proxy, client }) => {
    await client.set("k", "v", { timeout: 5_000 });
    proxy.blackhole(true);
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 200; i++) outcomes.push(settle(client.get("k")));
    outcomes.push(
      settle(client.getMany(["k", "j"], { allOrNothing: true })),
      settle(client.set("k", "w")),
    );
    for (const outcome of await within(5_000, "swallowed requests", Promise.all(outcomes))) {
      assertFailed(outcome, ["TIMEOUT"], "swallowed request");
    }
    await waitForDisconnect(client, "the silent connection to be dropped");
    proxy.blackhole(false);
    assert.equal(
      await within(5_000, "get() after the black hole", client.get("k", { timeout: 5_000 })),
      "v",
    );
  }));

// ---------------------------------------------------------------------------------------------
// Closing under load

test("Client.close() with a short timeout under load resolves some requests and rejects the rest with CLIENT_CLOSED", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
    await seed(client, 1_000);
    const outcomes = seededGets(client, 10_000);
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
    for (const outcome of settled) assertOkOr(outcome, ["CLIENT_CLOSED"], "get()");
    const counts = tally(settled);
    assert.ok((counts.get("ok") ?? 0) > 0, "nothing resolved");
    assert.ok((counts.get("CLIENT_CLOSED") ?? 0) > 0, "nothing was cut short");
    assertFailed(await settle(client.get(key(1))), ["CLIENT_CLOSED"], "get() after close()");
    assertFailed(await settle(client.set("x", "y")), ["CLIENT_CLOSED"], "set() after close()");
    assert.equal(client.closed, true);
    assertIdle(client);
  }));

test("Client.destroy() under load rejects every pending request with CLIENT_CLOSED", () =>
  direct({ timeout: 10_000 }, async ({ client }) => {
    await seed(client, 1_000);
    const outcomes = seededGets(client, 10_000);
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
  }));

test("Leaving an await using block with requests in flight closes gracefully", async () => {
  await using server = await startMemcached();
  let held: Client | undefined;
  let outcomes: Promise<Outcome>[] = [];
  {
    await using client = await connect(server.address, { timeout: 10_000 });
    held = client;
    await seed(client, 1_000);
    outcomes = seededGets(client, 5_000);
  }
  assert.equal(held.closed, true);
  assertIdle(held);
  for (const outcome of await within(1_000, "requests", Promise.all(outcomes))) {
    assertOk(outcome, "get()");
  }
});

test("Leaving a using block with requests in flight rejects them with CLIENT_CLOSED", async () => {
  await using server = await startMemcached();
  let held: Client | undefined;
  let outcomes: Promise<Outcome>[] = [];
  {
    using client = await connect(server.address, { timeout: 10_000 });
    held = client;
    outcomes = seededGets(client, 5_000);
  }
  for (const outcome of await within(5_000, "requests", Promise.all(outcomes))) {
    assertFailed(outcome, ["CLIENT_CLOSED"], "get()");
  }
  await within(5_000, "close() after dispose", held.close());
  assertIdle(held);
});

test("Client.close() waits for requests in flight to finish", () =>
  throughProxy({ timeout: 10_000 }, async ({ proxy, client }) => {
    await seed(client, 1_000);
    proxy.delay(50);
    const outcomes = seededGets(client, 1_000);
    await within(10_000, "close()", client.close());
    assertIdle(client);
    for (const outcome of await within(1_000, "requests", Promise.all(outcomes))) {
      assertOk(outcome, "get()");
    }
  }));
