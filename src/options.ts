/**
 * The options of {@linkcode connect} and of every call, with their defaults and checks:
 * {@linkcode settings} turns what the caller passed into what the client and its cluster run
 * with, or throws `INVALID_ARGUMENT` naming the option.
 *
 * @module
 */

import { bunConnector } from "./adapters/bun.ts";
import { denoConnector } from "./adapters/deno.ts";
import { parseServer, type ServerAddress, type ServerSpec } from "./cluster/address.ts";
import type { ClusterOptions } from "./cluster/cluster.ts";
import type { Distribution } from "./cluster/ring.ts";
import type { ServerOptions } from "./cluster/server.ts";
import { Credentials } from "./connection/credentials.ts";
import { checkTls, type Connector, type TlsOptions } from "./connection/transport.ts";
import { type Dialect, dialectOf, type Protocol, type ValueMapper } from "./dialects/mod.ts";
import { MemcachedError } from "./errors.ts";
import { decodeBytes, decodeString, type Ttl, type Value, wireTtl } from "./protocol/values.ts";
import { type CompressionSettings, ValueCodec } from "./values/codec.ts";
import type { CompressionAlgorithm } from "./values/compression.ts";
import {
  customFormat,
  type FlagScheme,
  type Format,
  FORMATS,
  type Serializer,
} from "./values/formats.ts";

/**
 * Options of {@linkcode connect}. Every field is optional.
 *
 * @example
 * ```ts ignore
 * import { type ClientOptions, connect } from "@mica/memcached";
 *
 * const options: ClientOptions = {
 *   timeout: 250, // milliseconds per request
 *   poolSize: 2,
 *   failover: "eject", // a dead server's keys move to the live ones
 *   defaultTtl: 3600,
 * };
 * await using client = await connect(["10.0.0.1:11211", "10.0.0.2:11211"], options);
 * ```
 */
