// Pieces shared by the benchmark orchestrators (run by Node): bench/run.mjs (one server) and
// bench/cluster.mjs (three servers, `bash bench/run.sh --cluster`). Process and memcached
// plumbing, the client table, number formatting and result files.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BENCH = path.join(ROOT, "bench");
export const BIN = path.join(ROOT, "node_modules", ".bin");

// ---------------------------------------------------------------------------------------------
// Small helpers

export const which = (cmd) => {
  const r = spawnSync("sh", ["-c", `command -v "${cmd}"`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

export function firstLine(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
    const text = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
    return r.status === 0 && text ? text.split("\n")[0].trim() : undefined;
  } catch {
    return undefined;
  }
}

export function localBin(name) {
  const p = path.join(BIN, name);
  try {
    readFileSync(p, { flag: "r" });
    return p;
  } catch {
    return which(name);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sends one ASCII command and returns the reply (bounded by a 2 s timeout). */
export function memcachedCommand(port, command, terminator) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("timeout"));
    }, 2000);
    sock.on("connect", () => sock.write(`${command}\r\n`));
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (buf.includes(terminator)) {
        clearTimeout(timer);
        sock.end();
        resolve(buf);
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The environment that lets a client report the CPU time of the memcached processes `pids`
 * (bench/harness.mjs and bench/c/libmc_bench.c read it): their ids and the clock ticks per second
 * of `/proc/<pid>/stat`.
 */
export function serverCpuEnv(pids) {
  return {
    MICA_BENCH_SERVER_PIDS: pids.join(","),
    MICA_BENCH_CLK_TCK: firstLine("getconf", ["CLK_TCK"]) ?? "100",
  };
}

export function withPin(cmd, pinCpu) {
  return pinCpu === undefined ? cmd : ["taskset", "-c", pinCpu, ...cmd];
}

/**
 * Runs one client process; resolves to { json, stderr, code, seconds, error }.
 * Bounded: killed (whole process group) after `timeoutS`.
 */
export function runProcess(cmd, { timeoutS, label, env }) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      for (const line of String(d).split("\n")) {
        if (line.trim()) process.stderr.write(`    [${label}] ${line}\n`);
      }
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutS * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ error: `spawn failed: ${e.message}`, stdout, stderr, seconds: 0 });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const lines = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{"));
      let json;
      for (let i = lines.length - 1; i >= 0 && json === undefined; i--) {
        try {
          json = JSON.parse(lines[i]);
        } catch { /* keep looking */ }
      }
      let error;
      if (timedOut) error = `killed after ${timeoutS}s time limit`;
      else if (json === undefined) {
        // deno-lint-ignore no-control-regex
        const lines = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim());
        const hint = lines.find((l) => /error/i.test(l)) ?? lines.filter(Boolean).at(-1);
        error = `exit ${code ?? signal}, no JSON result${hint ? `: ${hint}` : ""}`;
      } else if (json.error) error = json.error;
      resolve({ json, error, code, seconds, stdout, stderr });
    });
  });
}

/**
 * Starts one memcached on 127.0.0.1:`port` (`-t threads -m memoryMb`, `-u root` when root, then
 * `extraArgs`) and waits until it answers `version` on `readyPort` (default `port`; a TLS
 * server is asked on its plain listener). Returns `{ args, pid, stop() }`; `stop` is SIGTERM,
 * then SIGKILL after 5 s. Throws if it does not answer within 5 s.
 */
export async function startMemcached(
  exe,
  port,
  { threads, memoryMb, pinCpu, extraArgs = [], readyPort = port },
) {
  const args = [
    "memcached",
    "-l",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    String(threads),
    "-m",
    String(memoryMb),
    ...(process.getuid?.() === 0 ? ["-u", "root"] : []),
    ...extraArgs,
  ];
  process.stderr.write(`starting ${args.join(" ")}\n`);
  const cmd = withPin([exe, ...args.slice(1)], pinCpu);
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  let exited = false;
  child.on("exit", () => (exited = true));
  child.on("error", () => (exited = true));
  const stop = async () => {
    if (exited) return;
    child.kill("SIGTERM");
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) child.kill("SIGKILL");
  };
  let ready = false;
  for (let i = 0; i < 50 && !ready && !exited; i++) {
    try {
      const v = await memcachedCommand(readyPort, "version", "\r\n");
      ready = v.startsWith("VERSION");
    } catch {
      await sleep(100);
    }
  }
  if (!ready) {
    await stop();
    throw new Error(`memcached did not start on port ${port}`);
  }
  return { args, pid: child.pid, kill: (signal) => child.kill(signal), stop };
}

