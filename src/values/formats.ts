/**
 * How values are stored: the client-flag schemes of Mica and of the clients Mica shares
 * clusters with. Each scheme turns a value into bytes and client flags, says which flags mark a
 * compressed value and how, and reads stored bytes back by their flags.
 *
 * | scheme | string | bytes | integer | other number | boolean | object, array, null | compressed |
 * | --- | --- | --- | --- | --- | --- | --- | --- |
 * | `mica` | 0 | 4 | 6 (JSON) | 6 (JSON) | 6 (JSON) | 6 (JSON) | + 16 + 32 zlib, + 16 + 128 zstd, size prefix |
 * | `php` (php-memcached) | 0 | 0 | 1 | 2 | 3 | 6 (JSON) | + 16 + 32 zlib (+ 16 + 64 FastLZ read), size prefix |
 * | `pylibmc` | 16 | 0 | 4 | refused | 2 (`1`/`0`) | refused | + 8 zlib |
 * | `pymemcache` | 16 | 0 | 2 | refused | 2 (`1`/`0`) | refused | + 8 zlib (pymemcache 4) |
 *
 * "Refused" values are those the Python clients pickle, which Mica cannot write or read: they
 * are rejected with `INVALID_VALUE` on store, and pickled items read as `DECODE_FAILED`.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import type { CompressionAlgorithm, Decompression } from "./compression.ts";

/**
 * A value as stored: its data (a string is sent as UTF-8) and its 32-bit client flags.
 *
 * @example
 * ```ts
 * import type { Serialized } from "@mica/memcached";
 *
 * const stored: Serialized = { data: '{"id":1}', flags: 6 };
 * console.log(stored.flags); // 6
 * ```
 */
export interface Serialized {
  /** The bytes to store; a string is sent as its UTF-8 bytes. */
  readonly data: Uint8Array | string;
  /** The client flags to store with them. */
  readonly flags: number;
}

/**
 * A custom value format: how values become stored bytes and client flags, and back. Pass one as
 * the client's `serializer` option.
 *
 * @example A format that stores every value as JSON with flags 1
 * ```ts
 * import { Client, type Serializer } from "@mica/memcached";
 *
 * const json: Serializer = {
 *   serialize: (value) => ({ data: JSON.stringify(value), flags: 1 }),
 *   deserialize: (data) => JSON.parse(new TextDecoder().decode(data)),
 * };
 * using client = new Client("127.0.0.1:11211", { serializer: json });
 * console.log(client.servers); // ["127.0.0.1:11211"]
 * ```
 */
export interface Serializer {
  /**
   * Turns a value into what is stored. Throwing refuses the value: the store rejects with
   * `INVALID_VALUE` and nothing is sent.
   */
  serialize(value: unknown): Serialized;
  /**
   * Reads stored bytes back by their flags. Throwing fails that read with `DECODE_FAILED`; the
   * connection is not disturbed. `data` belongs to the caller and may be kept.
   */
  deserialize(data: Uint8Array, flags: number): unknown;
}

/**
 * The built-in flag schemes (see the table in the module documentation).
 *
 * @example
 * ```ts
 * import { Client, type FlagScheme } from "@mica/memcached";
 *
 * const scheme: FlagScheme = "php"; // share items with php-memcached
 * using client = new Client("127.0.0.1:11211", { serializer: scheme });
 * console.log(client.servers.length); // 1
 * ```
 */
export type FlagScheme = "mica" | "php" | "pylibmc" | "pymemcache";

/** A stored value's data, read on demand as text or as bytes the reader may keep. */
export interface ValueSource {
  text(): string;
  bytes(): Uint8Array;
}

