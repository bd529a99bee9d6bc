/**
 * Request encoders for memcached's classic text protocol: `get`, `gets`, `gat`, `gats`, `set`,
 * `add`, `replace`, `append`, `prepend`, `cas`, `delete`, `incr`, `decr` and `touch`. The plain
 * commands `version`, `flush_all`, `stats`, `verbosity` and `quit` are the same bytes in the
 * meta and text protocols: their encoders are in `../meta/encode.ts`.
 *
 * Encoders validate every argument before writing a byte, so a rejected call leaves the
 * {@linkcode ByteWriter} exactly as it was.
 *
 * @module
 */

import { MemcachedError } from "../../errors.ts";
import { MAX_U64 } from "../_decode.ts";
import { argError, MAX_U32 } from "../_encode.ts";
import { MAX_KEY_LENGTH, type WireKey } from "../keys.ts";
import type { ByteWriter } from "../writer.ts";
import type { TextGetOptions, TextStoreMode, TextStoreOptions } from "./types.ts";

/**
 * The longest `gat`/`gats` request line sent, in bytes, CRLF included. memcached closes a
 * connection when more than 2,048 bytes of a line other than `get`/`gets` are buffered before its
 * line end, which happens whenever a longer line arrives in pieces. `get` and `gets` lines have
 * no such limit.
 *
 * @example Touching many keys in as few lines as fit
 * ```ts
 * import { ByteWriter, encodeTextGet, MAX_GAT_LINE_LENGTH } from "@mica/memcached/protocol";
 *
 * const keys = Array.from({ length: 500 }, (_, i) => `session:${i}`);
 * const w = new ByteWriter();
 * const empty = "gat 60\r\n".length;
 * let batch: string[] = [];
 * let length = empty;
 * for (const key of keys) {
 *   if (length + 1 + key.length > MAX_GAT_LINE_LENGTH) {
 *     encodeTextGet(w, batch, { touch: 60 });
 *     batch = [];
 *     length = empty;
 *   }
 *   batch.push(key);
 *   length += 1 + key.length;
 * }
 * encodeTextGet(w, batch, { touch: 60 });
 * const text = w.take().map((chunk) => new TextDecoder().decode(chunk)).join("");
 * console.log(text.split("\r\n").length - 1); // 3 lines
 * ```
 */
export const MAX_GAT_LINE_LENGTH = 2048;

const MIN_EXPTIME = -0x8000_0000;
const MAX_EXPTIME = 0x7fff_ffff;

const STORE_COMMAND: Record<TextStoreMode, string> = {
  set: "set ",
  add: "add ",
  replace: "replace ",
  append: "append ",
  prepend: "prepend ",
  cas: "cas ",
};

