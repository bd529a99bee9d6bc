/**
 * Request encoders and an incremental reply decoder for memcached's binary protocol: every
 * packet is a 24-byte header (magic, opcode, key length, extras length, data type,
 * status/vbucket, total body length, opaque, CAS) followed by extras, key and value.
 *
 * Each encoder writes one complete request into a {@linkcode ByteWriter}. Keys come from
 * `encodeKey`: a base64 wire key is sent as the bytes it encodes (binary keys are raw bytes, so
 * the server stores the same key as the meta protocol's `b` flag does). Every argument is
 * validated before the first byte is written, so a rejected call leaves the writer untouched.
 *
 * {@linkcode BinaryResponseDecoder} turns received bytes into one {@linkcode BinaryResponse}
 * per packet. Guarantees: a header is read once, with direct byte reads; a body that arrives
 * whole is copied at most once out of the receive buffer (with `copyValues: false`, only a
 * small value is copied, into a reused scratch view; a larger one is a view of the buffer);
 * a value still arriving when its header, extras and key are in is streamed straight into its
 * own buffer; a body over the size cap is a protocol error rather than unbounded growth.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import {
  DEFAULT_MAX_VALUE_SIZE,
  failure,
  LEND_MAX,
  limit,
  protocolError,
  ReceiveBuffer,
} from "./_decode.ts";
import { argError, checkU32, checkU64, MAX_U32, STATS_GROUP } from "./_encode.ts";
import type { DecoderOptions } from "./decoder.ts";
import { MAX_KEY_LENGTH, type WireKey } from "./keys.ts";
import { type ByteWriter, utf8Length } from "./writer.ts";

/**
 * The binary protocol's command opcodes. The `Q` ("quiet") variants suppress the reply on
 * success (for gets: on a miss).
 *
 * @example
 * ```ts
 * import { Opcode } from "@mica/memcached/protocol";
 *
 * console.log(Opcode.GetKQ); // 13
 * ```
 */
export const Opcode = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Replace: 0x03,
  Delete: 0x04,
  Increment: 0x05,
  Decrement: 0x06,
  Quit: 0x07,
  Flush: 0x08,
  GetQ: 0x09,
  Noop: 0x0a,
  Version: 0x0b,
  GetK: 0x0c,
  GetKQ: 0x0d,
  Append: 0x0e,
  Prepend: 0x0f,
  Stat: 0x10,
  SetQ: 0x11,
  AddQ: 0x12,
  ReplaceQ: 0x13,
  DeleteQ: 0x14,
  IncrementQ: 0x15,
  DecrementQ: 0x16,
  QuitQ: 0x17,
  FlushQ: 0x18,
  AppendQ: 0x19,
  PrependQ: 0x1a,
  Verbosity: 0x1b,
  Touch: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
  SaslStep: 0x22,
  GATK: 0x23,
  GATKQ: 0x24,
} as const;

/**
 * The status codes of binary replies ({@linkcode BinaryResponse.status}).
 *
 * @example
 * ```ts
 * import { BinaryStatus } from "@mica/memcached/protocol";
 *
 * console.log(BinaryStatus.KeyExists); // 2
 * ```
 */
export const BinaryStatus = {
  NoError: 0x00,
  KeyNotFound: 0x01,
  KeyExists: 0x02,
  ValueTooLarge: 0x03,
  InvalidArguments: 0x04,
  ItemNotStored: 0x05,
  NonNumeric: 0x06,
  VbucketNotHere: 0x07,
  AuthError: 0x20,
  AuthContinue: 0x21,
  UnknownCommand: 0x81,
  OutOfMemory: 0x82,
  NotSupported: 0x83,
  InternalError: 0x84,
  Busy: 0x85,
  TemporaryFailure: 0x86,
} as const;

/**
 * Options of a binary get ({@linkcode encodeBinaryGet}).
 *
 * @example A batch of quiet gets ended by a no-op
 * ```ts
 * import {
 *   type BinaryGetOptions,
 *   ByteWriter,
 *   encodeBinaryGet,
 *   encodeBinaryNoop,
 *   Opcode,
 * } from "@mica/memcached/protocol";
 *
 * const options: BinaryGetOptions = { quiet: true, withKey: true };
 * const w = new ByteWriter();
 * encodeBinaryGet(w, "a", false, options, 1);
 * encodeBinaryGet(w, "b", false, options, 2);
 * encodeBinaryNoop(w, 3); // answered after every hit: the batch is complete
 * const [bytes] = w.take();
 * console.log(bytes?.[1] === Opcode.GetKQ, bytes?.length); // true 74
 * ```
 */
