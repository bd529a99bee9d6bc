/**
 * The Deno adapter: a {@linkcode Transport} over `Deno.connect` (TCP and unix sockets).
 *
 * One read loop reads into a single reusable buffer (no allocation per read); one write loop
 * drains a queue of chunks, looping on partial writes. Both loops end when the socket closes,
 * and {@linkcode Transport.done} resolves only after both have ended, so no Deno op outlives
 * the connection.
 *
 * @module
 */

import type {
  Connector,
  ConnectorOptions,
  Endpoint,
  Transport,
  TransportHandlers,
} from "../transport.ts";
import { HIGH_WATER_MARK, LOW_WATER_MARK } from "../transport.ts";

/** The part of `Deno.Conn` this adapter uses. */
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
}

interface DenoNet {
  connect(
    options:
      | { hostname: string; port: number; transport?: "tcp"; signal?: AbortSignal }
      | { transport: "unix"; path: string },
  ): Promise<DenoConn>;
}

const READ_SIZE = 64 * 1024;

class DenoTransport implements Transport {
  readonly done: Promise<void>;
  #conn: DenoConn;
  #handlers: TransportHandlers;
  #queue: Uint8Array[] = [];
  #head = 0;
  #queued = 0;
  #blocked = false;
  #writing: Promise<void> | undefined;
  #closed = false;

  constructor(conn: DenoConn, handlers: TransportHandlers) {
    this.#conn = conn;
    this.#handlers = handlers;
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
      error = e;
    }
    this.#close(error);
    await this.#writing;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return false;
    // Deno's write is asynchronous and reads the buffer later, so it gets its own copy.
    this.#queue.push(chunk.slice());
    this.#queued += chunk.length;
    this.#writing ??= this.#writeLoop();
    if (this.#queued > HIGH_WATER_MARK) this.#blocked = true;
    return !this.#blocked;
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#head < this.#queue.length && !this.#closed) {
        const chunk = this.#queue[this.#head]!;
        let off = 0;
        while (off < chunk.length) {
          // Deno may write fewer bytes than asked: continue from where it stopped.
          off += await this.#conn.write(off === 0 ? chunk : chunk.subarray(off));
          if (this.#closed) return;
        }
        this.#queue[this.#head++] = EMPTY;
        this.#queued -= chunk.length;
        if (this.#head === this.#queue.length) {
          this.#queue.length = 0;
          this.#head = 0;
        }
        if (this.#blocked && this.#queued < LOW_WATER_MARK) {
          this.#blocked = false;
          this.#handlers.drain();
        }
      }
    } catch (error) {
      this.#close(error);
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
    this.#queue = [];
    this.#head = 0;
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
 * Opens a connection with `Deno.connect`.
 *
 * @param endpoint The server's TCP address or unix socket path.
 * @param handlers Receives data, drain and close events.
 * @param options The abort signal and TCP no-delay setting.
 * @returns The open transport.
 *
 * @example Passing the Deno adapter explicitly
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 * import { denoConnector } from "@mica/memcached/adapters/deno";
 *
 * await using client = await connect("127.0.0.1:11211", { connector: denoConnector });
 * ```
 */
export const denoConnector: Connector = async (
  endpoint: Endpoint,
  handlers: TransportHandlers,
  options: ConnectorOptions,
): Promise<Transport> => {
  const net = (globalThis as unknown as { Deno: DenoNet }).Deno;
  const { signal } = options;
  signal.throwIfAborted();
  const conn = endpoint.kind === "tcp"
    ? await net.connect({ hostname: endpoint.host, port: endpoint.port, signal })
    : await net.connect({ transport: "unix", path: endpoint.path });
  if (signal.aborted) {
    conn.close();
    signal.throwIfAborted();
  }
  if (endpoint.kind === "tcp" && options.noDelay) conn.setNoDelay?.(true);
  return new DenoTransport(conn, handlers);
};
