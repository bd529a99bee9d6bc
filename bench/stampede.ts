// Worker of bench/stampede.mjs: runs on Deno or Bun against a memcached the orchestrator
// started, prints one JSON object as its last stdout line. Every loop is bounded in count and
// time; only the given loopback server is contacted.
//
//   cold --server H:P --key K --start EPOCH_MS --callers N --load-ms MS
//       waits until EPOCH_MS, then N concurrent getOrSet(K) with a loader that takes MS;
//       prints { calls, values } (calls: how many times this process's loader ran)
//   hot --server H:P --key K --readers N --ops N --load-ms MS
//       p50/p99 of plain get hits and of getOrSet hits with N readers in flight, then of
//       getOrSet reads while one refresh of the invalidated key takes MS
import { connect } from "../mod.ts";
import { argv, exit, runtime, runtimeVersion } from "./runtime.ts";

const arg = (name: string, fallback?: string): string => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1]!;
  if (fallback === undefined) throw new Error(`missing --${name}`);
  return fallback;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Us: Math.round(percentile(sorted, 0.5) * 10_000) / 10,
    p99Us: Math.round(percentile(sorted, 0.99) * 10_000) / 10,
    maxUs: Math.round((sorted.at(-1) ?? NaN) * 10_000) / 10,
  };
};
const LIMIT_MS = 120_000;

async function cold(): Promise<unknown> {
  const key = arg("key");
  const callers = Number(arg("callers", "250"));
  const loadMs = Number(arg("load-ms", "200"));
  await using client = await connect(arg("server"), { timeout: 5_000 });
  let calls = 0;
  const loader = async () => {
    calls++;
    await sleep(loadMs);
    return `value-of-${key}`;
  };
  const wait = Number(arg("start")) - Date.now();
  if (wait > 0) await sleep(Math.min(wait, 10_000));
  const values = await Promise.all(
    Array.from({ length: callers }, () => client.getOrSet(key, loader, { ttl: 300 })),
  );
  return { calls, values: [...new Set(values)] };
}

async function hot(): Promise<unknown> {
  const key = arg("key");
  const readers = Number(arg("readers", "64"));
  const ops = Number(arg("ops", "20000"));
  const loadMs = Number(arg("load-ms", "500"));
  await using client = await connect(arg("server"), { timeout: 5_000 });
  await client.set(key, "v1", { ttl: 600 });
  const deadline = performance.now() + LIMIT_MS;
  const measure = async (op: () => Promise<unknown>, count: number) => {
    const samples: number[] = [];
    let left = count;
    await Promise.all(Array.from({ length: readers }, async () => {
      while (left-- > 0 && performance.now() < deadline) {
        const t = performance.now();
        await op();
        samples.push(performance.now() - t);
      }
    }));
    return samples;
  };
  let calls = 0;
  const loader = async () => {
    calls++;
    await sleep(loadMs);
    return "v2";
  };
  // Warm up, then the baselines: plain get hits, and getOrSet hits.
  await measure(() => client.get(key), ops);
  await measure(() => client.getOrSet(key, loader, { ttl: 600 }), ops);
  const plain = await measure(() => client.get(key), ops);
  const hits = await measure(() => client.getOrSet(key, loader, { ttl: 600 }), ops);
  // Invalidate, then read while the one refresh runs (until the refreshed value is there).
  await client.invalidate(key, { staleTtl: 60 });
  const during: number[] = [];
  let stale = 0;
  let refreshed = false;
  await Promise.all(Array.from({ length: readers }, async () => {
    while (!refreshed && performance.now() < deadline) {
      const t = performance.now();
      const value = await client.getOrSet(key, loader, { ttl: 600 });
      during.push(performance.now() - t);
      if (value === "v1") stale++;
      else refreshed = true;
    }
  }));
  return {
    plainGet: summary(plain),
    getOrSetHit: summary(hits),
    duringRefresh: summary(during),
    staleReads: stale,
    loaderCalls: calls,
  };
}

const mode = argv[0];
const result = mode === "cold" ? await cold() : mode === "hot" ? await hot() : undefined;
if (result === undefined) {
  console.error("usage: stampede.ts cold|hot --server H:P --key K ...");
  exit(2);
}
console.log(JSON.stringify({ runtime, runtimeVersion, mode, ...result as object }));
exit(0);
