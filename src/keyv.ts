/**
 * A [Keyv](https://keyv.org) storage adapter backed by a Mica {@linkcode Client}:
 * {@linkcode KeyvMemcached}. It passes the official `@keyv/test-suite`.
 *
 * Mica does not depend on `keyv`: the adapter matches Keyv 5's `KeyvStoreAdapter` by shape, so
 * the package keeps zero runtime dependencies and you install `keyv` yourself.
 *
 * How Keyv's model maps onto memcached:
 *
 * - **Keys.** Keyv keys are any strings; memcached keys are at most 250 bytes without spaces or
 *   control characters. Each key is escaped: printable ASCII stays as it is, `%`, `#`, `|` and
 *   every other character become `%XX` (UTF-8 bytes; a lone surrogate becomes `%uXXXX`), which
 *   maps distinct strings to distinct keys. A key still too long after escaping is replaced by
 *   `#` and the base64url SHA-256 of its escaped form (a namespace over 44 characters too).
 *   The key sent is `<namespace>|<generation>|<key>`, with Keyv's own `<namespace>:` still in
 *   front of `<key>`: `users|1883884649755090331|users:42`.
 * - **TTLs.** Keyv gives milliseconds, memcached takes whole seconds: they are rounded up (an
 *   item never expires early; Keyv's own `expires` check still answers to the millisecond). The
 *   client sends TTLs over 30 days as Unix times, so any TTL works.
 * - **Namespaces and `clear()`.** memcached cannot list or delete keys by prefix, so each
 *   namespace has a generation counter, the item `<namespace>|g`, and every key carries the
 *   current generation. `clear()` increments the counter: the namespace's old items become
 *   unreachable at once and age out of memcached's LRU (they still use memory until evicted or
 *   expired). Other namespaces and other applications' keys are untouched; the server is never
 *   flushed (`@keyv/memcache`, by contrast, sends `flush_all`, which empties the whole server
 *   for every namespace and every application). A store without a namespace has a generation
 *   of its own in the same way. A store reads a generation once and trusts it for
 *   `generationMaxAge` (1 s by default), so a `clear()` through another store or process is
 *   seen within that time. A counter memcached evicted is made again from the clock, above
 *   every generation before it, so cleared items never come back.
 *
 * @example Keyv over memcached
 * ```ts ignore
 * import Keyv from "keyv";
 * import { KeyvMemcached } from "@mica/memcached/keyv";
 *
 * const keyv = new Keyv({ store: new KeyvMemcached("127.0.0.1:11211"), namespace: "users" });
 * keyv.on("error", (error) => console.error("cache error", error));
 * await keyv.set("user 42", { name: "Ada" }, 60_000); // expires in a minute
 * console.log(await keyv.get("user 42")); // { name: "Ada" }
 * await keyv.clear(); // only the "users" namespace
 * await keyv.disconnect();
 * ```
 *
 * @module
 */

import { Client } from "./client.ts";
import type { ServerAddress } from "./cluster/address.ts";
import { MemcachedError } from "./errors.ts";
import type { ClientOptions } from "./options.ts";
import { Keyspace } from "./_keyv_keyspace.ts";
import { Listeners } from "./_keyv_listeners.ts";

/**
 * Options of {@linkcode KeyvMemcached}.
 *
 * @example
 * ```ts
 * import { KeyvMemcached, type KeyvMemcachedOptions } from "@mica/memcached/keyv";
 *
 * const options: KeyvMemcachedOptions = {
 *   clientOptions: { timeout: 250, prefix: "app:" },
 *   generationMaxAge: 5_000,
 * };
 * await using store = new KeyvMemcached("127.0.0.1:11211", options); // connects on first use
 * ```
 */
export interface KeyvMemcachedOptions {
  /**
   * Options of the client the store creates from an address. Not allowed with an existing
   * client, whose options are its owner's.
   * @default {{}}
   */
  clientOptions?: ClientOptions;
  /**
   * Milliseconds a namespace's generation, once read, is used without reading it again. A
   * `clear()` through this store takes effect here at once; one through another store (another
   * process) is seen here within this time. `0` reads it before every operation (two round
   * trips each); `Infinity` reads it once, for a single process that alone clears.
   * @default {1000}
   */
  generationMaxAge?: number;
  /**
   * The longest key sent, in bytes; longer ones are hashed. Lower it by the length of the
   * client's `prefix`, and to 186 when the client has `base64Keys`. From 110 to 250.
   * @default {250}
   */
  maxKeyLength?: number;
}

