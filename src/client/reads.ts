/**
 * The second floor of {@linkcode Client}: the reads (`get`, `gets`, `getAndTouch`, `getMany`)
 * and the cache-aside reads that may store (`getOrSet`, `invalidate`).
 *
 * @module
 */

import type {
  GetManyOptions,
  GetOptions,
  GetOrSetOptions,
  InvalidateOptions,
  Item,
} from "../call_options.ts";
import { GetManyResult, ManyCall } from "../cluster/many.ts";
import type { ValueMapper } from "../dialects/mod.ts";
import { MemcachedError } from "../errors.ts";
import { Count } from "../observe.ts";
import { DEFAULTS, integer } from "../options.ts";
import { type Key, type Ttl, type Value, wireTtl } from "../protocol/values.ts";
import { fillSpec, type Loader } from "../stampede.ts";
import { ClientBase, coreOf } from "./base.ts";
import { READ, READ_CAS } from "./core.ts";

const newGetManyResult = <K extends Key, T>() => new GetManyResult<K, T>();

/**
 * The read commands of {@linkcode Client}, on top of {@linkcode ClientBase}. You use them
 * through a `Client`.
 *
 * @example Reads
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const name = await client.get("user:42:name");
 * const found = await client.getMany(["a", "b", "c"]);
 * ```
 */
export class ReadCommands extends ClientBase {
  readonly #core = coreOf(this);

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
    return this.#core.read("get", key, options, false, READ);
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
    return this.#core.read("gets", key, options, true, READ_CAS);
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
      return this.#core.read("getAndTouch", key, options, false, {
        touch: wireTtl(ttl, Date.now()),
      });
    } catch (error) {
      return Promise.reject(error);
    }
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
      const core = this.#core;
      const list = Array.isArray(keys) ? keys as K[] : Array.from(keys);
      const map = core.readers.value(options?.as) as ValueMapper<T>;
      const deadline = core.deadline(options);
      const { batchGet } = core.dialect;
      const base64 = core.base64;
      // A value the codec cannot read fails its key only (keyErrors).
      const call = new ManyCall(list, options?.allOrNothing === true, newGetManyResult<K, T>, true);
      const found = core.cluster.many(
        "getMany",
        list,
        call,
        options?.signal,
        (wire, _at, settle) => batchGet(deadline, wire, base64, map, settle),
      );
      return core.watch("getMany", undefined, list.length, Count.Many, found);
    } catch (error) {
      return Promise.reject(error);
    }
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
      const core = this.#core;
      const done = core.stampede.getOrSet(key, loader, fillSpec(options));
      return core.watch("getOrSet", key, 1, Count.None, done);
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
      const core = this.#core;
      const deadline = core.deadline(options);
      const ttl = integer("staleTtl", options?.staleTtl, DEFAULTS.staleTtl);
      const wire = core.cluster.wireKey(key);
      const request = core.dialect.invalidate(deadline, wire, core.base64, ttl);
      return core.submit("invalidate", key, request, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
