/**
 * The shapes of the meta protocol: the options of each encoder and the reply the decoder
 * returns. Types only.
 *
 * @module
 */

/**
 * Options of a meta get (`mg`).
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaGet, type MetaGetOptions } from "@mica/memcached/protocol";
 *
 * const options: MetaGetOptions = { value: true, cas: true, ttl: true, touch: 300 };
 * const w = new ByteWriter();
 * encodeMetaGet(w, "session:1", false, options, 1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "mg session:1 v c t T300 O1\r\n"
 * ```
 */
export interface MetaGetOptions {
  /** Return the value (`v`). */
  value?: boolean;
  /** Return the client flags (`f`). */
  flags?: boolean;
  /** Return the CAS token (`c`). */
  cas?: boolean;
  /** Return the remaining TTL in seconds (`t`). */
  ttl?: boolean;
  /** Update the TTL to this many seconds, or an absolute Unix time (`T`). */
  touch?: number;
  /**
   * On a miss, create an empty item with this TTL and hand this client the win (`N`): the
   * first caller of a cold key gets `W`, later ones `Z` until it is filled (a lease).
   */
  vivify?: number;
  /**
   * When the item's remaining TTL is below this many seconds, hand one caller the win (`W`)
   * to refresh it early while the others keep reading it (`R`).
   */
  recache?: number;
  /** Suppress the `EN` reply on a miss (`q`). */
  quiet?: boolean;
}

/**
 * The mode of a meta set: set, add, replace, append, prepend (`M`).
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaSet, type SetMode } from "@mica/memcached/protocol";
 *
 * const mode: SetMode = "add"; // store only if the key is missing
 * const w = new ByteWriter();
 * encodeMetaSet(w, "lock", false, "1", { mode, ttl: 30 }, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ms lock 1 T30 ME\r\n1\r\n"
 * ```
 */
export type SetMode = "set" | "add" | "replace" | "append" | "prepend";

/**
 * Options of a meta set (`ms`).
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaSet, type MetaSetOptions } from "@mica/memcached/protocol";
 *
 * const options: MetaSetOptions = { ttl: 60, flags: 4, cas: 12345n, quiet: true };
 * const w = new ByteWriter();
 * encodeMetaSet(w, "doc", false, "v2", options, 5);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ms doc 2 T60 F4 C12345 q O5\r\nv2\r\n"
 * ```
 */
export interface MetaSetOptions {
  /** The storage mode. Default `"set"`. */
  mode?: SetMode;
  /** TTL in seconds or an absolute Unix time; 0 (the default) means no expiry (`T`). */
  ttl?: number;
  /** 32-bit client flags (`F`). */
  flags?: number;
  /** Store only if the item's CAS token still equals this (`C`). */
  cas?: bigint;
  /** Mark the item stale instead of replacing it outright (`I`). */
  invalidate?: boolean;
  /** Suppress the `HD` reply on success (`q`). */
  quiet?: boolean;
}

/**
 * Options of a meta delete (`md`).
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaDelete, type MetaDeleteOptions } from "@mica/memcached/protocol";
 *
 * const options: MetaDeleteOptions = { cas: 99n, quiet: true };
 * const w = new ByteWriter();
 * encodeMetaDelete(w, "doc", false, options, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "md doc C99 q\r\n"
 * ```
 */
export interface MetaDeleteOptions {
  /** Delete only if the CAS token matches (`C`). */
  cas?: bigint;
  /** Mark stale instead of deleting (`I`): readers get it flagged `X`, one of them with `W`. */
  invalidate?: boolean;
  /** With `invalidate`, the stale item's new TTL in seconds (`T`). */
  ttl?: number;
  /** Suppress the `HD` reply on success (`q`). */
  quiet?: boolean;
}

/**
 * Options of a meta arithmetic request (`ma`).
 *
 * @example
 * ```ts
 * import {
 *   ByteWriter,
 *   encodeMetaArithmetic,
 *   type MetaArithmeticOptions,
 * } from "@mica/memcached/protocol";
 *
 * const options: MetaArithmeticOptions = { mode: "decr", delta: 3n };
 * const w = new ByteWriter();
 * encodeMetaArithmetic(w, "stock", false, options, 2);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ma stock MD D3 v O2\r\n"
 * ```
 */
