/**
 * Helpers shared by the test files: waiting with a deadline, settling requests into outcomes
 * and asserting their error codes, checking that a client is idle, byte and text helpers for
 * the codec tests, the two fault scenarios (a stopped server, a killed server) that both
 * the failure and the leak tests run, and cluster helpers (several servers, keys by server, a
 * connector that records what each connection carried).
 *
 * Private to `tests/`: nothing here is part of Mica's API. It imports no runtime global at top
 * level, so every test file runs unchanged under `deno test` and `bun test`.
 *
 * @example Bound a wait and assert the error code of a request
 * ```ts ignore
 * import { test } from "./_harness.ts";
 * import { startMemcached } from "./_memcached.ts";
 * import { assertFailed, settle, within } from "./_util.ts";
 * import { connect } from "../mod.ts";
 *
 * test("A request aborted before it is sent rejects with ABORTED", async () => {
 *   await using server = await startMemcached();
 *   await using client = await connect(server.address);
 *   const signal = AbortSignal.abort();
 *   const outcome = await within(1_000, "get()", settle(client.get("k", { signal })));
 *   assertFailed(outcome, ["ABORTED"], "get()");
 * });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { setImmediate } from "node:timers";
import type { MemcachedServer } from "./_memcached.ts";
import {
  type Client,
  type Connector,
  type Endpoint,
  type ErrorCode,
  isMemcachedError,
  MemcachedError,
  type TransportHandlers,
} from "../mod.ts";
import { bunConnector } from "../src/adapters/bun.ts";
import { denoConnector } from "../src/adapters/deno.ts";

// ---------------------------------------------------------------------------------------------
// Runtime

/** Whether the tests run under Bun (else Deno). */
export const IS_BUN = "Bun" in globalThis;

/** The connector of the runtime running the tests: the other runtime's cannot work here. */
export const runtimeConnector: Connector = IS_BUN ? bunConnector : denoConnector;

// ---------------------------------------------------------------------------------------------
// Waiting

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `promise`, or rejects if it has not settled within `ms`; clears its timer. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
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
export async function waitFor(what: string, condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Measures how late the event loop runs: a timer every {@linkcode LoopLag.INTERVAL} ms records
 * when it ran. A test that bounds how late something may happen (a timeout firing, a probe
 * coming) adds {@linkcode LoopLag.during} to the bound: the time the process was not running
 * (descheduled on a busy machine), and no more. Stop it with `using`.
 */
export class LoopLag implements Disposable {
  /** Milliseconds between ticks. */
  static readonly INTERVAL = 10;
  readonly #ticks: number[] = [performance.now()];
  readonly #timer = setInterval(() => this.#ticks.push(performance.now()), LoopLag.INTERVAL);

  /**
   * How much later than {@linkcode LoopLag.INTERVAL} the ticks between `from` and `to` (from
   * `performance.now()`) came, in total: the gaps overlapping that span, less the interval.
   */
  during(from: number, to: number): number {
    const ticks = this.#ticks;
    // The first tick at or after `from`; the gap before it overlaps the span too.
    let low = 0;
    let high = ticks.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (ticks[mid]! < from) low = mid + 1;
      else high = mid;
    }
    let late = 0;
    for (let i = Math.max(1, low); i < ticks.length && ticks[i - 1]! <= to; i++) {
      late += Math.max(0, ticks[i]! - ticks[i - 1]! - LoopLag.INTERVAL);
    }
    // A gap still open (no tick yet since the last one) counts up to `to`.
    const last = ticks[ticks.length - 1]!;
    if (last < to) late += Math.max(0, to - Math.max(last, from) - LoopLag.INTERVAL);
    return late;
  }

  /**
   * The time of the last tick at or before `at`. Code that ran in one go (no timer fires in the
   * middle of it) with something observed at `at` ran after this time: a bound can start from
   * it when the moment that matters was not observed itself, only an event it dispatched.
   */
  tickBefore(at: number): number {
    let before = this.#ticks[0]!;
    for (let i = this.#ticks.length - 1; i >= 0; i--) {
      if (this.#ticks[i]! <= at) {
        before = this.#ticks[i]!;
        break;
      }
    }
    return before;
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Outcomes and error codes

/** How one request ended. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The outcome of a request that resolved with `undefined`: a store that landed, a get that missed. */
export const RESOLVED_UNDEFINED: Outcome = { ok: true, value: undefined };

/** Never rejects: turns a request's promise into its {@linkcode Outcome}. */
export function settle(promise: Promise<unknown>): Promise<Outcome> {
  return promise.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }));
}

/** The error code of a failed outcome ("(resolved)" for a resolved one), for messages. */
export function codeOf(outcome: Outcome): string {
  if (outcome.ok) return "(resolved)";
  return isMemcachedError(outcome.error) ? outcome.error.code : String(outcome.error);
}