export interface ClientOptions {
  /**
   * Milliseconds a request may take, from the call until its reply is read, unless the call
   * passes its own `timeout`. A connection that sends nothing for this long while requests are
   * overdue is dropped and replaced.
   * @default {1000}
   */
  timeout?: number;
  /**
   * Milliseconds to open a connection.
   * @default {1000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds a graceful {@linkcode Client.close} waits for pending requests.
   * @default {5000}
   */
  closeTimeout?: number;
  /**
   * Requests written and not yet answered on a connection, at most (a `getMany` counts once).
   * Further requests wait in the queue: this is the pipelining depth.
   * @default {256}
   */
  maxInFlight?: number;
  /**
   * Requests waiting to be written, at most; beyond it calls reject with `QUEUE_FULL`.
   * @default {100000}
   */
  maxQueued?: number;
  /**
   * The largest value in bytes that may be stored or read (memcached's default item size is
   * 1 MiB; raise this with the server's `-I`).
   * @default {1048576}
   */
  maxValueSize?: number;
  /**
   * How values are stored: a flag scheme (`"mica"`; `"php"`, `"pylibmc"` or `"pymemcache"` to
   * share items with those clients, see the README's flags table) or a custom
   * {@linkcode Serializer}. With `"mica"`, strings and bytes keep their type and anything else is
   * stored as JSON. Reads decode by the item's flags; `as: "string" | "bytes"` returns the
   * stored data as it is.
   * @default {"mica"}
   */
  serializer?: FlagScheme | Serializer;
  /**
   * Compress stored values of at least `threshold` bytes when that makes them smaller: `true`
   * for deflate (zlib format) above 2000 bytes, or `{ algorithm, threshold, level }`. Marked in
   * the flags the scheme uses for it (`"zstd"` only with `"mica"` and `"php"`). Compressed items
   * are read back whatever this option says.
   * @default {false}
   */
  compression?: boolean | CompressionOptions;
  /**
   * The most bytes a compressed item may expand to when read (beyond it the read fails with
   * `VALUE_TOO_LARGE` instead of inflating a decompression bomb); values larger than this are
   * not stored compressed.
   * @default {16777216}
   */
  maxDecompressedSize?: number;
  /**
   * Send keys base64-encoded (meta `b` flag), so a key may hold any bytes (up to 186).
   * @default {false}
   */
  base64Keys?: boolean;
  /**
   * Disable Nagle's algorithm on TCP connections.
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * The TTL of stores that do not pass one: seconds, or 0 for no expiry.
   * @default {0}
   */
  defaultTtl?: number;
  /**
   * How keys are spread over several servers, each as libmemcached does it, so that clients in
   * other languages agree on every key's server: `"ketama"` (weighted consistent hashing with
   * MD5: php-memcached's `OPT_LIBKETAMA_COMPATIBLE`, pylibmc's `ketama_weighted`),
   * `"consistent"` (unweighted consistent hashing: pylibmc's `ketama: True`, php-memcached's
   * `DISTRIBUTION_CONSISTENT`) or `"modula"` (libmemcached's default: the key hash modulo the
   * server count).
   * @default {"ketama"}
   */
  distribution?: Distribution;
  /**
   * The key hash of the distribution: `"md5"` or `"one_at_a_time"` (libmemcached's default
   * hash; pylibmc's `hash: "md5"` and `"default"`).
   * @default {"md5" for ketama, "one_at_a_time" for consistent and modula}
   */
  hash?: "md5" | "one_at_a_time";
  /**
   * A namespace sent in front of every key (libmemcached's `MEMCACHED_CALLBACK_PREFIX_KEY`,
   * php-memcached's `OPT_PREFIX_KEY`): at most 128 bytes, no spaces or control characters. It
   * counts towards the 250-byte key limit. Results and `failed` maps use the keys as given.
   * @default {""}
   */
  prefix?: string;
  /**
   * Hash the prefix with the key to choose the server (libmemcached's
   * `MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY`). Off, as in libmemcached: a key's server does
   * not depend on the prefix.
   * @default {false}
   */
  hashPrefix?: boolean;
  /**
   * What happens to a key whose wire form (prefix included) is over 250 bytes (over 186 bytes
   * with `base64Keys`): `"reject"` with `INVALID_KEY`, or `"hash"`: it is replaced by the
   * 32-character lowercase hex MD5 of its bytes (behind the prefix), which is sent and hashed.
   * @default {"reject"}
   */
  longKeys?: "reject" | "hash";
  /**
   * What happens to keys of a dead server: `"fail-fast"` rejects them at once with
   * `SERVER_DEAD` (no key moves, so no stale copies appear elsewhere); `"eject"` rebuilds the
   * ring without the server so its keys move to live servers, and again when it returns
   * (libmemcached's auto-eject).
   * @default {"fail-fast"}
   */
  failover?: "fail-fast" | "eject";
  /**
   * Connections per server, at most; a request goes to the one with the fewest pending
   * requests, and a new one opens (up to this many) when all are busy. One pipelined
   * connection is usually fastest.
   * @default {1}
   */
  poolSize?: number;
  /**
   * Open all `poolSize` connections of every server when the client opens (`connect()` or
   * `open()`), instead of one per server with the rest on demand.
   * @default {false}
   */
  eager?: boolean;
  /**
   * Connection failures in a row (refused, connect timeout, reset, silent) after which a server
   * is marked dead. Any reply resets the count.
   * @default {3}
   */
  failureLimit?: number;
  /**
   * Milliseconds a dead server is left alone before the first probe (`version` on a fresh
   * connection). Failed probes back off exponentially, with jitter, up to `maxRetryTimeout`.
   * @default {2000}
   */
  retryTimeout?: number;
  /**
   * The longest wait between probes of a dead server, in milliseconds.
   * @default {30000}
   */
  maxRetryTimeout?: number;
  /**
   * Milliseconds without a request after which a connection is closed (it reopens on demand);
   * 0 keeps connections open.
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * The wire protocol: `"meta"` (memcached 1.6+, opaque-matched), `"text"` (the classic ASCII
   * protocol, for proxies and older servers) or `"binary"` (needed for SASL). The API is the
   * same; what a protocol cannot express safely rejects with `UNSUPPORTED`.
   * @default {"meta"}
   */
  protocol?: Protocol;
  /**
   * Connect with TLS: `true` for the system's trusted CAs, or settings (`ca`, `serverName`,
   * `cert` and `key` for mutual TLS). The certificate and its name are always verified.
   * @default {false}
   */
  tls?: boolean | TlsOptions;
  /**
   * User name for SASL PLAIN (binary protocol) or ASCII authentication (text and meta
   * protocols, memcached `-Y`); each new connection authenticates before its first request.
   * Credentials in an address (`"user:pass@host:port"`) take precedence for that server.
   */
  username?: string;
  /** The password of `username`. It never appears in errors, events or inspection output. */
  password?: string;
  /**
   * Count hits, misses, calls, errors and a latency histogram per command, for
   * {@linkcode Client.metrics}. Traces through `node:diagnostics_channel` need no option: they
   * start when something subscribes.
   * @default {false}
   */
  metrics?: boolean;
  /**
   * The runtime adapter that opens sockets. By default the one for the runtime Mica runs in
   * (`denoConnector` on Deno, `bunConnector` on Bun).
   */
  connector?: Connector;
}

