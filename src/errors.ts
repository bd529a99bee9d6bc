/**
 * The one error type Mica throws, with a stable machine-readable {@linkcode ErrorCode}.
 *
 * This module is pure: the protocol core imports it, so it uses no runtime globals.
 *
 * @module
 */

/**
 * Every error code Mica raises. Codes are stable across versions; messages are not.
 *
 * Caller mistakes (rejected before any byte is written, nothing else is disturbed):
 * - `INVALID_KEY`: a key is empty, longer than 250 bytes, or holds a space or control character.
 * - `INVALID_VALUE`: a value the client's serializer cannot store (with the default scheme:
 *   `undefined`, a function, a symbol, a `bigint` or a cyclic object).
 * - `VALUE_TOO_LARGE`: a store's key, value (after compression) and memcached's item header do
 *   not fit the client's `maxValueSize` (the server's item size limit); or the server refused
 *   the item as over its own `-I`; on a read, a compressed item that would expand beyond
 *   `maxDecompressedSize` (a decompression bomb is refused, not inflated).
 * - `INVALID_TTL`: a TTL is negative, fractional, not a number, or a `Date` that cannot be sent.
 * - `INVALID_DELTA`: an `incr`/`decr` delta or initial value is not an integer in 0..2^64-1.
 * - `INVALID_ARGUMENT`: any other bad argument or option (CAS token, flags, timeout, address).
 *
 * Lifecycle and transport:
 * - `CLIENT_CLOSED`: the client was closed before or while the request ran.
 * - `CONNECT_FAILED`: the connection could not be opened (refused, no such host or path).
 * - `CONNECT_TIMEOUT`: the connection was not open within `connectTimeout`.
 * - `TLS_FAILED`: the TLS handshake failed: the server's certificate is not trusted (unknown CA,
 *   wrong name, expired) or the server refused the client's certificate.
 * - `AUTH_FAILED`: the server refused the credentials (SASL or ASCII auth), or demands
 *   authentication and none was configured.
 * - `CONNECTION_CLOSED`: the connection closed or failed while the request was pending.
 * - `TIMEOUT`: the request took longer than its `timeout`.
 * - `ABORTED`: the request's `AbortSignal` fired.
 * - `QUEUE_FULL`: more requests are waiting than `maxQueued` allows.
 * - `SERVER_DEAD`: the key's server failed `failureLimit` times in a row and is marked dead
 *   (fail-fast policy) until a probe finds it back.
 * - `NO_SERVERS`: every server is marked dead.
 *
 * Server replies:
 * - `PROTOCOL_ERROR`: the server sent bytes that are not valid protocol; the connection is dropped.
 * - `SERVER_ERROR`: the server answered `SERVER_ERROR` (for example out of memory).
 * - `CLIENT_ERROR`: the server answered `CLIENT_ERROR` (it rejected the request).
 * - `COMMAND_ERROR`: the server answered `ERROR` (it does not know the command).
 * - `UNSUPPORTED`: the configured protocol cannot express the operation or option safely (for
 *   example `incr` with an initial value over the text protocol); rejected before any byte.
 * - `DECODE_FAILED`: a stored item cannot be read in the client's flag scheme (its flags are
 *   unknown to the scheme, it is pickled or PHP-serialized, its JSON or compressed data is
 *   broken); that key's read fails, the connection and other requests are not disturbed.
 *
 * @example Retrying only transient failures
 * ```ts
 * import { type ErrorCode, isMemcachedError, MemcachedError } from "@mica/memcached";
 *
 * const TRANSIENT = new Set<ErrorCode>(["TIMEOUT", "CONNECTION_CLOSED", "SERVER_DEAD"]);
 * function shouldRetry(error: unknown): boolean {
 *   return isMemcachedError(error) && TRANSIENT.has(error.code);
 * }
 * console.log(shouldRetry(new MemcachedError("TIMEOUT", "Cannot get: timed out"))); // true
 * console.log(shouldRetry(new MemcachedError("INVALID_KEY", "Cannot use key: empty"))); // false
 * ```
 */
export type ErrorCode =
  | "INVALID_KEY"
  | "INVALID_VALUE"
  | "VALUE_TOO_LARGE"
  | "INVALID_TTL"
  | "INVALID_DELTA"
  | "INVALID_ARGUMENT"
  | "CLIENT_CLOSED"
  | "CONNECT_FAILED"
  | "CONNECT_TIMEOUT"
  | "TLS_FAILED"
  | "AUTH_FAILED"
  | "CONNECTION_CLOSED"
  | "TIMEOUT"
  | "ABORTED"
  | "QUEUE_FULL"
  | "SERVER_DEAD"
  | "NO_SERVERS"
  | "PROTOCOL_ERROR"
  | "SERVER_ERROR"
  | "CLIENT_ERROR"
  | "COMMAND_ERROR"
  | "UNSUPPORTED"
  | "DECODE_FAILED";

/**
 * The error Mica throws and rejects with. Branch on {@linkcode MemcachedError.code}, never on
 * the message. The original failure, when there is one, is kept in `cause`.
 *
 * Messages follow one scheme, the same in every runtime for the same fault:
 * `Cannot <action>[ on|to <server>]: <reason>[ (<code or the runtime's detail>)]`, for example
 * `Cannot connect to 10.0.0.5:11211: connection refused (ECONNREFUSED)`. A request that fails
 * with its connection names the server once (`Cannot get on 10.0.0.5:11211: connection refused
 * (ECONNREFUSED)`) and keeps the connection's error as `cause`, whose own `cause` is the
 * runtime's error (with its `code`).
 *
 * @example Branching on the code
 * ```ts
 * import { MemcachedError } from "@mica/memcached";
 *
 * function describe(error: unknown): string {
 *   if (error instanceof MemcachedError && error.code === "TIMEOUT") return "slow server";
 *   return "other failure";
 * }
 * console.log(describe(new MemcachedError("TIMEOUT", "Cannot get: timed out after 5 ms")));
 * ```
 */
export class MemcachedError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode;

  /**
   * Creates an error.
   *
   * @param code The stable error code.
   * @param message A sentence saying what failed and why.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MemcachedError";
    this.code = code;
  }
}

/**
 * Returns whether `error` is a {@linkcode MemcachedError}, optionally with the given code.
 *
 * @param error Any thrown value.
 * @param code If given, the code the error must have.
 * @returns `true` when the error is a `MemcachedError` (with that code).
 *
 * @example
 * ```ts
 * import { isMemcachedError, MemcachedError } from "@mica/memcached";
 *
 * const error: unknown = new MemcachedError("ABORTED", "Cannot get: aborted");
 * console.log(isMemcachedError(error, "ABORTED")); // true
 * ```
 */
export function isMemcachedError(error: unknown, code?: ErrorCode): error is MemcachedError {
  return error instanceof MemcachedError && (code === undefined || error.code === code);
}
