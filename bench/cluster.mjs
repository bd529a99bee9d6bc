// Cluster benchmark: `bash bench/run.sh --cluster` (bench/run.mjs hands over to runCluster).
//
// Starts THREE memcached servers on free loopback ports (`-t 1` each: three single-threaded
// servers plus the client on a 2-core machine), runs every client process one after another with
// `--servers a,b,c` (the same bench/mica.ts and bench/peers/*.mjs as the one-server run, scenarios
// g, h and i of bench/harness.mjs; bench/c/libmc_bench.c as the native reference, g and h), reads
// each server's `stats` before and after every client to
// show how that client spread its keys and gets, prints a Markdown report and writes JSON into
// bench/results/.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  buildNative,
  clientTable,
  fmt,
  fmtRatio,
  freePort,
  label,
  memcachedStats,
  metric,
  ratio,
  runProcess,
  serverCpuEnv,
  startMemcached,
  table,
  vsEachPeer,
  withPin,
  writeResults,
} from "./orchestra.mjs";

const SERVERS = 3;
const THREADS = 1;
const MEMORY_MB = 256;
/** The issue's target: Mica ≥ 2× the 3rd-Eden `memcached` client on each runtime. */
const TARGET = 2;
/** A client "uses" a server when the server saw at least this share of the client's gets. */
const MIN_SHARE = 0.1;
const PEER = "memcached"; // 3rd-Eden

const METRICS = [
  { key: "g.batchesPerSec", title: "g: getMany(100) over 3, batches/s", better: "higher" },
  { key: "g.keysPerSec", title: "g: keys/s", better: "higher" },
  // Not a target: what the client itself spends per batch (process CPU, all threads), apart from
  // the servers and the scheduler that g's wall time also measures.
  { key: "g.cpuUsPerBatch", title: "g: client CPU µs per batch", better: "lower", target: false },
  // Nor this: what the three servers spent per key (every thread, from /proc/<pid>/stat).
  {
    key: "g.serverCpuUsPerKey",
    title: "g: server CPU µs per key",
    better: "lower",
    target: false,
    digits: 3,
  },
  { key: "h.opsPerSec", title: "h: get ×64 over 3, ops/s", better: "higher" },
  { key: "i.batchesPerSec", title: "i: getMany(100) ×8 over 3, batches/s", better: "higher" },
];

/** `stats` of every server (cmd_get, get_hits, cmd_set, curr_items). */
async function snapshot(servers) {
  return await Promise.all(servers.map(async (s) => {
    const st = await memcachedStats(s.port);
    return {
      cmd_get: st.cmd_get ?? 0,
      get_hits: st.get_hits ?? 0,
      cmd_set: st.cmd_set ?? 0,
      curr_items: st.curr_items ?? 0,
    };
  }));
}

/** What one client did to each server: stats deltas, shares, and whether all were used. */
function placement(servers, before, after) {
  const per = servers.map((s, i) => ({
    server: `127.0.0.1:${s.port}`,
    gets: after[i].cmd_get - before[i].cmd_get,
    hits: after[i].get_hits - before[i].get_hits,
    sets: after[i].cmd_set - before[i].cmd_set,
    items: after[i].curr_items - before[i].curr_items,
  }));
  const gets = per.reduce((a, p) => a + p.gets, 0);
  for (const p of per) p.getShare = gets > 0 ? p.gets / gets : 0;
  const allUsed = gets > 0 && per.every((p) => p.getShare >= MIN_SHARE && p.items > 0);
  return { servers: per, gets, allUsed };
}

/** The figure a scenario is ranked by: batches/s (g, i) or ops/s (h). */
function headline(result) {
  const v = result?.batchesPerSec ?? result?.opsPerSec;
  return typeof v === "number" && Number.isFinite(v) && !result.error ? v : undefined;
}

/**
 * One entry from a client's rounds: for each scenario, the result of the round with the median
 * headline figure (the lower middle one for an even count); every round's figure is kept in
 * `rounds` for the notes. Placement and wall time are the first successful round's.
 */
