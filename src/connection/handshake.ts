/**
 * The requests a connection completes before any other (authentication, as the dialect makes
 * it), and how they run: one after another, each written alone once the one before it
 * succeeded, within the connect timeout.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import type { Opening } from "./opening.ts";
import type { ReplyDecoder, Request } from "./request.ts";

/**
 * Requests a connection must complete before any other (authentication), one after another:
 * each is written only once the one before it succeeded, so a step may check the server
 * before the next one sends credentials.
 */
export interface Handshake {
  /** Make the requests, in order, with the deadline of the connect timeout. */
  readonly steps: readonly ((deadline: number) => Request<unknown>)[];
  /** Makes the decoder that reads their replies. */
  decoder(): ReplyDecoder;
}

/**
 * Runs a handshake's steps in order: each request is made with `deadline`, handed to `send`
 * (which writes it alone; its reply is read with the handshake's decoder) and awaited before
 * the next is made.
 *
 * @param attempt The attempt to open the connection; its abort ends the handshake.
 * @throws {MemcachedError} A step's error (any other error as `AUTH_FAILED`): the connection is
 * of no use unauthenticated. Or the abort reason once the attempt is aborted.
 */
export async function shake(
  handshake: Handshake,
  deadline: number,
  send: (request: Request<unknown>) => void,
  attempt: Opening,
): Promise<void> {
  for (const step of handshake.steps) {
    const request = step(deadline);
    send(request);
    // If the attempt is aborted (connect timeout, client closed) the caller maps the abort to
    // its error and fails the connection, which rejects this request: nobody awaits it then.
    request.promise.catch(() => {});
    try {
      await attempt.race(request.promise);
    } catch (error) {
      if (attempt.signal.aborted || error instanceof MemcachedError) throw error;
      throw new MemcachedError(
        "AUTH_FAILED",
        `Cannot authenticate: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}
