/**
 * The first floor of {@linkcode Client}: building it, opening and closing its connections, and
 * what it tells about itself. The commands are added by the floors above
 * ({@linkcode ReadCommands}, {@linkcode WriteCommands}, then `Client` with the server commands).
 *
 * @module
 */

import type { CloseOptions } from "../call_options.ts";
import type { ServerAddress } from "../cluster/address.ts";
import type { ClientCounters } from "../cluster/cluster.ts";
import { ClientEvents } from "../events.ts";
import type { ClientMetrics } from "../observe.ts";
import { type ClientOptions, positive } from "../options.ts";
import type { Protocol } from "../dialects/mod.ts";
import type { Key } from "../protocol/values.ts";
import { ClientCore } from "./core.ts";

/** Returns the core a client's floors share; set once, by {@linkcode ClientBase}. */
export let coreOf: (client: ClientBase) => ClientCore;

/**
 * What every {@linkcode Client} is: its servers and protocol, its connections' lifecycle
 * (`open`, `close`, `destroy`, `await using`), its counters and metrics, and its events
 * (from {@linkcode ClientEvents}). You use it through a `Client`; the commands are on the
 * floors above it ({@linkcode ReadCommands}, {@linkcode WriteCommands}, `Client`).
 *
 * @example Lifecycle
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * console.log(client.servers, client.protocol, client.counters());
 * ```
 */
export class ClientBase extends ClientEvents implements AsyncDisposable, Disposable {
  readonly #core: ClientCore;

  static {
    coreOf = (client) => client.#core;
  }

  /**
   * Checks the address and options; nothing connects yet. See {@linkcode Client}'s constructor.
   *
   * @param address Where the server listens, or a list of servers.
   * @param options Client options; see {@linkcode ClientOptions}.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option.
   */
  constructor(address?: ServerAddress | readonly ServerAddress[], options: ClientOptions = {}) {
    super();
    this.#core = new ClientCore(this, address, options);
  }

  /** The servers, as `host:port` or socket paths, in the order given. */
  get servers(): string[] {
    return this.#core.cluster.names;
  }

  /** The protocol the client speaks: `"meta"`, `"text"` or `"binary"`. */
  get protocol(): Protocol {
    return this.#core.protocol;
  }

  /** Whether {@linkcode Client.close} or {@linkcode Client.destroy} was called. */
  get closed(): boolean {
    return this.#core.cluster.closed;
  }

  /**
   * Returns the server a key is stored on: the one its hash picks, as `host:port` or a socket
   * path. Under `failover: "eject"` a dead server's keys map to live servers.
   *
   * @param key The key.
   * @returns The server's name.
   * @throws {MemcachedError} `INVALID_KEY` for a key that cannot be sent; `NO_SERVERS` when
   * every server is ejected.
   *
   * @example
   * ```ts
   * import { Client } from "@mica/memcached";
   *
   * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]);
   * console.log(client.serverFor("user:42")); // one of the three, always the same
   * ```
   */
  serverFor(key: Key): string {
    return this.#core.cluster.serverFor(key);
  }

  /**
   * Opens one connection to every server now. Requests do this themselves when needed.
   *
   * @returns Resolves once at least one server is connected.
   * @throws {MemcachedError} The first server's `CONNECT_FAILED`, `CONNECT_TIMEOUT` (when every
   * server failed) or `CLIENT_CLOSED`.
   *
   * @example
   * ```ts ignore
   * import { Client } from "@mica/memcached";
   *
   * await using client = new Client("127.0.0.1:11211");
   * await client.open();
   * ```
   */
  open(): Promise<void> {
    return this.#core.cluster.open();
  }

  /**
   * Returns what the client holds now: open connections, requests in flight and queued.
   *
   * @returns The counters.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * console.log(client.counters()); // { connections: 1, inFlight: 0, queued: 0 }
   * ```
   */
  counters(): ClientCounters {
    return this.#core.cluster.counters();
  }

  /**
   * Returns the client's metrics: hits and misses of reads, and per command the calls, errors
   * and a latency histogram, counted while the `metrics` option is on; and the gauge of bytes
   * written that the sockets have not sent yet.
   *
   * @returns A snapshot.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211", { metrics: true });
   * await client.get("missing");
   * const { hits, misses, operations } = client.metrics();
   * console.log(hits, misses, operations.get?.latency.count); // 0 1 1
   * ```
   */
  metrics(): ClientMetrics {
    const core = this.#core;
    return core.observer.snapshot(core.cluster.counters().buffered);
  }

  /**
   * Closes gracefully: new calls reject with `CLIENT_CLOSED` at once, pending requests get up
   * to `timeout` ms to finish, then the rest reject with `CLIENT_CLOSED` and every socket and
   * timer is released. Resolves when all of that is done. Calling it again returns the same
   * promise.
   *
   * @param options `timeout` in milliseconds; defaults to the client's `closeTimeout`.
   * @returns Resolves once everything is released.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * const client = await connect("127.0.0.1:11211");
   * try {
   *   await client.set("k", "v");
   * } finally {
   *   await client.close({ timeout: 500 });
   * }
   * ```
   */
  close(options?: CloseOptions): Promise<void> {
    const { cluster, closeTimeout } = this.#core;
    try {
      return cluster.closing ?? cluster.close(positive("timeout", options?.timeout, closeTimeout));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Closes at once: pending requests reject with `CLIENT_CLOSED` and sockets close. Socket
   * shutdown finishes in the background; `await client.close()` waits for it.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * const client = await connect("127.0.0.1:11211");
   * client.destroy();
   * ```
   */
  destroy(): void {
    this.#core.cluster.destroy();
  }

  /** Same as {@linkcode Client.close}; used by `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Same as {@linkcode Client.destroy}; used by `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  /** What `console.log` and `Deno.inspect` show: servers, protocol, state; no credentials. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options?: unknown) => string,
    options?: unknown,
  ): string {
    return `Client ${inspect(this.#summary(), options)}`;
  }

  /** What `console.log` and `util.inspect` show on Bun and Node: as on Deno. */
  [Symbol.for("nodejs.util.inspect.custom")](
    _depth: number,
    options?: unknown,
    inspect?: (value: unknown, options?: unknown) => string,
  ): string {
    const summary = this.#summary();
    return `Client ${inspect ? inspect(summary, options) : JSON.stringify(summary)}`;
  }

  #summary() {
    const { connections, inFlight, queued } = this.#core.cluster.counters();
    return {
      servers: this.servers,
      protocol: this.protocol,
      closed: this.closed,
      connections,
      inFlight,
      queued,
    };
  }
}
