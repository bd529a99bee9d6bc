/**
 * Request encoders for memcached's meta protocol (`mg`, `ms`, `md`, `ma`, `mn`) and the plain
 * commands (`version`, `flush_all`, `stats`, `verbosity`, `quit`). Each writes one complete
 * request into a {@linkcode ByteWriter}. Keys must already be validated by `encodeKey`; every
 * other argument is validated here, so a bad number can never corrupt the stream.
 *
 * @module
 */

import { MemcachedError } from "../../errors.ts";
import { argError, checkU32, checkU64, MAX_U32, STATS_GROUP } from "../_encode.ts";
import type { WireKey } from "../keys.ts";
import type { ByteWriter } from "../writer.ts";
import type {
  MetaArithmeticOptions,
  MetaDeleteOptions,
  MetaGetOptions,
  MetaSetOptions,
  SetMode,
} from "./types.ts";

/** The return flags of `mg` for every combination of value, flags, cas and ttl (bit 0..3). */
const GET_FLAGS: readonly string[] = Array.from(
  { length: 16 },
  (_, m) => (m & 1 ? " v" : "") + (m & 2 ? " f" : "") + (m & 4 ? " c" : "") + (m & 8 ? " t" : ""),
);
/** The same followed by `" q"` and/or `" O"` (bits 4 and 5), so a plain `mg` is one write. */
const GET_FLAGS_TAIL: readonly string[] = Array.from(
  { length: 64 },
  (_, m) => GET_FLAGS[m & 15]! + (m & 16 ? " q" : "") + (m & 32 ? " O" : ""),
);

function checkTtl(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MemcachedError(
      "INVALID_TTL",
      `Cannot encode TTL: ${n} is not a non-negative integer`,
    );
  }
}

function writeKey(w: ByteWriter, key: WireKey, base64: boolean): void {
  w.ascii(key);
  if (base64) w.ascii(" b");
}

function checkOpaque(opaque: number): void {
  if (opaque !== -1 && !(Number.isInteger(opaque) && opaque >= 0 && opaque <= MAX_U32)) {
    throw argError("opaque token", `${opaque} is not -1 or an integer in 0..4294967295`);
  }
}

function opaqueFlag(w: ByteWriter, opaque: number): void {
  if (opaque < 0) return;
  w.ascii(" O");
  w.uint(opaque);
}

/**
 * Writes `mg <key> <flags>*`.
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text.
 * @param options Which fields to return and whether to touch.
 * @param opaque An opaque token echoed by the server, or -1 for none.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaGet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaGet(w, "foo", false, { value: true, flags: true }, 7);
 * console.log(new TextDecoder().decode(w.take()[0])); // "mg foo v f O7\r\n"
 * ```
 */
export function encodeMetaGet(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  options: MetaGetOptions,
  opaque: number,
): void {
  const { touch, vivify, recache } = options;
  if (touch !== undefined) checkTtl(touch);
  if (vivify !== undefined) checkTtl(vivify);
  if (recache !== undefined) checkTtl(recache);
  checkOpaque(opaque);
  w.ascii("mg ");
  writeKey(w, key, base64);
  const mask = (options.value ? 1 : 0) | (options.flags ? 2 : 0) | (options.cas ? 4 : 0) |
    (options.ttl ? 8 : 0);
  if (touch !== undefined || vivify !== undefined || recache !== undefined) {
    w.ascii(GET_FLAGS[mask]!);
    if (touch !== undefined) {
      w.ascii(" T");
      w.uint(touch);
    }
    if (vivify !== undefined) {
      w.ascii(" N");
      w.uint(vivify);
    }
    if (recache !== undefined) {
      w.ascii(" R");
      w.uint(recache);
    }
    if (options.quiet) w.ascii(" q");
    opaqueFlag(w, opaque);
  } else {
    // The common case: every flag and the opaque marker in one write.
    w.ascii(GET_FLAGS_TAIL[mask | (options.quiet ? 16 : 0) | (opaque >= 0 ? 32 : 0)]!);
    if (opaque >= 0) w.uint(opaque);
  }
  w.crlf();
}

const MODE_LETTER: Record<SetMode, string> = {
  set: "",
  add: " ME",
  replace: " MR",
  append: " MA",
  prepend: " MP",
};

/**
 * Writes `ms <key> <datalen> <flags>*\r\n<data>\r\n`. The data is framed by its length.
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text.
 * @param data The value: bytes (not copied when large), or a string written as UTF-8.
 * @param options Mode, TTL, client flags, CAS, invalidate, quiet.
 * @param opaque An opaque token echoed by the server, or -1 for none.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaSet } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaSet(w, "foo", false, new TextEncoder().encode("hi"), { ttl: 60 }, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ms foo 2 T60\r\nhi\r\n"
 * ```
 */
