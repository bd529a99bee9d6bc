/**
 * A growable output buffer that request encoders write into. Small writes are packed into one
 * scratch buffer so that many requests leave in one write; large values are passed through as
 * their own chunk without being copied.
 *
 * @module
 */

const LARGE = 16 * 1024;
/** A scratch buffer over this size is not kept once its bytes are handed out. */
const KEEP = 1024 * 1024;
/** Strings at least this long are encoded once, ahead, by `ByteWriter.textLength`. */
const STAGE = 1024;
/** Room left for a request line between the buffer's bytes and a string encoded ahead. */
const HEADROOM = 512;
/** Strings at least this long are encoded natively (`encodeInto`) rather than char by char. */
const NATIVE_TEXT = 64;
const NON_ASCII = /[\u0080-\uffff]/;
const utf8 = new TextEncoder();
/**
 * Strings at least this long are measured by encoding them (`encodeInto`, in pieces) into a
 * fixed scratch buffer: from a few hundred characters on that is 2 to 50 times faster than
 * scanning them in JavaScript (the scan costs 0.25 to 1.3 ns per character, `encodeInto` of
 * ASCII about 0.02), and it needs no more memory than the scratch.
 */
const MEASURE_BY_ENCODING = 128;
/** UTF-16 units measured per `encodeInto`: the scratch holds 3 bytes for each. */
const MEASURE_PIECE = 16 * 1024;
let measureScratch: Uint8Array | undefined;

/**
 * Returns the length in bytes of a string's UTF-8 encoding, as `TextEncoder` produces it (a
 * lone surrogate becomes U+FFFD, 3 bytes). Long strings are measured by encoding them, a piece
 * at a time, into one fixed 48 KiB buffer whose bytes are not kept; short ones are scanned.
 *
 * @param s Any string.
 * @returns Its UTF-8 byte length.
 *
 * @example
 * ```ts
 * import { utf8Length } from "@mica/memcached/protocol";
 *
 * console.log(utf8Length("héllo")); // 6
 * ```
 */
export function utf8Length(s: string): number {
  const length = s.length;
  if (length >= MEASURE_BY_ENCODING) {
    const scratch = measureScratch ??= new Uint8Array(MEASURE_PIECE * 3);
    if (length <= MEASURE_PIECE) return utf8.encodeInto(s, scratch).written;
    let n = 0;
    for (let i = 0; i < length;) {
      let end = i + MEASURE_PIECE;
      if (end >= length) end = length;
      // A surrogate pair cut in two would count as two lone surrogates (3 bytes each, not 4).
      else if ((s.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--;
      n += utf8.encodeInto(s.substring(i, end), scratch).written;
      i = end;
    }
    return n;
  }
  // The regular expression engine scans far faster than a charCodeAt loop.
  if (!NON_ASCII.test(s)) return length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a surrogate pair: 2 UTF-16 units, 4 bytes
        n += 2;
        continue;
      }
      n += 2;
    } else n += 2;
  }
  return n;
}

/**
 * Accumulates the bytes of encoded requests.
 *
 * Its scratch buffer grows to hold what is written between two hand-outs
 * ({@linkcode ByteWriter.take}, {@linkcode ByteWriter.flushTo}), and is kept for the next ones
 * unless it grew past 1 MiB or the hand-out filled less than an eighth of it: a burst of large
 * strings does not pin its memory after the traffic is back to small requests.
 *
 * @example
 * ```ts
 * import { ByteWriter } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * w.ascii("mn");
 * w.crlf();
 * const [bytes] = w.take();
 * console.log(bytes?.length); // 4
 * ```
 */
export class ByteWriter {
  #buf: Uint8Array;
  /** Where the next byte goes. */
  #pos = 0;
  /** Where the bytes not yet in `#chunks` start: `[#start, #pos)` is the open chunk. */
  #start = 0;
  /** Closed chunks, in order: views of this writer's buffers and large arrays passed through. */
  #chunks: Uint8Array[] = [];
  #size = 0;
  readonly #initialCapacity: number;
  /**
   * The string `textLength` encoded ahead: where the writer's end was then, where the string's
   * bytes start and how many they are.
   */
  #staged: string | undefined = undefined;
  #stagedFrom = 0;
  #stagedAt = 0;
  #stagedLength = 0;

