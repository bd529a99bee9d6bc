// Client CPU of one getMany(100) over three servers, without sockets: Mica talks to three
// in-memory stand-ins for memcached (a `connector` option), so what is timed is Mica's own work
// (routing, encoding, decoding, merging, promises) plus the runtime's scheduling of the replies,
// and none of the kernel's or the servers' time that makes scenario g noisy on a shared machine.
// Used to compare two versions of the client:
//   deno run -A bench/cpu_getmany.ts [--batches N]
//   bun bench/cpu_getmany.ts [--batches N]
// It prints, per round, microseconds per batch: wall time and that time minus the stand-ins' own
// (measured around their work), and the process CPU, also minus the stand-ins' time (the least
// noisy figure on a shared machine: time the process spent preempted counts in neither). No
// network: nothing is contacted.
import process from "node:process";
import { Client, type Connector, type Transport } from "../mod.ts";
import { argv } from "./runtime.ts";

const arg = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const BATCHES = arg("batches", 20_000);
const WARMUP = arg("warmup", 5_000);
const ROUNDS = arg("rounds", 3);
const KEYS = 100;
const VALUE_BYTES = 100;

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HIT = ascii("VA 100 f0");
const BODY = ascii(`\r\n${"x".repeat(VALUE_BYTES)}\r\n`);
const VALUE = ascii("VALUE ");
const FLAGS_SIZE = ascii(` 0 ${VALUE_BYTES}`);
const END = ascii("END\r\n");
const later: (f: () => void) => void =
  (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate ??
    ((f) => setTimeout(f, 0));
/** Milliseconds the stand-ins spent answering, to subtract from the wall time. */
let standInMs = 0;

/**
 * A stand-in memcached: every key of a `get` line and every `mg` is a hit with the same
 * 100-byte value (an `mg`'s reply echoes its `O` token), so nothing needs to be stored first.
 * Replies to one write arrive as one chunk on a later turn of the event loop, as one read from
 * a socket would.
 */
const standIn: Connector = (_endpoint, handlers) => {
  let closed = false;
  let pending = new Uint8Array(0);
  const transport: Transport = {
    write(chunk) {
      const t0 = performance.now();
      let input = chunk;
      if (pending.length > 0) {
        input = new Uint8Array(pending.length + chunk.length);
        input.set(pending);
        input.set(chunk, pending.length);
      }
      const out = new Uint8Array(input.length * 8 + 160 * KEYS + 1024);
      let o = 0;
      let i = 0;
      for (;;) {
        let nl = i;
        while (nl < input.length && input[nl] !== 10) nl++;
        if (nl >= input.length) break;
        if (input[i] === 103 && input[i + 1] === 101 && input[i + 2] === 116) { // get
          for (let k = i + 4; k < nl - 1;) {
            let e = k;
            while (e < nl - 1 && input[e] !== 32) e++;
            out.set(VALUE, o);
            o += VALUE.length;
            for (let j = k; j < e; j++) out[o++] = input[j]!;
            out.set(FLAGS_SIZE, o);
            o += FLAGS_SIZE.length;
            out.set(BODY, o);
            o += BODY.length;
            k = e + 1;
          }
          out.set(END, o);
          o += END.length;
          i = nl + 1;
          continue;
        }
        let token = -1; // " O<n>" before the CR
        for (let j = i; j < nl - 1; j++) {
          if (input[j] === 32 && input[j + 1] === 79) {
            token = j;
            break;
          }
        }
        if (input[i] !== 109 || input[i + 1] !== 103) {
          throw new Error("the stand-in answers get and mg only");
        }
        out.set(HIT, o);
        o += HIT.length;
        if (token >= 0) { for (let j = token; j < nl - 1; j++) out[o++] = input[j]!; }
        out.set(BODY, o);
        o += BODY.length;
        i = nl + 1;
      }
      pending = input.slice(i);
      const reply = out.subarray(0, o);
      standInMs += performance.now() - t0;
      if (reply.length > 0) later(() => closed || handlers.data(reply));
      return true;
    },
    destroy() {
      if (closed) return;
      closed = true;
      handlers.closed(undefined);
    },
    done: Promise.resolve(),
    [Symbol.dispose]() {
      this.destroy();
    },
  };
  return Promise.resolve(transport);
};

await using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"], {
  connector: standIn,
  distribution: "ketama",
});
const keys = Array.from({ length: KEYS }, (_, i) => `mb-12345-mica:g:${i}`);
for (let i = 0; i < WARMUP; i++) await client.getMany(keys);
for (let round = 0; round < ROUNDS; round++) {
  standInMs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) {
    if ((await client.getMany(keys)).size !== KEYS) throw new Error("a batch missed keys");
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const us = (x: number) => (x * 1000 / BATCHES).toFixed(2);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `round ${round + 1}: ${us(ms)} us/batch wall, ${us(ms - standInMs)} without the stand-ins; ` +
      `process CPU ${(cpu.user / BATCHES).toFixed(1)} user + ${
        (cpu.system / BATCHES).toFixed(1)
      } sys us/batch, ${us(cpuMs - standInMs)} without the stand-ins`,
  );
}
