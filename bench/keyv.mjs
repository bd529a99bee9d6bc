// Keyv over memcached: Mica's store (@mica/memcached/keyv, the built package in dist/) against
// @keyv/memcache (memjs), both under Keyv 5 on the same Node and the same memcached, in
// alternating rounds. Run: bash scripts/build_npm.sh && node bench/keyv.mjs [--rounds 5]
// Prints a Markdown table of medians and Mica's ratio (> 1 = Mica faster).
import process from "node:process";
import Keyv from "keyv";
import { KeyvMemcache } from "@keyv/memcache";
import { freePort, startMemcached } from "./orchestra.mjs";

// The built package (bash scripts/build_npm.sh), loaded at run time: dist/ is not in the repo.
const { KeyvMemcached } = await import(new URL("../dist/src/keyv.js", import.meta.url).href);

const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1] || 5);
const SEQUENTIAL = 5_000;
const PARALLEL = 20_000;
const IN_FLIGHT = 64;

const port = await freePort();
const server = await startMemcached("/usr/bin/memcached", port, { threads: 4, memoryMb: 256 });
const address = `127.0.0.1:${port}`;

const stores = {
  mica: () => new KeyvMemcached(address),
  "@keyv/memcache": () => new KeyvMemcache(address),
};

async function measure(make) {
  const keyv = new Keyv({ store: make(), namespace: "bench" });
  const value = { name: "Ada", id: 42, tags: ["a", "b", "c"], bio: "x".repeat(100) };
  for (let i = 0; i < 100; i++) await keyv.set(`k${i}`, value, 60_000);
  let t = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) await keyv.get(`k${i % 100}`);
  const seqGet = SEQUENTIAL / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) await keyv.set(`k${i % 100}`, value, 60_000);
  const seqSet = SEQUENTIAL / ((performance.now() - t) / 1000);
  let next = 0;
  t = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < PARALLEL) await keyv.get(`k${next++ % 100}`);
  }));
  const parGet = PARALLEL / ((performance.now() - t) / 1000);
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
  t = performance.now();
  for (let i = 0; i < 200; i++) await keyv.getMany(keys);
  const many = 200 / ((performance.now() - t) / 1000);
  await keyv.disconnect();
  return {
    "get (sequential) ops/s": seqGet,
    "set (sequential) ops/s": seqSet,
    [`get ×${IN_FLIGHT} ops/s`]: parGet,
    "getMany(100) batches/s": many,
  };
}

const results = Object.fromEntries(Object.keys(stores).map((name) => [name, []]));
try {
  for (const name of Object.keys(stores)) await measure(stores[name]); // warm-up, not counted
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? Object.keys(stores) : Object.keys(stores).reverse();
    for (const name of order) results[name].push(await measure(stores[name]));
  }
} finally {
  await server.stop();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const metrics = Object.keys(results.mica[0]);
const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(`node ${process.version}, ${rounds} alternating rounds, medians\n`);
console.log("| metric | Mica store | @keyv/memcache | Mica ratio |\n| --- | --- | --- | --- |");
for (const m of metrics) {
  const a = median(results.mica.map((x) => x[m]));
  const b = median(results["@keyv/memcache"].map((x) => x[m]));
  console.log(`| ${m} | ${fmt(a)} | ${fmt(b)} | ${(a / b).toFixed(2)} |`);
}
