// Scenario d (getMany of 100 keys, one batch in flight) in rounds, for figures that hold up on a
// shared machine: every round starts a fresh memcached (`-t 2 -m 1024`, as bench/run.mjs does) and
// runs libmemcached (C) and Mica on Deno and Bun in rotating order, so drift hits each alike; with
// `--base DIR`, also Mica from another checkout of the repository (for example `main` in a git
// worktree), as "base-deno" and "base-bun"; its bench/ must report server CPU (copy this bench/
// over an older one: `git -C DIR checkout <this commit> -- bench`). Prints, per client, the medians of keys/s, client CPU
// per batch and server CPU per key, and of each round's ratio to libmemcached, then one JSON line.
//   node bench/d_rounds.mjs [--rounds 7] [--base ../main-worktree] [--quick]
// Only the memcached it starts on a free loopback port is contacted; every client process is
// bounded by a time limit.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  buildNative,
  findTools,
  flag,
  freePort,
  median,
  ROOT,
  runProcess,
  serverCpuEnv,
  startMemcached,
  which,
} from "./orchestra.mjs";

const rounds = Number(flag("rounds", "7"));
const base = flag("base", undefined);
const quick = process.argv.includes("--quick");
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds: N >= 1");

const memcachedExe = which("memcached");
if (!memcachedExe) throw new Error("memcached not found (apt-get install -y memcached)");
const { deno, bun } = findTools();
const buildDir = mkdtempSync(path.join(os.tmpdir(), "mica-d-rounds-"));
const buildError = buildNative(buildDir);
if (buildError) throw new Error(`libmemcached client: ${buildError}`);

/** [id, command with PORT and PREFIX placeholders] */
const clients = [["libmemcached-c", [path.join(buildDir, "libmc_bench"), "127.0.0.1", "PORT"]]];
const mica = (id, root) => {
  const file = path.resolve(root, "bench", "mica.ts");
  const args = ["--server", "127.0.0.1:PORT", "--scenarios", "d", ...(quick ? ["--quick"] : [])];
  if (deno) clients.push([`${id}-deno`, [deno, "run", "--allow-all", file, ...args]]);
  if (bun) clients.push([`${id}-bun`, [bun, file, ...args]]);
};
mica("mica", ROOT);
if (base !== undefined) mica("base", base);

const results = new Map(clients.map(([id]) => [id, []]));
try {
  for (let round = 0; round < rounds; round++) {
    const port = await freePort();
    const server = await startMemcached(memcachedExe, port, { threads: 2, memoryMb: 1024 });
    try {
      const order = clients.map((_, i) => clients[(i + round) % clients.length]);
      for (const [id, template] of order) {
        const prefix = `dr-${process.pid}-${round}-${id}`;
        const cmd = id === "libmemcached-c"
          ? [...template.slice(0, 2), String(port), prefix, "d", quick ? "1" : "0"]
          : [...template.map((a) => a.replace("PORT", String(port))), "--prefix", prefix];
        const r = await runProcess(cmd, {
          timeoutS: quick ? 180 : 600,
          label: id,
          env: serverCpuEnv([server.pid]),
        });
        const d = r.json?.results?.d;
        if (r.error || d === undefined || d.error) {
          throw new Error(`${id}, round ${round + 1}: ${r.error ?? d?.error ?? "no result"}`);
        }
        results.get(id).push(d);
        process.stderr.write(
          `round ${round + 1} ${id}: ${d.keysPerSec} keys/s, client ${d.cpuUsPerBatch} µs/batch, ` +
            `server ${d.serverCpuUsPerKey} µs/key\n`,
        );
      }
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(buildDir, { recursive: true, force: true });
}

const c = results.get("libmemcached-c");
const rows = [...results].map(([id, list]) => ({
  id,
  keysPerSec: median(list.map((d) => d.keysPerSec)),
  cpuUsPerBatch: median(list.map((d) => d.cpuUsPerBatch)),
  serverCpuUsPerKey: median(list.map((d) => d.serverCpuUsPerKey)),
  keysPerSecVsC: median(list.map((d, i) => d.keysPerSec / c[i].keysPerSec)),
  serverCpuVsC: median(list.map((d, i) => d.serverCpuUsPerKey / c[i].serverCpuUsPerKey)),
}));
/** A number with `digits` decimals, or "n/a" (a client that reported no server CPU). */
const fixed = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
console.log(
  `scenario d, ${rounds} rounds, medians (the ratios are the median of each round's ratio)\n\n` +
    "| client | keys/s | × C | client CPU µs/batch | server CPU µs/key | × C |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: |",
);
for (const r of rows) {
  console.log(
    `| ${r.id} | ${r.keysPerSec.toLocaleString("en-US")} | ${r.keysPerSecVsC.toFixed(2)} | ` +
      `${r.cpuUsPerBatch} | ${fixed(r.serverCpuUsPerKey, 3)} | ${fixed(r.serverCpuVsC, 2)} |`,
  );
}
console.log(JSON.stringify({ rounds, rows, results: Object.fromEntries(results) }));
