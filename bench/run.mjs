// Benchmark orchestrator (run by Node through bench/run.sh).
//
// Starts ONE local memcached on a free loopback port, runs every client process one after
// another against it (Mica on Deno and Bun, the npm peers on Node/Bun/Deno, libmemcached in C,
// memcslap as a reference), prints a Markdown report and writes JSON into bench/results/.
// `--cluster` hands over to bench/cluster.mjs (three servers, scenarios g and h).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { runCluster } from "./cluster.mjs";
import { runProtocols } from "./protocols.mjs";
import {
  buildNative,
  clientTable,
  collectVersions,
  findTools,
  firstLine,
  fmt,
  fmtRatio,
  freePort,
  label,
  mb,
  median,
  metric,
  ratio,
  runProcess,
  serverCpuEnv,
  startMemcached,
  table,
  vsEachPeer,
  which,
  withPin,
  writeResults,
} from "./orchestra.mjs";

const USAGE = `usage: bash bench/run.sh [options]

  --quick               10x fewer ops everywhere (smoke test)
  --cluster             three servers instead of one: scenarios g (getMany over 3 servers),
                        h (64-in-flight gets over 3 servers) and i (getMany, 8 in flight) for
                        Mica and the npm peers that can shard (bench/cluster.mjs; see README
                        "Cluster mode")
  --protocols           Mica only, one server: meta vs text vs binary protocol, plain TCP vs TLS,
                        scenarios b and c on Deno and Bun (bench/protocols.mjs)
  --rounds N            every client (with --protocols: every configuration) N times in
                        rotating order; each figure is the median over the rounds (default 1;
                        3 with --protocols or --cluster). The soak and memcslap run once
  --only LIST           comma-separated client selectors; a selector matches a client id
                        (e.g. mica-deno, memjs-node, libmemcached-c, memcslap), a library
                        (mica, memjs, memcache-client, memcached, libmemcached), a runtime
                        (deno, bun, node, c) or a group (peers = npm peers, soak)
  --skip LIST           same selectors, excluded
  --scenarios LIST      subset of a,b,c,d,e,s,f (default: all; f is the Mica-only soak);
                        with --cluster a subset of g,h,i
  --no-soak             same as --skip soak
  --soak-ops N          the soak's gets (default 1,000,000; rounded up to 100,000s): e.g.
                        20000000 to see memory from 5M to 20M ops
  --pin-cpu N           run memcached and every client under 'taskset -c N' (see README)
  --no-pinned-a         skip the second, CPU-pinned pass of scenario a (see README)
  --strict              exit 1 if a Mica scenario failed or the soak verdict failed (with
                        --cluster: or a client left a server unused)
  --help                this text

Client ids: mica-deno mica-bun mica-node memjs-node memcache-client-node memcached-node memjs-bun
  memcache-client-bun memcached-bun memjs-deno memcache-client-deno memcached-deno
  libmemcached-c memcslap mica-deno-soak mica-bun-soak
`;

// ---------------------------------------------------------------------------------------------
// Options