function medianEntry(list) {
  const ok = list.filter((e) => e.json?.results);
  if (ok.length === 0) return list[0];
  const results = {};
  const rounds = {};
  const scenarios = new Set(ok.flatMap((e) => Object.keys(e.json.results)));
  for (const k of scenarios) {
    const ranked = ok.map((e) => e.json.results[k]).filter((r) => headline(r) !== undefined)
      .sort((a, b) => headline(a) - headline(b));
    rounds[k] = ok.map((e) => headline(e.json.results[k]));
    results[k] = ranked.length > 0
      ? ranked[Math.floor((ranked.length - 1) / 2)]
      : ok[0].json.results[k];
  }
  return { ...ok[0], json: { ...ok[0].json, results }, rounds };
}

function report(run) {
  const { versions, entries, opts } = run;
  const out = [];
  const ran = (e) => e.json?.results && Object.values(e.json.results).some((r) => !r?.error);
  out.push(
    `# Mica cluster benchmark — ${run.date}${opts.quick ? " — QUICK MODE (10× fewer ops)" : ""}`,
  );
  out.push("");
  out.push(
    `${SERVERS} × memcached ${versions.memcached ?? "?"} (\`${run.memcachedArgs.join(" ")}\`, ` +
      `ports ${run.ports.join(", ")}) · node ${versions.node} · deno ${versions.deno ?? "n/a"} · ` +
      `bun ${versions.bun ?? "n/a"}`,
  );
  out.push("");
  out.push(
    `Host: ${versions.cpu} × ${versions.cores} cores, ${versions.os}.` +
      (opts.pinCpu !== undefined ? ` Everything pinned to CPU ${opts.pinCpu}.` : ""),
  );
  out.push("");
  out.push(
    `Each client ran ${run.rounds} time(s) in rotating order; each figure is the median round ` +
      "(every round's figure is in the notes). getMany scenarios: 5,000 warm-up batches, then " +
      "g 5,000 and i 10,000 measured (a tenth in quick mode).",
  );
  out.push("");
  out.push(
    "g: getMany of 100 keys spread over the 3 servers, one batch in flight; h: get at 64 in " +
      "flight over 1,000 keys spread over the 3 servers, 100-byte values. Each client routes " +
      "keys with its own hashing (Mica and libmemcached: ketama; 3rd-Eden: its md5 hashring; " +
      "memjs: hash mod 3); placement does not have to agree between clients. libmemcached (C) " +
      "is the native reference: g one connection per server (`memcached_mget`), h 64 threads " +
      "each with its own connections (blocking API).",
  );
  out.push("");

  out.push("## Absolute numbers");
  out.push("");
  const share = (e) =>
    ran(e) ? e.placement.servers.map((p) => `${Math.round(p.getShare * 100)}%`).join(" / ") : "n/a";
  const items = (e) => (ran(e) ? e.placement.servers.map((p) => p.items).join(" / ") : "n/a");
  out.push(table(
    [
      "client (runtime)",
      ...METRICS.map((m) => m.title),
      "gets per server",
      "items per server",
      "all 3 used",
    ],
    entries.map((e) => [
      label(e),
      ...METRICS.map((m) => {
        if (!ran(e)) return "n/a";
        if (e.json.results[m.key.split(".")[0]]?.error) return "err";
        return fmt(metric(e, m.key), m.digits);
      }),
      share(e),
      items(e),
      ran(e) ? (e.placement.allUsed ? "yes" : "**NO**") : "n/a",
    ]),
  ));
  out.push("");

  const micaOn = (rt) => entries.find((e) => e.client.id === `mica-${rt}`);
  const peerOn = (rt) => entries.find((e) => e.client.id === `${PEER}-${rt}`);
  const native = entries.find((e) => e.client.id === "libmemcached-c");
  const micaRuntimes = ["deno", "bun"].filter((rt) => micaOn(rt));
  if (micaRuntimes.length > 0) {
    out.push("## Mica vs memcached (3rd-Eden)");
    out.push("");
    out.push(
      `Ratio = Mica ÷ 3rd-Eden (> 1 = Mica faster; for client CPU, 3rd-Eden ÷ Mica). Issue ` +
        `target: ≥ ${TARGET}× on each runtime, same run, for throughput (client CPU is not a ` +
        "target). 3rd-Eden: `getMulti(keys)` for g, `get` for h, its default pool (up to 10 " +
        "connections per server).",
    );
    out.push("");
    const rows = [];
    for (const rt of micaRuntimes) {
      for (const m of METRICS) {
        const mv = metric(micaOn(rt), m.key);
        const same = metric(peerOn(rt), m.key);
        const node = metric(peerOn("node"), m.key);
        const cv = metric(native, m.key);
        const r = ratio(m, mv, same);
        rows.push([
          `Mica (${rt})`,
          m.title,
          fmt(mv, m.digits),
          fmt(same, m.digits),
          fmtRatio(r),
          fmt(node, m.digits),
          fmtRatio(ratio(m, mv, node)),
          r === undefined || m.target === false ? "n/a" : r >= TARGET ? "met" : "**missed**",
          fmt(cv, m.digits),
          fmtRatio(ratio(m, mv, cv)),
        ]);
      }
    }
    out.push(table(
      [
        "Mica on",
        "metric",
        "Mica",
        "3rd-Eden, same runtime",
        "×",
        "3rd-Eden on node",
        "×",
        `≥ ${TARGET}× same runtime`,
        "libmemcached (C)",
        "×",
      ],
      rows,
    ));
    out.push("");

    out.push(...vsEachPeer(entries, METRICS, micaRuntimes, micaOn));
    out.push(table(
      ["peer (runtime)", ...METRICS.map((m) => m.title)],
      entries.filter((e) => e.client.library !== "mica").map((e) => [
        label(e),
        ...METRICS.map((m) =>
          micaRuntimes
            .map((rt) => fmtRatio(ratio(m, metric(micaOn(rt), m.key), metric(e, m.key))))
            .join(" / ")
        ),
      ]),
    ));
    out.push("");
  }

  out.push("## Notes");
  out.push("");
  for (const e of entries) {
    const bits = [];
    if (e.error) bits.push(`**n/a: ${e.error}**`);
    for (const [k, r] of Object.entries(e.json?.results ?? {})) {
      if (r?.error && r.error !== e.error) bits.push(`**scenario ${k} failed: ${r.error}**`);
    }
    if (e.json?.getManyMethod) bits.push(`getMany = ${e.json.getManyMethod}`);
    if (e.json?.config) bits.push(`config ${JSON.stringify(e.json.config)}`);
    if (e.json?.libraryVersion) bits.push(`version ${e.json.libraryVersion}`);
    if (ran(e)) {
      const p = e.placement;
      bits.push(
        `server stats delta (gets/hits/sets/items): ${
          p.servers.map((s) => `${s.gets}/${s.hits}/${s.sets}/${s.items}`).join(", ")
        }`,
      );
    }
    for (const [k, figures] of Object.entries(e.rounds ?? {})) {
      if (figures.length > 1) bits.push(`${k} by round: ${figures.map(fmt).join(" / ")}`);
    }
    bits.push(`${e.seconds?.toFixed(1) ?? "?"} s wall (first round)`);
    out.push(`- ${label(e)}: ${bits.join("; ")}`);
  }
  out.push(
    `- "all 3 used": every server saw ≥ ${MIN_SHARE * 100}% of the client's gets ` +
      "(`cmd_get` delta, counted per key) and stored some of its items (`curr_items` delta).",
  );
  return out.join("\n");
}

