/**
 * One connection to one server: it owns exactly one transport, one decoder, one timer and the
 * requests given to it. Requests issued in the same tick are encoded together and leave in one
 * write (in writes of about 256 KiB when large values make them more); at most `maxInFlight` are
 * written and unanswered at once, the rest wait in a bounded queue.
 *
 * Replies are matched in order and checked against each request's opaque token. A request whose
 * caller gave up (timeout, abort) after it was written stays in the in-flight list until its
 * reply arrives, and that reply is dropped, so no reply ever reaches the wrong caller. A reply
 * that does not fit (wrong token, unexpected kind, malformed bytes) drops the whole connection.
 *
 * @module
 */

import { now as clockNow } from "./clock.ts";
import { MemcachedError } from "../errors.ts";
import { ByteWriter, type DecoderOptions } from "../protocol/mod.ts";
import { Deadlines } from "./deadlines.ts";
import { Deque } from "./deque.ts";
import { type Handshake, shake } from "./handshake.ts";
import { Opening, type OpeningOptions } from "./opening.ts";
import { dispatch } from "./replies.ts";
import { type ReplyDecoder, type Request, State } from "./request.ts";
import {
  type Connector,
  type Endpoint,
  endpointName,
  socketReason,
  type Transport,
  type TransportHandlers,
} from "./transport.ts";

/** Limits and timeouts of one connection. */
export interface ConnectionOptions extends OpeningOptions {
  /** Requests written and not yet answered, at most. */
  readonly maxInFlight: number;
  /** Requests waiting to be written, at most; more reject with `QUEUE_FULL`. */
  readonly maxQueued: number;
  /** Milliseconds without any reply while requests are overdue before the connection is dropped. */
  readonly stallTimeout: number;
  /** The largest value accepted from the server. */
  readonly maxValueSize: number;
  /** Makes the decoder of the connection's protocol. */
  readonly decoder: (options: DecoderOptions) => ReplyDecoder;
  /**
   * Authentication run on each new connection before any request is written: its request is
   * written alone and read with its own decoder; if it fails the connection fails with its
   * error (`AUTH_FAILED`), within the connect timeout.
   */
  readonly handshake?: Handshake;
}

/** Who is told about a connection's life: its server's pool. */
export interface ConnectionOwner {
  /** The server answered for the first time on this connection: it is healthy. */
  replied(connection: Connection): void;
  /** The connection closed (it fails and is not used again); `error` says why. */
  closed(connection: Connection, error: MemcachedError): void;
}

/** Counts of what a connection holds, for leak checks and monitoring. */
export interface ConnectionCounters {
  /** Requests written and not yet answered (including ones whose caller gave up). */
  inFlight: number;
  /** Requests waiting to be written. */
  queued: number;
  /** Bytes written to the transport that its socket has not taken yet. */
  buffered: number;
}

const OPAQUE_LIMIT = 0x7fff_ffff;
/**
 * The most requests one batched command (text `get k1 k2 ...`) carries. Longer lines turn a
 * steady pipeline into bursts: at 64 gets in flight, 8 keys per line measured fastest (4: about
 * 5% slower; 12 and more: 10-25% slower; 1 key per line, no batching: half the speed), on Deno
 * and Bun alike.
 */
const MAX_BATCH = 8;
/**
 * A flush hands its bytes to the transport whenever this many are encoded, and stops taking
 * requests if the transport then refuses more: the writer's buffer and the transport's queue
 * stay near this size plus the high-water mark, whatever values a tick sends.
 */
const WRITE_SIZE = 256 * 1024;

/** A connection to one memcached server. */
export class Connection implements TransportHandlers {
  readonly endpoint: Endpoint;
  #options: ConnectionOptions;
  #transport: Transport | undefined = undefined;
  #decoder: ReplyDecoder;
  /** Reads the handshake's reply while it runs; then undefined. */
  #handshakeDecoder: ReplyDecoder | undefined = undefined;
  /** Whether requests may be written: the transport is open and any handshake is done. */
  #ready = false;
  #writer = new ByteWriter();
  /** Requests not yet written, in call order. */
  #queue = new Deque<Request>();
  /** Requests written and not yet answered, in write order (the order replies come in). */
  #inflight = new Deque<Request>();
  #nextOpaque = 1;
  #scheduled = false;
  #blocked = false;
  #closed = false;
  /** Chunks read: the stall check sees the server is silent when it does not change. */
  #reads = 0;
  /** The timer of the requests' deadlines. */
  readonly #deadlines: Deadlines;
  #owner: ConnectionOwner;
  /** Requests waiting in the queue (not given up). */
  #waiting = 0;
  /** Requests ever given to this connection (an idle check compares it between looks). */
  #enqueued = 0;
  /** The attempt to open the connection, aborted if the connection fails first. */
  readonly #opening: Opening;
  /** Why the connection failed, once it has. */
  #failure: MemcachedError | undefined = undefined;
  /** How a request's error names this connection's server: `on host:port`. */
  readonly #on: string;
  #resolveDone!: () => void;
  /** Resolves once the transport (if it ever opened) and every operation on it are finished. */
  readonly done: Promise<void>;
  /** The result of {@linkcode Connection.open}, kept by the owner for `Client.open()`. */
  opened: Promise<void> = Promise.resolve();

