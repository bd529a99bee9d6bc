/**
 * The shapes of the classic text protocol: the options of each encoder and the reply the
 * decoder returns. Types only.
 *
 * @module
 */

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
  | "RESET"
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
