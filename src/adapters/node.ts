/**
 * The Node.js adapter: a {@linkcode Transport} over `net.connect` (TCP and unix sockets) and
 * `tls.connect` (TLS over either), from `node:net` and `node:tls`. Deno and Bun implement both
 * modules too, so this adapter also runs there, through their emulation of Node's sockets.
 *
 * The connector resolves on the socket's `connect` event, or with TLS on `secureConnect`: only
 * after the handshake completed and the server's certificate verified
 * (`rejectUnauthorized: true`), so a certificate failure rejects the connect with `TLS_FAILED`.
 *
 * `socket.write` queues the chunk by reference, so each write hands the socket its own copy.
 * Node's stream buffer is the queue: `write` returns `false` once `socket.writableLength` is over
 * {@linkcode HIGH_WATER_MARK}, and `drain` is called once a write callback or the socket's
 * `drain` event finds it under {@linkcode LOW_WATER_MARK}. `end` (the server closed its side),
 * `error` and `close` all lead to one `closed` call, after which the socket is destroyed;
 * {@linkcode Transport.done} resolves on the socket's `close` event.
 *
 * Through Deno's `node:tls`, a few failures read differently than in Node: an expired
 * certificate is reported as `UNABLE_TO_VERIFY_LEAF_SIGNATURE` (so the reason given is an
 * untrusted CA), and a client key that is not the certificate's fails the handshake
 * (`ERR_SSL_UNSUPPORTED_PROTOCOL`, so `TLS_FAILED`) where Node refuses it before connecting.
 *
 * @module
 */