/** Whether `key` is 1..250 latin1 bytes with no space or control character. */
function isWireKey(key: WireKey): boolean {
  const n = key.length;
  if (n === 0 || n > MAX_KEY_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

function checkKey(what: string, key: WireKey): void {
  if (typeof key !== "string" || !isWireKey(key)) {
    throw new MemcachedError(
      "INVALID_KEY",
      `Cannot encode ${what}: ${
        typeof key === "string" ? JSON.stringify(key.slice(0, 64)) : String(key)
      } is not a key from encodeKey()`,
    );
  }
}

function checkExptime(what: string, n: number): void {
  if (!Number.isInteger(n) || n < MIN_EXPTIME || n > MAX_EXPTIME) {
    throw new MemcachedError(
      "INVALID_TTL",
      `Cannot encode ${what}: exptime ${String(n)} is not an integer in -2^31..2^31-1`,
    );
  }
}

function checkFlag(what: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw argError(what, `${name} must be a boolean, got ${String(value)}`);
  }
}

/** Writes a signed integer in decimal. */
function writeInt(w: ByteWriter, n: number): void {
  if (n < 0) {
    w.byte(45);
    w.uint(-n);
  } else w.uint(n);
}

/** Writes a u64 in decimal, without a string for the common safe-integer case. */
function writeU64(w: ByteWriter, n: bigint): void {
  if (n <= 0x1f_ffff_ffff_ffffn) w.uint(Number(n));
  else w.ascii(n.toString());
}

/**
 * Writes `get <key>*`, `gets <key>*`, `gat <exptime> <key>*` or `gats <exptime> <key>*`. The
 * server answers one `VALUE` reply per key it holds, in request order, then `END`.
 *
 * @param w The output.
 * @param keys One or more keys from `encodeKey(key, false)`.
 * @param options `cas` for `gets`/`gats`, `touch` for `gat`/`gats`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` for an empty key list or a `gat`/`gats` line over
 * {@linkcode MAX_GAT_LINE_LENGTH}; `INVALID_KEY` for a key that is not a wire key;
 * `INVALID_TTL` for a bad `touch`. Nothing is written then.
 *
 * @example Fetching two keys with their CAS tokens
 * ```ts
 * import { ByteWriter, encodeTextGet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextGet(w, ["a", "b"], { cas: true });
 * console.log(new TextDecoder().decode(w.take()[0])); // "gets a b\r\n"
 * ```
 *
 * @example Fetching and touching
 * ```ts
 * import { ByteWriter, encodeTextGet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextGet(w, ["a"], { touch: 60 });
 * console.log(new TextDecoder().decode(w.take()[0])); // "gat 60 a\r\n"
 * ```
 */
export function encodeTextGet(
  w: ByteWriter,
  keys: readonly WireKey[],
  options: TextGetOptions = {},
): void {
  const cas = options.cas;
  const touch = options.touch;
  checkFlag("get", "cas", cas);
  if (!Array.isArray(keys) || keys.length === 0) {
    throw argError("get", "at least one key is required");
  }
  for (let i = 0; i < keys.length; i++) checkKey("get", keys[i]!);
  if (touch === undefined) {
    w.ascii(cas ? "gets" : "get");
    for (let i = 0; i < keys.length; i++) {
      w.byte(32);
      w.ascii(keys[i]!);
    }
    w.crlf();
    return;
  }
  checkExptime("gat", touch);
  const command = cas ? "gats " : "gat ";
  let length = command.length + String(touch).length + 2;
  for (let i = 0; i < keys.length; i++) length += 1 + keys[i]!.length;
  if (length > MAX_GAT_LINE_LENGTH) {
    throw argError(
      command.trimEnd(),
      `the request line would be ${length} bytes, over memcached's ${MAX_GAT_LINE_LENGTH}-byte ` +
        "limit for it; split the keys into several requests",
    );
  }
  w.ascii(command);
  writeInt(w, touch);
  for (let i = 0; i < keys.length; i++) {
    w.byte(32);
    w.ascii(keys[i]!);
  }
  w.crlf();
}

/**
 * Writes a storage command, `<mode> <key> <flags> <exptime> <bytes> [<cas>] [noreply]`, then the
 * data and CRLF. The data is framed by its length, so it may hold any bytes, CRLF included.
 *
 * @param w The output.
 * @param mode `"set"`, `"add"`, `"replace"`, `"append"`, `"prepend"` or `"cas"`.
 * @param key A key from `encodeKey(key, false)`.
 * @param data The value: bytes (not copied when large, so do not change them until written),
 * or a string written as UTF-8.
 * @param options Client flags, expiration time, CAS token (mode `"cas"` only) and `noreply`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` for an unknown mode, bad flags, a bad or missing
 * CAS token or a non-boolean `noreply`; `INVALID_KEY`, `INVALID_VALUE` (data neither a string
 * nor a `Uint8Array`) or `INVALID_TTL` (bad `exptime`). Nothing is written then.
 *
 * @example Storing a value for a minute
 * ```ts
 * import { ByteWriter, encodeTextStore } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextStore(w, "set", "foo", "hi", { flags: 5, exptime: 60 });
 * console.log(new TextDecoder().decode(w.take()[0])); // "set foo 5 60 2\r\nhi\r\n"
 * ```
 *
 * @example Compare and swap
 * ```ts
 * import { ByteWriter, encodeTextStore } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextStore(w, "cas", "foo", new Uint8Array([33]), { cas: 42n, noreply: true });
 * console.log(new TextDecoder().decode(w.take()[0])); // "cas foo 0 0 1 42 noreply\r\n!\r\n"
 * ```
 */
export function encodeTextStore(
  w: ByteWriter,
  mode: TextStoreMode,
  key: WireKey,
  data: Uint8Array | string,
  options: TextStoreOptions = {},
): void {
  // Own keys only: an inherited name such as "constructor" must not pass as a mode.
  const command = Object.hasOwn(STORE_COMMAND, mode) ? STORE_COMMAND[mode] : undefined;
  if (command === undefined) throw argError("store", `unknown mode ${String(mode)}`);
  checkKey(mode, key);
  const isString = typeof data === "string";
  if (!isString && !(data instanceof Uint8Array)) {
    throw new MemcachedError(
      "INVALID_VALUE",
      `Cannot encode ${mode}: the value is neither a string nor a Uint8Array`,
    );
  }
  const flags = options.flags === undefined ? 0 : options.flags;
  if (!Number.isInteger(flags) || flags < 0 || flags > MAX_U32) {
    throw argError(mode, `client flags ${String(flags)} are not an integer in 0..4294967295`);
  }
  const exptime = options.exptime === undefined ? 0 : options.exptime;
  checkExptime(mode, exptime);
  const cas = options.cas;
  if (mode === "cas") {
    if (typeof cas !== "bigint" || cas < 0n || cas > MAX_U64) {
      throw argError(mode, `CAS token ${String(cas)} is not an integer in 0..2^64-1`);
    }
  } else if (cas !== undefined) {
    throw argError(mode, 'a CAS token is only sent with mode "cas"');
  }
  checkFlag(mode, "noreply", options.noreply);
  const size = isString ? w.textLength(data) : data.length;
  w.ascii(command);
  w.ascii(key);
  w.byte(32);
  w.uint(flags);
  w.byte(32);
  writeInt(w, exptime);
  w.byte(32);
  w.uint(size);
  if (cas !== undefined) {
    w.byte(32);
    writeU64(w, cas);
  }
  if (options.noreply) w.ascii(" noreply");
  w.crlf();
  if (isString) w.text(data, size);
  else w.bytes(data);
  w.crlf();
}

/**
 * Writes `delete <key> [noreply]`. The server answers `DELETED` or `NOT_FOUND`.
 *
 * @param w The output.
 * @param key A key from `encodeKey(key, false)`.
 * @param noreply Ask the server not to reply.
 * @throws {MemcachedError} `INVALID_KEY`, or `INVALID_ARGUMENT` for a non-boolean `noreply`.
 * Nothing is written then.
 *
 * @example Deleting a key
 * ```ts
 * import { ByteWriter, encodeTextDelete } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextDelete(w, "foo");
 * console.log(new TextDecoder().decode(w.take()[0])); // "delete foo\r\n"
 * ```
 */
export function encodeTextDelete(w: ByteWriter, key: WireKey, noreply?: boolean): void {
  checkKey("delete", key);
  checkFlag("delete", "noreply", noreply);
  w.ascii("delete ");
  w.ascii(key);
  if (noreply) w.ascii(" noreply");
  w.crlf();
}

/**
 * Writes `incr <key> <delta> [noreply]` or `decr <key> <delta> [noreply]`. The server answers
 * the new value (a `NUMBER` reply) or `NOT_FOUND`; `incr` wraps at 2^64 and `decr` stops at 0.
 *
 * @param w The output.
 * @param mode `"incr"` or `"decr"`.
 * @param key A key from `encodeKey(key, false)`.
 * @param delta The amount, 0..2^64-1.
 * @param noreply Ask the server not to reply.
 * @throws {MemcachedError} `INVALID_DELTA` for a delta that is not a bigint in 0..2^64-1;
 * `INVALID_ARGUMENT` for an unknown mode or a non-boolean `noreply`; `INVALID_KEY`. Nothing is
 * written then.
 *
 * @example Incrementing a counter
 * ```ts
 * import { ByteWriter, encodeTextArithmetic } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextArithmetic(w, "incr", "hits", 5n);
 * console.log(new TextDecoder().decode(w.take()[0])); // "incr hits 5\r\n"
 * ```
 */
export function encodeTextArithmetic(
  w: ByteWriter,
  mode: "incr" | "decr",
  key: WireKey,
  delta: bigint,
  noreply?: boolean,
): void {
  if (mode !== "incr" && mode !== "decr") {
    throw argError("arithmetic", `unknown mode ${String(mode)}`);
  }
  checkKey(mode, key);
  if (typeof delta !== "bigint" || delta < 0n || delta > MAX_U64) {
    throw new MemcachedError(
      "INVALID_DELTA",
      `Cannot encode ${mode}: delta ${String(delta)} is not an integer in 0..2^64-1`,
    );
  }
  checkFlag(mode, "noreply", noreply);
  w.ascii(mode === "incr" ? "incr " : "decr ");
  w.ascii(key);
  w.byte(32);
  writeU64(w, delta);
  if (noreply) w.ascii(" noreply");
  w.crlf();
}

/**
 * Writes `touch <key> <exptime> [noreply]`. The server answers `TOUCHED` or `NOT_FOUND`.
 *
 * @param w The output.
 * @param key A key from `encodeKey(key, false)`.
 * @param exptime The new expiration time, as in {@linkcode TextStoreOptions.exptime}.
 * @param noreply Ask the server not to reply.
 * @throws {MemcachedError} `INVALID_TTL` for a bad `exptime`; `INVALID_KEY`; `INVALID_ARGUMENT`
 * for a non-boolean `noreply`. Nothing is written then.
 *
 * @example Extending an item's life
 * ```ts
 * import { ByteWriter, encodeTextTouch } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeTextTouch(w, "foo", 300, true);
 * console.log(new TextDecoder().decode(w.take()[0])); // "touch foo 300 noreply\r\n"
 * ```
 */
export function encodeTextTouch(
  w: ByteWriter,
  key: WireKey,
  exptime: number,
  noreply?: boolean,
): void {
  checkKey("touch", key);
  checkExptime("touch", exptime);
  checkFlag("touch", "noreply", noreply);
  w.ascii("touch ");
  w.ascii(key);
  w.byte(32);
  writeInt(w, exptime);
  if (noreply) w.ascii(" noreply");
  w.crlf();
}
