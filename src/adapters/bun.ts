/**
 * The Bun adapter: a {@linkcode Transport} over `Bun.connect` (TCP and unix sockets, with or
 * without TLS).
 *
 * `Bun.connect` resolves once the TCP connection is open; with TLS the connector then waits for
 * the socket's `handshake` callback and resolves only if the server's certificate verified, so a
 * certificate failure rejects the connect with `TLS_FAILED`.
 *
 * `socket.write` is non-blocking and may take only part of a chunk; the rest waits in a queue
 * that the socket's `drain` handler continues. `end` (the server closed its side), `error` and
 * `close` all lead to one `closed` call, after which the socket is terminated.
 *
 * @module
 */

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

/** The part of Bun's `Socket` this adapter uses. */
interface BunSocket {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  terminate(): void;
  setNoDelay?(noDelay?: boolean): boolean;
  readonly authorized?: boolean;
}

interface BunSocketHandler {
  binaryType: "uint8array";
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
  close(socket: BunSocket, error?: Error): void;
  connectError(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
}

/** The part of Bun's `TLSOptions` this adapter sets. */
interface BunTls {
  ca?: string[];
  cert?: string;
  key?: string;
  serverName: string;
  rejectUnauthorized: true;
}

interface BunNet {
  connect(
    options:
      | { hostname: string; port: number; socket: BunSocketHandler; tls?: BunTls }
      | { unix: string; socket: BunSocketHandler; tls?: BunTls },
  ): Promise<BunSocket>;
}

class BunTransport implements Transport {
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #socket: BunSocket | undefined;
  #handlers: TransportHandlers;
  #queue: Uint8Array[] = [];
  #head = 0;
  /** Bytes of the head chunk already written. */
  #offset = 0;
  #queued = 0;

  /** Bytes accepted by `write` that the socket has not taken yet. */
  get buffered(): number {
    return this.#queued;
  }
  #blocked = false;
  #closed = false;
  /** The TLS server name; `undefined` for a plain socket. */
  #tlsName: string | undefined;
  /**
   * True until the connector hands the transport over: until then a failure settles
   * {@linkcode BunTransport.opened} instead of calling `closed`.
   */
  #connecting = true;
  #settleOpened: ((error: unknown) => void) | undefined;
  /**
   * Resolves when the socket is usable (plain: once `Bun.connect` resolved; TLS: after a
   * verified handshake); rejects if it failed first.
   */
  readonly opened: Promise<void>;

  constructor(handlers: TransportHandlers, tlsName: string | undefined) {
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
    // Bun may fail the socket before the connector awaits `opened`: never leave it unobserved.
    this.opened.catch(() => {});
  }