export interface BinaryGetOptions {
  /**
   * Send the quiet variant (`GetQ`, `GetKQ`, `GATQ`, `GATKQ`): the server sends no reply on a
   * miss. End a batch of quiet gets with a no-op to know when it is complete.
   * @default {false}
   */
  quiet?: boolean;
  /**
   * Ask for the key in the reply (`GetK`, `GetKQ`, `GATK`, `GATKQ`).
   * @default {false}
   */
  withKey?: boolean;
  /**
   * Also set the item's expiration time (seconds, or an absolute Unix time), turning the get
   * into a get-and-touch (`GAT` and its variants).
   * @default {undefined}
   */
  touch?: number;
}

/**
 * How {@linkcode encodeBinaryStore} stores: the binary opcodes Set, Add, Replace, Append, Prepend.
 *
 * @example
 * ```ts
 * import {
 *   type BinaryStoreMode,
 *   ByteWriter,
 *   encodeBinaryStore,
 *   Opcode,
 * } from "@mica/memcached/protocol";
 *
 * const mode: BinaryStoreMode = "replace";
 * const w = new ByteWriter();
 * encodeBinaryStore(w, mode, "k", false, "v", {}, 0);
 * console.log(w.take()[0]?.[1] === Opcode.Replace); // true
 * ```
 */
export type BinaryStoreMode = "set" | "add" | "replace" | "append" | "prepend";

/**
 * Options of a binary store ({@linkcode encodeBinaryStore}).
 *
 * @example
 * ```ts
 * import {
 *   type BinaryStoreOptions,
 *   ByteWriter,
 *   encodeBinaryStore,
 *   Opcode,
 * } from "@mica/memcached/protocol";
 *
 * const options: BinaryStoreOptions = { flags: 4, exptime: 60, cas: 7n, quiet: true };
 * const w = new ByteWriter();
 * encodeBinaryStore(w, "set", "k", false, "v", options, 0);
 * const p = w.take()[0]!;
 * // The opcode, then the low bytes of the CAS (header), flags and expiration time (extras).
 * console.log(p[1] === Opcode.SetQ, p[23], p[27], p[31]); // true 7 4 60
 * ```
 */
export interface BinaryStoreOptions {
  /**
   * 32-bit client flags. Not sent by `append` and `prepend`, which keep the item's flags.
   * @default {0}
   */
  flags?: number;
  /**
   * Expiration time: seconds, or an absolute Unix time; 0 means never. Not sent by `append` and
   * `prepend`, which keep the item's expiration time.
   * @default {0}
   */
  exptime?: number;
  /**
   * Store only if the item's CAS value still equals this; 0 means no check.
   * @default {0n}
   */
  cas?: bigint;
  /**
   * Send the quiet variant (`SetQ`, `AddQ`, ...): the server replies only on failure.
   * @default {false}
   */
  quiet?: boolean;
}

/**
 * Options of a binary delete ({@linkcode encodeBinaryDelete}).
 *
 * @example
 * ```ts
 * import {
 *   type BinaryDeleteOptions,
 *   ByteWriter,
 *   encodeBinaryDelete,
 *   Opcode,
 * } from "@mica/memcached/protocol";
 *
 * const options: BinaryDeleteOptions = { cas: 7n, quiet: true };
 * const w = new ByteWriter();
 * encodeBinaryDelete(w, "k", false, options, 0);
 * const [packet] = w.take();
 * console.log(packet?.[1] === Opcode.DeleteQ, packet?.[23]); // true 7 (the CAS, in the header)
 * ```
 */
export interface BinaryDeleteOptions {
  /**
   * Delete only if the item's CAS value still equals this; 0 means no check.
   * @default {0n}
   */
  cas?: bigint;
  /**
   * Send `DeleteQ`: the server replies only on failure.
   * @default {false}
   */
  quiet?: boolean;
}

/**
 * Options of a binary increment or decrement ({@linkcode encodeBinaryArithmetic}).
 *
 * @example
 * ```ts
 * import {
 *   type BinaryArithmeticOptions,
 *   ByteWriter,
 *   encodeBinaryArithmetic,
 * } from "@mica/memcached/protocol";
 *
 * const options: BinaryArithmeticOptions = { initial: 100n, exptime: 3600 };
 * const w = new ByteWriter();
 * encodeBinaryArithmetic(w, "decr", "stock", false, 1n, options, 0);
 * const [packet] = w.take();
 * console.log(packet?.length, packet?.[39]); // 49 100: 24 header + 20 extras + 5 key; initial
 * ```
 */
