/**
 * The contract between the client and a runtime adapter. The client's core only ever sees a
 * {@linkcode Transport}; `src/adapters/deno.ts` and `src/adapters/bun.ts` supply one each.
 *
 * @module
 */

/** Where a server listens: TCP host and port, or a unix socket path. */
export type Endpoint =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** Callbacks an adapter calls. Each is called from the runtime's event loop, never re-entrantly. */
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
  /** Resolves once the socket and every operation the adapter started on it are finished. */
  readonly done: Promise<void>;
}

/** Options an adapter's connect function receives. */
export interface ConnectorOptions {
  /** Aborts the connection attempt (connect timeout, client closed). */
  readonly signal: AbortSignal;
  /** Disable Nagle's algorithm on TCP sockets. */
  readonly noDelay: boolean;
}

/**
 * Opens a transport. Rejects when the connection cannot be opened or `signal` aborts; on
 * rejection nothing is left open.
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
