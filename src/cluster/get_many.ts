/**
 * A `getMany` over several servers: {@linkcode ManyGet} gathers the parts each server answers
 * into one {@linkcode GetManyResult}, in the caller's key order.
 *
 * @module
 */

import type { Settle } from "../connection/request.ts";
import type { MemcachedError } from "../errors.ts";
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
export class GetManyResult<K extends Key = Key> extends Map<K, Value> {
  /** Keys that could not be read, each with the error of its server. Empty on full success. */
  readonly failed: Map<K, MemcachedError> = new Map();
}

/**
 * One `getMany` call. Its per-server parts (requests made with a {@linkcode Settle}) report
 * here, and when the last has, the call's one promise settles with the merged result: no
 * promise per part and no `Promise.all`.
 */
export class ManyGet<K extends Key> {
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
