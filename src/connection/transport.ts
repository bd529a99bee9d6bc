/**
 * The contract between the client and a runtime adapter. The client's core only ever sees a
 * {@linkcode Transport}; `src/adapters/deno.ts` and `src/adapters/bun.ts` supply one each.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";

/**
 * Where a server listens: TCP host and port, or a unix socket path.
 *
 * @example
 * ```ts
 * import { type Endpoint, parseAddress } from "@mica/memcached";
 *
 * function describe(endpoint: Endpoint): string {
 *   if (endpoint.kind === "unix") return `unix socket ${endpoint.path}`;
 *   return `tcp ${endpoint.host} port ${endpoint.port}`;
 * }
 * console.log(describe(parseAddress("[::1]:11212"))); // "tcp ::1 port 11212"
 * console.log(describe(parseAddress("/run/memcached.sock"))); // "unix socket /run/memcached.sock"
 * ```
 */
export type Endpoint =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** An endpoint as servers are named and errors name it: `host:port`, `[v6]:port` or the path. */
export function endpointName(endpoint: Endpoint): string {
  return endpoint.kind === "tcp"
    ? `${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
    : endpoint.path;
}

/** Plain words for the socket errors a connection meets, by POSIX error code. */
const SOCKET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ECONNABORTED: "connection aborted",
  EPIPE: "the connection broke while writing",
  ENOENT: "no such socket",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host lookup failed for now",
  EACCES: "permission denied",
  ETIMEDOUT: "the connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  ENOTCONN: "not connected",
};

/** Deno's error class names for the same faults (Deno also sets `code` on most of them). */
const DENO_NAMES: Readonly<Record<string, string>> = {
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNABORTED",
  BrokenPipe: "EPIPE",
  NotFound: "ENOENT",
  PermissionDenied: "EACCES",
  TimedOut: "ETIMEDOUT",
  AddrNotAvailable: "EADDRNOTAVAIL",
  NotConnected: "ENOTCONN",
};

/**
 * The POSIX error code of a runtime's socket error: its `code`, else what Deno's error name or
 * a resolver's message says; undefined when none is known.
 *
 * @param error What the runtime threw or emitted.
 * @returns The code, such as `ECONNREFUSED`.
 */
export function socketCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^E[A-Z0-9_]+$/.test(code)) return code;
  const name = error instanceof Error ? DENO_NAMES[error.name] : undefined;
  if (name !== undefined) return name;
  const text = error instanceof Error ? error.message : String(error);
  if (/failed to lookup address|Name or service not known|No address associated/.test(text)) {
    return "ENOTFOUND";
  }
  if (/Temporary failure in name resolution/.test(text)) return "EAI_AGAIN";
  return undefined;
}

/**
 * Why a socket failed, worded the same in every runtime: plain words and the POSIX code, as in
 * `connection refused (ECONNREFUSED)`, whether the runtime said `Connection refused (os error
 * 111)` (Deno), `Failed to connect` (Bun) or `connect ECONNREFUSED 127.0.0.1:1` (Node). An
 * error without a known code keeps the runtime's message.
 *
 * @param error What the runtime threw or emitted.
 * @returns The reason, as a phrase.
 */
export function socketReason(error: unknown): string {
  const code = socketCode(error);
  const words = code === undefined ? undefined : SOCKET_REASONS[code];
  if (words !== undefined) return `${words} (${code})`;
  const text = error instanceof Error ? error.message : String(error);
  return code === undefined || text.includes(code) ? text : `${text} (${code})`;
}

/**
 * Callbacks an adapter calls. Each is called from the runtime's event loop, never re-entrantly.
 *
 * @example
 * ```ts ignore
 * import type { TransportHandlers } from "@mica/memcached";
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * const { promise: reply, resolve } = Promise.withResolvers<string>();
 * const handlers: TransportHandlers = {
 *   data: (chunk) => resolve(new TextDecoder().decode(chunk)), // copy a chunk to keep it
 *   drain: () => console.log("below the low-water mark: writing may go on"),
 *   closed: (error) => console.log("closed", error),
 * };
 * using transport = await denoConnector(
 *   { kind: "tcp", host: "127.0.0.1", port: 11211 },
 *   handlers,
 *   { signal: AbortSignal.timeout(1000), noDelay: true },
 * );
 * transport.write(new TextEncoder().encode("version\r\n"));
 * console.log(await reply); // "VERSION 1.6.21\r\n"
 * ```
 */
export interface TransportHandlers {
  /** Bytes arrived, in order. The chunk may be reused by the adapter once this returns. */
  data(chunk: Uint8Array): void;
  /** Buffered writes fell back under the low-water mark after `write` returned `false`. */
  drain(): void;
  /** The transport is closed: end of stream, an error, or `destroy()`. Called exactly once. */
  closed(error: unknown): void;
}

/**
 * An open byte stream to one server, owned by exactly one connection. Disposing it (`using`)
 * destroys it.
 *
 * @example An in-memory transport for tests
 * ```ts
 * import { Client, type Connector, type Transport } from "@mica/memcached";
 *
 * // A stand-in server that answers every write with a text-protocol VERSION line.
 * const fakeServer: Connector = (_endpoint, handlers) => {
 *   const reply = new TextEncoder().encode("VERSION 1.6.0\r\n");
 *   let closed = false;
 *   const transport: Transport = {
 *     write() {
 *       queueMicrotask(() => {
 *         if (!closed) handlers.data(reply);
 *       });
 *       return true;
 *     },
 *     destroy() {
 *       if (closed) return;
 *       closed = true;
 *       handlers.closed(undefined);
 *     },
 *     done: Promise.resolve(),
 *     [Symbol.dispose]() {
 *       this.destroy();
 *     },
 *   };
 *   return Promise.resolve(transport);
 * };
 * await using client = new Client("fake:11211", { protocol: "text", connector: fakeServer });
 * console.log(await client.version()); // "1.6.0"
 * ```
 */
export interface Transport extends Disposable {
  /**
   * Writes bytes, in order, handling partial writes. The caller may reuse `chunk` as soon as
   * this returns: the transport copies whatever it cannot hand to the socket at once.
   *
   * @returns `false` when the queue is over the high-water mark: stop writing until `drain`.
   */
  write(chunk: Uint8Array): boolean;
  /** Closes at once; queued bytes are dropped. `closed` is called if it was not yet. */
  destroy(): void;
  /** Bytes `write` accepted that the socket has not taken yet (for the client's gauge). */
  readonly buffered?: number;
  /** Resolves once the socket and every operation the adapter started on it are finished. */
  readonly done: Promise<void>;
}

/**
 * TLS settings of a connection. Certificate verification is always on: the server's certificate
 * must chain to a trusted CA, be valid now and name {@linkcode TlsOptions.serverName}.
 *
 * Runtime limits (the connector rejects with `UNSUPPORTED` before connecting):
 * - `denoConnector`: no TLS over a unix socket, and no client certificate together with a
 *   `serverName` that differs from the host (`Deno.startTls` takes no certificate).
 *   `nodeConnector` (over `node:tls`, also on Deno) does both.
 *
 * @example Trusting a private CA and presenting a client certificate
 * ```ts ignore
 * import { connect, type TlsOptions } from "@mica/memcached";
 *
 * const tls: TlsOptions = {
 *   ca: [await Deno.readTextFile("ca.pem")],
 *   cert: await Deno.readTextFile("client.pem"),
 *   key: await Deno.readTextFile("client.key"),
 * };
 * // The address is the name the server's certificate holds, so no serverName is needed (and
 * // Deno could not take one together with a client certificate).
 * await using client = await connect("cache.internal:11211", { tls });
 * ```
 */
export interface TlsOptions {
  /**
   * PEM CA certificates to trust instead of the system store.
   *
   * @default {undefined} (the runtime's trusted roots)
   */
  readonly ca?: readonly string[];
  /**
   * The name to verify the server's certificate against (and send as SNI).
   *
   * @default {undefined} (the endpoint's host; `"localhost"` for a unix socket)
   */
  readonly serverName?: string;
  /**
   * PEM client certificate (chain) for mutual TLS; requires {@linkcode TlsOptions.key}.
   *
   * @default {undefined}
   */
  readonly cert?: string;
  /**
   * PEM private key of {@linkcode TlsOptions.cert}.
   *
   * @default {undefined}
   */
  readonly key?: string;
}

/**
 * Options an adapter's connect function receives.
 *
 * @example
 * ```ts ignore
 * import type { ConnectorOptions } from "@mica/memcached";
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * const options: ConnectorOptions = {
 *   signal: AbortSignal.timeout(1000), // gives up on the connect and TLS handshake after 1 s
 *   noDelay: true,
 *   tls: { serverName: "cache.internal" },
 * };
 * using transport = await denoConnector(
 *   { kind: "tcp", host: "10.0.0.5", port: 11211 },
 *   { data: (chunk) => console.log(chunk.length), drain: () => {}, closed: () => {} },
 *   options,
 * );
 * ```
 */
export interface ConnectorOptions {
  /** Aborts the connection attempt (connect timeout, client closed), TLS handshake included. */
  readonly signal: AbortSignal;
  /** Disable Nagle's algorithm on TCP sockets. */
  readonly noDelay: boolean;
  /**
   * Speak TLS. The connector resolves only after the handshake succeeded; a certificate or
   * handshake failure rejects with a `MemcachedError` coded `TLS_FAILED`, a combination the
   * runtime cannot do with `UNSUPPORTED`.
   *
   * @default {undefined} (plain TCP)
   */
  readonly tls?: TlsOptions;
}

/**
 * Opens a transport. Rejects when the connection cannot be opened or `signal` aborts; on
 * rejection nothing is left open. With `options.tls`, rejects with a `MemcachedError` coded
 * `TLS_FAILED` when the handshake fails, or `UNSUPPORTED` (before connecting) when the runtime
 * cannot honour the settings; other failures keep the runtime's error.
 *
 * @example Logging every connection the client opens
 * ```ts ignore
 * import { connect, type Connector } from "@mica/memcached";
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * const logging: Connector = async (endpoint, handlers, options) => {
 *   const transport = await denoConnector(endpoint, handlers, options);
 *   console.log("connected to", endpoint);
 *   return transport;
 * };
 * await using client = await connect("127.0.0.1:11211", { connector: logging });
 * ```
 */
export type Connector = (
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
) => Promise<Transport>;

/** Bytes queued in a transport above which `write` returns `false`. */
export const HIGH_WATER_MARK = 1024 * 1024;
/** Bytes queued below which a blocked transport calls `drain`. */
export const LOW_WATER_MARK = 256 * 1024;

/**
 * Checks TLS settings before anything is opened: `ca` a list of strings, `serverName`, `cert`
 * and `key` strings, and a client certificate and its key given together or not at all. The
 * client checks them when it is made; each adapter checks again, as it may be called directly.
 *
 * @param tls The settings.
 * @param context What a failure message starts with, such as `"Cannot use option tls"`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` naming the bad setting.
 *
 * @example
 * ```ts ignore
 * checkTls({ cert: "-----BEGIN CERTIFICATE-----..." }, "Cannot use option tls");
 * // throws INVALID_ARGUMENT: a client certificate needs both cert and key
 * ```
 */
export function checkTls(tls: TlsOptions, context: string): void {
  if (typeof tls !== "object" || tls === null) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `${context}: expected a boolean or { ca, serverName, cert, key }`,
    );
  }
  const { ca, serverName, cert, key } = tls;
  if (ca !== undefined && (!Array.isArray(ca) || ca.some((c) => typeof c !== "string"))) {
    throw new MemcachedError("INVALID_ARGUMENT", `${context}: ca must be a list of PEM strings`);
  }
  for (const [name, v] of [["serverName", serverName], ["cert", cert], ["key", key]] as const) {
    if (v !== undefined && typeof v !== "string") {
      throw new MemcachedError("INVALID_ARGUMENT", `${context}: ${name} must be a string`);
    }
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `${context}: a client certificate needs both cert and key`,
    );
  }
}