export function encodeMetaSet(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  data: Uint8Array | string,
  options: MetaSetOptions,
  opaque: number,
): void {
  const mode = options.mode ?? "set";
  // Own keys only: an inherited name such as "constructor" must not pass as a mode.
  const modeLetter = Object.hasOwn(MODE_LETTER, mode) ? MODE_LETTER[mode] : undefined;
  if (modeLetter === undefined) throw argError("ms", `unknown mode ${String(mode)}`);
  if (options.ttl !== undefined) checkTtl(options.ttl);
  if (options.flags !== undefined) checkU32("client flags", options.flags);
  if (options.cas !== undefined) checkU64("CAS token", options.cas);
  checkOpaque(opaque);
  w.ascii("ms ");
  // The data length must follow the key directly; the `b` flag goes with the other flags.
  w.ascii(key);
  w.byte(32);
  const size = typeof data === "string" ? w.textLength(data) : data.length;
  w.uint(size);
  if (base64) w.ascii(" b");
  if (options.ttl) {
    // T0 (never expire) is memcached's default for a new item, so it is left out.
    w.ascii(" T");
    w.uint(options.ttl);
  }
  if (options.flags) {
    w.ascii(" F");
    w.uint(options.flags);
  }
  if (options.cas !== undefined) {
    w.ascii(" C");
    w.ascii(options.cas.toString());
  }
  w.ascii(modeLetter);
  if (options.invalidate) w.ascii(" I");
  if (options.quiet) w.ascii(" q");
  opaqueFlag(w, opaque);
  w.crlf();
  if (typeof data === "string") w.text(data, size);
  else w.bytes(data);
  w.crlf();
}

/**
 * Writes `md <key> <flags>*`.
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text.
 * @param options CAS, invalidate, quiet.
 * @param opaque An opaque token echoed by the server, or -1 for none.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaDelete } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaDelete(w, "foo", false, {}, 3);
 * console.log(new TextDecoder().decode(w.take()[0])); // "md foo O3\r\n"
 * ```
 */
export function encodeMetaDelete(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  options: MetaDeleteOptions,
  opaque: number,
): void {
  if (options.cas !== undefined) checkU64("CAS token", options.cas);
  if (options.ttl !== undefined) checkTtl(options.ttl);
  checkOpaque(opaque);
  w.ascii("md ");
  writeKey(w, key, base64);
  if (options.cas !== undefined) {
    w.ascii(" C");
    w.ascii(options.cas.toString());
  }
  if (options.invalidate) w.ascii(" I");
  if (options.ttl !== undefined) {
    w.ascii(" T");
    w.uint(options.ttl);
  }
  if (options.quiet) w.ascii(" q");
  opaqueFlag(w, opaque);
  w.crlf();
}

/**
 * Writes `ma <key> <flags>*` (increment or decrement, optionally creating the counter).
 *
 * @param w The output.
 * @param key A key from `encodeKey`.
 * @param base64 Whether `key` is base64 text.
 * @param options Mode, delta, initial value and TTLs.
 * @param opaque An opaque token echoed by the server, or -1 for none.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaArithmetic } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaArithmetic(w, "n", false, { delta: 5n, initial: 0n, autoCreateTtl: 0 }, -1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "ma n D5 N0 J0 v\r\n"
 * ```
 */
export function encodeMetaArithmetic(
  w: ByteWriter,
  key: WireKey,
  base64: boolean,
  options: MetaArithmeticOptions,
  opaque: number,
): void {
  const delta = options.delta ?? 1n;
  if (options.mode !== undefined && options.mode !== "incr" && options.mode !== "decr") {
    throw argError("ma", `unknown mode ${String(options.mode)}`);
  }
  checkU64("delta", delta);
  if (options.initial !== undefined) checkU64("initial value", options.initial);
  if (options.autoCreateTtl !== undefined) checkTtl(options.autoCreateTtl);
  if (options.ttl !== undefined) checkTtl(options.ttl);
  checkOpaque(opaque);
  w.ascii("ma ");
  writeKey(w, key, base64);
  if (options.mode === "decr") w.ascii(" MD");
  if (delta !== 1n) {
    w.ascii(" D");
    w.ascii(delta.toString());
  }
  if (options.initial !== undefined) {
    w.ascii(" N");
    w.uint(options.autoCreateTtl ?? 0);
    w.ascii(" J");
    w.ascii(options.initial.toString());
  }
  if (options.ttl !== undefined) {
    w.ascii(" T");
    w.uint(options.ttl);
  }
  if (options.value ?? true) w.ascii(" v");
  opaqueFlag(w, opaque);
  w.crlf();
}

