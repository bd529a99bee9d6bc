/**
 * The incremental reply decoder of memcached's binary protocol: {@linkcode BinaryResponseDecoder}
 * turns received bytes into one {@linkcode BinaryResponse} per packet.
 *
 * Guarantees: a header is read once, with direct byte reads; a body that arrives whole is copied
 * at most once out of the receive buffer (with `copyValues: false`, only a small value is copied,
 * into a reused scratch view; a larger one is a view of the buffer); a value still arriving when
 * its header, extras and key are in is streamed straight into its own buffer; a body over the
 * size cap is a protocol error rather than unbounded growth.
 *
 * @module
 */

import type { MemcachedError } from "../../errors.ts";
import {
  type DecoderOptions,
  DEFAULT_MAX_VALUE_SIZE,
  failure,
  LEND_MAX,
  limit,
  protocolError,
  ReceiveBuffer,
} from "../_decode.ts";
import { MAX_KEY_LENGTH } from "../keys.ts";
import type { BinaryResponse } from "./types.ts";

/** Bytes in every packet's header. */
const HEADER = 24;
const RESPONSE_MAGIC = 0x81;
/** Decoded bodies may exceed `maxValueSize` by this much: a 250-byte key and extras. */
const BODY_OVERHEAD = MAX_KEY_LENGTH + 64;
const utf8Text = new TextDecoder();

/**
 * Reads the new counter value of an `Increment` or `Decrement` reply: its value, 8 bytes
 * big-endian.
 *
 * @param r A successful increment or decrement reply.
 * @returns The counter, 0..2^64-1.
 * @throws {MemcachedError} `PROTOCOL_ERROR` when the value is not 8 bytes.
 *
 * @example
 * ```ts
 * import { type BinaryResponse, counterValue } from "@mica/memcached/protocol";
 *
 * const r: BinaryResponse = {
 *   opcode: 5, status: 0, opaque: 0, cas: 5n, flags: 0, key: undefined,
 *   value: new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0]), borrowed: false,
 * };
 * console.log(counterValue(r)); // 256n
 * ```
 */
export function counterValue(r: BinaryResponse): bigint {
  const v = r.value;
  if (v === undefined || v.length !== 8) {
    throw protocolError(
      `a counter reply holds ${v === undefined ? 0 : v.length} bytes instead of 8`,
    );
  }
  const hi = ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
  const lo = ((v[4]! << 24) | (v[5]! << 16) | (v[6]! << 8) | v[7]!) >>> 0;
  return u64(hi, lo);
}

