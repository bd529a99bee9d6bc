/**
 * The memcached client: {@linkcode connect} and {@linkcode Client}.
 *
 * @module
 */

import { bunConnector } from "./adapters/bun.ts";
import { denoConnector } from "./adapters/deno.ts";
import { parseAddress, type ServerAddress } from "./address.ts";
import { Connection, type ConnectionOptions, describe } from "./connection.ts";
import { MemcachedError } from "./errors.ts";
import {
  ArithmeticRequest,
  BatchGetRequest,
  DeleteRequest,
  flushRequest,
  GetRequest,
  statsRequest,
  StoreRequest,
  TouchRequest,
  type ValueMapper,
  verbosityRequest,
  versionRequest,
} from "./operations.ts";
import { encodeKey, type MetaGetOptions, type SetMode, type WireKey } from "./protocol/mod.ts";
import type { Request } from "./request.ts";
import type { Connector, Endpoint } from "./transport.ts";
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

/** Options of {@linkcode connect}. Every field is optional. */
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
   * The runtime adapter that opens sockets. By default the one for the runtime Mica runs in
   * (`denoConnector` on Deno, `bunConnector` on Bun).
   */
  connector?: Connector;
}

/** Options every request takes. */
export interface RequestOptions {
  /** Milliseconds for this request; defaults to the client's `timeout`. */
  timeout?: number;
  /** Cancels the request: it rejects with `ABORTED` and, if not yet written, is never sent. */
  signal?: AbortSignal;
}

/** Options of reads. */
export interface GetOptions extends RequestOptions {
  /**
   * How to return the value: `"auto"` by its client flags (text for flags 0, bytes otherwise),
   * or always as `"string"` or `"bytes"`.
   * @default {"auto"}
   */
  as?: "auto" | "string" | "bytes";
}

/** Options of stores. */
export interface SetOptions extends RequestOptions {
  /** Seconds (0 = never) or a `Date`; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /**
   * Raw 32-bit client flags to store instead of Mica's type flag (for sharing items with
   * other clients). A value stored with flags other than 0 reads back as bytes under `"auto"`.
   */
  flags?: number;
}

/** Options of {@linkcode Client.incr} and {@linkcode Client.decr}. */
export interface IncrOptions extends RequestOptions {
  /** Create a missing counter with this value (the delta is not applied to it). */
  initial?: number | bigint;
  /** TTL of a counter created from `initial`; 0 = never expire. */
  ttl?: Ttl;
}

/** Options of {@linkcode Client.flush}. */
export interface FlushOptions extends RequestOptions {
  /** Seconds before the flush takes effect. */
  delay?: number;
}

/** Options of {@linkcode Client.close}. */
export interface CloseOptions {
  /** Milliseconds to wait for pending requests; defaults to the client's `closeTimeout`. */
  timeout?: number;
}

/** A value with its CAS token and client flags, from {@linkcode Client.gets}. */
export interface Item {
  /** The value, typed as by {@linkcode GetOptions.as}. */
  value: Value;
  /** The CAS token to pass to {@linkcode Client.cas}. */
  cas: bigint;
  /** The raw 32-bit client flags. */
  flags: number;
}

