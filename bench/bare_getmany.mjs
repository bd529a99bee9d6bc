// A floor for scenario g, not a client: the least JavaScript can do for one getMany of 100 keys
// over three servers. It sends prebuilt requests (the same `get k1 k2 ...` line per server that
// Mica writes), counts reply lines instead of parsing them, and builds no result. Compare its batches/s and CPU per
// batch with `bench/mica.ts --scenarios g` on the same servers:
//   node bench/bare_getmany.mjs --servers 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 [--batches N]
//   bun bench/bare_getmany.mjs --servers ...
// Keys are split over the servers by position (a third each), not by hashing; every key must
// hold a value without CRLF in it (it seeds them itself). Only the given loopback servers are
// contacted; the loop is bounded by --batches.
import net from "node:net";
import process from "node:process";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const servers = arg("servers", "").split(",").filter(Boolean);
if (servers.length === 0) throw new Error("--servers host:port,... is required");
const batches = Number(arg("batches", "20000"));
const warmup = 5_000;
const KEYS = 100;

// Bounded in time too: a server that stops answering (or a reply with fewer lines, such as a
// miss) would otherwise leave a batch waiting forever.
const TIME_LIMIT_MS = 120_000;
setTimeout(() => {
  console.error(`bare_getmany: no result within ${TIME_LIMIT_MS} ms`);
  process.exit(2);
}, TIME_LIMIT_MS).unref();

const sockets = await Promise.all(servers.map((s) =>
  new Promise((resolve, reject) => {
    const colon = s.lastIndexOf(":");
    const socket = net.connect(
      Number(s.slice(colon + 1)),
      s.slice(0, colon),
      () => resolve(socket),
    );
    socket.setNoDelay(true);
    socket.once("error", reject);
  })
));
const n = sockets.length;
const parts = sockets.map((_, s) => {
  const keys = [];
  for (let i = s; i < KEYS; i += n) keys.push(`bare:g:${i}`);
  return keys;
});
// Seed every key (a reply line each), then build each server's batch as Mica writes it.
await Promise.all(sockets.map((socket, s) =>
  new Promise((resolve) => {
    let lines = 0;
    const onData = (chunk) => {
      for (const byte of chunk) if (byte === 10) lines++;
      if (lines === parts[s].length) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
    socket.write(parts[s].map((k) => `ms ${k} 100 F0\r\n${"x".repeat(100)}\r\n`).join(""));
  })
));
const requests = parts.map((keys) => Buffer.from(`get ${keys.join(" ")}\r\n`));

/** One batch: every server's request at once; done when each sent two lines per key and END. */
function batch() {
  return Promise.all(sockets.map((socket, s) =>
    new Promise((resolve) => {
      let lines = 0;
      const want = parts[s].length * 2 + 1;
      const onData = (chunk) => {
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
        if (lines === want) {
          socket.off("data", onData);
          resolve();
        }
      };
      socket.on("data", onData);
      socket.write(requests[s]);
    })
  ));
}

for (let i = 0; i < warmup; i++) await batch();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < batches; i++) await batch();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
for (const socket of sockets) socket.destroy();
console.log(JSON.stringify({
  runtime: typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`,
  batches,
  batchesPerSec: Math.round(batches / ms * 1000),
  usPerBatch: Number((ms * 1000 / batches).toFixed(1)),
  cpuUserUsPerBatch: Number((cpu.user / batches).toFixed(1)),
  cpuSysUsPerBatch: Number((cpu.system / batches).toFixed(1)),
}));
