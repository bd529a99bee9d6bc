/**
 * The shapes of the binary protocol: opcodes, reply statuses, the options of each encoder
 * and the reply the decoder returns. Types and constants only.
 *
 * @module
 */

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
