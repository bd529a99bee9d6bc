// @ts-self-types="./harness.d.mts"
// Shared scenario runner for every JavaScript client in the benchmark (Mica on Deno and Bun,
// and the npm peers on Node and Bun). Keeping one implementation guarantees that every client
// is measured with exactly the same loops, warm-up, key layout and statistics.
//
// Plain JavaScript (typed by harness.d.mts) so that Node 20 can load it without a TypeScript
// loader. It uses only APIs that exist in all three runtimes.

import { readdirSync, readFileSync } from "node:fs";

/** Ops per scenario in full mode; `--quick` divides every count by 10. */
export const FULL = {
  warmup: 2_000,
  /**
   * Warm-up ops for the 64-in-flight scenarios (b, c, h), run like the measured loop. With 2,000,
   * Bun's JIT was still compiling Mica's request path during c's measured loop: client CPU per
   * set measured 1.25-1.32 µs with c run alone and 1.03-1.10 µs with b run first, against
   * 0.75-0.93 µs (stable from 60,000 to 200,000 warm-up sets); the 120-line reference client,
   * with less code to compile, measured 0.92-0.98 µs after 2,000 and 0.81-1.04 µs after 60,000.
   * Deno: 1.23 µs after 2,000, 0.88 after 60,000. Every client gets the same warm-up.
   */
  pipelinedWarmup: 60_000,
  /**
   * Warm-up gets of scenario a (one get in flight). With 2,000, the JITs were still compiling
   * during the measured loop: pinned to one CPU with memcached, Mica made 43-45k gets/s on Deno
   * and Bun (p50 17-19 µs, unchanged) and 50-52k (Deno) and 53-57k (Bun) after 20,000 or 60,000.
   */
  sequentialWarmup: 20_000,
  /**
   * Warm-up batches for the getMany scenarios (d, g, i): as many as d and g measure. A batch is
   * one call, so the JITs need thousands of them before the measured loop. With 20 (2,000 keys)
   * the peers were still being compiled and measured up to 30% slow; with 500, Bun's JIT still
   * spent ~120 ms (Mica) and ~190 ms (3rd-Eden) compiling during g's measured loop, on the core
   * the servers run on, against ~4 ms and ~25-30 ms after 5,000
   * (`BUN_JSC_reportCompileTimes=1`).
   */
  manyWarmup: 5_000,
  a: 20_000,
  b: 200_000,
  c: 200_000,
  d: 5_000,
  /**
   * Scenarios e and s: 256 KiB sets, then gets, after `eWarmup` of each. With 500 sets (about
   * 40 ms of sending) one client's rounds ranged from 2,138 to 4,839 MB/s; 2,000 take about as
   * long as the 2,000 gets.
   */
  eWarmup: 500,
  eSets: 2_000,
  eGets: 2_000,
  f: 1_000_000,
  fSampleEvery: 100_000,
};

export const CONCURRENCY = 64;
export const LARGE_CONCURRENCY = 8;
export const SMALL_VALUE_BYTES = 100;
export const LARGE_VALUE_BYTES = 256 * 1024;
export const MANY_KEYS = 100;
/** Distinct keys used by the 64-in-flight scenarios (b, c) and the soak (f). */
export const KEYSPACE = 1_000;
/** Distinct keys used by the large-value scenario (e). */
export const LARGE_KEYSPACE = 16;

const now = () => performance.now();

/**
 * CPU time (user + system, µs) of this whole process so far, every thread included (JIT, GC),
 * or undefined where `process.cpuUsage` is missing.
 */
function cpuMicros() {
  const usage = globalThis.process?.cpuUsage?.();
  return usage === undefined ? undefined : usage.user + usage.system;
}

/**
 * CPU time (µs) the memcached processes `cfg.serverPids` have used so far, every thread
 * included: the nanoseconds on CPU of each of their threads (`/proc/<pid>/task/<tid>/schedstat`,
 * first field), or where that is missing, user + system time from fields 14 and 15 of
 * `/proc/<pid>/stat`, in clock ticks of `cfg.clkTck` Hz (10 ms at the usual 100, too coarse for
 * d's ~0.1 s of server time). Undefined without pids or where `/proc` cannot be read.
 */
