/**
 * What a client tells about its work: metrics (hits and misses, calls, errors and a latency
 * histogram per command) when its `metrics` option is on, and traces through
 * `node:diagnostics_channel` whenever something subscribes to the {@linkcode TRACING_CHANNEL}
 * tracing channel (both runtimes ship it), so OpenTelemetry-style instrumentation can follow
 * every command. With neither, a command costs one check.
 *
 * @module
 */

import dc from "node:diagnostics_channel";
import type { Key } from "./protocol/values.ts";

/**
 * The name of Mica's `TracingChannel`: subscribe with
 * `diagnostics_channel.tracingChannel(TRACING_CHANNEL).subscribe({ start, end, asyncStart,
 * asyncEnd, error })`, or to its channels `tracing:mica:command:start`, `…:end`,
 * `…:asyncStart`, `…:asyncEnd` and `…:error`. Each event's message is a
 * {@linkcode CommandTrace}: `start` when a command is sent, `asyncStart`/`asyncEnd` when it
 * settles (with `result` set), `error` (with `error` set) when it fails.
 *
 * @example Logging every command that takes over 10 ms
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * import { type CommandTrace, TRACING_CHANNEL } from "@mica/memcached";
 *
 * const started = new WeakMap<object, number>();
 * diagnostics_channel.tracingChannel(TRACING_CHANNEL).subscribe({
 *   start: (message) => void started.set(message as object, performance.now()),
 *   end() {},
 *   asyncStart() {},
 *   asyncEnd(message) {
 *     const ms = performance.now() - (started.get(message as object) ?? performance.now());
 *     const { command, key } = message as CommandTrace;
 *     if (ms > 10) console.warn(`${command} ${String(key ?? "")} took ${ms.toFixed(1)} ms`);
 *   },
 *   error() {},
 * });
 * ```
 */
export const TRACING_CHANNEL = "mica:command";

/**
 * The message of every tracing event of one command.
 *
 * @example
 * ```ts
 * import type { CommandTrace } from "@mica/memcached";
 *
 * const trace: CommandTrace = { command: "get", key: "user:1", keys: 1, protocol: "meta" };
 * console.log(trace.command); // "get"
 * ```
 */
export interface CommandTrace {
  /** The client method: `"get"`, `"set"`, `"getMany"`, ... */
  readonly command: string;
  /** The key, for commands on one key. */
  readonly key?: Key;
  /** How many keys the command is about (1 for one key, 0 for server commands). */
  readonly keys: number;
  /** The client's protocol. */
  readonly protocol: string;
  /** The command's result, once it succeeded. */
  result?: unknown;
  /** Its error, once it failed. */
  error?: unknown;
}

/**
 * A latency histogram: `counts[i]` commands took at most `bounds[i]` microseconds (and more
 * than `bounds[i - 1]`); the last count is of the slower ones.
 *
 * @example
 * ```ts
 * import type { LatencyHistogram } from "@mica/memcached";
 *
 * function p99(h: LatencyHistogram): number {
 *   let seen = 0;
 *   for (let i = 0; i < h.counts.length; i++) {
 *     seen += h.counts[i]!;
 *     if (seen >= h.count * 0.99) return h.bounds[i] ?? Infinity;
 *   }
 *   return Infinity;
 * }
 * console.log(p99({ bounds: [100, 1000], counts: [98, 2, 0], count: 100, sumUs: 9000 })); // 1000
 * ```
 */
export interface LatencyHistogram {
  /** Upper bounds in microseconds, ascending. */
  readonly bounds: readonly number[];
  /** Commands per bucket: one more than `bounds` (the last is over the last bound). */
  readonly counts: readonly number[];
  /** Commands measured. */
  readonly count: number;
  /** Their total time in microseconds. */
  readonly sumUs: number;
}

/**
 * The metrics of one command.
 *
 * @example
 * ```ts
 * import type { OperationMetrics } from "@mica/memcached";
 *
 * const errorRate = (m: OperationMetrics) => m.calls === 0 ? 0 : m.errors / m.calls;
 * console.log(errorRate({ calls: 4, errors: 1, latency: { bounds: [], counts: [4], count: 4, sumUs: 80 } }));
 * ```
 */
export interface OperationMetrics {
  /** Calls that completed (succeeded or failed). */
  readonly calls: number;
  /** Calls that failed. */
  readonly errors: number;
  /** Their latency, from the call to the settlement. */
  readonly latency: LatencyHistogram;
}

