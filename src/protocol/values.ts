/**
 * How values and TTLs travel: strings and bytes keep their type through client flags; TTLs are
 * checked and turned into what memcached expects.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import { MAX_KEY_LENGTH } from "./keys.ts";
import { utf8Length } from "./writer.ts";

/**
 * A value Mica stores: text (sent as UTF-8) or bytes.
 *
 * @example
 * ```ts
 * import type { Value } from "@mica/memcached";
 *
 * function byteLength(value: Value): number {
 *   return typeof value === "string" ? new TextEncoder().encode(value).length : value.length;
 * }
 * console.log(byteLength("héllo"), byteLength(new Uint8Array([1, 2, 3]))); // 6 3
 * ```
 */
export type Value = string | Uint8Array;

/**
 * A key: a string (sent as UTF-8) or bytes.
 *
 * @example
 * ```ts
 * import { HashRing, type Key } from "@mica/memcached";
 *
 * const text: Key = "user:42";
 * const bytes: Key = new TextEncoder().encode("user:42");
 * const ring = new HashRing(["cache-a:11211", "cache-b:11211"]);
 * console.log(ring.serverFor(text) === ring.serverFor(bytes)); // true: the same UTF-8 bytes
 * ```
 */
export type Key = string | Uint8Array;

/**
 * A TTL: seconds from now (0 means never expire), or the `Date` the item expires at.
 * Relative TTLs over 30 days are sent as an absolute Unix time, since memcached reads any
 * number over 2,592,000 as one.
 *
 * @example
 * ```ts ignore
 * import { connect, type Ttl } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const tenMinutes: Ttl = 600;
 * const newYear: Ttl = new Date("2030-01-01T00:00:00Z");
 * await client.set("report", "ready", { ttl: tenMinutes });
 * await client.touch("promo", newYear); // expires at that instant
 * ```
 */
export type Ttl = number | Date;

/**
 * Client flags Mica writes for a string value: 0, what most clients use for text.
 *
 * @example Decoding a raw meta reply by its flags, as the client does
 * ```ts
 * import { FLAG_STRING } from "@mica/memcached";
 * import { ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 2 f0\r\nhi\r\n"));
 * const r = d.next()!;
 * console.log(r.flags === FLAG_STRING ? new TextDecoder().decode(r.value) : r.value); // "hi"
 * ```
 */
export const FLAG_STRING = 0;
/**
 * Client flags Mica writes for a `Uint8Array` value: 4, the binary flag of the `memcached`
 * npm client, so both read each other's bytes as bytes.
 *
 * @example Writing an item that Mica reads back as bytes
 * ```ts
 * import { FLAG_BYTES } from "@mica/memcached";
 * import { ByteWriter, encodeMetaSet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaSet(w, "blob", false, "raw", { flags: FLAG_BYTES }, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ms blob 3 F4\r\nraw\r\n"
 * ```
 */
export const FLAG_BYTES = 4;

/** The most seconds memcached reads as relative; larger numbers are Unix times. */
export const RELATIVE_TTL_LIMIT = 60 * 60 * 24 * 30;

/**
 * Checks a value's type and size. Strings are not encoded here: the encoder writes them
 * straight into the output buffer.
 *
 * @throws {MemcachedError} `INVALID_VALUE` for a value that is not a string or `Uint8Array`,
 * `VALUE_TOO_LARGE` over the limit.
 */
export function checkValue(value: Value, maxValueSize: number): Value {
  let size: number;
  if (typeof value === "string") {
    // UTF-8 needs at most 3 bytes per UTF-16 unit: count exactly only near the limit.
    size = value.length * 3 <= maxValueSize ? 0 : utf8Length(value);
  } else if (value instanceof Uint8Array) size = value.length;
  else {
    throw new MemcachedError(
      "INVALID_VALUE",
      `Cannot store value: expected a string or Uint8Array, got ${typeof value}`,
    );
  }
  if (size > maxValueSize) {
    throw new MemcachedError(
      "VALUE_TOO_LARGE",
      `Cannot store value: ${size} bytes is over the ${maxValueSize}-byte maxValueSize`,
    );
  }
  return value;
}

/**
 * The bytes memcached adds to every item beside its key and value: the 48-byte item header, the
 * 8-byte CAS value, the key's terminating NUL and the value's trailing `\r\n` (measured on
 * memcached 1.6 with `-I` from 512 KiB to 3 MiB). Nonzero client flags take
 * {@linkcode FLAGS_OVERHEAD} more; a server run with `-C` (no CAS) needs 8 fewer.
 */
export const ITEM_OVERHEAD = 59;

/** The bytes nonzero client flags add to an item (memcached stores zero flags as nothing). */
export const FLAGS_OVERHEAD = 4;

/**
 * The largest value memcached stores under a key, as the server counts it: an item of at most
 * `itemSizeMax` bytes (its `-I`) holds the key, the value and {@linkcode ITEM_OVERHEAD} (plus
 * {@linkcode FLAGS_OVERHEAD} when the flags are not 0).
 *
 * @param keyLength The key's length in bytes, as stored (a base64 key counts decoded).
 * @param flags The item's client flags.
 * @param itemSizeMax The server's item size limit.
 * @returns The largest value in bytes (negative when not even an empty value fits).
 */
export function valueLimit(keyLength: number, flags: number, itemSizeMax: number): number {
  return itemSizeMax - ITEM_OVERHEAD - keyLength - (flags === 0 ? 0 : FLAGS_OVERHEAD);
}

/** A wire key's length in bytes as memcached stores it: a base64 key (meta `b`) is decoded. */
function storedKeyLength(key: string, base64: boolean): number {
  if (!base64) return utf8Length(key);
  const padding = key.endsWith("==") ? 2 : key.endsWith("=") ? 1 : 0;
  return (key.length / 4) * 3 - padding;
}

