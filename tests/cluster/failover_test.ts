/**
 * Fault injection on a three-server cluster under steady load: a server killed and restarted,
 * stopped and resumed, all servers killed, garbage and resets on one server's connection, under
 * both failover policies. Every request's outcome is checked against the server its key maps
 * to: requests for live servers must never fail, requests for the faulty server must fail fast
 * with a typed error, and the server must come back once it is healthy. After each scenario the
 * closed client holds nothing, and the process's descriptors are back to their count before it.
 *
 * The client runs with short timeouts (`timeout` 200 ms, `retryTimeout` 300 ms,
 * `failureLimit` 2) so a scenario takes a second or two; every wait is bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import {
  type MemcachedServer,
  openFdCount,
  settledFdCount,
  startMemcached,
} from "../_memcached.ts";
import { type Proxy, startProxy } from "../_proxy.ts";
import {
  assertAllZero,
  assertFailed,
  codeOf,
  LoopLag,
  nextTurn,
  type Outcome,
  settle,
  sleep,
  startServers,
  suspend,
  utf8,
  waitFor,
  within,
} from "../_util.ts";
import {
  type Client,
  type ClientEventType,
  type ClientOptions,
  connect,
  type ErrorCode,
  type GetManyResult,
  isMemcachedError,
  type ServerEventDetail,
} from "../../mod.ts";

// ---------------------------------------------------------------------------------------------
// Setup

/**
 * Short timeouts, so that a server is found dead, and back, within a second or two. The connect
 * timeout is generous: no connect hangs here (a killed server refuses at once, a stopped one is
 * still accepted into the kernel's backlog), so a short one would only fail connects to healthy
 * servers that a busy machine is slow to complete.
 */
const FAST: ClientOptions = {
  timeout: 200,
  connectTimeout: 10_000,
  retryTimeout: 300,
  maxRetryTimeout: 1_000,
  failureLimit: 2,
};

/**
 * How late past its timeout a failed request may settle, besides the time the process was not
 * running at all (measured by a {@linkcode LoopLag}).
 */
const SLACK_MS = 300;

/**
 * The timeout of requests that must succeed (seeding, requests for live servers, checks after
 * recovery): what is under test is how requests for the faulty server fail, with `FAST`'s short
 * timeout, not how quickly a busy machine answers the others.
 */
const PATIENT = { timeout: 10_000 };

/** Key number `i`; every seeded key holds its own name as its value. */
function key(i: number): string {
  return `key:${i}`;
}

const KEYS = Array.from({ length: 600 }, (_, i) => key(i));

/** One client event, with when it was seen. */
interface SeenEvent extends ServerEventDetail {
  type: ClientEventType;
  at: number;
}

/** Records every event `client` dispatches. */
function recordEvents(client: Client): SeenEvent[] {
  const seen: SeenEvent[] = [];
  for (const type of ["server-down", "server-up", "reconnecting", "error"] as const) {
    client.addEventListener(type, (event) => {
      seen.push({ type, at: performance.now(), ...event.detail });
    });
  }
  return seen;
}

/** The events of one type, optionally for one server. */
function eventsOf(seen: readonly SeenEvent[], type: ClientEventType, server?: string) {
  return seen.filter((e) => e.type === type && (server === undefined || e.server === server));
}

/** What a scenario gets: three servers, a connected client, its events and key homes. */
interface Cluster {
  servers: MemcachedServer[];
  client: Client;
  events: SeenEvent[];
  /** The server each of {@linkcode KEYS} maps to with every server up. */
  home: Map<string, string>;
  /** The proxy in front of one server, when asked for. */
  proxy: Proxy | undefined;
  /** How late the event loop ran, to allow for in bounds on when something happens. */
  lag: LoopLag;
}

/**
 * Starts three servers, counts the open descriptors after a warm-up client, connects a client
 * with `options` (to a proxy in front of server `proxied`, if given, instead of that server),
 * seeds {@linkcode KEYS}, and runs `body`. Afterwards, whatever happened, resumes every server,
 * closes the client and the proxy; then asserts that the client holds nothing and that the
 * descriptor count is back to where it was (with every server running again).
 */