/**
 * A `TLS_FAILED` error: the handshake, or an established session, failed.
 *
 * @param phase Whether the handshake or an established session failed.
 * @param serverName The name the certificate was checked against.
 * @param reason Which check failed, when the runtime's error tells.
 * @param cause The runtime's error, kept as `cause` and quoted in the message.
 * @returns The error.
 *
 * @example
 * ```ts ignore
 * throw tlsFailure("handshake", "cache.internal", "the certificate is expired", error);
 * ```
 */
export function tlsFailure(
  phase: "handshake" | "session",
  serverName: string,
  reason: string | undefined,
  cause: unknown,
): MemcachedError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const action = phase === "handshake"
    ? "complete the TLS handshake with"
    : "continue the TLS session with";
  return new MemcachedError(
    "TLS_FAILED",
    `Cannot ${action} ${serverName}: ${reason ?? "handshake failed"} (${detail})`,
    { cause },
  );
}

/**
 * Which TLS check failed, from the code or message of an OpenSSL or BoringSSL error (as Node,
 * Bun and `node:tls` report them) or a rustls one (`node:tls` on Deno); undefined when unknown.
 * For {@linkcode tlsFailure}'s reason.
 *
 * @param error What the runtime rejected or emitted.
 * @returns The reason, as a phrase.
 */