/**
 * Settings of {@linkcode ClientOptions.compression}.
 *
 * @example
 * ```ts
 * import { Client, type CompressionOptions } from "@mica/memcached";
 *
 * const compression: CompressionOptions = { algorithm: "zstd", threshold: 4096 };
 * using client = new Client("127.0.0.1:11211", { compression });
 * console.log(client.servers); // ["127.0.0.1:11211"]
 * ```
 */
export interface CompressionOptions {
  /**
   * `"deflate"` (the zlib format, which php-memcached and the Python clients read) or `"zstd"`.
   * @default {"deflate"}
   */
  algorithm?: CompressionAlgorithm;
  /**
   * Values of at least this many bytes are compressed (php-memcached's default threshold).
   * @default {2000}
   */
  threshold?: number;
  /** The deflate level, 0..9; zlib's default (6) when unset. */
  level?: number;
}

/**
 * Options every request takes.
 *
 * @example Giving up when the HTTP client does
 * ```ts ignore
 * import { connect, type RequestOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * Deno.serve(async (request) => {
 *   const options: RequestOptions = { timeout: 50, signal: request.signal };
 *   const renewed = await client.touch("session:1", 1800, options);
 *   return new Response(renewed ? "renewed" : "expired");
 * });
 * ```
 */
export interface RequestOptions {
  /** Milliseconds for this request; defaults to the client's `timeout`. */
  timeout?: number;
  /** Cancels the request: it rejects with `ABORTED` and, if not yet written, is never sent. */
  signal?: AbortSignal;
}

/**
 * Options of reads.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: GetOptions = { as: "bytes", timeout: 100 };
 * const avatar = await client.get("avatar:42", options); // a Uint8Array, whatever its flags
 * ```
 */
export interface GetOptions extends RequestOptions {
  /**
   * How to return the value: `"auto"` by its client flags (text for flags 0, bytes otherwise),
   * or always as `"string"` or `"bytes"`.
   * @default {"auto"}
   */
  as?: "auto" | "string" | "bytes";
}

/**
 * Options of stores.
 *
 * @example
 * ```ts ignore
 * import { connect, type SetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: SetOptions = { ttl: 600, timeout: 100 };
 * await client.set("page:/", "<html></html>", options);
 * // Raw client flags, for an item another client reads.
 * await client.set("legacy:1", "42", { flags: 1, ttl: new Date("2030-01-01T00:00:00Z") });
 * ```
 */
export interface SetOptions extends RequestOptions {
  /** Seconds (0 = never) or a `Date`; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /**
   * Raw 32-bit client flags to store instead of Mica's type flag (for sharing items with
   * other clients). A value stored with flags other than 0 reads back as bytes under `"auto"`.
   */
  flags?: number;
}

/**
 * Options of {@linkcode Client.incr} and {@linkcode Client.decr}.
 *
 * @example A daily counter
 * ```ts ignore
 * import { connect, type IncrOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: IncrOptions = { initial: 1, ttl: 86400 }; // a missing counter starts at 1
 * console.log(await client.incr("hits:2030-01-01", 1, options)); // 1n, then 2n, ...
 * ```
 */
