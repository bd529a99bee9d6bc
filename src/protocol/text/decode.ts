/**
 * The incremental reply decoder of memcached's classic text protocol,
 * {@linkcode TextResponseDecoder}: replies to the commands of `./encode.ts` and to the plain
 * commands (`version`, `flush_all`, `stats`, `verbosity`).
 *
 * It gives the same guarantees as the meta protocol's `ResponseDecoder`: bytes already searched
 * for a line end are never searched again, values are framed by their announced length (never
 * by a CRLF inside them) and stream into their own buffer, and every size is capped, so a
 * misbehaving server causes a `PROTOCOL_ERROR` rather than unbounded growth.
 *
 * @module
 */

import type { MemcachedError } from "../../errors.ts";
import {
  addStat,
  type DecoderOptions,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_VALUE_SIZE,
  excerpt,
  failure,
  latin1,
  limit,
  lineBufferSize,
  parseU64,
  parseValueLine,
  protocolError,
  ReceiveBuffer,
  setValueFields,
  SP,
  startsWith,
  statStart,
  ValueLine,
} from "../_decode.ts";
import type { TextResponse, TextResponseStatus } from "./types.ts";

function newResponse(status: TextResponseStatus): TextResponse {
  return {
    status,
    key: undefined,
    flags: 0,
    cas: undefined,
    value: undefined,
    borrowed: false,
    number: undefined,
    message: "",
    stats: undefined,
  };
}

