/**
 * Request encoders for memcached's binary protocol: every packet is a 24-byte header (magic,
 * opcode, key length, extras length, data type, status/vbucket, total body length, opaque, CAS)
 * followed by extras, key and value.
 *
 * Each encoder writes one complete request into a {@linkcode ByteWriter}. Keys come from
 * `encodeKey`: a base64 wire key is sent as the bytes it encodes (binary keys are raw bytes, so
 * the server stores the same key as the meta protocol's `b` flag does). Every argument is
 * validated before the first byte is written, so a rejected call leaves the writer untouched.
 *
 * @module
 */

import { MemcachedError } from "../../errors.ts";
import { argError, checkU32, MAX_U32, STATS_GROUP } from "../_encode.ts";
import type { WireKey } from "../keys.ts";
import type { ByteWriter } from "../writer.ts";
import {
  checkCas,
  checkDelta,
  checkExptime,
  checkOpaque,
  flushHead,
  HEADER,
  header,
  keyLength,
  putU32,
  putU64,
  writeKey,
} from "./_packet.ts";
import {
  type BinaryArithmeticOptions,
  type BinaryDeleteOptions,
  type BinaryGetOptions,
  type BinaryStoreMode,
  type BinaryStoreOptions,
  Opcode,
} from "./types.ts";

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
  if (typeof data === "string") size = w.textLength(data);
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
