/**
 * One memcached server as the client sees it: a bounded pool of connections and a health state.
 *
 * Health: every connection that fails (refused, timed out, reset, silent) counts one failure;
 * any reply resets the count. At `failureLimit` failures in a row the server is marked dead. A
 * dead server is probed with `version` on a fresh connection once `retryTimeout` has passed,
 * then with exponential backoff (with jitter, capped at `maxRetryTimeout`) while probes fail.
 * Probes are started by traffic (the client calls {@linkcode Server.maybeProbe} when it routes a
 * request), so an idle client holds no timers.
 *
 * @module
 */

import { now as clockNow } from "../connection/clock.ts";
import {
  Connection,
  type ConnectionOptions,
  type ConnectionOwner,
} from "../connection/connection.ts";
import type { Request } from "../connection/request.ts";
import type { Connector } from "../connection/transport.ts";
import { MemcachedError } from "../errors.ts";
import type { ServerSpec } from "./address.ts";

/** Pool and health settings of every server of a client. */
export interface ServerOptions {
  readonly poolSize: number;
  /** Open every pooled connection at `warm()` instead of on demand. */
  readonly eager: boolean;
  readonly failureLimit: number;
  readonly retryTimeout: number;
  readonly maxRetryTimeout: number;
  readonly idleTimeout: number;
  readonly connectTimeout: number;
  readonly timeout: number;
  readonly connection: ConnectionOptions;
  readonly connector: Connector;
  /** Makes the probe of a dead server: `version` in the client's protocol. */
  readonly probe: (deadline: number) => Request<string>;
}

/** What a server tells its client. */
export interface ServerListener {
  /** The server was marked dead. */
  down(server: Server, error: MemcachedError): void;
  /** A dead server answered a probe. */
  up(server: Server): void;
  /** A probe of a dead server is starting. */
  reconnecting(server: Server, attempt: number): void;
  /** A connection to the server failed. */
  error(server: Server, error: MemcachedError): void;
}

/**
 * Per-server counters.
 *
 * @example
 * ```ts
 * import { Client, type ServerCounters } from "@mica/memcached";
 *
 * function unhealthy(servers: readonly ServerCounters[]): string[] {
 *   return servers.filter((s) => s.state === "dead" || s.failures > 0).map((s) => s.server);
 * }
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"]);
 * console.log(client.counters().servers[0]); // { server: "10.0.0.1:11211", state: "up", ... }
 * console.log(unhealthy(client.counters().servers)); // []
 * ```
 */
export interface ServerCounters {
  /** `host:port` or the socket path. */
  server: string;
  /** `"up"` or `"dead"`. */
  state: "up" | "dead";
  /** Open sockets. */
  connections: number;
  /** Requests written and not yet answered. */
  inFlight: number;
  /** Requests waiting to be written. */
  queued: number;
  /** Connection failures in a row (reset by any reply). */
  failures: number;
  /** Bytes written that the sockets have not sent yet. */
  buffered: number;
}

/** A memcached server: its connections and its health. */
export class Server implements ConnectionOwner {
  readonly spec: ServerSpec;
  #options: ServerOptions;
  #listener: ServerListener;
  #lifetime: AbortSignal;
  /** Usable connections, in creation order. */
  #pool: Connection[] = [];
  /** Every connection whose transport may still be open. */
  #all = new Set<Connection>();
  /** Connections closed on purpose (idle, dead server): their close is not a failure. */
  #retired = new WeakSet<Connection>();
  #failures = 0;
  #dead = false;
  #nextProbeAt = 0;
  #attempt = 0;
  #probe: Connection | undefined = undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #idleSeen = new WeakMap<Connection, number>();
  /**
   * Failures are counted per generation of connections: a failure starts a new generation, and
   * connections of an older one that die later (the rest of a pool hit by the same network blip)
   * do not count again. So `failureLimit` means failed attempts in a row, whatever `poolSize`.
   */
  #generation = 0;
  #born = new WeakMap<Connection, number>();
  #closed = false;

  constructor(
    spec: ServerSpec,
    options: ServerOptions,
    listener: ServerListener,
    lifetime: AbortSignal,
  ) {
    this.spec = spec;
    this.#options = options;
    this.#listener = listener;
    this.#lifetime = lifetime;
  }

  /** `host:port` or the socket path. */
  get name(): string {
    return this.spec.name;
  }

  /** Whether the server is marked dead. */
  get dead(): boolean {
    return this.#dead;
  }

