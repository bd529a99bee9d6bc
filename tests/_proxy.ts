/**
 * A test-only TCP proxy between a client and memcached, for fault tests: it can hold traffic
 * (`pause`), slow it down (`delay`), drop it (`blackhole`), cut every connection abruptly
 * (`reset`), send bytes the server never wrote (`inject`) and forward a real server's replies
 * one byte at a time (`trickle`).
 *
 * Built on `node:net` only, so it runs under Deno and Bun alike. `close()` destroys every socket
 * and resolves once each has closed and the listener has stopped, so a test that closes its
 * proxy passes `deno test --sanitize-ops --sanitize-resources`.
 *
 * @example Delay every reply by 50 ms
 * ```ts ignore
 * import { startMemcached } from "./_memcached.ts";
 * import { startProxy } from "./_proxy.ts";
 *
 * await using server = await startMemcached();
 * await using proxy = await startProxy(server);
 * proxy.delay(50);
 * // connect the client to proxy.address
 * ```
 *
 * @module
 */

import { createConnection, createServer, type Server, type Socket } from "node:net";
import { clearImmediate, setImmediate } from "node:timers";

/** A running proxy, from {@linkcode startProxy}. */
export interface Proxy {
  /** `"127.0.0.1:PORT"`: where clients connect. */
  readonly address: string;
  /** The port clients connect to. */
  readonly port: number;
  /** Holds traffic in both directions (buffered, in order) until {@linkcode Proxy.resume}. */
  pause(): void;
  /** Forwards held traffic and lets new traffic through. */
  resume(): void;
  /** Forwards every chunk that arrives from now on `ms` milliseconds late (0 = at once). */
  delay(ms: number): void;
  /** Destroys every client socket abruptly (and its upstream socket); held traffic is lost. */
  reset(): void;
  /** Sends `bytes` to every connected client as if the server had written them. */
  inject(bytes: Uint8Array): void;
  /** While on, traffic in both directions is dropped (not held). */
  blackhole(on: boolean): void;
  /**
   * While on, bytes from the server are forwarded one at a time, each in its own write, with
   * an event-loop turn (or `delayMs`) between writes, so the client reads replies in chunks of
   * a byte or a few (see {@linkcode TrickleOptions.delayMs}). With `both`, bytes from the
   * client are trickled too. Turning it off forwards what is left at full speed.
   */
  trickle(on: boolean, options?: TrickleOptions): void;
  /** Closes the listener and every socket; resolves once all of them have closed. */
  close(): Promise<void>;
  /** Same as {@linkcode Proxy.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode Proxy.trickle}. */
export interface TrickleOptions {
  /**
   * Trickle the client's bytes to the server too.
   *
   * @default {false}
   */
  both?: boolean;
  /**
   * Milliseconds between bytes; 0 writes one byte per event-loop turn. A real delay lets every
   * runtime poll its sockets between bytes, so each read sees one byte (Deno's event loop polls
   * I/O only every few dozen turns while work is ready, so at 0 its reads see up to ~60 bytes).
   *
   * @default {0}
   */
  delayMs?: number;
}

const HOST = "127.0.0.1";

/** Shared switches of one proxy. */
interface Mode {
  paused: boolean;
  delayMs: number;
  blackholed: boolean;
  /** Which directions are forwarded one byte at a time. */
  trickle: "off" | "down" | "both";
  /** Milliseconds between trickled bytes; 0 = one byte per event-loop turn. */
  trickleMs: number;
}

/** One direction of one connection: chunks wait here until they are due and not held. */
class Pipe {
  #to: Socket;
  #mode: Mode;
  /** `"down"` carries the server's bytes to the client, `"up"` the client's to the server. */
  #direction: "up" | "down";
  #queue: { due: number; bytes: Uint8Array }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The next one-byte write while trickling. */
  #immediate: ReturnType<typeof setImmediate> | undefined = undefined;
  #stopped = false;

  constructor(to: Socket, mode: Mode, direction: "up" | "down") {
    this.#to = to;
    this.#mode = mode;
    this.#direction = direction;
  }

  /** Whether this direction is forwarded one byte at a time now. */
  get #trickling(): boolean {
    const trickle = this.#mode.trickle;
    return trickle === "both" || (trickle === "down" && this.#direction === "down");
  }

