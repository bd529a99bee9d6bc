// A reference, not a library: about the least a correct pipelined meta-protocol client does in
// JavaScript, to show how far Mica is from the floor of its runtime. One node:net connection
// (TCP_NODELAY), a FIFO of pending calls, an incremental reply parser that never rescans, no
// validation, no timeouts, no options. Keys are sent as given (the harness's keys are safe).
// Values: strings are written as UTF-8, bytes as they are; reads return bytes.
import net from "node:net";
import { Buffer } from "node:buffer";
import { runPeer } from "./common.mjs";

class Reference {
  #socket;
  #pending = []; // { resolve, reject, value? } in request order
  #head = 0;
  #buf = Buffer.alloc(0);
  #out = [];
  #scheduled = false;

  constructor(socket) {
    this.#socket = socket;
    socket.on("data", (chunk) => this.#read(chunk));
    socket.on("error", (error) => this.#fail(error));
    socket.on("close", () => this.#fail(new Error("closed")));
  }

  static connect(server) {
    const [host, port] = server.split(":");
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port: Number(port), noDelay: true });
      socket.once("connect", () => resolve(new Reference(socket)));
      socket.once("error", reject);
    });
  }

  #send(parts, entry) {
    for (const part of parts) {
      this.#out.push(typeof part === "string" ? Buffer.from(part, "latin1") : part);
    }
    this.#pending.push(entry);
    if (!this.#scheduled) {
      // One write per tick: requests made in the same tick share a syscall.
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        const out = this.#out;
        this.#out = [];
        this.#socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
      });
    }
  }

  get(key) {
    return new Promise((resolve, reject) => this.#send([`mg ${key} v\r\n`], { resolve, reject }));
  }

  set(key, value) {
    const data = typeof value === "string" ? Buffer.from(value) : value;
    return new Promise((resolve, reject) =>
      this.#send([`ms ${key} ${data.length}\r\n`, data, "\r\n"], { resolve, reject })
    );
  }

  /** One text get line (memcached's cheapest multi-key read): VALUE per hit, then END. */
  getMany(keys) {
    return new Promise((resolve, reject) =>
      this.#send([`get ${keys.join(" ")}\r\n`], { resolve, reject, many: true, hits: 0 })
    );
  }

  #read(chunk) {
    let buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let at = 0;
    for (;;) {
      const eol = buf.indexOf(10, at);
      if (eol < 0) break;
      let end = eol + 1;
      const entry = this.#pending[this.#head];
      if (buf[at] === 86 /* V */) {
        // "VA <size> ..." (meta) or "VALUE <key> <flags> <size>" (text get).
        let i = at + 3;
        if (buf[at + 1] === 65 && buf[at + 2] === 76) {
          for (let spaces = 0; spaces < 3; i++) if (buf[i] === 32) spaces++;
        }
        let size = 0;
        for (let c = buf[i]; c >= 48 && c <= 57; c = buf[++i]) size = size * 10 + c - 48;
        end = eol + 1 + size + 2;
        if (end > buf.length) break;
        if (entry.many) entry.hits++;
        else this.#done(buf.subarray(eol + 1, eol + 1 + size));
      } else if (entry.many) {
        if (buf[at] === 69 /* END */) this.#done(entry.hits);
        else this.#done(undefined, new Error(buf.toString("latin1", at, eol - 1)));
      } else if (buf[at] === 69 && buf[at + 1] === 78) this.#done(undefined); // EN: miss
      else if (buf[at] === 72 && buf[at + 1] === 68) this.#done(true); // HD: stored
      else {
        this.#done(undefined, new Error(buf.toString("latin1", at, eol - 1)));
      }
      at = end;
    }
    this.#buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  }

  #done(value, error) {
    const entry = this.#pending[this.#head];
    this.#pending[this.#head++] = undefined;
    if (this.#head === this.#pending.length) {
      this.#pending.length = 0;
      this.#head = 0;
    }
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  #fail(error) {
    const pending = this.#pending.slice(this.#head);
    this.#pending = [];
    this.#head = 0;
    for (const entry of pending) entry.reject(error);
  }

  close() {
    this.#socket.destroy();
  }
}

await runPeer("reference", async (cfg) => {
  if (cfg.servers.length > 1) throw new Error("the reference client takes one server");
  const mc = await Reference.connect(cfg.servers[0]);
  const client = {
    name: "reference",
    get: (key) => mc.get(key),
    set: (key, value) => mc.set(key, value),
    getManyMethod: "one text get line, hits counted, values not built",
    getMany: (keys) => mc.getMany(keys),
    makeLargeValue: (bytes) => Buffer.from(bytes),
  };
  return { client, config: { servers: 1 }, close: () => mc.close() };
});