/** Whether buf[from, to) is exactly `word`. */
function isWord(buf: Uint8Array, from: number, to: number, word: string): boolean {
  if (to - from !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[from + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Turns a byte stream from a memcached server speaking the classic text protocol into
 * {@linkcode TextResponse}s: one per `VALUE` item, one for the `END` after them, one per
 * storage, delete, touch or arithmetic reply, and one `STATS` reply per whole `STAT ... END`
 * block.
 *
 * @example Decoding a `gets` reply split across chunks
 * ```ts
 * import { TextResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new TextResponseDecoder();
 * const bytes = new TextEncoder().encode("VALUE foo 5 2 99\r\nhi\r\nEND\r\n");
 * d.feed(bytes.subarray(0, 9));
 * console.log(d.next()); // undefined: more bytes are needed
 * d.feed(bytes.subarray(9));
 * const r = d.next()!;
 * console.log(r.status, r.key, r.flags, r.cas, new TextDecoder().decode(r.value)); // VALUE foo 5 99n hi
 * console.log(d.next()?.status); // END
 * ```
 *
 * @example Decoding an `incr` result
 * ```ts
 * import { TextResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new TextResponseDecoder();
 * d.feed(new TextEncoder().encode("18446744073709551615\r\n"));
 * console.log(d.next()?.number); // 18446744073709551615n
 * ```
 */
export class TextResponseDecoder {
  readonly #rx: ReceiveBuffer;
  #maxLine: number;
  #maxValue: number;
  #copy: boolean;
  #reused: TextResponse | undefined = undefined;
  /** A `VALUE` header whose data (or the CRLF after it) is still arriving. */
  #pending: TextResponse | undefined = undefined;
  /** Statistics being collected until `END`. */
  #stats: Map<string, string> | undefined = undefined;
  /** The header of the last `VALUE` line, reused. */
  readonly #valueLine = new ValueLine();
  #failed: MemcachedError | undefined = undefined;

  /**
   * Creates a decoder with an empty receive buffer.
   *
   * @param options Line and value size limits, and whether to copy values (as for
   * `ResponseDecoder`).
   * @throws {MemcachedError} `INVALID_ARGUMENT` when a limit is not a positive integer.
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
  #response(status: TextResponseStatus): TextResponse {
    const r = this.#reused;
    if (r === undefined) return newResponse(status);
    r.status = status;
    r.key = undefined;
    r.flags = 0;
    r.cas = undefined;
    r.value = undefined;
    r.borrowed = false;
    r.number = undefined;
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
   * import { TextResponseDecoder } from "@mica/memcached/protocol";
   *
   * const d = new TextResponseDecoder({ copyValues: false });
   * d.feed(new TextEncoder().encode("VALUE a 0 2\r\nhi\r\nVALUE b 0 3\r\nyou\r\nEND\r\n"));
   * const texts = [];
   * for (let r = d.next(); r !== undefined; r = d.next()) {
   *   if (r.status === "VALUE") texts.push(d.valueText(r.value!));
   * }
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
  next(): TextResponse | undefined {
    if (this.#failed) throw this.#failed;
    try {
      return this.#next();
    } catch (error) {
      throw (this.#failed = failure(error));
    }
  }

  #next(): TextResponse | undefined {
    // Kept in each decoder (not shared with a callback) so that #line stays a direct call.
    const rx = this.#rx;
    for (;;) {
      if (this.#pending !== undefined) return this.#finishValue();
      const from = rx.start;
      const to = rx.nextLine(this.#maxLine);
      if (to < 0) return undefined;
      const r = this.#line(rx.buf, from, to);
      if (r !== undefined) return r;
    }
  }

  /** Parses the line buf[from, to) (CRLF excluded). Returns undefined for STAT lines. */
  #line(buf: Uint8Array, from: number, to: number): TextResponse | undefined {
    const c0 = buf[from];
    if (this.#stats !== undefined) {
      const stat = statStart(buf, from, to);
      if (stat >= 0) return this.#stat(buf, stat, to);
      if (isWord(buf, from, to, "END")) {
        const r = this.#response("STATS");
        r.stats = this.#stats;
        this.#stats = undefined;
        return r;
      }
      throw protocolError(`expected STAT, ITEM, PREFIX or END, got ${excerpt(buf, from, to)}`);
    }
    switch (c0) {
      case 86: // V
        if (startsWith(buf, from, to, "VALUE ")) return this.#valueHeader(buf, from + 6, to);
        if (startsWith(buf, from, to, "VERSION")) return this.#message("VERSION", buf, from, to);
        break;
      case 69: // E
        if (isWord(buf, from, to, "END")) return this.#response("END");
        if (isWord(buf, from, to, "EXISTS")) return this.#response("EXISTS");
        if (startsWith(buf, from, to, "ERROR")) return this.#message("ERROR", buf, from, to);
        break;
      case 83: // S
        if (isWord(buf, from, to, "STORED")) return this.#response("STORED");
        if (startsWith(buf, from, to, "STAT ")) {
          this.#stats = new Map();
          return this.#stat(buf, from + 5, to);
        }
        if (startsWith(buf, from, to, "SERVER_ERROR")) {
          return this.#message("SERVER_ERROR", buf, from, to);
        }
        break;
      case 73: // I: `ITEM` lines of `stats cachedump`
      case 80: // P: `PREFIX` lines of `stats detail dump`
        if (statStart(buf, from, to) >= 0) {
          this.#stats = new Map();
          return this.#stat(buf, statStart(buf, from, to), to);
        }
        break;
      case 78: // N
        if (isWord(buf, from, to, "NOT_FOUND")) return this.#response("NOT_FOUND");
        if (isWord(buf, from, to, "NOT_STORED")) return this.#response("NOT_STORED");
        break;
      case 68: // D
        if (isWord(buf, from, to, "DELETED")) return this.#response("DELETED");
        break;
      case 84: // T
        if (isWord(buf, from, to, "TOUCHED")) return this.#response("TOUCHED");
        break;
      case 79: // O
        if (isWord(buf, from, to, "OK")) return this.#response("OK");
        break;
      case 82: // R: `stats reset`
        if (isWord(buf, from, to, "RESET")) return this.#response("RESET");
        break;
      case 67: // C
        if (startsWith(buf, from, to, "CLIENT_ERROR")) {
          return this.#message("CLIENT_ERROR", buf, from, to);
        }
        break;
      default:
        if (c0 !== undefined && c0 >= 48 && c0 <= 57) return this.#number(buf, from, to);
    }
    throw protocolError(`unknown reply ${excerpt(buf, from, to)}`);
  }

  /** A reply word optionally followed by a space and a message (errors and VERSION). */
  #message(
    status: TextResponseStatus,
    buf: Uint8Array,
    from: number,
    to: number,
  ): TextResponse {
    const rest = from + status.length;
    if (rest < to && buf[rest] !== SP) {
      throw protocolError(`unknown reply ${excerpt(buf, from, to)}`);
    }
    const r = this.#response(status);
    r.message = rest < to ? latin1(buf, rest + 1, to) : "";
    return r;
  }

  /** Adds the statistic `<name> <value>` in buf[from, to); returns undefined (no reply yet). */
  #stat(buf: Uint8Array, from: number, to: number): undefined {
    addStat(this.#stats!, buf, from, to);
    return undefined;
  }

  /**
   * An `incr`/`decr` result: 1 to 20 digits, at most 2^64-1. memcached may pad the number with
   * spaces (protocol.txt, "Increment/Decrement"), so trailing spaces are allowed.
   */
  #number(buf: Uint8Array, from: number, to: number): TextResponse {
    let last = to;
    while (last > from && buf[last - 1] === SP) last--;
    const n = parseU64(buf, from, last);
    if (n === undefined) throw protocolError(`malformed number ${excerpt(buf, from, to)}`);
    const r = this.#response("NUMBER");
    r.number = n;
    return r;
  }

  /** Parses `<key> <flags> <bytes> [<cas>]` in buf[from, to), then frames the data. */
  #valueHeader(buf: Uint8Array, from: number, to: number): TextResponse | undefined {
    const line = this.#valueLine;
    parseValueLine(buf, from, to, this.#maxValue, line);
    const r = this.#response("VALUE");
    setValueFields(r, this.#rx, buf, from, line);
    if (this.#rx.frameValue(r, line.size, this.#copy)) return r;
    this.#pending = r; // still arriving: #next() completes it with #finishValue()
    return undefined;
  }

  /** Completes a pending VALUE once its data and CRLF are here. */
  #finishValue(): TextResponse | undefined {
    if (!this.#rx.endValue()) return undefined;
    const r = this.#pending!;
    this.#pending = undefined;
    return r;
  }
}