async function withCluster(
  options: ClientOptions,
  body: (cluster: Cluster) => Promise<void>,
  proxied?: number,
): Promise<void> {
  await using servers = await startServers(3, () => startMemcached());
  const warm = await connect(servers.map((s) => s.address));
  await warm.set("warm", "up");
  await warm.close();
  const baseline = openFdCount();
  let proxy: Proxy | undefined;
  let client: Client | undefined;
  const lag = new LoopLag();
  try {
    if (proxied !== undefined) proxy = await startProxy(servers[proxied]!);
    const list = servers.map((s, i) => i === proxied ? proxy!.address : s.address);
    client = await connect(list, options);
    const events = recordEvents(client);
    const c = client;
    await within(15_000, "seeding", Promise.all(KEYS.map((k) => c.set(k, k, PATIENT))));
    const home = new Map(KEYS.map((k) => [k, c.serverFor(k)]));
    await body({ servers, client, events, home, proxy, lag });
  } finally {
    lag[Symbol.dispose]();
    for (const server of servers) server.kill("SIGCONT");
    proxy?.resume();
    await client?.close();
    await proxy?.close();
  }
  assertAllZero(client!);
  // A server process holds descriptors (its pipes): restart any the scenario left dead, so
  // the count compares like with like.
  for (const server of servers) {
    const exited = await Promise.race([
      server.waitExit().then(() => true),
      nextTurn().then(() => false),
    ]);
    if (exited) await server.restart();
  }
  const fds = await settledFdCount(baseline);
  assert.equal(fds, baseline, "open descriptors after the scenario");
}

// ---------------------------------------------------------------------------------------------
// Steady load

/** One request of the load and how it ended. */
interface Sample {
  key: string;
  /** Whether it was a set (else a get). */
  set: boolean;
  start: number;
  end: number;
  /** Whether it settled before the event loop ran another turn: it waited for nothing. */
  atOnce: boolean;
  outcome: Outcome;
}

/** Requests running in a loop until stopped. */
interface Load {
  readonly samples: Sample[];
  /** How many requests with the patient timeout, for keys where `which` holds, are pending. */
  patientInFlight(which: (key: string) => boolean): number;
  /** Stops the workers and resolves once every request has settled. */
  stop(): Promise<void>;
}

/** Gives up on a load after this long, so a test cannot loop forever. */
const LOAD_LIMIT_MS = 20_000;

/**
 * Starts `workers` loops, each sending one request at a time for the keys of `keys` in turn:
 * a set of the key to its own name every fourth request, else a get. A request for a key for
 * which `underTest` holds when it starts has the client's timeout; the others are
 * {@linkcode PATIENT}. A request that failed is followed by a turn of the event loop, so that
 * fast rejections cannot starve I/O.
 */