export interface IncrOptions extends RequestOptions {
  /** Create a missing counter with this value (the delta is not applied to it). */
  initial?: number | bigint;
  /** TTL of a counter created from `initial`; 0 = never expire. */
  ttl?: Ttl;
}

/**
 * Options of {@linkcode Client.flush}.
 *
 * @example
 * ```ts ignore
 * import { connect, type FlushOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: FlushOptions = { server: "127.0.0.1:11212", delay: 10 };
 * await client.flush(options); // that server only, in 10 seconds
 * ```
 */
export interface FlushOptions extends RequestOptions {
  /** Seconds before the flush takes effect. */
  delay?: number;
  /** Flush only this server (`host:port` as configured); by default every live server. */
  server?: string;
}

/**
 * Options of commands aimed at one server: `version`, `stats`, `verbosity`.
 *
 * @example
 * ```ts ignore
 * import { connect, type ServerOptionsArg } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: ServerOptionsArg = { server: "127.0.0.1:11212", timeout: 500 };
 * console.log(await client.version(options));
 * console.log((await client.stats("settings", options)).get("maxconns"));
 * ```
 */
export interface ServerOptionsArg extends RequestOptions {
  /** The server (`host:port` or socket path, as configured); by default the first live one. */
  server?: string;
}

/**
 * Options of {@linkcode Client.getMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetManyOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: GetManyOptions = { allOrNothing: true, as: "string" };
 * const found = await client.getMany(["a", "b", "c"], options); // rejects if a server fails
 * ```
 */
export interface GetManyOptions extends GetOptions {
  /**
   * Reject the whole call if any server fails, instead of reporting that server's keys in
   * {@linkcode GetManyResult.failed}.
   * @default {false}
   */
  allOrNothing?: boolean;
}

/**
 * Options of {@linkcode Client.getOrSet}.
 *
 * @example
 * ```ts ignore
 * import { connect, type GetOrSetOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: GetOrSetOptions = { ttl: 300, recacheBefore: 30, leaseTtl: 10 };
 * const page = await client.getOrSet("page:/", () => render("/"), options);
 * ```
 */
export interface GetOrSetOptions extends RequestOptions {
  /** TTL of the loaded value; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /**
   * Seconds a lease lives (meta `N`): the placeholder a caller holds while it loads; if that
   * caller dies, the next caller takes over once it expires.
   * @default {30}
   */
  leaseTtl?: number;
  /**
   * Seconds before expiry at which one caller refreshes the value early, in the background,
   * while every caller keeps getting it (meta `R`); off when unset.
   */
  recacheBefore?: number;
  /**
   * Milliseconds a caller waits for another caller's lease before loading the value itself.
   * @default {leaseTtl * 1000}
   */
  waitTimeout?: number;
}

/**
 * Options of {@linkcode Client.invalidate}.
 *
 * @example
 * ```ts ignore
 * import { connect, type InvalidateOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: InvalidateOptions = { staleTtl: 60 };
 * await client.invalidate("page:/", options); // served stale for up to a minute while it refreshes
 * ```
 */
export interface InvalidateOptions extends RequestOptions {
  /**
   * Seconds the stale item lives on (meta `md I T`): long enough for one caller to refresh it.
   * @default {30}
   */
  staleTtl?: number;
}

/**
 * Options of {@linkcode Client.deleteMany} and {@linkcode Client.touchMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type WriteManyOptions } from "@mica/memcached";
 *
 * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
 * const options: WriteManyOptions = { allOrNothing: true, timeout: 500 };
 * await client.deleteMany(["a", "b", "c"], options); // rejects if any key failed
 * ```
 */
export interface WriteManyOptions extends RequestOptions {
  /**
   * Reject the whole call if any key failed (its server failed, or answered it with an error),
   * instead of reporting the keys in {@linkcode WriteManyResult.failed}. Keys of other servers
   * may have been written all the same.
   * @default {false}
   */
  allOrNothing?: boolean;
}

/**
 * Options of {@linkcode Client.setMany}.
 *
 * @example
 * ```ts ignore
 * import { connect, type SetManyOptions } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const options: SetManyOptions = { ttl: 300, allOrNothing: true };
 * await client.setMany([["a", "1"], ["b", "2"]], options);
 * ```
 */