/** The unsigned 64-bit integer `hi * 2^32 + lo`, with one BigInt call while it is exact. */
function u64(hi: number, lo: number): bigint {
  if (hi === 0) return lo === 0 ? 0n : BigInt(lo);
  if (hi < 0x20_0000) return BigInt(hi * 4294967296 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * 1 for the opcodes whose successful replies carry 4 bytes of flags and a value: Get, GetQ,
 * GetK, GetKQ, GAT, GATQ, GATK, GATKQ.
 */
const GET_FAMILY = new Uint8Array(256);
const GET_OPCODES = [0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24] as const;
for (const op of GET_OPCODES) GET_FAMILY[op] = 1;

function newResponse(): BinaryResponse {
  return {
    opcode: 0,
    status: 0,
    opaque: 0,
    cas: 0n,
    flags: 0,
    key: undefined,
    value: undefined,
    borrowed: false,
  };
}

/**
 * Turns a byte stream from a memcached server speaking the binary protocol into
 * {@linkcode BinaryResponse}s, one per packet. A `Stat` reply is a sequence of packets ended by
 * one without a key; the caller collects them.
 *
 * Options are those of `ResponseDecoder`: `maxValueSize` (default 1 MiB) caps a packet's body
 * at `maxValueSize` + 314 bytes (room for a 250-byte key and extras); `copyValues` (default
 * true) has the same meaning; `maxLineLength` does not apply.
 *
 * @example Decoding the get reply of the protocol specification, split across chunks
 * ```ts
 * import { BinaryResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new BinaryResponseDecoder();
 * const bytes = new Uint8Array([
 *   0x81, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
 *   0xde, 0xad, 0xbe, 0xef, 87, 111, 114, 108, 100,
 * ]);
 * d.feed(bytes.subarray(0, 20));
 * console.log(d.next()); // undefined: more bytes are needed
 * d.feed(bytes.subarray(20));
 * const r = d.next()!;
 * console.log(r.status, r.cas, r.flags.toString(16)); // 0 1n deadbeef
 * console.log(new TextDecoder().decode(r.value)); // World
 * ```
 */
export class BinaryResponseDecoder {
  readonly #rx: ReceiveBuffer;
  #maxBody: number;
  #copy: boolean;
  #reused: BinaryResponse | undefined = undefined;
  /** Whether the header at the front of the current packet has been read into the fields below. */
  #haveHeader = false;
  #opcode = 0;
  #status = 0;
  #keyLen = 0;
  #extLen = 0;
  #bodyLen = 0;
  #opaque = 0;
  #cas = 0n;
  /** A reply whose value is still arriving, streamed into the receive buffer's `value`. */
  #pending: BinaryResponse | undefined = undefined;
  /**
   * Bytes of the unfinished packet taken out of the receive buffer other than a streamed value:
   * its header, and the extras and key of a value that is streaming in.
   */
  #held = 0;
  #failed: MemcachedError | undefined = undefined;

  /**
   * Creates a decoder with an empty receive buffer.
   *
   * @param options `maxValueSize` and `copyValues`, as for `ResponseDecoder`.
   * @throws {MemcachedError} `INVALID_ARGUMENT` when `maxValueSize` is not a positive integer.
   */
  constructor(options: DecoderOptions = {}) {
    const maxValue = limit("maxValueSize", options.maxValueSize, DEFAULT_MAX_VALUE_SIZE);
    this.#maxBody = maxValue + BODY_OVERHEAD;
    this.#copy = options.copyValues ?? true;
    if (!this.#copy) this.#reused = newResponse();
    this.#rx = new ReceiveBuffer(16 * 1024, !this.#copy);
  }

  /**
   * Decodes a value as UTF-8 text. (Binary packets always hold non-ASCII header bytes, so,
   * unlike the line protocols' decoders, this one never slices values from a decoded chunk.)
   *
   * @param value The value of a reply.
   * @returns The value as text (invalid UTF-8 becomes U+FFFD).
   *
   * @example
   * ```ts
   * import { BinaryResponseDecoder } from "@mica/memcached/protocol";
   *
   * const d = new BinaryResponseDecoder();
   * console.log(d.valueText(new TextEncoder().encode("hi"))); // "hi"
   * ```
   */
  valueText(value: Uint8Array): string {
    return utf8Text.decode(value);
  }

  /**
   * Bytes fed but not yet returned in a response: the unparsed receive buffer plus the part of
   * the current packet already taken out of it (its header, a value still streaming in).
   */
  get buffered(): number {
    return this.#rx.held + this.#held;
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
   * Returns the next complete reply packet, or `undefined` when more bytes are needed.
   *
   * @returns A response, or undefined.
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the bytes are not a valid reply (wrong magic
   * byte, non-zero data type, extras and key longer than the body, a body over the cap, a
   * successful get reply without its 4 bytes of flags). The decoder is then unusable: every
   * later call throws the same error.
   */
  next(): BinaryResponse | undefined {
    if (this.#failed) throw this.#failed;
    try {
      return this.#next();
    } catch (error) {
      throw (this.#failed = failure(error));
    }
  }

  #response(): BinaryResponse {
    const r = this.#reused ?? newResponse();
    r.opcode = this.#opcode;
    r.status = this.#status;
    r.opaque = this.#opaque;
    r.cas = this.#cas;
    r.flags = 0;
    r.key = undefined;
    r.value = undefined;
    r.borrowed = false;
    return r;
  }

  #next(): BinaryResponse | undefined {
    if (this.#pending !== undefined) return this.#finishValue();
    const rx = this.#rx;
    const buf = rx.buf;
    let p = rx.start;
    if (!this.#haveHeader) {
      const avail = rx.end - p;
      if (avail < HEADER) {
        // Fail on a wrong magic byte at once (a text-protocol reply need not fill a header).
        if (avail > 0 && buf[p] !== RESPONSE_MAGIC) this.#readHeader(buf, p);
        return undefined;
      }
      this.#readHeader(buf, p);
      p += HEADER;
      rx.start = p;
      this.#held = HEADER;
    }
    const bodyLen = this.#bodyLen;
    const extLen = this.#extLen;
    const keyLen = this.#keyLen;
    const avail = rx.end - p;
    const get = GET_FAMILY[this.#opcode] === 1 && this.#status === 0;
    if (avail >= bodyLen) {
      // The whole body is here: views (or copies) of the receive buffer.
      const r = this.#response();
      if (get) {
        r.flags = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      }
      const k = p + extLen;
      const v = k + keyLen;
      const end = p + bodyLen;
      if (this.#copy) {
        if (keyLen > 0) r.key = buf.slice(k, v);
        if (end > v || get) r.value = buf.slice(v, end);
      } else {
        if (keyLen > 0) r.key = buf.subarray(k, v);
        if (end > v || get) {
          r.value = end - v <= LEND_MAX ? rx.lend(v, end - v) : buf.subarray(v, end);
        }
        r.borrowed = r.key !== undefined || r.value !== undefined;
      }
      rx.start = end;
      this.#haveHeader = false;
      this.#held = 0;
      return r;
    }
    if (avail < extLen + keyLen) return undefined;
    // Extras and key are here but the value is still arriving: stream it into its own buffer.
    const r = this.#response();
    if (get) {
      r.flags = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
    }
    const k = p + extLen;
    const v = k + keyLen;
    if (keyLen > 0) r.key = buf.slice(k, v);
    rx.start = v;
    r.value = rx.stream(bodyLen - extLen - keyLen);
    this.#held += extLen + keyLen;
    this.#pending = r;
    return undefined;
  }

  /** Reads and checks the header at buf[p, p + 24). */
  #readHeader(buf: Uint8Array, p: number): void {
    if (buf[p] !== RESPONSE_MAGIC) {
      throw protocolError(
        `magic byte 0x${buf[p]!.toString(16).padStart(2, "0")} is not 0x81 (a response)`,
      );
    }
    if (buf[p + 5] !== 0) throw protocolError(`unknown data type ${buf[p + 5]}`);
    const opcode = buf[p + 1]!;
    const keyLen = (buf[p + 2]! << 8) | buf[p + 3]!;
    const extLen = buf[p + 4]!;
    const status = (buf[p + 6]! << 8) | buf[p + 7]!;
    const bodyLen = buf[p + 8]! * 0x100_0000 + ((buf[p + 9]! << 16) | (buf[p + 10]! << 8) |
      buf[p + 11]!);
    if (bodyLen > this.#maxBody) {
      throw protocolError(`a body of ${bodyLen} bytes is over the ${this.#maxBody}-byte limit`);
    }
    if (extLen + keyLen > bodyLen) {
      throw protocolError(
        `extras (${extLen} bytes) and key (${keyLen} bytes) exceed the ${bodyLen}-byte body`,
      );
    }
    if (status === 0 && GET_FAMILY[opcode] === 1 && extLen !== 4) {
      throw protocolError(`a get reply has ${extLen} bytes of extras instead of 4 bytes of flags`);
    }
    this.#opcode = opcode;
    this.#status = status;
    this.#keyLen = keyLen;
    this.#extLen = extLen;
    this.#bodyLen = bodyLen;
    this.#opaque = ((buf[p + 12]! << 24) | (buf[p + 13]! << 16) | (buf[p + 14]! << 8) |
      buf[p + 15]!) >>> 0;
    this.#cas = u64(
      ((buf[p + 16]! << 24) | (buf[p + 17]! << 16) | (buf[p + 18]! << 8) | buf[p + 19]!) >>> 0,
      ((buf[p + 20]! << 24) | (buf[p + 21]! << 16) | (buf[p + 22]! << 8) | buf[p + 23]!) >>> 0,
    );
    this.#haveHeader = true;
  }

  /** Completes a streamed reply once its whole value is here. */
  #finishValue(): BinaryResponse | undefined {
    if (!this.#rx.endStream()) return undefined;
    const r = this.#pending!;
    this.#pending = undefined;
    this.#haveHeader = false;
    this.#held = 0;
    return r;
  }
}
