// Before and after: Mica from this checkout against Mica from another checkout (`--base DIR`, for
// example an older commit in a git worktree whose bench/ is this one: `git -C DIR checkout <this
// commit> -- bench`), on the same scenarios, for figures that hold up on a shared machine. Every
// round starts a fresh memcached (`-t 2 -m 1024`, as bench/run.mjs does) and runs the four
// clients (this and base, on Deno and on Bun) in rotating order, so drift hits each alike. Prints,
// per scenario and runtime, the medians of ops/s and client CPU µs per op of each side, and the
// median of each round's ratio (this ÷ base), then one JSON line.
//   node bench/ab.mjs --base ../old-worktree [--rounds 5] [--scenarios a,b,c,d] [--quick]
// Only the memcached it starts on a free loopback port is contacted; every client process is
// bounded by a time limit.
import path from "node:path";
import process from "node:process";
import {
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

const rounds = Number(flag("rounds", "5"));
const base = flag("base", undefined);
const scenarios = flag("scenarios", "a,b,c,d").split(",");
const quick = process.argv.includes("--quick");
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds: N >= 1");
if (base === undefined) throw new Error("--base DIR: the checkout to compare with");

const memcachedExe = which("memcached");
if (!memcachedExe) throw new Error("memcached not found (apt-get install -y memcached)");
const { deno, bun } = findTools();

/** [id, side, runtime, command with a PORT placeholder] */
const clients = [];
for (const [side, root] of [["this", ROOT], ["base", path.resolve(base)]]) {
  const file = path.resolve(root, "bench", "mica.ts");
  const args = ["--server", "127.0.0.1:PORT", "--scenarios", scenarios.join(",")];
  if (quick) args.push("--quick");
  if (deno) {
    clients.push([`${side}-deno`, side, "deno", [deno, "run", "--allow-all", file, ...args]]);
  }
  if (bun) clients.push([`${side}-bun`, side, "bun", [bun, file, ...args]]);
}

/** What a scenario's result measures: its rate and the client's CPU per op (per key for d). */
const rate = (r) => r.opsPerSec ?? r.keysPerSec ?? r.batchesPerSec;
const cpu = (r) =>
  r.cpuUsPerOp ?? (r.cpuUsPerBatch === undefined ? undefined : r.cpuUsPerBatch / r.keysPerBatch);

/** results[id][scenario] = per-round results */
const results = Object.fromEntries(
  clients.map(([id]) => [id, Object.fromEntries(scenarios.map((s) => [s, []]))]),
);
for (let round = 0; round < rounds; round++) {
  const port = await freePort();
  const server = await startMemcached(memcachedExe, port, { threads: 2, memoryMb: 1024 });
  try {
    const order = clients.map((_, i) => clients[(i + round) % clients.length]);
    for (const [id, , , template] of order) {
      const cmd = [
        ...template.map((a) => a.replace("PORT", String(port))),
        "--prefix",
        `ab-${round}-${id}`,
      ];
      const r = await runProcess(cmd, {
        timeoutS: quick ? 180 : 900,
        label: id,
        env: serverCpuEnv([server.pid]),
      });
      for (const s of scenarios) {
        const got = r.json?.results?.[s];
        if (r.error || got === undefined || got.error) {
          throw new Error(
            `${id} ${s}, round ${round + 1}: ${r.error ?? got?.error ?? "no result"}`,
          );
        }
        results[id][s].push(got);
      }
      process.stderr.write(
        `round ${round + 1} ${id}: ` +
          scenarios.map((s) => `${s} ${rate(results[id][s].at(-1))}/s`).join(", ") + "\n",
      );
    }
  } finally {
    await server.stop();
  }
}

const fixed = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const rows = [];
for (const s of scenarios) {
  for (const runtime of ["deno", "bun"]) {
    const mine = results[`this-${runtime}`]?.[s];
    const theirs = results[`base-${runtime}`]?.[s];
    if (mine === undefined || theirs === undefined) continue;
    rows.push({
      scenario: s,
      runtime,
      rate: median(mine.map(rate)),
      baseRate: median(theirs.map(rate)),
      rateRatio: median(mine.map((r, i) => rate(r) / rate(theirs[i]))),
      cpu: median(mine.map(cpu)),
      baseCpu: median(theirs.map(cpu)),
      cpuRatio: median(mine.map((r, i) => cpu(r) / cpu(theirs[i]))),
    });
  }
}
console.log(
  `this (${ROOT}) ÷ base (${path.resolve(base)}), ${rounds} rounds, medians (the ratios are the ` +
    "median of each round's ratio; CPU is the client's, per op, per key for d)\n\n" +
    "| scenario | runtime | ops/s | base | × base | CPU µs/op | base | × base |\n" +
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
);
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${r.runtime} | ${Math.round(r.rate).toLocaleString("en-US")} | ` +
      `${Math.round(r.baseRate).toLocaleString("en-US")} | ${fixed(r.rateRatio, 2)} | ` +
      `${fixed(r.cpu, 2)} | ${fixed(r.baseCpu, 2)} | ${fixed(r.cpuRatio, 2)} |`,
  );
}
console.log(JSON.stringify({ rounds, scenarios, rows, results }));
