// Prints the README's benchmark table from a results file (default bench/results/latest.json):
//   node bench/readme_table.mjs [results.json]
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? new URL("./results/latest.json", import.meta.url);
const run = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(run.clients.filter((c) => c.output?.results).map((c) => [c.id, c]));

const metrics = [
  ["get, 1 in flight: ops/s", "a", "opsPerSec", "high"],
  ["get, 1 in flight, pinned: p50 µs", "ap", "p50Us", "low"],
  ["get, 1 in flight: memcached CPU µs/get", "a", "serverCpuUsPerOp", "low"],
  ["get, 64 in flight: ops/s", "b", "opsPerSec", "high"],
  ["get, 64 in flight: memcached CPU µs/get", "b", "serverCpuUsPerOp", "low"],
  ["set, 64 in flight: ops/s", "c", "opsPerSec", "high"],
  ["set, 64 in flight: memcached CPU µs/set", "c", "serverCpuUsPerOp", "low"],
  ["getMany(100): keys/s", "d", "keysPerSec", "high"],
  ["getMany(100): memcached CPU µs/key", "d", "serverCpuUsPerKey", "low"],
  ["256 KiB set: MB/s", "e", "setMBps", "high"],
  ["256 KiB get: MB/s", "e", "getMBps", "high"],
  ["256 KiB string set: MB/s", "s", "setMBps", "high"],
];
const peers = ["memjs", "memcache-client", "memcached"];
const value = (id, s, k) => byId.get(id)?.output.results[s]?.[k];
const fmt = (v) =>
  v === undefined ? "n/a" : v >= 1000 ? Math.round(v).toLocaleString("en-US") : String(v);

function best(runtime, s, k, dir) {
  let out;
  for (const p of peers) {
    const v = value(`${p}-${runtime}`, s, k);
    if (v === undefined) continue;
    if (!out || (dir === "high" ? v > out.v : v < out.v)) out = { v, p };
  }
  return out;
}
const ratio = (mica, peer, dir) =>
  mica === undefined || peer === undefined
    ? "n/a"
    : `${(dir === "high" ? mica / peer : peer / mica).toFixed(2)}×`;

const rows = [
  "| metric | Mica (Deno) | best peer on Deno | × | Mica (Bun) | best peer on Bun | × | best peer on Node | libmemcached (C) | Mica vs C (Deno / Bun) | reference (Deno / Bun) |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
for (const [name, s, k, dir] of metrics) {
  const cells = [name];
  for (const runtime of ["deno", "bun"]) {
    const mica = value(`mica-${runtime}`, s, k);
    const peer = best(runtime, s, k, dir);
    cells.push(fmt(mica), peer ? `${fmt(peer.v)} (${peer.p})` : "n/a", ratio(mica, peer?.v, dir));
  }
  const node = best("node", s, k, dir);
  const c = value("libmemcached-c", s, k);
  cells.push(node ? `${fmt(node.v)} (${node.p})` : "n/a", fmt(c));
  const toC = (runtime) => ratio(value(`mica-${runtime}`, s, k), c, dir);
  cells.push(`${toC("deno")} / ${toC("bun")}`);
  cells.push(`${fmt(value("reference-deno", s, k))} / ${fmt(value("reference-bun", s, k))}`);
  rows.push(`| ${cells.join(" | ")} |`);
}
const v = run.versions ?? {};
console.log(rows.join("\n"));
const rounds = run.options?.rounds ?? 1;
console.log(
  `\nOne run, ${run.date}${
    rounds > 1 ? `, each figure the median of ${rounds} rounds in rotating order` : ""
  }: ${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(", ")}; \`bash bench/run.sh${
    rounds > 1 ? ` --rounds ${rounds}` : ""
  }\`.`,
);