/** What a client holds right now, for monitoring and leak checks. */
export interface ClientCounters {
  /** Open connections (sockets). */
  connections: number;
  /** Requests written and not yet answered. */
  inFlight: number;
  /** Requests waiting to be written. */
  queued: number;
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
} as const;

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
const itemAuto: ValueMapper<Item> = (r) => ({ value: decodeAuto(r), cas: r.cas!, flags: r.flags });
const itemString: ValueMapper<Item> = (r) => ({
  value: decodeString(r),
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

const GET: MetaGetOptions = { value: true, flags: true };
const GETS: MetaGetOptions = { value: true, flags: true, cas: true };

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
export class Client implements AsyncDisposable, Disposable {
  #endpoint: Endpoint;
  #connector: Connector;
  #connectionOptions: ConnectionOptions;
  #timeout: number;
  #connectTimeout: number;
  #closeTimeout: number;
  #maxValueSize: number;
  #base64: boolean;
  #defaultTtl: number;
  #connection: Connection | undefined = undefined;
  /** Every connection whose socket may still be open, until its transport is done. */
  #connections = new Set<Connection>();
  #lifetime = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined = undefined;

  /**
   * Creates a client without connecting; the first request connects. Prefer
   * {@linkcode connect}, which also opens the connection and reports failures at once.
   *
   * @param address Where the server listens.
   * @param options Client options; see {@linkcode ClientOptions}.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option.
   */
  constructor(address: ServerAddress | readonly ServerAddress[], options: ClientOptions = {}) {
    const list = Array.isArray(address) ? address : [address];
    if (list.length !== 1) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot create client: expected one server, got ${list.length}`,
      );
    }
    this.#endpoint = parseAddress(list[0] as ServerAddress);
    this.#timeout = positive("timeout", options.timeout, DEFAULTS.timeout);
    this.#connectTimeout = positive(
      "connectTimeout",
      options.connectTimeout,
      DEFAULTS.connectTimeout,
    );
    this.#closeTimeout = positive("closeTimeout", options.closeTimeout, DEFAULTS.closeTimeout);
    this.#maxValueSize = positive("maxValueSize", options.maxValueSize, DEFAULTS.maxValueSize);
    this.#base64 = flag("base64Keys", options.base64Keys, DEFAULTS.base64Keys);
    this.#defaultTtl = options.defaultTtl ?? DEFAULTS.defaultTtl;
    wireTtl(this.#defaultTtl, 0); // validates; converted at each store, as it may be relative
    this.#connector = options.connector ?? defaultConnector();
    this.#connectionOptions = {
      maxInFlight: positive("maxInFlight", options.maxInFlight, DEFAULTS.maxInFlight),
      maxQueued: positive("maxQueued", options.maxQueued, DEFAULTS.maxQueued),
      stallTimeout: this.#timeout,
      maxValueSize: this.#maxValueSize,
      noDelay: flag("noDelay", options.noDelay, DEFAULTS.noDelay),
    };
  }

  /** The server address, as `host:port` or a socket path. */
  get server(): string {
    return describe(this.#endpoint);
  }

  /** Whether {@linkcode Client.close} or {@linkcode Client.destroy} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Opens the connection now if it is not open. Requests do this themselves when needed.
   *
   * @returns Resolves once connected.
   * @throws {MemcachedError} `CONNECT_FAILED`, `CONNECT_TIMEOUT` or `CLIENT_CLOSED`.
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
    try {
      return this.#acquire().opened;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The current connection, or a new one that starts opening now. Requests can be enqueued on
   * it at once; they wait in its queue, under their own timeouts and signals, until it opens.
   */
  #acquire(): Connection {
    if (this.#closed) throw this.#closedError("connect");
    const current = this.#connection;
    if (current !== undefined && current.usable) return current;
    const connection = new Connection(
      this.#endpoint,
      this.#connectionOptions,
      (closed) => {
        if (this.#connection === closed) this.#connection = undefined;
      },
    );
    this.#connection = connection;
    this.#connections.add(connection);
    void connection.done.then(() => this.#connections.delete(connection));
    connection.opened = connection.open(
      this.#connector,
      this.#connectTimeout,
      this.#lifetime.signal,
    );
    // A failure reaches every queued request and `open()` callers; none is left unobserved.
    connection.opened.catch(() => {});
    return connection;
  }

  #closedError(command: string): MemcachedError {
    return new MemcachedError("CLIENT_CLOSED", `Cannot ${command}: the client is closed`);
  }

  #deadline(options: RequestOptions | undefined): number {
    const timeout = options?.timeout;
    return Date.now() + (timeout === undefined ? this.#timeout : positive("timeout", timeout, 0));
  }

  #key(key: Key): WireKey {
    return encodeKey(key, this.#base64);
  }

  #submit<T>(request: Request<T>, signal: AbortSignal | undefined): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError(request.command));
    this.#acquire().enqueue(request, signal);
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
        new GetRequest(
          "get",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          valueMapper(options?.as),
          GET,
        ),
        options?.signal,
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
        new GetRequest(
          "gets",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          itemMapper(options?.as),
          GETS,
        ),
        options?.signal,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads many values in one pipelined batch (quiet `mg` requests and a closing `mn`).
   *
   * @param keys The keys.
   * @param options `as`, `timeout`, `signal`.
   * @returns A map from each key that was found to its value; misses are absent.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const found = await client.getMany(["a", "b", "c"]);
   * console.log(found.get("a"));
   * ```
   */
  getMany<K extends Key>(keys: Iterable<K>, options?: GetOptions): Promise<Map<K, Value>> {
    try {
      const list = Array.from(keys);
      const wire = list.map((key) => this.#key(key));
      const map = valueMapper(options?.as);
      const deadline = this.#deadline(options);
      if (this.#closed) throw this.#closedError("getMany");
      if (list.length === 0) return Promise.resolve(new Map());
      return this.#submit(
        new BatchGetRequest<K, Value>(deadline, list, wire, this.#base64, map),
        options?.signal,
      );
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
      const request = new StoreRequest<T>(
        command,
        this.#deadline(options),
        wireKey,
        this.#base64,
        data,
        cas === undefined ? { mode, ttl, flags } : { mode, ttl, flags, cas },
      );
      return this.#submit(request, options?.signal);
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
        new DeleteRequest(this.#deadline(options), this.#key(key), this.#base64),
        options?.signal,
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
        new ArithmeticRequest(
          this.#deadline(options),
          wireKey,
          this.#base64,
          initial === undefined
            ? { mode, delta: d }
            : { mode, delta: d, initial, autoCreateTtl: ttl },
        ),
        options?.signal,
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
        new TouchRequest(
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          wireTtl(ttl, Date.now()),
        ),
        options?.signal,
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
        new GetRequest(
          "getAndTouch",
          this.#deadline(options),
          this.#key(key),
          this.#base64,
          valueMapper(options?.as),
          { value: true, flags: true, touch: wireTtl(ttl, Date.now()) },
        ),
        options?.signal,
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
    await this.#submit(flushRequest(this.#deadline(options), delay), options?.signal);
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
  version(options?: RequestOptions): Promise<string> {
    try {
      return this.#submit(versionRequest(this.#deadline(options)), options?.signal);
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
  stats(group?: string, options?: RequestOptions): Promise<Map<string, string>> {
    try {
      if (group !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(group)) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot stats: ${JSON.stringify(group)} is not a statistics group name`,
        );
      }
      return this.#submit(statsRequest(this.#deadline(options), group), options?.signal);
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
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.verbosity(1);
   * ```
   */
  async verbosity(level: number, options?: RequestOptions): Promise<void> {
    if (!Number.isInteger(level) || level < 0 || level > 0xffff_ffff) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot verbosity: ${String(level)} is not a non-negative integer`,
      );
    }
    await this.#submit(verbosityRequest(this.#deadline(options), level), options?.signal);
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
    for (const connection of this.#connections) {
      if (connection.isOpen) connections++;
      const c = connection.counters();
      inFlight += c.inFlight;
      queued += c.queued;
    }
    return { connections, inFlight, queued };
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
    for (const connection of this.#connections) pending.push(...connection.pending());
    if (pending.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((resolve) => timer = setTimeout(resolve, timeout)),
      ]);
      clearTimeout(timer);
    }
    this.destroy();
    await Promise.all([...this.#connections].map((connection) => connection.done));
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
    this.#closed = true;
    this.#lifetime.abort();
    for (const connection of this.#connections) {
      void connection.destroy(this.#closedError("complete request"));
    }
    this.#connection = undefined;
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