  /**
   * Creates an empty writer.
   *
   * @param initialCapacity The scratch buffer's starting size in bytes, and the size it goes
   * back to after a burst of large writes.
   */
  constructor(initialCapacity = 16 * 1024) {
    this.#initialCapacity = initialCapacity;
    this.#buf = new Uint8Array(initialCapacity);
  }

  /** Bytes written since the last {@linkcode ByteWriter.take}. */
  get length(): number {
    return this.#size + this.#pos - this.#start;
  }

  /**
   * Makes room for `n` more bytes in a new buffer, into which the open chunk moves (the closed
   * chunks keep viewing the old one), with whatever follows it up to `keep`. Callers check
   * `pos + n > buf.length` first (hot path). A string encoded ahead is dropped, unless `keep`
   * holds it.
   */
  #grow(n: number, keep = this.#pos): void {
    const start = this.#start;
    let cap = Math.max(this.#buf.length * 2, 64);
    while (cap < this.#pos - start + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(start, keep));
    this.#buf = next;
    this.#pos -= start;
    this.#start = 0;
    this.#staged = undefined;
  }

  /**
   * Writes a string whose characters are all below U+0080 (commands, flags, numbers).
   *
   * @param s An ASCII string.
   */
  ascii(s: string): void {
    const n = s.length;
    let p = this.#pos;
    if (p + n > this.#buf.length) this.#grow(n);
    const buf = this.#buf;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.#pos = p;
  }

  /**
   * Writes one byte.
   *
   * @param b The byte value (0..255).
   */
  byte(b: number): void {
    if (this.#pos >= this.#buf.length) this.#grow(1);
    this.#buf[this.#pos++] = b;
  }

  /** Writes `"\r\n"`. */
  crlf(): void {
    if (this.#pos + 2 > this.#buf.length) this.#grow(2);
    this.#buf[this.#pos++] = 13;
    this.#buf[this.#pos++] = 10;
  }

  /**
   * Writes a non-negative integer in decimal.
   *
   * @param n A non-negative safe integer.
   */
  uint(n: number): void {
    // Digits are written straight into the buffer: `String(n)` would allocate a string per
    // request (and fill V8's number-to-string cache with ever-new opaque tokens).
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    if (this.#pos + digits > this.#buf.length) this.#grow(digits);
    const buf = this.#buf;
    let p = this.#pos + digits;
    this.#pos = p;
    do {
      const q = Math.floor(n / 10);
      buf[--p] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /**
   * Returns the UTF-8 length of `s`, as {@linkcode utf8Length} does, for a
   * {@linkcode ByteWriter.text} of `s` that follows the request line written in between. A
   * string of 1,024 units or more is encoded here, once, into the buffer's free space 512 bytes
   * past its end, and that `text` moves the bytes into place instead of encoding the string a
   * second time. The writer's content does not change.
   *
   * @param s The string about to be written.
   * @returns Its UTF-8 length.
   *
   * @example Framing a value by its length before writing it
   * ```ts
   * import { ByteWriter } from "@mica/memcached/protocol";
   *
   * const w = new ByteWriter();
   * const value = "é".repeat(2000);
   * const size = w.textLength(value);
   * w.ascii(`ms k ${size}\r\n`);
   * w.text(value, size);
   * w.crlf();
   * console.log(size, w.length); // 4000 4013
   * ```
   */
  textLength(s: string): number {
    const units = s.length;
    if (units < STAGE) return utf8Length(s);
    // Room for ASCII first, and more only when the string turns out to need it.
    if (this.#pos + HEADROOM + units > this.#buf.length) this.#grow(HEADROOM + units);
    let at = this.#pos + HEADROOM;
    let { read, written } = utf8.encodeInto(s, this.#buf.subarray(at));
    while (read < units) {
      this.#grow(HEADROOM + written + 3 * (units - read), at + written);
      at = this.#pos + HEADROOM;
      const rest = utf8.encodeInto(s.substring(read), this.#buf.subarray(at + written));
      read += rest.read;
      written += rest.written;
    }
    this.#staged = s;
    this.#stagedFrom = this.#pos;
    this.#stagedAt = at;
    this.#stagedLength = written;
    return written;
  }

  /**
   * Writes a string as UTF-8.
   *
   * @param s The string.
   * @param byteLength Its UTF-8 length, from {@linkcode ByteWriter.textLength} or
   * {@linkcode utf8Length}.
   */
  text(s: string, byteLength: number): void {
    if (s === this.#staged) {
      this.#staged = undefined;
      const at = this.#stagedAt;
      // Every write since stayed below `at` (the writer only writes before its end), so the
      // bytes encoded ahead are intact.
      if (this.#pos <= at && byteLength === this.#stagedLength) {
        if (byteLength < LARGE) {
          // A few KiB move next to the request line: the batch stays one chunk, one write.
          this.#buf.copyWithin(this.#pos, at, at + byteLength);
          this.#pos += byteLength;
          return;
        }
        // A large string stays where it is, as large bytes would be passed through, and what
        // comes before it moves next to it; the space left between is never sent. The open
        // chunk (this request's line, and any small requests before it) moves whole when it is
        // small, so line and value leave as one chunk: one write, and the server never gets
        // half a line in a packet of its own. A larger one stays, closed where `textLength`
        // was called, and only the part of the line written since moves.
        const start = this.#start;
        const open = this.#pos - start;
        if (open < LARGE) {
          this.#buf.copyWithin(at - open, start, this.#pos);
          this.#start = at - open;
        } else {
          const from = this.#stagedFrom;
          const line = this.#pos - from;
          this.#buf.copyWithin(at - line, from, this.#pos);
          this.#pos = from;
          this.#seal();
          this.#start = at - line;
        }
        this.#pos = at + byteLength;
        return;
      }
    }
    if (byteLength === s.length && s.length < NATIVE_TEXT) {
      this.ascii(s);
      return;
    }
    if (this.#pos + byteLength > this.#buf.length) this.#grow(byteLength);
    const { written } = utf8.encodeInto(s, this.#buf.subarray(this.#pos));
    this.#pos += written;
  }

  /**
   * Writes bytes. Large arrays become their own chunk and are not copied, so the caller must
   * not change them until they are written.
   *
   * @param bytes The bytes to write.
   */
  bytes(bytes: Uint8Array): void {
    if (bytes.length >= LARGE) {
      this.#seal();
      this.#chunks.push(bytes);
      this.#size += bytes.length;
      return;
    }
    if (this.#pos + bytes.length > this.#buf.length) this.#grow(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Closes the open chunk (a view: nothing is copied); the next bytes start a new one. */
  #seal(): void {
    this.#staged = undefined;
    const start = this.#start;
    if (this.#pos === start) return;
    this.#chunks.push(this.#buf.subarray(start, this.#pos));
    this.#size += this.#pos - start;
    this.#start = this.#pos;
  }

  /**
   * Returns everything written so far as a list of chunks, in order, and empties the writer.
   * The returned chunks are owned by the caller.
   *
   * @returns The chunks; empty when nothing was written.
   */
  take(): Uint8Array[] {
    const used = this.#pos;
    this.#seal();
    // Views of the buffer the writer goes on using are copied; views of a buffer it left when
    // growing, and large arrays passed through, are handed over as they are.
    const buffer = this.#buf.buffer;
    const chunks = this.#chunks.map((chunk) => chunk.buffer === buffer ? chunk.slice() : chunk);
    this.#empty(used);
    return chunks;
  }

  /**
   * Passes everything written so far to `sink`, in order, and empties the writer. Unlike
   * {@linkcode ByteWriter.take} it copies nothing: the chunks it writes itself are views of
   * its own buffer, valid only until `sink` returns, so `sink` must copy whatever it keeps.
   *
   * @param sink Called once per chunk, synchronously.
   *
   * @example
   * ```ts
   * import { ByteWriter } from "@mica/memcached/protocol";
   *
   * const w = new ByteWriter();
   * w.ascii("mn\r\n");
   * let sent = 0;
   * w.flushTo((chunk) => sent += chunk.length);
   * console.log(sent, w.length); // 4 0
   * ```
   */
  flushTo(sink: (chunk: Uint8Array) => void): void {
    const used = this.#pos;
    this.#seal();
    const chunks = this.#chunks;
    for (const chunk of chunks) sink(chunk);
    this.#empty(used);
  }

  /** Starts over after a hand-out whose batch filled the buffer up to `used`. */
  #empty(used: number): void {
    this.#chunks = [];
    this.#size = 0;
    this.#pos = 0;
    this.#start = 0;
    this.#staged = undefined;
    this.#release(used);
  }

  /** Lets an outsized scratch buffer go once its `used` bytes were handed out (see the class). */
  #release(used: number): void {
    const capacity = this.#buf.length;
    if (capacity <= this.#initialCapacity) return;
    if (capacity > KEEP || used < capacity / 8) this.#buf = new Uint8Array(this.#initialCapacity);
  }
}
