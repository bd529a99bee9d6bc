/**
 * Matching replies to requests. A server answers in the order requests were written, so each
 * complete reply goes to the oldest request in flight, which says whether it needs more: a
 * request that needs no more leaves the in-flight list, finished. A batch member that is done
 * passes the reply it was given on to the next member. A reply that fits no request means the
 * stream is out of step.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import type { Deque } from "./deque.ts";
import { PASS, type ReplyDecoder, type Request, State } from "./request.ts";

/**
 * Feeds a chunk to `decoder` and hands every complete reply to the request it answers, the
 * oldest of `inflight` (requests in write order).
 *
 * @throws {MemcachedError} `PROTOCOL_ERROR` when a reply has no request to go to, or a
 * request's own error when the reply cannot be its; anything the decoder throws on malformed
 * bytes. The connection is out of step then and must be dropped.
 */
export function dispatch(decoder: ReplyDecoder, chunk: Uint8Array, inflight: Deque<Request>): void {
  decoder.feed(chunk);
  for (;;) {
    const r = decoder.next();
    if (r === undefined) break;
    const request = inflight.peek();
    if (request === undefined) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: the server sent ${describeReply(r)} with no request waiting`,
      );
    }
    let verdict = request.handle(r as never, decoder);
    if (verdict === PASS) {
      // A batch member is done; the reply is the next member's.
      let member = request;
      do {
        inflight.shift();
        member.state = State.Finished;
        member = inflight.peek()!;
        if (member === undefined) {
          throw new MemcachedError(
            "PROTOCOL_ERROR",
            `Cannot match reply: the server sent ${describeReply(r)} after the last request ` +
              `of a batch`,
          );
        }
        verdict = member.handle(r as never, decoder);
      } while (verdict === PASS);
      if (verdict) {
        inflight.shift();
        member.state = State.Finished;
      }
    } else if (verdict) {
      inflight.shift();
      request.state = State.Finished;
    }
  }
}

/** Names a reply for a message: its status word (text, meta) or opcode (binary). */
function describeReply(r: object): string {
  const { status, opcode } = r as { status?: unknown; opcode?: unknown };
  if (typeof opcode === "number") {
    return `opcode 0x${opcode.toString(16)} (status ${String(status)})`;
  }
  return String(status);
}