/** One flag scheme: serialization plus its compression marking. */
export interface Format {
  readonly name: string;
  /** Turns a value into data and flags (no compression). @throws {MemcachedError} `INVALID_VALUE`. */
  serialize(value: unknown): Serialized;
  /** Reads uncompressed data by its type flags. @throws anything: the reader reports `DECODE_FAILED`. */
  read(flags: number, source: ValueSource): unknown;
  /** The flags to add for data compressed with `algorithm`; undefined when it cannot say so. */
  compressedFlags(algorithm: CompressionAlgorithm): number | undefined;
  /** How data with these flags was compressed; undefined when it was not. */
  compression(flags: number): Decompression | undefined;
  /** The flags without the compression marking. */
  typeFlags(flags: number): number;
  /** Whether compressed data starts with its decompressed size (4 bytes, little-endian). */
  readonly sizePrefix: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

function invalid(scheme: string, value: unknown, reason: string, cause?: unknown): MemcachedError {
  const what = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  return new MemcachedError(
    "INVALID_VALUE",
    `Cannot store value: the ${scheme} scheme cannot store a${/^[aeiou]/.test(what) ? "n" : ""} ` +
      `${what}${reason === "" ? "" : ` (${reason})`}`,
    { cause },
  );
}

/**
 * `JSON.stringify`, refusing what JSON cannot hold or would silently empty: binary data other
 * than `Uint8Array` (an `ArrayBuffer` or `Uint16Array` becomes `{}` or an index map), `Map`
 * and `Set` (both become `{}`).
 */
function json(scheme: string, value: unknown): string {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw invalid(scheme, value, "pass binary data as a Uint8Array");
  }
  if (value instanceof Map || value instanceof Set) {
    throw invalid(scheme, value, "JSON would store it as {}; convert it first");
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw invalid(scheme, value, (error as Error).message, error);
  }
  if (text === undefined) throw invalid(scheme, value, "JSON has no form for it");
  return text;
}

/** A decimal integer as a number, or a bigint when it is not a safe integer. */
function integer(text: string): number | bigint {
  const trimmed = text.trim();
  // Python's integers have no size limit; a thousand digits is plenty, and keeps BigInt cheap.
  if (!/^-?[0-9]{1,1000}$/.test(trimmed)) {
    throw new RangeError(`${JSON.stringify(text.slice(0, 64))} is not an integer`);
  }
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : BigInt(trimmed);
}

/** An integer as decimal text, or undefined when `value` is not an integer. */
function decimal(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value === "bigint") return String(value);
  return undefined;
}

/** php-memcached's layout of compressed data: internal flag bits 4..15. */
const PHP_COMPRESSED = 1 << 4;
const PHP_ZLIB = 1 << 5;
const PHP_FASTLZ = 1 << 6;
const PHP_ZSTD = 1 << 7;
const PHP_INTERNAL = 0xfff0;

function phpCompression(flags: number): Decompression | undefined {
  switch (flags & PHP_INTERNAL) {
    case PHP_COMPRESSED | PHP_ZLIB:
      return "deflate";
    case PHP_COMPRESSED | PHP_FASTLZ:
      return "fastlz";
    case PHP_COMPRESSED | PHP_ZSTD:
      return "zstd";
    default:
      return undefined;
  }
}

function phpCompressedFlags(algorithm: CompressionAlgorithm): number {
  return PHP_COMPRESSED | (algorithm === "deflate" ? PHP_ZLIB : PHP_ZSTD);
}

/** Mica's own flag scheme. */
export const MICA: Format = {
  name: "mica",
  serialize(value) {
    if (typeof value === "string") return { data: value, flags: 0 };
    if (value instanceof Uint8Array) return { data: value, flags: 4 };
    return { data: json("mica", value), flags: 6 };
  },
  read(flags, source) {
    if (flags === 0) return source.text();
    if (flags === 6) return JSON.parse(source.text());
    return source.bytes();
  },
  compressedFlags: phpCompressedFlags,
  compression: phpCompression,
  typeFlags: (flags) => phpCompression(flags) === undefined ? flags : flags & ~PHP_INTERNAL,
  sizePrefix: true,
};

