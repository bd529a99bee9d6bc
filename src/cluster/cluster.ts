/**
 * The servers of a client seen as one: which server a key goes to (the hash ring, with a memo of
 * hot keys' placements), what happens when a server dies (`fail-fast` or `eject`), when a dead
 * server is probed, how a multi-key read is split per server and merged, and the lifetime of
 * every server's connections. {@linkcode Cluster} knows nothing of protocols: it routes
 * requests that the client's dialect made.
 *
 * @module
 */

import type { Request, Settle } from "../connection/request.ts";
import { now as clockNow } from "../connection/clock.ts";
import { MemcachedError } from "../errors.ts";
import { encodeKey, type WireKey } from "../protocol/keys.ts";
import type { Key } from "../protocol/values.ts";
import type { ServerSpec } from "./address.ts";
import type { ManyCall, ManyResult } from "./many.ts";
import { type KeyRules, KeyScheme } from "./keys.ts";
import { type Distribution, HashRing, type KeyHash } from "./ring.ts";
import { Server, type ServerCounters, type ServerListener, type ServerOptions } from "./server.ts";

/**
 * The events a client dispatches, as `CustomEvent`s: the server events, whose `detail` is a
 * {@linkcode ServerEventDetail}, and `refresh-error` (a background refresh of a stale key by
 * `getOrSet` failed), whose `detail` is a `RefreshErrorDetail`. `ClientEventMap` types them.
 *
 * @example
 * ```ts
 * import { Client, type ClientEventType } from "@mica/memcached";
 *
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"]);
 * const types: ClientEventType[] = ["server-down", "server-up", "reconnecting", "error"];
 * for (const type of types) {
 *   client.addEventListener(type, (event) => console.log(type, event.detail));
 * }
 * ```
 */
export type ClientEventType =
  | "server-down"
  | "server-up"
  | "reconnecting"
  | "error"
  | "refresh-error";

/**
 * The `detail` of a client event.
 *
 * @example
 * ```ts
 * import { Client, type ServerEventDetail } from "@mica/memcached";
 *
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"], { failover: "eject" });
 * client.addEventListener("server-down", (event) => {
 *   const { server, error }: ServerEventDetail = event.detail;
 *   console.warn(`${server} is down (${error?.code}); its keys move to the other server`);
 * });
 * ```
 */
export interface ServerEventDetail {
  /** The server, as `host:port` or socket path. */
  server: string;
  /** What failed (`server-down`, `error`). */
  error?: MemcachedError;
  /** Which probe this is (`reconnecting`). */
  attempt?: number;
}

/**
 * What a client holds right now, for monitoring and leak checks.
 *
 * @example
 * ```ts
 * import { Client, type ClientCounters } from "@mica/memcached";
 *
 * using client = new Client("127.0.0.1:11211"); // connects on the first request
 * const counters: ClientCounters = client.counters();
 * console.log(counters.connections, counters.inFlight, counters.queued); // 0 0 0
 * console.log(counters.servers[0]?.state); // "up"
 * ```
 */
export interface ClientCounters {
  /** Open connections (sockets). */
  connections: number;
  /** Requests written and not yet answered. */
  inFlight: number;
  /** Requests waiting to be written. */
  queued: number;
  /** Bytes written that the sockets have not sent yet. */
  buffered: number;
  /** The same per server, with its state and failure count. */
  servers: ServerCounters[];
}

/** How a {@linkcode Cluster} places keys and treats dead servers. */
export interface ClusterOptions {
  readonly distribution: Distribution;
  readonly failover: "fail-fast" | "eject";
  /** Key prefix, long keys, base64 (see {@linkcode KeyRules}). */
  readonly keys: KeyRules;
  /** The key hash of the ring; by default the distribution's. */
  readonly hash?: KeyHash;
  /** The pool and health settings of one server (its credentials decide its handshake). */
  readonly server: (spec: ServerSpec) => ServerOptions;
  /** Where server events go. */
  readonly emit: (type: ClientEventType, detail: ServerEventDetail) => void;
}

/**
 * Makes one server's part of a call on many keys: its keys' wire forms and their positions in
 * the caller's list (`undefined`: all of them, in order), delivering to `settle`.
 */
export type PartMaker<V> = (
  wire: readonly WireKey[],
  at: readonly number[] | undefined,
  settle: Settle<(V | MemcachedError | undefined)[]>,
) => Request<unknown>;

/** How many key placements a cluster remembers. */
const PLACEMENT_CACHE = 4096;

/** A string key, validated: its wire form and its ring position. */
interface Placement {
  readonly wire: WireKey;
  readonly index: number;
}