export interface BinaryArithmeticOptions {
  /**
   * When set, a missing counter is created with this value (0..2^64-1), which is also the
   * reply. Without it a missing counter fails with `KeyNotFound` (the request's expiration
   * field is then 0xffffffff).
   * @default {undefined}
   */
  initial?: bigint;
  /**
   * Expiration time of a counter created from `initial` (seconds, or an absolute Unix time; 0
   * means never). Ignored without `initial`. 0xffffffff is refused: it means "do not create".
   * @default {0}
   */
  exptime?: number;
}

/**
 * One binary reply packet. Fields a packet did not carry have their empty value.
 *
 * `key` is `undefined` when the packet has no key. `value` holds the body after extras and key
 * (a get's value; the error text of an error status; the 8-byte counter of an increment or
 * decrement; a statistic's value; the version text; the SASL mechanism list). It is a
 * `Uint8Array` exactly when the packet carries a value: always for a successful get-family
 * reply (`Get`, `GetQ`, `GetK`, `GetKQ`, `GAT`, `GATQ`, `GATK`, `GATKQ`), even when the
 * stored value is empty (as the meta protocol's `VA 0`), and for any other packet whose body
 * has bytes after extras and key; otherwise it is `undefined`. Tell a hit from a miss by
 * `status`, never by `value`.
 *
 * @example Telling a miss by its status
 * ```ts
 * import {
 *   type BinaryResponse,
 *   BinaryResponseDecoder,
 *   BinaryStatus,
 * } from "@mica/memcached/protocol";
 *
 * const header = new Uint8Array(24);
 * header.set([0x81, 0, 0, 0, 0, 0, 0, BinaryStatus.KeyNotFound, 0, 0, 0, 9]);
 * const d = new BinaryResponseDecoder();
 * d.feed(header);
 * d.feed(new TextEncoder().encode("Not found"));
 * const r: BinaryResponse = d.next()!;
 * const text = new TextDecoder().decode(r.value); // the error text, not a value
 * console.log(r.status === BinaryStatus.KeyNotFound, text); // true Not found
 * ```
 */
export interface BinaryResponse {
  /** The opcode of the request this answers (quiet variants keep their own opcode). */
  opcode: number;
  /** A {@linkcode BinaryStatus} value (unknown values are passed through). */
  status: number;
  /** The request's opaque value, echoed (0..2^32-1). */
  opaque: number;
  /** The item's CAS value; `0n` when the packet carries none. */
  cas: bigint;
  /** The client flags of a get-family reply (its 4 bytes of extras); 0 otherwise. */
  flags: number;
  /** The key, when the packet carries one (`GetK` and `GATK` replies, statistics). */
  key: Uint8Array | undefined;
  /** The body after extras and key; see {@linkcode BinaryResponse} for when it is defined. */
  value: Uint8Array | undefined;
  /**
   * Whether `key` and `value` are views into the decoder's receive buffer (only with
   * `copyValues: false`): they are then valid only until the next `next()` or `feed()`, and a
   * caller that keeps them must copy them.
   */
  borrowed: boolean;
}

const U32_MASK = 0xffff_ffffn;
const HEADER = 24;
const REQUEST_MAGIC = 0x80;
const RESPONSE_MAGIC = 0x81;
/** Decoded bodies may exceed `maxValueSize` by this much: a 250-byte key and extras. */
const BODY_OVERHEAD = MAX_KEY_LENGTH + 64;

function checkCas(cas: bigint): void {
  checkU64("CAS value", cas);
}

function checkDelta(what: string, n: bigint): void {
  checkU64(what, n, "INVALID_DELTA");
}

function checkExptime(n: number): void {
  checkU32("expiration time", n, "INVALID_TTL");
}

function checkOpaque(opaque: number): void {
  checkU32("opaque value", opaque);
}

