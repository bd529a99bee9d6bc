/**
 * An incremental decoder for memcached's meta-protocol replies, the plain replies of
 * `version`, `stats`, `flush_all` and `verbosity`, and the replies of a text `get` or `gets`
 * line (`VALUE` per hit, then `END`), which memcached answers on a meta connection too. Feed it
 * chunks as they arrive; take complete responses with {@linkcode ResponseDecoder.next}.
 *
 * Guarantees: bytes already searched for a line end are never searched again; a value is
 * framed by its announced length and copied once into its own buffer; the receive buffer only
 * ever holds one unfinished line, and a line longer than `maxLineLength` or a value larger than
 * `maxValueSize` is a protocol error rather than unbounded growth.
 *
 * @module
 */

import type { MemcachedError } from "../../errors.ts";
import {
  addStat,
  CR,
  type DecoderOptions,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_VALUE_SIZE,
  excerpt,
  failure,
  latin1,
  LF,
  limit,
  lineBufferSize,
  parseU64,
  parseUint,
  parseValueLine,
  protocolError,
  ReceiveBuffer,
  setValueFields,
  SP,
  startsWith,
  statStart,
  TEXT_SLICE_MAX,
  ValueLine,
} from "../_decode.ts";
import {
  LEASE_STALE,
  LEASE_TAKEN,
  LEASE_WIN,
  type Response,
  type ResponseStatus,
} from "./types.ts";

/** The largest 32-bit client flags. */
const MAX_FLAGS = 0xffff_ffff;

function newResponse(status: ResponseStatus): Response {
  return {
    status,
    opaque: -1,
    value: undefined,
    borrowed: false,
    flags: 0,
    cas: undefined,
    ttl: undefined,
    key: undefined,
    lease: 0,
    message: "",
    stats: undefined,
  };
}

/**
 * Turns a byte stream from a memcached server into {@linkcode Response}s.
 *
 * @example Decoding a reply split across chunks
 * ```ts
 * import { ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * const bytes = new TextEncoder().encode("VA 2 f1 O9\r\nhi\r\nEN\r\n");
 * d.feed(bytes.subarray(0, 7));
 * console.log(d.next()); // undefined: more bytes are needed
 * d.feed(bytes.subarray(7));
 * const r = d.next()!;
 * console.log(r.status, r.opaque, new TextDecoder().decode(r.value)); // VA 9 hi
 * console.log(d.next()?.status); // EN
 * ```
 *
 * @example Decoding the replies of a text `get` line on a meta connection
 * ```ts
 * import { ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VALUE b 0 2\r\nhi\r\nEND\r\nHD O4\r\n"));
 * const r = d.next()!;
 * console.log(r.status, r.key, new TextDecoder().decode(r.value)); // VALUE b hi
 * console.log(d.next()?.status, d.next()?.status); // END HD
 * ```
 */
export class ResponseDecoder {
  readonly #rx: ReceiveBuffer;
  #maxLine: number;
  #maxValue: number;
  #copy: boolean;
  #reused: Response | undefined = undefined;
  /** A `VA` or `VALUE` header whose value (or the CRLF after it) is still arriving. */
  #pending: Response | undefined = undefined;
  /** Statistics being collected until `END`. */
  #stats: Map<string, string> | undefined = undefined;
  /** The header of the last `VALUE` line, reused. */
  readonly #valueLine = new ValueLine();
  #failed: MemcachedError | undefined = undefined;

  /**
   * Creates a decoder with an empty receive buffer.
   *
   * @param options Line and value size limits.
   */
  constructor(options: DecoderOptions = {}) {
    this.#maxLine = limit("maxLineLength", options.maxLineLength, DEFAULT_MAX_LINE_LENGTH);
    this.#maxValue = limit("maxValueSize", options.maxValueSize, DEFAULT_MAX_VALUE_SIZE);
    this.#copy = options.copyValues ?? true;
    if (!this.#copy) this.#reused = newResponse("OK");
    this.#rx = new ReceiveBuffer(lineBufferSize(this.#maxLine), !this.#copy);
  }

  /**
   * A response object: a new one, or with `copyValues: false` the decoder's one reused object
   * (its previous reply has been handled: the caller consumes each reply before the next call).
   */
  #response(status: ResponseStatus): Response {
    const r = this.#reused;
    if (r === undefined) return newResponse(status);
    r.status = status;
    r.opaque = -1;
    r.value = undefined;
    r.borrowed = false;
    r.flags = 0;
    r.cas = undefined;
    r.ttl = undefined;
    r.key = undefined;
    r.lease = 0;
    r.message = "";
    r.stats = undefined;
    return r;
  }

