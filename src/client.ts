/**
 * The memcached client: {@linkcode connect} and {@linkcode Client}.
 *
 * @module
 */

import { bunConnector } from "./adapters/bun.ts";
import { denoConnector } from "./adapters/deno.ts";
import { parseServer, type ServerAddress } from "./address.ts";
import { now as clockNow } from "./clock.ts";
import { MemcachedError } from "./errors.ts";
import { type Distribution, HashRing } from "./hash_ring.ts";
import { binaryDialect, SaslAuthRequest } from "./binary_operations.ts";
import { Credentials } from "./credentials.ts";
import { type Dialect, metaDialect, type Protocol } from "./dialect.ts";
import type { ValueMapper } from "./operations.ts";
import { encodeKey, type SetMode, type WireKey } from "./protocol/mod.ts";
import { BinaryResponseDecoder } from "./protocol/binary.ts";
import { TextResponseDecoder } from "./protocol/text.ts";
import type { Request, Settle } from "./request.ts";
import { TextAuthRequest, textDialect } from "./text_operations.ts";
import { Server, type ServerCounters, type ServerListener, type ServerOptions } from "./server.ts";
import { checkTls, type Connector, type TlsOptions } from "./transport.ts";
import type { Handshake } from "./connection.ts";
import {
  checkValue,
  decodeAuto,
  decodeBytes,
  decodeString,
  type Key,
  type Ttl,
  typeFlags,
  u64,
  type Value,
  wireTtl,
} from "./values.ts";

/**
 * Options of {@linkcode connect}. Every field is optional.
 *
 * @example
 * ```ts ignore
 * import { type ClientOptions, connect } from "@mica/memcached";
 *
 * const options: ClientOptions = {
 *   timeout: 250, // milliseconds per request
 *   poolSize: 2,
 *   failover: "eject", // a dead server's keys move to the live ones
 *   defaultTtl: 3600,
 * };
 * await using client = await connect(["10.0.0.1:11211", "10.0.0.2:11211"], options);
 * ```
 */
export interface ClientOptions {
  /**
   * Milliseconds a request may take, from the call until its reply is read, unless the call
   * passes its own `timeout`. A connection that sends nothing for this long while requests are
   * overdue is dropped and replaced.
   * @default {1000}
   */
  timeout?: number;
  /**
   * Milliseconds to open a connection.
   * @default {1000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds a graceful {@linkcode Client.close} waits for pending requests.
   * @default {5000}
   */
  closeTimeout?: number;
  /**
   * Requests written and not yet answered on a connection, at most (a `getMany` counts once).
   * Further requests wait in the queue: this is the pipelining depth.
   * @default {256}
   */
  maxInFlight?: number;
  /**
   * Requests waiting to be written, at most; beyond it calls reject with `QUEUE_FULL`.
   * @default {100000}
   */
  maxQueued?: number;
  /**
   * The largest value in bytes that may be stored or read (memcached's default item size is
   * 1 MiB; raise this with the server's `-I`).
   * @default {1048576}
   */
  maxValueSize?: number;
  /**
   * Send keys base64-encoded (meta `b` flag), so a key may hold any bytes (up to 186).
   * @default {false}
   */
  base64Keys?: boolean;
  /**
   * Disable Nagle's algorithm on TCP connections.
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * The TTL of stores that do not pass one: seconds, or 0 for no expiry.
   * @default {0}
   */
  defaultTtl?: number;
  /**
   * How keys are spread over several servers: `"ketama"` (libmemcached's weighted consistent
   * hashing with MD5, compatible with php-memcached's libketama mode and pylibmc) or `"modula"`
   * (libmemcached's default: one_at_a_time hash modulo the server count).
   * @default {"ketama"}
   */
  distribution?: Distribution;
  /**
   * What happens to keys of a dead server: `"fail-fast"` rejects them at once with
   * `SERVER_DEAD` (no key moves, so no stale copies appear elsewhere); `"eject"` rebuilds the
   * ring without the server so its keys move to live servers, and again when it returns
   * (libmemcached's auto-eject).
   * @default {"fail-fast"}
   */
  failover?: "fail-fast" | "eject";
  /**
   * Connections per server, at most; a request goes to the one with the fewest pending
   * requests, and a new one opens (up to this many) when all are busy. One pipelined
   * connection is usually fastest.
   * @default {1}
   */
  poolSize?: number;
  /**
   * Open all `poolSize` connections of every server when the client opens (`connect()` or
   * `open()`), instead of one per server with the rest on demand.
   * @default {false}
   */
  eager?: boolean;
  /**
   * Connection failures in a row (refused, connect timeout, reset, silent) after which a server
   * is marked dead. Any reply resets the count.
   * @default {3}
   */
  failureLimit?: number;
  /**
   * Milliseconds a dead server is left alone before the first probe (`version` on a fresh
   * connection). Failed probes back off exponentially, with jitter, up to `maxRetryTimeout`.
   * @default {2000}
   */
  retryTimeout?: number;
  /**
   * The longest wait between probes of a dead server, in milliseconds.
   * @default {30000}
   */
  maxRetryTimeout?: number;
  /**
   * Milliseconds without a request after which a connection is closed (it reopens on demand);
   * 0 keeps connections open.
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * The wire protocol: `"meta"` (memcached 1.6+, opaque-matched), `"text"` (the classic ASCII
   * protocol, for proxies and older servers) or `"binary"` (needed for SASL). The API is the
   * same; what a protocol cannot express safely rejects with `UNSUPPORTED`.
   * @default {"meta"}
   */
  protocol?: Protocol;
  /**
   * Connect with TLS: `true` for the system's trusted CAs, or settings (`ca`, `serverName`,
   * `cert` and `key` for mutual TLS). The certificate and its name are always verified.
   * @default {false}
   */
  tls?: boolean | TlsOptions;
  /**
   * User name for SASL PLAIN (binary protocol) or ASCII authentication (text and meta
   * protocols, memcached `-Y`); each new connection authenticates before its first request.
   * Credentials in an address (`"user:pass@host:port"`) take precedence for that server.
   */
  username?: string;
  /** The password of `username`. It never appears in errors, events or inspection output. */
  password?: string;
  /**
   * The runtime adapter that opens sockets. By default the one for the runtime Mica runs in
   * (`denoConnector` on Deno, `bunConnector` on Bun).
   */
  connector?: Connector;
}