function keyError(reason: string): MemcachedError {
  return new MemcachedError("INVALID_KEY", `Cannot use key: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// Keys

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** The 6-bit value of each base64 character, -1 for any other character code below 256. */
const B64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;
const NOT_LATIN1 = /[\u0100-\uffff]/;
/** The decoded bytes of the last base64 key checked by {@linkcode keyLength}. */
const KEY_BYTES = new Uint8Array(MAX_KEY_LENGTH);

/**
 * Validates a wire key and returns its length in bytes on the wire. A base64 key is decoded
 * into {@linkcode KEY_BYTES}, which {@linkcode writeKey} then writes (nothing runs in between).
 */
function keyLength(key: WireKey, base64: boolean): number {
  if (typeof key !== "string") throw keyError("the wire key is not a string");
  if (!base64) {
    if (key.length === 0) throw keyError("the key is empty");
    if (key.length > MAX_KEY_LENGTH) {
      throw keyError(`the key is ${key.length} bytes, over the ${MAX_KEY_LENGTH}-byte limit`);
    }
    if (NOT_LATIN1.test(key)) throw keyError("the wire key holds a character above U+00FF");
    return key.length;
  }
  const n = key.length;
  if (n === 0) throw keyError("the key is empty");
  if (n % 4 !== 0 || n > 4 * Math.ceil(MAX_KEY_LENGTH / 3)) {
    throw keyError(`${JSON.stringify(key.slice(0, 64))} is not padded base64 of 1 to 250 bytes`);
  }
  const pad = key.charCodeAt(n - 1) !== 61 ? 0 : key.charCodeAt(n - 2) !== 61 ? 1 : 2;
  const size = (n / 4) * 3 - pad;
  if (size === 0 || size > MAX_KEY_LENGTH) {
    throw keyError(`the base64 key decodes to ${size} bytes; keys must be 1 to 250 bytes`);
  }
  let out = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 === n;
    const a = value64(key, i);
    const b = value64(key, i + 1);
    const c = last && pad === 2 ? 0 : value64(key, i + 2);
    const d = last && pad >= 1 ? 0 : value64(key, i + 3);
    if ((a | b | c | d) < 0) {
      throw keyError(`${JSON.stringify(key.slice(0, 64))} is not valid base64`);
    }
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    KEY_BYTES[out++] = bits >>> 16;
    if (out < size) KEY_BYTES[out++] = (bits >>> 8) & 0xff;
    if (out < size) KEY_BYTES[out++] = bits & 0xff;
  }
  return size;
}

function value64(key: string, i: number): number {
  const c = key.charCodeAt(i);
  return c < 256 ? B64_VALUE[c]! : -1;
}

function writeKey(w: ByteWriter, key: WireKey, base64: boolean, length: number): void {
  if (base64) w.bytes(KEY_BYTES.subarray(0, length));
  else w.ascii(key); // latin1: each character is one byte
}

// ---------------------------------------------------------------------------------------------
// Headers

/** Header and extras (at most 20 bytes) of the request being written. */
const HEAD = new Uint8Array(HEADER + 20);
/** Views of {@linkcode HEAD} for each extras length used, so a write allocates nothing. */
const HEAD_VIEWS: readonly Uint8Array[] = (() => {
  const views: Uint8Array[] = [];
  for (const extLen of [0, 4, 8, 20]) views[extLen] = HEAD.subarray(0, HEADER + extLen);
  return views;
})();

function putU32(at: number, n: number): void {
  HEAD[at] = n >>> 24;
  HEAD[at + 1] = (n >>> 16) & 0xff;
  HEAD[at + 2] = (n >>> 8) & 0xff;
  HEAD[at + 3] = n & 0xff;
}

function putU64(at: number, n: bigint): void {
  if (n <= 0x1f_ffff_ffff_ffffn) {
    const v = Number(n);
    const hi = Math.floor(v / 4294967296);
    putU32(at, hi);
    putU32(at + 4, v - hi * 4294967296);
  } else {
    putU32(at, Number(n >> 32n));
    putU32(at + 4, Number(n & U32_MASK));
  }
}

/** Fills the fixed header fields of a request; the CAS field is zeroed. */
function header(
  opcode: number,
  keyLen: number,
  extLen: number,
  bodyLen: number,
  opaque: number,
): void {
  HEAD[0] = REQUEST_MAGIC;
  HEAD[1] = opcode;
  HEAD[2] = keyLen >>> 8;
  HEAD[3] = keyLen & 0xff;
  HEAD[4] = extLen;
  HEAD[5] = 0; // data type: raw bytes
  HEAD[6] = 0; // vbucket
  HEAD[7] = 0;
  putU32(8, bodyLen);
  putU32(12, opaque);
  for (let i = 16; i < HEADER; i++) HEAD[i] = 0;
}

/** Writes the header (and the extras already in {@linkcode HEAD}). */
function flushHead(w: ByteWriter, extLen: number): void {
  w.bytes(HEAD_VIEWS[extLen]!);
}

// ---------------------------------------------------------------------------------------------
// Encoders

/**
 * Writes a get: `Get`, `GetQ`, `GetK` or `GetKQ`, or with `touch` the get-and-touch `GAT`,
 * `GATQ`, `GATK` or `GATKQ` (4 bytes of extras: the new expiration time).
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text (its decoded bytes are sent).
 * @param options Quiet, key in the reply, touch.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_KEY`, `INVALID_TTL` or `INVALID_ARGUMENT` (opaque), before
 * any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryGet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryGet(w, "Hello", false, {}, 0);
 * const [packet] = w.take();
 * console.log(packet?.length, packet?.[0], packet?.[24]); // 29 128 72
 * ```
 */
export function encodeBinaryGet(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  options: BinaryGetOptions,
  opaque: number,
): void {
  const keyLen = keyLength(key, base64);
  const touch = options.touch;
  if (touch !== undefined) checkExptime(touch);
  checkOpaque(opaque);
  const quiet = options.quiet === true;
  const withKey = options.withKey === true;
  if (touch === undefined) {
    const opcode = withKey
      ? (quiet ? Opcode.GetKQ : Opcode.GetK)
      : quiet
      ? Opcode.GetQ
      : Opcode.Get;
    header(opcode, keyLen, 0, keyLen, opaque);
    flushHead(w, 0);
  } else {
    const opcode = withKey
      ? (quiet ? Opcode.GATKQ : Opcode.GATK)
      : quiet
      ? Opcode.GATQ
      : Opcode.GAT;
    header(opcode, keyLen, 4, 4 + keyLen, opaque);
    putU32(HEADER, touch);
    flushHead(w, 4);
  }
  writeKey(w, key, base64, keyLen);
}

const STORE_OPCODES: Record<BinaryStoreMode, readonly [number, number]> = {
  set: [Opcode.Set, Opcode.SetQ],
  add: [Opcode.Add, Opcode.AddQ],
  replace: [Opcode.Replace, Opcode.ReplaceQ],
  append: [Opcode.Append, Opcode.AppendQ],
  prepend: [Opcode.Prepend, Opcode.PrependQ],
};

/**
 * Writes a store: `Set`, `Add`, `Replace` (8 bytes of extras: flags and expiration time),
 * `Append` or `Prepend` (no extras), or their quiet variants. The data is framed by the body
 * length; bytes are not copied when large.
 *
 * @param w The output.
 * @param mode How to store.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text (its decoded bytes are sent).
 * @param data The value: bytes, or a string written as UTF-8.
 * @param options Flags, expiration time, CAS, quiet.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_KEY`, `INVALID_VALUE`, `VALUE_TOO_LARGE` (the body would
 * not fit in 2^32-1 bytes), `INVALID_TTL` or `INVALID_ARGUMENT` (mode, flags, CAS, opaque),
 * before any byte is written.
 *
 * @example The add request of the protocol specification
 * ```ts
 * import { ByteWriter, encodeBinaryStore } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryStore(w, "add", "Hello", false, "World", { flags: 0xdeadbeef, exptime: 3600 }, 0);
 * const [packet] = w.take();
 * console.log(packet?.length, packet?.[1], packet?.[11]); // 42 2 18
 * ```
 */
export function encodeBinaryStore(
  w: ByteWriter,
  mode: BinaryStoreMode,
  key: WireKey,
  base64: boolean,
  data: Uint8Array | string,
  options: BinaryStoreOptions,
  opaque: number,
): void {
  // Own keys only: an inherited name such as "constructor" must not pass as a mode.
  const opcodes = Object.hasOwn(STORE_OPCODES, mode) ? STORE_OPCODES[mode] : undefined;
  if (opcodes === undefined) throw argError("store", `unknown mode ${String(mode)}`);
  const keyLen = keyLength(key, base64);
  let size: number;
  if (typeof data === "string") size = utf8Length(data);
  else if (data instanceof Uint8Array) size = data.length;
  else {
    throw new MemcachedError(
      "INVALID_VALUE",
      "Cannot encode store: the value is neither a string nor a Uint8Array",
    );
  }
  const flags = options.flags ?? 0;
  const exptime = options.exptime ?? 0;
  checkU32("client flags", flags);
  checkExptime(exptime);
  if (options.cas !== undefined) checkCas(options.cas);
  checkOpaque(opaque);
  const extLen = mode === "append" || mode === "prepend" ? 0 : 8;
  const bodyLen = extLen + keyLen + size;
  if (bodyLen > MAX_U32) {
    throw new MemcachedError(
      "VALUE_TOO_LARGE",
      `Cannot encode store: a ${size}-byte value does not fit in a binary packet`,
    );
  }
  header(opcodes[options.quiet === true ? 1 : 0], keyLen, extLen, bodyLen, opaque);
  if (options.cas) putU64(16, options.cas);
  if (extLen === 8) {
    putU32(HEADER, flags);
    putU32(HEADER + 4, exptime);
  }
  flushHead(w, extLen);
  writeKey(w, key, base64, keyLen);
  if (typeof data === "string") w.text(data, size);
  else w.bytes(data);
}

/**
 * Writes a `Delete` (or `DeleteQ`) with the key and an optional CAS check.
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text (its decoded bytes are sent).
 * @param options CAS, quiet.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_KEY` or `INVALID_ARGUMENT` (CAS, opaque), before any byte
 * is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryDelete } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryDelete(w, "Hello", false, {}, 0);
 * console.log(w.length); // 29
 * ```
 */
export function encodeBinaryDelete(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  options: BinaryDeleteOptions,
  opaque: number,
): void {
  const keyLen = keyLength(key, base64);
  if (options.cas !== undefined) checkCas(options.cas);
  checkOpaque(opaque);
  header(options.quiet === true ? Opcode.DeleteQ : Opcode.Delete, keyLen, 0, keyLen, opaque);
  if (options.cas) putU64(16, options.cas);
  flushHead(w, 0);
  writeKey(w, key, base64, keyLen);
}

/**
 * Writes an `Increment` or `Decrement`: 20 bytes of extras (delta, initial value, expiration
 * time). Without `initial` the expiration field is 0xffffffff, so a missing counter fails with
 * `KeyNotFound`; with it a missing counter is created. The reply's value is the new counter, 8
 * bytes big-endian: read it with {@linkcode counterValue}.
 *
 * @param w The output.
 * @param mode `"incr"` or `"decr"`.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text (its decoded bytes are sent).
 * @param delta The amount, 0..2^64-1.
 * @param options Initial value and its expiration time.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_KEY`, `INVALID_DELTA` (delta, initial), `INVALID_TTL` or
 * `INVALID_ARGUMENT` (mode, opaque), before any byte is written.
 *
 * @example The increment request of the protocol specification
 * ```ts
 * import { ByteWriter, encodeBinaryArithmetic } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryArithmetic(w, "incr", "counter", false, 1n, { initial: 0n, exptime: 3600 }, 0);
 * console.log(w.length); // 51
 * ```
 */
export function encodeBinaryArithmetic(
  w: ByteWriter,
  mode: "incr" | "decr",
  key: WireKey,
  base64: boolean,
  delta: bigint,
  options: BinaryArithmeticOptions,
  opaque: number,
): void {
  if (mode !== "incr" && mode !== "decr") {
    throw argError("arithmetic", `unknown mode ${String(mode)}`);
  }
  const keyLen = keyLength(key, base64);
  checkDelta("delta", delta);
  const initial = options.initial;
  if (initial !== undefined) checkDelta("initial value", initial);
  const exptime = options.exptime ?? 0;
  checkExptime(exptime);
  if (initial !== undefined && exptime === MAX_U32) {
    throw new MemcachedError(
      "INVALID_TTL",
      "Cannot encode expiration time: 4294967295 means do not create the counter",
    );
  }
  checkOpaque(opaque);
  header(mode === "incr" ? Opcode.Increment : Opcode.Decrement, keyLen, 20, 20 + keyLen, opaque);
  putU64(HEADER, delta);
  putU64(HEADER + 8, initial ?? 0n);
  putU32(HEADER + 16, initial === undefined ? MAX_U32 : exptime);
  flushHead(w, 20);
  writeKey(w, key, base64, keyLen);
}

/**
 * Writes a `Touch`: sets an item's expiration time without reading it (4 bytes of extras).
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text (its decoded bytes are sent).
 * @param exptime The new expiration time: seconds, or an absolute Unix time; 0 means never.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_KEY`, `INVALID_TTL` or `INVALID_ARGUMENT` (opaque), before
 * any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryTouch } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryTouch(w, "Hello", false, 60, 1);
 * console.log(w.length); // 33
 * ```
 */
export function encodeBinaryTouch(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  exptime: number,
  opaque: number,
): void {
  const keyLen = keyLength(key, base64);
  checkExptime(exptime);
  checkOpaque(opaque);
  header(Opcode.Touch, keyLen, 4, 4 + keyLen, opaque);
  putU32(HEADER, exptime);
  flushHead(w, 4);
  writeKey(w, key, base64, keyLen);
}

/** Writes a request that is a header alone. */
function bare(w: ByteWriter, opcode: number, opaque: number): void {
  checkOpaque(opaque);
  header(opcode, 0, 0, 0, opaque);
  flushHead(w, 0);
}

/**
 * Writes a `Noop`. The server answers it after every earlier request, which marks the end of a
 * batch of quiet requests.
 *
 * @param w The output.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad opaque value, before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryNoop } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryNoop(w, 7);
 * console.log(w.length); // 24
 * ```
 */
export function encodeBinaryNoop(w: ByteWriter, opaque: number): void {
  bare(w, Opcode.Noop, opaque);
}

/**
 * Writes a `Version` request; the reply's value is the version text, such as `1.6.18`.
 *
 * @param w The output.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad opaque value, before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryVersion } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryVersion(w, 0);
 * console.log(w.take()[0]?.[1]); // 11
 * ```
 */
export function encodeBinaryVersion(w: ByteWriter, opaque: number): void {
  bare(w, Opcode.Version, opaque);
}

/**
 * Writes a `Quit`. The server answers, then closes the connection.
 *
 * @param w The output.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad opaque value, before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryQuit } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryQuit(w, 0);
 * console.log(w.take()[0]?.[1]); // 7
 * ```
 */
export function encodeBinaryQuit(w: ByteWriter, opaque: number): void {
  bare(w, Opcode.Quit, opaque);
}

/**
 * Writes a `Flush`: invalidates every item, now or after `delay` (4 bytes of extras).
 *
 * @param w The output.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @param delay Seconds (or an absolute Unix time) before the flush; undefined for now.
 * @throws {MemcachedError} `INVALID_TTL` (delay) or `INVALID_ARGUMENT` (opaque), before any byte
 * is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryFlush } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryFlush(w, 0, 7200);
 * console.log(w.length); // 28
 * ```
 */
export function encodeBinaryFlush(w: ByteWriter, opaque: number, delay?: number): void {
  if (delay !== undefined) checkExptime(delay);
  checkOpaque(opaque);
  if (delay === undefined) {
    header(Opcode.Flush, 0, 0, 0, opaque);
    flushHead(w, 0);
    return;
  }
  header(Opcode.Flush, 0, 4, 4, opaque);
  putU32(HEADER, delay);
  flushHead(w, 4);
}

/**
 * Writes a `Stat` request, for the general statistics or a group (sent as the key). The server
 * answers one packet per statistic (key: its name, value: its value) and ends with a packet
 * that has no key; the caller collects them.
 *
 * @param w The output.
 * @param opaque A value the server echoes in every reply packet (0..2^32-1).
 * @param group A statistics group such as `"slabs"`, `"items"` or `"settings"`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` (group, opaque), before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryStat } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryStat(w, 0, "slabs");
 * console.log(w.length); // 29
 * ```
 */
export function encodeBinaryStat(w: ByteWriter, opaque: number, group?: string): void {
  if (group !== undefined && (typeof group !== "string" || !STATS_GROUP.test(group))) {
    throw argError("stat", `${JSON.stringify(group)} is not a statistics group name`);
  }
  checkOpaque(opaque);
  const keyLen = group === undefined ? 0 : group.length;
  header(Opcode.Stat, keyLen, 0, keyLen, opaque);
  flushHead(w, 0);
  if (group !== undefined) w.ascii(group);
}

/**
 * Writes a `Verbosity` request (4 bytes of extras: the level).
 *
 * memcached 1.6 does not implement it: it answers `UnknownCommand` only after swallowing 4
 * more bytes than the request holds, so the next request is corrupted and the connection must
 * be dropped. Send it only to servers known to implement it.
 *
 * @param w The output.
 * @param level The server's log verbosity, 0..2^32-1 (0..3 in practice).
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` (level, opaque), before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeBinaryVerbosity } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeBinaryVerbosity(w, 1, 0);
 * console.log(w.length); // 28
 * ```
 */
export function encodeBinaryVerbosity(w: ByteWriter, level: number, opaque: number): void {
  checkU32("verbosity level", level);
  checkOpaque(opaque);
  header(Opcode.Verbosity, 0, 4, 4, opaque);
  putU32(HEADER, level);
  flushHead(w, 4);
}

/**
 * Writes a `SaslListMechs` request; the reply's value is the space-separated mechanism list.
 *
 * @param w The output.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad opaque value, before any byte is written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeSaslListMechs } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeSaslListMechs(w, 0);
 * console.log(w.take()[0]?.[1]); // 32
 * ```
 */
export function encodeSaslListMechs(w: ByteWriter, opaque: number): void {
  bare(w, Opcode.SaslListMechs, opaque);
}

/** SASL mechanism names (RFC 4422): 1 to 20 upper-case letters, digits, hyphens, underscores. */
const SASL_MECHANISM = /^[A-Z0-9_-]{1,20}$/;

function sasl(
  w: ByteWriter,
  opcode: number,
  mechanism: string,
  payload: Uint8Array,
  opaque: number,
): void {
  const what = opcode === Opcode.SaslAuth ? "SASL auth" : "SASL step";
  if (typeof mechanism !== "string" || !SASL_MECHANISM.test(mechanism)) {
    throw argError(what, `${JSON.stringify(mechanism)} is not a SASL mechanism name`);
  }
  if (!(payload instanceof Uint8Array)) throw argError(what, "the payload is not a Uint8Array");
  const bodyLen = mechanism.length + payload.length;
  if (bodyLen > MAX_U32) {
    throw argError(what, `a ${payload.length}-byte payload does not fit in a binary packet`);
  }
  checkOpaque(opaque);
  header(opcode, mechanism.length, 0, bodyLen, opaque);
  flushHead(w, 0);
  w.ascii(mechanism);
  w.bytes(payload);
}

/**
 * Writes a `SaslAuth` request: the mechanism as the key, its first message as the value.
 * A reply with status `AuthContinue` asks for a {@linkcode encodeSaslStep}.
 *
 * @param w The output.
 * @param mechanism The mechanism, such as `"PLAIN"`.
 * @param payload The mechanism's first message; for PLAIN, {@linkcode saslPlainPayload}.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` (mechanism, payload, opaque), before any byte is
 * written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeSaslAuth, saslPlainPayload } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeSaslAuth(w, "PLAIN", saslPlainPayload("user", "secret"), 0);
 * console.log(w.length); // 41
 * ```
 */
export function encodeSaslAuth(
  w: ByteWriter,
  mechanism: string,
  payload: Uint8Array,
  opaque: number,
): void {
  sasl(w, Opcode.SaslAuth, mechanism, payload, opaque);
}

/**
 * Writes a `SaslStep` request: the mechanism as the key, the next message as the value.
 *
 * @param w The output.
 * @param mechanism The mechanism being negotiated.
 * @param payload The mechanism's next message.
 * @param opaque A value the server echoes in the reply (0..2^32-1).
 * @throws {MemcachedError} `INVALID_ARGUMENT` (mechanism, payload, opaque), before any byte is
 * written.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeSaslStep } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeSaslStep(w, "CRAM-MD5", new Uint8Array(8), 0);
 * console.log(w.length); // 40
 * ```
 */
export function encodeSaslStep(
  w: ByteWriter,
  mechanism: string,
  payload: Uint8Array,
  opaque: number,
): void {
  sasl(w, Opcode.SaslStep, mechanism, payload, opaque);
}

const utf8 = new TextEncoder();
const utf8Text = new TextDecoder();

/**
 * Builds the message of SASL PLAIN (RFC 4616) with an empty authorization identity:
 * `"\0" + user + "\0" + password`, UTF-8 encoded.
 *
 * @param user The user name; it must not contain U+0000.
 * @param password The password; it must not contain U+0000.
 * @returns The payload for {@linkcode encodeSaslAuth}.
 * @throws {MemcachedError} `INVALID_ARGUMENT` when a part is not a string or holds U+0000.
 *
 * @example
 * ```ts
 * import { saslPlainPayload } from "@mica/memcached/protocol";
 *
 * console.log(saslPlainPayload("u", "p")); // Uint8Array(4) [ 0, 117, 0, 112 ]
 * ```
 */
export function saslPlainPayload(user: string, password: string): Uint8Array {
  for (const [name, part] of [["user", user], ["password", password]] as const) {
    if (typeof part !== "string" || part.includes("\0")) {
      throw argError("SASL PLAIN payload", `the ${name} is not a string without U+0000`);
    }
  }
  return utf8.encode(`\0${user}\0${password}`);
}

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

// ---------------------------------------------------------------------------------------------
// Decoder

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
