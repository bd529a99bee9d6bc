// Per-key cost of choosing a server, and of Mica's TypeScript MD5 against node:crypto's.
// The same file runs under both runtimes:
//   deno run -A bench/hash_bench.ts
//   bun bench/hash_bench.ts
// Prints a Markdown table: nanoseconds per key (best of several rounds) and ratios measured
// in the same run.
import { createHash } from "node:crypto";
import { HashRing, type KeyHash } from "../src/cluster/ring.ts";
import { ketamaHash, md5 } from "../src/cluster/hashes.ts";

const g = globalThis as unknown as {
  Deno?: { version: { deno: string; v8: string } };
  Bun?: { version: string };
};
const runtime = g.Bun !== undefined
  ? `Bun ${g.Bun.version}`
  : g.Deno !== undefined
  ? `Deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`
  : "unknown runtime";

const KEY_COUNT = 4096;
const ROUNDS = 7;
/** Each round runs for about this many milliseconds. */
const ROUND_MS = 150;

const encoder = new TextEncoder();
/** Typical short keys, e.g. `"user:48213:profile"` (15 to 25 bytes). */
const shortKeys = Array.from(
  { length: KEY_COUNT },
  (_, i) => `${["user", "session", "page", "blob"][i % 4]}:${(i * 2654435761) % 1e6}:profile`,
);
const shortBytes = shortKeys.map((k) => encoder.encode(k));
/** Keys of memcached's maximum length, 250 bytes. */
const longBytes = shortKeys.slice(0, 256).map((k) => encoder.encode(k.padEnd(250, "x")));

let sink = 0;

/** Returns the best per-call time in nanoseconds of `fn(i)` over `ROUNDS` rounds. */
function measure(fn: (i: number) => number): number {
  // Calibrate a batch size that takes about ROUND_MS.
  let batch = 1024;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) sink ^= fn(i);
    const elapsed = performance.now() - start;
    if (elapsed > ROUND_MS / 4) {
      batch = Math.max(1, Math.round((batch * ROUND_MS) / elapsed));
      break;
    }
    batch *= 2;
  }
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) sink ^= fn(i);
    best = Math.min(best, ((performance.now() - start) * 1e6) / batch);
  }
  return best;
}

const digest = new Uint8Array(16);
function cryptoMd5(bytes: Uint8Array): Uint8Array {
  return createHash("md5").update(bytes).digest();
}
/** The ketama key hash through node:crypto, to show the key hash is swappable. */
const cryptoKetamaHash: KeyHash = (key) => {
  const d = createHash("md5").update(key).digest();
  return (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
};

function servers(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `10.0.${i >> 8}.${i & 255}:11211`);
}

interface Row {
  name: string;
  ns: number;
  note?: string;
}
const rows: Row[] = [];
function row(name: string, fn: (i: number) => number, note?: string): number {
  const ns = measure(fn);
  rows.push(note === undefined ? { name, ns } : { name, ns, note });
  return ns;
}

const mask = KEY_COUNT - 1;
const longMask = longBytes.length - 1;

const oursShort = row("md5(), Mica (TypeScript), 20-byte key", (i) => {
  return md5(shortBytes[i & mask]!, digest)[0]!;
});
row("md5, node:crypto createHash, 20-byte key", (i) => {
  return cryptoMd5(shortBytes[i & mask]!)[0]!;
}, "");
const oursLong = row("md5(), Mica (TypeScript), 250-byte key", (i) => {
  return md5(longBytes[i & longMask]!, digest)[0]!;
});
row("md5, node:crypto createHash, 250-byte key", (i) => {
  return cryptoMd5(longBytes[i & longMask]!)[0]!;
}, "");
const oursHash = row("ketamaHash(), Mica, 20-byte key", (i) => ketamaHash(shortBytes[i & mask]!));
row("ketama hash via node:crypto, 20-byte key", (i) => cryptoKetamaHash(shortBytes[i & mask]!), "");
rows[1]!.note = `${(rows[1]!.ns / oursShort).toFixed(2)}x Mica`;
rows[3]!.note = `${(rows[3]!.ns / oursLong).toFixed(2)}x Mica`;
rows[5]!.note = `${(rows[5]!.ns / oursHash).toFixed(2)}x Mica`;

for (const count of [3, 100]) {
  const ketama = new HashRing(servers(count));
  const modula = new HashRing(servers(count), { distribution: "modula" });
  const swapped = new HashRing(servers(count), { hash: cryptoKetamaHash });
  const base = row(`serverIndexFor(), ketama, ${count} servers, string key`, (i) => {
    return ketama.serverIndexFor(shortKeys[i & mask]!);
  });
  row(`serverFor(), ketama, ${count} servers, string key`, (i) => {
    return ketama.serverFor(shortKeys[i & mask]!).length;
  });
  row(`serverIndexFor(), ketama, ${count} servers, Uint8Array key`, (i) => {
    return ketama.serverIndexFor(shortBytes[i & mask]!);
  });
  const crypto = row(
    `serverIndexFor(), ketama, ${count} servers, node:crypto key hash`,
    (i) => swapped.serverIndexFor(shortKeys[i & mask]!),
  );
  rows[rows.length - 1]!.note = `${(crypto / base).toFixed(2)}x Mica's MD5`;
  row(`serverIndexFor(), modula, ${count} servers, string key`, (i) => {
    return modula.serverIndexFor(shortKeys[i & mask]!);
  });
}

const buildStart = performance.now();
for (let i = 0; i < 10; i++) sink ^= new HashRing(servers(100)).servers.length;
const buildMs = (performance.now() - buildStart) / 10;

const width = Math.max(...rows.map((r) => r.name.length));
console.log(`Mica hash ring benchmark, ${runtime}, ${KEY_COUNT} distinct keys, best of ${ROUNDS}`);
console.log();
console.log(`| ${"case".padEnd(width)} | ns/key | note |`);
console.log(`| ${"-".repeat(width)} | -----: | ---- |`);
for (const r of rows) {
  console.log(`| ${r.name.padEnd(width)} | ${r.ns.toFixed(1).padStart(6)} | ${r.note ?? ""} |`);
}
console.log();
console.log(`Building a 100-server ketama ring (16,000 points): ${buildMs.toFixed(2)} ms`);
if (sink === 0.5) console.log("unreachable");
