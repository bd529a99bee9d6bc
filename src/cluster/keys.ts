/**
 * What a cluster does to keys before they are hashed and sent: the namespace prefix of
 * libmemcached's `MEMCACHED_CALLBACK_PREFIX_KEY` (php-memcached's `OPT_PREFIX_KEY`), and the
 * optional hashing of keys too long to send.
 *
 * - The prefix is sent in front of every key. As in libmemcached, it takes no part in choosing
 *   the server unless `hashPrefix` is set (`MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY`), so a
 *   cluster shared with php-memcached or pylibmc agrees on every key's server.
 * - With `longKeys: "hash"`, a key whose wire form (prefix included) would be over 250 bytes
 *   (over 186 bytes before encoding, with base64 keys) is replaced by the 32-character lowercase
 *   hex MD5 of its bytes, behind the prefix: `<prefix><md5 hex of key>`. The replacement is
 *   what is hashed and sent, so any client applying the same rule finds the item.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import { encodeKey, keyBytes, MAX_KEY_LENGTH } from "../protocol/keys.ts";
import type { Key } from "../protocol/values.ts";
import { utf8Length } from "../protocol/writer.ts";
import { md5 } from "./hashes.ts";

/** How keys are prefixed and what happens to keys too long to send. */
export interface KeyRules {
  /** Sent in front of every key; empty for none. */
  readonly prefix: string;
  /** Whether the prefix takes part in choosing the server. */
  readonly hashPrefix: boolean;
  /** `"reject"` (`INVALID_KEY`) or `"hash"` (replace by the MD5 hex of the key). */
  readonly longKeys: "reject" | "hash";
  /** Keys travel base64-encoded (meta `b` flag). */
  readonly base64: boolean;
}

/** The longest prefix, libmemcached's `MEMCACHED_MAX_NAMESPACE`. */
export const MAX_PREFIX_LENGTH = 128;
/** The longest key before base64 encoding: 186 bytes encode to 248 characters. */
const MAX_BASE64_KEY = 186;
const HEX = "0123456789abcdef";

/**
 * Applies {@linkcode KeyRules} to keys: the key as sent (`full`) and the key the ring hashes
 * (`hashed`).
 */
export class KeyScheme {
  readonly #prefix: string;
  readonly #prefixBytes: Uint8Array;
  readonly #hashPrefix: boolean;
  readonly #hashLong: boolean;
  readonly #limit: number;
  readonly #base64: boolean;

  /** @throws {MemcachedError} `INVALID_ARGUMENT` for a prefix that cannot start a key. */
  constructor(rules: KeyRules) {
    const { prefix } = rules;
    if (typeof prefix !== "string") {
      throw new MemcachedError("INVALID_ARGUMENT", "Cannot use option prefix: it is not a string");
    }
    if (prefix !== "") {
      try {
        encodeKey(prefix, false);
      } catch (error) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot use option prefix: ${(error as Error).message.replace(/^Cannot use key: /, "")}`,
          { cause: error },
        );
      }
    }
    this.#prefixBytes = keyBytes(prefix);
    if (this.#prefixBytes.length > MAX_PREFIX_LENGTH) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot use option prefix: it is ${this.#prefixBytes.length} bytes, over the ` +
          `${MAX_PREFIX_LENGTH}-byte limit`,
      );
    }
    this.#prefix = prefix;
    this.#hashPrefix = rules.hashPrefix;
    this.#hashLong = rules.longKeys === "hash";
    this.#base64 = rules.base64;
    this.#limit = rules.base64 ? MAX_BASE64_KEY : MAX_KEY_LENGTH;
  }

  /** Whether keys go out as they are: no prefix, long keys rejected. */
  get identity(): boolean {
    return this.#prefix === "" && !this.#hashLong;
  }

  /** The key without its prefix, after the long-key rule. */
  #body(key: Key): Key {
    if (!this.#hashLong) return key;
    if (typeof key !== "string" && !(key instanceof Uint8Array)) return key; // encodeKey says why
    const length = typeof key === "string" ? utf8Length(key) : key.length;
    if (length + this.#prefixBytes.length <= this.#limit || length === 0) return key;
    const digest = md5(keyBytes(key));
    let hex = "";
    for (const byte of digest) hex += HEX[byte >> 4]! + HEX[byte & 15]!;
    return hex;
  }

  #prefixed(body: Key): Key {
    if (this.#prefix === "") return body;
    if (typeof body === "string") return this.#prefix + body;
    if (!(body instanceof Uint8Array) || body.length === 0) return body; // encodeKey says why
    const out = new Uint8Array(this.#prefixBytes.length + body.length);
    out.set(this.#prefixBytes);
    out.set(body, this.#prefixBytes.length);
    return out;
  }

  /**
   * The key as sent, in wire form, checked.
   *
   * @throws {MemcachedError} `INVALID_KEY`.
   */
  wire(key: Key): string {
    if (typeof key === "string" && key.length === 0) return encodeKey(key, this.#base64);
    return encodeKey(this.#prefixed(this.#body(key)), this.#base64);
  }

  /** The key the ring hashes: the key as sent, less the prefix unless `hashPrefix`. */
  hashed(key: Key): Key {
    const body = this.#body(key);
    return this.#hashPrefix ? this.#prefixed(body) : body;
  }
}