/** `stats` of one server as numbers (non-numeric stats are left out). */
export async function memcachedStats(port) {
  const text = await memcachedCommand(port, "stats", "END\r\n");
  const out = {};
  for (const m of text.matchAll(/^STAT (\S+) (\S+)\r$/gm)) {
    const n = Number(m[2]);
    if (Number.isFinite(n)) out[m[1]] = n;
  }
  return out;
}

/** Versions of the tools, the CPU and the OS for the report header. */
export function collectVersions(memcachedExe, tools) {
  return {
    node: process.version.replace(/^v/, ""),
    deno: tools.deno ? firstLine(tools.deno, ["--version"])?.split(" ")[1] : undefined,
    bun: tools.bun ? firstLine(tools.bun, ["--version"]) : undefined,
    memcached: firstLine(memcachedExe, ["-V"])?.split(" ")[1],
    gcc: firstLine("gcc", ["--version"]),
    cpu: (() => {
      try {
        return readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ??
          os.cpus()[0]?.model;
      } catch {
        return os.cpus()[0]?.model;
      }
    })(),
    cores: os.cpus().length,
    os: `${os.type()} ${os.release()}`,
  };
}

/** The runtimes: Node running this script, and Deno and Bun from node_modules/.bin or PATH. */
export function findTools() {
  return { node: process.execPath, deno: localBin("deno"), bun: localBin("bun") };
}

/**
 * Writes `bench/results/<name>-<stamp>[-quick].json` and `<latest>.{json,md}`; returns the
 * first path.
 */
