/**
 * The hash functions libmemcached uses to spread keys over servers, in plain TypeScript so they
 * run in any runtime: {@linkcode md5}, {@linkcode ketamaHash} (MD5's first 32 bits, the key
 * hash of weighted ketama) and {@linkcode oneAtATime} (Jenkins' one-at-a-time, libmemcached's
 * default key hash).
 *
 * They sit on the hot path of every request in a cluster, so they allocate nothing: the MD5
 * state and message block are module-level typed arrays reused by every call, and
 * {@linkcode ketamaHash} never builds a digest. The functions are synchronous and never
 * re-entered, so the shared state is safe.
 *
 * @module
 */

/** The MD5 chaining state (A, B, C, D) after the last call to `digest()`. */
const state = new Int32Array(4);
/** The 16 little-endian message words of the block being compressed. */
const block = new Int32Array(16);

/**
 * Runs MD5 over the first `length` bytes of `bytes`, leaving the result in {@linkcode state}.
 * Reads bytes one at a time, so it is independent of the platform's byte order.
 */
function digest(bytes: Uint8Array, length: number): void {
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  const whole = length - (length % 64);
  let at = 0;
  for (; at < whole; at += 64) {
    for (let w = 0, p = at; w < 16; w++, p += 4) {
      block[w] = bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24);
    }
    compress();
  }
  // The last 0..63 bytes, the 0x80 marker, zero padding and the bit length (little-endian).
  block.fill(0);
  const rest = length - whole;
  for (let i = 0; i < rest; i++) block[i >> 2]! |= bytes[at + i]! << ((i & 3) << 3);
  block[rest >> 2]! |= 0x80 << ((rest & 3) << 3);
  if (rest >= 56) {
    compress();
    block.fill(0);
  }
  block[14] = length << 3;
  block[15] = Math.floor(length / 0x20000000);
  compress();
}

/** Compresses {@linkcode block} into {@linkcode state} (RFC 1321, section 3.4, unrolled). */
function compress(): void {
  const x = block;
  const x0 = x[0]!, x1 = x[1]!, x2 = x[2]!, x3 = x[3]!;
  const x4 = x[4]!, x5 = x[5]!, x6 = x[6]!, x7 = x[7]!;
  const x8 = x[8]!, x9 = x[9]!, x10 = x[10]!, x11 = x[11]!;
  const x12 = x[12]!, x13 = x[13]!, x14 = x[14]!, x15 = x[15]!;
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  a = (a + ((b & c) | (~b & d)) + x0 + 0xd76aa478) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x1 + 0xe8c7b756) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x2 + 0x242070db) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x3 + 0xc1bdceee) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x4 + 0xf57c0faf) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x5 + 0x4787c62a) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x6 + 0xa8304613) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x7 + 0xfd469501) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x8 + 0x698098d8) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x9 + 0x8b44f7af) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x10 + 0xffff5bb1) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x11 + 0x895cd7be) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x12 + 0x6b901122) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x13 + 0xfd987193) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x14 + 0xa679438e) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x15 + 0x49b40821) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x1 + 0xf61e2562) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x6 + 0xc040b340) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x11 + 0x265e5a51) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x0 + 0xe9b6c7aa) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x5 + 0xd62f105d) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x10 + 0x02441453) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x15 + 0xd8a1e681) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x4 + 0xe7d3fbc8) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x9 + 0x21e1cde6) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x14 + 0xc33707d6) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x3 + 0xf4d50d87) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x8 + 0x455a14ed) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x13 + 0xa9e3e905) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x2 + 0xfcefa3f8) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x7 + 0x676f02d9) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x12 + 0x8d2a4c8a) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + (b ^ c ^ d) + x5 + 0xfffa3942) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x8 + 0x8771f681) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x11 + 0x6d9d6122) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x14 + 0xfde5380c) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x1 + 0xa4beea44) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x4 + 0x4bdecfa9) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x7 + 0xf6bb4b60) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x10 + 0xbebfbc70) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x13 + 0x289b7ec6) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x0 + 0xeaa127fa) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x3 + 0xd4ef3085) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x6 + 0x04881d05) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x9 + 0xd9d4d039) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x12 + 0xe6db99e5) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x15 + 0x1fa27cf8) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x2 + 0xc4ac5665) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x0 + 0xf4292244) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x7 + 0x432aff97) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x14 + 0xab9423a7) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x5 + 0xfc93a039) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x12 + 0x655b59c3) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x3 + 0x8f0ccc92) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x10 + 0xffeff47d) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x1 + 0x85845dd1) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x8 + 0x6fa87e4f) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x15 + 0xfe2ce6e0) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x6 + 0xa3014314) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x13 + 0x4e0811a1) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x4 + 0xf7537e82) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x11 + 0xbd3af235) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x2 + 0x2ad7d2bb) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x9 + 0xeb86d391) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