/**
 * Options every request takes.
 *
 * @example Giving up when the HTTP client does
 * ```ts ignore
 * import { connect, type RequestOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * Deno.serve(async (request) => {
 *   const options: RequestOptions = { timeout: 50, signal: request.signal };
 *   const renewed = await client.touch("session:1", 1800, options);
 *   return new Response(renewed ? "renewed" : "expired");
 * });
 * ```
 */
export interface RequestOptions {
  /** Milliseconds for this request; defaults to the client's `timeout`. */
  timeout?: number;
  /** Cancels the request: it rejects with `ABORTED` and, if not yet written, is never sent. */
  signal?: AbortSignal;
}

/**
 * Options of reads.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: GetOptions = { as: "bytes", timeout: 100 };
 * const avatar = await client.get("avatar:42", options); // a Uint8Array, whatever its flags
 * ```
 */
export interface GetOptions extends RequestOptions {
  /**
   * How to return the value: `"auto"` by its client flags (text for flags 0, bytes otherwise),
   * or always as `"string"` or `"bytes"`.
   * @default {"auto"}
   */
  as?: "auto" | "string" | "bytes";
}

/**
 * Options of stores.
 *
 * @example
 * ```ts ignore
 * import { connect, type SetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: SetOptions = { ttl: 600, timeout: 100 };
 * await client.set("page:/", "<html></html>", options);
 * // Raw client flags, for an item another client reads.
 * await client.set("legacy:1", "42", { flags: 1, ttl: new Date("2030-01-01T00:00:00Z") });
 * ```
 */
export interface SetOptions extends RequestOptions {
  /** Seconds (0 = never) or a `Date`; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /**
   * Raw 32-bit client flags to store instead of Mica's type flag (for sharing items with
   * other clients). A value stored with flags other than 0 reads back as bytes under `"auto"`.
   */
  flags?: number;
}

/**
 * Options of {@linkcode Client.incr} and {@linkcode Client.decr}.
 *
 * @example A daily counter
 * ```ts ignore
 * import { connect, type IncrOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: IncrOptions = { initial: 1, ttl: 86400 }; // a missing counter starts at 1
 * console.log(await client.incr("hits:2030-01-01", 1, options)); // 1n, then 2n, ...
 * ```
 */
export interface IncrOptions extends RequestOptions {
  /** Create a missing counter with this value (the delta is not applied to it). */
  initial?: number | bigint;
  /** TTL of a counter created from `initial`; 0 = never expire. */
  ttl?: Ttl;
}

/**
 * Options of {@linkcode Client.flush}.
 *
 * @example
 * ```ts ignore
 * import { connect, type FlushOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: FlushOptions = { server: "127.0.0.1:11212", delay: 10 };
 * await client.flush(options); // that server only, in 10 seconds
 * ```
 */
export interface FlushOptions extends RequestOptions {
  /** Seconds before the flush takes effect. */
  delay?: number;
  /** Flush only this server (`host:port` as configured); by default every live server. */
  server?: string;
}

/**
 * Options of commands aimed at one server: `version`, `stats`, `verbosity`.
 *
 * @example
 * ```ts ignore
 * import { connect, type ServerOptionsArg } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: ServerOptionsArg = { server: "127.0.0.1:11212", timeout: 500 };
 * console.log(await client.version(options));
 * console.log((await client.stats("settings", options)).get("maxconns"));
 * ```
 */
export interface ServerOptionsArg extends RequestOptions {
  /** The server (`host:port` or socket path, as configured); by default the first live one. */
  server?: string;
}

/**
 * Options of {@linkcode Client.getMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetManyOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: GetManyOptions = { allOrNothing: true, as: "string" };
 * const found = await client.getMany(["a", "b", "c"], options); // rejects if a server fails
 * ```
 */
export interface GetManyOptions extends GetOptions {
  /**
   * Reject the whole call if any server fails, instead of reporting that server's keys in
   * {@linkcode GetManyResult.failed}.
   * @default {false}
   */
  allOrNothing?: boolean;
}

/**
 * The result of {@linkcode Client.getMany}: a `Map` from each key found to its value, in the
 * caller's key order, plus the keys whose server failed and why.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const keys = ["user:1", "user:2", "user:3"];
 * const result = await client.getMany(keys);
 * for (const [key, value] of result) console.log(key, value); // the hits, in key order
 * for (const [key, error] of result.failed) console.warn(key, error.code); // e.g. SERVER_DEAD
 * const misses = keys.filter((key) => !result.has(key) && !result.failed.has(key));
 * ```
 */
export class GetManyResult<K extends Key = Key> extends Map<K, Value> {
  /** Keys that could not be read, each with the error of its server. Empty on full success. */
  readonly failed: Map<K, MemcachedError> = new Map();
}

/**
 * One `getMany` call. Its per-server parts (requests made with a {@linkcode Settle}) report
 * here, and when the last has, the call's one promise settles with the merged result: no
 * promise per part and no `Promise.all`.
 */
