/**
 * The Deno adapter: a {@linkcode Transport} over `Deno.connect` (TCP and unix sockets), and TLS
 * over TCP through `Deno.startTls` (or `Deno.connectTls` when a client certificate is sent).
 *
 * Deno's TLS handshake is lazy; the connector runs it (`handshake()`) before resolving, so a
 * certificate failure rejects the connect with `TLS_FAILED`, within the connect's abort signal.
 *
 * One read loop reads into a single reusable buffer (no allocation per read). `write` copies
 * chunks into 64 KiB blocks taken from a small pool; one write loop hands the blocks to the
 * socket in order, looping on partial writes, and returns them to the pool, so steady traffic
 * allocates nothing. Both loops end when the socket closes, and {@linkcode Transport.done}
 * resolves only after both have ended, so no Deno op outlives the connection.
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
} from "../connection/transport.ts";

/** The part of `Deno.Conn` (and `Deno.TlsConn`) this adapter uses. */
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
}

interface DenoNet {
  connect(
    options:
      | { hostname: string; port: number; transport?: "tcp"; signal?: AbortSignal }
      | { transport: "unix"; path: string },
  ): Promise<DenoConn>;
  connectTls(options: {
    hostname: string;
    port: number;
    caCerts?: string[];
    cert?: string;
    key?: string;
  }): Promise<DenoConn>;
  startTls(conn: DenoConn, options: { hostname: string; caCerts?: string[] }): Promise<DenoConn>;
}

const READ_SIZE = 64 * 1024;
/**
 * The size of the buffers `write` copies chunks into. They are pooled: Deno spends 5 to 20 us
 * allocating each buffer (a 256 KiB copy takes 3), more than a large write itself costs.
 */
const BLOCK = 64 * 1024;
/** Free blocks a connection keeps whatever its traffic. */
const POOL_MIN = 2;
/** Free blocks a connection keeps at most: the high-water mark's worth (1 MiB). */
const POOL_MAX = HIGH_WATER_MARK / BLOCK;

class DenoTransport implements Transport {
  readonly done: Promise<void>;
  #conn: DenoConn;
  #handlers: TransportHandlers;
  /**
   * Full blocks waiting for the write loop, in order (Deno reads a buffer after `conn.write`
   * returns, so the caller's chunk cannot be lent to it); `#head` is the next one.
   */
  #ready: Uint8Array[] = [];
  #head = 0;
  /** The block `write` fills, after the ready ones; `undefined` until a chunk needs it. */
  #fill: Uint8Array | undefined;
  #filled = 0;
  /**
   * Written blocks kept for reuse: at most {@linkcode POOL_MAX}, and one fewer, down to
   * {@linkcode POOL_MIN}, after each run of the write loop that wrote only small requests.
   */
  #pool: Uint8Array[] = [];
  #queued = 0;

  /** Bytes accepted by `write` that the socket has not taken yet. */
  get buffered(): number {
    return this.#queued;
  }
  #blocked = false;
  #writing: Promise<void> | undefined;
  #closed = false;
  /** The server name of a TLS connection, for error messages; `undefined` for plain sockets. */
  #tlsName: string | undefined;

