/**
 * Calls on many keys over several servers (`getMany`, `setMany`, `deleteMany`, `touchMany`):
 * {@linkcode ManyCall} gathers the parts each server answers into one result, in the caller's
 * key order: a {@linkcode GetManyResult} or a {@linkcode WriteManyResult}.
 *
 * @module
 */

import type { Settle } from "../connection/request.ts";
import { MemcachedError } from "../errors.ts";
import type { Key, Value } from "../protocol/values.ts";

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
export class GetManyResult<K extends Key = Key, V = Value> extends Map<K, V> {
  /** Keys that could not be read, each with the error of its server. Empty on full success. */
  readonly failed: Map<K, MemcachedError> = new Map();
}

/**
 * The result of {@linkcode Client.setMany}, {@linkcode Client.deleteMany} and
 * {@linkcode Client.touchMany}: a `Map` from each key the server answered for to the outcome
 * (`setMany`: stored; `deleteMany`: it existed and is gone; `touchMany`: it exists and has the
 * new TTL), in the caller's key order, plus the keys that failed and why: their server failed,
 * or the server answered that key with an error.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const result = await client.deleteMany(["session:1", "session:2"]);
 * for (const [key, existed] of result) console.log(key, existed ? "deleted" : "was not there");
 * for (const [key, error] of result.failed) console.warn(key, error.code);
 * ```
 */
export class WriteManyResult<K extends Key = Key> extends Map<K, boolean> {
  /** Keys whose outcome is unknown or failed, each with its error. Empty on full success. */
  readonly failed: Map<K, MemcachedError> = new Map();
}

/** What a {@linkcode ManyCall} builds: a map of outcomes plus the failed keys. */
export interface ManyResult<K, V> extends Map<K, V> {
  readonly failed: Map<K, MemcachedError>;
}

/**
 * One call on many keys. Its per-server parts (requests made with a {@linkcode Settle}) report
 * here, and when the last has, the call's one promise settles with the merged result: no
 * promise per part and no `Promise.all`. A part's array holds an outcome per key (`undefined`:
 * nothing to report, as a miss), or, for calls made with `keyErrors`, a `MemcachedError` for a
 * key the server refused.
 */
export class ManyCall<K extends Key, V, R extends ManyResult<K, V>> {
  readonly #list: readonly K[];
  readonly #allOrNothing: boolean;
  readonly #result: () => R;
  readonly #keyErrors: boolean;
  /** The outcomes by the caller's key positions (the one part's array, with one server). */
  #values: (V | MemcachedError | undefined)[] | undefined = undefined;
  readonly #failed: { at: readonly number[] | undefined; error: MemcachedError }[] = [];
  /** Parts not yet settled, plus one until {@linkcode start} (so none can finish the call early). */
  #pending = 1;
  #resolve!: (result: R) => void;
  #reject!: (error: unknown) => void;

  /**
   * @param result Makes the empty result.
   * @param keyErrors Whether a part may hold a `MemcachedError` for a key (writes).
   */
  constructor(list: readonly K[], allOrNothing: boolean, result: () => R, keyErrors: boolean) {
    this.#list = list;
    this.#allOrNothing = allOrNothing;
    this.#result = result;
    this.#keyErrors = keyErrors;
  }

  /** A part for the keys at positions `at` (all of them, in order, when undefined). */
  part(at: readonly number[] | undefined): Settle<(V | MemcachedError | undefined)[]> {
    this.#pending++;
    return {
      resolve: (found) => {
        if (at === undefined) this.#values = found;
        else {
          const values = this.#values ??= new Array<V | MemcachedError | undefined>(
            this.#list.length,
          );
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
  fail(at: readonly number[] | undefined, error: MemcachedError): void {
    this.#failed.push({ at, error });
  }

  /** Every part is made: the promise settles when they have all settled. */
  start(): Promise<R> {
    const promise = new Promise<R>((resolve, reject) => {
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
  #merge(): R {
    const list = this.#list;
    const result = this.#result();
    for (const { at, error } of this.#failed) {
      // Closing the client or aborting the call ends the whole call, not one server's part.
      const code = error.code;
      if (this.#allOrNothing || code === "CLIENT_CLOSED" || code === "ABORTED") throw error;
      if (at === undefined) { for (const key of list) result.failed.set(key, error); }
      else for (const i of at) result.failed.set(list[i]!, error);
    }
    const values = this.#values;
    if (values === undefined) return result;
    if (!this.#keyErrors) {
      for (let i = 0; i < list.length; i++) {
        const value = values[i];
        if (value !== undefined) result.set(list[i]!, value as V);
      }
      return result;
    }
    for (let i = 0; i < list.length; i++) {
      const value = values[i];
      if (value instanceof MemcachedError) {
        if (this.#allOrNothing) throw value;
        result.failed.set(list[i]!, value);
      } else if (value !== undefined) result.set(list[i]!, value);
    }
    return result;
  }
}