class ManyGet<K extends Key> {
  readonly #list: readonly K[];
  readonly #allOrNothing: boolean;
  /** The values by the caller's key positions (the one part's array, with one server). */
  #values: (Value | undefined)[] | undefined = undefined;
  readonly #failed: { at: number[] | undefined; error: MemcachedError }[] = [];
  /** Parts not yet settled, plus one until {@linkcode start} (so none can finish the call early). */
  #pending = 1;
  #resolve!: (result: GetManyResult<K>) => void;
  #reject!: (error: unknown) => void;

  constructor(list: readonly K[], allOrNothing: boolean) {
    this.#list = list;
    this.#allOrNothing = allOrNothing;
  }

  /** A part for the keys at positions `at` (all of them, in order, when undefined). */
  part(at: number[] | undefined): Settle<(Value | undefined)[]> {
    this.#pending++;
    return {
      resolve: (found) => {
        if (at === undefined) this.#values = found;
        else {
          const values = this.#values ??= new Array<Value | undefined>(this.#list.length);
          for (let i = 0; i < found.length; i++) values[at[i]!] = found[i];
        }
        this.#settled();
      },
      reject: (error) => {
        this.#failed.push({ at, error: error as MemcachedError });
        this.#settled();
      },
    };
  }

  /** Keys at positions `at` (all when undefined) that could not be sent: `error` is theirs. */
  fail(at: number[] | undefined, error: MemcachedError): void {
    this.#failed.push({ at, error });
  }

  /** Every part is made: the promise settles when they have all settled. */
  start(): Promise<GetManyResult<K>> {
    const promise = new Promise<GetManyResult<K>>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#settled();
    return promise;
  }

  #settled(): void {
    if (--this.#pending > 0) return;
    // May run inside a connection's read loop: never throw there.
    try {
      this.#resolve(this.#merge());
    } catch (error) {
      this.#reject(error);
    }
  }

  /** Builds the result in the caller's key order. */
  #merge(): GetManyResult<K> {
    const list = this.#list;
    const result = new GetManyResult<K>();
    for (const { at, error } of this.#failed) {
      // Closing the client or aborting the call ends the whole call, not one server's part.
      const code = error.code;
      if (this.#allOrNothing || code === "CLIENT_CLOSED" || code === "ABORTED") throw error;
      if (at === undefined) { for (const key of list) result.failed.set(key, error); }
      else for (const i of at) result.failed.set(list[i]!, error);
    }
    const values = this.#values;
    if (values !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const value = values[i];
        if (value !== undefined) result.set(list[i]!, value);
      }
    }
    return result;
  }
}

/**
 * The events a client dispatches (as `CustomEvent`s whose `detail` is a {@linkcode
 * ServerEventDetail}).
 *
 * @example
 * ```ts
 * import { Client, type ClientEventType } from "@mica/memcached";
 *
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"]);
 * const types: ClientEventType[] = ["server-down", "server-up", "reconnecting", "error"];
 * for (const type of types) {
 *   client.addEventListener(type, (event) => console.log(type, (event as CustomEvent).detail));
 * }
 * ```
 */
export type ClientEventType = "server-down" | "server-up" | "reconnecting" | "error";

/**
 * The `detail` of a client event.
 *
 * @example
 * ```ts
 * import { Client, type ServerEventDetail } from "@mica/memcached";
 *
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"], { failover: "eject" });
 * client.addEventListener("server-down", (event) => {
 *   const { server, error } = (event as CustomEvent<ServerEventDetail>).detail;
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
 * Options of {@linkcode Client.close}.
 *
 * @example
 * ```ts
 * import { Client, type CloseOptions } from "@mica/memcached";
 *
 * const client = new Client("127.0.0.1:11211");
 * const options: CloseOptions = { timeout: 500 }; // pending requests get half a second
 * await client.close(options);
 * console.log(client.closed); // true
 * ```
 */
export interface CloseOptions {
  /** Milliseconds to wait for pending requests; defaults to the client's `closeTimeout`. */
  timeout?: number;
}

/**
 * A value with its CAS token and client flags, from {@linkcode Client.gets}.
 *
 * @example
 * ```ts ignore
 * import { connect, type Item } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const item: Item | undefined = await client.gets("config", { as: "string" });
 * if (item !== undefined) {
 *   console.log(item.value, item.flags);
 *   await client.cas("config", `${item.value};v2`, item.cas);
 * }
 * ```
 */
export interface Item {
  /** The value, typed as by {@linkcode GetOptions.as}. */
  value: Value;
  /** The CAS token to pass to {@linkcode Client.cas}. */
  cas: bigint;
  /** The raw 32-bit client flags. */
  flags: number;
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
  /** The same per server, with its state and failure count. */
  servers: ServerCounters[];
}

const DEFAULTS = {
  timeout: 1000,
  connectTimeout: 1000,
  closeTimeout: 5000,
  maxInFlight: 256,
  maxQueued: 100_000,
  maxValueSize: 1024 * 1024,
  base64Keys: false,
  noDelay: true,
  defaultTtl: 0,
  poolSize: 1,
  eager: false,
  failureLimit: 3,
  retryTimeout: 2000,
  maxRetryTimeout: 30_000,
  idleTimeout: 0,
} as const;

/** How many key placements `Client` remembers. */
const PLACEMENT_CACHE = 4096;

/** A string key, validated: its wire form and its ring position. */
interface Placement {
  readonly wire: WireKey;
  readonly index: number;
}

function integer(name: string, value: number | undefined, fallback: number): number {
  const n = positive(name, value, fallback);
  if (!Number.isInteger(n)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${n} is not an integer`,
    );
  }
  return n;
}

function oneOf<T extends string>(
  name: string,
  value: T | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`,
    );
  }
  return value;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${String(value)} is not a positive number`,
    );
  }
  return value;
}

function flag(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${String(value)} is not a boolean`,
    );
  }
  return value;
}

