/**
 * Internal pieces shared by the three reply decoders (`meta/decode.ts` for the meta
 * protocol, `text/decode.ts` for the classic text protocol, `binary/decode.ts` for the binary
 * protocol): the receive buffer with its compaction and growth, line framing, value framing and
 * streaming, option limits, and the small byte parsers. Not exported from `mod.ts`, but for the
 * {@linkcode DecoderOptions} the three decoders take.
 *
 * Each decoder keeps its own reply parsing and its own `#next()` loop (the hot,
 * protocol-specific part, calling its parser directly rather than through a shared loop taking
 * a callback, which would make that call polymorphic) and composes one {@linkcode ReceiveBuffer}.
 * The buffer is a single class with public fields, so every decoder sees one object shape, and
 * the per-reply methods ({@linkcode ReceiveBuffer.nextLine}, {@linkcode ReceiveBuffer.frameValue})
 * are small enough to inline, with their error paths kept out of line. Measured with 64
 * pipelined replies per chunk under Deno and Bun, the decoders are as fast as before.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";

/** The default longest reply line, in bytes, line end included. */
export const DEFAULT_MAX_LINE_LENGTH = 8192;
/** The default largest value, in bytes. */
export const DEFAULT_MAX_VALUE_SIZE = 1024 * 1024;
/** The most lines a `stats` reply may have (memcached's largest groups have a few thousand). */
export const MAX_STATS = 100_000;
/** The largest unsigned 64-bit integer. */
export const MAX_U64: bigint = (1n << 64n) - 1n;

export const CR = 13;
export const LF = 10;
export const SP = 32;

/** The error for bytes that are not a valid reply: the peer's fault. */
export function protocolError(reason: string): MemcachedError {
  return new MemcachedError("PROTOCOL_ERROR", `Cannot decode reply: ${reason}`);
}

/**
 * The error a decoder stays failed with after `error` escaped its parser: a `MemcachedError`
 * as it is, anything else (a bug) wrapped as a `PROTOCOL_ERROR`.
 */
export function failure(error: unknown): MemcachedError {
  return error instanceof MemcachedError ? error : protocolError(String(error));
}

/**
 * A decoder option that must be a positive safe integer, or `fallback` when absent.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` otherwise.
 */
export function limit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot create decoder: ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

/** The initial receive buffer of a line decoder: room for two lines, 4 to 64 KiB. */
export function lineBufferSize(maxLine: number): number {
  return Math.max(4096, Math.min(maxLine * 2, 65536));
}

/** buf[from, to) as a string of one character per byte. */
export function latin1(buf: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** A short excerpt of a line for an error message: at most 64 bytes, quoted. */
export function excerpt(buf: Uint8Array, from: number, to: number): string {
  return JSON.stringify(latin1(buf, from, Math.min(to, from + 64)));
}

/** Parses an unsigned decimal in buf[from, to) into a number; -1 if not all digits or too big. */
export function parseUint(buf: Uint8Array, from: number, to: number): number {
  if (from >= to || to - from > 15) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Parses an unsigned decimal in buf[from, to) of at most 2^64-1; undefined if invalid. */
export function parseU64(buf: Uint8Array, from: number, to: number): bigint | undefined {
  if (to - from <= 15) {
    const n = parseUint(buf, from, to);
    return n < 0 ? undefined : BigInt(n);
  }
  if (to - from > 20) return undefined;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) return undefined;
  }
  const n = BigInt(latin1(buf, from, to));
  return n <= MAX_U64 ? n : undefined;
}