import { connect as netConnect, isIP, type Socket } from "node:net";
import {
  checkServerIdentity,
  connect as tlsConnect,
  type ConnectionOptions,
  type PeerCertificate,
  type TLSSocket,
} from "node:tls";
import { MemcachedError } from "../errors.ts";
import type {
  Connector,
  ConnectorOptions,
  Endpoint,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "../connection/transport.ts";
import {
  checkTls,
  endpointName,
  HIGH_WATER_MARK,
  LOW_WATER_MARK,
  tlsFailure,
  tlsReason,
} from "../connection/transport.ts";

/** The `node:tls` options this adapter sets; verification is always on. */
interface NodeTls {
  /** The name the certificate is verified against. */
  serverName: string;
  options: ConnectionOptions & { rejectUnauthorized: true };
}

class NodeTransport implements Transport {
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #socket: Socket;
  #handlers: TransportHandlers;
  #blocked = false;
  #closed = false;
  #corked = false;
  /** The TLS server name; `undefined` for a plain socket. */
  #tlsName: string | undefined;
  /**
   * True until the connector hands the transport over: until then a failure settles
   * {@linkcode NodeTransport.opened} instead of calling `closed`.
   */
  #connecting = true;
  #settleOpened: ((error: unknown) => void) | undefined;
  /** Why the socket closed while connecting, for {@linkcode NodeTransport.handOver}. */
  #openFailure: unknown = undefined;
  /**
   * Resolves when the socket is usable (plain: on `connect`; TLS: on `secureConnect`, after a
   * verified handshake); rejects if it failed first.
   */
  readonly opened: Promise<void>;

  /** Bytes accepted by `write` that the socket has not handed to the kernel yet. */
  get buffered(): number {
    return this.#closed ? 0 : this.#socket.writableLength;
  }

  constructor(socket: Socket, handlers: TransportHandlers, tlsName: string | undefined) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#tlsName = tlsName;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.opened = new Promise((resolve, reject) => {
      this.#settleOpened = (error) => {
        this.#settleOpened = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    // The socket may fail before the connector awaits `opened`: never leave it unobserved.
    this.opened.catch(() => {});
    socket.once(tlsName === undefined ? "connect" : "secureConnect", () => {
      // `rejectUnauthorized` already fails an unverified handshake; `authorized` is checked too.
      const tlsSocket = socket as TLSSocket;
      if (tlsName === undefined || tlsSocket.authorized === true) {
        this.#settleOpened?.(undefined);
      } else {
        const why = String(tlsSocket.authorizationError ?? "the certificate was not verified");
        this.#fail(this.#tlsError(new Error(`not authorized: ${why}`)));
      }
    });
    socket.on("data", (data: Uint8Array) => {
      // A Buffer's `slice` shares memory; hand on a plain Uint8Array view of the same bytes.
      if (!this.#closed) {
        this.#handlers.data(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
    });
    socket.on("drain", this.#written);
    socket.on("end", () => this.#fail(undefined));
    socket.on("error", (error: Error) => this.#fail(this.#tlsError(error)));
    socket.once("close", () => {
      this.#fail(undefined);
      this.#resolveDone();
    });
  }

  /** Fails a connect still in progress with `error`: the socket is destroyed, `closed` is not called. */
  abort(error: unknown): void {
    if (this.#connecting) this.#fail(error);
  }

  /**
   * Ends the connect phase: from now on failures call `closed`.
   *
   * @throws {Error} If the socket closed in the meantime: why it closed.
   */
  handOver(): void {
    // Deno's node:tls may emit `secureConnect` and, before the connector resumes, the error of
    // a fatal alert that came with it (a server demanding a client certificate).
    if (this.#closed) throw this.#openFailure ?? closedWhileOpening();
    this.#connecting = false;
  }

  /** Closes with `error`: while connecting, rejects `opened` instead of calling `closed`. */
  #fail(error: unknown): void {
    if (this.#connecting) {
      const failure = error ?? this.#tlsError(closedWhileOpening());
      if (!this.#closed) this.#openFailure = failure;
      this.#settleOpened?.(failure);
      this.#close(undefined, false);
    } else {
      this.#close(error, true);
    }
  }

  /**
   * Types a TLS failure as `TLS_FAILED`: any failure before the connector handed the transport
   * over, and an established session's failures that name a TLS cause (a fatal alert, a bad
   * record). A plain socket's errors, and other errors of a TLS session, are kept as they are.
   */
  #tlsError(error: unknown): unknown {
    if (this.#tlsName === undefined || error === undefined) return error;
    if (error instanceof MemcachedError) return error;
    const handshaking = this.#connecting;
    const reason = tlsReason(error);
    if (!handshaking && reason === undefined) return error;
    return tlsFailure(handshaking ? "handshake" : "session", this.#tlsName, reason, error);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return false;
    // The socket keeps a reference to what it cannot write at once: give it a copy the caller
    // cannot change. The callback runs once the chunk is handed to the kernel (or failed; the
    // failure arrives as an `error` event).
    // The chunks of one flush (a request's header and its value, or a batch) leave in one
    // writev: corked until the microtask after the writes of this turn.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      queueMicrotask(this.#uncork);
    }
    this.#socket.write(chunk.slice(), this.#written);
    if (this.#socket.writableLength > HIGH_WATER_MARK) this.#blocked = true;
    return !this.#blocked;
  }

  #uncork = (): void => {
    this.#corked = false;
    if (!this.#closed) this.#socket.uncork();
  };

  /** A write completed or the socket drained: resumes a blocked writer under the low mark. */
  #written = (): void => {
    if (this.#blocked && !this.#closed && this.#socket.writableLength < LOW_WATER_MARK) {
      this.#blocked = false;
      this.#handlers.drain();
    }
  };

  destroy(): void {
    this.#close(undefined, true);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #close(error: unknown, notify: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    // Drops whatever is still buffered; the socket's `close` event resolves `done`.
    this.#socket.destroy();
    if (notify) this.#handlers.closed(error);
  }
}

/**
 * Opens a connection with `net.connect`, or `tls.connect` when `options.tls` is set (over TCP
 * or a unix socket).
 *
 * With TLS the promise resolves only after the handshake completed and the server's certificate
 * verified against `serverName` (by default the host, or `"localhost"` for a unix socket; sent
 * as SNI unless it is an IP address). `signal` aborts the connect and the handshake; the
 * promise then rejects once the socket is closed.
 *
 * @param endpoint The server's TCP address or unix socket path.
 * @param handlers Receives data, drain and close events.
 * @param options The abort signal, TCP no-delay setting and TLS settings.
 * @returns The open transport.
 * @throws {MemcachedError} `TLS_FAILED` when the handshake fails (untrusted, expired or misnamed
 * certificate, refused client certificate, a server that does not speak TLS);
 * `INVALID_ARGUMENT` for a `cert` without a `key` or the reverse, or for `ca`, `cert` or `key`
 * that the runtime refuses as not valid PEM. Other failures reject with the runtime's error.
 *
 * @example Passing the Node.js adapter explicitly
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 * import { nodeConnector } from "@mica/memcached/adapters/node";
 *
 * await using client = await connect("127.0.0.1:11211", { connector: nodeConnector });
 * ```
 *
 * @example Opening a TLS transport directly
 * ```ts ignore
 * import { readFileSync } from "node:fs";
 * import { nodeConnector } from "@mica/memcached/adapters/node";
 *
 * using transport = await nodeConnector(
 *   { kind: "tcp", host: "10.0.0.5", port: 11211 },
 *   { data: (chunk) => console.log(chunk.length), drain: () => {}, closed: () => {} },
 *   {
 *     signal: AbortSignal.timeout(5_000),
 *     noDelay: true,
 *     tls: { ca: [readFileSync("ca.pem", "utf8")], serverName: "cache.internal" },
 *   },
 * );
 * transport.write(new TextEncoder().encode("version\r\n"));
 * ```
 */
export const nodeConnector: Connector = async (
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
): Promise<Transport> => {
  const { signal } = options;
  signal.throwIfAborted();
  const tls = options.tls === undefined ? undefined : nodeTls(endpoint, options.tls);
  let socket: Socket;
  try {
    const where = endpoint.kind === "tcp"
      ? { host: endpoint.host, port: endpoint.port }
      : { path: endpoint.path };
    socket = tls === undefined ? netConnect(where) : tlsConnect({ ...where, ...tls.options });
  } catch (error) {
    const code = String((error as { code?: unknown } | undefined)?.code ?? "");
    if (tls === undefined || !/^ERR_(OSSL|BORINGSSL)|PEM/.test(code)) throw error;
    // Node (and Bun) parse the PEM options before connecting.
    const detail = error instanceof Error ? error.message : String(error);
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot connect to ${endpointName(endpoint)} with TLS: ca, cert or key is not valid PEM, ` +
        `or the key does not match the certificate (${detail})`,
      { cause: error },
    );
  }
  const transport = new NodeTransport(socket, handlers, tls?.serverName);
  const onAbort = () => transport.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    signal.throwIfAborted();
    await transport.opened;
    signal.throwIfAborted();
    transport.handOver();
  } catch (error) {
    // Destroy the socket (if it is not closed yet) and wait for its close event.
    transport.abort(error);
    await transport.done;
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (endpoint.kind === "tcp" && options.noDelay) socket.setNoDelay(true);
  return transport;
};

/** The `tls.connect` options for `tls`; verification is always on. */
function nodeTls(endpoint: Endpoint, tls: TlsOptions): NodeTls {
  const context = `Cannot connect to ${endpointName(endpoint)} with TLS`;
  checkTls(tls, context);
  // Node refuses a cert or key without a PEM block itself, but Deno's node:tls ignores it and
  // connects without a client certificate: check the labels here so every runtime refuses it.
  if (tls.cert !== undefined && !PEM_CERTIFICATE.test(tls.cert)) throw notPem(context, "cert");
  if (tls.key !== undefined && !PEM_PRIVATE_KEY.test(tls.key)) throw notPem(context, "key");
  const serverName = tls.serverName ?? (endpoint.kind === "tcp" ? endpoint.host : "localhost");
  return {
    serverName,
    options: {
      rejectUnauthorized: true,
      // SNI must not be an IP address (RFC 6066); the certificate is checked against it anyway.
      ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        checkServerIdentity(serverName, cert),
      ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
    },
  };
}

/** The first line of a PEM certificate (`CERTIFICATE`, `TRUSTED CERTIFICATE`, ...). */
const PEM_CERTIFICATE = /-----BEGIN [A-Z0-9 ]*CERTIFICATE-----/;
/** The first line of a PEM private key (`PRIVATE KEY`, `EC PRIVATE KEY`, ...). */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

function notPem(context: string, name: "cert" | "key"): MemcachedError {
  const label = name === "cert" ? "CERTIFICATE" : "PRIVATE KEY";
  return new MemcachedError(
    "INVALID_ARGUMENT",
    `${context}: ${name} is not valid PEM (it holds no "-----BEGIN ${label}-----" block)`,
  );
}

function closedWhileOpening(): Error {
  return new Error("the connection closed while opening");
}
