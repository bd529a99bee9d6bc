/**
 * A request's life: queued, written, settled. A request is owned by one connection from
 * `enqueue` until its reply arrives (or the connection dies), even after its caller has gone
 * away (timeout, abort): its reply must still be read to keep the stream in step, and is then
 * dropped. The caller's promise settles exactly once.
 *
 * @module
 */

import { MemcachedError } from "./errors.ts";
import type { ByteWriter } from "./protocol/mod.ts";

/** Where a request is in its life: queued, written (awaiting its reply), or finished. */
export const State = {
  /** Waiting in the connection's write queue. */
  Queued: 0,
  /** Written; waiting for its reply. */
  Written: 1,
  /** Its reply was read, or it was removed before being written. */
  Finished: 2,
} as const;

/** One of the values of {@linkcode State}. */
export type State = typeof State[keyof typeof State];

/** Maps a server error reply to a {@linkcode MemcachedError}. */
export function serverError(
  r: { readonly status: string; readonly message: string },
  command: string,
): MemcachedError {
  // memcached's ASCII auth (-Y) answers every command of an unauthenticated connection so.
  const code = r.status === "CLIENT_ERROR" && r.message === "unauthenticated"
    ? "AUTH_FAILED"
    : r.status === "CLIENT_ERROR"
    ? "CLIENT_ERROR"
    : r.status === "SERVER_ERROR"
    ? "SERVER_ERROR"
    : "COMMAND_ERROR";
  const detail = r.message === "" ? r.status : `${r.status} ${r.message}`;
  return new MemcachedError(code, `Cannot ${command}: the server answered ${detail}`);
}

/** Whether a text or meta reply is an error line (which never carries an opaque token). */
export function isErrorReply(r: { readonly status: string }): boolean {
  return r.status === "ERROR" || r.status === "CLIENT_ERROR" || r.status === "SERVER_ERROR";
}

/** What a connection reads replies with: a protocol's incremental decoder. */
export interface ReplyDecoder {
  /** Adds received bytes. */
  feed(chunk: Uint8Array): void;
  /** The next complete reply, or `undefined` when more bytes are needed. */
  next(): object | undefined;
}

/**
 * The base of every request. Subclasses encode themselves and interpret their replies.
 */
export abstract class Request<T = unknown> {
  /** The command's name, for messages ("get", "set"). */
  abstract readonly command: string;
  /** How many opaque tokens `encode` uses (0 for plain commands). */
  opaqueCount = 1;
  /** The first opaque token, assigned when written. */
  opaque = -1;
  state: State = State.Queued;
  /** Set once the caller's promise is settled (before or after the reply). */
  settled = false;
  /** When (on the `clock.ts` clock) the caller gets a `TIMEOUT`. */
  deadline: number;
  readonly promise: Promise<T>;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(deadline: number) {
    this.deadline = deadline;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve as (value: unknown) => void;
      this.#reject = reject;
    });
  }

  /** Writes the request's bytes using opaque tokens `opaque .. opaque + opaqueCount - 1`. */
  abstract encode(w: ByteWriter, opaque: number): void;

  /**
   * Handles one reply addressed to this request. The reply's type is the decoder's of the
   * connection's protocol (a request is only ever given to a connection of its protocol).
   *
   * @returns `true` when the request needs no more replies.
   * @throws {MemcachedError} `PROTOCOL_ERROR` when the reply cannot belong to this request:
   * the connection is then out of step and must be dropped.
   */
  abstract handle(r: never): boolean;

  /** Checks that a meta or binary reply carries this request's opaque token. */
  protected expectOpaque(r: { readonly opaque: number }): void {
    if (r.opaque !== this.opaque) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: ${this.command} expected opaque ${this.opaque}, got ${r.opaque}`,
      );
    }
  }

  /** Follows an abort signal until the request settles. */
  watch(signal: AbortSignal | undefined, onAbort: () => void): void {
    if (signal === undefined) return;
    this.#signal = signal;
    this.#onAbort = onAbort;
    signal.addEventListener("abort", onAbort, { once: true });
  }

  #unwatch(): void {
    if (this.#signal !== undefined) {
      this.#signal.removeEventListener("abort", this.#onAbort!);
      this.#signal = undefined;
      this.#onAbort = undefined;
    }
  }

  /** Settles the caller's promise with a value, once. */
  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.#unwatch();
    this.#resolve(value);
  }

  /** Settles the caller's promise with an error, once. */
  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.#unwatch();
    this.#reject(error);
  }
}
