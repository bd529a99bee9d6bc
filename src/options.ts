/**
 * The options of {@linkcode connect}, with their defaults and checks: {@linkcode settings}
 * turns what the caller passed into what the client and its cluster run with, or throws
 * `INVALID_ARGUMENT` naming the option. The options of each call are in `call_options.ts`.
 *
 * @module
 */

import { bunConnector } from "./adapters/bun.ts";
import { denoConnector } from "./adapters/deno.ts";
import { nodeConnector } from "./adapters/node.ts";
import { parseServer, type ServerAddress, type ServerSpec } from "./cluster/address.ts";
import type { ClusterOptions } from "./cluster/cluster.ts";
import type { Distribution } from "./cluster/ring.ts";
import type { ServerOptions } from "./cluster/server.ts";
import { Credentials } from "./connection/credentials.ts";
import { checkTls, type Connector, type TlsOptions } from "./connection/transport.ts";
import { type Dialect, dialectOf, type Protocol } from "./dialects/mod.ts";
import { MemcachedError } from "./errors.ts";
import { checkLogger, type Logger } from "./events.ts";
import { wireTtl } from "./protocol/values.ts";
import { type CompressionSettings, ValueCodec } from "./values/codec.ts";
import { type CompressionAlgorithm, hasZstd } from "./values/compression.ts";
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
   * The server's item size limit in bytes (memcached's `-I`, 1 MiB by default): set it to the
   * server's. A store is refused with `VALUE_TOO_LARGE` before any byte is written unless its
   * key, its value and memcached's item header (59 bytes, 63 with nonzero flags) fit in it, as
   * the server counts. It is also the largest value a read accepts.
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
   * Where to log the client's events (servers down and up, probes, connection failures,
   * failed background refreshes), e.g. `console`; see {@linkcode Logger} for the levels.
   * The events are dispatched whether or not there is a logger.
   * @default {undefined} (no logging)
   */
  logger?: Logger;
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
  const algorithm = oneOf(
    "compression.algorithm",
    options.algorithm,
    ["deflate", "zstd"],
    "deflate",
  );
  if (algorithm === "zstd" && !hasZstd()) {
    throw new MemcachedError(
      "UNSUPPORTED",
      'Cannot use compression "zstd": this runtime\'s node:zlib has no zstd (Node 22.15+, Deno and Bun have it); use "deflate"',
    );
  }
  return {
    algorithm,
    threshold: integer("compression.threshold", options.threshold, DEFAULTS.compressionThreshold),
    level,
  };
}

function defaultConnector(): Connector {
  const g = globalThis as Record<string, unknown>;
  if (g.Deno !== undefined) return denoConnector;
  if (g.Bun !== undefined) return bunConnector;
  const node = (g.process as { versions?: { node?: unknown } } | undefined)?.versions?.node;
  if (node !== undefined) return nodeConnector;
  throw new MemcachedError(
    "INVALID_ARGUMENT",
    "Cannot connect: no adapter for this runtime (Mica runs on Deno, Bun and Node.js); pass " +
      "`connector`",
  );
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
  readonly logger: Logger | undefined;
  readonly specs: readonly ServerSpec[];
  readonly cluster: Omit<ClusterOptions, "emit">;
}

/**
 * Checks a client's address and options and fills in the defaults.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option; `UNSUPPORTED` for
 * an option the protocol cannot honour.
 */
export function settings(list: readonly ServerAddress[], options: ClientOptions): Settings {
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
    logger: checkLogger(options.logger),
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
