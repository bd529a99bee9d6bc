/**
 * Stampede protection for {@linkcode Client.getOrSet}: however many callers ask for a missing
 * or stale key at once, the loader runs once.
 *
 * - **In this process**, concurrent calls for one key share one flight: the first does the work
 *   and the others await its promise.
 * - **Across processes** (meta protocol), the read is `mg <key> v f c N<leaseTtl> [R<s>]`.
 *   On a miss memcached creates an empty placeholder and hands the first caller anywhere the
 *   win (`W`): it runs the loader and stores the value with the placeholder's CAS token. Other
 *   callers see the placeholder (`Z`) and poll, with backoff, until the value is there (or
 *   until `waitTimeout`, after which they load it themselves). A stale item (see
 *   {@linkcode Client.invalidate}) or one whose TTL fell below `recacheBefore` is served at
 *   once to every caller while the one with the win refreshes it in the background.
 * - The store of a refreshed value carries the CAS token read with the win, so a value that was
 *   invalidated or replaced meanwhile is not overwritten with older data.
 *
 * Every timer and background refresh is owned here: a poll's timer ends with its wait (or at
 * once when the client is destroyed or the call aborted), a refresh holds no resource but its
 * promise (its store is an ordinary request of the client), and loaders get a signal that
 * aborts when the client is destroyed.
 *
 * @module
 */

import { now as clockNow } from "./connection/clock.ts";
import type { GetOrSetOptions, RequestOptions } from "./call_options.ts";
import type { Lease } from "./dialects/mod.ts";
import { MemcachedError } from "./errors.ts";
import { DEFAULTS, integer, positive } from "./options.ts";
import { LEASE_WIN } from "./protocol/mod.ts";
import { type Key, type Ttl, wireTtl } from "./protocol/values.ts";

/**
 * What a {@linkcode Loader} gets besides the key.
 *
 * @example
 * ```ts ignore
 * import { connect, type LoaderContext } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const user = await client.getOrSet("user:1", async (_key, context: LoaderContext) => {
 *   const response = await fetch("https://example.test/users/1", { signal: context.signal });
 *   return await response.json();
 * });
 * ```
 */
export interface LoaderContext {
  /** Aborts when the client is destroyed: a load still running is of no use then. */
  readonly signal: AbortSignal;
}

/**
 * Computes the value of a missing or stale key for {@linkcode Client.getOrSet}. Returning
 * `undefined` stores nothing.
 *
 * @example
 * ```ts ignore
 * import { connect, type Loader } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const loadPrice: Loader<number> = async (key) => (await db.price(String(key))) ?? 0;
 * console.log(await client.getOrSet("price:42", loadPrice, { ttl: 60 }));
 * ```
 */
export type Loader<T> = (key: Key, context: LoaderContext) => T | Promise<T>;

/** What {@linkcode Stampede} needs from its client: requests on one key. */
export interface StampedeHost {
  /** The key's wire form (the flight's name); validates the key. */
  wireKey(key: Key): string;
  /** A lease read, or undefined when the protocol has no leases. */
  readonly lease:
    | ((
      key: Key,
      vivify: number,
      recache: number | undefined,
      options: RequestOptions,
    ) => Promise<Lease<unknown> | undefined>)
    | undefined;
  /** A plain read (protocols without leases). */
  get(key: Key, options: RequestOptions): Promise<unknown>;
  /** Stores the value, with `cas` when given; resolves whether it was stored. */
  store(
    key: Key,
    value: unknown,
    ttl: Ttl | undefined,
    cas: bigint | undefined,
    options: RequestOptions,
  ): Promise<unknown>;
  /** Deletes the placeholder if its CAS token is still `cas`. */
  release(key: Key, cas: bigint, options: RequestOptions): Promise<unknown>;
  /** Aborts when the client is destroyed. */
  readonly signal: AbortSignal;
  /** A background refresh failed: the caller already got the stale value. */
  report(key: Key, error: unknown): void;
}

/** Settings of one `getOrSet` call, checked. */
export interface FillSpec {
  readonly ttl: Ttl | undefined;
  readonly leaseTtl: number;
  readonly recache: number | undefined;
  /** Milliseconds to wait for another caller's lease before loading here. */
  readonly wait: number;
  /** The `timeout` and `signal` of each request (a background refresh keeps no signal). */
  readonly request: RequestOptions;
}

/** The first poll delay and its cap, in milliseconds. */
const FIRST_POLL = 5;
const MAX_POLL = 100;

/** Single flights and leases of one client. */
export class Stampede {
  readonly #host: StampedeHost;
  readonly #flights = new Map<string, Promise<unknown>>();

  constructor(host: StampedeHost) {
    this.#host = host;
  }