  /**
   * The connection for the next request: the usable one with the fewest pending requests; a new
   * one while the pool is not full and every connection is busy (or there is none).
   */
  pick(): Connection {
    let best: Connection | undefined;
    for (const connection of this.#pool) {
      if (best === undefined || connection.load < best.load) best = connection;
    }
    if (best === undefined || (best.load > 0 && this.#pool.length < this.#options.poolSize)) {
      return this.#open();
    }
    return best;
  }

  /** Opens one connection now if there is none; resolves when it is open. */
  warm(): Promise<void> {
    if (this.#options.eager) {
      // Open the whole pool now; resolve once any of it is open.
      while (this.#pool.length < this.#options.poolSize) this.#open();
      return Promise.any(this.#pool.map((connection) => connection.opened)).catch(
        (error: AggregateError) => {
          throw error.errors[0];
        },
      );
    }
    return this.#pool.length > 0 ? this.#pool[0]!.opened : this.#open().opened;
  }

  /** A new pooled connection, opening now. */
  #open(): Connection {
    const connection = this.#connect();
    this.#adopt(connection);
    return connection;
  }

  /** A new connection, opening now, tracked until its transport is done (not yet pooled). */
  #connect(): Connection {
    const connection = new Connection(this.spec.endpoint, this.#options.connection, this);
    this.#all.add(connection);
    void connection.done.then(() => this.#all.delete(connection));
    connection.opened = connection.open(
      this.#options.connector,
      this.#options.connectTimeout,
      this.#lifetime,
    );
    // Its failure reaches its requests and `closed()`; nothing is left unobserved.
    connection.opened.catch(() => {});
    return connection;
  }

  /** Puts a connection in the pool, in the current failure generation. */
  #adopt(connection: Connection): void {
    this.#born.set(connection, this.#generation);
    this.#pool.push(connection);
    this.#armIdle();
  }

  /** Closes a connection on purpose: its close is not counted as a failure. */
  #retire(connection: Connection, reason: string, cause?: MemcachedError): void {
    this.#retired.add(connection);
    void connection.destroy(
      new MemcachedError(
        "CONNECTION_CLOSED",
        `Cannot use the connection to ${this.name}: ${reason}`,
        { cause },
      ),
    );
  }

  /** Connection hook: the server answered. */
  replied(_connection: Connection): void {
    this.#failures = 0;
  }

  /** Connection hook: a connection closed. */
  closed(connection: Connection, error: MemcachedError): void {
    const at = this.#pool.indexOf(connection);
    if (at >= 0) this.#pool.splice(at, 1);
    if (this.#retired.has(connection) || this.#closed || error.code === "CLIENT_CLOSED") return;
    this.#listener.error(this, error);
    if (connection === this.#probe) return; // the probe's own handler decides
    if (this.#born.get(connection) !== this.#generation) return; // already counted
    this.#generation++;
    this.#failures++;
    if (!this.#dead && this.#failures >= this.#options.failureLimit) this.#markDead(error);
  }

  #markDead(error: MemcachedError): void {
    this.#dead = true;
    this.#attempt = 0;
    this.#nextProbeAt = clockNow() + this.#options.retryTimeout;
    for (const connection of this.#pool.splice(0)) {
      this.#retire(connection, "the server is marked dead after repeated failures", error);
    }
    this.#listener.down(this, error);
  }

  /** Starts a probe if the server is dead and its retry time has come. */
  maybeProbe(now: number): void {
    if (!this.#dead || this.#probe !== undefined || this.#closed || now < this.#nextProbeAt) {
      return;
    }
    this.#attempt++;
    this.#listener.reconnecting(this, this.#attempt);
    const probe = this.#connect();
    this.#probe = probe;
    const request = this.#options.probe(now + this.#options.connectTimeout + this.#options.timeout);
    probe.enqueue(request, undefined);
    request.promise.then(() => {
      this.#probe = undefined;
      if (this.#closed) return;
      this.#dead = false;
      this.#failures = 0;
      this.#attempt = 0;
      this.#adopt(probe);
      this.#listener.up(this);
    }, () => {
      this.#probe = undefined;
      this.#retire(probe, "the probe failed");
      // Exponential backoff with jitter: half fixed, half random; capped.
      const base = Math.min(
        this.#options.retryTimeout * 2 ** this.#attempt,
        this.#options.maxRetryTimeout,
      );
      this.#nextProbeAt = clockNow() + base / 2 + Math.random() * base / 2;
    });
  }

  /** Closes idle connections beyond use: none had a request for a whole `idleTimeout`. */
  #armIdle(): void {
    const idle = this.#options.idleTimeout;
    if (idle <= 0 || this.#idleTimer !== undefined || this.#closed) return;
    this.#idleTimer = setTimeout(this.#idleSweep, idle);
  }

  #idleSweep = (): void => {
    this.#idleTimer = undefined;
    for (const connection of [...this.#pool]) {
      const seen = this.#idleSeen.get(connection);
      this.#idleSeen.set(connection, connection.enqueued);
      if (connection.load === 0 && seen === connection.enqueued) {
        this.#pool.splice(this.#pool.indexOf(connection), 1);
        this.#retire(connection, "the connection was idle");
      }
    }
    if (this.#pool.length > 0) this.#armIdle();
  };

  /** Promises of every request whose caller is still waiting. */
  pending(): Promise<unknown>[] {
    const out: Promise<unknown>[] = [];
    for (const connection of this.#pool) out.push(...connection.pending());
    return out;
  }

  /** What the server holds now. */
  counters(): ServerCounters {
    let connections = 0;
    let inFlight = 0;
    let queued = 0;
    let buffered = 0;
    for (const connection of this.#all) {
      if (connection.isOpen) connections++;
      const c = connection.counters();
      inFlight += c.inFlight;
      queued += c.queued;
      buffered += c.buffered;
    }
    return {
      server: this.name,
      state: this.#dead ? "dead" : "up",
      connections,
      inFlight,
      queued,
      failures: this.#failures,
      buffered,
    };
  }

  /** Closes every connection at once; resolves when all are finished. */
  destroy(error: MemcachedError): Promise<void> {
    this.#closed = true;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#pool = [];
    const all = [...this.#all];
    for (const connection of all) void connection.destroy(error);
    return Promise.all(all.map((connection) => connection.done)).then(() => {});
  }
}