function serverCpuMicros(cfg) {
  if (cfg.serverPids.length === 0) return undefined;
  try {
    let ns = 0;
    for (const pid of cfg.serverPids) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      }
    }
    if (Number.isFinite(ns)) return ns / 1000;
  } catch {
    // No schedstat (a kernel without CONFIG_SCHED_INFO): the clock ticks below.
  }
  let ticks = 0;
  try {
    for (const pid of cfg.serverPids) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Field 2, the command name, is in parentheses and may hold spaces: count from the last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return undefined;
  }
  return Number.isFinite(ticks) ? (ticks * 1e6) / cfg.clkTck : undefined;
}

/** µs of server CPU per operation between two `serverCpuMicros` readings (for the report). */
function perOp(cpu0, cpu1, ops) {
  return cpu0 === undefined || cpu1 === undefined ? undefined : round((cpu1 - cpu0) / ops, 3);
}

/**
 * The server CPU fields of a getMany result: µs per batch and per key, from `serverCpuMicros`
 * samples taken before and after the measured loop (none when either is missing).
 */
function serverCpuFields(cpu0, cpu1, batches, keys) {
  if (cpu0 === undefined || cpu1 === undefined) return {};
  return {
    serverCpuUsPerBatch: round((cpu1 - cpu0) / batches, 1),
    serverCpuUsPerKey: round((cpu1 - cpu0) / keys, 3),
  };
}

/**
 * Parses `--server host:port --servers h:p1,h:p2 --prefix p --scenarios a,b --quick`.
 * `--servers` (a comma-separated list) selects cluster mode; `servers` is always a non-empty list
 * (`[server]` without it). Environment variables MICA_BENCH_SERVER / _SERVERS / _PREFIX /
 * _SCENARIOS / _QUICK are fallbacks. MICA_BENCH_SERVER_PIDS (or `--server-pids`) lists the
 * memcached process ids whose CPU time the getMany scenarios report, MICA_BENCH_CLK_TCK the
 * clock ticks per second of `/proc/<pid>/stat` (default 100); the orchestrators set both.
 */
export function parseArgs(argv, env) {
  const get = (name) => {
    const i = argv.indexOf(`--${name}`);
    if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`--${name}=`));
    return eq === undefined ? undefined : eq.slice(name.length + 3);
  };
  const list = (v) => (v ?? "").split(",").map((x) => x.trim()).filter((x) => x.length > 0);
  const servers = list(get("servers") ?? env.MICA_BENCH_SERVERS);
  const server = get("server") ?? env.MICA_BENCH_SERVER ?? servers[0] ?? "127.0.0.1:11211";
  if (servers.length === 0) servers.push(server);
  const colon = server.lastIndexOf(":");
  const host = colon > 0 ? server.slice(0, colon) : server;
  const port = colon > 0 ? Number(server.slice(colon + 1)) : 11211;
  const scenarios = list(get("scenarios") ?? env.MICA_BENCH_SCENARIOS ?? "a,b,c,d,e");
  const quick = argv.includes("--quick") || env.MICA_BENCH_QUICK === "1";
  const prefix = get("prefix") ?? env.MICA_BENCH_PREFIX ?? "bench";
  const timeLimitS = Number(get("time-limit") ?? env.MICA_BENCH_TIME_LIMIT ?? (quick ? 60 : 180));
  const serverPids = list(get("server-pids") ?? env.MICA_BENCH_SERVER_PIDS).map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
  const clkTck = Number(env.MICA_BENCH_CLK_TCK) > 0 ? Number(env.MICA_BENCH_CLK_TCK) : 100;
  return { server, servers, host, port, scenarios, quick, prefix, timeLimitS, serverPids, clkTck };
}

/** Scales the op counts for quick mode. */
export function counts(quick) {
  // MICA_SOAK_OPS=4000000 lengthens the soak (for example to see a runtime's heap reservation
  // settle); the verdict then compares the sample nearest the middle with the end.
  const soak = Number(globalThis.process?.env?.MICA_SOAK_OPS);
  if (soak > 0 && !quick) {
    return { ...FULL, f: Math.ceil(soak / FULL.fSampleEvery) * FULL.fSampleEvery };
  }
  if (!quick) return { ...FULL };
  const out = {};
  for (const [k, v] of Object.entries(FULL)) out[k] = Math.max(1, Math.floor(v / 10));
  return out;
}

/** ASCII value of the given byte length (same bytes as a string or as a Uint8Array). */
export function asciiString(n, seed = 0) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[(i + seed) % alphabet.length];
  return s;
}