/**
 * Whether a value fits an item under any key and flags, judged without measuring it exactly:
 * {@linkcode checkItem} need not see the key.
 */
export function fitsAnyKey(value: Value, itemSizeMax: number): boolean {
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  const bound = typeof value === "string" ? value.length * 3 : value.length;
  return bound + ITEM_OVERHEAD + FLAGS_OVERHEAD + MAX_KEY_LENGTH <= itemSizeMax;
}

/**
 * Checks that an item fits the server's item size limit the way memcached counts it (see
 * {@linkcode valueLimit}), so a store the server would refuse is refused before any byte is
 * written. Values far below the limit pass without measuring the key.
 *
 * @param command The operation, for the message.
 * @param key The wire key (base64 text when `base64`).
 * @param base64 Whether the key is sent base64-encoded.
 * @param value The data to store (after serialization and compression).
 * @param flags The item's client flags.
 * @param itemSizeMax The server's item size limit (the client's `maxValueSize`).
 * @throws {MemcachedError} `VALUE_TOO_LARGE` when the item does not fit.
 */
export function checkItem(
  command: string,
  key: string,
  base64: boolean,
  value: Value,
  flags: number,
  itemSizeMax: number,
): void {
  if (fitsAnyKey(value, itemSizeMax)) return;
  const size = typeof value === "string" ? utf8Length(value) : value.length;
  const keyLength = storedKeyLength(key, base64);
  const limit = valueLimit(keyLength, flags, itemSizeMax);
  if (size <= limit) return;
  const header = ITEM_OVERHEAD + (flags === 0 ? 0 : FLAGS_OVERHEAD);
  throw new MemcachedError(
    "VALUE_TOO_LARGE",
    `Cannot ${command}: the value is ${size} bytes, over the ${Math.max(0, limit)} that fit ` +
      `an item of ${itemSizeMax} bytes (maxValueSize) beside the ${keyLength}-byte key and ` +
      `memcached's ${header}-byte item header`,
  );
}

/** Client flags recording a value's type. */
export function typeFlags(value: Value): number {
  return typeof value === "string" ? FLAG_STRING : FLAG_BYTES;
}

/** What every protocol's value reply carries: the bytes, client flags and CAS token. */
export interface ValueReply {
  /** The value's bytes (possibly a view into the receive buffer: see `borrowed`). */
  readonly value: Uint8Array | undefined;
  /** Whether `value` is only valid until the decoder is fed again. */
  readonly borrowed: boolean;
  /** The client flags. */
  readonly flags: number;
  /** The CAS token, when asked for. */
  readonly cas: bigint | undefined;
}

/** A reply's value as bytes the caller owns (a borrowed view is copied). */
function ownBytes(r: ValueReply): Uint8Array {
  return r.borrowed ? r.value!.slice() : r.value!;
}

/**
 * Decodes the value of the reply being handled as text: the connection's decoder, which can
 * slice it from text it already decoded (see `ResponseDecoder.valueText`).
 */
export interface TextSource {
  valueText(value: Uint8Array): string;
}

/** Decodes a value by its client flags: 0 is text; anything else is returned as bytes. */
export function decodeAuto(r: ValueReply, text: TextSource): Value {
  return r.flags === FLAG_STRING ? text.valueText(r.value!) : ownBytes(r);
}

/** Decodes a value as UTF-8 text whatever its flags. */
export function decodeString(r: ValueReply, text: TextSource): Value {
  return text.valueText(r.value!);
}

/** Returns a value's bytes whatever its flags. */
export function decodeBytes(r: ValueReply): Value {
  return ownBytes(r);
}

/**
 * Converts a TTL to the number memcached expects.
 *
 * @param ttl Seconds (integer, at least 0) or a `Date`.
 * @param now The current time in milliseconds since the epoch.
 * @returns 0 (never expire), seconds up to 30 days, or an absolute Unix time.
 * @throws {MemcachedError} `INVALID_TTL` for negative, fractional, NaN or unsendable TTLs.
 */
export function wireTtl(ttl: Ttl, now: number): number {
  if (ttl instanceof Date) {
    const ms = ttl.getTime();
    if (Number.isNaN(ms)) throw new MemcachedError("INVALID_TTL", "Cannot use TTL: invalid Date");
    const unix = Math.ceil(ms / 1000);
    if (unix <= RELATIVE_TTL_LIMIT) {
      throw new MemcachedError(
        "INVALID_TTL",
        `Cannot use TTL: ${ttl.toISOString()} is too early to send as a Unix time`,
      );
    }
    return unix;
  }
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 0) {
    throw new MemcachedError(
      "INVALID_TTL",
      `Cannot use TTL: ${String(ttl)} is not a whole number of seconds (0 or more) or a Date`,
    );
  }
  if (ttl <= RELATIVE_TTL_LIMIT) return ttl;
  return Math.floor(now / 1000) + ttl;
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * Converts an `incr`/`decr` delta or initial value to a 64-bit unsigned bigint.
 *
 * @throws {MemcachedError} `INVALID_DELTA` unless it is an integer in 0..2^64-1 (a number must
 * also be a safe integer, so no precision is lost silently).
 */
export function u64(what: string, n: number | bigint): bigint {
  if (typeof n === "bigint") {
    if (n >= 0n && n <= MAX_U64) return n;
  } else if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) {
    return BigInt(n);
  }
  throw new MemcachedError(
    "INVALID_DELTA",
    `Cannot use ${what}: ${String(n)} is not an integer in 0..2^64-1 ` +
      "(use a bigint above 2^53)",
  );
}
