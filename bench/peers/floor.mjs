// The floor of one runtime's own sockets, not a client: one request at a time over the socket
// API Mica's adapter uses (`Deno.connect` on Deno, `Bun.connect` on Bun), TCP_NODELAY, the reply
// framed just enough to know it is complete (a `VA <size>` line and its data, or one line), no
// validation, no timeouts, no pipelining. It runs scenario a only (bench/split_cores.mjs), to
// split Mica's distance from C into what the runtime's event loop and socket calls cost (this
// file against C) and what Mica itself adds (Mica against this file).
import { runPeer } from "./common.mjs";

const encoder = new TextEncoder();

/** Frames one reply at a time out of the chunks it is fed; `done(value)` gets each. */
class Framer {
  #head = new Uint8Array(4096); // the reply's first line, as far as it has come (memcached's
  // lines are far shorter)
  #headLength = 0;
  #need = -1; // data bytes (with the CRLF) still expected; -1 while reading the first line
  #value = new Uint8Array(0);
  #filled = 0;
  done = (_value) => {};

  feed(chunk) {
    let at = 0;
    while (at < chunk.length) {
      if (this.#need < 0) {
        const eol = chunk.indexOf(10, at);
        const end = eol < 0 ? chunk.length : eol + 1;
        this.#head.set(chunk.subarray(at, end), this.#headLength);
        this.#headLength += end - at;
        at = end;
        if (eol < 0) continue;
        const head = this.#head;
        this.#headLength = 0;
        if (head[0] !== 86 /* V */) {
          this.done(undefined); // EN (miss) or HD
          continue;
        }
        let size = 0;
        for (let i = 3; head[i] >= 48 && head[i] <= 57; i++) size = size * 10 + head[i] - 48;
        if (this.#value.length !== size) this.#value = new Uint8Array(size);
        this.#need = size + 2;
        this.#filled = 0;
      }
      const n = Math.min(this.#need, chunk.length - at);
      const room = Math.max(0, Math.min(n, this.#value.length - this.#filled));
      this.#value.set(chunk.subarray(at, at + room), this.#filled);
      this.#filled += room;
      this.#need -= n;
      at += n;
      if (this.#need === 0) {
        this.#need = -1;
        this.done(this.#value);
      }
    }
  }
}

/** `{ send, close }` over `Deno.connect`: a read loop into one buffer. */
async function denoSocket(host, port, framer) {
  const conn = await Deno.connect({ hostname: host, port });
  conn.setNoDelay(true);
  const buf = new Uint8Array(64 * 1024);
  const loop = (async () => {
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        framer.feed(buf.subarray(0, n));
      }
    } catch { /* closed */ }
  })();
  return {
    send: (bytes) => void conn.write(bytes).catch(() => {}),
    close: async () => {
      conn.close();
      await loop;
    },
  };
}

/** `{ send, close }` over `Bun.connect`. */
async function bunSocket(host, port, framer) {
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: { data: (_s, chunk) => framer.feed(chunk) },
  });
  socket.setNoDelay(true);
  return { send: (bytes) => void socket.write(bytes), close: () => socket.end() };
}

await runPeer("floor", async (cfg) => {
  if (cfg.servers.length > 1) throw new Error("the floor takes one server");
  const [host, port] = cfg.servers[0].split(":");
  const framer = new Framer();
  const open = typeof globalThis.Deno !== "undefined" ? denoSocket : bunSocket;
  const socket = await open(host, Number(port), framer);
  /** Sends one request and resolves with its reply; one in flight at a time. */
  const call = (bytes) =>
    new Promise((resolve) => {
      framer.done = resolve;
      socket.send(bytes);
    });
  const client = {
    name: "floor",
    get: (key) => call(encoder.encode(`mg ${key} v\r\n`)),
    set: (key, value) => {
      const data = typeof value === "string" ? encoder.encode(value) : value;
      const head = encoder.encode(`ms ${key} ${data.length}\r\n`);
      const bytes = new Uint8Array(head.length + data.length + 2);
      bytes.set(head);
      bytes.set(data, head.length);
      bytes.set([13, 10], head.length + data.length);
      return call(bytes);
    },
    getManyMethod: "none (scenario a only)",
    getMany: () => Promise.reject(new Error("the floor runs scenario a only")),
    makeLargeValue: (bytes) => bytes,
  };
  return { client, config: { servers: 1 }, close: () => socket.close() };
});
