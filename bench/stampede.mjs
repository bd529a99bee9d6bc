// Stampede benchmark: `node bench/stampede.mjs [--rounds N] [--runtimes deno,bun]`.
//
// Starts one memcached on a free loopback port, then for each runtime:
//  1. cold key: 4 processes x 250 concurrent getOrSet callers on one missing key, started
//     together (the loader takes 200 ms); counts the loader calls of all processes together,
//     which must be exactly 1, for each of N rounds (a fresh key each round);
//  2. hot key: p50/p99 of plain get hits and getOrSet hits with 64 readers in flight, then the
//     p99 of getOrSet reads while the invalidated key is refreshed once (the loader takes
//     500 ms): the stale value is served at once to everyone but the refresher.
// Prints a Markdown report and writes it with the JSON to bench/results/stampede-latest.*.
import { spawn } from "node:child_process";
import { freePort, localBin, startMemcached, writeResults } from "./orchestra.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rounds = Number(opt("rounds", "5"));
const runtimes = opt("runtimes", "deno,bun").split(",");
const PROCESSES = 4;
const CALLERS = 250;

function worker(runtime, workerArgs) {
  const cmd = runtime === "deno"
    ? [localBin("deno"), "run", "-A", "bench/stampede.ts", ...workerArgs]
    : [localBin("bun"), "bench/stampede.ts", ...workerArgs];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.stdout.on("data", (chunk) => out += chunk);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) reject(new Error(`${cmd.join(" ")} exited ${code}: ${out}`));
      else resolve(JSON.parse(line));
    });
  });
}

const port = await freePort();
const server = await startMemcached("memcached", port, { threads: 2, memoryMb: 256 });
const address = `127.0.0.1:${port}`;
const results = {};
try {
  for (const runtime of runtimes) {
    const cold = [];
    for (let round = 0; round < rounds; round++) {
      const key = `stampede:${runtime}:${Date.now()}:${round}`;
      const start = String(Date.now() + 2_000);
      const workers = await Promise.all(Array.from({ length: PROCESSES }, () =>
        worker(runtime, [
          "cold",
          "--server",
          address,
          "--key",
          key,
          "--start",
          start,
          "--callers",
          String(CALLERS),
          "--load-ms",
          "200",
        ])));
      const calls = workers.reduce((n, w) => n + w.calls, 0);
      const values = new Set(workers.flatMap((w) => w.values));
      cold.push({ calls, values: values.size });
      process.stderr.write(`${runtime} cold round ${round + 1}: ${calls} loader call(s)\n`);
    }
    const hot = await worker(runtime, [
      "hot",
      "--server",
      address,
      "--key",
      `stampede:hot:${runtime}`,
      "--readers",
      "64",
      "--ops",
      "20000",
      "--load-ms",
      "500",
    ]);
    results[runtime] = { cold, hot };
  }
} finally {
  await server.stop();
}

const lines = [
  `# Stampede benchmark (${new Date().toISOString()})`,
  "",
  `Cold key: ${PROCESSES} processes x ${CALLERS} concurrent getOrSet callers, loader 200 ms.`,
  "Hot key: 64 readers in flight; during refresh: getOrSet reads while the invalidated key is",
  "refreshed once (loader 500 ms).",
  "",
  "| runtime | cold: loader calls per round (target 1) | plain get p50 / p99 µs | getOrSet hit p99 µs | during refresh: reads, p99 µs | p99 during refresh ÷ plain get p99 | refresh loads |",
  "| --- | --- | --- | --- | --- | --- | --- |",
];
for (const [runtime, { cold, hot }] of Object.entries(results)) {
  const ratio = hot.duringRefresh.p99Us / hot.plainGet.p99Us;
  lines.push(
    `| ${runtime} | ${cold.map((c) => c.calls).join(", ")} | ${hot.plainGet.p50Us} / ` +
      `${hot.plainGet.p99Us} | ${hot.getOrSetHit.p99Us} | ${hot.duringRefresh.n}, ` +
      `${hot.duringRefresh.p99Us} | ${ratio.toFixed(2)}× | ${hot.loaderCalls} |`,
  );
}
const markdown = lines.join("\n") + "\n";
process.stdout.write(markdown);
writeResults({
  name: "stampede",
  latest: "stampede-latest",
  date: new Date().toISOString(),
  quick: false,
  json: results,
  markdown,
});
const ok = Object.values(results).every(({ cold }) =>
  cold.every((c) => c.calls === 1 && c.values === 1)
);
process.exitCode = ok ? 0 : 1;