export interface SetManyOptions extends WriteManyOptions {
  /** Seconds (0 = never) or a `Date`, for every entry; defaults to the client's `defaultTtl`. */
  ttl?: Ttl;
  /** Raw client flags for every entry instead of Mica's type flag of each value. */
  flags?: number;
}

/**
 * Options of {@linkcode Client.close}.
 *
 * @example
 * ```ts
 * import { Client, type CloseOptions } from "@mica/memcached";
 *
 * const client = new Client("127.0.0.1:11211");
 * const options: CloseOptions = { timeout: 500 }; // pending requests get half a second
 * await client.close(options);
 * console.log(client.closed); // true
 * ```
 */
export interface CloseOptions {
  /** Milliseconds to wait for pending requests; defaults to the client's `closeTimeout`. */
  timeout?: number;
}

/**
 * A value with its CAS token and client flags, from {@linkcode Client.gets}.
 *
 * @example
 * ```ts ignore
 * import { connect, type Item } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * const item: Item | undefined = await client.gets("config", { as: "string" });
 * if (item !== undefined) {
 *   console.log(item.value, item.flags);
 *   await client.cas("config", `${item.value};v2`, item.cas);
 * }
 * ```
 */
export interface Item<T = Value> {
  /** The value, read by the client's serializer, or as {@linkcode GetOptions.as} says. */
  value: T;
  /** The CAS token to pass to {@linkcode Client.cas}. */
  cas: bigint;
  /** The raw 32-bit client flags. */
  flags: number;
}

export const DEFAULTS = {
  leaseTtl: 30,
  staleTtl: 30,
  maxDecompressedSize: 16 * 1024 * 1024,
  compressionThreshold: 2000,
  timeout: 1000,
  connectTimeout: 1000,
  closeTimeout: 5000,
  maxInFlight: 256,
  maxQueued: 100_000,
  maxValueSize: 1024 * 1024,
  base64Keys: false,
  noDelay: true,
  defaultTtl: 0,
  poolSize: 1,
  eager: false,
  failureLimit: 3,
  retryTimeout: 2000,
  maxRetryTimeout: 30_000,
  idleTimeout: 0,
} as const;

/** How many key placements `Client` remembers. */

export function integer(name: string, value: number | undefined, fallback: number): number {
  const n = positive(name, value, fallback);
  if (!Number.isInteger(n)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${n} is not an integer`,
    );
  }
  return n;
}

function oneOf<T extends string>(
  name: string,
  value: T | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`,
    );
  }
  return value;
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${String(value)} is not a positive number`,
    );
  }
  return value;
}

function flag(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${String(value)} is not a boolean`,
    );
  }
  return value;
}

/** The authentication each new connection runs first, for a protocol. */

function tlsOptions(value: boolean | TlsOptions | undefined): TlsOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  checkTls(value, "Cannot use option tls");
  return { ...value };
}

function serializerFormat(value: FlagScheme | Serializer | undefined): Format {
  if (value === undefined) return FORMATS.mica;
  if (typeof value === "string" && Object.hasOwn(FORMATS, value)) return FORMATS[value];
  if (
    typeof value === "object" && value !== null && typeof value.serialize === "function" &&
    typeof value.deserialize === "function"
  ) {
    return customFormat(value);
  }
  throw new MemcachedError(
    "INVALID_ARGUMENT",
    `Cannot use option serializer: ${JSON.stringify(value) ?? String(value)} is not one of ` +
      `${Object.keys(FORMATS).join(", ")} or an object with serialize() and deserialize()`,
  );
}

function compressionSettings(
  value: boolean | CompressionOptions | undefined,
): CompressionSettings | undefined {
  if (value === undefined || value === false) return undefined;
  const options: CompressionOptions = value === true ? {} : value;
  if (typeof options !== "object" || options === null) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option compression: ${String(value)} is not a boolean or an object`,
    );
  }
  const level = options.level;
  if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 9)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option compression.level: ${String(level)} is not an integer in 0..9`,
    );
  }
  return {
    algorithm: oneOf("compression.algorithm", options.algorithm, ["deflate", "zstd"], "deflate"),
    threshold: integer("compression.threshold", options.threshold, DEFAULTS.compressionThreshold),
    level,
  };
}