export function writeResults({ name, latest, date, quick, json, markdown }) {
  const resultsDir = path.join(BENCH, "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = date.replace(/[:.]/g, "-");
  const file = path.join(resultsDir, `${name}-${stamp}${quick ? "-quick" : ""}.json`);
  const text = JSON.stringify(json, null, 2) + "\n";
  writeFileSync(file, text);
  writeFileSync(path.join(resultsDir, `${latest}.json`), text);
  writeFileSync(path.join(resultsDir, `${latest}.md`), markdown + "\n");
  process.stderr.write(
    `\nresults: ${path.relative(ROOT, file)} (also bench/results/${latest}.json, ${latest}.md)\n`,
  );
  return file;
}

// ---------------------------------------------------------------------------------------------
// Clients

export function clientTable(tools, opts, buildDir) {
  const { node, deno, bun } = tools;
  const peers = ["memjs", "memcache-client", "memcached"];
  const clients = [];
  const mica = (rt, cmd) => ({
    id: `mica-${rt}`,
    library: "mica",
    display: "Mica",
    runtime: rt,
    tags: ["mica", rt],
    cmd,
  });
  if (deno) {
    clients.push(
      mica("deno", [deno, "run", "--allow-all", "--v8-flags=--expose-gc", "bench/mica.ts"]),
    );
  }
  if (bun) clients.push(mica("bun", [bun, "bench/mica.ts"]));
  // Node runs the same program bundled (bench/mica.ts and the sources, no npm package needed).
  if (bun && buildDir !== undefined) {
    clients.push({
      ...mica("node", [node, "--expose-gc", path.join(buildDir, "mica-node.mjs")]),
      bundle: { from: "bench/mica.ts", to: path.join(buildDir, "mica-node.mjs") },
    });
  }
  const runtimes = [["node", node, []], ["bun", bun, []], ["deno", deno, ["run", "--allow-all"]]];
  for (const [rt, exe, pre] of runtimes) {
    if (!exe) continue;
    for (const lib of peers) {
      // 3rd-Eden's pool (jackpot) sets `Manager.prototype.__proto__`, which Deno removes unless
      // run with --unstable-unsafe-proto ("manager.setMaxListeners is not a function" without).
      const flags = rt === "deno" && lib === "memcached" ? ["--unstable-unsafe-proto"] : [];
      clients.push({
        id: `${lib}-${rt}`,
        library: lib,
        display: lib === "memcached" ? "memcached (3rd-Eden)" : lib,
        runtime: rt,
        tags: [lib, rt, "peers"],
        cmd: [exe, ...pre, ...flags, `bench/peers/${lib}.mjs`],
      });
    }
  }
  // The reference client (bench/peers/reference.mjs): a floor for JavaScript, one server only.
  if (buildDir !== undefined) {
    for (const [rt, exe, pre] of runtimes) {
      if (!exe) continue;
      clients.push({
        id: `reference-${rt}`,
        library: "reference",
        display: "reference (bench)",
        runtime: rt,
        tags: ["reference", rt],
        cmd: [exe, ...pre, "bench/peers/reference.mjs"],
      });
    }
  }
  // Native clients only where they are built (the one-server run).
  if (buildDir !== undefined) {
    clients.push({
      id: "libmemcached-c",
      library: "libmemcached",
      display: "libmemcached (C)",
      runtime: "c",
      tags: ["libmemcached", "c"],
      native: path.join(buildDir, "libmc_bench"),
    });
    clients.push({
      id: "memcslap",
      library: "memcslap",
      display: "memcslap",
      runtime: "c",
      tags: ["memcslap", "c"],
      memcslap: true,
    });
  }
  for (const rt of ["deno", "bun"]) {
    const m = clients.find((c) => c.id === `mica-${rt}`);
    if (m) {
      clients.push({ ...m, id: `mica-${rt}-soak`, tags: [...m.tags, "soak"], soak: true });
    }
  }
  const matches = (c, sel) => c.id === sel || c.tags.includes(sel);
  return clients.filter((c) =>
    (opts.only.length === 0 || opts.only.some((s) => matches(c, s))) &&
    !opts.skip.some((s) => matches(c, s))
  );
}

/** Compiles bench/c/libmc_bench.c into `buildDir`; returns an error message or undefined. */
export function buildNative(buildDir) {
  const gcc = which("gcc") ?? which("cc");
  if (!gcc) return "gcc not found";
  const r = spawnSync(gcc, [
    "-O2",
    "-o",
    path.join(buildDir, "libmc_bench"),
    path.join(BENCH, "c", "libmc_bench.c"),
    "-lmemcached",
    "-lpthread",
  ], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) {
    return `compile failed (is libmemcached-dev installed?): ${
      (r.stderr || "").trim().slice(0, 300)
    }`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Report helpers

export function metric(entry, key) {
  const [scenario, field] = key.split(".");
  const v = entry?.json?.results?.[scenario]?.[field];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** A number for a report table; `digits` (default 1) decimals below 100. */
export function fmt(v, digits = 1) {
  if (v === undefined) return "n/a";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(digits);
}

/** > 1 means Mica is better (throughput: mica/peer, latency: peer/mica). */
export function ratio(m, micaValue, peerValue) {
  if (micaValue === undefined || peerValue === undefined || micaValue <= 0 || peerValue <= 0) {
    return undefined;
  }
  return m.better === "higher" ? micaValue / peerValue : peerValue / micaValue;
}

export const fmtRatio = (r) => (r === undefined ? "n/a" : `${r.toFixed(2)}×`);
export const mb = (bytes) => (bytes / 1048576).toFixed(2);

export function table(header, rows) {
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

/** A client's name in report tables: "library (runtime)", or the display name for native code. */
export const label = (e) =>
  e.client.runtime === "c" ? e.client.display : `${e.client.display} (${e.client.runtime})`;

/**
 * The "Mica vs each peer" section: one row per peer, one cell per metric with Mica's ratio on
 * each runtime.
 */
export function vsEachPeer(entries, metrics, micaRuntimes, micaOn) {
  return [
    "## Mica vs each peer",
    "",
    `Each cell: ${micaRuntimes.map((rt) => `Mica-${rt}`).join(" / ")} relative to that peer ` +
    "(> 1 = Mica better).",
    "",
    table(
      ["peer (runtime)", ...metrics.map((m) => m.title)],
      entries.filter((e) => e.client.library !== "mica").map((e) => [
        label(e),
        ...metrics.map((m) =>
          micaRuntimes
            .map((rt) => fmtRatio(ratio(m, metric(micaOn(rt), m.key), metric(e, m.key))))
            .join(" / ")
        ),
      ]),
    ),
    "",
  ];
}

/** The value after `--name` on the command line, or `fallback`. */
export function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** The lower median of the finite numbers among `values` (NaN if none). */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)];
}
