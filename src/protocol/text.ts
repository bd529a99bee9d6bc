/**
 * Request encoders and an incremental reply decoder for memcached's classic text protocol:
 * `get`, `gets`, `gat`, `gats`, `set`, `add`, `replace`, `append`, `prepend`, `cas`, `delete`,
 * `incr`, `decr` and `touch`. The plain commands `version`, `flush_all`, `stats`, `verbosity`
 * and `quit` are the same bytes in both protocols: use their encoders from `encoder.ts`, and
 * decode their replies with {@linkcode TextResponseDecoder}.
 *
 * Encoders validate every argument before writing a byte, so a rejected call leaves the
 * {@linkcode ByteWriter} exactly as it was. The decoder gives the same guarantees as
 * `ResponseDecoder`: bytes already searched for a line end are never searched again, values
 * are framed by their announced length (never by a CRLF inside them) and stream into their own
 * buffer, and every size is capped, so a misbehaving server causes a `PROTOCOL_ERROR` rather
 * than unbounded growth.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import {
  addStat,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_VALUE_SIZE,
  excerpt,
  failure,
  latin1,
  limit,
  lineBufferSize,
  MAX_U64,
  parseU64,
  parseUint,
  protocolError,
  ReceiveBuffer,
  SP,
  startsWith,
  TEXT_SLICE_MAX,
} from "./_decode.ts";
import { argError, MAX_U32 } from "./_encode.ts";
import type { DecoderOptions } from "./decoder.ts";
import { MAX_KEY_LENGTH, type WireKey } from "./keys.ts";
import { type ByteWriter, utf8Length } from "./writer.ts";

// ---------------------------------------------------------------------------------------------
// Encoders

/**
 * The storage command of {@linkcode encodeTextStore}.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeTextStore, type TextStoreMode } from "@mica/memcached/protocol";
 *
 * const mode: TextStoreMode = "append";
 * const w = new ByteWriter();
 * encodeTextStore(w, mode, "log", ",event");
 * console.log(new TextDecoder().decode(w.take()[0])); // "append log 0 0 6\r\n,event\r\n"
 * ```
 */
export type TextStoreMode = "set" | "add" | "replace" | "append" | "prepend" | "cas";

/**
 * Options of {@linkcode encodeTextStore}.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeTextStore, type TextStoreOptions } from "@mica/memcached/protocol";
 *
 * const options: TextStoreOptions = { flags: 4, exptime: 3600, noreply: true };
 * const w = new ByteWriter();
 * encodeTextStore(w, "set", "k", "v", options);
 * console.log(new TextDecoder().decode(w.take()[0])); // "set k 4 3600 1 noreply\r\nv\r\n"
 * ```
 */
export interface TextStoreOptions {
  /**
   * 32-bit client flags, stored with the item and returned by `get`. memcached ignores them
   * for `append` and `prepend`.
   * @default {0}
   */
  flags?: number;
  /**
   * Expiration time: 0 for none, seconds from now up to 30 days (2,592,000), else an absolute
   * Unix time; a negative value expires the item at once. An integer in -2^31..2^31-1, because
   * memcached silently truncates anything wider to 32 bits. memcached ignores it for `append`
   * and `prepend`.
   * @default {0}
   */
  exptime?: number;
  /** The CAS token from a `gets` reply: required with mode `"cas"`, refused with any other. */
  cas?: bigint;
  /**
   * Ask the server not to reply (`noreply`). Use with care: the reply of a request the server
   * cannot parse still arrives.
   * @default {false}
   */
  noreply?: boolean;
}

/**
 * Options of {@linkcode encodeTextGet}.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeTextGet, type TextGetOptions } from "@mica/memcached/protocol";
 *
 * const options: TextGetOptions = { cas: true, touch: 300 };
 * const w = new ByteWriter();
 * encodeTextGet(w, ["a", "b"], options);
 * console.log(new TextDecoder().decode(w.take()[0])); // "gats 300 a b\r\n"
 * ```
 */
export interface TextGetOptions {
  /**
   * Return each item's CAS token (`gets`, or `gats` with `touch`).
   * @default {false}
   */
  cas?: boolean;
  /**
   * Also set each found item's expiration time to this (`gat`, or `gats` with `cas`); same
   * range and meaning as {@linkcode TextStoreOptions.exptime}.
   * @default {undefined}
   */
  touch?: number;
}

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
  const size = isString ? utf8Length(data) : data.length;
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

// ---------------------------------------------------------------------------------------------
// Decoder