/** The authentication each new connection runs first, for a protocol. */
function handshake(protocol: Protocol, credentials: Credentials): Handshake {
  if (protocol === "binary") {
    return {
      request: (deadline) =>
        new SaslAuthRequest(
          deadline,
          () => credentials.reveal((username, password) => ({ username, password })),
        ),
      decoder: () => new BinaryResponseDecoder(),
    };
  }
  if (credentials.reveal((_user, password) => /\s/.test(password))) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      "Cannot use credentials: ASCII authentication (text and meta protocols) cannot send a " +
        'password with a space; use protocol "binary" (SASL)',
    );
  }
  return {
    request: (deadline) =>
      new TextAuthRequest(
        deadline,
        () => credentials.reveal((username, password) => `${username} ${password}`),
      ),
    // ASCII auth answers in the text protocol, also on a connection that then speaks meta.
    decoder: () => new TextResponseDecoder(),
  };
}

function tlsOptions(value: boolean | TlsOptions | undefined): TlsOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  checkTls(value, "Cannot use option tls");
  return { ...value };
}

function defaultConnector(): Connector {
  const g = globalThis as Record<string, unknown>;
  if (g.Bun !== undefined) return bunConnector;
  if (g.Deno !== undefined) return denoConnector;
  throw new MemcachedError(
    "INVALID_ARGUMENT",
    "Cannot connect: no adapter for this runtime (Mica runs on Deno and Bun); pass `connector`",
  );
}

const mapAuto: ValueMapper<Value> = decodeAuto;
const mapString: ValueMapper<Value> = decodeString;
const mapBytes: ValueMapper<Value> = decodeBytes;
const itemAuto: ValueMapper<Item> = (r, text) => ({
  value: decodeAuto(r, text),
  cas: r.cas!,
  flags: r.flags,
});
const itemString: ValueMapper<Item> = (r, text) => ({
  value: decodeString(r, text),
  cas: r.cas!,
  flags: r.flags,
});
const itemBytes: ValueMapper<Item> = (r) => ({
  value: decodeBytes(r),
  cas: r.cas!,
  flags: r.flags,
});

function itemMapper(as: GetOptions["as"]): ValueMapper<Item> {
  const map = valueMapper(as);
  return map === mapString ? itemString : map === mapBytes ? itemBytes : itemAuto;
}

function valueMapper(as: GetOptions["as"]): ValueMapper<Value> {
  if (as === undefined || as === "auto") return mapAuto;
  if (as === "string") return mapString;
  if (as === "bytes") return mapBytes;
  throw new MemcachedError("INVALID_ARGUMENT", `Cannot get: unknown \`as\` ${String(as)}`);
}

const DIALECTS: Record<Protocol, Dialect> = {
  meta: metaDialect,
  text: textDialect,
  binary: binaryDialect,
};
const READ = {};
const READ_CAS = { cas: true };

/**
 * A memcached client. Create one with {@linkcode connect}; hold it with `await using` so it is
 * closed on every path out of the block.
 *
 * Every method validates its arguments before anything is written and rejects with a
 * {@linkcode MemcachedError} whose `code` says what went wrong; a bad call disturbs no other
 * request and not the connection.
 *
 * @example Quick start
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * await client.set("greeting", "hello", { ttl: 60 });
 * console.log(await client.get("greeting")); // "hello"
 * ```
 */
export class Client extends EventTarget implements AsyncDisposable, Disposable {
  #servers: Server[];
  /** The ring over the servers keys may go to (all, or the live ones under "eject"). */
  #ring: HashRing | undefined;
  /** `#ring`'s servers, by ring index. */
  #ringServers: Server[];
  #distribution: Distribution;
  /** Wire forms and ring positions of recently routed string keys (see `#place`). */
  #placements = new Map<string, Placement>();
  #failover: "fail-fast" | "eject";
  #dead = 0;
  #timeout: number;
  #closeTimeout: number;
  #maxValueSize: number;
  #base64: boolean;
  #defaultTtl: number;
  #dialect: Dialect;
  #lifetime = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  #destroyed: Promise<void> | undefined = undefined;

