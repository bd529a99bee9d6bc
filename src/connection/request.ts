/**
 * A request's life: queued, written, settled. A request is owned by one connection from
 * `enqueue` until its reply arrives (or the connection dies), even after its caller has gone
 * away (timeout, abort): its reply must still be read to keep the stream in step, and is then
 * dropped. The caller's promise settles exactly once.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import type { ByteWriter } from "../protocol/mod.ts";
import type { TextSource } from "../protocol/values.ts";

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
  const detail = r.message === "" ? r.status : `${r.status} ${r.message}`;
  if (r.status === "SERVER_ERROR" && r.message.startsWith("object too large")) {
    return tooLargeError(command, detail);
  }
  if (
    r.status === "CLIENT_ERROR" &&
    (r.message === "unauthenticated" || r.message === "bad authentication token format")
  ) {
    // memcached -Y answers every command of an unauthenticated connection so; a text store is
    // read as a malformed auth token.
    return new MemcachedError(
      "AUTH_FAILED",
      `Cannot ${command}: the server demands authentication (it answered ${detail})`,
    );
  }
  const code = r.status === "CLIENT_ERROR"
    ? "CLIENT_ERROR"
    : r.status === "SERVER_ERROR"
    ? "SERVER_ERROR"
    : "COMMAND_ERROR";
  return new MemcachedError(code, `Cannot ${command}: the server answered ${detail}`);
}

/**
 * The server refused an item as over its `-I` (text and meta `SERVER_ERROR object too large for
 * cache`, binary status 0x03): its limit is lower than the client's `maxValueSize`.
 */
export function tooLargeError(command: string, answer: string): MemcachedError {
  return new MemcachedError(
    "VALUE_TOO_LARGE",
    `Cannot ${command}: the server answered ${answer} (its item size limit, -I, is below the ` +
      `client's maxValueSize)`,
  );
}

/** Whether a text or meta reply is an error line (which never carries an opaque token). */
export function isErrorReply(r: { readonly status: string }): boolean {
  return r.status === "ERROR" || r.status === "CLIENT_ERROR" || r.status === "SERVER_ERROR";
}

/**
 * What {@linkcode Request.handle} returns: `true` when the request needs no more replies,
 * `false` when it needs more, or {@linkcode PASS} when it is finished and the reply it was given
 * belongs to the next request (members of a batched text `get`).
 */
export type Verdict = boolean | typeof PASS;

/** The request is finished; hand the same reply to the next request. */
export const PASS = 2;

/** What a connection reads replies with: a protocol's incremental decoder. */
export interface ReplyDecoder extends TextSource {
  /** Adds received bytes. */
  feed(chunk: Uint8Array): void;
  /** The next complete reply, or `undefined` when more bytes are needed. */
  next(): object | undefined;
}

/** An abort signal a request follows, and the listener it added. */
interface AbortWatch {
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

/**
 * Removes a request's abort listener. A plain function rather than a private method: a class
 * with private methods stamps a brand on every instance, one more slot per request.
 */
function unwatch(watch: AbortWatch): undefined {
  watch.signal.removeEventListener("abort", watch.onAbort);
  return undefined;
}

// Where `captureResolvers` leaves the functions of the promise being constructed. The Promise
// constructor runs its executor synchronously, so a request takes them (and clears the slots)
// before any other promise can be made.
let capturedResolve: ((value: unknown) => void) | undefined;
let capturedReject: ((error: unknown) => void) | undefined;

function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve as (value: unknown) => void;
  capturedReject = reject;
}

/**
 * Where a request without a promise of its own delivers its outcome (a part of a multi-server
 * `getMany`, which settles one promise for all its parts). Each function is called at most once,
 * and only one of them.
 */
export interface Settle<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** The `promise` of a request that settles through a {@linkcode Settle}: never settled. */
const DETACHED: Promise<never> = new Promise<never>(() => {});

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
  /** The caller's promise (never settled when the request was made with a `Settle`). */
  readonly promise: Promise<T>;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  /** The abort signal followed, with its listener; only for requests given a signal. */
  #abort: AbortWatch | undefined = undefined;

  /**
   * @param deadline When the caller gets a `TIMEOUT`.
   * @param settle Where to deliver the outcome instead of a promise of its own.
   */
  constructor(deadline: number, settle?: Settle<T>) {
    this.deadline = deadline;
    if (settle !== undefined) {
      this.promise = DETACHED;
      this.#resolve = settle.resolve as (value: unknown) => void;
      this.#reject = settle.reject;
      return;
    }
    // One shared executor instead of a closure (and its context) per request.
    this.promise = new Promise<T>(captureResolvers);
    this.#resolve = capturedResolve!;
    this.#reject = capturedReject!;
    capturedResolve = capturedReject = undefined;
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
  abstract handle(r: never, text: TextSource): Verdict;

  /**
   * Requests with the same batch key, queued one after another, may share one wire command
   * (text `get k1 k2 ...`): the first encodes them all with {@linkcode Request.encodeBatch}, and
   * the replies are handed to each in turn, a member answering {@linkcode PASS} for a reply
   * that belongs to the next. `undefined` (the default): never batched. A getter, so requests
   * carry no slot for it.
   */
  get batchKey(): string | undefined {
    return undefined;
  }

  /** Encodes `members` (this request first, all with its batch key) as one command. */
  encodeBatch(_w: ByteWriter, _members: readonly Request[]): void {
    throw new MemcachedError("PROTOCOL_ERROR", `Cannot batch ${this.command}`);
  }

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
    this.#abort = { signal, onAbort };
    signal.addEventListener("abort", onAbort, { once: true });
  }

  /**
   * A promise that settles when the request does: its own promise, or for a request made with
   * a `Settle` (whose `promise` never settles) one made now, which fulfils then.
   */
  whenSettled(): Promise<unknown> {
    if (this.promise !== DETACHED) return this.promise;
    if (this.settled) return Promise.resolve();
    // Not Promise.withResolvers: Node 20 lacks it.
    return new Promise<void>((resolve) => {
      const onValue = this.#resolve;
      const onError = this.#reject;
      this.#resolve = (value) => {
        onValue(value);
        resolve();
      };
      this.#reject = (error) => {
        onError(error);
        resolve();
      };
    });
  }

  /** Settles the caller's promise with a value, once. */
  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#abort !== undefined) this.#abort = unwatch(this.#abort);
    this.#resolve(value);
  }

  /**
   * Settles with a value, or rejects with it when it is a `MemcachedError`: what a value reader
   * returns for an item it cannot read (the reply was still read whole, so the stream is in
   * step).
   */
  finish(value: T | MemcachedError): void {
    // Most values are strings: the typeof test spares them the prototype walk.
    if (typeof value === "object" && value instanceof MemcachedError) this.reject(value);
    else this.resolve(value as T);
  }

  /** Settles the caller's promise with an error, once. */
  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#abort !== undefined) this.#abort = unwatch(this.#abort);
    this.#reject(error);
  }
}
