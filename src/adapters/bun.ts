/**
 * The Bun adapter: a {@linkcode Transport} over `Bun.connect` (TCP and unix sockets).
 *
 * `socket.write` is non-blocking and may take only part of a chunk; the rest waits in a queue
 * that the socket's `drain` handler continues. `end` (the server closed its side), `error` and
 * `close` all lead to one `closed` call, after which the socket is terminated.
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

/** The part of Bun's `Socket` this adapter uses. */
interface BunSocket {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  terminate(): void;
  setNoDelay?(noDelay?: boolean): boolean;
}

interface BunSocketHandler {
  binaryType: "uint8array";
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
  close(socket: BunSocket, error?: Error): void;
  connectError(socket: BunSocket, error: Error): void;
}

interface BunNet {
  connect(
    options:
      | { hostname: string; port: number; socket: BunSocketHandler }
      | { unix: string; socket: BunSocketHandler },
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
  #blocked = false;
  #closed = false;

  constructor(handlers: TransportHandlers) {
    this.#handlers = handlers;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  get closed(): boolean {
    return this.#closed;
  }

  attach(socket: BunSocket): void {
    this.#socket = socket;
  }

  /** The handler object given to `Bun.connect`; every callback routes to this transport. */
  handler(): BunSocketHandler {
    return {
      binaryType: "uint8array",
      data: (_socket, data) => {
        if (!this.#closed) this.#handlers.data(data);
      },
      drain: () => this.#flush(),
      end: () => this.#close(undefined),
      error: (_socket, error) => this.#close(error),
      close: (_socket, error) => {
        this.#close(error);
        this.#resolveDone();
      },
      connectError: (_socket, error) => {
        this.#closed = true;
        this.#resolveDone();
        void error; // Bun.connect rejects with it; the connector reports it.
      },
    };
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
        queueMicrotask(() => this.#close(new Error("the socket closed while writing")));
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
        queueMicrotask(() => this.#close(new Error("the socket closed while writing")));
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
    const socket = this.#socket;
    if (socket === undefined) this.#resolveDone();
    else {
      try {
        socket.terminate();
      } catch {
        // Already closed.
      }
    }
    this.#handlers.closed(error);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Opens a connection with `Bun.connect`.
 *
 * @param endpoint The server's TCP address or unix socket path.
 * @param handlers Receives data, drain and close events.
 * @param options The abort signal and TCP no-delay setting.
 * @returns The open transport.
 *
 * @example Passing the Bun adapter explicitly
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 * import { bunConnector } from "@mica/memcached/adapters/bun";
 *
 * await using client = await connect("127.0.0.1:11211", { connector: bunConnector });
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
  const transport = new BunTransport(handlers);
  const socket = endpoint.kind === "tcp"
    ? await net.connect({
      hostname: endpoint.host,
      port: endpoint.port,
      socket: transport.handler(),
    })
    : await net.connect({ unix: endpoint.path, socket: transport.handler() });
  transport.attach(socket);
  if (signal.aborted || transport.closed) {
    socket.terminate();
    signal.throwIfAborted();
    throw new Error("the connection closed while opening");
  }
  if (endpoint.kind === "tcp" && options.noDelay) socket.setNoDelay?.(true);
  return transport;
};
