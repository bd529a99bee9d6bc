/**
 * The packet-writing parts the binary encoders share: argument checks, keys as the raw bytes a
 * binary packet carries (a base64 wire key decoded), and the 24-byte request header. Private to
 * `encode.ts`.
 *
 * @module
 */

import { MemcachedError } from "../../errors.ts";
import { checkU32, checkU64 } from "../_encode.ts";
import { MAX_KEY_LENGTH, type WireKey } from "../keys.ts";
import type { ByteWriter } from "../writer.ts";

const U32_MASK = 0xffff_ffffn;
/** Bytes in every packet's header. */
export const HEADER = 24;
const REQUEST_MAGIC = 0x80;

export function checkCas(cas: bigint): void {
  checkU64("CAS value", cas);
}

export function checkDelta(what: string, n: bigint): void {
  checkU64(what, n, "INVALID_DELTA");
}

export function checkExptime(n: number): void {
  checkU32("expiration time", n, "INVALID_TTL");
}

export function checkOpaque(opaque: number): void {
  checkU32("opaque value", opaque);
}

function keyError(reason: string): MemcachedError {
  return new MemcachedError("INVALID_KEY", `Cannot use key: ${reason}`);
}

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
export function keyLength(key: WireKey, base64: boolean): number {
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

export function writeKey(w: ByteWriter, key: WireKey, base64: boolean, length: number): void {
  if (base64) w.bytes(KEY_BYTES.subarray(0, length));
  else w.ascii(key); // latin1: each character is one byte
}

// Headers

/** Header and extras (at most 20 bytes) of the request being written. */
const HEAD = new Uint8Array(HEADER + 20);
/** Views of {@linkcode HEAD} for each extras length used, so a write allocates nothing. */
const HEAD_VIEWS: readonly Uint8Array[] = (() => {
  const views: Uint8Array[] = [];
  for (const extLen of [0, 4, 8, 20]) views[extLen] = HEAD.subarray(0, HEADER + extLen);
  return views;
})();

export function putU32(at: number, n: number): void {
  HEAD[at] = n >>> 24;
  HEAD[at + 1] = (n >>> 16) & 0xff;
  HEAD[at + 2] = (n >>> 8) & 0xff;
  HEAD[at + 3] = n & 0xff;
}

export function putU64(at: number, n: bigint): void {
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
export function header(
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
export function flushHead(w: ByteWriter, extLen: number): void {
  w.bytes(HEAD_VIEWS[extLen]!);
}
