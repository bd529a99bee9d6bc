/**
 * The memcached client: {@linkcode connect} and {@linkcode Client}, the public API. Each method
 * checks its arguments, has the dialect of the client's protocol make the request, and hands it
 * to the {@linkcode Cluster}, which routes it to a server's connection.
 *
 * @module
 */

import {
  checkCas,
  checkFlags,
  type CloseOptions,
  type FlushOptions,
  type GetManyOptions,
  type GetOptions,
  type GetOrSetOptions,
  type IncrOptions,
  type InvalidateOptions,
  type Item,
  Readers,
  type RequestOptions,
  type ServerOptionsArg,
  type SetManyOptions,
  type SetOptions,
  type WriteManyOptions,
} from "./call_options.ts";
import type { ServerAddress } from "./cluster/address.ts";
import { type ClientCounters, Cluster } from "./cluster/cluster.ts";
import { GetManyResult, ManyCall, WriteManyResult } from "./cluster/many.ts";
import {
  type Dialect,
  type ReadSpec,
  type ValueMapper,
  WRITE_COMMAND,
  type WriteBatch,
  type WriteKind,
} from "./dialects/mod.ts";
import { MemcachedError } from "./errors.ts";
import { type ClientMetrics, Count, Observer, tracing } from "./observe.ts";
import { now as clockNow } from "./connection/clock.ts";
import { type ClientOptions, DEFAULTS, integer, positive, settings } from "./options.ts";
import type { SetMode } from "./protocol/mod.ts";
import {
  checkItem,
  checkValue,
  fitsAnyKey,
  type Key,
  type Ttl,
  typeFlags,
  u64,
  type Value,
  wireTtl,
} from "./protocol/values.ts";
import { fillSpec, type Loader, Stampede, type StampedeHost } from "./stampede.ts";
import { resolve } from "./connection_string.ts";
import { ClientEvents, emitter } from "./events.ts";
import type { Protocol } from "./dialects/mod.ts";
import type { ValueCodec } from "./values/codec.ts";
import type { Serialized } from "./values/formats.ts";

const READ = {};
const newGetManyResult = <K extends Key, T>() => new GetManyResult<K, T>();
const newWriteManyResult = <K extends Key>() => new WriteManyResult<K>();
/** What `stats` takes: one to four words (`"slabs"`, `"detail dump"`, `"cachedump 1 10"`). */
const STATS_ARGS = /^[A-Za-z0-9_]{1,64}( [A-Za-z0-9_]{1,64}){0,3}$/;
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
export class Client extends ClientEvents implements AsyncDisposable, Disposable {
  readonly #cluster: Cluster;
  readonly #emit: ReturnType<typeof emitter>;
  readonly #protocol: Protocol;
  readonly #dialect: Dialect;
  readonly #timeout: number;
  readonly #closeTimeout: number;
  readonly #maxValueSize: number;
  readonly #codec: ValueCodec;
  readonly #readers: Readers;
  readonly #stampede: Stampede;
  readonly #observer: Observer;
  readonly #metrics: boolean;
  readonly #base64: boolean;
  readonly #defaultTtl: number;

  /**
   * Creates a client without connecting; the first request to each server connects. Prefer
   * {@linkcode connect}, which also opens the connections and reports failures at once.
   *
   * @param address Where the server listens, or a list of servers (a cluster): an address, a
   * comma-separated list, or a connection string
   * (`memcached://[user:password@]host[:port][,host[:port]...][?option=value&...]`). When
   * omitted, the `MEMCACHE_SERVERS` environment variable, in any of those string forms.
   * @param options Client options; see {@linkcode ClientOptions}.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option.
   */
  constructor(address?: ServerAddress | readonly ServerAddress[], options: ClientOptions = {}) {
    super();
    const { servers, options: merged } = resolve(address, options);
    const s = settings(servers, merged);
    this.#dialect = s.dialect;
    this.#protocol = s.protocol;
    this.#timeout = s.timeout;
    this.#closeTimeout = s.closeTimeout;
    this.#maxValueSize = s.maxValueSize;
    this.#codec = s.codec;
    this.#readers = new Readers(s.codec);
    this.#observer = new Observer(s.metrics, s.protocol);
    this.#metrics = s.metrics;
    this.#base64 = s.base64;
    this.#defaultTtl = s.defaultTtl;
    this.#emit = emitter(this, s.logger);
    this.#cluster = new Cluster(s.specs, { ...s.cluster, emit: this.#emit });
    this.#stampede = new Stampede(this.#stampedeHost());
  }