/**
 * Runs the cluster benchmark; resolves to the exit code. `opts` from run.mjs's parseOptions
 * (`scenarios` is a subset of g,h,i).
 */
export async function runCluster(opts, { memcachedExe, tools, versions }) {
  const buildDir = mkdtempSync(path.join(os.tmpdir(), "mica-cluster-"));
  const clients = clientTable(tools, opts, buildDir).filter((c) => !c.soak && !c.memcslap);
  const servers = [];
  const onSignal = () => {
    for (const s of servers) s.kill("SIGKILL");
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const entries = [];
  const rounds = opts.rounds ?? 3;
  let memcachedArgs = [];
  let buildError;
  let list = "";
  const timeoutS = opts.quick ? 180 : 900;
  try {
    for (let i = 0; i < SERVERS; i++) {
      const port = await freePort();
      const s = await startMemcached(memcachedExe, port, {
        threads: THREADS,
        memoryMb: MEMORY_MB,
        pinCpu: opts.pinCpu,
      });
      servers.push({ ...s, port });
      memcachedArgs = s.args.map((a) => (a === String(port) ? "PORT" : a));
    }
    list = servers.map((s) => `127.0.0.1:${s.port}`).join(",");
    buildError = clients.some((c) => c.native) ? buildNative(buildDir) : undefined;
    const runs = new Map(clients.map((c) => [c.id, []]));
    for (let round = 0; round < rounds; round++) {
      // Rotating order, so drift of the machine hits each client alike.
      const order = clients.map((_, i) => clients[(i + round) % clients.length]);
      for (const c of order) runs.get(c.id).push(await runOne(c, round));
    }
    for (const c of clients) entries.push(medianEntry(runs.get(c.id)));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(buildDir, { recursive: true, force: true });
  }

  /** One client process, one round. */
  async function runOne(c, round) {
    process.stderr.write(`\n== ${c.id} (cluster, round ${round + 1} of ${rounds})\n`);
    if (c.native && buildError) return { client: c, error: buildError };
    const before = await snapshot(servers);
    const prefix = `mc-${process.pid}-${c.id}-r${round}`;
    const scenarios = opts.scenarios.join(",");
    const cmd = c.native ? [c.native, list, "0", prefix, scenarios, opts.quick ? "1" : "0"] : [
      ...c.cmd,
      "--servers",
      list,
      "--prefix",
      prefix,
      "--scenarios",
      scenarios,
      ...(opts.quick ? ["--quick"] : []),
    ];
    const env = serverCpuEnv(servers.map((s) => s.pid));
    const r = await runProcess(withPin(cmd, opts.pinCpu), { timeoutS, label: c.id, env });
    if (r.error) process.stderr.write(`    [${c.id}] n/a: ${r.error}\n`);
    const after = await snapshot(servers);
    return {
      client: c,
      json: r.json,
      error: r.error,
      seconds: r.seconds,
      placement: placement(servers, before, after),
    };
  }

  const date = new Date().toISOString();
  const run = {
    date,
    rounds,
    opts,
    versions,
    memcachedArgs,
    ports: servers.map((s) => s.port),
    entries,
  };
  const markdown = report(run);
  console.log(markdown);
  const json = {
    date,
    quick: opts.quick,
    options: opts,
    versions,
    memcached: `${SERVERS} × ${memcachedArgs.join(" ")}`,
    ports: run.ports,
    clients: entries.map((e) => ({
      id: e.client.id,
      library: e.client.library,
      runtime: e.client.runtime,
      seconds: e.seconds,
      error: e.error,
      placement: e.placement,
      output: e.json,
    })),
    markdown,
  };
  writeResults({
    name: "cluster",
    latest: "cluster-latest",
    date,
    quick: opts.quick,
    json,
    markdown,
  });

  let exitCode = 0;
  if (opts.strict) {
    for (const e of entries) {
      const results = e.json?.results ?? {};
      const micaFailed = e.client.library === "mica" &&
        (e.error || Object.values(results).some((r) => r?.error));
      if (micaFailed || (e.json?.results && !e.placement?.allUsed && !e.error)) exitCode = 1;
    }
  }
  return exitCode;
}