  /**
   * The key's value: cached, or loaded once for every concurrent caller.
   *
   * @throws {MemcachedError} `INVALID_KEY` before anything is sent; what a request or the
   * loader rejects with.
   */
  getOrSet<T>(key: Key, loader: Loader<T>, spec: FillSpec): Promise<T> {
    const name = this.#host.wireKey(key);
    const flight = this.#flights.get(name);
    if (flight !== undefined) return flight as Promise<T>;
    const promise = this.#fill(key, loader, spec).finally(() => this.#flights.delete(name));
    this.#flights.set(name, promise);
    return promise;
  }

  async #fill<T>(key: Key, loader: Loader<T>, spec: FillSpec): Promise<T> {
    const host = this.#host;
    const lease = host.lease;
    if (lease === undefined) {
      const found = await host.get(key, spec.request);
      if (found !== undefined) return found as T;
      return await this.#load(key, loader, spec, undefined, false);
    }
    const giveUpAt = clockNow() + spec.wait;
    let delay = FIRST_POLL;
    for (;;) {
      const read = await lease(key, spec.leaseTtl, spec.recache, spec.request);
      const won = read !== undefined && (read.marks & LEASE_WIN) !== 0;
      if (read !== undefined && read.value !== undefined) {
        // Stale or due for recache: serve it now, refresh it once in the background.
        if (won) this.#refresh(key, loader, spec, read.cas);
        return read.value as T;
      }
      if (read === undefined || won) return await this.#load(key, loader, spec, read?.cas, true);
      // Another caller holds the lease and is loading: wait for its value.
      if (clockNow() >= giveUpAt) {
        return await this.#load(key, loader, spec, undefined, false);
      }
      await sleep(delay, host.signal, spec.request.signal);
      delay = Math.min(delay * 2, MAX_POLL);
    }
  }

  /**
   * Runs the loader and stores its value, with the lease's CAS token when holding one. When the
   * lease is on an empty placeholder (`placeholder`), a load that fails or finds nothing, or a
   * value that cannot be stored, deletes it at once, so that the next caller need not wait for
   * it to expire; a stale value being refreshed is left to be served.
   */
  async #load<T>(
    key: Key,
    loader: Loader<T>,
    spec: FillSpec,
    cas: bigint | undefined,
    placeholder: boolean,
  ): Promise<T> {
    const host = this.#host;
    const release = () =>
      cas !== undefined && placeholder
        ? host.release(key, cas, spec.request).then(() => {}, () => {})
        : undefined;
    let value: T;
    try {
      value = await loader(key, { signal: host.signal });
    } catch (error) {
      await release();
      throw error;
    }
    if (value === undefined) {
      await release();
      return value;
    }
    try {
      await host.store(key, value, spec.ttl, cas, spec.request);
    } catch (error) {
      await release();
      throw error;
    }
    return value;
  }

  #refresh<T>(key: Key, loader: Loader<T>, spec: FillSpec, cas: bigint): void {
    const request = spec.request.timeout === undefined ? {} : { timeout: spec.request.timeout };
    // Nobody awaits a refresh: its failure is reported, never left unhandled.
    void this.#load(key, loader, { ...spec, request }, cas, false).then(
      () => {},
      (error) => this.#host.report(key, error),
    );
  }
}

/**
 * Waits `ms` milliseconds; rejects at once with `CLIENT_CLOSED` or `ABORTED` when either signal
 * fires. The timer and both listeners are released on every path.
 */
function sleep(ms: number, lifetime: AbortSignal, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      lifetime.removeEventListener("abort", onClose);
      signal?.removeEventListener("abort", onAbort);
    };
    const onClose = () => {
      done();
      reject(new MemcachedError("CLIENT_CLOSED", "Cannot getOrSet: the client is closed"));
    };
    const onAbort = () => {
      done();
      reject(
        new MemcachedError("ABORTED", "Cannot getOrSet: the request was aborted", {
          cause: signal?.reason,
        }),
      );
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    if (lifetime.aborted) return onClose();
    if (signal?.aborted) return onAbort();
    lifetime.addEventListener("abort", onClose, { once: true });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The checked settings of one `getOrSet` call.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` or `INVALID_TTL`.
 */
export function fillSpec(options: GetOrSetOptions | undefined): FillSpec {
  const leaseTtl = integer("leaseTtl", options?.leaseTtl, DEFAULTS.leaseTtl);
  const recache = options?.recacheBefore === undefined
    ? undefined
    : integer("recacheBefore", options.recacheBefore, 1);
  const request: RequestOptions = {};
  if (options?.timeout !== undefined) request.timeout = options.timeout;
  if (options?.signal !== undefined) request.signal = options.signal;
  if (options?.ttl !== undefined) wireTtl(options.ttl, Date.now());
  return {
    ttl: options?.ttl,
    leaseTtl,
    recache,
    wait: positive("waitTimeout", options?.waitTimeout, leaseTtl * 1000),
    request,
  };
}