export function tlsReason(error: unknown): string | undefined {
  const code = String((error as { code?: unknown } | undefined)?.code ?? "");
  const text = `${code} ${error instanceof Error ? error.message : String(error)}`;
  if (/CERTIFICATE_REQUIRED|certificate required|CertificateRequired/.test(text)) {
    return "the server demands a client certificate";
  }
  if (
    /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE)/.test(text) ||
    /alert (bad certificate|unknown ca|certificate unknown|unsupported certificate)/.test(text) ||
    /received fatal alert: (BadCertificate|UnknownCA|CertificateUnknown)/.test(text)
  ) {
    return "the server refused the client certificate";
  }
  if (
    /ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|IP_ADDRESS_MISMATCH|NotValidForName|not valid for name/
      .test(text)
  ) {
    return "the certificate does not name the server";
  }
  if (/UnsupportedCertVersion/.test(text)) {
    return "the certificate is X.509 version 1, which rustls refuses";
  }
  if (/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|certificate expired|NotValidYet/i.test(text)) {
    return "the certificate is expired or not yet valid";
  }
  if (
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT|CERT_UNTRUSTED|UnknownIssuer/
      .test(text)
  ) {
    return "the certificate is not signed by a trusted CA";
  }
  if (
    /WRONG_VERSION_NUMBER|wrong version number|HTTP_REQUEST|UNKNOWN_PROTOCOL|packet length too long|corrupt message|InvalidContentType/
      .test(text)
  ) {
    return "the server does not speak TLS on this port";
  }
  if (/SSL routines|ALERT|fatal alert/.test(text)) return "the TLS session failed";
  return undefined;
}