export function asciiBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 97 + (i % 26);
  return out;
}

/** Byte/char length of whatever a client returned (string, Buffer, Uint8Array). */
export function valueLength(v) {
  if (v === undefined || v === null) return -1;
  if (typeof v === "string") return v.length;
  if (typeof v.byteLength === "number") return v.byteLength;
  if (typeof v.length === "number") return v.length;
  return -1;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

const round = (x, digits = 1) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

class Deadline {
  constructor(seconds, what) {
    this.at = now() + seconds * 1000;
    this.what = what;
  }
  check() {
    if (now() > this.at) throw new Error(`time limit exceeded in ${this.what}`);
  }
}

/**
 * Runs `total` calls of `op(i)` keeping `concurrency` of them outstanding: `concurrency`
 * async workers each loop `await op(i)` while a shared counter is below `total`.
 */
export async function parallel(total, concurrency, op, deadline) {
  let next = 0;
  const worker = async () => {
    try {
      while (next < total) {
        const i = next++;
        await op(i);
        if ((i & 1023) === 0) deadline.check();
      }
    } catch (err) {
      next = total; // stop the other workers too
      throw err;
    }
  };
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, total); w++) workers.push(worker());
  await Promise.all(workers);
}

async function expectValue(client, key, expectedLength, what) {
  const v = await client.get(key);
  const len = valueLength(v);
  if (len !== expectedLength) {
    throw new Error(`${what}: get(${key}) returned length ${len}, expected ${expectedLength}`);
  }
}