const DEFAULT_GENERATION_MAX_AGE = 1000;
const MAX_KEY_LENGTH = 250;
/** Room for the longest prefix (44 + 1 + 20 + 1) and a hashed key (44). */
const MIN_KEY_LENGTH = 110;
const ALL = { allOrNothing: true } as const;

/**
 * A Keyv 5 storage adapter over a Mica {@linkcode Client}; see the module documentation for how
 * keys, TTLs, namespaces and `clear()` map onto memcached.
 *
 * Ownership: given an address, the store creates its client, forwards the client's `error`
 * events (failed or dropped connections) as its own `error` events, and closes the client in
 * {@linkcode KeyvMemcached.disconnect}. Given a {@linkcode Client}, the store borrows it:
 * `disconnect()` only detaches the store, the client stays open for its owner, who also gets
 * its events.
 *
 * Operations reject with a {@linkcode MemcachedError} when they fail. Keyv turns the failures of
 * `set`, `delete`, `deleteMany` and `clear` into its own `error` event (and rethrows them with
 * `throwOnErrors`), reads a failed `get` as a miss unless `throwOnErrors` is set, and lets a
 * failed `getMany` reject.
 *
 * Three optional methods of Keyv's contract are left out on purpose. Without `has()`, Keyv
 * reads the entry and checks its millisecond `expires`, which is exact, where memcached's expiry
 * is rounded up to a second. Without `setMany()`, Keyv calls `set()` for each entry, which the
 * client pipelines into one write anyway, and returns a result per entry (Keyv 5 types a store's
 * `setMany` as resolving to nothing, so with one `keyv.setMany()` would resolve to `undefined`).
 * There is no `iterator()` because memcached cannot list keys.
 *
 * @example With Keyv, owning its client
 * ```ts ignore
 * import Keyv from "keyv";
 * import { KeyvMemcached } from "@mica/memcached/keyv";
 *
 * const keyv = new Keyv({ store: new KeyvMemcached("127.0.0.1:11211"), namespace: "sessions" });
 * await keyv.set("abc", { user: 42 }, 30 * 60_000);
 * await keyv.disconnect(); // closes the client the store created
 * ```
 *
 * @example Borrowing an existing client
 * ```ts ignore
 * import Keyv from "keyv";
 * import { connect } from "@mica/memcached";
 * import { KeyvMemcached } from "@mica/memcached/keyv";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const keyv = new Keyv({ store: new KeyvMemcached(client) });
 * await keyv.set("greeting", "hello");
 * await keyv.disconnect(); // the client stays open; `await using` closes it
 * ```
 */
export class KeyvMemcached implements AsyncDisposable {
  /**
   * The namespace whose keys the store reads and writes; Keyv sets it from its own `namespace`
   * option. `undefined` and `""` are the same: no namespace.
   */
  namespace: string | undefined = undefined;
  /**
   * What the store was made with, for Keyv (which reads `opts` of every store): `dialect`
   * (`"memcached"`), `url` (the servers), `generationMaxAge` and `maxKeyLength`.
   */
  readonly opts: Record<string, unknown>;
  readonly #client: Client;
  readonly #owned: boolean;
  readonly #keys: Keyspace;
  readonly #listeners = new Listeners();
  #unsubscribe: (() => void) | undefined;
  #disconnected = false;