function defaultConnector(): Connector {
  const g = globalThis as Record<string, unknown>;
  if (g.Bun !== undefined) return bunConnector;
  if (g.Deno !== undefined) return denoConnector;
  throw new MemcachedError(
    "INVALID_ARGUMENT",
    "Cannot connect: no adapter for this runtime (Mica runs on Deno and Bun); pass `connector`",
  );
}

const mapString: ValueMapper<Value> = decodeString;
const mapBytes: ValueMapper<Value> = decodeBytes;
const itemString: ValueMapper<Item> = (r, text) => ({
  value: decodeString(r, text),
  cas: r.cas!,
  flags: r.flags,
});
const itemBytes: ValueMapper<Item> = (r) => ({
  value: decodeBytes(r),
  cas: r.cas!,
  flags: r.flags,
});

function unknownAs(as: unknown): MemcachedError {
  return new MemcachedError("INVALID_ARGUMENT", `Cannot get: unknown \`as\` ${String(as)}`);
}

/**
 * The value readers of one client: `as: "auto"` (the default) reads through its codec, by the
 * item's flags; `"string"` and `"bytes"` return the stored data as it is. A reader never throws:
 * a value its codec cannot read comes back as a `MemcachedError` for the request to report.
 */
export class Readers {
  readonly #auto: ValueMapper<unknown>;
  readonly #itemAuto: ValueMapper<Item<unknown> | MemcachedError>;

  constructor(codec: ValueCodec) {
    const decode = codec.decode;
    this.#auto = decode;
    this.#itemAuto = (r, text) => {
      const value = decode(r, text);
      return value instanceof MemcachedError ? value : { value, cas: r.cas!, flags: r.flags };
    };
  }

  /** The reader of values for `as`. @throws {MemcachedError} `INVALID_ARGUMENT`. */
  value(as: GetOptions["as"]): ValueMapper<unknown> {
    if (as === undefined || as === "auto") return this.#auto;
    if (as === "string") return mapString;
    if (as === "bytes") return mapBytes;
    throw unknownAs(as);
  }

  /** The reader of items (`gets`) for `as`. @throws {MemcachedError} `INVALID_ARGUMENT`. */
  item(as: GetOptions["as"]): ValueMapper<Item<unknown> | MemcachedError> {
    if (as === undefined || as === "auto") return this.#itemAuto;
    if (as === "string") return itemString;
    if (as === "bytes") return itemBytes;
    throw unknownAs(as);
  }
}

/** What a client runs with, from its address and options (see {@linkcode settings}). */
export interface Settings {
  readonly timeout: number;
  readonly closeTimeout: number;
  readonly maxValueSize: number;
  readonly base64: boolean;
  readonly defaultTtl: number;
  readonly dialect: Dialect;
  readonly codec: ValueCodec;
  readonly protocol: Protocol;
  readonly metrics: boolean;
  readonly specs: readonly ServerSpec[];
  readonly cluster: Omit<ClusterOptions, "emit">;
}

/**
 * Checks a client's address and options and fills in the defaults.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option; `UNSUPPORTED` for
 * an option the protocol cannot honour.
 */