function startLoad(
  client: Client,
  keys: readonly string[],
  underTest: (key: string) => boolean,
  workers = 64,
): Load {
  const samples: Sample[] = [];
  /** Per worker, the key of its pending request if that has the patient timeout. */
  const patient: (string | undefined)[] = [];
  let stopped = false;
  const deadline = performance.now() + LOAD_LIMIT_MS;
  const worker = async (w: number) => {
    for (let n = 0; !stopped && performance.now() < deadline; n++) {
      const k = keys[(w + n * workers) % keys.length]!;
      const set = n % 4 === 3;
      const options = underTest(k) ? {} : PATIENT;
      patient[w] = options === PATIENT ? k : undefined;
      const start = performance.now();
      const pending = settle(set ? client.set(k, k, options) : client.get(k, options));
      const first = await Promise.race([pending, nextTurn().then(() => undefined)]);
      const outcome = first ?? await pending;
      patient[w] = undefined;
      samples.push({
        key: k,
        set,
        start,
        end: performance.now(),
        atOnce: first !== undefined,
        outcome,
      });
      if (!outcome.ok) await nextTurn();
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    samples,
    patientInFlight: (which) => patient.filter((k) => k !== undefined && which(k)).length,
    async stop() {
      stopped = true;
      await within(5_000, "the load to stop", running);
    },
  };
}

/** Asserts that every request for a key of a live server resolved with the right value. */
function assertLiveUnaffected(
  samples: readonly Sample[],
  home: Map<string, string>,
  faulty: string,
): number {
  let n = 0;
  for (const s of samples) {
    if (home.get(s.key) === faulty) continue;
    n++;
    assert.ok(s.outcome.ok, `${s.key} on live ${home.get(s.key)} failed: ${codeOf(s.outcome)}`);
    if (!s.set) assert.equal(s.outcome.value, s.key, `${s.key} read another value`);
  }
  assert.ok(n > 100, `only ${n} requests went to the live servers`);
  return n;
}

/** The samples for keys of `server` that failed, with their codes. */
function failuresOf(samples: readonly Sample[], home: Map<string, string>, server: string) {
  return samples.filter((s) => home.get(s.key) === server && !s.outcome.ok);
}

/**
 * Asserts that each failed sample failed with one of `codes` within `timeout + SLACK_MS`, plus
 * however long the event loop was held up meanwhile.
 */
function assertFailedInTime(
  failed: readonly Sample[],
  codes: readonly ErrorCode[],
  timeout: number,
  lag: LoopLag,
): void {
  for (const s of failed) {
    assertFailed(s.outcome, codes, `request for ${s.key}`);
    const took = s.end - s.start;
    const held = lag.during(s.start, s.end);
    assert.ok(
      took <= timeout + SLACK_MS + held,
      `${s.key} failed with ${codeOf(s.outcome)} after ${took} ms (the loop was held ${held} ms)`,
    );
  }
}

/**
 * Asserts that requests for `server`'s keys started in `[from, to)` all rejected with
 * `SERVER_DEAD` at once (before the event loop ran another turn, so without waiting on the
 * network or a timer), and that there were some.
 */
function assertRejectedWhileDead(
  samples: readonly Sample[],
  home: Map<string, string>,
  server: string,
  from: number,
  to: number,
): void {
  const window = samples.filter((s) =>
    home.get(s.key) === server && s.start >= from && s.start < to
  );
  assert.ok(window.length >= 20, `only ${window.length} requests went to the dead server`);
  for (const s of window) {
    assertFailed(s.outcome, ["SERVER_DEAD"], `request for ${s.key} while its server is dead`);
    assert.ok(s.atOnce, `SERVER_DEAD for ${s.key} came after an event-loop turn`);
  }
}

/**
 * Calls `call` and asserts that it settles at once: before the event loop runs another turn,
 * so it waited for no socket and no timer. (No wall-clock bound on top: a busy machine can
 * deschedule the process between two statements for longer than any bound a test could set.)
 */
async function settlesAtOnce(call: () => Promise<unknown>, what: string): Promise<Outcome> {
  const outcome = settle(call());
  const first = await Promise.race([outcome, nextTurn().then(() => undefined)]);
  assert.ok(first !== undefined, `${what} was still pending after an event-loop turn`);
  return first;
}

/** Calls `call` and asserts that it rejects at once with one of `codes`. */
async function expectAtOnce(
  call: () => Promise<unknown>,
  codes: readonly ErrorCode[],
  what: string,
): Promise<void> {
  assertFailed(await settlesAtOnce(call, what), codes, what);
}

/** Counts the samples for `server`'s keys that failed with `code`. */
function countCode(
  samples: readonly Sample[],
  home: Map<string, string>,
  server: string,
  code: ErrorCode,
) {
  return samples.filter((s) =>
    home.get(s.key) === server && isMemcachedError(s.outcome.ok ? undefined : s.outcome.error, code)
  ).length;
}

/**
 * Asserts that the first probe came `retryTimeout` after the server was marked dead (traffic
 * is steady, so no later, but for the time the event loop was held up), and each next one at
 * least half its backoff after the one before (the backoff doubles from `retryTimeout` up to
 * `maxRetryTimeout`; the jitter takes off at most half). Times are compared with 2 ms to spare
 * for clock rounding.
 *
 * The server is marked dead, and its first probe timed, a little before server-down is seen at
 * `downAt` (in the same run of code, which a busy machine may stretch): no earlier than the last
 * tick of `lag` before it, which the lower bound starts from.
 */
function assertBackoff(probes: readonly SeenEvent[], downAt: number, lag: LoopLag): void {
  const retry = FAST.retryTimeout!;
  assert.ok(probes.length > 0, "no probe ran");
  const first = probes[0]!.at - downAt;
  const held = lag.during(downAt, probes[0]!.at);
  const sinceTick = probes[0]!.at - lag.tickBefore(downAt);
  assert.ok(
    sinceTick >= retry - 2,
    `the first probe came ${sinceTick} ms after the tick before server-down`,
  );
  assert.ok(
    first < retry + 500 + held,
    `the first probe came as late as ${first} ms after server-down (the loop was held ${held} ms)`,
  );
  for (let i = 1; i < probes.length; i++) {
    const gap = probes[i]!.at - probes[i - 1]!.at;
    const base = Math.min(retry * 2 ** i, FAST.maxRetryTimeout!);
    assert.ok(gap >= base / 2 - 2, `probe ${i + 1} came ${gap} ms after probe ${i}`);
  }
}

/**
 * Asserts that a server was back (server-up) within 3 s of `what` (its restart or SIGCONT),
 * plus the `held` ms the event loop was held up meanwhile.
 */
function assertBackInTime(took: number, held: number, what: string): void {
  assert.ok(took < 3_000 + held, `back ${took} ms after ${what} (the loop was held ${held} ms)`);
}

// ---------------------------------------------------------------------------------------------
// A server killed and restarted

test("A server killed under load fails only its own keys, fast, and is used again after a restart (fail-fast)", () =>
  withCluster(FAST, async ({ servers, client, events, home, lag }) => {
    const victim = servers[1]!;
    const name = victim.address;
    const own = (k: string) => home.get(k) === name;
    let armed = false;
    const load = startLoad(
      client,
      KEYS,
      (k) => armed && own(k) && eventsOf(events, "server-up", name).length === 0,
    );
    try {
      await waitFor("the load to get going", () => load.samples.length >= 2_000);
      // From here until it is back, the victim's keys have the short timeout under test; it is
      // killed once none of its requests with the patient timeout is pending.
      armed = true;
      await waitFor("the victim's patient requests", () => load.patientInFlight(own) === 0);
      const killedAt = performance.now();
      victim.kill("SIGKILL");
      await within(5_000, "memcached to exit", victim.waitExit());
      await waitFor("server-down", () => eventsOf(events, "server-down", name).length > 0);
      const downAt = eventsOf(events, "server-down", name)[0]!.at;
      await waitFor(
        "probes of the dead server",
        () => eventsOf(events, "reconnecting", name).length > 0,
      );
      await waitFor(
        "rejections while dead",
        () => countCode(load.samples, home, name, "SERVER_DEAD") >= 200,
      );
      for (const k of KEYS.filter(own).slice(0, 20)) {
        await expectAtOnce(() => client.get(k), ["SERVER_DEAD"], `get(${k}) while dead`);
      }
      const restartAt = performance.now();
      await within(5_000, "restart", victim.restart());
      await waitFor("server-up", () => eventsOf(events, "server-up", name).length > 0);
      const upAt = eventsOf(events, "server-up", name)[0]!.at;
      assertBackInTime(upAt - restartAt, lag.during(restartAt, upAt), "the restart");
      const served = () =>
        load.samples.filter((s) => home.get(s.key) === name && s.start > upAt && s.outcome.ok)
          .length;
      await waitFor("requests served by the restarted server", () => served() >= 100);
      await load.stop();

      const { samples } = load;
      assertLiveUnaffected(samples, home, name);
      for (const s of samples) {
        if (home.get(s.key) !== name) continue;
        if (s.end < killedAt) assert.ok(s.outcome.ok, `${s.key} failed before the kill`);
        if (s.start > upAt) {
          assert.ok(s.outcome.ok, `${s.key} failed after server-up: ${codeOf(s.outcome)}`);
          // The restarted server starts empty: a get reads the key's own name or misses.
          if (!s.set && s.outcome.value !== undefined) assert.equal(s.outcome.value, s.key);
        }
      }
      const failed = failuresOf(samples, home, name);
      assertFailedInTime(
        failed,
        ["CONNECTION_CLOSED", "CONNECT_FAILED", "SERVER_DEAD"],
        FAST.timeout!,
        lag,
      );
      assert.ok(failed.every((s) => s.end >= killedAt), "a request failed before the kill");
      assertRejectedWhileDead(samples, home, name, downAt, restartAt);

      // Events: one down and one up, for the victim only; probes numbered from 1.
      assert.deepEqual(eventsOf(events, "server-down").map((e) => e.server), [name]);
      assert.deepEqual(eventsOf(events, "server-up").map((e) => e.server), [name]);
      const probes = eventsOf(events, "reconnecting");
      assert.ok(probes.every((e) => e.server === name));
      assert.deepEqual(probes.map((e) => e.attempt), probes.map((_, i) => i + 1));
      assertBackoff(probes, downAt, lag);
      assert.ok(
        eventsOf(events, "error").every((e) => e.server === name && isMemcachedError(e.error)),
      );
      const down = eventsOf(events, "server-down")[0]!;
      assert.ok(isMemcachedError(down.error), "server-down carries the error");
      assert.deepEqual(client.counters().servers.map((s) => s.state), ["up", "up", "up"]);
    } finally {
      await load.stop();
    }
  }));

test("Client.serverFor() still names a dead server for its keys under fail-fast", () =>
  withCluster(FAST, async ({ servers, client, events, home }) => {
    const victim = servers[2]!;
    const own = KEYS.filter((k) => home.get(k) === victim.address);
    victim.kill("SIGKILL");
    await within(5_000, "memcached to exit", victim.waitExit());
    for (let i = 0; i < 10 && eventsOf(events, "server-down").length === 0; i++) {
      await settle(client.get(own[0]!));
    }
    assert.equal(eventsOf(events, "server-down").length, 1);
    // The key still maps to its server (fail-fast moves no key); asking must not throw.
    for (const k of own.slice(0, 10)) {
      assert.equal(client.serverFor(k), victim.address, `serverFor(${k}) after its server died`);
    }
  }));

test("A dead server is probed only when a request is routed after retryTimeout", () =>
  withCluster(FAST, async ({ servers, client, events, home }) => {
    const victim = servers[0]!;
    const own = KEYS.filter((k) => home.get(k) === victim.address);
    const live = KEYS.filter((k) => home.get(k) !== victim.address);
    victim.kill("SIGKILL");
    await within(5_000, "memcached to exit", victim.waitExit());
    for (let i = 0; i < 10 && eventsOf(events, "server-down").length === 0; i++) {
      await settle(client.get(own[0]!));
    }
    const downAt = eventsOf(events, "server-down")[0]!.at;
    // Idle for well over retryTimeout: no timer of the client probes on its own.
    await sleep(3 * FAST.retryTimeout!);
    assert.equal(eventsOf(events, "reconnecting").length, 0, "a probe ran without traffic");
    // A request to any server (here a live one) starts the probe, and is not delayed by it:
    // by the time get() returns, the probe has started and the get waits on its own server.
    // (Its timeout is generous: the live server answering is not what is under test.)
    const home0 = client.serverFor(live[0]!);
    const got = client.get(live[0]!, PATIENT);
    assert.equal(eventsOf(events, "reconnecting").length, 1, "get() started no probe");
    const mine = client.counters().servers.find((s) => s.server === home0)!;
    assert.equal(mine.inFlight + mine.queued, 1, "the get is not on its way to its own server");
    assert.equal(await within(10_000, "get()", got), live[0]);
    const probes = eventsOf(events, "reconnecting");
    assert.deepEqual(probes.map((e) => [e.server, e.attempt]), [[victim.address, 1]]);
    assert.ok(probes[0]!.at - downAt >= 3 * FAST.retryTimeout!);
    // The probe fails (nothing listens), so the server stays dead.
    await waitFor("the probe to fail", () => eventsOf(events, "error").length >= 3);
    assert.equal(client.counters().servers[0]!.state, "dead");
    await expectAtOnce(() => client.get(own[0]!), ["SERVER_DEAD"], "get() after a failed probe");
  }));

// ---------------------------------------------------------------------------------------------
// Eject

test("Under eject, a dead server's keys move to live servers and move back once it returns", () =>
  withCluster({ ...FAST, failover: "eject" }, async ({ servers, client, events, home, lag }) => {
    const victim = servers[0]!;
    const name = victim.address;
    const own = KEYS.filter((k) => home.get(k) === name);
    assert.ok(own.length > 50, `only ${own.length} keys go to ${name}`);
    victim.kill("SIGKILL");
    await within(5_000, "memcached to exit", victim.waitExit());
    // Requests for its keys fail (typed) until it is marked dead.
    for (let i = 0; i < 10 && eventsOf(events, "server-down").length === 0; i++) {
      const outcome = await within(1_000, "get()", settle(client.get(own[i]!)));
      if (!outcome.ok) assertFailed(outcome, ["CONNECTION_CLOSED", "CONNECT_FAILED"], "get()");
    }
    assert.deepEqual(eventsOf(events, "server-down").map((e) => e.server), [name]);

    // Its keys now map to live servers; no other key moved.
    for (const k of KEYS) {
      const now = client.serverFor(k);
      if (home.get(k) === name) assert.notEqual(now, name, `${k} still maps to the dead server`);
      else assert.equal(now, home.get(k), `${k} moved between live servers`);
    }
    // Every key is writable and readable, with the new value.
    await within(15_000, "sets", Promise.all(KEYS.map((k) => client.set(k, `v2:${k}`, PATIENT))));
    const found = await within(15_000, "getMany()", client.getMany(KEYS, PATIENT));
    assert.equal(found.failed.size, 0);
    for (const k of KEYS) assert.equal(found.get(k), `v2:${k}`, k);
    for (const k of own.slice(0, 20)) assert.equal(await client.get(k, PATIENT), `v2:${k}`);

    const restartAt = performance.now();
    await within(5_000, "restart", victim.restart());
    // Probes start from traffic: keep some going until the server is back.
    await waitFor("server-up", () => {
      void settle(client.get(KEYS[0]!, PATIENT));
      return eventsOf(events, "server-up").length > 0;
    });
    const upAt = eventsOf(events, "server-up")[0]!.at;
    assertBackInTime(upAt - restartAt, lag.during(restartAt, upAt), "the restart");
    assert.deepEqual(eventsOf(events, "server-up").map((e) => e.server), [name]);
    // Its keys map to it again, where they miss: it restarted empty (cache semantics).
    for (const k of KEYS) assert.equal(client.serverFor(k), home.get(k), `${k} after server-up`);
    const back = await within(15_000, "getMany()", client.getMany(own, PATIENT));
    assert.equal(back.size, 0, "the restarted server holds nothing yet");
    assert.equal(back.failed.size, 0);
    await within(15_000, "sets", Promise.all(own.map((k) => client.set(k, `v3:${k}`, PATIENT))));
    for (const k of own.slice(0, 20)) assert.equal(await client.get(k, PATIENT), `v3:${k}`);
  }));

// ---------------------------------------------------------------------------------------------
// A stopped server

test("A stopped server's requests time out, then reject as SERVER_DEAD, never hang, and it recovers on SIGCONT", () =>
  withCluster(FAST, async ({ servers, client, events, home, lag }) => {
    const victim = servers[1]!;
    const name = victim.address;
    const own = (k: string) => home.get(k) === name;
    let armed = false;
    const load = startLoad(
      client,
      KEYS,
      (k) => armed && own(k) && eventsOf(events, "server-up", name).length === 0,
    );
    try {
      await waitFor("the load to get going", () => load.samples.length >= 2_000);
      // From here until it is back, the victim's keys have the short timeout under test; it is
      // stopped once none of its requests with the patient timeout is pending.
      armed = true;
      await waitFor("the victim's patient requests", () => load.patientInFlight(own) === 0);
      const stoppedAt = performance.now();
      await suspend(victim);
      await waitFor("server-down", () => eventsOf(events, "server-down", name).length > 0);
      const downAt = eventsOf(events, "server-down", name)[0]!.at;
      await waitFor(
        "rejections while dead",
        () => countCode(load.samples, home, name, "SERVER_DEAD") >= 200,
      );
      for (const k of KEYS.filter(own).slice(0, 20)) {
        await expectAtOnce(() => client.get(k), ["SERVER_DEAD"], `get(${k}) while dead`);
      }
      const resumedAt = performance.now();
      victim.kill("SIGCONT");
      await waitFor("server-up", () => eventsOf(events, "server-up", name).length > 0);
      const upAt = eventsOf(events, "server-up", name)[0]!.at;
      assertBackInTime(upAt - resumedAt, lag.during(resumedAt, upAt), "SIGCONT");
      const served = () =>
        load.samples.filter((s) => home.get(s.key) === name && s.start > upAt && s.outcome.ok)
          .length;
      await waitFor("requests served after SIGCONT", () => served() >= 100);
      await load.stop();

      const { samples } = load;
      assertLiveUnaffected(samples, home, name);
      const failed = failuresOf(samples, home, name);
      assertFailedInTime(
        failed,
        ["TIMEOUT", "CONNECTION_CLOSED", "SERVER_DEAD"],
        FAST.timeout!,
        lag,
      );
      assert.ok(failed.every((s) => s.end >= stoppedAt), "a request failed before SIGSTOP");
      assert.ok(countCode(samples, home, name, "TIMEOUT") > 0, "no request timed out");
      assertRejectedWhileDead(samples, home, name, downAt, resumedAt);
      for (const s of samples) {
        if (home.get(s.key) === name && s.start > upAt) {
          assert.ok(s.outcome.ok, `${s.key} failed after server-up: ${codeOf(s.outcome)}`);
          // SIGSTOP loses nothing: the values are still there.
          if (!s.set) assert.equal(s.outcome.value, s.key);
        }
      }
      assert.deepEqual(eventsOf(events, "server-down").map((e) => e.server), [name]);
      assert.deepEqual(eventsOf(events, "server-up").map((e) => e.server), [name]);
    } finally {
      victim.kill("SIGCONT");
      await load.stop();
    }
  }));

// ---------------------------------------------------------------------------------------------
// Every server dead

for (const failover of ["fail-fast", "eject"] as const) {
  test(`With every server dead each call rejects at once with NO_SERVERS, and a restart recovers (${failover})`, () =>
    withCluster({ ...FAST, failover }, async ({ servers, client, events }) => {
      for (const server of servers) server.kill("SIGKILL");
      await within(5_000, "memcached to exit", Promise.all(servers.map((s) => s.waitExit())));
      // Drive traffic to every server until each is marked dead.
      for (let i = 0; i < 20 && eventsOf(events, "server-down").length < 3; i++) {
        const result = await within(5_000, "getMany()", client.getMany(KEYS));
        assert.equal(result.size, 0);
        for (const error of result.failed.values()) {
          assert.ok(isMemcachedError(error), `not a MemcachedError: ${error}`);
        }
      }
      assert.deepEqual(
        eventsOf(events, "server-down").map((e) => e.server).sort(),
        servers.map((s) => s.address).sort(),
      );

      /** Every call of the API, each of which must reject with NO_SERVERS at once. */
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["get", () => client.get(KEYS[0]!)],
        ["gets", () => client.gets(KEYS[1]!)],
        ["set", () => client.set(KEYS[2]!, "x")],
        ["add", () => client.add("new", "x")],
        ["delete", () => client.delete(KEYS[3]!)],
        ["incr", () => client.incr("n", 1, { initial: 1 })],
        ["touch", () => client.touch(KEYS[4]!, 60)],
        ["getAndTouch", () => client.getAndTouch(KEYS[5]!, 60)],
        ["getMany allOrNothing", () => client.getMany(KEYS, { allOrNothing: true })],
        ["flush", () => client.flush()],
        ["stats", () => client.stats()],
        ["version", () => client.version()],
        ["verbosity", () => client.verbosity(0)],
      ];
      // Over more than retryTimeout, so probes run meanwhile (and fail): calls never wait.
      const until = performance.now() + 2 * FAST.retryTimeout!;
      let rounds = 0;
      while (performance.now() < until || rounds < 3) {
        rounds++;
        for (const [what, call] of calls) {
          await expectAtOnce(call, ["NO_SERVERS"], `${what}() with every server dead`);
        }
        // A partial getMany resolves at once, every key reported failed with NO_SERVERS.
        const outcome = await settlesAtOnce(
          () => client.getMany(KEYS.slice(0, 50)),
          "getMany() with every server dead",
        );
        assert.ok(outcome.ok, `getMany() rejected with ${codeOf(outcome)}`);
        const partial = outcome.value as GetManyResult<string>;
        assert.equal(partial.size, 0);
        assert.equal(partial.failed.size, 50);
        for (const error of partial.failed.values()) assert.equal(error.code, "NO_SERVERS");
        // A command aimed at a named server says that server is dead.
        await expectAtOnce(
          () => client.stats(undefined, { server: servers[0]!.address }),
          ["SERVER_DEAD"],
          "stats({ server })",
        );
        await nextTurn();
      }
      assert.ok(eventsOf(events, "reconnecting").length > 0, "no probe ran");

      await within(10_000, "restarts", Promise.all(servers.map((s) => s.restart())));
      await waitFor("every server to be back", () => {
        void settle(client.get(KEYS[0]!, PATIENT));
        return eventsOf(events, "server-up").length === 3;
      });
      await within(
        15_000,
        "sets after recovery",
        Promise.all(KEYS.map((k) => client.set(k, k, PATIENT))),
      );
      const found = await within(15_000, "getMany()", client.getMany(KEYS, PATIENT));
      assert.equal(found.size, KEYS.length);
      assert.deepEqual(client.counters().servers.map((s) => s.state), ["up", "up", "up"]);
    }));
}