/** Asserts that `outcome` resolved; `what` names the request in the message. */
export function assertOk(outcome: Outcome, what: string): void {
  assert.ok(outcome.ok, `${what} failed with ${codeOf(outcome)}`);
}

/** Asserts that `outcome` failed with a {@linkcode MemcachedError} whose code is in `codes`. */
export function assertFailed(outcome: Outcome, codes: readonly ErrorCode[], what: string): void {
  assert.ok(
    !outcome.ok && codes.some((code) => isMemcachedError(outcome.error, code)),
    `${what}: expected ${codes.join(" or ")}, got ${codeOf(outcome)}`,
  );
}

/** Asserts that `outcome` either resolved or failed with a code in `codes`. */
export function assertOkOr(outcome: Outcome, codes: readonly ErrorCode[], what: string): void {
  if (!outcome.ok) assertFailed(outcome, codes, what);
}

/** Rejects unless `promise` fails with a {@linkcode MemcachedError} whose code is in `codes`. */
export async function expectCode(
  promise: Promise<unknown>,
  codes: readonly ErrorCode[],
  what: string,
): Promise<void> {
  assertFailed(await settle(promise), codes, what);
}

/** Asserts that `error` is a {@linkcode MemcachedError} named so, with the code `code`. */
export function assertMemcachedError(
  error: unknown,
  code: ErrorCode,
  why = "error",
): asserts error is MemcachedError {
  assert.ok(error instanceof MemcachedError, `${why}: expected a MemcachedError, got ${error}`);
  assert.equal(error.code, code, `${why}: ${error.message}`);
  assert.equal(error.name, "MemcachedError", why);
}

/** A predicate for `assert.rejects` and `assert.throws`: a `MemcachedError` with `code`. */
export function withCode(code: ErrorCode, why?: string): (error: unknown) => boolean {
  return (error) => {
    assertMemcachedError(error, code, why);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// Clients

/** Asserts that `client` has nothing queued or in flight and `connections` connections open. */
export function assertIdle(client: Client, connections = 0, what = "the client"): void {
  const counters = client.counters();
  assert.deepEqual(
    totals(client),
    { connections, inFlight: 0, queued: 0 },
    `${what}: expected ${connections} connections and no request, got ${JSON.stringify(counters)}`,
  );
}

/** The client's totals (`counters()` without the per-server list). */
export function totals(client: Client): { connections: number; inFlight: number; queued: number } {
  const { connections, inFlight, queued } = client.counters();
  return { connections, inFlight, queued };
}

/** Waits until `client` has dropped every connection and nothing is in flight. */
export function waitForDisconnect(client: Client, what: string): Promise<void> {
  return waitFor(what, () => {
    const counters = client.counters();
    return counters.connections === 0 && counters.inFlight === 0;
  });
}

/**
 * Runs `body`, then closes `client` whether or not it threw (calling `beforeClose` first, to
 * undo a fault) and, if `body` succeeded, asserts that the closed client holds nothing.
 */
export async function closeAfter(
  client: Client,
  body: () => Promise<void>,
  beforeClose?: () => void,
): Promise<void> {
  try {
    await body();
  } finally {
    beforeClose?.();
    await client.close();
  }
  assertIdle(client);
}

// ---------------------------------------------------------------------------------------------
// Server faults shared by the failure and leak tests

/** Whether process `pid` is stopped (state `T` in `/proc/PID/stat`, Linux only). */
export function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
}

/**
 * Stops `server` with SIGSTOP and waits until it is stopped: the signal takes effect a little
 * after `kill()` returns (its threads stop when next scheduled), so a request sent at once may
 * still be answered. Resume it with `server.kill("SIGCONT")`.
 */
export async function suspend(server: MemcachedServer): Promise<void> {
  server.kill("SIGSTOP");
  await waitFor("memcached to stop", () => isStopped(server.pid));
}

/**
 * Stops `server` with SIGSTOP and sends `n` gets of `"k"`, which must all time out (the client's
 * `timeout` must be short); waits until the stalled connection is dropped, resumes the server
 * and checks that `"k"` reads `"v"` over a new connection. The server is resumed on failure too.
 */
export async function timeOutOnStoppedServer(
  server: MemcachedServer,
  client: Client,
  n: number,
): Promise<void> {
  try {
    await suspend(server);
    const outcomes = Array.from({ length: n }, () => settle(client.get("k")));
    const settled = await within(5_000, "requests to a stopped server", Promise.all(outcomes));
    for (const outcome of settled) assertFailed(outcome, ["TIMEOUT"], "get() to a stopped server");
    // Overdue requests and silence for another `timeout` ms: the connection is dropped.
    await waitForDisconnect(client, "the stalled connection to be dropped");
    server.kill("SIGCONT");
    const value = await within(5_000, "get() after SIGCONT", client.get("k", { timeout: 5_000 }));
    assert.equal(value, "v");
    assertIdle(client, 1);
  } finally {
    server.kill("SIGCONT");
  }
}

/**
 * Kills `server` with SIGKILL while `outcomes` are pending: each must resolve or fail with
 * CONNECTION_CLOSED. Resolves with them once the process has exited, so that a restart cannot
 * signal an old pid the runtime may have reaped already.
 */
export async function killUnderLoad(
  server: MemcachedServer,
  outcomes: readonly Promise<Outcome>[],
): Promise<Outcome[]> {
  server.kill("SIGKILL");
  const settled = await within(10_000, "requests to a killed server", Promise.all(outcomes));
  for (const outcome of settled) assertOkOr(outcome, ["CONNECTION_CLOSED"], "pending get()");
  await within(5_000, "memcached to exit", server.waitExit());
  return settled;
}

// ---------------------------------------------------------------------------------------------
// Bytes and text

/** 1 MiB. */
export const MIB = 1024 * 1024;

/** The largest unsigned 64-bit integer, memcached's counter limit. */
export const MAX_U64 = (1n << 64n) - 1n;

const textEncoder = new TextEncoder();

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** One byte per character of `text` (its char codes, which must be below 256). */
export function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** The bytes of `chunks`, one character per byte: the inverse of {@linkcode latin1}. */
export function latin1Text(chunks: Uint8Array | readonly Uint8Array[]): string {
  let text = "";
  for (const chunk of chunks instanceof Uint8Array ? [chunks] : chunks) {
    for (const byte of chunk) text += String.fromCharCode(byte);
  }
  return text;
}

/** The bytes of `parts` in one array; a string part stands for its {@linkcode latin1} bytes. */
export function concat(parts: readonly (Uint8Array | string)[]): Uint8Array {
  const arrays = parts.map((part) => typeof part === "string" ? latin1(part) : part);
  let size = 0;
  for (const array of arrays) size += array.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const array of arrays) {
    out.set(array, at);
    at += array.length;
  }
  return out;
}