  /**
   * Creates a store. A store made from an address connects on its first operation.
   *
   * @param target An existing {@linkcode Client} to borrow, or where memcached listens (any
   * address, list or connection string {@linkcode Client} takes; when omitted, the
   * `MEMCACHE_SERVERS` environment variable) for a client the store owns.
   * @param options `clientOptions`, `generationMaxAge`, `maxKeyLength`.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option, or
   * `clientOptions` together with a client.
   *
   * @example
   * ```ts
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * const store = new KeyvMemcached("127.0.0.1:11211", { clientOptions: { timeout: 250 } });
   * console.log(store.client.servers); // ["127.0.0.1:11211"]
   * await store.disconnect();
   * ```
   */
  constructor(
    target?: Client | ServerAddress | readonly ServerAddress[],
    options: KeyvMemcachedOptions = {},
  ) {
    const { maxAge, maxKeyLength } = limits(options);
    if (target instanceof Client) {
      if (options.clientOptions !== undefined) {
        throw invalid("clientOptions apply only to a client the store creates, not to a given one");
      }
      this.#client = target;
      this.#owned = false;
    } else {
      this.#client = new Client(target, options.clientOptions);
      this.#owned = true;
      const subscription = this.#client.on("error", ({ server, error }) => {
        this.emit(
          "error",
          error ?? new MemcachedError("CONNECTION_CLOSED", `Cannot reach ${server}`),
        );
      });
      this.#unsubscribe = () => subscription.unsubscribe();
    }
    this.#keys = new Keyspace(this.#client, { maxAge, maxKeyLength });
    this.opts = {
      dialect: "memcached",
      url: this.#client.servers.join(","),
      generationMaxAge: maxAge,
      maxKeyLength,
    };
  }

  /**
   * The client the store uses: its own, or the one it borrowed.
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * console.log(store.client.counters().connections);
   * ```
   */
  get client(): Client {
    return this.#client;
  }

  /**
   * Whether {@linkcode KeyvMemcached.disconnect} was called; operations then reject with
   * `CLIENT_CLOSED`.
   *
   * @example
   * ```ts
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * const store = new KeyvMemcached("127.0.0.1:11211");
   * await store.disconnect();
   * console.log(store.disconnected); // true
   * ```
   */
  get disconnected(): boolean {
    return this.#disconnected;
  }

  /**
   * Reads the value stored under a key.
   *
   * @param key The key, as Keyv gives it.
   * @returns What was stored (the serialized string, with Keyv's default serializer), or
   * `undefined` on a miss.
   * @throws {MemcachedError} The client's error (`TIMEOUT`, `CONNECT_FAILED`, ...), or
   * `CLIENT_CLOSED` after `disconnect()`.
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * await store.set("keyv:a", '{"value":1}');
   * console.log(await store.get("keyv:a")); // '{"value":1}'
   * ```
   */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    this.#check("get");
    return await this.#client.get<T>(await this.#keys.key(this.namespace, key));
  }

  /**
   * Reads many values in one pipelined batch per server.
   *
   * @param keys The keys.
   * @returns The values in the order of `keys`, `undefined` for each miss.
   * @throws {MemcachedError} The first failure of any key (the call is all or nothing).
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * await store.set("keyv:a", "1");
   * console.log(await store.getMany(["keyv:a", "keyv:b"])); // ["1", undefined]
   * ```
   */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    this.#check("getMany");
    if (keys.length === 0) return [];
    const wire = await this.#keys.keys(this.namespace, keys);
    const found = await this.#client.getMany<string, T>(wire, ALL);
    return wire.map((key) => found.get(key));
  }

  /**
   * Stores a value.
   *
   * @param key The key.
   * @param value The value: a string or bytes, or anything the client's serializer stores.
   * @param ttl Milliseconds to live, rounded up to whole seconds; `undefined` for the client's
   * `defaultTtl` (by default: no expiry).
   * @returns Resolves once memcached stored it.
   * @throws {MemcachedError} `INVALID_TTL` for a negative or non-finite TTL, `INVALID_VALUE`,
   * `VALUE_TOO_LARGE`, or the client's error.
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * await store.set("keyv:session", "{}", 1_500); // memcached keeps it 2 s
   * ```
   */
  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    const seconds = ttlSeconds("set", ttl);
    this.#check("set");
    const wire = await this.#keys.key(this.namespace, key);
    await this.#client.set(wire, value, seconds === undefined ? undefined : { ttl: seconds });
  }

  /**
   * Deletes a key.
   *
   * @param key The key.
   * @returns `true` if it existed.
   * @throws {MemcachedError} The client's error, or `CLIENT_CLOSED` after `disconnect()`.
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * console.log(await store.delete("keyv:missing")); // false
   * ```
   */
  async delete(key: string): Promise<boolean> {
    this.#check("delete");
    return await this.#client.delete(await this.#keys.key(this.namespace, key));
  }

  /**
   * Deletes many keys in one pipelined batch per server.
   *
   * @param keys The keys.
   * @returns `true` if every key existed (and `keys` was not empty).
   * @throws {MemcachedError} The first failure of any key.
   *
   * @example
   * ```ts ignore
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * await store.set("keyv:a", "1");
   * console.log(await store.deleteMany(["keyv:a", "keyv:b"])); // false: b did not exist
   * ```
   */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    this.#check("deleteMany");
    if (keys.length === 0) return false;
    const wire = [...new Set(await this.#keys.keys(this.namespace, keys))];
    const deleted = await this.#client.deleteMany(wire, ALL);
    return wire.every((key) => deleted.get(key) === true);
  }

  /**
   * Clears the current namespace (or, without one, the keys stored without a namespace) by
   * incrementing its generation: its items become unreachable at once and age out of
   * memcached's LRU. Nothing else on the server is touched; nothing is flushed.
   *
   * @returns Resolves once the new generation is stored.
   * @throws {MemcachedError} The client's error, `CLIENT_ERROR` when the generation item holds
   * something that is not a number, or `CLIENT_CLOSED` after `disconnect()`.
   *
   * @example
   * ```ts ignore
   * import Keyv from "keyv";
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * const store = new KeyvMemcached("127.0.0.1:11211");
   * const users = new Keyv({ store, namespace: "users" });
   * await users.set("42", "Ada");
   * await users.clear();
   * console.log(await users.get("42")); // undefined
   * await users.disconnect();
   * ```
   */
  async clear(): Promise<void> {
    this.#check("clear");
    await this.#keys.clear(this.namespace);
  }

  /**
   * Detaches the store: later operations reject with `CLIENT_CLOSED`. A client the store
   * created is closed gracefully (pending requests finish first); a borrowed client stays open.
   * Calling it again does nothing more.
   *
   * @returns Resolves once the store's own client is closed.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * const client = await connect("127.0.0.1:11211");
   * const store = new KeyvMemcached(client);
   * await store.disconnect();
   * console.log(client.closed); // false: the client is its owner's to close
   * await client.close();
   * ```
   */
  async disconnect(): Promise<void> {
    if (!this.#disconnected) {
      this.#disconnected = true;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      this.#keys.close();
    }
    if (this.#owned) await this.#client.close();
  }

  /** Same as {@linkcode KeyvMemcached.disconnect}; used by `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.disconnect();
  }

  /**
   * Adds a listener for an event; the store emits `error` (with the error) when a connection
   * of its own client fails. Keyv adds one to forward them as its own `error` events.
   *
   * @param event The event: `"error"`.
   * @param listener Called with the event's arguments.
   * @returns The store.
   *
   * @example
   * ```ts
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * store.on("error", (error) => console.error("memcached:", error));
   * ```
   */
  on(event: string, listener: (...args: unknown[]) => void): this {
    this.#listeners.add(event, listener);
    return this;
  }

  /**
   * Removes a listener added with {@linkcode KeyvMemcached.on} (once, if added more than once).
   *
   * @param event The event.
   * @param listener The listener.
   * @returns The store.
   *
   * @example
   * ```ts
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * const log = (error: unknown) => console.error(error);
   * store.on("error", log);
   * store.off("error", log);
   * ```
   */
  off(event: string, listener: (...args: unknown[]) => void): this {
    this.#listeners.remove(event, listener);
    return this;
  }

  /**
   * Calls the listeners of an event with the given arguments. Unlike Node's `EventEmitter`, an
   * `error` without listeners is dropped, not thrown.
   *
   * @param event The event.
   * @param args Its arguments.
   * @returns Whether there were listeners.
   *
   * @example
   * ```ts
   * import { KeyvMemcached } from "@mica/memcached/keyv";
   *
   * await using store = new KeyvMemcached("127.0.0.1:11211");
   * store.on("error", (error) => console.log("got", error));
   * console.log(store.emit("error", new Error("test"))); // true
   * ```
   */
  emit(event: string, ...args: unknown[]): boolean {
    return this.#listeners.emit(event, args);
  }

  #check(action: string): void {
    if (this.#disconnected) {
      throw new MemcachedError("CLIENT_CLOSED", `Cannot ${action}: the Keyv store is disconnected`);
    }
  }
}

