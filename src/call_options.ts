/**
 * The options each call takes (`timeout`, `signal`, and what each method adds), the items
 * `gets` returns, the value readers behind `as`, and the checks of call arguments.
 *
 * @module
 */

import type { ValueMapper } from "./dialects/mod.ts";
import { MemcachedError } from "./errors.ts";
import { decodeBytes, decodeString, type Ttl, type Value } from "./protocol/values.ts";
import type { ValueCodec } from "./values/codec.ts";

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
 * Options of {@linkcode Client.getOrSet}.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetOrSetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: GetOrSetOptions = { ttl: 300, recacheBefore: 30, leaseTtl: 10 };
 * const page = await client.getOrSet("page:/", () => render("/"), options);
 * ```
 */
export interface GetOrSetOptions extends RequestOptions {
  /** TTL of the loaded value; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /**
   * Seconds a lease lives (meta `N`): the placeholder a caller holds while it loads; if that
   * caller dies, the next caller takes over once it expires.
   * @default {30}
   */
  leaseTtl?: number;
  /**
   * Seconds before expiry at which one caller refreshes the value early, in the background,
   * while every caller keeps getting it (meta `R`); off when unset.
   */
  recacheBefore?: number;
  /**
   * Milliseconds a caller waits for another caller's lease before loading the value itself.
   * @default {leaseTtl * 1000}
   */
  waitTimeout?: number;
}

/**
 * Options of {@linkcode Client.invalidate}.
 *
 * @example
 * ```ts ignore
 * import { connect, type InvalidateOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: InvalidateOptions = { staleTtl: 60 };
 * await client.invalidate("page:/", options); // served stale for up to a minute while it refreshes
 * ```
 */
export interface InvalidateOptions extends RequestOptions {
  /**
   * Seconds the stale item lives on (meta `md I T`): long enough for one caller to refresh it.
   * @default {30}
   */
  staleTtl?: number;
}

/**
 * Options of {@linkcode Client.deleteMany} and {@linkcode Client.touchMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type WriteManyOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: WriteManyOptions = { allOrNothing: true, timeout: 500 };
 * await client.deleteMany(["a", "b", "c"], options); // rejects if any key failed
 * ```
 */
export interface WriteManyOptions extends RequestOptions {
  /**
   * Reject the whole call if any key failed (its server failed, or answered it with an error),
   * instead of reporting the keys in {@linkcode WriteManyResult.failed}. Keys of other servers
   * may have been written all the same.
   * @default {false}
   */
  allOrNothing?: boolean;
}

/**
 * Options of {@linkcode Client.setMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type SetManyOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: SetManyOptions = { ttl: 300, allOrNothing: true };
 * await client.setMany([["a", "1"], ["b", "2"]], options);
 * ```
 */
export interface SetManyOptions extends WriteManyOptions {
  /** Seconds (0 = never) or a `Date`, for every entry; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /** Raw client flags for every entry instead of Mica's type flag of each value. */
  flags?: number;
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
export interface Item<T = Value> {
  /** The value, read by the client's serializer, or as {@linkcode GetOptions.as} says. */
  value: T;
  /** The CAS token to pass to {@linkcode Client.cas}. */
  cas: bigint;
  /** The raw 32-bit client flags. */
  flags: number;
}

const mapString: ValueMapper<Value> = decodeString;
const mapBytes: ValueMapper<Value> = decodeBytes;
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

function unknownAs(as: unknown): MemcachedError {
  return new MemcachedError("INVALID_ARGUMENT", `Cannot get: unknown \`as\` ${String(as)}`);
}

/**
 * The value readers of one client: `as: "auto"` (the default) reads through its codec, by the
 * item's flags; `"string"` and `"bytes"` return the stored data as it is. A reader never throws:
 * a value its codec cannot read comes back as a `MemcachedError` for the request to report.
 */
export class Readers {
  readonly #auto: ValueMapper<unknown>;
  readonly #itemAuto: ValueMapper<Item<unknown> | MemcachedError>;

  constructor(codec: ValueCodec) {
    const decode = codec.decode;
    this.#auto = decode;
    this.#itemAuto = (r, text) => {
      const value = decode(r, text);
      return value instanceof MemcachedError ? value : { value, cas: r.cas!, flags: r.flags };
    };
  }

  /** The reader of values for `as`. @throws {MemcachedError} `INVALID_ARGUMENT`. */
  value(as: GetOptions["as"]): ValueMapper<unknown> {
    if (as === undefined || as === "auto") return this.#auto;
    if (as === "string") return mapString;
    if (as === "bytes") return mapBytes;
    throw unknownAs(as);
  }

  /** The reader of items (`gets`) for `as`. @throws {MemcachedError} `INVALID_ARGUMENT`. */
  item(as: GetOptions["as"]): ValueMapper<Item<unknown> | MemcachedError> {
    if (as === undefined || as === "auto") return this.#itemAuto;
    if (as === "string") return itemString;
    if (as === "bytes") return itemBytes;
    throw unknownAs(as);
  }
}

/**
 * Checks raw client flags.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` unless an integer in 0..2^32-1.
 */
export function checkFlags(command: string, flags: number): number {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot ${command}: flags ${String(flags)} is not an integer in 0..4294967295`,
    );
  }
  return flags;
}

/**
 * Checks a CAS token.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` unless a bigint in 0..2^64-1.
 */
export function checkCas(command: string, cas: bigint): void {
  if (typeof cas !== "bigint" || cas < 0n || cas >= 1n << 64n) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot ${command}: the CAS token must be a bigint from gets()`,
    );
  }
}
