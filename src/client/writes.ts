/**
 * The third floor of {@linkcode Client}: the writes (`set`, `add`, `replace`, `append`,
 * `prepend`, `cas`, `delete`, `touch`, `incr`, `decr`) and their batch forms (`setMany`,
 * `deleteMany`, `touchMany`).
 *
 * @module
 */

import {
  checkFlags,
  type IncrOptions,
  type RequestOptions,
  type SetManyOptions,
  type SetOptions,
  type WriteManyOptions,
} from "../call_options.ts";
import type { WriteManyResult } from "../cluster/many.ts";
import { MemcachedError } from "../errors.ts";
import {
  checkItem,
  fitsAnyKey,
  type Key,
  type Ttl,
  type Value,
  wireTtl,
} from "../protocol/values.ts";
import { coreOf } from "./base.ts";
import { ReadCommands } from "./reads.ts";

/**
 * The write commands of {@linkcode Client}, on top of {@linkcode ReadCommands}. You use them
 * through a `Client`.
 *
 * @example Writes
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * await client.set("greeting", "hello", { ttl: 60 });
 * await client.incr("visits", 1, { initial: 1 });
 * await client.delete("greeting");
 * ```
 */
export class WriteCommands extends ReadCommands {
  readonly #core = coreOf(this);

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
    return this.#core.store<undefined>("set", "set", key, value, options, undefined);
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
    return this.#core.store("add", "add", key, value, options, undefined);
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
    return this.#core.store("replace", "replace", key, value, options, undefined);
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
    return this.#core.store("append", "append", key, value, options, undefined);
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
    return this.#core.store("prepend", "prepend", key, value, options, undefined);
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
    return this.#core.store("cas", "set", key, value, options, casToken);
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
      const core = this.#core;
      const deadline = core.deadline(options);
      const request = core.dialect.delete(deadline, core.cluster.wireKey(key), core.base64);
      return core.submit("delete", key, request, options);
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
    return this.#core.arithmetic("incr", key, delta, options);
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
    return this.#core.arithmetic("decr", key, delta, options);
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
      const core = this.#core;
      const deadline = core.deadline(options);
      const wire = core.cluster.wireKey(key);
      const request = core.dialect.touch(deadline, wire, core.base64, wireTtl(ttl, Date.now()));
      return core.submit("touch", key, request, options);
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
      const core = this.#core;
      const { cluster, maxValueSize: max, base64 } = core;
      for (const [key, value] of entries) {
        list.push(key);
        const stored = core.encode(value, fixed);
        if (!fitsAnyKey(stored.data, max)) {
          checkItem("setMany", cluster.wireKey(key), base64, stored.data, stored.flags, max);
        }
        data.push(stored.data);
        flags.push(stored.flags);
      }
      const ttl = wireTtl(options?.ttl ?? core.defaultTtl, Date.now());
      return core.writeMany("set", list, options, ttl, data, flags);
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
      return this.#core.writeMany("delete", list, options, 0, undefined, undefined);
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
      return this.#core.writeMany(
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
}