  /**
   * Creates a client without connecting; the first request to each server connects. Prefer
   * {@linkcode connect}, which also opens the connections and reports failures at once.
   *
   * @param address Where the server listens, or a list of servers (a cluster).
   * @param options Client options; see {@linkcode ClientOptions}.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option.
   */
  constructor(address: ServerAddress | readonly ServerAddress[], options: ClientOptions = {}) {
    super();
    const list: readonly ServerAddress[] = Array.isArray(address) ? address : [address];
    if (list.length === 0) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        "Cannot create client: the server list is empty",
      );
    }
    const specs = list.map((entry) => parseServer(entry));
    this.#timeout = positive("timeout", options.timeout, DEFAULTS.timeout);
    const connectTimeout = positive(
      "connectTimeout",
      options.connectTimeout,
      DEFAULTS.connectTimeout,
    );
    this.#closeTimeout = positive("closeTimeout", options.closeTimeout, DEFAULTS.closeTimeout);
    this.#maxValueSize = positive("maxValueSize", options.maxValueSize, DEFAULTS.maxValueSize);
    this.#base64 = flag("base64Keys", options.base64Keys, DEFAULTS.base64Keys);
    this.#defaultTtl = options.defaultTtl ?? DEFAULTS.defaultTtl;
    wireTtl(this.#defaultTtl, 0); // validates; converted at each store, as it may be relative
    this.#distribution = oneOf(
      "distribution",
      options.distribution,
      ["ketama", "modula"],
      "ketama",
    );
    this.#failover = oneOf("failover", options.failover, ["fail-fast", "eject"], "fail-fast");
    const protocol = oneOf("protocol", options.protocol, ["meta", "text", "binary"], "meta");
    this.#dialect = DIALECTS[protocol];
    if (protocol === "text" && this.#base64) {
      throw new MemcachedError(
        "UNSUPPORTED",
        'Cannot use base64Keys with protocol "text": it has no base64 keys (use "meta" or "binary")',
      );
    }
    const tls = tlsOptions(options.tls);
    const shared = options.username === undefined && options.password === undefined
      ? undefined
      : Credentials.from(options.username as string, options.password ?? "");
    const serverOptions: ServerOptions = {
      poolSize: integer("poolSize", options.poolSize, DEFAULTS.poolSize),
      eager: flag("eager", options.eager, DEFAULTS.eager),
      failureLimit: integer("failureLimit", options.failureLimit, DEFAULTS.failureLimit),
      retryTimeout: positive("retryTimeout", options.retryTimeout, DEFAULTS.retryTimeout),
      maxRetryTimeout: positive(
        "maxRetryTimeout",
        options.maxRetryTimeout,
        DEFAULTS.maxRetryTimeout,
      ),
      idleTimeout: options.idleTimeout === 0
        ? 0
        : positive("idleTimeout", options.idleTimeout, DEFAULTS.idleTimeout),
      connectTimeout,
      timeout: this.#timeout,
      connector: options.connector ?? defaultConnector(),
      probe: this.#dialect.version,
      connection: {
        maxInFlight: positive("maxInFlight", options.maxInFlight, DEFAULTS.maxInFlight),
        maxQueued: positive("maxQueued", options.maxQueued, DEFAULTS.maxQueued),
        stallTimeout: this.#timeout,
        maxValueSize: this.#maxValueSize,
        noDelay: flag("noDelay", options.noDelay, DEFAULTS.noDelay),
        decoder: this.#dialect.decoder,
        ...(tls === undefined ? {} : { tls }),
      },
    };
    const listener = this.#listener();
    this.#servers = specs.map((spec) => {
      const credentials = spec.credentials ?? shared;
      const options = credentials === undefined ? serverOptions : {
        ...serverOptions,
        connection: { ...serverOptions.connection, handshake: handshake(protocol, credentials) },
      };
      return new Server(spec, options, listener, this.#lifetime.signal);
    });
    this.#ringServers = this.#servers;
    this.#ring = this.#buildRing(this.#servers);
  }

  #buildRing(servers: readonly Server[]): HashRing | undefined {
    // One server needs no hashing.
    if (this.#servers.length === 1 || servers.length === 0) return undefined;
    return new HashRing(
      servers.map(({ spec }) =>
        spec.endpoint.kind === "unix"
          ? { host: spec.endpoint.path, port: 0, weight: spec.weight }
          : { host: spec.endpoint.host, port: spec.endpoint.port, weight: spec.weight }
      ),
      { distribution: this.#distribution },
    );
  }

  #listener(): ServerListener {
    const emit = (type: ClientEventType, detail: ServerEventDetail) =>
      this.dispatchEvent(new CustomEvent(type, { detail }));
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
    this.#ring = this.#buildRing(live);
    this.#placements.clear();
  }

  /** The servers, as `host:port` or socket paths, in the order given. */
  get servers(): string[] {
    return this.#servers.map((server) => server.name);
  }

  /** Whether {@linkcode Client.close} or {@linkcode Client.destroy} was called. */
  get closed(): boolean {
    return this.#closed;
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
    this.#key(key);
    const server = this.#lookup(key);
    if (server === undefined) {
      throw new MemcachedError("NO_SERVERS", "Cannot find a server: every server is ejected");
    }
    return server.name;
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
  async open(): Promise<void> {
    if (this.#closed) throw this.#closedError("connect");
    const results = await Promise.allSettled(this.#servers.map((server) => server.warm()));
    if (results.some((result) => result.status === "fulfilled")) return;
    throw (results[0] as PromiseRejectedResult).reason;
  }

  /** The ring's server for a key, whatever its health; undefined when the ring is empty. */
  #lookup(key: Key): Server | undefined {
    const ring = this.#ring;
    if (ring === undefined) return this.#ringServers[0];
    if (typeof key !== "string") return this.#ringServers[ring.serverIndexFor(key)];
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
      placement = { wire: encodeKey(key, this.#base64), index: ring.serverIndexFor(key) };
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
  #unroutable(server: Server | undefined): MemcachedError | undefined {
    if (server === undefined || (this.#dead === this.#servers.length && this.#servers.length > 1)) {
      return new MemcachedError("NO_SERVERS", "Cannot route request: every server is marked dead");
    }
    if (server.dead) {
      return new MemcachedError(
        "SERVER_DEAD",
        `Cannot route request: ${server.name} is marked dead after repeated failures`,
      );
    }
    return undefined;
  }

  /**
   * The server a request goes to: the key's server (or, with no key, the first live one),
   * after starting any probe that is due. Throws `SERVER_DEAD` / `NO_SERVERS` at once.
   */
  #route(key: Key | undefined): Server {
    this.#probeDue();
    const server = key === undefined
      ? this.#servers.find((s) => !s.dead) ?? this.#servers[0]!
      : this.#lookup(key);
    const error = this.#unroutable(server);
    if (error !== undefined) throw error;
    return server!;
  }

  #closedError(command: string): MemcachedError {
    return new MemcachedError("CLIENT_CLOSED", `Cannot ${command}: the client is closed`);
  }

  #deadline(options: RequestOptions | undefined): number {
    const timeout = options?.timeout;
    return clockNow() + (timeout === undefined ? this.#timeout : positive("timeout", timeout, 0));
  }

  /** A key's wire form, validated (`INVALID_KEY`); hot string keys come from the placement memo. */
  #key(key: Key): WireKey {
    const ring = this.#ring;
    if (typeof key === "string" && ring !== undefined) return this.#place(key, ring).wire;
    return encodeKey(key, this.#base64);
  }

  #submit<T>(request: Request<T>, signal: AbortSignal | undefined, key?: Key): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError(request.command));
    this.#route(key).pick().enqueue(request, signal);
    return request.promise;
  }

  /**
   * Reads a value.
   *
   * @param key The key: a string or bytes, at most 250 bytes, no spaces or control characters.
   * @param options `as`, `timeout`, `signal`.
   * @returns The value (a string if it was stored as one, else a `Uint8Array`), or `undefined`
   * on a miss.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const name = await client.get("user:42:name", { timeout: 50 });
   * ```
   */
  get(key: Key, options?: GetOptions): Promise<Value | undefined> {
    try {
      return this.#submit(
        this.#dialect.get(
          "get",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          valueMapper(options?.as),
          READ,
        ),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads a value with its CAS token and client flags, for a later {@linkcode Client.cas}.
   *
   * @param key The key.
   * @param options `as`, `timeout`, `signal`.
   * @returns The item, or `undefined` on a miss.
   *
   * @example Optimistic update
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const item = await client.gets("counter-doc");
   * if (item) await client.cas("counter-doc", String(Number(item.value) + 1), item.cas);
   * ```
   */
  gets(key: Key, options?: GetOptions): Promise<Item | undefined> {
    try {
      return this.#submit(
        this.#dialect.get(
          "gets",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          itemMapper(options?.as),
          READ_CAS,
        ),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads many values: one pipelined batch per server (meta: one `mg` per key, answered in
   * order, opaque tokens on the first and last key), the batches of several servers running
   * concurrently.
   *
   * @param keys The keys.
   * @param options `as`, `allOrNothing`, `timeout`, `signal`.
   * @returns A map from each key that was found to its value, in the order of `keys`; misses
   * are absent. Keys whose server failed are in `failed` with the error, unless `allOrNothing`
   * is set, in which case the call rejects. Closing the client or aborting rejects the call.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
   * const found = await client.getMany(["a", "b", "c"]);
   * console.log(found.get("a"), found.failed.size);
   * ```
   */
  getMany<K extends Key>(keys: Iterable<K>, options?: GetManyOptions): Promise<GetManyResult<K>> {
    try {
      const list = Array.isArray(keys) ? keys as K[] : Array.from(keys);
      const n = list.length;
      const map = valueMapper(options?.as);
      const deadline = this.#deadline(options);
      if (this.#closed) throw this.#closedError("getMany");
      const signal = options?.signal;
      const call = new ManyGet<K>(list, options?.allOrNothing === true);
      const dialect = this.#dialect;
      const base64 = this.#base64;
      if (this.#servers.length === 1) {
        // One server: one batch, no grouping.
        const wire = new Array<WireKey>(n);
        for (let i = 0; i < n; i++) wire[i] = this.#key(list[i]!);
        if (n === 0) return Promise.resolve(new GetManyResult<K>());
        let server: Server | undefined;
        try {
          server = this.#route(list[0]!);
        } catch (error) {
          call.fail(undefined, error as MemcachedError);
        }
        if (server !== undefined) {
          const part = dialect.batchGet<Value>(deadline, wire, base64, map, call.part(undefined));
          server.pick().enqueue(part, signal);
        }
        return call.start();
      }
      // Validate every key and group them by ring position, each group in the caller's order;
      // nothing is sent before every key has passed.
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
          wire = this.#key(key);
          if (ring !== undefined) index = ring.serverIndexFor(key);
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
      if (n === 0) return Promise.resolve(new GetManyResult<K>());
      this.#probeDue();
      for (let index = 0; index < at.length; index++) {
        const positions = at[index];
        if (positions === undefined) continue;
        const server = servers[index];
        const error = this.#unroutable(server);
        if (error !== undefined) call.fail(positions, error);
        else {
          const request = dialect.batchGet<Value>(
            deadline,
            parts[index]!,
            base64,
            map,
            call.part(positions),
          );
          server!.pick().enqueue(request, signal);
        }
      }
      return call.start();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #store<T extends boolean | undefined>(
    command: string,
    mode: SetMode,
    key: Key,
    value: Value,
    options: SetOptions | undefined,
    cas: bigint | undefined,
  ): Promise<T> {
    try {
      const wireKey = this.#key(key);
      const data = checkValue(value, this.#maxValueSize);
      const ttl = wireTtl(options?.ttl ?? this.#defaultTtl, Date.now());
      const flags = options?.flags ?? typeFlags(value);
      if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot ${command}: flags ${String(flags)} is not an integer in 0..4294967295`,
        );
      }
      if (cas !== undefined && (typeof cas !== "bigint" || cas < 0n || cas >= 1n << 64n)) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot ${command}: the CAS token must be a bigint from gets()`,
        );
      }
      const request = this.#dialect.store<T>(
        command,
        this.#deadline(options),
        wireKey,
        this.#base64,
        data,
        cas === undefined ? { mode, ttl, flags } : { mode, ttl, flags, cas },
      );
      return this.#submit(request, options?.signal, key);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stores a value, whether or not the key exists.
   *
   * @param key The key.
   * @param value A string or `Uint8Array`; it reads back as the same type.
   * @param options `ttl`, `flags`, `timeout`, `signal`.
   * @returns Resolves once the server stored it.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.set("session:1", new Uint8Array([1, 2, 3]), { ttl: 3600 });
   * ```
   */
  set(key: Key, value: Value, options?: SetOptions): Promise<void> {
    return this.#store<undefined>("set", "set", key, value, options, undefined);
  }

  /**
   * Stores a value only if the key does not exist.
   *
   * @param key The key.
   * @param value The value.
   * @param options `ttl`, `flags`, `timeout`, `signal`.
   * @returns `true` if stored, `false` if the key already existed.
   *
   * @example A simple lock
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const mine = await client.add("lock:report", "worker-1", { ttl: 30 });
   * ```
   */
  add(key: Key, value: Value, options?: SetOptions): Promise<boolean> {
    return this.#store("add", "add", key, value, options, undefined);
  }

  /**
   * Stores a value only if the key exists.
   *
   * @param key The key.
   * @param value The value.
   * @param options `ttl`, `flags`, `timeout`, `signal`.
   * @returns `true` if stored, `false` if the key was missing.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.replace("config", "v2");
   * ```
   */
  replace(key: Key, value: Value, options?: SetOptions): Promise<boolean> {
    return this.#store("replace", "replace", key, value, options, undefined);
  }

  /**
   * Appends bytes to an existing value (its TTL and flags are kept).
   *
   * @param key The key.
   * @param value The bytes or text to add at the end.
   * @param options `timeout`, `signal`.
   * @returns `true` if appended, `false` if the key was missing.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.append("log", ",event");
   * ```
   */
  append(key: Key, value: Value, options?: RequestOptions): Promise<boolean> {
    return this.#store("append", "append", key, value, options, undefined);
  }

  /**
   * Prepends bytes to an existing value (its TTL and flags are kept).
   *
   * @param key The key.
   * @param value The bytes or text to add at the start.
   * @param options `timeout`, `signal`.
   * @returns `true` if prepended, `false` if the key was missing.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.prepend("log", "event,");
   * ```
   */
  prepend(key: Key, value: Value, options?: RequestOptions): Promise<boolean> {
    return this.#store("prepend", "prepend", key, value, options, undefined);
  }

  /**
   * Stores a value only if the item is unchanged since {@linkcode Client.gets} returned
   * `casToken`. A conflict is an answer, not an error.
   *
   * @param key The key.
   * @param value The new value.
   * @param casToken The `cas` of the item read by `gets`.
   * @param options `ttl`, `flags`, `timeout`, `signal`.
   * @returns `true` if stored; `false` if the item changed or disappeared.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const item = await client.gets("doc");
   * const stored = item !== undefined && await client.cas("doc", "new", item.cas);
   * ```
   */
  cas(key: Key, value: Value, casToken: bigint, options?: SetOptions): Promise<boolean> {
    if (typeof casToken !== "bigint") {
      return Promise.reject(
        new MemcachedError("INVALID_ARGUMENT", "Cannot cas: the CAS token must be a bigint"),
      );
    }
    return this.#store("cas", "set", key, value, options, casToken);
  }

  /**
   * Deletes an item.
   *
   * @param key The key.
   * @param options `timeout`, `signal`.
   * @returns `true` if it existed.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.delete("session:1");
   * ```
   */
  delete(key: Key, options?: RequestOptions): Promise<boolean> {
    try {
      return this.#submit(
        this.#dialect.delete(this.#deadline(options), this.#key(key), this.#base64),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #arithmetic(
    mode: "incr" | "decr",
    key: Key,
    delta: number | bigint,
    options: IncrOptions | undefined,
  ): Promise<bigint | undefined> {
    try {
      const wireKey = this.#key(key);
      const d = u64("delta", delta);
      const initial = options?.initial === undefined ? undefined : u64("initial", options.initial);
      const ttl = options?.ttl === undefined ? 0 : wireTtl(options.ttl, Date.now());
      return this.#submit(
        this.#dialect.arithmetic(
          this.#deadline(options),
          wireKey,
          this.#base64,
          initial === undefined
            ? { mode, delta: d }
            : { mode, delta: d, initial, autoCreateTtl: ttl },
        ),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Adds to a counter. Counters are unsigned 64-bit and wrap at 2^64, as in memcached.
   *
   * @param key The key of a value holding a decimal number.
   * @param delta The amount, a safe integer or a bigint in 0..2^64-1.
   * @param options `initial` and `ttl` to create a missing counter; `timeout`, `signal`.
   * @returns The new value, or `undefined` if the key is missing and no `initial` was given.
   * @throws {MemcachedError} `CLIENT_ERROR` if the value is not a number.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const views = await client.incr("views", 1, { initial: 1, ttl: 86400 });
   * ```
   */
  incr(key: Key, delta: number | bigint = 1, options?: IncrOptions): Promise<bigint | undefined> {
    return this.#arithmetic("incr", key, delta, options);
  }

  /**
   * Subtracts from a counter; it stops at 0 (memcached never goes negative).
   *
   * @param key The key.
   * @param delta The amount, a safe integer or a bigint in 0..2^64-1.
   * @param options `initial` and `ttl` to create a missing counter; `timeout`, `signal`.
   * @returns The new value, or `undefined` if the key is missing and no `initial` was given.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.decr("stock:sku-1", 2);
   * ```
   */
  decr(key: Key, delta: number | bigint = 1, options?: IncrOptions): Promise<bigint | undefined> {
    return this.#arithmetic("decr", key, delta, options);
  }

  /**
   * Updates an item's TTL without reading it.
   *
   * @param key The key.
   * @param ttl Seconds (0 = never) or a `Date`.
   * @param options `timeout`, `signal`.
   * @returns `true` if the item exists.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.touch("session:1", 1800);
   * ```
   */
  touch(key: Key, ttl: Ttl, options?: RequestOptions): Promise<boolean> {
    try {
      return this.#submit(
        this.#dialect.touch(
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          wireTtl(ttl, Date.now()),
        ),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads a value and updates its TTL in one request.
   *
   * @param key The key.
   * @param ttl Seconds (0 = never) or a `Date`.
   * @param options `as`, `timeout`, `signal`.
   * @returns The value, or `undefined` on a miss.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const session = await client.getAndTouch("session:1", 1800);
   * ```
   */
  getAndTouch(key: Key, ttl: Ttl, options?: GetOptions): Promise<Value | undefined> {
    try {
      return this.#submit(
        this.#dialect.get(
          "getAndTouch",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          valueMapper(options?.as),
          { touch: wireTtl(ttl, Date.now()) },
        ),
        options?.signal,
        key,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Invalidates every item on the server (`flush_all`).
   *
   * @param options `delay` in seconds, `timeout`, `signal`.
   * @returns Resolves once the server accepted it.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.flush();
   * ```
   */
  async flush(options?: FlushOptions): Promise<void> {
    const delay = options?.delay;
    if (delay !== undefined) wireTtl(delay, 0);
    const deadline = this.#deadline(options);
    if (this.#closed) throw this.#closedError("flush");
    const targets = options?.server !== undefined
      ? [this.#named(options.server)]
      : this.#servers.filter((server) => !server.dead);
    if (targets.length === 0) {
      throw new MemcachedError("NO_SERVERS", "Cannot flush: every server is marked dead");
    }
    await Promise.all(targets.map((server) => {
      const request = this.#dialect.flush(deadline, delay);
      server.pick().enqueue(request, options?.signal);
      return request.promise;
    }));
  }

  /** The server with the given name, for commands aimed at one server. */
  #named(name: string): Server {
    const server = this.#servers.find((s) => s.name === name);
    if (server === undefined) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot find server ${JSON.stringify(name)}: not in ${JSON.stringify(this.servers)}`,
      );
    }
    if (server.dead) {
      throw new MemcachedError("SERVER_DEAD", `Cannot reach ${server.name}: it is marked dead`);
    }
    return server;
  }

  /** Submits a plain command to `options.server`, or to the first live server. */
  #submitPlain<T>(request: Request<T>, options: ServerOptionsArg | undefined): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError(request.command));
    const server = options?.server === undefined
      ? this.#route(undefined)
      : this.#named(options.server);
    server.pick().enqueue(request, options?.signal);
    return request.promise;
  }

  /**
   * Returns the server's version string.
   *
   * @param options `timeout`, `signal`.
   * @returns For example `"1.6.18"`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * console.log(await client.version());
   * ```
   */
  version(options?: ServerOptionsArg): Promise<string> {
    try {
      return this.#submitPlain(this.#dialect.version(this.#deadline(options)), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Returns the server's statistics.
   *
   * @param group A group such as `"slabs"`, `"items"` or `"settings"`; general stats if omitted.
   * @param options `timeout`, `signal`.
   * @returns A map from statistic name to value, as the server wrote them.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const stats = await client.stats();
   * console.log(stats.get("curr_items"));
   * ```
   */
  stats(group?: string, options?: ServerOptionsArg): Promise<Map<string, string>> {
    try {
      if (group !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(group)) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot stats: ${JSON.stringify(group)} is not a statistics group name`,
        );
      }
      return this.#submitPlain(this.#dialect.stats(this.#deadline(options), group), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sets the server's log verbosity.
   *
   * @param level 0 (quiet) and up.
   * @param options `timeout`, `signal`.
   * @returns Resolves once the server accepted it.
   * @throws {MemcachedError} `UNSUPPORTED` over the binary protocol (memcached does not
   * implement its binary verbosity command).
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.verbosity(1);
   * ```
   */
  async verbosity(level: number, options?: ServerOptionsArg): Promise<void> {
    if (!Number.isInteger(level) || level < 0 || level > 0xffff_ffff) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot verbosity: ${String(level)} is not a non-negative integer`,
      );
    }
    await this.#submitPlain(this.#dialect.verbosity(this.#deadline(options), level), options);
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
    let inFlight = 0;
    let queued = 0;
    let connections = 0;
    const servers: ServerCounters[] = [];
    for (const server of this.#servers) {
      const c = server.counters();
      servers.push(c);
      connections += c.connections;
      inFlight += c.inFlight;
      queued += c.queued;
    }
    return { connections, inFlight, queued, servers };
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
    if (this.#closing !== undefined) return this.#closing;
    let timeout: number;
    try {
      timeout = positive("timeout", options?.timeout, this.#closeTimeout);
    } catch (error) {
      return Promise.reject(error);
    }
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
    if (this.#destroyed !== undefined) return;
    this.#closed = true;
    this.#lifetime.abort();
    const error = this.#closedError("complete request");
    this.#destroyed = Promise.all(this.#servers.map((server) => server.destroy(error))).then(
      () => {},
    );
  }

  /** Same as {@linkcode Client.close}; used by `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Same as {@linkcode Client.destroy}; used by `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

/**
 * Connects to a memcached server and returns a client once the connection is open.
 *
 * @param address `"host:port"`, `"host"` (port 11211), `{ host, port }`, or a unix socket path.
 * @param options Client options; every field has a documented default.
 * @returns A connected client. Hold it with `await using`.
 * @throws {MemcachedError} `INVALID_ARGUMENT`, `CONNECT_FAILED` or `CONNECT_TIMEOUT`.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211", { timeout: 250 });
 * await client.set("hello", "world");
 * ```
 */
export async function connect(
  address: ServerAddress | readonly ServerAddress[],
  options?: ClientOptions,
): Promise<Client> {
  const client = new Client(address, options);
  try {
    await client.open();
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}