  /** Takes the socket `Bun.connect` resolved with; a plain socket is usable from now on. */
  attach(socket: BunSocket): void {
    this.#socket = socket;
    if (this.#closed) {
      // It ended or failed before Bun.connect resolved: close it now; its close event
      // resolves `done`.
      terminate(socket);
      return;
    }
    if (this.#tlsName === undefined) this.#settleOpened?.(undefined);
  }

  /** Fails a connect still in progress with `error`: the socket is terminated, `closed` is not called. */
  abort(error: unknown): void {
    if (this.#connecting) this.#fail(error);
  }

  /**
   * Ends the connect phase: from now on failures call `closed`.
   *
   * @throws {Error} If the socket closed in the meantime.
   */
  handOver(): void {
    if (this.#closed) throw closedWhileOpening();
    this.#connecting = false;
  }

  /** The handler object given to `Bun.connect`; every callback routes to this transport. */
  handler(): BunSocketHandler {
    const handler: BunSocketHandler = {
      binaryType: "uint8array",
      data: (_socket, data) => {
        if (!this.#closed) this.#handlers.data(data);
      },
      drain: () => this.#flush(),
      end: () => this.#fail(undefined),
      error: (_socket, error) => this.#fail(this.#tlsError(error)),
      close: (_socket, error) => {
        this.#fail(this.#tlsError(error));
        this.#resolveDone();
      },
      connectError: (_socket, error) => {
        this.#closed = true;
        this.#resolveDone();
        // Bun.connect rejects with it; the connector reports that rejection.
        this.#settleOpened?.(error);
      },
    };
    if (this.#tlsName !== undefined) {
      handler.handshake = (socket, success, authorizationError) => {
        if (success && authorizationError === null && socket.authorized !== false) {
          this.#settleOpened?.(undefined);
        } else {
          this.#fail(this.#tlsError(authorizationError ?? new Error("not authorized")));
        }
      };
    }
    return handler;
  }

  /** Closes with `error`: while connecting, rejects `opened` instead of calling `closed`. */
  #fail(error: unknown): void {
    if (this.#connecting) {
      this.#settleOpened?.(error ?? this.#tlsError(closedWhileOpening()));
      this.#close(undefined, false);
    } else {
      this.#close(error, true);
    }
  }

  /**
   * Types a TLS failure as `TLS_FAILED`: any failure before the handshake completed, and an
   * established session's failures that Bun attributes to TLS (a fatal alert, a bad record).
   * A plain socket's errors, and other errors of a TLS session, are kept as they are.
   */
  #tlsError(error: unknown): unknown {
    if (this.#tlsName === undefined || error === undefined) return error;
    if (error instanceof MemcachedError) return error;
    // `opened` of a TLS socket stays pending until the handshake verified.
    const handshaking = this.#settleOpened !== undefined;
    const reason = tlsReason(error);
    if (!handshaking && reason === undefined) return error;
    return tlsFailure(handshaking ? "handshake" : "session", this.#tlsName, reason, error);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return false;
    const socket = this.#socket;
    let written = 0;
    if (this.#queue.length === this.#head && socket !== undefined) {
      // Nothing is waiting: hand the bytes to the socket now, and keep only what it refused.
      written = socket.write(chunk, 0, chunk.length);
      if (written < 0) {
        // Report the close from the event loop, not from inside the caller's write().
        queueMicrotask(() => this.#close(new Error("the socket closed while writing"), true));
        return false;
      }
      if (written === chunk.length) return !this.#blocked;
    }
    const rest = chunk.slice(written);
    this.#queue.push(rest);
    this.#queued += rest.length;
    if (this.#queued > HIGH_WATER_MARK) this.#blocked = true;
    return !this.#blocked;
  }

  #flush(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    while (this.#head < this.#queue.length && !this.#closed) {
      const chunk = this.#queue[this.#head]!;
      const rest = chunk.length - this.#offset;
      const n = socket.write(chunk, this.#offset, rest);
      if (n < 0) {
        // Report the close from the event loop, not from inside the caller's write().
        queueMicrotask(() => this.#close(new Error("the socket closed while writing"), true));
        return;
      }
      this.#queued -= n;
      if (n < rest) {
        // The kernel buffer is full: wait for `drain`.
        this.#offset += n;
        return;
      }
      this.#offset = 0;
      this.#queue[this.#head++] = EMPTY;
    }
    this.#queue.length = 0;
    this.#head = 0;
    if (this.#blocked && this.#queued < LOW_WATER_MARK) {
      this.#blocked = false;
      this.#handlers.drain();
    }
  }

  destroy(): void {
    this.#close(undefined, true);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #close(error: unknown, notify: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
    // Before `attach` there is no socket to close yet: `attach` closes it, or Bun reports
    // `connectError`; either way its close event resolves `done`.
    const socket = this.#socket;
    if (socket !== undefined) terminate(socket);
    if (notify) this.#handlers.closed(error);
  }
}

const EMPTY = new Uint8Array(0);

function terminate(socket: BunSocket): void {
  try {
    socket.terminate();
  } catch {
    // Already closed.
  }
}

/**
 * Opens a connection with `Bun.connect`, with TLS when `options.tls` is set.
 *
 * With TLS the promise resolves only after the handshake completed and the server's certificate
 * verified (`rejectUnauthorized: true`, and `socket.authorized` is checked too); `signal` aborts
 * the handshake as well.
 *
 * @param endpoint The server's TCP address or unix socket path.
 * @param handlers Receives data, drain and close events.
 * @param options The abort signal, TCP no-delay setting and TLS settings.
 * @returns The open transport.
 * @throws {MemcachedError} `TLS_FAILED` when the handshake fails (untrusted, expired or misnamed
 * certificate, refused client certificate); `INVALID_ARGUMENT` for a `cert` without a `key` or
 * the reverse, or for `ca`, `cert` or `key` that is not valid PEM. Other failures reject with
 * Bun's error.
 *
 * @example Passing the Bun adapter explicitly
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 * import { bunConnector } from "@mica/memcached/adapters/bun";
 *
 * await using client = await connect("127.0.0.1:11211", { connector: bunConnector });
 * ```
 *
 * @example Opening a TLS transport directly
 * ```ts ignore
 * import { bunConnector } from "@mica/memcached/adapters/bun";
 *
 * using transport = await bunConnector(
 *   { kind: "tcp", host: "10.0.0.5", port: 11211 },
 *   { data: (chunk) => console.log(chunk.length), drain: () => {}, closed: () => {} },
 *   {
 *     signal: AbortSignal.timeout(5_000),
 *     noDelay: true,
 *     tls: { ca: [await Bun.file("ca.pem").text()], serverName: "cache.internal" },
 *   },
 * );
 * transport.write(new TextEncoder().encode("version\r\n"));
 * ```
 */
export const bunConnector: Connector = async (
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
): Promise<Transport> => {
  const net = (globalThis as unknown as { Bun: BunNet }).Bun;
  const { signal } = options;
  signal.throwIfAborted();
  const tls = options.tls === undefined ? undefined : bunTls(endpoint, options.tls);
  const transport = new BunTransport(handlers, tls?.serverName);
  let socket: BunSocket;
  try {
    socket = endpoint.kind === "tcp"
      ? await net.connect({
        hostname: endpoint.host,
        port: endpoint.port,
        socket: transport.handler(),
        ...(tls === undefined ? {} : { tls }),
      })
      : await net.connect({
        unix: endpoint.path,
        socket: transport.handler(),
        ...(tls === undefined ? {} : { tls }),
      });
  } catch (error) {
    const code = String((error as { code?: unknown } | undefined)?.code ?? "");
    if (tls === undefined || !/^ERR_(OSSL|BORINGSSL)/.test(code)) throw error;
    // Bun parses the PEM options before connecting.
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot connect to ${endpointName(endpoint)} with TLS: ca, cert or key is not valid PEM ` +
        `(${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  transport.attach(socket);
  const onAbort = () => transport.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    signal.throwIfAborted();
    await transport.opened;
    signal.throwIfAborted();
    transport.handOver();
  } catch (error) {
    // Terminate the socket (if it is not closed yet) and wait for its close event.
    transport.abort(error);
    await transport.done;
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (endpoint.kind === "tcp" && options.noDelay) socket.setNoDelay?.(true);
  return transport;
};

/** Bun's TLS options for `tls`; verification is always on. */
function bunTls(endpoint: Endpoint, tls: TlsOptions): BunTls {
  checkTls(tls, `Cannot connect to ${endpointName(endpoint)} with TLS`);
  const serverName = tls.serverName ??
    (endpoint.kind === "tcp" ? endpoint.host : "localhost");
  return {
    serverName,
    rejectUnauthorized: true,
    ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  };
}

function closedWhileOpening(): Error {
  return new Error("the connection closed while opening");
}