/** Whether buf[from, to) starts with `prefix`. */
export function startsWith(buf: Uint8Array, from: number, to: number, prefix: string): boolean {
  if (to - from < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[from + i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/**
 * Where the statistic of a `stats` reply line starts: after `STAT `, `ITEM ` (`stats
 * cachedump`: `ITEM <key> [<size> b; <exptime> s]`) or `PREFIX ` (`stats detail dump`);
 * -1 for any other line.
 */
export function statStart(buf: Uint8Array, from: number, to: number): number {
  switch (buf[from]) {
    case 83: // S
      return startsWith(buf, from, to, "STAT ") ? from + 5 : -1;
    case 73: // I
      return startsWith(buf, from, to, "ITEM ") ? from + 5 : -1;
    case 80: // P
      return startsWith(buf, from, to, "PREFIX ") ? from + 7 : -1;
    default:
      return -1;
  }
}

/**
 * Adds the statistic `<name> <value>` in buf[from, to) (a `STAT` line after its first word) to
 * `stats`; a line without a value gets the empty string.
 *
 * @throws {MemcachedError} `PROTOCOL_ERROR` when `stats` already holds {@linkcode MAX_STATS}.
 */
export function addStat(
  stats: Map<string, string>,
  buf: Uint8Array,
  from: number,
  to: number,
): void {
  if (stats.size >= MAX_STATS) {
    throw protocolError(`a stats reply has more than ${MAX_STATS} lines`);
  }
  const line = latin1(buf, from, to);
  const sp = line.indexOf(" ");
  if (sp < 0) stats.set(line, "");
  else stats.set(line.slice(0, sp), line.slice(sp + 1));
}

/** The largest 32-bit client flags. */
const MAX_FLAGS = 0xffff_ffff;

/**
 * The header of a text `VALUE <key> <flags> <bytes> [<cas>]` line, as {@linkcode parseValueLine}
 * reads it. Each decoder keeps one and reuses it for every line.
 */
export class ValueLine {
  /** Where the key, which starts right after `VALUE `, ends (exclusive). */
  keyEnd = 0;
  /** The client flags. */
  flags = 0;
  /** The data's length in bytes. */
  size = 0;
  /** The CAS token (`gets`, `gats`), or undefined when the line has none. */
  cas: bigint | undefined = undefined;
}

/**
 * Parses `<key> <flags> <bytes> [<cas>]` in buf[from, to) (a `VALUE` line after its first word
 * and space) into `out`. Shared by the text decoder and the meta one, which reads the replies
 * of a text `get` sent on a meta connection.
 *
 * @throws {MemcachedError} `PROTOCOL_ERROR` when a field is missing or malformed, or the size
 * is over `maxValue`.
 */
export function parseValueLine(
  buf: Uint8Array,
  from: number,
  to: number,
  maxValue: number,
  out: ValueLine,
): void {
  let j = from;
  while (j < to && buf[j] !== SP) j++;
  if (j === from || j >= to) throw protocolError("VALUE without a key and flags");
  out.keyEnd = j;
  let i = j + 1;
  j = i;
  while (j < to && buf[j] !== SP) j++;
  const flags = parseUint(buf, i, j);
  if (flags < 0 || flags > MAX_FLAGS) {
    throw protocolError(`VALUE with bad client flags ${excerpt(buf, i, j)}`);
  }
  if (j >= to) throw protocolError("VALUE without a size");
  i = j + 1;
  j = i;
  while (j < to && buf[j] !== SP) j++;
  const size = parseUint(buf, i, j);
  if (size < 0) throw protocolError(`VALUE with a bad size ${excerpt(buf, i, j)}`);
  if (size > maxValue) {
    throw protocolError(`a value of ${size} bytes is over the ${maxValue}-byte limit`);
  }
  let cas: bigint | undefined;
  if (j < to) {
    cas = parseU64(buf, j + 1, to);
    if (cas === undefined) throw protocolError(`VALUE with a bad CAS token ${excerpt(buf, j, to)}`);
  }
  out.flags = flags;
  out.size = size;
  out.cas = cas;
}

/** The fields of a reply that a `VALUE` line sets (the meta and the text reply shapes). */
export interface ValueFields {
  key: string | undefined;
  flags: number;
  cas: bigint | undefined;
}

/**
 * Sets a reply's key, flags and CAS from a parsed `VALUE` line whose key starts at `from`. A small
 * value's key is sliced from one decode of the bytes from there on (kept for the following
 * replies, and which `valueText()` slices small values from too); a large value's is built byte
 * by byte, rather than decoding up to 16 KiB of the value to slice a key from it.
 */
export function setValueFields(
  r: ValueFields,
  rx: ReceiveBuffer,
  buf: Uint8Array,
  from: number,
  line: ValueLine,
): void {
  r.key = line.size <= TEXT_SLICE_MAX
    ? rx.latin1At(from, line.keyEnd)
    : latin1(buf, from, line.keyEnd);
  r.flags = line.flags;
  r.cas = line.cas;
}

/**
 * Values up to this many bytes are lent (with `copyValues: false`) from a scratch area behind
 * the receive buffer through one cached view per length, instead of a new view per value: a
 * small value then costs no allocation at all.
 */
export const LEND_MAX = 256;

/** The largest value {@linkcode ReceiveBuffer.valueText} slices from a decoded chunk. */
export const TEXT_SLICE_MAX = 4096;
/** How many received bytes {@linkcode ReceiveBuffer.valueText} decodes at once, at most. */
export const TEXT_SPAN = 16 * 1024;

const utf8Decoder = new TextDecoder();

/** A reply that carries a value: what {@linkcode ReceiveBuffer.frameValue} fills in. */
export interface ValueReply {
  value: Uint8Array | undefined;
  borrowed: boolean;
}

/**
 * A decoder's receive buffer: the bytes fed and not yet parsed, `buf[start, end)`, plus the
 * value currently streaming into a buffer of its own.
 *
 * - {@linkcode feed} copies each chunk once: first into the streaming value, the rest behind
 *   `end`. The buffer restarts at its front whenever it is empty, and otherwise compacts or
 *   doubles only when a chunk does not fit, so copying stays linear in the bytes fed.
 * - {@linkcode nextLine} frames CRLF-terminated lines for the text and meta protocols; it
 *   remembers how far it has searched (`scan`), so no byte is searched twice, and enforces the
 *   line cap on unfinished lines too.
 * - {@linkcode frameValue}, {@linkcode stream}, {@linkcode endValue} and {@linkcode endStream}
 *   frame a value by its announced length: lent or copied at once when all of it is here, else
 *   streamed straight into its own buffer as chunks arrive.
 */
export class ReceiveBuffer {
  /** The receive buffer; replaced when it grows. */
  buf: Uint8Array;
  /** The first byte not yet parsed. */
  start = 0;
  /** The end of the bytes received. */
  end = 0;
  /** Where the search for the next line end resumes (line protocols only). */
  scan = 0;
  /** The value being streamed in, or being completed (its CRLF still to check). */
  value: Uint8Array | undefined = undefined;
  /** How many bytes of `value` have arrived. */
  filled = 0;

  /** `buf`'s whole ArrayBuffer: the receive area, then the scratch area (lending only). */
  #mem: Uint8Array | undefined = undefined;
  /** Views of the scratch area by length, made when first needed (lending only). */
  #views: (Uint8Array | undefined)[] = [];
  #lends: boolean;
  /** The value framed last without copying, until the next feed or stream; and where it lies. */
  #framed: Uint8Array | undefined = undefined;
  #valueAt = 0;
  /** `buf[#textFrom, #textTo)` as text, when all of it is ASCII (`#ascii`). */
  #text = "";
  #ascii = false;
  #textFrom = 0;
  /** -1 when nothing is cached (the bytes moved or were overwritten since). */
  #textTo = -1;

  /**
   * @param capacity The initial size of the buffer, in bytes.
   * @param lends Whether small values will be lent with {@linkcode lend}.
   */
  constructor(capacity: number, lends = false) {
    this.#lends = lends;
    this.buf = this.#allocate(capacity);
  }

  /** A receive area of `capacity` bytes, followed by the scratch area when lending. */
  #allocate(capacity: number): Uint8Array {
    if (!this.#lends) return new Uint8Array(capacity);
    this.#mem = new Uint8Array(capacity + LEND_MAX);
    this.#views = [];
    return this.#mem.subarray(0, capacity);
  }

  /**
   * Lends `buf[from, from + size)` (`size` at most {@linkcode LEND_MAX}): copies it into the
   * scratch area and returns the cached view of that length. The view is valid until the next
   * value is lent (the decoder's next `next()`) or the buffer grows.
   */
  lend(from: number, size: number): Uint8Array {
    const at = this.buf.length;
    const mem = this.#mem!;
    mem.copyWithin(at, from, from + size);
    let view = this.#views[size];
    if (view === undefined) {
      view = new Uint8Array(mem.buffer, at, size);
      this.#views[size] = view;
    }
    return view;
  }

  /**
   * Decodes a value as UTF-8. For the value framed last without copying (lent or a view of the
   * buffer, before the next feed), a value up to {@linkcode TEXT_SLICE_MAX} bytes is sliced
   * from one decode of everything received from it on (up to {@linkcode TEXT_SPAN} bytes),
   * kept while those bytes stay put: when that text is all ASCII, each later value in it costs
   * a slice rather than a decode. Any other value is decoded on its own.
   */
  valueText(value: Uint8Array): string {
    const size = value.length;
    // Only the value framed last (lent, or a view of `buf`), whose bytes are still at #valueAt.
    if (value !== this.#framed || size > TEXT_SLICE_MAX) return utf8Decoder.decode(value);
    return this.#asciiText(this.#valueAt, this.#valueAt + size) ?? utf8Decoder.decode(value);
  }

  /**
   * `buf[from, to)` (received bytes, before the next feed) as one character per byte, such as
   * a key in a reply line: sliced from the same decoded text as {@linkcode valueText} when it
   * is ASCII, else built byte by byte.
   */
  latin1At(from: number, to: number): string {
    return this.#asciiText(from, to) ?? latin1(this.buf, from, to);
  }

  /**
   * `buf[from, to)` as text if the bytes decoded from `from` on (or earlier, still cached) are
   * all ASCII; undefined when they are not.
   */
  #asciiText(from: number, to: number): string | undefined {
    if (from >= this.#textFrom && to <= this.#textTo) {
      return this.#ascii ? this.#text.slice(from - this.#textFrom, to - this.#textFrom) : undefined;
    }
    const stop = Math.max(to, Math.min(this.end, from + TEXT_SPAN));
    const text = utf8Decoder.decode(this.buf.subarray(from, stop));
    // As many UTF-16 units as bytes, and no U+FFFD, means every byte was ASCII: any multi-byte
    // sequence decodes to fewer units, and any invalid byte to U+FFFD.
    const ascii = text.length === stop - from && text.indexOf("\uFFFD") < 0;
    this.#text = ascii ? text : "";
    this.#ascii = ascii;
    this.#textFrom = from;
    this.#textTo = stop;
    return ascii ? text.slice(0, to - from) : undefined;
  }

  /** Bytes held and not yet returned: the unparsed bytes plus the streamed part of a value. */
  get held(): number {
    return this.end - this.start + this.filled;
  }

  /** Adds received bytes, copying them: the caller may reuse `chunk`. */
  feed(chunk: Uint8Array): void {
    this.#framed = undefined;
    let off = 0;
    const value = this.value;
    if (value !== undefined && this.filled < value.length) {
      off = Math.min(value.length - this.filled, chunk.length);
      value.set(off === chunk.length ? chunk : chunk.subarray(0, off), this.filled);
      this.filled += off;
    }
    const n = chunk.length - off;
    if (n === 0) return;
    if (this.start === this.end) {
      // Nothing unparsed: start over at the front, so the buffer rarely needs compacting.
      this.start = 0;
      this.end = 0;
      this.scan = 0;
      this.#textTo = -1;
    }
    if (this.end + n > this.buf.length) this.#makeRoom(n);
    this.buf.set(off === 0 ? chunk : chunk.subarray(off), this.end);
    this.end += n;
  }

  #makeRoom(n: number): void {
    this.#textTo = -1;
    const live = this.end - this.start;
    if (live + n <= this.buf.length && this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      let cap = Math.max(this.buf.length * 2, 64);
      while (cap < live + n) cap *= 2;
      const next = this.#allocate(cap);
      next.set(this.buf.subarray(this.start, this.end));
      this.buf = next;
    }
    this.scan = Math.max(0, this.scan - this.start);
    this.end = live;
    this.start = 0;
  }

  /**
   * Frames the next line. When a whole line is here, moves `start` past its CRLF and returns
   * the index of its CR: the line, CRLF excluded, is `buf[start before the call, result)`.
   * Returns -1 when more bytes are needed.
   *
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the line, finished or not, is longer than
   * `maxLine` bytes (line end included), or ends in a bare LF.
   */
  nextLine(maxLine: number): number {
    // Kept small so that it inlines into each decoder's loop; the rest is in #noLine.
    const buf = this.buf;
    const end = this.end;
    const start = this.start;
    let lf = this.scan;
    while (lf < end && buf[lf] !== LF) lf++;
    if (lf === end || lf - start >= maxLine || lf === start || buf[lf - 1] !== CR) {
      return this.#noLine(lf, maxLine);
    }
    this.start = lf + 1;
    this.scan = lf + 1;
    return lf - 1;
  }

  /** {@linkcode nextLine} without a valid line: -1 while more bytes may complete it, else throws. */
  #noLine(lf: number, maxLine: number): number {
    const length = lf - this.start;
    if (lf === this.end) {
      this.scan = lf;
      if (length <= maxLine) return -1;
    }
    if (length >= maxLine) throw protocolError(`a reply line is longer than ${maxLine} bytes`);
    throw protocolError("a reply line does not end in CRLF");
  }

  /**
   * Frames a value of `size` bytes followed by CRLF at `start` (a line protocol's data block)
   * into `r.value`. When the value and its CRLF are all here, `r.value` is a copy, or with
   * `copy` false a view of the receive buffer (`r.borrowed`), and the CRLF is consumed: returns
   * true. Else `r.value` is a buffer of its own that later feeds fill: returns false, and
   * {@linkcode endValue} tells when it is complete.
   *
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the value is not followed by CRLF.
   */
  frameValue(r: ValueReply, size: number, copy: boolean): boolean {
    const start = this.start;
    const end = start + size;
    if (this.end - end < 2) {
      r.value = this.stream(size);
      return false;
    }
    const buf = this.buf;
    if (buf[end] !== CR || buf[end + 1] !== LF) {
      throw protocolError("a value is not followed by CRLF");
    }
    if (copy) r.value = buf.slice(start, end);
    else {
      r.value = size <= LEND_MAX && this.#lends ? this.lend(start, size) : buf.subarray(start, end);
      r.borrowed = true;
      this.#framed = r.value;
      this.#valueAt = start;
    }
    this.start = end + 2;
    this.scan = end + 2;
    return true;
  }

  /**
   * Moves the value of `size` bytes at `start` into a new buffer of its own, with as much of it
   * as is here; {@linkcode feed} streams the rest straight into it.
   */
  stream(size: number): Uint8Array {
    this.#framed = undefined;
    const value = new Uint8Array(size);
    const n = Math.min(this.end - this.start, size);
    value.set(this.buf.subarray(this.start, this.start + n));
    this.start += n;
    this.scan = this.start;
    this.value = value;
    this.filled = n;
    return value;
  }

  /**
   * Whether the value that {@linkcode frameValue} began streaming and the CRLF after it are all
   * here; if so, consumes the CRLF and forgets the value.
   *
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the value is not followed by CRLF.
   */
  endValue(): boolean {
    if (this.filled < this.value!.length || this.end - this.start < 2) return false;
    if (this.buf[this.start] !== CR || this.buf[this.start + 1] !== LF) {
      throw protocolError("a value is not followed by CRLF");
    }
    this.start += 2;
    this.scan = this.start;
    this.value = undefined;
    this.filled = 0;
    return true;
  }

  /** Whether the value of {@linkcode stream} is all here; if so, forgets it. */
  endStream(): boolean {
    if (this.filled < this.value!.length) return false;
    this.value = undefined;
    this.filled = 0;
    return true;
  }
}

/**
 * Limits of a {@linkcode ResponseDecoder}.
 *
 * @example
 * ```ts
 * import { MemcachedError } from "@mica/memcached";
 * import { type DecoderOptions, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const options: DecoderOptions = { maxValueSize: 4 };
 * const d = new ResponseDecoder(options);
 * d.feed(new TextEncoder().encode("VA 5\r\nhello\r\n"));
 * try {
 *   d.next();
 * } catch (error) {
 *   console.log((error as MemcachedError).code); // "PROTOCOL_ERROR": over maxValueSize
 * }
 * ```
 */
export interface DecoderOptions {
  /**
   * The longest reply line accepted, in bytes, line end included.
   * @default {8192}
   */
  maxLineLength?: number;
  /**
   * The largest value accepted in a `VA` reply, in bytes.
   * @default {1048576}
   */
  maxValueSize?: number;
  /**
   * Copy each value that arrived whole into its own buffer, and return a new object per reply.
   * With `false`, such a value is a view into the receive buffer (`borrowed: true`) and every
   * reply is the same reused object: a response and its value are valid only until the next
   * call to `next()` or `feed()`. This saves allocations for a caller that consumes each reply
   * at once, as a connection does.
   * @default {true}
   */
  copyValues?: boolean;
}
