// 256 KiB values as strings and as bytes, compared in one process: each round runs every kind's
// sets and then its gets (8 in flight, 16 keys), kinds alternating, so drift of a shared machine
// hits each alike; prints the median MB/s and the median CPU time (user + system, every thread)
// per operation. The same file runs on Deno and Bun:
//   deno run -A bench/large_values.ts --server 127.0.0.1:11211 [--rounds 9] [--ops 300]
//   bun bench/large_values.ts --server 127.0.0.1:11211
// `--kinds` picks from bytes (Uint8Array), string (flat ASCII), rope (ASCII built by `+=`, as
// bench/harness.mjs builds its values) and utf8 (2-byte characters; 256 KiB of UTF-8).
// `--module PATH` measures another checkout's mod.ts (absolute path) instead, for before/after.
import process from "node:process";
import { argv, exit } from "./runtime.ts";

/** The value of `--name value` or `--name=value`. */
function option(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const SIZE = 256 * 1024;
const CONCURRENCY = 8;
const KEYS = 16;
const server = option("server") ?? "127.0.0.1:11211";
const rounds = Number(option("rounds") ?? 9);
const ops = Number(option("ops") ?? 300);
const kinds = (option("kinds") ?? "bytes,string").split(",");
const modulePath = option("module") ?? new URL("../mod.ts", import.meta.url).href;

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
function rope(): string {
  let s = "";
  for (let i = 0; i < SIZE; i++) s += alphabet[i % alphabet.length];
  return s;
}
const flat = rope().split("").join("");
const VALUES: Record<string, string | Uint8Array> = {
  bytes: new TextEncoder().encode(flat),
  string: flat,
  rope: rope(),
  utf8: "é".repeat(SIZE / 2),
};
for (const kind of kinds) {
  if (!(kind in VALUES)) {
    console.error(`unknown kind ${kind}: bytes, string, rope or utf8`);
    exit(2);
  }
}

interface Store {
  set(key: string, value: string | Uint8Array): Promise<unknown>;
  get(key: string): Promise<unknown>;
  close(): Promise<void>;
}
const { connect } = (await import(modulePath)) as {
  connect(server: string): Promise<Store>;
};
const client = await connect(server);

/** Runs `n` sets or gets of `kind`'s value; MB/s and CPU µs per operation. */
async function run(kind: string, op: "set" | "get", n: number) {
  const value = VALUES[kind]!;
  let next = 0;
  let misses = 0;
  const worker = async () => {
    while (next < n) {
      const key = `large-values:${kind}:${next++ % KEYS}`;
      if (op === "set") await client.set(key, value);
      else if ((await client.get(key)) === undefined) misses++;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (misses > 0) throw new Error(`${misses} gets of ${kind} missed`);
  return { mbps: (n * SIZE) / 1e6 / seconds, cpuUs: (cpu.user + cpu.system) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
try {
  for (const kind of kinds) {
    await run(kind, "set", 100); // warm-up, and every key exists before the gets
    await run(kind, "get", 100);
  }
  const samples: Record<string, { mbps: number[]; cpuUs: number[] }> = {};
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      for (const op of ["set", "get"] as const) {
        const x = await run(kind, op, ops);
        const s = samples[`${kind} ${op}`] ??= { mbps: [], cpuUs: [] };
        s.mbps.push(x.mbps);
        s.cpuUs.push(x.cpuUs);
      }
    }
  }
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  const runtime = g.Bun ? `bun ${g.Bun.version}` : `deno ${g.Deno?.version.deno}`;
  console.log(`${runtime}, ${modulePath}: ${rounds} rounds of ${ops} ops, medians`);
  for (const [name, s] of Object.entries(samples)) {
    console.log(
      `  ${name.padEnd(12)} ${String(Math.round(median(s.mbps))).padStart(6)} MB/s ` +
        `${median(s.cpuUs).toFixed(1).padStart(7)} µs CPU/op`,
    );
  }
  for (const kind of kinds) {
    if (kind === "bytes" || !kinds.includes("bytes")) continue;
    // The median of each round's ratio: both sides of a ratio ran moments apart.
    const bytes = samples["bytes set"]!.mbps;
    const ratios = samples[`${kind} set`]!.mbps.map((mbps, r) => mbps / bytes[r]!);
    console.log(
      `  ${kind} set ÷ bytes set (median of the rounds' ratios): ${median(ratios).toFixed(2)}`,
    );
  }
} finally {
  await client.close();
}