async function populate(client, keys, value, deadline) {
  await parallel(keys.length, CONCURRENCY, (i) => client.set(keys[i], value), deadline);
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each returns a plain JSON-able object.

/** a) sequential get: 1 in flight, 100-byte value; ops/s and latency percentiles (µs). */
async function scenarioA(client, cfg, n) {
  const deadline = new Deadline(cfg.timeLimitS, "a");
  const key = `${cfg.prefix}:a`;
  await client.set(key, asciiString(SMALL_VALUE_BYTES));
  await expectValue(client, key, SMALL_VALUE_BYTES, "a");
  for (let i = 0; i < n.sequentialWarmup; i++) await client.get(key);
  const lat = new Float64Array(n.a);
  let misses = 0;
  const server0 = serverCpuMicros(cfg);
  const cpu0 = cpuMicros();
  const t0 = now();
  for (let i = 0; i < n.a; i++) {
    const s = now();
    const v = await client.get(key);
    lat[i] = now() - s;
    if (v === undefined || v === null) misses++;
    if ((i & 1023) === 0) deadline.check();
  }
  const seconds = (now() - t0) / 1000;
  const cpu1 = cpuMicros();
  const server1 = serverCpuMicros(cfg);
  if (misses > 0) throw new Error(`a: ${misses} unexpected misses`);
  const sorted = lat.slice().sort();
  let sum = 0;
  for (let i = 0; i < lat.length; i++) sum += lat[i];
  return {
    ops: n.a,
    seconds: round(seconds, 3),
    opsPerSec: Math.round(n.a / seconds),
    p50Us: round(percentile(sorted, 0.5) * 1000),
    p99Us: round(percentile(sorted, 0.99) * 1000),
    p999Us: round(percentile(sorted, 0.999) * 1000),
    meanUs: round((sum / lat.length) * 1000),
    cpuUsPerOp: perOp(cpu0, cpu1, n.a),
    serverCpuUsPerOp: perOp(server0, server1, n.a),
  };
}

/**
 * b) get, 64 in flight, 100-byte values. Also h (the same loop against a cluster: the client was
 * given several servers and spreads the 1,000 keys over them).
 */
async function scenarioB(client, cfg, n, name = "b") {
  const deadline = new Deadline(cfg.timeLimitS, name);
  const keys = Array.from({ length: KEYSPACE }, (_, i) => `${cfg.prefix}:${name}:${i}`);
  await populate(client, keys, asciiString(SMALL_VALUE_BYTES), deadline);
  await expectValue(client, keys[KEYSPACE - 1], SMALL_VALUE_BYTES, name);
  await parallel(n.pipelinedWarmup, CONCURRENCY, (i) => client.get(keys[i % KEYSPACE]), deadline);
  let misses = 0;
  const server0 = serverCpuMicros(cfg);
  const cpu0 = cpuMicros();
  const t0 = now();
  await parallel(n.b, CONCURRENCY, async (i) => {
    const v = await client.get(keys[i % KEYSPACE]);
    if (v === undefined || v === null) misses++;
  }, deadline);
  const seconds = (now() - t0) / 1000;
  const cpu1 = cpuMicros();
  const server1 = serverCpuMicros(cfg);
  if (misses > 0) throw new Error(`${name}: ${misses} unexpected misses`);
  return {
    cpuUsPerOp: perOp(cpu0, cpu1, n.b),
    serverCpuUsPerOp: perOp(server0, server1, n.b),
    ops: n.b,
    servers: cfg.servers.length,
    concurrency: CONCURRENCY,
    seconds: round(seconds, 3),
    opsPerSec: Math.round(n.b / seconds),
  };
}

/** c) set, 64 in flight, 100-byte values. */
async function scenarioC(client, cfg, n) {
  const deadline = new Deadline(cfg.timeLimitS, "c");
  const keys = Array.from({ length: KEYSPACE }, (_, i) => `${cfg.prefix}:c:${i}`);
  const value = asciiString(SMALL_VALUE_BYTES);
  const warm = n.pipelinedWarmup;
  await parallel(warm, CONCURRENCY, (i) => client.set(keys[i % KEYSPACE], value), deadline);
  const server0 = serverCpuMicros(cfg);
  const cpu0 = cpuMicros();
  const t0 = now();
  await parallel(n.c, CONCURRENCY, (i) => client.set(keys[i % KEYSPACE], value), deadline);
  const seconds = (now() - t0) / 1000;
  const cpu1 = cpuMicros();
  const server1 = serverCpuMicros(cfg);
  await expectValue(client, keys[KEYSPACE - 1], SMALL_VALUE_BYTES, "c");
  return {
    ops: n.c,
    cpuUsPerOp: perOp(cpu0, cpu1, n.c),
    serverCpuUsPerOp: perOp(server0, server1, n.c),
    concurrency: CONCURRENCY,
    seconds: round(seconds, 3),
    opsPerSec: Math.round(n.c / seconds),
  };
}

/**
 * d) getMany of 100 keys (100-byte values), one batch in flight. Also g (the same loop against a
 * cluster: the 100 keys of a batch are spread over the servers).
 */
async function scenarioD(client, cfg, n, name = "d") {
  const deadline = new Deadline(cfg.timeLimitS, name);
  const keys = Array.from({ length: MANY_KEYS }, (_, i) => `${cfg.prefix}:${name}:${i}`);
  await populate(client, keys, asciiString(SMALL_VALUE_BYTES), deadline);
  const first = await client.getMany(keys);
  if (first !== MANY_KEYS) {
    throw new Error(`${name}: getMany returned ${first} hits, expected ${MANY_KEYS}`);
  }
  for (let i = 0; i < n.manyWarmup; i++) {
    await client.getMany(keys);
    if ((i & 63) === 0) deadline.check();
  }
  let short = 0;
  const server0 = serverCpuMicros(cfg);
  const cpu0 = cpuMicros();
  const t0 = now();
  for (let i = 0; i < n.d; i++) {
    if ((await client.getMany(keys)) !== MANY_KEYS) short++;
    if ((i & 63) === 0) deadline.check();
  }
  const seconds = (now() - t0) / 1000;
  const cpu = cpu0 === undefined ? undefined : cpuMicros() - cpu0;
  const server1 = serverCpuMicros(cfg);
  if (short > 0) throw new Error(`${name}: ${short} batches with missing keys`);
  return {
    batches: n.d,
    servers: cfg.servers.length,
    keysPerBatch: MANY_KEYS,
    method: client.getManyMethod,
    seconds: round(seconds, 3),
    batchesPerSec: Math.round(n.d / seconds),
    keysPerSec: Math.round((n.d * MANY_KEYS) / seconds),
    // The client's own cost per batch, apart from the servers' and the scheduler's.
    ...(cpu === undefined ? {} : { cpuUsPerBatch: round(cpu / n.d, 1) }),
    // What the servers spent on the same loop (every memcached thread, from /proc).
    ...serverCpuFields(server0, server1, n.d, n.d * MANY_KEYS),
  };
}

/** How many getMany batches scenario i keeps in flight. */
export const MANY_CONCURRENCY = 8;

/**
 * i) (cluster) getMany of 100 keys spread over the servers, 8 batches in flight: throughput
 * rather than the latency that g (one batch in flight) measures.
 */
async function scenarioI(client, cfg, n) {
  const deadline = new Deadline(cfg.timeLimitS, "i");
  const keys = Array.from({ length: MANY_KEYS }, (_, i) => `${cfg.prefix}:i:${i}`);
  await populate(client, keys, asciiString(SMALL_VALUE_BYTES), deadline);
  const warm = Math.max(MANY_CONCURRENCY, n.manyWarmup);
  await parallel(warm, MANY_CONCURRENCY, () => client.getMany(keys), deadline);
  let short = 0;
  const batches = n.d * 2;
  const server0 = serverCpuMicros(cfg);
  const t0 = now();
  await parallel(batches, MANY_CONCURRENCY, async () => {
    if ((await client.getMany(keys)) !== MANY_KEYS) short++;
  }, deadline);
  const seconds = (now() - t0) / 1000;
  const server1 = serverCpuMicros(cfg);
  if (short > 0) throw new Error(`i: ${short} batches with missing keys`);
  return {
    batches,
    concurrency: MANY_CONCURRENCY,
    servers: cfg.servers.length,
    keysPerBatch: MANY_KEYS,
    method: client.getManyMethod,
    seconds: round(seconds, 3),
    batchesPerSec: Math.round(batches / seconds),
    keysPerSec: Math.round((batches * MANY_KEYS) / seconds),
    ...serverCpuFields(server0, server1, batches, batches * MANY_KEYS),
  };
}

/**
 * e) 256 KiB values: 2,000 sets then 2,000 gets, 8 in flight, after 500 of each; MB/s (1 MB =
 * 10^6 bytes). Also s (the same loops with the value passed as a 256 KiB ASCII string).
 */
async function scenarioE(client, cfg, n, name = "e") {
  const deadline = new Deadline(cfg.timeLimitS, name);
  const keys = Array.from({ length: LARGE_KEYSPACE }, (_, i) => `${cfg.prefix}:${name}:${i}`);
  const value = name === "s"
    ? asciiString(LARGE_VALUE_BYTES)
    : client.makeLargeValue(asciiBytes(LARGE_VALUE_BYTES));
  const warm = Math.max(LARGE_KEYSPACE, n.eWarmup);
  await parallel(
    warm,
    LARGE_CONCURRENCY,
    (i) => client.set(keys[i % LARGE_KEYSPACE], value),
    deadline,
  );
  await parallel(warm, LARGE_CONCURRENCY, (i) => client.get(keys[i % LARGE_KEYSPACE]), deadline);
  await expectValue(client, keys[0], LARGE_VALUE_BYTES, name);

  const server0 = serverCpuMicros(cfg);
  const t0 = now();
  await parallel(
    n.eSets,
    LARGE_CONCURRENCY,
    (i) => client.set(keys[i % LARGE_KEYSPACE], value),
    deadline,
  );
  const setSeconds = (now() - t0) / 1000;
  const server1 = serverCpuMicros(cfg);

  let bad = 0;
  const t1 = now();
  await parallel(n.eGets, LARGE_CONCURRENCY, async (i) => {
    const v = await client.get(keys[i % LARGE_KEYSPACE]);
    if (valueLength(v) !== LARGE_VALUE_BYTES) bad++;
  }, deadline);
  const getSeconds = (now() - t1) / 1000;
  const server2 = serverCpuMicros(cfg);
  if (bad > 0) throw new Error(`${name}: ${bad} gets returned a wrong length`);
  const mb = LARGE_VALUE_BYTES / 1e6;
  return {
    sets: n.eSets,
    gets: n.eGets,
    concurrency: LARGE_CONCURRENCY,
    valueBytes: LARGE_VALUE_BYTES,
    setSeconds: round(setSeconds, 3),
    getSeconds: round(getSeconds, 3),
    setMBps: round((n.eSets * mb) / setSeconds),
    getMBps: round((n.eGets * mb) / getSeconds),
    setOpsPerSec: Math.round(n.eSets / setSeconds),
    getOpsPerSec: Math.round(n.eGets / getSeconds),
    serverCpuUsPerSet: perOp(server0, server1, n.eSets),
    serverCpuUsPerGet: perOp(server1, server2, n.eGets),
  };
}

/**
 * f) soak: 1,000,000 gets at 64 in flight, run as 10 chunks of 100k; between chunks (nothing
 * in flight) the process forces a full GC and samples RSS and heap. Needs `client.memory()`.
 */
async function scenarioF(client, cfg, n) {
  if (typeof client.memory !== "function") throw new Error("f: client has no memory() hook");
  const deadline = new Deadline(cfg.timeLimitS * 3, "f");
  const keys = Array.from({ length: KEYSPACE }, (_, i) => `${cfg.prefix}:f:${i}`);
  await populate(client, keys, asciiString(SMALL_VALUE_BYTES), deadline);
  await parallel(n.warmup, CONCURRENCY, (i) => client.get(keys[i % KEYSPACE]), deadline);

  const samples = [];
  const sample = async (ops) => {
    // Let pending socket callbacks and timers drain before collecting.
    await new Promise((r) => setTimeout(r, 10));
    const m = await client.memory();
    samples.push({ ops, ...m });
  };

  let misses = 0;
  await sample(0);
  const t0 = now();
  for (let done = 0; done < n.f; done += n.fSampleEvery) {
    const chunk = Math.min(n.fSampleEvery, n.f - done);
    await parallel(chunk, CONCURRENCY, async (i) => {
      const v = await client.get(keys[(done + i) % KEYSPACE]);
      if (v === undefined || v === null) misses++;
    }, deadline);
    await sample(done + chunk);
  }
  const seconds = (now() - t0) / 1000;
  if (misses > 0) throw new Error(`f: ${misses} unexpected misses`);

  const at = (ops) => samples.find((s) => s.ops === ops);
  const s200 = at(2 * n.fSampleEvery);
  // The second half: from the sample nearest n.f / 2 to the end.
  const s500 = at(Math.round(n.f / 2 / n.fSampleEvery) * n.fSampleEvery);
  const sEnd = samples[samples.length - 1];
  const heapGrowth = sEnd.heapUsed - s200.heapUsed;
  const limit = 1_000_000;
  return {
    ops: n.f,
    concurrency: CONCURRENCY,
    seconds: round(seconds, 3),
    opsPerSec: Math.round(n.f / seconds),
    heapSource: client.heapSource,
    samples,
    heapGrowthBytes: heapGrowth,
    heapGrowthFromOps: s200.ops,
    heapGrowthToOps: sEnd.ops,
    heapGrowthLimitBytes: limit,
    rssMidOps: s500.ops,
    rssMidBytes: s500.rss,
    rssEndBytes: sEnd.rss,
    rssMidToEndBytes: sEnd.rss - s500.rss,
    heapTotalMidToEndBytes: (sEnd.heapTotal ?? 0) - (s500.heapTotal ?? 0),
    // "RSS does not grow over the second half": allow 2 MiB of allocator noise.
    rssPass: sEnd.rss - s500.rss <= 2 * 1024 * 1024,
    heapPass: heapGrowth < limit,
    pass: heapGrowth < limit && sEnd.rss - s500.rss <= 2 * 1024 * 1024,
  };
}

const SCENARIOS = {
  a: scenarioA,
  b: scenarioB,
  c: scenarioC,
  d: scenarioD,
  e: scenarioE,
  f: scenarioF,
  s: (client, cfg, n) => scenarioE(client, cfg, n, "s"),
  // Cluster mode (bench/run.sh --cluster): the client is connected to several servers.
  g: (client, cfg, n) => scenarioD(client, cfg, n, "g"),
  h: (client, cfg, n) => scenarioB(client, cfg, n, "h"),
  i: scenarioI,
};

/**
 * Runs the requested scenarios against `client` and returns `{ [scenario]: result | {error} }`.
 * A failing scenario does not stop the others.
 */
export async function runScenarios(client, cfg, log = (msg) => console.error(msg)) {
  const n = counts(cfg.quick);
  const results = {};
  for (const name of cfg.scenarios) {
    const fn = SCENARIOS[name];
    if (fn === undefined) {
      results[name] = { error: `unknown scenario ${name}` };
      continue;
    }
    const t0 = now();
    try {
      results[name] = await fn(client, cfg, n);
      log(`  ${client.name}: ${name} done in ${((now() - t0) / 1000).toFixed(1)}s`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      results[name] = { error: msg };
      log(`  ${client.name}: ${name} FAILED: ${msg}`);
    }
  }
  return results;
}

/** Prints the one JSON object the orchestrator reads (always the last stdout line). */
export function emit(obj) {
  console.log(JSON.stringify(obj));
}
