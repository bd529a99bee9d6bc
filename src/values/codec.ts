/**
 * The value layer of a client: {@linkcode ValueCodec} stores values in the configured flag
 * scheme (compressing them above a threshold) and reads them back by their flags, decompressing
 * within a size limit. Reading never throws: a value that cannot be read becomes a
 * `MemcachedError` the request reports for its key, so one bad item disturbs no other request
 * and not the connection.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import { checkValue, type TextSource, type ValueReply } from "../protocol/values.ts";
import { utf8Length } from "../protocol/writer.ts";
import { compress, type CompressionAlgorithm, decompress } from "./compression.ts";
import { type Format, MICA, type Serialized, utf8Text, type ValueSource } from "./formats.ts";

/** Compression of stored values, as a codec runs it. */
export interface CompressionSettings {
  readonly algorithm: CompressionAlgorithm;
  /** Data of at least this many bytes is compressed (and kept so only if it got smaller). */
  readonly threshold: number;
  /** The zlib level (deflate only); the library's default when undefined. */
  readonly level: number | undefined;
}

/** A reply's value read in place: text through the decoder, bytes copied out of its buffer. */
class ReplySource implements ValueSource {
  r!: ValueReply;
  source!: TextSource;
  text(): string {
    return this.source.valueText(this.r.value!);
  }
  bytes(): Uint8Array {
    const r = this.r;
    return r.borrowed ? r.value!.slice() : r.value!;
  }
}

/** Decompressed bytes (the reader's own). */
class BytesSource implements ValueSource {
  data!: Uint8Array;
  text(): string {
    return utf8Text(this.data);
  }
  bytes(): Uint8Array {
    return this.data;
  }
}

const utf8 = new TextEncoder();

/** Stores and reads values in one flag scheme. */
export class ValueCodec {
  readonly #format: Format;
  readonly #compression: CompressionSettings | undefined;
  readonly #compressedFlags: number;
  readonly #maxValueSize: number;
  readonly #maxDecompressed: number;
  /** Mica's scheme: flags 0 and 4 are read without any detour. */
  readonly #plain: boolean;
  readonly #reply = new ReplySource();
  readonly #bytes = new BytesSource();

  /**
   * @throws {MemcachedError} `INVALID_ARGUMENT` when the scheme cannot mark data compressed
   * with the algorithm.
   */
  constructor(
    format: Format,
    compression: CompressionSettings | undefined,
    maxValueSize: number,
    maxDecompressedSize: number,
  ) {
    this.#format = format;
    this.#compression = compression;
    this.#maxValueSize = maxValueSize;
    this.#maxDecompressed = maxDecompressedSize;
    this.#plain = format === MICA;
    this.decode = this.#plain
      ? (r, text) => {
        const flags = r.flags;
        if (flags === 0) return text.valueText(r.value!);
        if (flags === 4) return r.borrowed ? r.value!.slice() : r.value!;
        return this.#read(r, text);
      }
      : (r, text) => this.#read(r, text);
    const flags = compression === undefined ? 0 : format.compressedFlags(compression.algorithm);
    if (flags === undefined) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot use option compression: the ${format.name} scheme has no flag for ` +
          `${compression!.algorithm}-compressed values` +
          (format.name === "custom" ? " (a custom serializer compresses on its own)" : ""),
      );
    }
    this.#compressedFlags = flags;
  }

  /**
   * What to store for a value: serialized, compressed when that makes it smaller, checked
   * against `maxValueSize`.
   *
   * @throws {MemcachedError} `INVALID_VALUE`, `VALUE_TOO_LARGE`.
   */
  encode(value: unknown): Serialized {
    const out = this.#format.serialize(value);
    const c = this.#compression;
    if (c === undefined) {
      checkValue(out.data, this.#maxValueSize);
      return out;
    }
    let { data, flags } = out;
    const length = typeof data === "string" ? utf8Length(data) : data.length;
    // Over maxDecompressedSize, compressed data could never be read back: store it as it is.
    if (length >= c.threshold && length <= this.#maxDecompressed) {
      if (typeof data === "string") {
        // encodeInto an array of the exact length: TextEncoder.encode is up to 100 times
        // slower on Deno. Stored uncompressed, these bytes are what the string would send.
        const bytes = new Uint8Array(length);
        utf8.encodeInto(data, bytes);
        data = bytes;
      }
      const packed = compress(c.algorithm, data, c.level);
      const prefix = this.#format.sizePrefix ? 4 : 0;
      if (packed.length + prefix < length) {
        const stored = new Uint8Array(prefix + packed.length);
        if (prefix > 0) new DataView(stored.buffer).setUint32(0, length, true);
        stored.set(packed, prefix);
        data = stored;
        flags |= this.#compressedFlags;
      }
    }
    return { data: checkValue(data, this.#maxValueSize), flags };
  }

  /**
   * Reads a reply's value by its flags. Never throws: a value that cannot be read is returned
   * as a `MemcachedError` (`DECODE_FAILED`, or `VALUE_TOO_LARGE` past `maxDecompressedSize`).
   * With Mica's scheme, text (flags 0) and bytes (4) are read without any detour: this is the
   * read of every plain `get`.
   */
  readonly decode: (r: ValueReply, text: TextSource) => unknown;

  /**
   * Whether `value` is stored as it is, with the type flag of `typeFlags()`: Mica's scheme
   * without compression, for a string or bytes (the store of every plain `set`).
   */
  passes(value: unknown): value is string | Uint8Array {
    return this.#plain && this.#compression === undefined &&
      (typeof value === "string" || value instanceof Uint8Array);
  }

  #read(r: ValueReply, text: TextSource): unknown {
    const flags = r.flags;
    const format = this.#format;
    try {
      const how = format.compression(flags);
      if (how === undefined) {
        const source = this.#reply;
        source.r = r;
        source.source = text;
        return format.read(flags, source);
      }
      let data = r.value!;
      let size: number | undefined;
      if (format.sizePrefix) {
        if (data.length < 4) throw new RangeError("the compressed data lacks its size");
        size = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
        data = data.subarray(4);
      }
      const source = this.#bytes;
      source.data = decompress(how, data, this.#maxDecompressed, size);
      return format.read(format.typeFlags(flags), source);
    } catch (error) {
      if (error instanceof MemcachedError) return error;
      return new MemcachedError(
        "DECODE_FAILED",
        `Cannot read value: the ${format.name} scheme cannot read flags ${flags}: ` +
          `${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
  }
}