/** The servers of one client: routing, failover, probing, multi-key splitting and lifetime. */
export class Cluster {
  readonly #servers: Server[];
  /** The ring over the servers keys may go to (all, or the live ones under "eject"). */
  #ring: HashRing | undefined;
  /** `#ring`'s servers, by ring index. */
  #ringServers: Server[];
  readonly #distribution: Distribution;
  readonly #failover: "fail-fast" | "eject";
  readonly #base64: boolean;
  readonly #hash: KeyHash | undefined;
  /** Prefix and long-key rules; undefined when keys go out as they are. */
  readonly #keys: KeyScheme | undefined;
  /** Wire forms and ring positions of recently routed string keys (see `#place`). */
  #placements = new Map<string, Placement>();
  #dead = 0;
  #lifetime = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  #destroyed: Promise<void> | undefined = undefined;

  constructor(specs: readonly ServerSpec[], options: ClusterOptions) {
    this.#distribution = options.distribution;
    this.#failover = options.failover;
    this.#base64 = options.keys.base64;
    this.#hash = options.hash;
    const keys = new KeyScheme(options.keys);
    this.#keys = keys.identity ? undefined : keys;
    const listener = this.#listener(options.emit);
    this.#servers = specs.map((spec) =>
      new Server(spec, options.server(spec), listener, this.#lifetime.signal)
    );
    this.#ringServers = this.#servers;
    this.#ring = this.#ringOver(this.#servers);
  }

  /** The servers, as `host:port` or socket paths, in the order given. */
  get names(): string[] {
    return this.#servers.map((server) => server.name);
  }

  /** Whether `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Aborts when the cluster is destroyed (at the end of a graceful close, too). */
  get signal(): AbortSignal {
    return this.#lifetime.signal;
  }

  /** The promise of a `close()` under way, if one was called. */
  get closing(): Promise<void> | undefined {
    return this.#closing;
  }

  /** The ring over `servers`; none when there is one server in all or none to hash to. */
  #ringOver(servers: readonly Server[]): HashRing | undefined {
    if (this.#servers.length === 1 || servers.length === 0) return undefined;
    return ringOver(servers, this.#distribution, this.#hash);
  }

  #listener(emit: ClusterOptions["emit"]): ServerListener {
    return {
      down: (server, error) => {
        this.#dead++;
        if (this.#failover === "eject") this.#reshape();
        emit("server-down", { server: server.name, error });
      },
      up: (server) => {
        this.#dead--;
        if (this.#failover === "eject") this.#reshape();
        emit("server-up", { server: server.name });
      },
      reconnecting: (server, attempt) => emit("reconnecting", { server: server.name, attempt }),
      error: (server, error) => emit("error", { server: server.name, error }),
    };
  }

  /** Rebuilds the ring over the live servers ("eject"): a dead server's keys move. */
  #reshape(): void {
    const live = this.#servers.filter((server) => !server.dead);
    this.#ringServers = live;
    this.#ring = this.#ringOver(live);
    this.#placements.clear();
  }

  /**
   * A key's wire form, validated; hot string keys come from the placement memo.
   *
   * @throws {MemcachedError} `INVALID_KEY`.
   */
  wireKey(key: Key): WireKey {
    const ring = this.#ring;
    if (typeof key === "string" && ring !== undefined) return this.#place(key, ring).wire;
    const keys = this.#keys;
    return keys === undefined ? encodeKey(key, this.#base64) : keys.wire(key);
  }

  /** The ring position of a key that is not a string (string keys go through `#place`). */
  #index(key: Key, ring: HashRing): number {
    const keys = this.#keys;
    return ring.serverIndexFor(keys === undefined ? key : keys.hashed(key));
  }

  /**
   * The name of the server a key's hash picks, whatever its health.
   *
   * @throws {MemcachedError} `INVALID_KEY`; `NO_SERVERS` when every server is ejected.
   */
  serverFor(key: Key): string {
    this.wireKey(key);
    const server = this.#lookup(key);
    if (server === undefined) {
      throw new MemcachedError("NO_SERVERS", "Cannot find a server: every server is ejected");
    }
    return server.name;
  }

  /** The ring's server for a key, whatever its health; undefined when the ring is empty. */
  #lookup(key: Key): Server | undefined {
    const ring = this.#ring;
    if (ring === undefined) return this.#ringServers[0];
    if (typeof key !== "string") return this.#ringServers[this.#index(key, ring)];
    return this.#ringServers[this.#place(key, ring).index];
  }