/** A deterministic byte pattern of `length` bytes that holds CR, LF and every byte value. */
export function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return out;
}

/** Asserts that `value` is a `Uint8Array` holding exactly the bytes of `expected`. */
export function assertBytes(value: unknown, expected: Uint8Array, what = "value"): void {
  assert.ok(value instanceof Uint8Array, `${what}: expected a Uint8Array, got ${typeof value}`);
  assert.equal(value.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (value[i] !== expected[i]) assert.fail(`${what}: the bytes differ at byte ${i}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Clusters

/**
 * Starts `count` servers with `start` at once. If any fails to start, the others are stopped
 * and its error is thrown. Stop them with `await using` on the result.
 *
 * Takes the start function (usually `() => startMemcached()`) so that this module does not
 * import `_memcached.ts`, which imports it.
 */
export async function startServers(
  count: number,
  start: () => Promise<MemcachedServer>,
): Promise<MemcachedServer[] & AsyncDisposable> {
  const settled = await Promise.allSettled(Array.from({ length: count }, start));
  const servers: MemcachedServer[] = [];
  for (const result of settled) if (result.status === "fulfilled") servers.push(result.value);
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  const failed = settled.find((result) => result.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return Object.assign(servers, { [Symbol.asyncDispose]: stop });
}

/** Groups `keys` by the server {@linkcode Client.serverFor} names for each, in key order. */
export function keysByServer(client: Client, keys: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>(client.servers.map((name) => [name, []]));
  for (const key of keys) groups.get(client.serverFor(key))!.push(key);
  return groups;
}

/**
 * Asserts that `client` holds nothing at all: no connection, request in flight or queued, in
 * total and on every server.
 */
export function assertAllZero(client: Client, what = "the closed client"): void {
  const counters = client.counters();
  assert.deepEqual(totals(client), { connections: 0, inFlight: 0, queued: 0 }, what);
  for (const server of counters.servers) {
    assert.deepEqual(
      { connections: server.connections, inFlight: server.inFlight, queued: server.queued },
      { connections: 0, inFlight: 0, queued: 0 },
      `${what}: server ${server.server} holds ${JSON.stringify(server)}`,
    );
  }
}

/** What a {@linkcode recordingConnector} saw on one connection. */
export interface WireRecord {
  /** Where the connection went. */
  readonly endpoint: Endpoint;
  /** Bytes the client wrote. */
  written: number;
  /** The size of every chunk the client read, in order. */
  readonly chunks: number[];
}

/**
 * Wraps `base` (by default the runtime's connector) so that every connection it opens records
 * how many bytes the client wrote on it and the size of each chunk it read.
 */
export function recordingConnector(
  base: Connector = runtimeConnector,
): { connector: Connector; records: WireRecord[] } {
  const records: WireRecord[] = [];
  const connector: Connector = async (endpoint, handlers, options) => {
    const record: WireRecord = { endpoint, written: 0, chunks: [] };
    const transport = await base(endpoint, {
      data: (chunk) => {
        record.chunks.push(chunk.length);
        handlers.data(chunk);
      },
      drain: () => handlers.drain(),
      closed: (error) => handlers.closed(error),
    }, options);
    records.push(record);
    return {
      write: (chunk) => {
        record.written += chunk.length;
        return transport.write(chunk);
      },
      destroy: () => transport.destroy(),
      done: transport.done,
      [Symbol.dispose]: () => transport[Symbol.dispose](),
    };
  };
  return { connector, records };
}

/** The name a client gives an endpoint: `host:port` or the socket path. */
export function endpointName(endpoint: Endpoint): string {
  return endpoint.kind === "unix" ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** Resolves on a later event-loop turn, after pending I/O callbacks (not after a delay). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Wakes whoever waits in {@linkcode Waiter.until} when something happened (bytes arrived, a
 * socket closed), so tests wait on events rather than poll; the timer is always cleared.
 */
export class Waiter {
  #wake: (() => void) | undefined = undefined;

  /** Something happened: the waiter checks its condition again. */
  wake(): void {
    this.#wake?.();
  }

  /** Resolves once `predicate` holds; fails with `failure()` after `timeout` ms. */
  async until(predicate: () => boolean, failure: () => string, timeout = 5_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!predicate()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) assert.fail(failure());
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, remaining);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

/** Transport handlers that record every call, and a way to wait until a condition holds. */
export class Recorder implements TransportHandlers {
  chunks: Uint8Array[] = [];
  received = 0;
  /** The last bytes received, as latin1 text. */
  tail = "";
  drains = 0;
  closedCalls = 0;
  closedError: unknown = "closed() was not called";
  #waiter = new Waiter();

  data(chunk: Uint8Array): void {
    // The adapter may reuse the chunk once this returns: keep a copy.
    this.chunks.push(chunk.slice());
    this.received += chunk.length;
    this.tail = (this.tail + latin1Text(chunk.subarray(-16))).slice(-16);
    this.#waiter.wake();
  }

  drain(): void {
    this.drains++;
    this.#waiter.wake();
  }

  closed(error: unknown): void {
    this.closedCalls++;
    this.closedError = error;
    this.#waiter.wake();
  }

  /** Every byte received. */
  bytes(): Uint8Array {
    return concat(this.chunks);
  }

  /** Every byte received, as latin1 text. */
  get text(): string {
    return latin1Text(this.chunks);
  }

  /** Resolves once `predicate` holds; fails after `timeout` ms. */
  until(predicate: () => boolean, what: string, timeout = 5_000): Promise<void> {
    return this.#waiter.until(
      predicate,
      () => `Timed out after ${timeout} ms waiting for ${what}; the last bytes: ${this.tail}`,
      timeout,
    );
  }
}

/** The runtime's connector, recording every line the client writes. */
export function lineRecorder(): { connector: Connector; lines: string[] } {
  const lines: string[] = [];
  const decoder = new TextDecoder("latin1");
  let pending = "";
  const connector: Connector = async (endpoint, handlers, options) => {
    const transport = await runtimeConnector(endpoint, handlers, options);
    return {
      write: (chunk) => {
        pending += decoder.decode(chunk);
        const parts = pending.split("\r\n");
        pending = parts.pop()!;
        lines.push(...parts);
        return transport.write(chunk);
      },
      destroy: () => transport.destroy(),
      done: transport.done,
      [Symbol.dispose]: () => transport[Symbol.dispose](),
    };
  };
  return { connector, lines };
}

/**
 * A connector to no socket at all: every line the client writes is answered by `answer` (its
 * reply bytes are delivered on a later turn).
 */
export function scriptedServer(answer: (line: string) => string): Connector {
  return (_endpoint, handlers) => {
    let closed = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => resolveDone = resolve);
    const close = (error?: unknown) => {
      if (closed) return;
      closed = true;
      handlers.closed(error);
      resolveDone();
    };
    let pending = "";
    const decoder = new TextDecoder("latin1");
    const transport = {
      write(chunk: Uint8Array): boolean {
        pending += decoder.decode(chunk);
        const parts = pending.split("\r\n");
        pending = parts.pop()!;
        const reply = parts.map(answer).join("");
        if (reply !== "") {
          const bytes = Uint8Array.from(reply, (c) => c.charCodeAt(0));
          queueMicrotask(() => {
            if (!closed) handlers.data(bytes);
          });
        }
        return true;
      },
      destroy: () => close(),
      done,
      [Symbol.dispose]: () => close(),
    };
    return Promise.resolve(transport);
  };
}