  constructor(conn: DenoConn, handlers: TransportHandlers, tlsName: string | undefined) {
    this.#conn = conn;
    this.#handlers = handlers;
    this.#tlsName = tlsName;
    this.done = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(READ_SIZE);
    let error: unknown = undefined;
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        if (n > 0 && !this.#closed) this.#handlers.data(buf.subarray(0, n));
      }
    } catch (e) {
      error = this.#tlsName === undefined ? e : tlsSessionError(e, this.#tlsName);
    }
    this.#close(error);
    await this.#writing;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return false;
    const length = chunk.length;
    let off = 0;
    while (off < length) {
      const fill = this.#fill ??= this.#pool.pop() ?? new Uint8Array(BLOCK);
      const n = Math.min(BLOCK - this.#filled, length - off);
      fill.set(n === length ? chunk : chunk.subarray(off, off + n), this.#filled);
      off += n;
      this.#filled += n;
      if (this.#filled === BLOCK) {
        this.#ready.push(fill);
        this.#fill = undefined;
        this.#filled = 0;
      }
    }
    this.#queued += length;
    this.#writing ??= this.#writeLoop();
    if (this.#queued > HIGH_WATER_MARK) this.#blocked = true;
    return !this.#blocked;
  }

  async #writeLoop(): Promise<void> {
    // Started by the first write of a turn: the turn's other writes (a request's value after
    // its line, ...) join that first block before it goes.
    await undefined;
    let sent = 0;
    try {
      while (!this.#closed) {
        // The next full block, else whatever the fill block holds (it is taken, so `write`
        // starts another).
        let block: Uint8Array;
        let length: number;
        if (this.#head < this.#ready.length) {
          block = this.#ready[this.#head]!;
          this.#ready[this.#head++] = EMPTY;
          if (this.#head === this.#ready.length) {
            this.#ready.length = 0;
            this.#head = 0;
          }
          length = BLOCK;
        } else if (this.#filled > 0) {
          block = this.#fill!;
          length = this.#filled;
          this.#fill = undefined;
          this.#filled = 0;
        } else break;
        let off = 0;
        while (off < length) {
          // Deno may write fewer bytes than asked: continue from where it stopped.
          off += await this.#conn.write(block.subarray(off, length));
          if (this.#closed) return;
        }
        this.#queued -= length;
        sent += length;
        if (this.#pool.length < POOL_MAX) this.#pool.push(block);
        if (this.#blocked && this.#queued < LOW_WATER_MARK) {
          this.#blocked = false;
          this.#handlers.drain();
        }
      }
      // Small requests only since the loop started: give one pooled block back, so a
      // connection back to small requests after large values returns their blocks.
      if (sent < BLOCK / 8 && this.#pool.length > POOL_MIN) this.#pool.pop();
    } catch (error) {
      this.#close(this.#tlsName === undefined ? error : tlsSessionError(error, this.#tlsName));
    } finally {
      this.#writing = undefined;
    }
  }

  destroy(): void {
    this.#close(undefined);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #close(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = [];
    this.#head = 0;
    this.#fill = undefined;
    this.#filled = 0;
    this.#pool = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
    this.#handlers.closed(error);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Opens a connection with `Deno.connect`, or a TLS connection when `options.tls` is set.
 *
 * With TLS the handshake completes before the promise resolves. Without a client certificate the
 * TCP connection is opened with `Deno.connect` (so `signal` cancels it) and upgraded with
 * `Deno.startTls`; with one, `Deno.connectTls` opens it, and an abort during its TCP connect
 * takes effect once that connect settles (the socket is then closed at once).
 *
 * @param endpoint The server's TCP address or unix socket path.
 * @param handlers Receives data, drain and close events.
 * @param options The abort signal, TCP no-delay setting and TLS settings.
 * @returns The open transport.
 * @throws {MemcachedError} `TLS_FAILED` when the handshake fails (untrusted, expired or misnamed
 * certificate, refused client certificate); `UNSUPPORTED` for TLS over a unix socket, or for a
 * client certificate with a `serverName` other than the host; `INVALID_ARGUMENT` for a `cert`
 * without a `key` or the reverse, or either not being valid PEM (a `ca` entry that is not PEM
 * is ignored by Deno, so the server then fails as untrusted). Other failures reject with Deno's
 * error.
 *
 * @example Passing the Deno adapter explicitly
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * await using client = await connect("127.0.0.1:11211", { connector: denoConnector });
 * ```
 *
 * @example Opening a TLS transport directly
 * ```ts ignore
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * using transport = await denoConnector(
 *   { kind: "tcp", host: "10.0.0.5", port: 11211 },
 *   { data: (chunk) => console.log(chunk.length), drain: () => {}, closed: () => {} },
 *   {
 *     signal: AbortSignal.timeout(5_000),
 *     noDelay: true,
 *     tls: { ca: [await Deno.readTextFile("ca.pem")], serverName: "cache.internal" },
 *   },
 * );
 * transport.write(new TextEncoder().encode("version\r\n"));
 * ```
 */
export const denoConnector: Connector = async (
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
): Promise<Transport> => {
  const net = (globalThis as unknown as { Deno: DenoNet }).Deno;
  const { signal, tls } = options;
  signal.throwIfAborted();
  if (tls !== undefined) return await connectTls(net, endpoint, handlers, options, tls);
  const conn = endpoint.kind === "tcp"
    ? await net.connect({ hostname: endpoint.host, port: endpoint.port, signal })
    : await net.connect({ transport: "unix", path: endpoint.path });
  if (signal.aborted) {
    conn.close();
    signal.throwIfAborted();
  }
  if (endpoint.kind === "tcp" && options.noDelay) conn.setNoDelay?.(true);
  return new DenoTransport(conn, handlers, undefined);
};

/** Opens a TLS connection and completes its handshake (see {@linkcode denoConnector}). */
async function connectTls(
  net: DenoNet,
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
  tls: TlsOptions,
): Promise<Transport> {
  const { signal } = options;
  if (endpoint.kind === "unix") {
    throw new MemcachedError(
      "UNSUPPORTED",
      `Cannot connect to ${endpoint.path} with TLS: Deno supports TLS over TCP only`,
    );
  }
  const where = endpointName(endpoint);
  checkTls(tls, `Cannot connect to ${where} with TLS`);
  const serverName = tls.serverName ?? endpoint.host;
  const caCerts = tls.ca === undefined ? undefined : [...tls.ca];
  let conn: DenoConn;
  if (tls.cert !== undefined && tls.key !== undefined) {
    if (serverName !== endpoint.host) {
      throw new MemcachedError(
        "UNSUPPORTED",
        `Cannot connect to ${where} with TLS: Deno cannot send a client certificate when ` +
          `serverName (${serverName}) differs from the host (Deno.startTls takes no certificate)`,
      );
    }
    // Deno.connectTls takes no signal: an abort during its TCP connect is honoured below.
    try {
      conn = await net.connectTls({
        hostname: endpoint.host,
        port: endpoint.port,
        ...(caCerts === undefined ? {} : { caCerts }),
        cert: tls.cert,
        key: tls.key,
      });
    } catch (error) {
      const text = error instanceof Error ? error.message : "";
      // With a client certificate, Deno runs the handshake inside connectTls.
      const reason = reasonOf(error);
      if (reason !== undefined) throw tlsFailure("handshake", serverName, reason, error);
      if (!/certificate data|key data|No certificates|No keys|private key/i.test(text)) throw error;
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot connect to ${where} with TLS: the client certificate or key is not valid PEM ` +
          `(${text})`,
        { cause: error },
      );
    }
  } else {
    const tcp = await net.connect({ hostname: endpoint.host, port: endpoint.port, signal });
    try {
      signal.throwIfAborted();
      conn = await net.startTls(tcp, {
        hostname: serverName,
        ...(caCerts === undefined ? {} : { caCerts }),
      });
    } catch (error) {
      closeQuietly(tcp);
      throw error;
    }
  }
  try {
    await handshake(conn, signal, serverName);
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  if (options.noDelay) conn.setNoDelay?.(true);
  return new DenoTransport(conn, handlers, serverName);
}

/**
 * Runs the TLS handshake of `conn`; an abort closes the socket, which ends the handshake op, so
 * the promise settles only when no op is left pending.
 */
async function handshake(conn: DenoConn, signal: AbortSignal, serverName: string): Promise<void> {
  signal.throwIfAborted();
  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await conn.handshake?.();
  } catch (error) {
    signal.throwIfAborted();
    throw tlsFailure("handshake", serverName, reasonOf(error), error);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  signal.throwIfAborted();
}

function closeQuietly(conn: DenoConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Which check failed, from the message of a rustls error as Deno reports it. */
function reasonOf(error: unknown): string | undefined {
  const text = error instanceof Error ? error.message : String(error);
  const alert = /received fatal alert: (\w+)/.exec(text)?.[1];
  if (alert === "CertificateRequired") return "the server demands a client certificate";
  if (alert !== undefined && /Certificate|UnknownCA/.test(alert)) {
    return "the server refused the client certificate";
  }
  if (alert !== undefined) return `the server ended the handshake with the alert ${alert}`;
  if (/UnknownIssuer/.test(text)) return "the certificate is not signed by a trusted CA";
  if (/not valid for name|NotValidForName/.test(text)) {
    return "the certificate does not name the server";
  }
  if (/certificate expired|NotValidYet|not valid yet/i.test(text)) {
    return "the certificate is expired or not yet valid";
  }
  if (/UnsupportedCertVersion/.test(text)) {
    return "the certificate is X.509 version 1, which Deno's TLS (rustls) refuses";
  }
  if (/invalid peer certificate/.test(text)) return "the certificate is invalid";
  if (/corrupt message|InvalidContentType/.test(text)) {
    return "the server does not speak TLS on this port";
  }
  return undefined;
}

/**
 * Types an error of an established TLS session: a fatal alert (the server refusing the client
 * certificate arrives after the handshake in TLS 1.3) or a record that does not decrypt is
 * `TLS_FAILED`; other errors (reset, broken pipe) are kept as they are.
 */
function tlsSessionError(error: unknown, serverName: string): unknown {
  const reason = error instanceof Error ? reasonOf(error) : undefined;
  return reason === undefined ? error : tlsFailure("session", serverName, reason, error);
}