  push(bytes: Uint8Array): void {
    if (this.#stopped || this.#mode.blackholed) return;
    this.#queue.push({ due: Date.now() + this.#mode.delayMs, bytes });
    // While trickling, a pending turn writes the next byte: pumping now would write two.
    if (this.#trickling && (this.#immediate !== undefined || this.#timer !== undefined)) return;
    this.pump();
  }

  /**
   * Writes every chunk that is due, and sets a timer for the next one. While trickling, writes
   * one byte and comes back on a later event-loop turn for the next.
   */
  pump(): void {
    this.#cancel();
    if (this.#stopped || this.#mode.paused) return;
    const now = Date.now();
    let head = this.#queue[0];
    while (head !== undefined && head.due <= now) {
      if (this.#trickling) {
        if (!this.#to.destroyed) this.#to.write(head.bytes.subarray(0, 1));
        if (head.bytes.length > 1) head.bytes = head.bytes.subarray(1);
        else this.#queue.shift();
        if (this.#queue.length > 0) {
          const ms = this.#mode.trickleMs;
          if (ms > 0) this.#timer = setTimeout(() => this.pump(), ms);
          else this.#immediate = setImmediate(() => this.pump());
        }
        return;
      }
      this.#queue.shift();
      if (!this.#to.destroyed) this.#to.write(head.bytes);
      head = this.#queue[0];
    }
    if (head !== undefined) this.#timer = setTimeout(() => this.pump(), head.due - now);
  }

  #cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }

  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#cancel();
  }
}

/** A client socket, its upstream socket and the two pipes between them. */
interface Link {
  client: Socket;
  upstream: Socket;
  up: Pipe;
  down: Pipe;
}

/** Resolves when `socket` emits `close`; swallows its errors (resets are the point here). */
function closed(socket: Socket): Promise<void> {
  socket.on("error", () => {});
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/**
 * Starts a proxy on a free loopback port that forwards to `target`.
 *
 * @param target The server to forward to (a {@linkcode MemcachedServer} fits).
 * @returns The running proxy; close it (or `await using` it) before the test ends.
 */
export async function startProxy(target: { host: string; port: number }): Promise<Proxy> {
  const mode: Mode = { paused: false, delayMs: 0, blackholed: false, trickle: "off", trickleMs: 0 };
  const links = new Set<Link>();
  const sockets = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  function track(socket: Socket): void {
    const done = closed(socket);
    sockets.add(done);
    void done.then(() => sockets.delete(done));
  }

  const server: Server = createServer((client) => {
    track(client);
    if (closing !== undefined) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const link: Link = {
      client,
      upstream,
      up: new Pipe(upstream, mode, "up"),
      down: new Pipe(client, mode, "down"),
    };
    links.add(link);
    const drop = () => {
      if (!links.delete(link)) return;
      link.up.stop();
      link.down.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Uint8Array) => link.up.push(chunk));
    upstream.on("data", (chunk: Uint8Array) => link.down.push(chunk));
    client.once("close", drop);
    upstream.once("close", drop);
  });
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  function close(): Promise<void> {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const link of [...links]) {
        links.delete(link);
        link.up.stop();
        link.down.stop();
        link.client.destroy();
        link.upstream.destroy();
      }
      await stopped;
      // Sockets accepted while the listener was closing are destroyed on arrival.
      while (sockets.size > 0) await Promise.all([...sockets]);
    })();
    return closing;
  }

  return {
    address: `${HOST}:${port}`,
    port,
    pause() {
      mode.paused = true;
    },
    resume() {
      mode.paused = false;
      for (const link of links) {
        link.up.pump();
        link.down.pump();
      }
    },
    delay(ms: number) {
      mode.delayMs = ms;
    },
    reset() {
      for (const link of [...links]) {
        links.delete(link);
        link.up.stop();
        link.down.stop();
        // An RST where the runtime supports it, else an ordinary close: either way abrupt.
        if (typeof link.client.resetAndDestroy === "function") link.client.resetAndDestroy();
        else link.client.destroy();
        link.upstream.destroy();
      }
    },
    inject(bytes: Uint8Array) {
      for (const link of links) link.client.write(bytes);
    },
    blackhole(on: boolean) {
      mode.blackholed = on;
    },
    trickle(on: boolean, options?: TrickleOptions) {
      mode.trickle = !on ? "off" : options?.both === true ? "both" : "down";
      mode.trickleMs = options?.delayMs ?? 0;
      // Going either way, restart the pumps so the new pace applies to what is queued.
      for (const link of links) {
        link.up.pump();
        link.down.pump();
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
