/**
 * The deadlines of one connection's requests: a single timer, set for the earliest, times out
 * the requests whose deadline passed (waiting or written) and drops the connection when
 * requests are overdue and its server has sent nothing for `stallTimeout`.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import { now as clockNow } from "./clock.ts";
import type { Deque } from "./deque.ts";
import { type Request, State } from "./request.ts";

/** What the deadlines of a connection look at and act on: the connection. */
export interface DeadlineHost {
  /** Requests not yet written, in call order. */
  readonly queue: Deque<Request>;
  /** Requests written and not yet answered, in write order. */
  readonly inflight: Deque<Request>;
  /** How many chunks the connection has read: a silent server adds none. */
  reads(): number;
  /** A request's deadline passed: its caller gets a `TIMEOUT`. */
  expire(request: Request): void;
  /** The server stopped answering: the connection must fail with `error`. */
  stalled(error: MemcachedError): void;
}

/** The timer of one connection's request deadlines, and its check for a stalled server. */
export class Deadlines {
  /**
   * When the timer fires: `Infinity` while it is not set, `-Infinity` once stopped. A request
   * due before it arms the timer ({@linkcode Deadlines.arm}); the connection reads it, and only
   * the deadlines set it.
   */
  at = Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Since when requests have been overdue with nothing read (-1: none are). */
  #stallSince = -1;
  /** The connection's read count then. */
  #stallReads = 0;
  readonly #where: string;
  readonly #stallTimeout: number;
  readonly #host: DeadlineHost;

  /**
   * @param where The server, as messages name it (`host:port`).
   * @param stallTimeout Milliseconds without any reply while requests are overdue before the
   * connection is dropped.
   */
  constructor(where: string, stallTimeout: number, host: DeadlineHost) {
    this.#where = where;
    this.#stallTimeout = stallTimeout;
    this.#host = host;
  }

  /** Sets the timer for `deadline` (on the `clock.ts` clock), unless the deadlines stopped. */
  arm(deadline: number): void {
    if (this.at === -Infinity) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.at = deadline;
    this.#timer = setTimeout(this.#sweep, Math.max(0, deadline - clockNow()));
  }

  /** Clears the timer for good: the connection closed. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.at = -Infinity;
  }

  /** Times out overdue requests and drops a connection that has stopped answering. */
  #sweep = (): void => {
    this.#timer = undefined;
    this.at = Infinity;
    const { queue, inflight } = this.#host;
    const now = clockNow();
    let next = Infinity;
    for (let i = 0; i < queue.length; i++) {
      const request = queue.at(i)!;
      if (request.state !== State.Queued) continue;
      if (request.deadline <= now) this.#host.expire(request);
      else if (request.deadline < next) next = request.deadline;
    }
    let overdue = false;
    for (let i = 0; i < inflight.length; i++) {
      const request = inflight.at(i)!;
      if (request.deadline <= now) {
        overdue = true;
        this.#host.expire(request);
      } else if (!request.settled && request.deadline < next) next = request.deadline;
    }
    if (overdue) {
      const reads = this.#host.reads();
      if (this.#stallSince < 0 || reads !== this.#stallReads) {
        this.#stallSince = now;
        this.#stallReads = reads;
      } else if (now - this.#stallSince >= this.#stallTimeout) {
        this.#host.stalled(
          new MemcachedError(
            "CONNECTION_CLOSED",
            `Cannot use the connection to ${this.#where}: the server sent nothing for ` +
              `${now - this.#stallSince} ms`,
          ),
        );
        return;
      }
      next = Math.min(next, this.#stallSince + this.#stallTimeout);
    } else this.#stallSince = -1;
    if (next !== Infinity) this.arm(next);
  };
}