  /** The servers, as `host:port` or socket paths, in the order given. */
  get servers(): string[] {
    return this.#cluster.names;
  }

  /** The protocol the client speaks: `"meta"`, `"text"` or `"binary"`. */
  get protocol(): Protocol {
    return this.#protocol;
  }

  /** Whether {@linkcode Client.close} or {@linkcode Client.destroy} was called. */
  get closed(): boolean {
    return this.#cluster.closed;
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
    return this.#cluster.serverFor(key);
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
    return this.#cluster.open();
  }

  /** Follows a command for the metrics and traces, when they are on. */
  #watch<T>(command: string, key: Key | undefined, keys: number, count: Count, p: Promise<T>) {
    if (!this.#metrics && !tracing.hasSubscribers) return p;
    return this.#observer.observe(command, key, keys, count, p);
  }

  #deadline(options: RequestOptions | undefined): number {
    const timeout = options?.timeout;
    return clockNow() + (timeout === undefined ? this.#timeout : positive("timeout", timeout, 0));
  }

  #read<T>(
    command: string,
    key: Key,
    options: GetOptions | undefined,
    item: boolean,
    spec: ReadSpec,
  ): Promise<T | undefined> {
    try {
      const cluster = this.#cluster;
      const deadline = this.#deadline(options);
      const wire = cluster.wireKey(key);
      const as = options?.as;
      // A plain read (no `as`) takes the codec's reader straight: the path of every `get`.
      const map = (as === undefined && !item
        ? this.#codec.decode
        : item
        ? this.#readers.item(as)
        : this.#readers.value(as)) as ValueMapper<T>;
      const request = this.#dialect.get(command, deadline, wire, this.#base64, map, spec);
      return this.#watch(command, key, 1, Count.One, cluster.submit(request, options?.signal, key));
    } catch (error) {
      return Promise.reject(error);
    }
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
  get<T = Value>(key: Key, options?: GetOptions): Promise<T | undefined> {
    return this.#read("get", key, options, false, READ);
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
  gets<T = Value>(key: Key, options?: GetOptions): Promise<Item<T> | undefined> {
    return this.#read("gets", key, options, true, READ_CAS);
  }

  /**
   * Reads many values: one batch per server, the batches of several servers running
   * concurrently. A batch is one `get k1 k2 ...` line (meta and text; memcached's cheapest
   * multi-key read), or with base64 keys one `mg` per key, answered in order, with opaque tokens
   * on the first and last key (meta).
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
  getMany<K extends Key, T = Value>(
    keys: Iterable<K>,
    options?: GetManyOptions,
  ): Promise<GetManyResult<K, T>> {
    try {
      const list = Array.isArray(keys) ? keys as K[] : Array.from(keys);
      const map = this.#readers.value(options?.as) as ValueMapper<T>;
      const deadline = this.#deadline(options);
      const { batchGet } = this.#dialect;
      const base64 = this.#base64;
      // A value the codec cannot read fails its key only (keyErrors).
      const call = new ManyCall(list, options?.allOrNothing === true, newGetManyResult<K, T>, true);
      const found = this.#cluster.many(
        "getMany",
        list,
        call,
        options?.signal,
        (wire, _at, settle) => batchGet(deadline, wire, base64, map, settle),
      );
      return this.#watch("getMany", undefined, list.length, Count.Many, found);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stores many values: one pipelined batch per server (meta: quiet `ms` per key and a closing
   * `mn`, so the server answers only the keys it did not store), the batches of several servers
   * running concurrently. Every value is checked before anything is sent.
   *
   * @param entries `[key, value]` pairs, or a `Map`.
   * @param options `ttl` and `flags` for every entry, `allOrNothing`, `timeout`, `signal`.
   * @returns Each key the servers answered for, mapped to whether it was stored, in the order
   * of `entries`; keys that failed (their server, or an error reply) are in `failed`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
   * const result = await client.setMany(new Map([["a", "1"], ["b", "2"]]), { ttl: 60 });
   * console.log(result.get("a"), result.failed.size); // true 0
   * ```
   */
  setMany<K extends Key>(
    entries: Iterable<readonly [K, unknown]>,
    options?: SetManyOptions,
  ): Promise<WriteManyResult<K>> {
    try {
      const list: K[] = [];
      const data: (Uint8Array | string)[] = [];
      const flags: number[] = [];
      const fixed = options?.flags === undefined ? undefined : checkFlags("setMany", options.flags);
      const cluster = this.#cluster;
      const max = this.#maxValueSize;
      const base64 = this.#base64;
      for (const [key, value] of entries) {
        list.push(key);
        const stored = this.#encode(value, fixed);
        if (!fitsAnyKey(stored.data, max)) {
          checkItem("setMany", cluster.wireKey(key), base64, stored.data, stored.flags, max);
        }
        data.push(stored.data);
        flags.push(stored.flags);
      }
      const ttl = wireTtl(options?.ttl ?? this.#defaultTtl, Date.now());
      return this.#writeMany("set", list, options, ttl, data, flags);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes many items, one pipelined batch per server (meta: quiet `md` per key and `mn`).
   *
   * @param keys The keys.
   * @param options `allOrNothing`, `timeout`, `signal`.
   * @returns Each key mapped to whether it existed; keys that failed are in `failed`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const result = await client.deleteMany(["session:1", "session:2"]);
   * ```
   */
  deleteMany<K extends Key>(
    keys: Iterable<K>,
    options?: WriteManyOptions,
  ): Promise<WriteManyResult<K>> {
    try {
      const list = Array.isArray(keys) ? keys as K[] : Array.from(keys);
      return this.#writeMany("delete", list, options, 0, undefined, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sets the TTL of many items, one pipelined batch per server (meta: quiet `mg <key> T<ttl>`
   * per key and `mn`).
   *
   * @param keys The keys.
   * @param ttl Seconds (0 = never) or a `Date`.
   * @param options `allOrNothing`, `timeout`, `signal`.
   * @returns Each key mapped to whether it exists (and now has the TTL); keys that failed are in
   * `failed`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const result = await client.touchMany(["session:1", "session:2"], 1800);
   * ```
   */
  touchMany<K extends Key>(
    keys: Iterable<K>,
    ttl: Ttl,
    options?: WriteManyOptions,
  ): Promise<WriteManyResult<K>> {
    try {
      const list = Array.isArray(keys) ? keys as K[] : Array.from(keys);
      return this.#writeMany(
        "touch",
        list,
        options,
        wireTtl(ttl, Date.now()),
        undefined,
        undefined,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends a batch write: each server's part carries its keys' data and flags. */
  #writeMany<K extends Key>(
    kind: WriteKind,
    list: readonly K[],
    options: WriteManyOptions | undefined,
    ttl: number,
    data: readonly (Uint8Array | string)[] | undefined,
    flags: readonly number[] | undefined,
  ): Promise<WriteManyResult<K>> {
    const deadline = this.#deadline(options);
    const { writeMany } = this.#dialect;
    const base64 = this.#base64;
    const call = new ManyCall(list, options?.allOrNothing === true, newWriteManyResult<K>, true);
    const pick = <T>(values: readonly T[] | undefined, at: readonly number[] | undefined) =>
      values === undefined || at === undefined ? values : at.map((i) => values[i]!);
    const command = WRITE_COMMAND[kind];
    const done = this.#cluster.many(command, list, call, options?.signal, (keys, at, settle) => {
      const batch: WriteBatch = kind === "set"
        ? { kind, keys, ttl, data: pick(data, at)!, flags: pick(flags, at)! }
        : { kind, keys, ttl };
      return writeMany(deadline, batch, base64, settle);
    });
    return this.#watch(command, undefined, list.length, Count.None, done);
  }

  /** The requests `getOrSet` is made of. */
  #stampedeHost(): StampedeHost {
    const dialect = this.#dialect;
    const lease = dialect.lease;
    const cluster = this.#cluster;
    const base64 = this.#base64;
    return {
      wireKey: (key) => cluster.wireKey(key),
      lease: lease === undefined ? undefined : (key, vivify, recache, options) => {
        const map = this.#readers.value("auto");
        const request = lease(
          this.#deadline(options),
          cluster.wireKey(key),
          base64,
          map,
          { vivify, recache },
        );
        return cluster.submit(request, options.signal, key);
      },
      get: (key, options) => this.get<unknown>(key, options),
      store: (key, value, ttl, cas, options) => {
        const set = ttl === undefined ? options : { ...options, ttl };
        return cas === undefined
          ? this.set(key, value, set)
          : this.#store("cas", "set", key, value, set, cas);
      },
      release: (key, cas, options) =>
        cluster.submit(
          dialect.release(this.#deadline(options), cluster.wireKey(key), base64, cas),
          options.signal,
          key,
        ),
      signal: cluster.signal,
      report: (key, error) => this.#emit("refresh-error", { key, error }),
    };
  }

  /**
   * Returns the key's value, loading and storing it when it is missing, with stampede
   * protection: concurrent callers in this process share one load, and over the meta protocol
   * memcached's leases make one caller in the whole cluster load a missing key while the others
   * wait for its value, and serve a stale key (see {@linkcode Client.invalidate}, and
   * `recacheBefore`) to everyone at once while one caller refreshes it in the background. Over
   * the text and binary protocols only the in-process sharing applies.
   *
   * @param key The key.
   * @param loader Computes the value; `undefined` stores nothing.
   * @param options `ttl`, `leaseTtl`, `recacheBefore`, `waitTimeout`, `timeout`, `signal`.
   * @returns The cached or loaded value.
   * @throws {MemcachedError} What a request fails with; the loader's own error as it threw it.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const profile = await client.getOrSet("profile:42", () => db.loadProfile(42), { ttl: 300 });
   * ```
   */
  getOrSet<T = Value>(key: Key, loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    try {
      if (typeof loader !== "function") {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          "Cannot getOrSet: the loader is not a function",
        );
      }
      return this.#watch(
        "getOrSet",
        key,
        1,
        Count.None,
        this.#stampede.getOrSet(key, loader, fillSpec(options)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Marks an item stale instead of deleting it (meta `md <key> I T<staleTtl>`): readers keep
   * getting the old value, flagged stale, while the first `getOrSet` caller refreshes it. Over
   * the text and binary protocols, which have no stale items, it deletes the item.
   *
   * @param key The key.
   * @param options `staleTtl` (seconds the stale item lives on), `timeout`, `signal`.
   * @returns `true` if the item existed.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await db.updateProfile(42, changes);
   * await client.invalidate("profile:42"); // the next getOrSet refreshes it, nobody waits
   * ```
   */
  invalidate(key: Key, options?: InvalidateOptions): Promise<boolean> {
    try {
      const cluster = this.#cluster;
      const deadline = this.#deadline(options);
      const ttl = integer("staleTtl", options?.staleTtl, DEFAULTS.staleTtl);
      const request = this.#dialect.invalidate(deadline, cluster.wireKey(key), this.#base64, ttl);
      return this.#watch(
        "invalidate",
        key,
        1,
        Count.None,
        cluster.submit(request, options?.signal, key),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #store<T extends boolean | undefined>(
    command: string,
    mode: SetMode,
    key: Key,
    value: unknown,
    options: SetOptions | undefined,
    cas: bigint | undefined,
  ): Promise<T> {
    try {
      const wireKey = this.#cluster.wireKey(key);
      let data: Value;
      let flags: number;
      if (options?.flags !== undefined) {
        flags = checkFlags(command, options.flags);
        data = checkValue(value as Value, this.#maxValueSize);
      } else if (mode === "append" || mode === "prepend" || this.#codec.passes(value)) {
        // Raw data (append/prepend), or what Mica's scheme stores as it is: no detour.
        data = checkValue(value as Value, this.#maxValueSize);
        flags = typeFlags(data);
      } else ({ data, flags } = this.#codec.encode(value));
      checkItem(command, wireKey, this.#base64, data, flags, this.#maxValueSize);
      const ttl = wireTtl(options?.ttl ?? this.#defaultTtl, Date.now());
      if (cas !== undefined) checkCas(command, cas);
      const request = this.#dialect.store<T>(
        command,
        this.#deadline(options),
        wireKey,
        this.#base64,
        data,
        cas === undefined ? { mode, ttl, flags } : { mode, ttl, flags, cas },
      );
      return this.#watch(
        command,
        key,
        1,
        Count.None,
        this.#cluster.submit(request, options?.signal, key),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * What to store for a value: through the codec, or the value itself (a string or bytes) with
   * the raw `flags` the caller gave.
   */
  #encode(value: unknown, flags: number | undefined): Serialized {
    if (flags === undefined) return this.#codec.encode(value);
    return { data: checkValue(value as Value, this.#maxValueSize), flags };
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
  set(key: Key, value: unknown, options?: SetOptions): Promise<void> {
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
  add(key: Key, value: unknown, options?: SetOptions): Promise<boolean> {
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
  replace(key: Key, value: unknown, options?: SetOptions): Promise<boolean> {
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
  cas(key: Key, value: unknown, casToken: bigint, options?: SetOptions): Promise<boolean> {
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
      const cluster = this.#cluster;
      const deadline = this.#deadline(options);
      const request = this.#dialect.delete(deadline, cluster.wireKey(key), this.#base64);
      return this.#watch(
        "delete",
        key,
        1,
        Count.None,
        cluster.submit(request, options?.signal, key),
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
      const wireKey = this.#cluster.wireKey(key);
      const d = u64("delta", delta);
      const initial = options?.initial === undefined ? undefined : u64("initial", options.initial);
      const ttl = options?.ttl === undefined ? 0 : wireTtl(options.ttl, Date.now());
      const request = this.#dialect.arithmetic(
        this.#deadline(options),
        wireKey,
        this.#base64,
        initial === undefined
          ? { mode, delta: d }
          : { mode, delta: d, initial, autoCreateTtl: ttl },
      );
      return this.#watch(
        mode,
        key,
        1,
        Count.None,
        this.#cluster.submit(request, options?.signal, key),
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
      const cluster = this.#cluster;
      const deadline = this.#deadline(options);
      const wire = cluster.wireKey(key);
      const request = this.#dialect.touch(deadline, wire, this.#base64, wireTtl(ttl, Date.now()));
      return this.#watch(
        "touch",
        key,
        1,
        Count.None,
        cluster.submit(request, options?.signal, key),
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
  getAndTouch<T = Value>(key: Key, ttl: Ttl, options?: GetOptions): Promise<T | undefined> {
    try {
      return this.#read("getAndTouch", key, options, false, {
        touch: wireTtl(ttl, Date.now()),
      });
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
    const { flush } = this.#dialect;
    const done = this.#cluster.submitEach(
      "flush",
      () => flush(deadline, delay),
      options?.signal,
      options?.server,
    );
    await this.#watch("flush", undefined, 0, Count.None, done);
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
      const request = this.#dialect.version(this.#deadline(options));
      return this.#watch(
        "version",
        undefined,
        0,
        Count.None,
        this.#cluster.submitTo(request, options?.signal, options?.server),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }
  /**
   * Makes a round trip to a server that reads and writes nothing: meta `mn`, the binary `Noop`,
   * or over the text protocol `version` (which proxies and servers older than 1.6 know). A
   * health check, or a way to learn that the requests written before it were answered.
   *
   * @param options `server`, `timeout`, `signal`.
   * @returns Resolves once the server answered.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
   * await client.noop({ server: "127.0.0.1:11212", timeout: 100 });
   * ```
   */
  async noop(options?: ServerOptionsArg): Promise<void> {
    const request = this.#dialect.noop(this.#deadline(options));
    await this.#watch(
      "noop",
      undefined,
      0,
      Count.None,
      this.#cluster.submitTo(request, options?.signal, options?.server),
    );
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
      if (group !== undefined && (typeof group !== "string" || !STATS_ARGS.test(group))) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot stats: ${JSON.stringify(group)} is not a statistics group name`,
        );
      }
      const request = this.#dialect.stats(this.#deadline(options), group);
      return this.#watch(
        "stats",
        undefined,
        0,
        Count.None,
        this.#cluster.submitTo(request, options?.signal, options?.server),
      );
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
    const request = this.#dialect.verbosity(this.#deadline(options), level);
    await this.#watch(
      "verbosity",
      undefined,
      0,
      Count.None,
      this.#cluster.submitTo(request, options?.signal, options?.server),
    );
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
    return this.#cluster.counters();
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
    return this.#observer.snapshot(this.#cluster.counters().buffered);
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
    const cluster = this.#cluster;
    try {
      return cluster.closing ??
        cluster.close(positive("timeout", options?.timeout, this.#closeTimeout));
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
    this.#cluster.destroy();
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
    const { connections, inFlight, queued } = this.#cluster.counters();
    return {
      servers: this.servers,
      protocol: this.#protocol,
      closed: this.closed,
      connections,
      inFlight,
      queued,
    };
  }
}

/**
 * Connects to a memcached server and returns a client once the connection is open.
 *
 * @param address `"host:port"`, `"host"` (port 11211), `{ host, port }`, a unix socket path, a
 * list of them, a comma-separated string, or a `memcached://` connection string; when omitted,
 * the `MEMCACHE_SERVERS` environment variable.
 * @param options Client options; every field has a documented default.
 * @returns A connected client. Hold it with `await using`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` (a bad address, an unknown or bad option),
 * `CONNECT_FAILED` or `CONNECT_TIMEOUT`.
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
  address?: ServerAddress | readonly ServerAddress[],
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
