/**
 * One attempt to open a connection: the transport and any handshake must be done within the
 * connect timeout, and the attempt stops early when the client closes or the connection fails.
 * It names its failure: `CONNECT_TIMEOUT`, `CLIENT_CLOSED` or `CONNECT_FAILED`.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import {
  type Connector,
  type Endpoint,
  endpointName,
  socketReason,
  type TlsOptions,
  type Transport,
  type TransportHandlers,
} from "./transport.ts";

/** How the transport of an attempt is opened. */
export interface OpeningOptions {
  /** Disable Nagle's algorithm. */
  readonly noDelay: boolean;
  /** TLS settings passed to the connector. */
  readonly tls?: TlsOptions;
}

/**
 * An attempt to open one connection. Its {@linkcode Opening.signal} aborts when the connect
 * timeout passes, when the caller's signal aborts (the client closing), when the connection
 * fails ({@linkcode Opening.abort}, possibly before the attempt starts) and when the attempt
 * ends; what the attempt awaits is raced with it ({@linkcode Opening.race}).
 */
export class Opening {
  readonly #endpoint: Endpoint;
  readonly #options: OpeningOptions;
  readonly #controller = new AbortController();
  #timeout = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timedOut = false;
  #caller: AbortSignal | undefined = undefined;
  readonly #onAbort = (): void => this.#controller.abort();

  /** Prepares an attempt to open a connection to `endpoint`; it starts with `connect`. */
  constructor(endpoint: Endpoint, options: OpeningOptions) {
    this.#endpoint = endpoint;
    this.#options = options;
  }

  /** Aborts once the attempt is over, however it ends. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Starts the attempt: opens a transport whose events go to `handlers`, within `timeout`
   * milliseconds and until `signal` (the caller's) aborts.
   *
   * @returns The transport; rejects with the connector's error or the abort reason.
   */
  connect(
    connector: Connector,
    handlers: TransportHandlers,
    timeout: number,
    signal: AbortSignal,
  ): Promise<Transport> {
    const options = this.#options;
    const controller = this.#controller;
    this.#timeout = timeout;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      controller.abort();
    }, timeout);
    this.#caller = signal;
    signal.addEventListener("abort", this.#onAbort, { once: true });
    const attempt = connector(this.#endpoint, handlers, {
      signal: controller.signal,
      noDelay: options.noDelay,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    // Adapters whose connect cannot be cancelled settle later; the race below must not leave
    // a rejection unobserved, and a late transport closes itself on the aborted signal.
    attempt.catch(() => {});
    return this.race(attempt);
  }

  /** Settles as `promise` does, unless the attempt is aborted first: then with the reason. */
  async race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#controller.signal;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        promise,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
  }

  /** Aborts the attempt: the connection failed. */
  abort(): void {
    this.#controller.abort();
  }

  /**
   * What the attempt's failure is called, given what it threw: `CONNECT_TIMEOUT` once the
   * timeout passed, `CLIENT_CLOSED` once the caller's signal aborted, a `MemcachedError`
   * unchanged, anything else as `CONNECT_FAILED`.
   */
  failure(error: unknown): MemcachedError {
    const where = endpointName(this.#endpoint);
    if (this.#timedOut) {
      return new MemcachedError(
        "CONNECT_TIMEOUT",
        `Cannot connect to ${where}: no connection within ${this.#timeout} ms`,
      );
    }
    if (this.#caller?.aborted === true) {
      return new MemcachedError("CLIENT_CLOSED", `Cannot connect to ${where}: the client closed`);
    }
    // The adapter's own typed failure (TLS_FAILED, UNSUPPORTED, INVALID_ARGUMENT), or the
    // handshake's (AUTH_FAILED).
    if (error instanceof MemcachedError) return error;
    return new MemcachedError(
      "CONNECT_FAILED",
      `Cannot connect to ${where}: ${socketReason(error)}`,
      { cause: error },
    );
  }

  /** Ends the attempt, done or failed: stops its clock and aborts what it still awaits. */
  end(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener("abort", this.#onAbort);
    this.#controller.abort();
  }
}
