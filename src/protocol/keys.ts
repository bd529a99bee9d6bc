/**
 * Key validation and encoding. Every key is checked here before any byte of its request is
 * written, so a key can never smuggle a second command onto the wire.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";

/**
 * The longest key memcached accepts, in bytes (as sent on the wire).
 *
 * @example
 * ```ts
 * import { MemcachedError } from "@mica/memcached";
 * import { encodeKey, MAX_KEY_LENGTH } from "@mica/memcached/protocol";
 *
 * console.log(encodeKey("k".repeat(MAX_KEY_LENGTH), false).length); // 250
 * try {
 *   encodeKey("k".repeat(MAX_KEY_LENGTH + 1), false);
 * } catch (error) {
 *   console.log((error as MemcachedError).code); // "INVALID_KEY"
 * }
 * ```
 */
export const MAX_KEY_LENGTH = 250;

/**
 * A key ready for the wire: an ASCII string that needs no escaping. With base64 keys it is the
 * base64 text of the key's bytes, sent with the meta `b` flag.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeKey, encodeMetaDelete, type WireKey } from "@mica/memcached/protocol";
 *
 * const key: WireKey = encodeKey("user:42", false);
 * const binary: WireKey = encodeKey(new Uint8Array([0, 1, 2]), true);
 * const w = new ByteWriter();
 * encodeMetaDelete(w, key, false, {}, -1);
 * encodeMetaDelete(w, binary, true, {}, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "md user:42\r\nmd AAEC b\r\n"
 * ```
 */
export type WireKey = string;

const utf8 = new TextEncoder();
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function keyError(reason: string, cause?: unknown): MemcachedError {
  return new MemcachedError("INVALID_KEY", `Cannot use key: ${reason}`, { cause });
}

/**
 * Encodes bytes as standard base64 with padding.
 *
 * @param bytes The bytes.
 * @returns The base64 text.
 *
 * @example
 * ```ts
 * import { toBase64 } from "@mica/memcached/protocol";
 *
 * console.log(toBase64(new Uint8Array([102, 111, 111]))); // "Zm9v"
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + "=";
  }
  return out;
}

/**
 * Returns the key's bytes: a string is encoded as UTF-8, bytes are returned as they are.
 *
 * @param key The key.
 * @returns The key's bytes.
 *
 * @example
 * ```ts
 * import { keyBytes } from "@mica/memcached/protocol";
 *
 * console.log(keyBytes("é").length); // 2
 * ```
 */
export function keyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === "string" ? utf8.encode(key) : key;
}

/**
 * Validates a key and returns its wire form.
 *
 * Without base64, a key must be 1 to 250 bytes of UTF-8 with no space, no control character
 * (below U+0021, or U+007F) and, when it is a `Uint8Array`, no byte outside 0x21..0x7E. With
 * base64 any bytes are allowed, but the base64 text must fit in 250 bytes (186 key bytes).
 *
 * @param key The key as the caller gave it.
 * @param base64 Whether to send the key base64-encoded (meta `b` flag).
 * @returns The key as it goes on the wire.
 * @throws {MemcachedError} `INVALID_KEY` when the key cannot be sent.
 *
 * @example
 * ```ts
 * import { encodeKey } from "@mica/memcached/protocol";
 *
 * console.log(encodeKey("user:42", false)); // "user:42"
 * console.log(encodeKey("a b", true)); // "YSBi"
 * ```
 */
export function encodeKey(key: string | Uint8Array, base64: boolean): WireKey {
  if (typeof key === "string") {
    if (key.length === 0) throw keyError("the key is empty");
    if (!base64) {
      let ascii = true;
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        if (c <= 0x20 || c === 0x7f) {
          throw keyError(
            `the key holds ${c === 0x20 ? "a space" : "a control character"} at index ${i}`,
          );
        }
        if (c >= 0x80) ascii = false;
      }
      if (!ascii) checkWellFormed(key);
      if (ascii) {
        if (key.length > MAX_KEY_LENGTH) {
          throw keyError(`the key is ${key.length} bytes, over the ${MAX_KEY_LENGTH}-byte limit`);
        }
        return key;
      }
      const bytes = utf8.encode(key);
      for (let i = 0; i < bytes.length; i++) {
        const c = bytes[i]!;
        // C1 control characters (U+0080..U+009F) encode as 0xC2 0x80..0x9F.
        if (c === 0xc2 && i + 1 < bytes.length && bytes[i + 1]! < 0xa0) {
          throw keyError(`the key holds a control character at byte ${i}`);
        }
      }
      if (bytes.length > MAX_KEY_LENGTH) {
        throw keyError(`the key is ${bytes.length} bytes, over the ${MAX_KEY_LENGTH}-byte limit`);
      }
      // Non-ASCII keys go on the wire as their UTF-8 bytes; the writer takes a latin1 string.
      let s = "";
      for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
      return s;
    }
    checkWellFormed(key);
    return base64Key(utf8.encode(key));
  }
  if (!(key instanceof Uint8Array)) {
    throw keyError("the key is neither a string nor a Uint8Array");
  }
  if (key.length === 0) throw keyError("the key is empty");
  if (base64) return base64Key(key);
  if (key.length > MAX_KEY_LENGTH) {
    throw keyError(`the key is ${key.length} bytes, over the ${MAX_KEY_LENGTH}-byte limit`);
  }
  let s = "";
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c <= 0x20 || c >= 0x7f) {
      throw keyError(
        `the key holds byte 0x${c.toString(16).padStart(2, "0")} at index ${i}; ` +
          "enable base64 keys to store arbitrary bytes",
      );
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** A lone surrogate would be sent as U+FFFD and collide with another key. */
function checkWellFormed(key: string): void {
  if (!key.isWellFormed()) throw keyError("the key holds a lone UTF-16 surrogate");
}

function base64Key(bytes: Uint8Array): WireKey {
  if (bytes.length === 0) throw keyError("the key is empty");
  const text = toBase64(bytes);
  if (text.length > MAX_KEY_LENGTH) {
    throw keyError(
      `the key is ${bytes.length} bytes; base64 keys may be at most 186 bytes ` +
        `(${MAX_KEY_LENGTH} bytes once encoded)`,
    );
  }
  return text;
}