/**
 * Computes the MD5 digest of `bytes` (RFC 1321).
 *
 * MD5 is used here to place keys on a ring, not for security.
 *
 * @param bytes The message.
 * @param out Where to write the 16-byte digest; pass a buffer to reuse it across calls.
 * @returns `out`, holding the digest.
 * @throws {RangeError} When `out` is shorter than 16 bytes.
 *
 * @example Hash a string
 * ```ts
 * import { md5 } from "@mica/memcached";
 *
 * const digest = md5(new TextEncoder().encode("abc"));
 * const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
 * console.log(hex); // "900150983cd24fb0d6963f7d28e17f72"
 * ```
 */
export function md5(bytes: Uint8Array, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  if (out.length < 16) {
    throw new RangeError(`Cannot compute MD5: the output buffer holds ${out.length} bytes, not 16`);
  }
  digest(bytes, bytes.length);
  for (let w = 0; w < 4; w++) {
    const word = state[w]!;
    out[w * 4] = word;
    out[w * 4 + 1] = word >>> 8;
    out[w * 4 + 2] = word >>> 16;
    out[w * 4 + 3] = word >>> 24;
  }
  return out;
}

/**
 * Computes the four little-endian 32-bit words of the MD5 digest of `bytes`, the four ketama
 * points one digest gives.
 *
 * @param bytes The message.
 * @param out Where to write the words; pass a buffer to reuse it across calls.
 * @returns `out`, holding the words of digest bytes 0-3, 4-7, 8-11 and 12-15.
 * @throws {RangeError} When `out` holds fewer than 4 words.
 *
 * @example The first word is the ketama hash
 * ```ts
 * import { ketamaHash, md5Words } from "@mica/memcached";
 *
 * const bytes = new TextEncoder().encode("127.0.0.1-0");
 * console.log(md5Words(bytes)[0] === ketamaHash(bytes)); // true
 * ```
 */
export function md5Words(bytes: Uint8Array, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  if (out.length < 4) {
    throw new RangeError(`Cannot compute MD5: the output buffer holds ${out.length} words, not 4`);
  }
  digest(bytes, bytes.length);
  out[0] = state[0]!;
  out[1] = state[1]!;
  out[2] = state[2]!;
  out[3] = state[3]!;
  return out;
}

/**
 * The ketama key hash: the first four bytes of the key's MD5 digest read as a little-endian
 * unsigned 32-bit integer (libmemcached's `MEMCACHED_HASH_MD5`). Allocates nothing.
 *
 * @param key The key's bytes (UTF-8 for a string key).
 * @param length How many leading bytes of `key` to hash.
 * @returns An unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { ketamaHash } from "@mica/memcached";
 *
 * console.log(ketamaHash(new TextEncoder().encode("blob:5"))); // 3667294470
 * ```
 */
export function ketamaHash(key: Uint8Array, length: number = key.length): number {
  digest(key, checkLength(key, length));
  return state[0]! >>> 0;
}

/**
 * Jenkins' one-at-a-time hash as libmemcached computes it (`MEMCACHED_HASH_DEFAULT`, the hash
 * of its modula distribution). Each byte is read as a signed char, so bytes of 0x80 and above
 * are sign-extended, as on x86-64 builds. Allocates nothing.
 *
 * @param key The key's bytes (UTF-8 for a string key).
 * @param length How many leading bytes of `key` to hash.
 * @returns An unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { oneAtATime } from "@mica/memcached";
 *
 * console.log(oneAtATime(new TextEncoder().encode("blob:5"))); // 4284632428
 * ```
 */
export function oneAtATime(key: Uint8Array, length: number = key.length): number {
  const end = checkLength(key, length);
  let h = 0;
  for (let i = 0; i < end; i++) {
    h = (h + ((key[i]! << 24) >> 24)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h >>> 0;
}

function checkLength(key: Uint8Array, length: number): number {
  if (length === key.length) return length;
  if (!Number.isInteger(length) || length < 0 || length > key.length) {
    throw new RangeError(`Cannot hash key: length must be an integer in 0..${key.length}`);
  }
  return length;
}