  /**
   * A string key's wire form and ring position. Hot keys skip the validation and the MD5: a
   * bounded memo, emptied when it fills and whenever the ring changes (the `hashring` package
   * behind the `memcached` client keeps an LRU of lookups for the same reason).
   *
   * @throws {MemcachedError} `INVALID_KEY`.
   */
  #place(key: string, ring: HashRing): Placement {
    let placement = this.#placements.get(key);
    if (placement === undefined) {
      const keys = this.#keys;
      placement = keys === undefined
        ? { wire: encodeKey(key, this.#base64), index: ring.serverIndexFor(key) }
        : { wire: keys.wire(key), index: ring.serverIndexFor(keys.hashed(key)) };
      if (this.#placements.size >= PLACEMENT_CACHE) this.#placements.clear();
      this.#placements.set(key, placement);
    }
    return placement;
  }

  /** Starts every probe that is due (before routing requests). */
  #probeDue(): void {
    if (this.#dead > 0) {
      const now = clockNow();
      for (const server of this.#servers) server.maybeProbe(now);
    }
  }

  /** Why a request cannot go to `server` (undefined: it can), as `#route` reports it. */
  #unroutable(command: string, server: Server | undefined): MemcachedError | undefined {
    if (server === undefined || (this.#dead === this.#servers.length && this.#servers.length > 1)) {
      return new MemcachedError("NO_SERVERS", `Cannot ${command}: every server is marked dead`);
    }
    if (server.dead) {
      return new MemcachedError(
        "SERVER_DEAD",
        `Cannot ${command} on ${server.name}: the server is marked dead after repeated failures`,
      );
    }
    return undefined;
  }

  /**
   * The server a request goes to: the key's server (or, with no key, the first live one),
   * after starting any probe that is due. Throws `SERVER_DEAD` / `NO_SERVERS` at once.
   */
  #route(command: string, key: Key | undefined): Server {
    this.#probeDue();
    const server = key === undefined
      ? this.#servers.find((s) => !s.dead) ?? this.#servers[0]!
      : this.#lookup(key);
    const error = this.#unroutable(command, server);
    if (error !== undefined) throw error;
    return server!;
  }

  /** The server with the given name, for commands aimed at one server. */
  #named(command: string, name: string): Server {
    const server = this.#servers.find((s) => s.name === name);
    if (server === undefined) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot find server ${JSON.stringify(name)}: not in ${JSON.stringify(this.names)}`,
      );
    }
    if (server.dead) {
      throw new MemcachedError(
        "SERVER_DEAD",
        `Cannot ${command} on ${server.name}: the server is marked dead after repeated failures`,
      );
    }
    return server;
  }

  #closedError(command: string): MemcachedError {
    return new MemcachedError("CLIENT_CLOSED", `Cannot ${command}: the client is closed`);
  }

  /**
   * Sends a request to the server of `key` (with no key, the first live server).
   *
   * @throws {MemcachedError} `CLIENT_CLOSED`, `SERVER_DEAD` or `NO_SERVERS`, before anything
   * is queued.
   */
  submit<T>(
    request: Request<T>,
    signal: AbortSignal | undefined,
    key: Key | undefined,
  ): Promise<T> {
    if (this.#closed) throw this.#closedError(request.command);
    this.#route(request.command, key).pick().enqueue(request, signal);
    return request.promise;
  }

  /**
   * Sends a request to the server named `server`, or to the first live one.
   *
   * @throws {MemcachedError} `CLIENT_CLOSED`, `INVALID_ARGUMENT` (no such server),
   * `SERVER_DEAD` or `NO_SERVERS`, before anything is queued.
   */
  submitTo<T>(
    request: Request<T>,
    signal: AbortSignal | undefined,
    server: string | undefined,
  ): Promise<T> {
    if (this.#closed) throw this.#closedError(request.command);
    const target = server === undefined
      ? this.#route(request.command, undefined)
      : this.#named(request.command, server);
    target.pick().enqueue(request, signal);
    return request.promise;
  }

  /**
   * Sends a request made by `make` to the server named `server`, or to every live server.
   *
   * @throws {MemcachedError} `CLIENT_CLOSED`, `INVALID_ARGUMENT`, `SERVER_DEAD` or `NO_SERVERS`.
   */
  submitEach<T>(
    command: string,
    make: () => Request<T>,
    signal: AbortSignal | undefined,
    server: string | undefined,
  ): Promise<T[]> {
    if (this.#closed) throw this.#closedError(command);
    const targets = server !== undefined
      ? [this.#named(command, server)]
      : this.#servers.filter((s) => !s.dead);
    if (targets.length === 0) {
      throw new MemcachedError("NO_SERVERS", `Cannot ${command}: every server is marked dead`);
    }
    return Promise.all(targets.map((target) => {
      const request = make();
      target.pick().enqueue(request, signal);
      return request.promise;
    }));
  }

  /**
   * Sends a call on many keys: every key is validated and grouped by server first (nothing is
   * sent before every key has passed), then each server gets one part made by `part` (with the
   * keys' positions in `list`, or `undefined` for all of them in order), the parts of several
   * servers running concurrently. `call`'s one promise settles when every part has.
   *
   * @throws {MemcachedError} `CLIENT_CLOSED`; `INVALID_KEY` for any key.
   */
  many<K extends Key, V, R extends ManyResult<K, V>>(
    command: string,
    list: readonly K[],
    call: ManyCall<K, V, R>,
    signal: AbortSignal | undefined,
    part: PartMaker<V>,
  ): Promise<R> {
    if (this.#closed) throw this.#closedError(command);
    const n = list.length;
    if (this.#servers.length === 1) {
      // One server: one batch, no grouping.
      const wire = new Array<WireKey>(n);
      for (let i = 0; i < n; i++) wire[i] = this.wireKey(list[i]!);
      if (n === 0) return call.start();
      let server: Server | undefined;
      try {
        server = this.#route(command, list[0]!);
      } catch (error) {
        call.fail(undefined, error as MemcachedError);
      }
      if (server !== undefined) {
        server.pick().enqueue(part(wire, undefined, call.part(undefined)), signal);
      }
      return call.start();
    }
    // Group the keys by ring position, each group in the caller's order.
    const servers = this.#ringServers;
    const ring = this.#ring;
    const at: number[][] = [];
    const parts: WireKey[][] = [];
    for (let i = 0; i < n; i++) {
      const key = list[i]!;
      let wire: WireKey;
      let index = 0;
      if (typeof key === "string" && ring !== undefined) {
        const placement = this.#place(key, ring);
        wire = placement.wire;
        index = placement.index;
      } else {
        wire = this.wireKey(key);
        if (ring !== undefined) index = this.#index(key, ring);
      }
      const group = at[index];
      if (group === undefined) {
        at[index] = [i];
        parts[index] = [wire];
      } else {
        group.push(i);
        parts[index]!.push(wire);
      }
    }
    if (n === 0) return call.start();
    this.#probeDue();
    for (let index = 0; index < at.length; index++) {
      const positions = at[index];
      if (positions === undefined) continue;
      const server = servers[index];
      const error = this.#unroutable(command, server);
      if (error !== undefined) call.fail(positions, error);
      else {
        server!.pick().enqueue(part(parts[index]!, positions, call.part(positions)), signal);
      }
    }
    return call.start();
  }

  /**
   * Opens one connection to every server now.
   *
   * @returns Resolves once at least one server is connected; else rejects with the first
   * server's error.
   */
  async open(): Promise<void> {
    if (this.#closed) throw this.#closedError("connect");
    const results = await Promise.allSettled(this.#servers.map((server) => server.warm()));
    if (results.some((result) => result.status === "fulfilled")) return;
    throw (results[0] as PromiseRejectedResult).reason;
  }

  /** What every server holds now, with the totals. */
  counters(): ClientCounters {
    return totals(this.#servers);
  }

  /**
   * Closes gracefully: new requests are refused at once, pending ones get up to `timeout` ms,
   * then everything is destroyed. Calling it again returns the same promise.
   */
  close(timeout: number): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = this.#shutdown(timeout);
    return this.#closing;
  }

  async #shutdown(timeout: number): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const server of this.#servers) pending.push(...server.pending());
    if (pending.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((resolve) => timer = setTimeout(resolve, timeout)),
      ]);
      clearTimeout(timer);
    }
    this.destroy();
    await this.#destroyed;
  }

  /** Closes at once: pending requests reject with `CLIENT_CLOSED` and sockets close. */
  destroy(): void {
    if (this.#destroyed !== undefined) return;
    this.#closed = true;
    this.#lifetime.abort();
    const error = this.#closedError("complete request");
    this.#destroyed = Promise.all(this.#servers.map((server) => server.destroy(error))).then(
      () => {},
    );
  }
}

/** The hash ring over the servers, hashed as `distribution` and `hash` say. */
function ringOver(
  servers: readonly Server[],
  distribution: Distribution,
  hash: KeyHash | undefined,
): HashRing {
  return new HashRing(
    servers.map(({ spec }) =>
      spec.endpoint.kind === "unix"
        ? { host: spec.endpoint.path, port: 0, weight: spec.weight }
        : { host: spec.endpoint.host, port: spec.endpoint.port, weight: spec.weight }
    ),
    hash === undefined ? { distribution } : { distribution, hash },
  );
}

/** What each of `servers` holds now, with the totals. */
function totals(servers: readonly Server[]): ClientCounters {
  let inFlight = 0;
  let queued = 0;
  let connections = 0;
  let buffered = 0;
  const each: ServerCounters[] = [];
  for (const server of servers) {
    const c = server.counters();
    each.push(c);
    connections += c.connections;
    inFlight += c.inFlight;
    queued += c.queued;
    buffered += c.buffered;
  }
  return { connections, inFlight, queued, buffered, servers: each };
}