function parseOptions(argv) {
  const opts = {
    quick: false,
    only: [],
    skip: [],
    scenarios: undefined,
    cluster: false,
    pinCpu: undefined,
    pinnedA: true,
    strict: false,
  };
  const list = (v) => (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--quick":
        opts.quick = true;
        break;
      case "--cluster":
        opts.cluster = true;
        break;
      case "--protocols":
        opts.protocols = true;
        break;
      case "--rounds":
        opts.rounds = Number(value());
        if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new Error("--rounds: N >= 1");
        break;
      case "--only":
        opts.only.push(...list(value()));
        break;
      case "--skip":
        opts.skip.push(...list(value()));
        break;
      case "--soak-ops": {
        const ops = Number(value());
        if (!Number.isInteger(ops) || ops < 200_000) throw new Error("--soak-ops: N >= 200000");
        // Read by the soak's harness (counts()) in each client process.
        process.env.MICA_SOAK_OPS = String(ops);
        break;
      }
      case "--no-soak":
        opts.skip.push("soak");
        break;
      case "--scenarios":
        opts.scenarios = list(value());
        break;
      case "--pin-cpu":
        opts.pinCpu = String(Number(value()));
        break;
      case "--no-pinned-a":
        opts.pinnedA = false;
        break;
      case "--strict":
        opts.strict = true;
        break;
      case "--help":
      case "-h":
        opts.help = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (try --help)`);
    }
  }
  const known = opts.cluster ? ["g", "h", "i"] : ["a", "b", "c", "d", "e", "s", "f"];
  opts.scenarios ??= known;
  for (const s of opts.scenarios) {
    if (!known.includes(s)) {
      throw new Error(`unknown scenario ${s}${opts.cluster ? " (--cluster runs g,h)" : ""}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Native clients

/** memcslap: `--concurrency=64` threads, each its own connection, `execute-number` per thread. */
async function runMemcslap(port, opts) {
  const exe = which("memcslap") ?? which("memslap");
  if (!exe) return { error: "memcslap not found (apt-get install libmemcached-tools)" };
  const total = opts.quick ? 20_000 : 200_000;
  const threads = 64;
  const perThread = Math.floor(total / threads);
  const out = { tool: path.basename(exe), version: firstLine(exe, ["--version"]), results: {} };
  for (const test of ["get", "set"]) {
    const args = [
      `--servers=127.0.0.1:${port}`,
      `--concurrency=${threads}`,
      `--execute-number=${perThread}`,
      `--test=${test}`,
      "--tcp-nodelay",
    ];
    const r = await runProcess(withPin([exe, ...args], opts.pinCpu), {
      timeoutS: opts.quick ? 60 : 300,
      label: `memcslap ${test}`,
    });
    const text = `${r.stdout}\n${r.stderr}`;
    const m = text.match(
      new RegExp(`Time to ${test}\\s+(\\d+) keys by\\s+(\\d+) threads:\\s+([\\d.]+) seconds`),
    );
    if (!m) {
      out.results[test] = { error: r.error ?? "could not parse memcslap output" };
      continue;
    }
    const ops = Number(m[1]);
    const seconds = Number(m[3]);
    out.results[test] = {
      command: `memcslap ${args.join(" ")}`,
      ops,
      threads: Number(m[2]),
      seconds,
      opsPerSec: Math.round(ops / seconds),
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

const METRICS = [
  { key: "a.opsPerSec", title: "a: get seq ops/s", better: "higher" },
  { key: "a.p50Us", title: "a: p50 µs", better: "lower" },
  { key: "a.p99Us", title: "a: p99 µs", better: "lower" },
  { key: "a.cpuUsPerOp", title: "a: client CPU µs/op", better: "lower", digits: 2 },
  { key: "a.serverCpuUsPerOp", title: "a: server CPU µs/op", better: "lower", digits: 2 },
  { key: "ap.opsPerSec", title: "a pinned: ops/s", better: "higher" },
  { key: "ap.p50Us", title: "a pinned: p50 µs", better: "lower" },
  { key: "ap.p99Us", title: "a pinned: p99 µs", better: "lower" },
  { key: "b.opsPerSec", title: "b: get ×64 ops/s", better: "higher" },
  { key: "b.cpuUsPerOp", title: "b: client CPU µs/op", better: "lower", digits: 2 },
  { key: "b.serverCpuUsPerOp", title: "b: server CPU µs/op", better: "lower", digits: 2 },
  { key: "c.opsPerSec", title: "c: set ×64 ops/s", better: "higher" },
  { key: "c.cpuUsPerOp", title: "c: client CPU µs/op", better: "lower", digits: 2 },
  { key: "c.serverCpuUsPerOp", title: "c: server CPU µs/op", better: "lower", digits: 2 },
  { key: "d.batchesPerSec", title: "d: getMany(100) batches/s", better: "higher" },
  { key: "d.keysPerSec", title: "d: keys/s", better: "higher" },
  { key: "d.cpuUsPerBatch", title: "d: client CPU µs/batch", better: "lower" },
  { key: "d.serverCpuUsPerKey", title: "d: server CPU µs/key", better: "lower", digits: 3 },
  { key: "e.setMBps", title: "e: 256K set MB/s", better: "higher" },
  { key: "e.getMBps", title: "e: 256K get MB/s", better: "higher" },
  { key: "e.serverCpuUsPerSet", title: "e: server CPU µs/set", better: "lower", digits: 1 },
  { key: "e.serverCpuUsPerGet", title: "e: server CPU µs/get", better: "lower", digits: 1 },
  { key: "s.setMBps", title: "s: 256K string set MB/s", better: "higher" },
  { key: "s.getMBps", title: "s: 256K string get MB/s", better: "higher" },
];

function report(run) {
  const out = [];
  const { versions, entries, opts } = run;
  const nonSoak = entries.filter((e) => !e.client.soak && !e.client.memcslap);

  out.push(`# Mica benchmark — ${run.date}${opts.quick ? " — QUICK MODE (10× fewer ops)" : ""}`);
  out.push("");
  out.push(
    `memcached ${versions.memcached ?? "?"} (\`${run.memcachedArgs.join(" ")}\`) · ` +
      `node ${versions.node} · deno ${versions.deno ?? "n/a"} · bun ${versions.bun ?? "n/a"} · ` +
      `libmemcached ${versions.libmemcached ?? "n/a"} (${versions.gcc ?? "gcc ?"})`,
  );
  out.push("");
  out.push(
    `Host: ${versions.cpu} × ${versions.cores} cores, ${versions.os}.` +
      (opts.pinCpu !== undefined ? ` Everything pinned to CPU ${opts.pinCpu}.` : ""),
  );
  out.push("");
  if ((opts.rounds ?? 1) > 1) {
    out.push(
      `Each client ran ${opts.rounds} times in rotating order (the soak and memcslap once); ` +
        "each figure is the median over the rounds, and every round's results are in the JSON.",
    );
    out.push("");
  }

  // 1. Absolute numbers
  out.push("## Absolute numbers");
  out.push("");
  const absRows = nonSoak.map((e) => [
    label(e),
    ...METRICS.map((m) => {
      const [scenario] = m.key.split(".");
      const results = Object.values(e.json?.results ?? {});
      const allFailed = results.length > 0 && results.every((r) => r?.error);
      if ((e.error && !e.json?.results) || allFailed) return "n/a";
      if (e.json?.results?.[scenario]?.error) return "err";
      return fmt(metric(e, m.key), m.digits);
    }),
  ]);
  out.push(table(["client (runtime)", ...METRICS.map((m) => m.title)], absRows));
  out.push("");

  // 2. Mica vs best npm peer (same runtime, and best on Node)
  const peersOn = (rt) =>
    nonSoak.filter((e) => e.client.tags.includes("peers") && e.client.runtime === rt);
  const best = (m, candidates) => {
    let bestEntry;
    let bestValue;
    for (const e of candidates) {
      const v = metric(e, m.key);
      if (v === undefined) continue;
      const better = bestValue === undefined ||
        (m.better === "higher" ? v > bestValue : v < bestValue);
      if (better) {
        bestEntry = e;
        bestValue = v;
      }
    }
    return { entry: bestEntry, value: bestValue };
  };
  const micaOn = (rt) => nonSoak.find((e) => e.client.id === `mica-${rt}`);
  const micaRuntimes = ["deno", "bun", "node"].filter((rt) => micaOn(rt));
  if (micaRuntimes.length > 0) {
    out.push("## Mica vs the best npm peer");
    out.push("");
    out.push(
      "Ratio > 1 means Mica is better (throughput: Mica ÷ peer; latency: peer ÷ Mica). " +
        '"Same runtime" compares with the npm peers run on that runtime; "Node" with the peers ' +
        "on their home runtime.",
    );
    out.push("");
    const cEntry = nonSoak.find((e) => e.client.id === "libmemcached-c");
    for (const rt of micaRuntimes) {
      out.push(`### Mica on ${rt}`);
      out.push("");
      const header = [
        "metric",
        `Mica (${rt})`,
        `best npm peer on ${rt}`,
        "×",
        "best npm peer on node",
        "×",
        "libmemcached (C)",
        "×",
      ];
      const rows = METRICS.map((m) => {
        const mv = metric(micaOn(rt), m.key);
        const same = best(m, peersOn(rt));
        const nodeBest = best(m, peersOn("node"));
        const cv = metric(cEntry, m.key);
        return [
          m.title,
          fmt(mv, m.digits),
          same.entry ? `${fmt(same.value, m.digits)} (${same.entry.client.library})` : "n/a",
          fmtRatio(ratio(m, mv, same.value)),
          nodeBest.entry
            ? `${fmt(nodeBest.value, m.digits)} (${nodeBest.entry.client.library})`
            : "n/a",
          fmtRatio(ratio(m, mv, nodeBest.value)),
          fmt(cv, m.digits),
          fmtRatio(ratio(m, mv, cv)),
        ];
      });
      out.push(table(header, rows));
      out.push("");
    }

    out.push(...vsEachPeer(nonSoak, METRICS, micaRuntimes, micaOn));
  }

  // memcslap reference
  const slap = entries.find((e) => e.client.memcslap);
  if (slap) {
    out.push("## memcslap reference (libmemcached's load generator)");
    out.push("");
    out.push(
      "64 threads, each with its own connection doing blocking requests; keys and value sizes " +
        "are memcslap's own (not 100 bytes), so this is only a sanity reference for b/c.",
    );
    out.push("");
    const rows = ["get", "set"].map((t) => {
      const r = slap.memcslap?.results?.[t];
      return [
        t,
        r?.threads ?? "n/a",
        fmt(r?.ops),
        r?.seconds ?? "n/a",
        fmt(r?.opsPerSec),
        r?.error ?? "",
      ];
    });
    out.push(table(["test", "threads", "ops", "seconds", "ops/s", "note"], rows));
    out.push("");
  }

  // Soak
  const soaks = entries.filter((e) => e.client.soak);
  if (soaks.length > 0) {
    out.push("## Soak (Mica): gets at 64 in flight, memory after forced GC");
    out.push("");
    const series = soaks.map((e) => ({ e, f: e.json?.results?.f }));
    const allOps = series.find((s) => s.f?.samples)?.f.samples.map((s) => s.ops) ?? [];
    // A long soak (--soak-ops) shows 20 evenly spaced rows, the quarters among them.
    const last = allOps[allOps.length - 1] ?? 0;
    const opsList = allOps.length <= 21 ? allOps : allOps.filter((ops) => (ops * 20) % last === 0);
    const header = ["ops"];
    for (const { e } of series) {
      const rt = e.client.runtime;
      header.push(
        `${rt} RSS MiB`,
        `${rt} heapUsed MiB`,
        `${rt} heapTotal MiB`,
        `${rt} external MiB`,
      );
      if (e.client.runtime === "bun") header.push("bun JSC heapSize MiB");
    }
    const rows = opsList.map((ops) => {
      const row = [ops.toLocaleString("en-US")];
      for (const { e, f } of series) {
        const s = f?.samples?.find((x) => x.ops === ops);
        row.push(
          s ? mb(s.rss) : "n/a",
          s ? mb(s.heapUsed) : "n/a",
          s?.heapTotal !== undefined ? mb(s.heapTotal) : "n/a",
          s?.external !== undefined ? mb(s.external) : "n/a",
        );
        if (e.client.runtime === "bun") {
          row.push(s?.jscHeapSize !== undefined ? mb(s.jscHeapSize) : "n/a");
        }
      }
      return row;
    });
    if (rows.length > 0) out.push(table(header, rows));
    out.push("");
    for (const { e, f } of series) {
      if (!f || f.error || e.error) {
        out.push(
          `- **Soak verdict (${e.client.runtime}): n/a** — ${f?.error ?? e.error ?? "no result"}`,
        );
        continue;
      }
      const growth = f.heapGrowthBytes;
      out.push(
        `- **Soak verdict (${e.client.runtime}): ${f.pass ? "PASS" : "FAIL"}** — ` +
          `heap ${f.heapPass ? "PASS" : "FAIL"}, RSS ${f.rssPass ? "PASS" : "FAIL"}; heap growth ` +
          `${f.heapGrowthFromOps.toLocaleString("en-US")} → ${
            f.heapGrowthToOps.toLocaleString("en-US")
          } ops: ` +
          `${growth >= 0 ? "+" : ""}${(growth / 1e6).toFixed(3)} MB (limit < 1 MB); ` +
          `RSS at ${(f.rssMidOps ?? f.heapGrowthToOps / 2).toLocaleString("en-US")}: ${
            mb(f.rssMidBytes)
          } MiB, at ` +
          `${f.heapGrowthToOps.toLocaleString("en-US")}: ${mb(f.rssEndBytes)} MiB ` +
          `(${f.rssMidToEndBytes >= 0 ? "+" : ""}${mb(f.rssMidToEndBytes)} MiB, limit 2 MiB; ` +
          `heapTotal over the same span ${f.heapTotalMidToEndBytes >= 0 ? "+" : ""}${
            mb(f.heapTotalMidToEndBytes)
          } MiB); ` +
          `${fmt(f.opsPerSec)} ops/s`,
      );
      // From the first quarter on: after the runtime sized its heap for the load.
      const quarter = f.samples.find((x) => x.ops * 4 >= f.ops);
      const end = f.samples[f.samples.length - 1];
      if (quarter !== undefined && end !== undefined) {
        const delta = (key) =>
          `${end[key] >= quarter[key] ? "+" : ""}${mb(end[key] - quarter[key])}`;
        out.push(
          `  From ${quarter.ops.toLocaleString("en-US")} to ${end.ops.toLocaleString("en-US")} ` +
            `ops: RSS ${delta("rss")} MiB, heapUsed ${delta("heapUsed")} MiB, heapTotal ` +
            `${delta("heapTotal")} MiB, external ${delta("external")} MiB`,
        );
      }
    }
    out.push("");
  }

  // Notes
  out.push("## Notes");
  out.push("");
  for (const e of entries) {
    if (e.client.memcslap) continue;
    const bits = [];
    if (e.error) bits.push(`**n/a: ${e.error}**`);
    const failed = Object.entries(e.json?.results ?? {}).filter(([, r]) => r?.error);
    const distinct = new Set(failed.map(([, r]) => r.error));
    const scenarioName = (k) => (k === "ap" ? "a-pinned" : k);
    if (failed.length > 1 && distinct.size === 1) {
      const names = failed.map(([k]) => scenarioName(k)).join(",");
      bits.push(`**n/a: scenarios ${names} failed: ${[...distinct][0]}**`);
    } else {
      for (const [k, r] of failed) bits.push(`**scenario ${scenarioName(k)} failed: ${r.error}**`);
    }
    if (e.json?.getManyMethod && !e.client.soak) bits.push(`getMany = ${e.json.getManyMethod}`);
    if (e.json?.config) bits.push(`config ${JSON.stringify(e.json.config)}`);
    if (e.json?.libraryVersion) bits.push(`version ${e.json.libraryVersion}`);
    bits.push(`${e.seconds?.toFixed(1) ?? "?"} s wall`);
    out.push(`- ${label(e)}${e.client.soak ? " soak" : ""}: ${bits.join("; ")}`);
  }
  out.push(
    "- libmemcached (C): b/c use 64 threads × 1 connection each, e uses 8 threads × 1 " +
      "connection each (its blocking API cannot keep several requests outstanding on one " +
      "connection); a/d use one connection. MB = 10^6 bytes.",
  );
  return out.join("\n");
}

/**
 * One client's rounds as one entry: each scenario's numeric fields are the medians over the
 * rounds (the lower middle one for an even count), its other fields the first round's; every
 * round's results are kept in `json.rounds`. A scenario that failed in any round reports that
 * round's error, and an output that failed as a whole reports its error, so no failure is hidden
 * behind the rounds that passed. A single round is returned as it is.
 */
function mergeRounds(list) {
  if (list.length === 1) return list[0];
  const failed = list.find((r) => r.error || !r.json?.results);
  if (failed) return failed;
  const all = list.map((r) => r.json.results);
  const results = {};
  for (const k of new Set(all.flatMap((r) => Object.keys(r)))) {
    const each = all.map((r) => r[k]);
    const bad = each.findIndex((r) => r === undefined || r.error);
    if (bad >= 0) {
      results[k] = each[bad] ?? { error: `missing in round ${bad + 1}` };
      continue;
    }
    const merged = { ...each[0] };
    for (const [field, v] of Object.entries(each[0])) {
      if (typeof v === "number") merged[field] = median(each.map((r) => r[field]));
    }
    results[k] = merged;
  }
  return {
    json: { ...list[0].json, results, rounds: all },
    seconds: list.reduce((sum, r) => sum + (r.seconds ?? 0), 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }

  const memcachedExe = which("memcached");
  if (!memcachedExe) throw new Error("memcached not found (apt-get install -y memcached)");
  const tools = findTools();
  const versions = collectVersions(memcachedExe, tools);
  if (opts.cluster) return await runCluster(opts, { memcachedExe, tools, versions });
  if (opts.protocols) return await runProtocols(opts, { memcachedExe, tools, versions });

  const buildDir = mkdtempSync(path.join(os.tmpdir(), "mica-bench-"));
  const clients = clientTable(tools, opts, buildDir);
  const mainScenarios = opts.scenarios.filter((s) => s !== "f");
  const runSoak = opts.scenarios.includes("f");

  const port = await freePort();
  let server;
  try {
    server = await startMemcached(memcachedExe, port, {
      threads: 2,
      memoryMb: 1024,
      pinCpu: opts.pinCpu,
    });
  } catch (err) {
    rmSync(buildDir, { recursive: true, force: true });
    throw err;
  }
  const memcachedArgs = server.args;
  const onSignal = () => {
    server.kill("SIGKILL");
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const entries = [];
  let exitCode = 0;
  try {
    if (clients.some((c) => c.native)) {
      const err = buildNative(buildDir);
      if (err) { for (const c of clients) if (c.native) c.buildError = err; }
    }
    for (const c of clients.filter((c) => c.bundle)) {
      const r = spawnSync(tools.bun, [
        "build",
        c.bundle.from,
        "--target=node",
        "--format=esm",
        `--outfile=${c.bundle.to}`,
      ], { encoding: "utf8", timeout: 120_000 });
      if (r.status !== 0) {
        c.buildError = `bun build failed: ${(r.stderr || "").trim().slice(0, 300)}`;
      }
    }

    const runId = `${process.pid}`;
    const timeoutS = opts.quick ? 180 : 900;
    const env = serverCpuEnv([server.pid]);
    const runClient = (c, scenarios, pinCpu, prefix) => {
      const cmd = c.native
        ? [c.native, "127.0.0.1", String(port), prefix, scenarios.join(","), opts.quick ? "1" : "0"]
        : [
          ...c.cmd,
          "--server",
          `127.0.0.1:${port}`,
          "--prefix",
          prefix,
          "--scenarios",
          scenarios.join(","),
          ...(opts.quick ? ["--quick"] : []),
        ];
      return runProcess(withPin(cmd, pinCpu), { timeoutS, label: c.id, env });
    };

    // Each client runs `rounds` times, in an order rotated every round so drift of a shared
    // machine hits each alike; the soak and memcslap run once, in the first round.
    const rounds = opts.rounds ?? 1;
    const taskset = which("taskset");
    const pinnedA = opts.pinnedA && opts.pinCpu === undefined && mainScenarios.includes("a") &&
      taskset;
    /** client id → the outputs of its rounds (`{ json, error, seconds }`), in round order */
    const runs = new Map(clients.map((c) => [c.id, []]));
    for (let round = 0; round < rounds; round++) {
      const order = clients.map((_, i) => clients[(i + round) % clients.length]);
      const tag = rounds > 1 ? ` (round ${round + 1} of ${rounds})` : "";
      const prefix = (c) => `mb-${runId}-${c.id}${rounds > 1 ? `-r${round + 1}` : ""}`;
      for (const c of order) {
        const scenarios = c.soak ? (runSoak && round === 0 ? ["f"] : []) : mainScenarios;
        if (scenarios.length === 0) continue;
        if ((c.memcslap || c.buildError) && round > 0) continue;
        process.stderr.write(`\n== ${c.id}${tag}\n`);
        if (c.memcslap) {
          if (!mainScenarios.some((s) => s === "b" || s === "c")) continue;
          const slap = await runMemcslap(port, opts);
          runs.get(c.id).push({ memcslap: slap, error: slap.error });
          continue;
        }
        if (c.buildError) {
          runs.get(c.id).push({ error: c.buildError });
          continue;
        }
        const result = await runClient(c, scenarios, opts.pinCpu, prefix(c));
        if (result.error) process.stderr.write(`    [${c.id}] n/a: ${result.error}\n`);
        runs.get(c.id).push({ json: result.json, error: result.error, seconds: result.seconds });
      }

      // A second pass for scenario a with memcached and the client on the same CPU: on small
      // VMs a cross-CPU wake-up costs tens of µs and hides the client's own per-request cost.
      if (!pinnedA) continue;
      const all = `0-${os.cpus().length - 1}`;
      const pin = (cpus) =>
        spawnSync(taskset, ["-a", "-p", "-c", cpus, String(server.pid)], { stdio: "ignore" });
      pin("0");
      try {
        for (const c of order) {
          // The clients whose run of this round has results (not the soak, memcslap, a failure).
          if (c.soak || c.memcslap || runs.get(c.id).length !== round + 1) continue;
          const latest = runs.get(c.id)[round];
          if (!latest.json?.results) continue;
          process.stderr.write(`\n== ${c.id} (scenario a, pinned to CPU 0)${tag}\n`);
          const r = await runClient(c, ["a"], "0", `${prefix(c)}-pinned`);
          latest.json.results.ap = r.json?.results?.a ?? { error: r.error ?? "no result" };
        }
      } finally {
        pin(all);
      }
    }
    for (const c of clients) {
      const list = runs.get(c.id);
      if (list.length > 0) entries.push({ client: c, ...mergeRounds(list) });
    }
  } finally {
    await server.stop();
    rmSync(buildDir, { recursive: true, force: true });
  }

  const date = new Date().toISOString();
  const versionsFull = {
    ...versions,
    libmemcached: entries.find((e) => e.client.id === "libmemcached-c")?.json?.libraryVersion,
  };
  const run = { date, opts, versions: versionsFull, memcachedArgs, entries };
  const markdown = report(run);
  console.log(markdown);

  const json = {
    date,
    quick: opts.quick,
    options: opts,
    versions: versionsFull,
    memcached: memcachedArgs.join(" "),
    clients: entries.map((e) => ({
      id: e.client.id,
      library: e.client.library,
      runtime: e.client.runtime,
      soak: Boolean(e.client.soak),
      seconds: e.seconds,
      error: e.error,
      output: e.json ?? e.memcslap,
    })),
    markdown,
  };
  writeResults({ name: "bench", latest: "latest", date, quick: opts.quick, json, markdown });

  if (opts.strict) {
    for (const e of entries.filter((x) => x.client.library === "mica")) {
      const results = e.json?.results ?? {};
      const failed = e.error || Object.values(results).some((r) => r?.error) ||
        (e.client.soak && results.f?.pass !== true);
      if (failed) exitCode = 1;
    }
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  },
);
