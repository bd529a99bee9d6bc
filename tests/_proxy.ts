/**
 * A test-only TCP proxy between a client and memcached, for fault tests: it can hold traffic
 * (`pause`), slow it down (`delay`), drop it (`blackhole`), cut every connection abruptly
 * (`reset`) and send bytes the server never wrote (`inject`).
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
  /** Closes the listener and every socket; resolves once all of them have closed. */
  close(): Promise<void>;
  /** Same as {@linkcode Proxy.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = "127.0.0.1";

/** Shared switches of one proxy. */
interface Mode {
  paused: boolean;
  delayMs: number;
  blackholed: boolean;
}

/** One direction of one connection: chunks wait here until they are due and not held. */
class Pipe {
  #to: Socket;
  #mode: Mode;
  #queue: { due: number; bytes: Uint8Array }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #stopped = false;

  constructor(to: Socket, mode: Mode) {
    this.#to = to;
    this.#mode = mode;
  }

  push(bytes: Uint8Array): void {
    if (this.#stopped || this.#mode.blackholed) return;
    this.#queue.push({ due: Date.now() + this.#mode.delayMs, bytes });
    this.pump();
  }

  /** Writes every chunk that is due, and sets a timer for the next one. */
  pump(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#mode.paused) return;
    const now = Date.now();
    let head = this.#queue[0];
    while (head !== undefined && head.due <= now) {
      this.#queue.shift();
      if (!this.#to.destroyed) this.#to.write(head.bytes);
      head = this.#queue[0];
    }
    if (head !== undefined) this.#timer = setTimeout(() => this.pump(), head.due - now);
  }

  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
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
  const mode: Mode = { paused: false, delayMs: 0, blackholed: false };
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
      up: new Pipe(upstream, mode),
      down: new Pipe(client, mode),
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
    close,
    [Symbol.asyncDispose]: close,
  };
}