/**
 * What a text-protocol reply is, by its first word (`NUMBER`: an `incr`/`decr` result).
 *
 * @example
 * ```ts
 * import { TextResponseDecoder, type TextResponseStatus } from "@mica/memcached/protocol";
 *
 * function stored(status: TextResponseStatus): boolean {
 *   return status === "STORED"; // NOT_STORED, EXISTS or NOT_FOUND otherwise
 * }
 * const d = new TextResponseDecoder();
 * d.feed(new TextEncoder().encode("STORED\r\nNOT_STORED\r\n"));
 * console.log(stored(d.next()!.status), stored(d.next()!.status)); // true false
 * ```
 */
export type TextResponseStatus =
  | "VALUE"
  | "END"
  | "STORED"
  | "NOT_STORED"
  | "EXISTS"
  | "NOT_FOUND"
  | "DELETED"
  | "TOUCHED"
  | "OK"
  | "NUMBER"
  | "VERSION"
  | "STATS"
  | "ERROR"
  | "CLIENT_ERROR"
  | "SERVER_ERROR";

/**
 * One complete text-protocol reply. Fields a reply did not carry have their empty value.
 *
 * @example
 * ```ts
 * import { type TextResponse, TextResponseDecoder } from "@mica/memcached/protocol";
 *
 * const d = new TextResponseDecoder();
 * d.feed(new TextEncoder().encode("VALUE k 0 2\r\nhi\r\nEND\r\n42\r\n"));
 * const replies: TextResponse[] = [];
 * for (let r = d.next(); r !== undefined; r = d.next()) replies.push(r);
 * console.log(replies.map((r) => r.status)); // ["VALUE", "END", "NUMBER"]
 * console.log(replies[2]?.number); // 42n
 * ```
 */
export interface TextResponse {
  /** The reply's kind. */
  status: TextResponseStatus;
  /** The key of a `VALUE` reply, one character per byte (the form of a `WireKey`). */
  key: string | undefined;
  /** The client flags of a `VALUE` reply; 0 otherwise. */
  flags: number;
  /** The CAS token of a `VALUE` reply to `gets` or `gats`. */
  cas: bigint | undefined;
  /** The data of a `VALUE` reply. */
  value: Uint8Array | undefined;
  /**
   * Whether `value` is a view into the decoder's receive buffer (only when the decoder was made
   * with `copyValues: false`): it is then valid only until the next `feed()` or `next()`, and a
   * caller that keeps it must copy it.
   */
  borrowed: boolean;
  /** The new value of a `NUMBER` reply (`incr`/`decr`), exact. */
  number: bigint | undefined;
  /** The text of an `ERROR`, `CLIENT_ERROR` or `SERVER_ERROR` reply, or the version string. */
  message: string;
  /** The statistics of a `STAT ... END` block (status `STATS`). */
  stats: Map<string, string> | undefined;
}

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
      if (c0 === 83 && startsWith(buf, from, to, "STAT ")) return this.#stat(buf, from + 5, to);
      if (isWord(buf, from, to, "END")) {
        const r = this.#response("STATS");
        r.stats = this.#stats;
        this.#stats = undefined;
        return r;
      }
      throw protocolError(`expected STAT or END, got ${excerpt(buf, from, to)}`);
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
    let j = from;
    while (j < to && buf[j] !== SP) j++;
    if (j === from || j >= to) throw protocolError("VALUE without a key and flags");
    const keyEnd = j;
    let i = j + 1;
    j = i;
    while (j < to && buf[j] !== SP) j++;
    const flags = parseUint(buf, i, j);
    if (flags < 0 || flags > MAX_U32) {
      throw protocolError(`VALUE with bad client flags ${excerpt(buf, i, j)}`);
    }
    if (j >= to) throw protocolError("VALUE without a size");
    i = j + 1;
    j = i;
    while (j < to && buf[j] !== SP) j++;
    const size = parseUint(buf, i, j);
    if (size < 0) throw protocolError(`VALUE with a bad size ${excerpt(buf, i, j)}`);
    if (size > this.#maxValue) {
      throw protocolError(`a value of ${size} bytes is over the ${this.#maxValue}-byte limit`);
    }
    let cas: bigint | undefined;
    if (j < to) {
      cas = parseU64(buf, j + 1, to);
      if (cas === undefined) {
        throw protocolError(`VALUE with a bad CAS token ${excerpt(buf, j, to)}`);
      }
    }
    const r = this.#response("VALUE");
    // A small value's key is sliced from one decode of the bytes from here on (kept for the
    // following replies, and the text valueText() slices small values from); a large value's is
    // built byte by byte, rather than decoding up to 16 KiB of the value to slice a key from it.
    r.key = size <= TEXT_SLICE_MAX ? this.#rx.latin1At(from, keyEnd) : latin1(buf, from, keyEnd);
    r.flags = flags;
    r.cas = cas;
    if (this.#rx.frameValue(r, size, this.#copy)) return r;
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