/**
 * Writes `mn`, the meta no-op. The server answers `MN` after every earlier request, which marks
 * the end of a pipeline of quiet requests.
 *
 * @param w The output.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeMetaNoop } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaNoop(w);
 * console.log(w.length); // 4
 * ```
 */
export function encodeMetaNoop(w: ByteWriter): void {
  w.ascii("mn\r\n");
}

/**
 * Writes `get <key> <key> ...`: the classic text protocol's multi-key read, which memcached
 * answers on a meta connection as well: a `VALUE` reply per key found, in the order of the
 * keys, then `END` ({@linkcode ResponseDecoder} reads both). It is memcached's cheapest way to
 * read many keys: one line of a hundred keys costs it about half the CPU per key of a hundred
 * `mg` lines. memcached reads a `get` line of any length. Like the other meta encoders, it
 * writes its keys as they are: they must be wire forms from `encodeKey(key, false)` (a text
 * line has no `b` flag for base64 keys); `encodeTextGet` writes the same line after checking
 * every key.
 *
 * @param w The output.
 * @param keys The keys, at least one, each from `encodeKey(key, false)`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` when `keys` is empty.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeKey, encodeMultiGet, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMultiGet(w, ["a", "b", "c"].map((key) => encodeKey(key, false)));
 * console.log(new TextDecoder().decode(w.take()[0])); // "get a b c\r\n"
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n"));
 * console.log(d.next()?.key, d.next()?.key, d.next()?.status); // a c END
 * ```
 */
export function encodeMultiGet(w: ByteWriter, keys: readonly WireKey[]): void {
  const n = keys.length;
  if (n === 0) throw argError("get", "at least one key is required");
  w.ascii("get");
  for (let i = 0; i < n; i++) {
    w.byte(32);
    w.ascii(keys[i]!);
  }
  w.crlf();
}

/**
 * Writes `version`.
 *
 * @param w The output.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeVersion } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeVersion(w);
 * console.log(w.length); // 9
 * ```
 */
export function encodeVersion(w: ByteWriter): void {
  w.ascii("version\r\n");
}

/**
 * Writes `flush_all [delay]`.
 *
 * @param w The output.
 * @param delay Seconds to wait before the flush, or undefined for now.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeFlushAll } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeFlushAll(w, 10);
 * console.log(new TextDecoder().decode(w.take()[0])); // "flush_all 10\r\n"
 * ```
 */
export function encodeFlushAll(w: ByteWriter, delay?: number): void {
  if (delay !== undefined) checkTtl(delay);
  w.ascii("flush_all");
  if (delay !== undefined) {
    w.byte(32);
    w.uint(delay);
  }
  w.crlf();
}

/**
 * Writes `stats [group]`.
 *
 * @param w The output.
 * @param group A statistics group such as `"slabs"`, `"items"` or `"settings"`.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeStats } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeStats(w, "slabs");
 * console.log(new TextDecoder().decode(w.take()[0])); // "stats slabs\r\n"
 * ```
 */
export function encodeStats(w: ByteWriter, group?: string): void {
  if (group !== undefined && !STATS_GROUP.test(group)) {
    throw argError("stats", `${JSON.stringify(group)} is not a statistics group name`);
  }
  w.ascii("stats");
  if (group !== undefined) {
    w.byte(32);
    w.ascii(group);
  }
  w.crlf();
}

/**
 * Writes `verbosity <level>`.
 *
 * @param w The output.
 * @param level The server's log verbosity, 0..3 in practice.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeVerbosity } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeVerbosity(w, 1);
 * console.log(new TextDecoder().decode(w.take()[0])); // "verbosity 1\r\n"
 * ```
 */
export function encodeVerbosity(w: ByteWriter, level: number): void {
  checkU32("verbosity level", level);
  w.ascii("verbosity ");
  w.uint(level);
  w.crlf();
}

/**
 * Writes `quit`. The server closes the connection without a reply.
 *
 * @param w The output.
 *
 * @example
 * ```ts
 * import { ByteWriter, encodeQuit } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeQuit(w);
 * console.log(w.length); // 6
 * ```
 */
export function encodeQuit(w: ByteWriter): void {
  w.ascii("quit\r\n");
}
