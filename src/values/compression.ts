/**
 * Compression of stored values: zlib-format deflate and zstd through `node:zlib` (which Deno
 * and Bun both ship), FastLZ for reading php-memcached's values. Every decompression is bounded
 * by a size limit, so a small stored value cannot expand into gigabytes (a decompression bomb):
 * going over it is a `VALUE_TOO_LARGE` error, a value that does not decompress is
 * `DECODE_FAILED`.
 *
 * @module
 */

// A namespace import: Node before 22.15 has no zstd, and a named import would fail to load.
import * as zlib from "node:zlib";
import { MemcachedError } from "../errors.ts";
import { fastlzDecompress } from "./fastlz.ts";

/** The compression algorithms Mica writes. */
export type CompressionAlgorithm = "deflate" | "zstd";

/** Everything Mica reads: what it writes, and php-memcached's FastLZ. */
export type Decompression = CompressionAlgorithm | "fastlz";

/** Compresses with `algorithm`; deflate writes the zlib format (RFC 1950) that zlib's `compress()` does. */
export function compress(
  algorithm: CompressionAlgorithm,
  data: Uint8Array,
  level: number | undefined,
): Uint8Array {
  if (algorithm === "deflate") {
    return new Uint8Array(zlib.deflateSync(data, level === undefined ? {} : { level }));
  }
  return new Uint8Array(zstd().compress(data));
}

/** Whether this runtime's `node:zlib` has zstd (Deno, Bun, Node 22.15 and later). */
export function hasZstd(): boolean {
  return typeof zlib.zstdCompressSync === "function" &&
    typeof zlib.zstdDecompressSync === "function";
}

function zstd() {
  if (!hasZstd()) throw new RangeError("this runtime's node:zlib has no zstd (Node 22.15+ has)");
  return { compress: zlib.zstdCompressSync, decompress: zlib.zstdDecompressSync };
}

/**
 * Decompresses at most `limit` bytes.
 *
 * @param size The decompressed size, when the stored value says it (php-memcached's prefix).
 * @throws {MemcachedError} `VALUE_TOO_LARGE` past `limit`; `DECODE_FAILED` for data that does
 * not decompress.
 */
export function decompress(
  algorithm: Decompression,
  data: Uint8Array,
  limit: number,
  size: number | undefined,
): Uint8Array {
  if (size !== undefined && size > limit) throw tooLarge(`declares ${size} bytes`, limit);
  try {
    if (algorithm === "fastlz") {
      if (size === undefined) throw new RangeError("FastLZ needs the decompressed size");
      return fastlzDecompress(data, size);
    }
    const options = { maxOutputLength: limit };
    const out = algorithm === "deflate"
      ? zlib.inflateSync(data, options)
      : zstd().decompress(data, options);
    if (size !== undefined && out.length !== size) {
      throw new RangeError(`decompressed to ${out.length} bytes, ${size} declared`);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch (error) {
    if (error instanceof MemcachedError) throw error;
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") {
      throw tooLarge("expands further", limit, error);
    }
    throw new MemcachedError(
      "DECODE_FAILED",
      `Cannot read value: it is marked ${algorithm}-compressed but does not decompress ` +
        `(${(error as Error).message})`,
      { cause: error },
    );
  }
}

function tooLarge(what: string, limit: number, cause?: unknown): MemcachedError {
  return new MemcachedError(
    "VALUE_TOO_LARGE",
    `Cannot read value: its compressed data ${what}, over the ${limit}-byte ` +
      "maxDecompressedSize",
    { cause },
  );
}