// ---------------------------------------------------------------------------------------------
// Garbage and resets on one server's connection

const GARBAGE = utf8("XYZ garbage\r\n");

test("Garbage or a reset on one server's connection fails only that server's requests", () =>
  withCluster({ ...FAST, timeout: 2_000 }, async ({ client, events, home, proxy }) => {
    const name = proxy!.address;
    const own = KEYS.filter((k) => home.get(k) === name);
    assert.ok(own.length > 50, `only ${own.length} keys go through the proxy`);
    const proxiedCounters = () => client.counters().servers.find((s) => s.server === name)!;
    for (const fault of ["garbage", "reset"] as const) {
      proxy!.pause();
      const outcomes = KEYS.map((k) => settle(client.get(k)));
      await waitFor("the proxied server's requests to be written", () => {
        const c = proxiedCounters();
        return c.inFlight > 0 && c.inFlight + c.queued === own.length;
      });
      if (fault === "garbage") proxy!.inject(GARBAGE);
      else proxy!.reset();
      proxy!.resume();
      const settled = await within(5_000, "requests", Promise.all(outcomes));
      KEYS.forEach((k, i) => {
        const outcome = settled[i]!;
        if (home.get(k) === name) {
          const codes: ErrorCode[] = fault === "garbage"
            ? ["PROTOCOL_ERROR", "CONNECTION_CLOSED"]
            : ["CONNECTION_CLOSED"];
          assertFailed(outcome, codes, `get(${k}) after ${fault}`);
        } else {
          assert.ok(outcome.ok, `get(${k}) on a live server failed: ${codeOf(outcome)}`);
          assert.equal(outcome.value, k);
        }
      });
      if (fault === "garbage") {
        assert.ok(settled.some((o) => !o.ok && isMemcachedError(o.error, "PROTOCOL_ERROR")));
      }
      // The next request opens a fresh connection and is answered (which also resets the
      // failure count, so one fault never marks the server dead).
      assert.equal(await within(5_000, "get() after the fault", client.get(own[0]!)), own[0]);
      assert.equal(proxiedCounters().failures, 0);
    }
    assert.equal(eventsOf(events, "server-down").length, 0);
    const errors = eventsOf(events, "error");
    assert.ok(errors.every((e) => e.server === name));
    assert.deepEqual(errors.map((e) => e.error?.code), ["PROTOCOL_ERROR", "CONNECTION_CLOSED"]);
  }, 1));

test("A reset that drops every pooled connection at once counts as one failure, not poolSize", () =>
  withCluster({ ...FAST, poolSize: 3, timeout: 2_000 }, async ({ client, events, proxy }) => {
    const name = proxy!.address;
    const mine = () => client.counters().servers.find((s) => s.server === name)!;
    // Enough concurrent load to open all three connections to the proxied server.
    await within(5_000, "load", Promise.all(KEYS.concat(KEYS).map((k) => client.get(k))));
    assert.equal(mine().connections, 3, "three pooled connections");
    proxy!.reset();
    await waitFor("the pool to notice", () => mine().connections === 0);
    assert.equal(mine().state, "up", "one blip must not mark the server dead");
    assert.equal(mine().failures, 1);
    assert.equal(eventsOf(events, "server-down").length, 0);
    assert.equal(await within(2_000, "a get after the blip", client.get(KEYS[0]!)), KEYS[0]);
  }, 0));