export interface MetaArithmeticOptions {
  /** `"incr"` (default) or `"decr"` (`M`). */
  mode?: "incr" | "decr";
  /** The amount, 0..2^64-1 (`D`). Default 1. */
  delta?: bigint;
  /** When set, a missing counter is created with this value (`J`) and `autoCreateTtl`. */
  initial?: bigint;
  /** TTL of a counter created on a miss (`N`); 0 means no expiry. */
  autoCreateTtl?: number;
  /** Also update the TTL of an existing counter (`T`). */
  ttl?: number;
  /** Return the new value (`v`). Default true. */
  value?: boolean;
}

/**
 * What a reply says, by its first word. `VALUE` and `END` are the replies to a text `get`
 * line, which memcached answers on a meta connection too (a `VALUE` per hit, in key order,
 * then `END`); an `END` with no `STAT` line before it is also what `stats` answers for a group
 * with no statistics.
 *
 * @example
 * ```ts
 * import { ResponseDecoder, type ResponseStatus } from "@mica/memcached/protocol";
 *
 * function stored(status: ResponseStatus): boolean {
 *   return status === "HD"; // NS: not stored; EX: CAS mismatch; NF: not found
 * }
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("HD\r\nEX\r\n"));
 * console.log(stored(d.next()!.status), stored(d.next()!.status)); // true false
 * ```
 */
export type ResponseStatus =
  | "VA"
  | "HD"
  | "EN"
  | "NF"
  | "NS"
  | "EX"
  | "MN"
  | "OK"
  | "VALUE"
  | "END"
  | "RESET"
  | "VERSION"
  | "STATS"
  | "ERROR"
  | "CLIENT_ERROR"
  | "SERVER_ERROR";

/**
 * One complete reply. Fields a reply did not carry have their empty value.
 *
 * @example
 * ```ts
 * import { type Response, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 2 f4 c77 t-1 O3\r\nhi\r\n"));
 * const r: Response = d.next()!;
 * console.log(r.status, r.flags, r.cas, r.ttl, r.opaque); // VA 4 77n -1 3
 * ```
 */
export interface Response {
  /** The reply's kind. */
  status: ResponseStatus;
  /** The echoed opaque token (`O`), or -1 when absent. */
  opaque: number;
  /** The value of a `VA` or `VALUE` reply. */
  value: Uint8Array | undefined;
  /**
   * Whether `value` is a view into the decoder's receive buffer (only when the decoder was made
   * with `copyValues: false`): it is then valid only until the next `next()` or `feed()`, and a
   * caller that keeps it must copy it.
   */
  borrowed: boolean;
  /** Client flags (`f`, or those of a `VALUE` reply); 0 when absent. */
  flags: number;
  /** The CAS token (`c`, or that of a `VALUE` reply to `gets`). */
  cas: bigint | undefined;
  /** Remaining TTL in seconds (`t`); -1 means no expiry; undefined when absent. */
  ttl: number | undefined;
  /**
   * The key (`k`), as sent (base64 text when the `b` flag was used), or the key of a `VALUE`
   * reply; one character per byte (the form of a `WireKey`).
   */
  key: string | undefined;
  /**
   * The lease marks of a reply to `mg` with `N` or `R`, or of a stale item: a sum of
   * {@linkcode LEASE_WIN} (`W`: this client should refresh the item), {@linkcode LEASE_STALE}
   * (`X`: the item is stale) and {@linkcode LEASE_TAKEN} (`Z`: another client holds the win).
   * 0 when the reply carried none.
   */
  lease: number;
  /** The message of an error reply, or the version string of `VERSION`. */
  message: string;
  /** The statistics of a `STAT ... END` block. */
  stats: Map<string, string> | undefined;
}

/**
 * {@linkcode Response.lease} bit of `W`: this client won the right to refresh the item.
 *
 * @example
 * ```ts
 * import { LEASE_WIN, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 0 c9 W\r\n\r\n"));
 * console.log((d.next()!.lease & LEASE_WIN) !== 0); // true: go and fill it
 * ```
 */
export const LEASE_WIN = 1;
/**
 * {@linkcode Response.lease} bit of `X`: the item is stale (invalidated), though still served.
 *
 * @example
 * ```ts
 * import { LEASE_STALE, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 2 X Z\r\nhi\r\n"));
 * console.log((d.next()!.lease & LEASE_STALE) !== 0); // true
 * ```
 */
export const LEASE_STALE = 2;
/**
 * {@linkcode Response.lease} bit of `Z`: another client already holds the win.
 *
 * @example
 * ```ts
 * import { LEASE_TAKEN, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 0 Z\r\n\r\n"));
 * console.log((d.next()!.lease & LEASE_TAKEN) !== 0); // true: wait for it
 * ```
 */
export const LEASE_TAKEN = 4;