  /**
   * Decodes a value as UTF-8 text. For the value of the reply `next()` just returned by a
   * decoder made with `copyValues: false` (before the next `feed()` or `next()`), a value of up
   * to 4 KiB is sliced from one decode of the bytes received from it on, kept while they stay
   * put: when those bytes are all ASCII, every later value among them costs a string slice
   * instead of a decode of its own. Any other value is decoded on its own. The text is the same
   * either way.
   *
   * @param value The value of a reply.
   * @returns The value as text (invalid UTF-8 becomes U+FFFD).
   *
   * @example
   * ```ts
   * import { ResponseDecoder } from "@mica/memcached/protocol";
   *
   * const d = new ResponseDecoder({ copyValues: false });
   * d.feed(new TextEncoder().encode("VA 2 f0\r\nhi\r\nVA 3 f0\r\nyou\r\n"));
   * const texts = [];
   * for (let r = d.next(); r !== undefined; r = d.next()) texts.push(d.valueText(r.value!));
   * console.log(texts); // ["hi", "you"]
   * ```
   */
  valueText(value: Uint8Array): string {
    return this.#rx.valueText(value);
  }

  /**
   * Bytes held for replies not yet returned: the unparsed receive buffer plus the part of a
   * streaming value received so far (the header line of that value is already parsed).
   */
  get buffered(): number {
    return this.#rx.held;
  }

  /**
   * Adds received bytes. The decoder copies what it keeps, so the caller may reuse `chunk`.
   *
   * @param chunk Bytes from the server, in order.
   */
  feed(chunk: Uint8Array): void {
    this.#rx.feed(chunk);
  }