export function settings(
  address: ServerAddress | readonly ServerAddress[],
  options: ClientOptions,
): Settings {
  const list: readonly ServerAddress[] = Array.isArray(address) ? address : [address];
  if (list.length === 0) {
    throw new MemcachedError("INVALID_ARGUMENT", "Cannot create client: the server list is empty");
  }
  const specs = list.map((entry) => parseServer(entry));
  const timeout = positive("timeout", options.timeout, DEFAULTS.timeout);
  const connectTimeout = positive(
    "connectTimeout",
    options.connectTimeout,
    DEFAULTS.connectTimeout,
  );
  const closeTimeout = positive("closeTimeout", options.closeTimeout, DEFAULTS.closeTimeout);
  const maxValueSize = positive("maxValueSize", options.maxValueSize, DEFAULTS.maxValueSize);
  const base64 = flag("base64Keys", options.base64Keys, DEFAULTS.base64Keys);
  const defaultTtl = options.defaultTtl ?? DEFAULTS.defaultTtl;
  wireTtl(defaultTtl, 0); // validates; converted at each store, as it may be relative
  const distribution = oneOf(
    "distribution",
    options.distribution,
    ["ketama", "consistent", "modula"],
    "ketama",
  );
  const hash = options.hash === undefined
    ? undefined
    : oneOf("hash", options.hash, ["md5", "one_at_a_time"], "md5");
  const keys = {
    prefix: options.prefix ?? "",
    hashPrefix: flag("hashPrefix", options.hashPrefix, false),
    longKeys: oneOf("longKeys", options.longKeys, ["reject", "hash"], "reject"),
    base64,
  };
  const failover = oneOf("failover", options.failover, ["fail-fast", "eject"], "fail-fast");
  const protocol = oneOf("protocol", options.protocol, ["meta", "text", "binary"], "meta");
  const dialect = dialectOf(protocol);
  if (protocol === "text" && base64) {
    throw new MemcachedError(
      "UNSUPPORTED",
      'Cannot use base64Keys with protocol "text": it has no base64 keys (use "meta" or "binary")',
    );
  }
  const codec = new ValueCodec(
    serializerFormat(options.serializer),
    compressionSettings(options.compression),
    maxValueSize,
    positive("maxDecompressedSize", options.maxDecompressedSize, DEFAULTS.maxDecompressedSize),
  );
  const tls = tlsOptions(options.tls);
  const shared = options.username === undefined && options.password === undefined
    ? undefined
    : Credentials.from(options.username as string, options.password ?? "");
  const server: ServerOptions = {
    poolSize: integer("poolSize", options.poolSize, DEFAULTS.poolSize),
    eager: flag("eager", options.eager, DEFAULTS.eager),
    failureLimit: integer("failureLimit", options.failureLimit, DEFAULTS.failureLimit),
    retryTimeout: positive("retryTimeout", options.retryTimeout, DEFAULTS.retryTimeout),
    maxRetryTimeout: positive("maxRetryTimeout", options.maxRetryTimeout, DEFAULTS.maxRetryTimeout),
    idleTimeout: options.idleTimeout === 0
      ? 0
      : positive("idleTimeout", options.idleTimeout, DEFAULTS.idleTimeout),
    connectTimeout,
    timeout,
    connector: options.connector ?? defaultConnector(),
    probe: dialect.version,
    connection: {
      maxInFlight: positive("maxInFlight", options.maxInFlight, DEFAULTS.maxInFlight),
      maxQueued: positive("maxQueued", options.maxQueued, DEFAULTS.maxQueued),
      stallTimeout: timeout,
      maxValueSize,
      noDelay: flag("noDelay", options.noDelay, DEFAULTS.noDelay),
      decoder: dialect.decoder,
      ...(tls === undefined ? {} : { tls }),
    },
  };
  return {
    timeout,
    closeTimeout,
    maxValueSize,
    base64,
    defaultTtl,
    dialect,
    codec,
    protocol,
    metrics: flag("metrics", options.metrics, false),
    specs,
    cluster: {
      distribution,
      ...(hash === undefined ? {} : { hash }),
      failover,
      keys,
      // A server's own credentials (in its address) take precedence over the shared ones.
      server: (spec) => {
        const credentials = spec.credentials ?? shared;
        if (credentials === undefined) return server;
        const handshake = dialect.handshake(credentials);
        return { ...server, connection: { ...server.connection, handshake } };
      },
    },
  };
}

/**
 * Checks raw client flags.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` unless an integer in 0..2^32-1.
 */
export function checkFlags(command: string, flags: number): number {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot ${command}: flags ${String(flags)} is not an integer in 0..4294967295`,
    );
  }
  return flags;
}

/**
 * Checks a CAS token.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` unless a bigint in 0..2^64-1.
 */
export function checkCas(command: string, cas: bigint): void {
  if (typeof cas !== "bigint" || cas < 0n || cas >= 1n << 64n) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot ${command}: the CAS token must be a bigint from gets()`,
    );
  }
}