/** php-memcached's scheme, with its JSON serializer for arrays and objects. */
export const PHP: Format = {
  name: "php",
  serialize(value) {
    if (typeof value === "string") return { data: value, flags: 0 };
    if (value instanceof Uint8Array) return { data: value, flags: 0 };
    if (typeof value === "boolean") return { data: value ? "1" : "", flags: 3 };
    if (typeof value === "bigint") {
      if (value < -(1n << 63n) || value >= 1n << 63n) {
        throw invalid("php", value, "PHP integers are 64-bit");
      }
      return { data: String(value), flags: 1 };
    }
    if (typeof value === "number") {
      return Number.isSafeInteger(value)
        ? { data: String(value), flags: 1 }
        : { data: String(value), flags: 2 };
    }
    return { data: json("php", value), flags: 6 };
  },
  read(flags, source) {
    switch (flags & 0xf) {
      case 0:
        return source.text();
      case 1:
        return integer(source.text());
      case 2:
        return Number(source.text());
      case 3:
        return source.text().startsWith("1");
      case 6:
        return JSON.parse(source.text());
      case 4:
        throw new Error(
          "it was stored with PHP's serialize(); set Memcached::OPT_SERIALIZER to " +
            "Memcached::SERIALIZER_JSON in PHP to share arrays and objects",
        );
      default:
        throw new Error(`php-memcached type ${flags & 0xf} (igbinary or msgpack) is not readable`);
    }
  },
  compressedFlags: phpCompressedFlags,
  compression: phpCompression,
  typeFlags: (flags) => flags & ~PHP_INTERNAL,
  sizePrefix: true,
};

/** The flags pylibmc and pymemcache share: text 16, bytes 0, integers, zlib 8, pickle 1. */
function python(name: "pylibmc" | "pymemcache", integerFlags: number): Format {
  const ZLIB = 8;
  return {
    name,
    serialize(value) {
      if (typeof value === "string") return { data: value, flags: 16 };
      if (value instanceof Uint8Array) return { data: value, flags: 0 };
      // Both read integer flags as int; pylibmc itself stores booleans so.
      if (typeof value === "boolean") return { data: value ? "1" : "0", flags: 2 };
      const text = decimal(value);
      if (text !== undefined) return { data: text, flags: integerFlags };
      throw invalid(
        name,
        value,
        `${name} pickles it, which Mica cannot write; store a JSON string`,
      );
    },
    read(flags, source) {
      switch (flags) {
        case 0:
          return source.bytes();
        case 16:
          return source.text();
        case 2:
        case 4:
          return integer(source.text());
        case 1:
          throw new Error("it was pickled by Python, which Mica cannot read");
        default:
          throw new Error(`${name} does not write flags ${flags}`);
      }
    },
    compressedFlags: (algorithm) => algorithm === "deflate" ? ZLIB : undefined,
    compression: (flags) => (flags & ZLIB) !== 0 ? "deflate" : undefined,
    typeFlags: (flags) => flags & ~ZLIB,
    sizePrefix: false,
  };
}

/** pylibmc 1.6: integers as LONG (4), as it writes Python ints. */
export const PYLIBMC: Format = python("pylibmc", 4);
/** pymemcache: integers as INTEGER (2). */
export const PYMEMCACHE: Format = python("pymemcache", 2);

/** The built-in schemes by name. */
export const FORMATS: Readonly<Record<FlagScheme, Format>> = {
  mica: MICA,
  php: PHP,
  pylibmc: PYLIBMC,
  pymemcache: PYMEMCACHE,
};

/** A custom {@linkcode Serializer} as a format; it does its own compression, if any. */
export function customFormat(serializer: Serializer): Format {
  return {
    name: "custom",
    serialize(value) {
      let out: Serialized;
      try {
        out = serializer.serialize(value);
      } catch (error) {
        if (error instanceof MemcachedError) throw error;
        throw invalid("custom", value, (error as Error)?.message ?? String(error), error);
      }
      const { data, flags } = out ?? {};
      if (typeof data !== "string" && !(data instanceof Uint8Array)) {
        throw invalid("custom", value, "serialize() returned no string or Uint8Array data");
      }
      if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
        throw invalid("custom", value, `serialize() returned flags ${String(flags)}`);
      }
      return out;
    },
    read: (flags, source) => serializer.deserialize(source.bytes(), flags),
    compressedFlags: () => undefined,
    compression: () => undefined,
    typeFlags: (flags) => flags,
    sizePrefix: false,
  };
}

/** Decodes UTF-8 (invalid sequences become U+FFFD, as the client's text reads do). */
export function utf8Text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