  /**
   * Creates a connection that is not open yet. Requests may be enqueued at once: they wait in
   * the queue (with their timeouts and signals in force) until {@linkcode Connection.open}
   * succeeds, or reject with its error.
   */
  constructor(
    endpoint: Endpoint,
    options: ConnectionOptions,
    owner: ConnectionOwner,
  ) {
    this.endpoint = endpoint;
    const where = endpointName(endpoint);
    this.#on = `on ${where}`;
    this.#options = options;
    this.#owner = owner;
    this.#opening = new Opening(endpoint, options);
    this.#deadlines = new Deadlines(where, options.stallTimeout, {
      queue: this.#queue,
      inflight: this.#inflight,
      reads: () => this.#reads,
      expire: (request) => this.#giveUp(request, timeoutError(request, this.#on)),
      stalled: (error) => this.#fail(error),
    });
    this.#decoder = options.decoder({
      maxValueSize: options.maxValueSize,
      // Every reply is handled before the next chunk is fed, so values need no copy here.
      copyValues: false,
    });
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  /**
   * Opens the transport. On failure the connection fails: its queued requests reject with
   * `CONNECT_TIMEOUT`, `CONNECT_FAILED` or `CLIENT_CLOSED`, and nothing is left open.
   *
   * @param signal Aborts the attempt (the client closing).
   */
  async open(connector: Connector, connectTimeout: number, signal: AbortSignal): Promise<void> {
    const opening = this.#opening;
    try {
      const transport = await opening.connect(connector, this, connectTimeout, signal);
      if (this.#closed) {
        // Destroyed, or the socket closed, while it was being handed over.
        transport.destroy();
        await transport.done;
        throw this.#failure;
      }
      this.#transport = transport;
      void transport.done.then(this.#resolveDone);
      const handshake = this.#options.handshake;
      if (handshake !== undefined) {
        this.#handshakeDecoder = handshake.decoder();
        try {
          await shake(handshake, clockNow() + connectTimeout, this.#sendAlone, opening);
        } finally {
          this.#handshakeDecoder = undefined;
        }
        // Only an accepted handshake shows the server works: a refusal is a failure.
        this.#owner.replied(this);
      }
      this.#ready = true;
      if (this.#queue.length > 0) this.#flush();
    } catch (error) {
      const failure = this.#failure ?? opening.failure(error);
      this.#fail(failure);
      this.#resolveDone();
      throw failure;
    } finally {
      opening.end();
    }
  }

  /** Writes a handshake request alone: nothing else is written until the handshake is done. */
  #sendAlone = (request: Request<unknown>): void => {
    const w = this.#writer;
    request.opaque = this.#nextOpaque;
    this.#nextOpaque += request.opaqueCount;
    request.encode(w, request.opaque);
    request.state = State.Written;
    this.#inflight.push(request);
    w.flushTo(this.#write);
  };

  /** Whether the connection can take requests (it is open, or opening). */
  get usable(): boolean {
    return !this.#closed;
  }

  /** Whether the socket is open. */
  get isOpen(): boolean {
    return !this.#closed && this.#transport !== undefined;
  }

  /** What the connection holds now. */
  counters(): ConnectionCounters {
    return {
      inFlight: this.#inflight.length,
      queued: this.#waiting,
      buffered: this.#transport?.buffered ?? 0,
    };
  }

  /** Requests the connection holds (written or waiting): its load, for picking in a pool. */
  get load(): number {
    return this.#inflight.length + this.#waiting;
  }

  /** How many requests were ever given to this connection. */
  get enqueued(): number {
    return this.#enqueued;
  }

  /**
   * Takes ownership of a request: it will be written, answered, timed out, aborted or rejected
   * when the connection closes, and its caller's promise settles exactly once.
   */
  enqueue(request: Request, signal: AbortSignal | undefined): void {
    this.#enqueued++;
    if (this.#closed) {
      request.state = State.Finished;
      request.reject(closedError(request.command, this.#on));
      return;
    }
    // Only requests that will actually wait count: those the next write takes at once (there
    // is room in flight on an open, unblocked connection) do not, so a burst of calls made in
    // one tick is not refused as if it were queued behind a slow server.
    const room = this.#ready && !this.#blocked
      ? Math.max(0, this.#options.maxInFlight - this.#inflight.length)
      : 0;
    if (this.#waiting - room >= this.#options.maxQueued) {
      request.state = State.Finished;
      request.reject(
        new MemcachedError(
          "QUEUE_FULL",
          `Cannot ${request.command}: ${this.#options.maxQueued} requests are already waiting`,
        ),
      );
      return;
    }
    if (signal !== undefined) {
      if (signal.aborted) {
        request.state = State.Finished;
        request.reject(abortError(request.command, signal));
        return;
      }
      request.watch(signal, () => this.#giveUp(request, abortError(request.command, signal)));
    }
    this.#queue.push(request);
    this.#waiting++;
    const deadlines = this.#deadlines;
    if (request.deadline < deadlines.at) deadlines.arm(request.deadline);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** The caller stops waiting: a queued request is never written; a written one is abandoned. */
  #giveUp(request: Request, error: MemcachedError): void {
    if (request.state === State.Queued) {
      request.state = State.Finished;
      this.#waiting--;
    } else if (request.state === State.Written && !request.settled) {
      // Its reply is still owed. Count it as overdue now, so that a server that never answers
      // it is detected after `stallTimeout` rather than after the request's own deadline.
      const now = clockNow();
      if (request.deadline > now) {
        request.deadline = now;
        this.#deadlines.arm(now);
      }
    }
    request.reject(error);
  }

  #flushTask = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#closed || this.#blocked || !this.#ready) return;
    const w = this.#writer;
    const queue = this.#queue;
    const max = this.#options.maxInFlight;
    const inflight = this.#inflight;
    // One clock read per write: a request whose deadline passed while it waited (for the
    // connection to open, or for room in flight) is never sent, even if the sweep is late.
    const now = clockNow();
    while (queue.length > 0 && inflight.length < max) {
      const request = queue.shift()!;
      if (request.state !== State.Queued) continue;
      this.#waiting--;
      if (request.deadline <= now) {
        request.reject(timeoutError(request, this.#on));
        request.state = State.Finished;
        continue;
      }
      const batchKey = request.batchKey;
      if (batchKey !== undefined && queue.length > 0 && this.#batch(request, batchKey, now)) {
        continue;
      }
      let opaque = 0;
      if (request.opaqueCount > 0) {
        if (this.#nextOpaque + request.opaqueCount > OPAQUE_LIMIT) this.#nextOpaque = 1;
        opaque = this.#nextOpaque;
        this.#nextOpaque += request.opaqueCount;
      } else opaque = -1;
      request.opaque = opaque;
      try {
        // Encoders check every argument before writing a byte, so a throw leaves `w` intact.
        request.encode(w, opaque);
      } catch (error) {
        request.state = State.Finished;
        request.reject(error);
        continue;
      }
      request.state = State.Written;
      inflight.push(request);
      if (w.length >= WRITE_SIZE) {
        w.flushTo(this.#write);
        if (this.#blocked || this.#closed) return;
      }
    }
    if (w.length === 0) return;
    w.flushTo(this.#write);
  }

  /**
   * Writes `first` and the requests queued right after it that share its batch key as one
   * command, all in flight in order. Returns false, having taken nothing, when no other request
   * can join (the caller then writes `first` alone).
   */
  #batch(first: Request, key: string, now: number): boolean {
    const queue = this.#queue;
    const inflight = this.#inflight;
    const room = this.#options.maxInFlight - inflight.length;
    let members: Request[] | undefined;
    while (queue.length > 0 && (members?.length ?? 1) < Math.min(room, MAX_BATCH)) {
      const next = queue.peek()!;
      if (next.state !== State.Queued) {
        queue.shift();
        continue;
      }
      if (next.batchKey !== key) break;
      queue.shift();
      this.#waiting--;
      if (next.deadline <= now) {
        next.reject(timeoutError(next, this.#on));
        next.state = State.Finished;
        continue;
      }
      (members ??= [first]).push(next);
    }
    if (members === undefined) return false;
    try {
      // Every member's key was checked when it was made; a throw here writes nothing.
      first.encodeBatch(this.#writer, members);
    } catch (error) {
      for (const member of members) {
        member.state = State.Finished;
        member.reject(error);
      }
      return true;
    }
    for (const member of members) {
      member.opaque = -1;
      member.state = State.Written;
      inflight.push(member);
    }
    return true;
  }

  /** Hands a chunk to the transport; it copies what it keeps, so the writer may reuse it. */
  #write = (chunk: Uint8Array): void => {
    if (!this.#transport!.write(chunk)) this.#blocked = true;
  };

  /** Transport handler: bytes arrived. */
  data(chunk: Uint8Array): void {
    if (this.#reads++ === 0 && this.#handshakeDecoder === undefined) this.#owner.replied(this);
    const decoder = this.#handshakeDecoder ?? this.#decoder;
    try {
      dispatch(decoder, chunk, this.#inflight);
    } catch (error) {
      this.#fail(
        error instanceof MemcachedError
          ? error
          : new MemcachedError("PROTOCOL_ERROR", `Cannot handle reply: ${message(error)}`, {
            cause: error,
          }),
      );
      return;
    }
    if (this.#queue.length > 0) this.#flush();
  }

  /** Transport handler: the transport can take more bytes. */
  drain(): void {
    this.#blocked = false;
    this.#flush();
  }

  /** Transport handler: the transport closed. */
  closed(error: unknown): void {
    if (this.#closed) return;
    if (error instanceof MemcachedError && error.code === "TLS_FAILED") {
      // The TLS session ended with an alert (a client certificate refused after the handshake).
      this.#fail(error);
      return;
    }
    const why = error === undefined ? "the server closed the connection" : socketReason(error);
    this.#fail(
      new MemcachedError(
        "CONNECTION_CLOSED",
        `Cannot use the connection to ${endpointName(this.endpoint)}: ${why}`,
        { cause: error },
      ),
    );
  }

  /** Rejects everything the connection holds and closes the transport. */
  #fail(error: MemcachedError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failure = error;
    this.#waiting = 0;
    this.#opening.abort();
    this.#deadlines.stop();
    const reason = reasonOf(error);
    for (const request of this.#queue.clear()) finish(request, error, this.#on, reason);
    for (const request of this.#inflight.clear()) finish(request, error, this.#on, reason);
    this.#transport?.destroy();
    this.#owner.closed(this, error);
  }

  /** Promises of every request whose caller is still waiting. */
  pending(): Promise<unknown>[] {
    const out: Promise<unknown>[] = [];
    for (const list of [this.#queue, this.#inflight]) {
      for (let i = 0; i < list.length; i++) {
        const request = list.at(i)!;
        if (!request.settled) out.push(request.whenSettled());
      }
    }
    return out;
  }

  /** Closes at once: every waiting request rejects with `error`. */
  destroy(error: MemcachedError): Promise<void> {
    this.#fail(error);
    if (this.#transport === undefined) this.#resolveDone();
    return this.done;
  }
}

/**
 * The reason part of a `Cannot <action>: <reason>` message: what follows the first ": ", so a
 * server named `host:port` or `[::1]:port` in the action does not cut it short.
 */
function reasonOf(error: MemcachedError): string {
  const head = /^Cannot .+?: /.exec(error.message);
  return head === null ? error.message : error.message.slice(head[0].length);
}

/**
 * Rejects a request with its connection's failure, restated for the request: `Cannot get on
 * host:port: connection refused (ECONNREFUSED)`, the connection's error kept as `cause`.
 */
function finish(
  request: Request | undefined,
  error: MemcachedError,
  on: string,
  reason: string,
): void {
  if (request === undefined || request.state === State.Finished) return;
  request.state = State.Finished;
  if (request.settled) return;
  request.reject(
    new MemcachedError(error.code, `Cannot ${request.command} ${on}: ${reason}`, { cause: error }),
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function closedError(command: string, on: string): MemcachedError {
  return new MemcachedError(
    "CONNECTION_CLOSED",
    `Cannot ${command} ${on}: the connection is closed`,
  );
}

function abortError(command: string, signal: AbortSignal): MemcachedError {
  return new MemcachedError("ABORTED", `Cannot ${command}: the request was aborted`, {
    cause: signal.reason,
  });
}

function timeoutError(request: Request, on: string): MemcachedError {
  const written = request.state === State.Written;
  return new MemcachedError(
    "TIMEOUT",
    `Cannot ${request.command} ${on}: no reply within the timeout` +
      (written ? "" : " (the request was never sent)"),
  );
}