/**
 * What {@linkcode Client.metrics} returns.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211", { metrics: true });
 * await client.get("k");
 * const m = client.metrics();
 * console.log(m.hits, m.misses, m.operations.get?.calls, m.buffered); // 0 1 1 0
 * ```
 */
export interface ClientMetrics {
  /** Keys found by `get`, `gets`, `getAndTouch` and `getMany`. */
  readonly hits: number;
  /** Keys they did not find. */
  readonly misses: number;
  /** Metrics by command, for the commands called so far. */
  readonly operations: Readonly<Record<string, OperationMetrics>>;
  /** Bytes written by the client that its sockets have not sent yet (a gauge). */
  readonly buffered: number;
}

/** Histogram bounds, in microseconds. */
const BOUNDS: readonly number[] = [
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  25_000,
  50_000,
  100_000,
  250_000,
  500_000,
  1_000_000,
];

/**
 * How a command's result counts towards hits and misses: `None` (not a read), `One` (one key:
 * a result other than `undefined` is a hit), `Many` (a `getMany` result: its size are hits, the
 * other keys that did not fail are misses).
 */
export const Count = { None: 0, One: 1, Many: 2 } as const;
/** One of {@linkcode Count}'s values. */
export type Count = typeof Count[keyof typeof Count];

class Operation {
  calls = 0;
  errors = 0;
  sumUs = 0;
  readonly counts = new Array<number>(BOUNDS.length + 1).fill(0);

  record(us: number, failed: boolean): void {
    this.calls++;
    if (failed) this.errors++;
    this.sumUs += us;
    let i = 0;
    while (i < BOUNDS.length && us > BOUNDS[i]!) i++;
    this.counts[i]!++;
  }

  snapshot(): OperationMetrics {
    return {
      calls: this.calls,
      errors: this.errors,
      latency: { bounds: BOUNDS, counts: [...this.counts], count: this.calls, sumUs: this.sumUs },
    };
  }
}

const channel = dc.tracingChannel(TRACING_CHANNEL);
/** The start channel of the tracing channel: `tracing.hasSubscribers` says whether anyone listens. */
export const tracing: { readonly hasSubscribers: boolean } = dc.channel(
  `tracing:${TRACING_CHANNEL}:start`,
);

/** Metrics and traces of one client. */
export class Observer {
  readonly #metrics: boolean;
  readonly #protocol: string;
  readonly #operations = new Map<string, Operation>();
  #hits = 0;
  #misses = 0;

  constructor(metrics: boolean, protocol: string) {
    this.#metrics = metrics;
    this.#protocol = protocol;
  }

  /** Whether anything is to be recorded or traced: check before calling {@linkcode observe}. */
  get active(): boolean {
    return this.#metrics || tracing.hasSubscribers;
  }

  /** Follows a command's promise: its latency, outcome and trace. Returns the same outcome. */
  observe<T>(
    command: string,
    key: Key | undefined,
    keys: number,
    count: Count,
    promise: Promise<T>,
  ): Promise<T> {
    const began = performance.now();
    const record = (failed: boolean, result: unknown) => {
      if (!this.#metrics) return;
      let operation = this.#operations.get(command);
      if (operation === undefined) this.#operations.set(command, operation = new Operation());
      operation.record((performance.now() - began) * 1000, failed);
      if (failed || count === Count.None) return;
      if (count === Count.One) {
        if (result === undefined) this.#misses++;
        else this.#hits++;
      } else {
        const found = result as { size: number; failed: { size: number } };
        this.#hits += found.size;
        this.#misses += keys - found.size - found.failed.size;
      }
    };
    const tracked = promise.then(
      (result) => {
        record(false, result);
        return result;
      },
      (error) => {
        record(true, undefined);
        throw error;
      },
    );
    if (!tracing.hasSubscribers) return tracked;
    const trace: CommandTrace = key === undefined
      ? { command, keys, protocol: this.#protocol }
      : { command, key, keys, protocol: this.#protocol };
    return channel.tracePromise(() => tracked, trace);
  }

  /** The metrics so far. */
  snapshot(buffered: number): ClientMetrics {
    const operations: Record<string, OperationMetrics> = {};
    for (const [command, operation] of this.#operations) operations[command] = operation.snapshot();
    return { hits: this.#hits, misses: this.#misses, operations, buffered };
  }
}