/** Converts Keyv's milliseconds to memcached's seconds, rounding up. */
function ttlSeconds(action: string, ttl: number | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) {
    throw new MemcachedError(
      "INVALID_TTL",
      `Cannot ${action}: the TTL ${String(ttl)} is not a finite number of milliseconds (0 or more)`,
    );
  }
  return Math.ceil(ttl / 1000);
}

/** The limits a store's options set, checked. */
function limits(options: KeyvMemcachedOptions): { maxAge: number; maxKeyLength: number } {
  const maxAge = options.generationMaxAge ?? DEFAULT_GENERATION_MAX_AGE;
  if (typeof maxAge !== "number" || !(maxAge >= 0)) {
    throw invalid(`generationMaxAge must be 0 or more milliseconds, not ${String(maxAge)}`);
  }
  const maxKeyLength = options.maxKeyLength ?? MAX_KEY_LENGTH;
  if (
    !Number.isInteger(maxKeyLength) || maxKeyLength < MIN_KEY_LENGTH ||
    maxKeyLength > MAX_KEY_LENGTH
  ) {
    throw invalid(
      `maxKeyLength must be an integer from ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH}, ` +
        `not ${String(maxKeyLength)}`,
    );
  }
  return { maxAge, maxKeyLength };
}

function invalid(why: string): MemcachedError {
  return new MemcachedError("INVALID_ARGUMENT", `Cannot create KeyvMemcached: ${why}`);
}
