// One scenario with memcached and the client on separate cores, as the performance targets were
// first measured: memcached `-t 1` pinned to CPU 0, every client pinned to CPU 1, in rotating
// rounds (a fresh memcached per round, the clients' order rotated, so drift hits each alike).
// Prints, per client, the medians of ops/s (keys/s for d), client CPU µs per op and memcached CPU
// µs per op (per key for d), and the median of each round's ratio to libmemcached (C), to the
// reference client on the same runtime and (scenario a) to the floor of that runtime's sockets
// (bench/peers/floor.mjs), then one JSON line.
//   node bench/split_cores.mjs --scenario a|b|c|d [--rounds 7] [--clients id,...]
// Clients: mica-deno, mica-bun, reference-deno, reference-bun, libmemcached-c, and for scenario a
// floor-deno, floor-bun (default: all).
// Needs two CPUs and taskset. Only the memcached it starts on a free loopback port is contacted;
// every client process is bounded by a time limit.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  BENCH,
  buildNative,
  findTools,
  flag,
  freePort,
  median,
  runProcess,
  serverCpuEnv,
  startMemcached,
  which,
} from "./orchestra.mjs";

const scenario = flag("scenario", "a");
const rounds = Number(flag("rounds", "7"));
if (!["a", "b", "c", "d"].includes(scenario)) throw new Error("--scenario: a, b, c or d");
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds: N >= 1");
if (os.cpus().length < 2 || !which("taskset")) throw new Error("needs two CPUs and taskset");
const memcachedExe = which("memcached");
if (!memcachedExe) throw new Error("memcached not found (apt-get install -y memcached)");

const { deno, bun } = findTools();
const buildDir = mkdtempSync(path.join(os.tmpdir(), "mica-split-"));
const buildError = buildNative(buildDir);
const mica = path.join(BENCH, "mica.ts");
const reference = path.join(BENCH, "peers", "reference.mjs");
const floor = path.join(BENCH, "peers", "floor.mjs");
/** id → command, with PORT and PREFIX placeholders */
const known = {
  "mica-deno": deno && [deno, "run", "--allow-all", mica],
  "mica-bun": bun && [bun, mica],
  "reference-deno": deno && [deno, "run", "--allow-all", reference],
  "reference-bun": bun && [bun, reference],
  "libmemcached-c": buildError ? undefined : [path.join(buildDir, "libmc_bench")],
  // One request at a time only: scenario a.
  ...(scenario === "a"
    ? {
      "floor-deno": deno && [deno, "run", "--allow-all", floor],
      "floor-bun": bun && [bun, floor],
    }
    : {}),
};
const ids = flag("clients", Object.keys(known).join(",")).split(",");
for (const id of ids) if (!known[id]) throw new Error(`${id}: unknown or not available`);
const command = (id, port, prefix) =>
  id === "libmemcached-c"
    ? [...known[id], "127.0.0.1", String(port), prefix, scenario, "0"]
    : [...known[id], "--server", `127.0.0.1:${port}`, "--scenarios", scenario, "--prefix", prefix];

const rate = (r) => r.keysPerSec ?? r.opsPerSec;
const cpu = (r) => r.cpuUsPerOp ?? (r.cpuUsPerBatch === undefined ? undefined : r.cpuUsPerBatch);
/** memcached's CPU µs per op (per key for d), from the harness's schedstat readings. */
const serverCpu = (r) => r.serverCpuUsPerKey ?? r.serverCpuUsPerOp;
const results = Object.fromEntries(ids.map((id) => [id, []]));
try {
  for (let round = 0; round < rounds; round++) {
    const port = await freePort();
    const server = await startMemcached(memcachedExe, port, {
      threads: 1,
      memoryMb: 1024,
      pinCpu: "0",
    });
    try {
      const order = ids.map((_, i) => ids[(i + round) % ids.length]);
      for (const id of order) {
        const cmd = ["taskset", "-c", "1", ...command(id, port, `sc-${round}-${id}`)];
        const r = await runProcess(cmd, {
          timeoutS: 600,
          label: id,
          env: serverCpuEnv([server.pid]),
        });
        const got = r.json?.results?.[scenario];
        if (r.error || got === undefined || got.error) {
          throw new Error(`${id}, round ${round + 1}: ${r.error ?? got?.error ?? "no result"}`);
        }
        results[id].push(got);
        process.stderr.write(`round ${round + 1} ${id}: ${rate(got)}/s\n`);
      }
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(buildDir, { recursive: true, force: true });
}

/** The median of each round's ratio of `id` to `base` (undefined when `base` did not run). */
const ratio = (id, base) =>
  results[base] === undefined
    ? undefined
    : median(results[id].map((r, i) => rate(r) / rate(results[base][i])));
const fixed = (n) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
const rows = ids.map((id) => ({
  id,
  rate: median(results[id].map(rate)),
  cpu: median(results[id].map(cpu)),
  serverCpu: median(results[id].map(serverCpu)),
  vsC: ratio(id, "libmemcached-c"),
  vsReference: ratio(id, `reference-${id.split("-").at(-1)}`),
  vsFloor: ratio(id, `floor-${id.split("-").at(-1)}`),
}));
/** The floor column, when a floor ran (scenario a). */
const withFloor = ids.some((id) => id.startsWith("floor-"));
console.log(
  `scenario ${scenario}, memcached -t 1 on CPU 0, clients on CPU 1, ${rounds} rounds, medians ` +
    "(the ratios are the median of each round's ratio)\n\n" +
    `| client | ${scenario === "d" ? "keys" : "ops"}/s | client CPU µs/${
      scenario === "d" ? "batch" : "op"
    } | memcached CPU µs/${scenario === "d" ? "key" : "op"} | × C | × reference (same runtime) |${
      withFloor ? " × floor (same runtime) |" : ""
    }\n` +
    `| --- | ---: | ---: | ---: | ---: | ---: |${withFloor ? " ---: |" : ""}`,
);
for (const r of rows) {
  console.log(
    `| ${r.id} | ${Math.round(r.rate).toLocaleString("en-US")} | ${fixed(r.cpu)} | ` +
      `${Number.isFinite(r.serverCpu) ? r.serverCpu.toFixed(3) : "n/a"} | ` +
      `${fixed(r.vsC)} | ${fixed(r.vsReference)} |${withFloor ? ` ${fixed(r.vsFloor)} |` : ""}`,
  );
}
console.log(JSON.stringify({ scenario, rounds, rows, results }));