  /**
   * Returns the next complete response, or `undefined` when more bytes are needed.
   *
   * @returns A response, or undefined.
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the bytes are not a valid reply. The decoder
   * is then unusable: every later call throws the same error.
   */
  next(): Response | undefined {
    if (this.#failed) throw this.#failed;
    try {
      return this.#next();
    } catch (error) {
      throw (this.#failed = failure(error));
    }
  }

  #next(): Response | undefined {
    // Kept in each decoder (not shared with a callback) so that #line stays a direct call.
    const rx = this.#rx;
    for (;;) {
      if (this.#pending !== undefined) return this.#finishValue();
      const from = rx.start;
      const buf = rx.buf;
      if (
        buf[from] === 86 && buf[from + 1] === 65 && buf[from + 2] === 76 && rx.scan === from &&
        this.#stats === undefined
      ) {
        const r = this.#plainValue(rx, buf, from);
        if (r !== null) {
          if (r !== undefined) return r;
          continue; // its value is still arriving
        }
      }
      const to = rx.nextLine(this.#maxLine);
      if (to < 0) return undefined;
      const r = this.#line(rx.buf, from, to);
      if (r !== undefined) return r;
    }
  }

  /**
   * A `VALUE <key> <flags> <bytes>` line (what a `get` answers per hit) read in the one pass
   * that finds its end, instead of being framed by `nextLine` and then parsed: a getMany's
   * replies are mostly such lines. Returns the reply (undefined when its value is still
   * arriving), or null, having consumed nothing, for any other line, one with a CAS token, one
   * not all here yet or anything unusual, which the general path then reads (and rejects when it
   * is malformed). Bytes it looked at hold no line end, so the general path's search for one
   * resumes after them.
   */
  #plainValue(rx: ReceiveBuffer, buf: Uint8Array, from: number): Response | undefined | null {
    // The first bytes are checked only where they were received (past `end` lie stale ones).
    if (
      rx.end - from < 8 || buf[from + 3] !== 85 || buf[from + 4] !== 69 || buf[from + 5] !== SP
    ) return null;
    // The line's CR must come before `limit`: its LF is then here, and the line is within the cap.
    const limit = Math.min(rx.end - 1, from + this.#maxLine - 1);
    const keyFrom = from + 6;
    let i = keyFrom;
    while (i < limit && buf[i]! > SP) i++;
    const keyEnd = i;
    let flags = 0;
    let size = 0;
    if (i > keyFrom && i < limit && buf[i] === SP) {
      const flagsFrom = ++i;
      for (let d = buf[i]! - 48; d >= 0 && d <= 9 && i < limit; d = buf[++i]! - 48) {
        flags = flags * 10 + d;
      }
      if (i > flagsFrom && i - flagsFrom <= 10 && flags <= MAX_FLAGS && buf[i] === SP) {
        const sizeFrom = ++i;
        for (let d = buf[i]! - 48; d >= 0 && d <= 9 && i < limit; d = buf[++i]! - 48) {
          size = size * 10 + d;
        }
        if (
          i > sizeFrom && i - sizeFrom <= 15 && i < limit && buf[i] === CR && buf[i + 1] === LF &&
          size <= this.#maxValue
        ) {
          rx.start = i + 2;
          rx.scan = i + 2;
          const r = this.#response("VALUE");
          r.key = size <= TEXT_SLICE_MAX
            ? rx.latin1At(keyFrom, keyEnd)
            : latin1(buf, keyFrom, keyEnd);
          r.flags = flags;
          if (rx.frameValue(r, size, this.#copy)) return r;
          this.#pending = r; // #next() completes it with #finishValue()
          return undefined;
        }
      }
    }
    rx.scan = i; // no line end in buf[from, i)
    return null;
  }

  /** Parses the line buf[from, to) (CRLF excluded). Returns undefined for STAT lines. */
  #line(buf: Uint8Array, from: number, to: number): Response | undefined {
    const stat = statStart(buf, from, to);
    if (this.#stats !== undefined && stat < 0) {
      if (to - from === 3 && startsWith(buf, from, to, "END")) {
        const r = this.#response("STATS");
        r.stats = this.#stats;
        this.#stats = undefined;
        return r;
      }
      throw protocolError(`expected STAT, ITEM, PREFIX or END, got ${excerpt(buf, from, to)}`);
    }
    const c0 = buf[from];
    const c1 = buf[from + 1];
    const two = to - from === 2 || buf[from + 2] === SP;
    if (two) {
      let status: ResponseStatus | undefined;
      if (c0 === 86 && c1 === 65) status = "VA";
      else if (c0 === 72 && c1 === 68) status = "HD";
      else if (c0 === 69 && c1 === 78) status = "EN";
      else if (c0 === 78 && c1 === 70) status = "NF";
      else if (c0 === 78 && c1 === 83) status = "NS";
      else if (c0 === 69 && c1 === 88) status = "EX";
      else if (c0 === 77 && c1 === 78) status = "MN";
      else if (c0 === 79 && c1 === 75) status = "OK";
      if (status !== undefined) return this.#meta(status, buf, from + 2, to);
    }
    // `VALUE `, byte by byte: the hot line of a text get's replies (a shorter line fails at its
    // CR, so no byte past the line is compared).
    if (
      c0 === 86 && c1 === 65 && buf[from + 2] === 76 && buf[from + 3] === 85 &&
      buf[from + 4] === 69 && buf[from + 5] === SP
    ) return this.#value(buf, from + 6, to);
    if (stat >= 0) {
      addStat(this.#stats ??= new Map(), buf, stat, to);
      return undefined;
    }
    // The end of a text `get`'s replies, or all that `stats` answers for an empty group.
    if (to - from === 3 && startsWith(buf, from, to, "END")) return this.#response("END");
    const word = (prefix: string, status: ResponseStatus): Response | undefined => {
      if (!startsWith(buf, from, to, prefix)) return undefined;
      const rest = from + prefix.length;
      if (rest < to && buf[rest] !== SP) return undefined;
      const r = this.#response(status);
      r.message = rest < to ? latin1(buf, rest + 1, to) : "";
      return r;
    };
    const r = word("VERSION", "VERSION") ?? word("CLIENT_ERROR", "CLIENT_ERROR") ??
      word("SERVER_ERROR", "SERVER_ERROR") ?? word("ERROR", "ERROR") ?? word("RESET", "RESET");
    if (r !== undefined) return r;
    throw protocolError(`unknown reply ${excerpt(buf, from, to)}`);
  }

  /** Parses a meta reply's size (for VA) and flag tokens in buf[from, to). */
  #meta(status: ResponseStatus, buf: Uint8Array, from: number, to: number): Response | undefined {
    const r = this.#response(status);
    let i = from;
    let size = -1;
    if (status === "VA") {
      if (i >= to || buf[i] !== SP) throw protocolError("VA without a size");
      i++;
      let j = i;
      while (j < to && buf[j] !== SP) j++;
      size = parseUint(buf, i, j);
      if (size < 0) throw protocolError(`VA with a bad size ${excerpt(buf, i, j)}`);
      if (size > this.#maxValue) {
        throw protocolError(`a value of ${size} bytes is over the ${this.#maxValue}-byte limit`);
      }
      i = j;
    }
    while (i < to) {
      if (buf[i] !== SP) throw protocolError("malformed flags in a meta reply");
      i++;
      if (i >= to) break;
      let j = i;
      while (j < to && buf[j] !== SP) j++;
      const flag = buf[i];
      switch (flag) {
        case 79: { // O
          const n = parseUint(buf, i + 1, j);
          if (n < 0) throw protocolError("malformed opaque token");
          r.opaque = n;
          break;
        }
        case 102: { // f
          const n = parseUint(buf, i + 1, j);
          if (n < 0 || n > 0xffff_ffff) throw protocolError("malformed client flags");
          r.flags = n;
          break;
        }
        case 99: { // c
          const n = parseU64(buf, i + 1, j);
          if (n === undefined) throw protocolError("malformed CAS token");
          r.cas = n;
          break;
        }
        case 116: { // t
          if (j - i === 3 && buf[i + 1] === 45 && buf[i + 2] === 49) r.ttl = -1;
          else {
            const n = parseUint(buf, i + 1, j);
            if (n < 0) throw protocolError("malformed TTL");
            r.ttl = n;
          }
          break;
        }
        case 107: // k
          r.key = latin1(buf, i + 1, j);
          break;
        case 87: // W
          r.lease |= LEASE_WIN;
          break;
        case 88: // X
          r.lease |= LEASE_STALE;
          break;
        case 90: // Z
          r.lease |= LEASE_TAKEN;
          break;
        default: // other flags (b, s, h, l, ...) carry nothing we act on
          break;
      }
      i = j;
    }
    if (status !== "VA") return r;
    if (this.#rx.frameValue(r, size, this.#copy)) return r;
    this.#pending = r; // still arriving: #next() completes it with #finishValue()
    return undefined;
  }

  /** Parses a `VALUE` line's `<key> <flags> <bytes> [<cas>]` in buf[from, to), then frames the data. */
  #value(buf: Uint8Array, from: number, to: number): Response | undefined {
    const line = this.#valueLine;
    parseValueLine(buf, from, to, this.#maxValue, line);
    const r = this.#response("VALUE");
    setValueFields(r, this.#rx, buf, from, line);
    if (this.#rx.frameValue(r, line.size, this.#copy)) return r;
    this.#pending = r; // still arriving: #next() completes it with #finishValue()
    return undefined;
  }

  /** Completes a pending VA or VALUE once its value and CRLF are here. */
  #finishValue(): Response | undefined {
    if (!this.#rx.endValue()) return undefined;
    const r = this.#pending!;
    this.#pending = undefined;
    return r;
  }
}
