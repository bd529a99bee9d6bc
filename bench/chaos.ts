// Chaos soak: Mica against three memcached servers while one of them (round robin) is killed
// with SIGKILL and restarted on the same port every ~2 s. The same file runs under both runtimes:
//   deno run -A --v8-flags=--expose-gc bench/chaos.ts [--failover eject] [options]
//   bun bench/chaos.ts [--failover eject] [options]
// `bash bench/chaos.sh` runs Deno and Bun with fail-fast and with eject and prints a summary
// (`--summary FILE...` mode below). See bench/README.md, "Chaos soak".
//
// It starts its own servers (tests/_memcached.ts, node:child_process) and checks that:
// - every value read belongs to the key it was read for (values encode key and version; an older
//   version of the same key, or a miss, is fine; anything else is a wrong value);
// - every failure is a MemcachedError with an expected code;
// - after close, the client holds no connection and no request.
// It samples RSS and heap after forced GC at the start, every 20,000 ops and at the end.
// Exit code 0 when all checks pass, 1 otherwise (2 for a usage or setup error).
import { readFileSync, writeFileSync } from "node:fs";
import { type ClientCounters, connect, MemcachedError, type Protocol } from "../mod.ts";
import { type MemcachedServer, startMemcached } from "../tests/_memcached.ts";
import type { MemorySample } from "./harness.mjs";
import { argv, exit, memory, runtime, runtimeVersion } from "./runtime.ts";

/**
 * Failures a killed server may cause. Anything else is a finding. `NO_SERVERS` needs every server
 * marked dead at once: only when servers are killed faster than `retryTimeout` lets them back.
 */
const EXPECTED_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECT_FAILED",
  "CONNECT_TIMEOUT",
  "TIMEOUT",
  "SERVER_DEAD",
  "NO_SERVERS",
]);
const VALUE_BYTES = 100;
const MANY_KEYS = 10;

interface Options {
  failover: "fail-fast" | "eject";
  protocol: Protocol;
  ops: number;
  concurrency: number;
  keys: number;
  /** Ops per second, issued in waves of `concurrency`; 0 = as fast as possible. */
  rate: number;
  killEveryMs: number;
  downMs: number;
  timeLimitS: number;
  sampleEvery: number;
  jsonOut: string | undefined;
  summary: string[] | undefined;
  verbose: boolean;
}

const USAGE = `usage: deno run -A --v8-flags=--expose-gc bench/chaos.ts [options]
       bun bench/chaos.ts [options]
  --failover MODE     fail-fast (default) or eject
  --protocol NAME     meta (default), text or binary
  --ops N             operations in total (default 200000)
  --concurrency N     operations in flight (default 64)
  --keys N            key space (default 1000)
  --rate N            ops/s, issued in waves of --concurrency; 0 = unpaced (default 5000)
  --kill-every MS     kill one server (round robin) every MS ms (default 2000)
  --down MS           keep the killed server down MS ms before restarting it (default 1000)
  --time-limit S      stop issuing operations after S seconds (default 120)
  --sample-every N    memory sample every N ops (default 20000)
  --json-out FILE     also write the result JSON to FILE
  --verbose           log kills, restarts and client events with timestamps (stderr)
  --summary FILE...   print a Markdown summary of result files and exit`;

function parseOptions(args: readonly string[]): Options {
  const o: Options = {
    failover: "fail-fast",
    protocol: "meta",
    ops: 200_000,
    concurrency: 64,
    keys: 1_000,
    rate: 5_000,
    killEveryMs: 2_000,
    downMs: 1_000,
    timeLimitS: 120,
    sampleEvery: 20_000,
    jsonOut: undefined,
    summary: undefined,
    verbose: false,
  };
  const count = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--failover": {
        const v = value();
        if (v !== "fail-fast" && v !== "eject") throw new Error("--failover: fail-fast or eject");
        o.failover = v;
        break;
      }
      case "--protocol": {
        const v = value();
        if (v !== "meta" && v !== "text" && v !== "binary") {
          throw new Error("--protocol: meta, text or binary");
        }
        o.protocol = v;
        break;
      }
      case "--ops":
        o.ops = count(flag, value(), 1);
        break;
      case "--concurrency":
        o.concurrency = count(flag, value(), 1);
        break;
      case "--keys":
        o.keys = count(flag, value(), MANY_KEYS);
        break;
      case "--rate":
        o.rate = count(flag, value(), 0);
        break;
      case "--kill-every":
        o.killEveryMs = count(flag, value(), 100);
        break;
      case "--down":
        o.downMs = count(flag, value(), 0);
        break;
      case "--time-limit":
        o.timeLimitS = count(flag, value(), 1);
        break;
      case "--sample-every":
        o.sampleEvery = count(flag, value(), 1);
        break;
      case "--json-out":
        o.jsonOut = value();
        break;
      case "--verbose":
        o.verbose = true;
        break;
      case "--summary":
        o.summary = args.slice(i + 1);
        i = args.length;
        break;
      default:
        throw new Error(`unknown option ${args[i]}\n${USAGE}`);
    }
  }
  return o;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

// ---------------------------------------------------------------------------------------------
// Values: "<key>#<version>#" padded to 100 bytes with a pattern derived from both.

function makeValue(key: string, version: number): string {
  const head = `${key}#${version}#`;
  const fill = `${version}.${key}.`;
  let out = head;
  while (out.length < VALUE_BYTES) out += fill;
  return out.slice(0, Math.max(VALUE_BYTES, head.length));
}

/** What a read returned for `keyIndex`: ok, stale (older than acknowledged), or wrong. */
type Verdict = "ok" | "stale" | "wrong";

// ---------------------------------------------------------------------------------------------
// The soak

interface Sample extends MemorySample {
  ops: number;
  seconds: number;
}

interface Result {
  runtime: string;
  runtimeVersion: string;
  options: Omit<Options, "summary" | "jsonOut" | "verbose">;
  servers: string[];
  ops: number;
  seconds: number;
  opsPerSec: number;
  timeLimitHit: boolean;
  opCounts: { get: number; set: number; getMany: number };
  reads: { hits: number; misses: number; stale: number; wrong: number };
  wrongExamples: string[];
  failures: Record<string, number>;
  failedOps: number;
  getManyFailedKeys: Record<string, number>;
  getManyPartial: number;
  untyped: number;
  untypedExamples: string[];
  unexpectedCodes: number;
  kills: number;
  restarts: number;
  restartErrors: string[];
  events: Record<string, number>;
  countersBeforeClose: ClientCounters;
  countersAfterClose: ClientCounters;
  countersClean: boolean;
  samples: Sample[];
  rssMidOps: number;
  rssMidBytes: number;
  rssEndBytes: number;
  heapStartBytes: number;
  heapMidBytes: number;
  heapEndBytes: number;
  pass: boolean;
  problems: string[];
}

async function soak(o: Options): Promise<Result> {
  const servers: MemcachedServer[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached({ args: ["-t", "1"] }));
    return await soakWith(o, servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function soakWith(o: Options, servers: MemcachedServer[]): Promise<Result> {
  const client = await connect(servers.map((s) => s.address), {
    distribution: "ketama",
    failover: o.failover,
    protocol: o.protocol,
  });
  const events: Record<string, number> = {
    "server-down": 0,
    "server-up": 0,
    reconnecting: 0,
    error: 0,
  };
  const t0 = now();
  const log = (msg: string) => {
    if (o.verbose) console.error(`  ${((now() - t0) / 1000).toFixed(3)}s ${msg}`);
  };
  for (const type of Object.keys(events)) {
    client.addEventListener(type, (event) => {
      events[type]!++;
      const d = (event as CustomEvent<{ server: string; error?: MemcachedError }>).detail;
      log(`${type} ${d.server}${d.error ? ` ${d.error.code}` : ""}`);
    });
  }

  const keys = Array.from({ length: o.keys }, (_, i) => `chaos:${runtime}:${i}`);
  /** Highest version issued per key (a set may be in flight). */
  const issued = new Int32Array(o.keys);
  /** Highest version whose set resolved. */
  const acked = new Int32Array(o.keys);

  const reads = { hits: 0, misses: 0, stale: 0, wrong: 0 };
  const wrongExamples: string[] = [];
  const failures: Record<string, number> = {};
  const getManyFailedKeys: Record<string, number> = {};
  let getManyPartial = 0;
  let untyped = 0;
  const untypedExamples: string[] = [];
  let unexpectedCodes = 0;
  let failedOps = 0;
  const opCounts = { get: 0, set: 0, getMany: 0 };

  const check = (k: number, value: unknown, ackedAtStart: number): Verdict => {
    const key = keys[k]!;
    if (typeof value !== "string") return "wrong";
    const first = value.indexOf("#");
    const second = value.indexOf("#", first + 1);
    const version = Number(value.slice(first + 1, second));
    if (
      first < 0 || second < 0 || value.slice(0, first) !== key || !Number.isInteger(version) ||
      version < 1 || version > issued[k]! || value !== makeValue(key, version)
    ) {
      return "wrong";
    }
    return version < ackedAtStart ? "stale" : "ok";
  };
  const read = (k: number, value: unknown, ackedAtStart: number) => {
    if (value === undefined) {
      reads.misses++;
      return;
    }
    reads.hits++;
    const verdict = check(k, value, ackedAtStart);
    if (verdict === "stale") reads.stale++;
    if (verdict === "wrong") {
      reads.wrong++;
      if (wrongExamples.length < 5) {
        wrongExamples.push(`${keys[k]} → ${JSON.stringify(value).slice(0, 120)}`);
      }
    }
  };
  const failed = (error: unknown, into: Record<string, number>) => {
    if (!(error instanceof MemcachedError)) {
      untyped++;
      if (untypedExamples.length < 5) untypedExamples.push(String(error).slice(0, 200));
      return;
    }
    into[error.code] = (into[error.code] ?? 0) + 1;
    if (!EXPECTED_CODES.has(error.code)) unexpectedCodes++;
  };

  // A small deterministic PRNG (xorshift32), so runs are comparable.
  let seed = 0x9e3779b9;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };

  const op = async (): Promise<void> => {
    const r = random();
    const k = Math.floor(random() * o.keys);
    try {
      if (r < 0.6) {
        opCounts.get++;
        const ackedAtStart = acked[k]!;
        read(k, await client.get(keys[k]!), ackedAtStart);
      } else if (r < 0.9) {
        opCounts.set++;
        const version = ++issued[k]!;
        await client.set(keys[k]!, makeValue(keys[k]!, version));
        if (version > acked[k]!) acked[k] = version;
      } else {
        opCounts.getMany++;
        const indexes = Array.from({ length: MANY_KEYS }, (_, j) => (k + j * 97) % o.keys);
        const ackedAtStart = indexes.map((i) => acked[i]!);
        const found = await client.getMany(indexes.map((i) => keys[i]!));
        indexes.forEach((i, j) => read(i, found.get(keys[i]!), ackedAtStart[j]!));
        if (found.failed.size > 0) {
          getManyPartial++;
          for (const error of found.failed.values()) failed(error, getManyFailedKeys);
        }
      }
    } catch (error) {
      failedOps++;
      failed(error, failures);
    }
  };

  // Initial values (all servers up).
  for (let k = 0; k < o.keys; k += o.concurrency) {
    await Promise.all(
      keys.slice(k, k + o.concurrency).map((key, j) => {
        issued[k + j] = 1;
        return client.set(key, makeValue(key, 1)).then(() => (acked[k + j] = 1));
      }),
    );
  }

  // The killer: every killEveryMs, SIGKILL the next server, restart it downMs later.
  let stopKiller = false;
  let kills = 0;
  let restarts = 0;
  const restartErrors: string[] = [];
  const killer = (async () => {
    for (let n = 1; !stopKiller; n++) {
      const at = t0 + n * o.killEveryMs;
      while (!stopKiller && now() < at) await sleep(Math.min(50, at - now()));
      if (stopKiller) break;
      const victim = servers[(n - 1) % servers.length]!;
      victim.kill("SIGKILL");
      await victim.waitExit();
      kills++;
      log(`killed ${victim.address}`);
      await sleep(o.downMs);
      try {
        await victim.restart();
        restarts++;
        log(`restarted ${victim.address}`);
      } catch (error) {
        if (restartErrors.length < 5) restartErrors.push(String(error));
      }
    }
  })();

  const samples: Sample[] = [];
  const sample = async (ops: number) => {
    await sleep(10); // let socket callbacks and timers drain
    samples.push({ ops, seconds: (now() - t0) / 1000, ...(await memory()) });
  };

  const deadline = t0 + o.timeLimitS * 1000;
  let done = 0;
  let timeLimitHit = false;
  let seconds = 0;
  await sample(0);
  try {
    while (done < o.ops && !timeLimitHit) {
      const chunk = Math.min(o.sampleEvery, o.ops - done);
      let next = 0;
      const base = done;
      const worker = async () => {
        while (next < chunk) {
          const i = base + next++;
          if (o.rate > 0) {
            // Waves: `concurrency` ops share one start time, so they are in flight together.
            const due = t0 + Math.floor(i / o.concurrency) * o.concurrency * 1000 / o.rate;
            const wait = due - now();
            if (wait > 1) await sleep(wait);
          }
          if (now() > deadline) {
            timeLimitHit = true;
            next = chunk;
            break;
          }
          await op();
          done++;
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, worker));
      seconds = (now() - t0) / 1000; // until the last op finished (sampling pauses included)
      await sample(done);
    }
  } finally {
    stopKiller = true;
    await killer;
  }

  // Every server is running again (the killer restarts its victim before it stops).
  const countersBeforeClose = client.counters();
  log(`counters before close: ${JSON.stringify(countersBeforeClose.servers)}`);
  await client.close();
  const countersAfterClose = client.counters();
  const countersClean = countersAfterClose.connections === 0 &&
    countersAfterClose.inFlight === 0 && countersAfterClose.queued === 0 &&
    countersAfterClose.servers.every((s) =>
      s.connections === 0 && s.inFlight === 0 &&
      s.queued === 0
    );

  const mid = samples.reduce((best, s) =>
    Math.abs(s.ops - done / 2) < Math.abs(best.ops - done / 2) ? s : best
  );
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const problems: string[] = [];
  if (reads.wrong > 0) problems.push(`${reads.wrong} wrong values`);
  if (untyped > 0) problems.push(`${untyped} failures that are not MemcachedError`);
  if (unexpectedCodes > 0) problems.push(`${unexpectedCodes} failures with unexpected codes`);
  if (!countersClean) problems.push("counters not zero after close");
  if (restartErrors.length > 0) problems.push(`${restartErrors.length} restarts failed`);
  return {
    runtime,
    runtimeVersion,
    options: {
      failover: o.failover,
      protocol: o.protocol,
      ops: o.ops,
      concurrency: o.concurrency,
      keys: o.keys,
      rate: o.rate,
      killEveryMs: o.killEveryMs,
      downMs: o.downMs,
      timeLimitS: o.timeLimitS,
      sampleEvery: o.sampleEvery,
    },
    servers: servers.map((s) => s.address),
    ops: done,
    seconds: Math.round(seconds * 1000) / 1000,
    opsPerSec: Math.round(done / seconds),
    timeLimitHit,
    opCounts,
    reads,
    wrongExamples,
    failures,
    failedOps,
    getManyFailedKeys,
    getManyPartial,
    untyped,
    untypedExamples,
    unexpectedCodes,
    kills,
    restarts,
    restartErrors,
    events,
    countersBeforeClose,
    countersAfterClose,
    countersClean,
    samples,
    rssMidOps: mid.ops,
    rssMidBytes: mid.rss,
    rssEndBytes: last.rss,
    heapStartBytes: first.heapUsed,
    heapMidBytes: mid.heapUsed,
    heapEndBytes: last.heapUsed,
    pass: problems.length === 0,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting

const mib = (bytes: number) => (bytes / 1048576).toFixed(2);
const signedMib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`;
const int = (n: number) => n.toLocaleString("en-US");
const codes = (m: Record<string, number>) =>
  Object.entries(m).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${int(n)}`).join(", ") ||
  "none";

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** One run: a heading, the figures, and the memory series. */
function describe(r: Result): string {
  const o = r.options;
  const lines = [
    `### ${r.runtime} ${r.runtimeVersion}, ${o.protocol}, failover "${o.failover}": ${
      r.pass ? "PASS" : "FAIL"
    }`,
    "",
    `- ${int(r.ops)} ops (get ${int(r.opCounts.get)}, set ${
      int(r.opCounts.set)
    }, getMany(${MANY_KEYS}) ` +
    `${int(r.opCounts.getMany)}) in ${r.seconds.toFixed(1)} s = ${int(r.opsPerSec)} ops/s` +
    (r.timeLimitHit ? ` (**time limit ${o.timeLimitS} s hit**)` : "") +
    `; ${o.concurrency} in flight, ${o.rate > 0 ? `paced at ${int(o.rate)} ops/s` : "unpaced"}`,
    `- kills ${r.kills}, restarts ${r.restarts} (every ${o.killEveryMs} ms, down ${o.downMs} ms); ` +
    `events: server-down ${r.events["server-down"]}, server-up ${r.events["server-up"]}, ` +
    `reconnecting ${r.events.reconnecting}, error ${r.events.error}`,
    `- reads: ${int(r.reads.hits)} hits, ${int(r.reads.misses)} misses, ${
      int(r.reads.stale)
    } stale ` +
    `(older than the last acknowledged set), **${int(r.reads.wrong)} wrong values**`,
    `- failed ops ${int(r.failedOps)}: ${codes(r.failures)}; getMany partial results ` +
    `${int(r.getManyPartial)}, failed keys: ${codes(r.getManyFailedKeys)}; untyped errors ` +
    `${r.untyped}, unexpected codes ${r.unexpectedCodes}`,
    `- counters after close: connections ${r.countersAfterClose.connections}, in flight ` +
    `${r.countersAfterClose.inFlight}, queued ${r.countersAfterClose.queued} ` +
    `(${r.countersClean ? "all zero" : "**NOT zero**"}); before close: connections ` +
    `${r.countersBeforeClose.connections}, servers ${
      r.countersBeforeClose.servers.map((s) => s.state).join("/")
    }`,
    `- memory: RSS at ${int(r.rssMidOps)} ops ${mib(r.rssMidBytes)} MiB, at the end ` +
    `${mib(r.rssEndBytes)} MiB (${signedMib(r.rssEndBytes - r.rssMidBytes)} MiB); heapUsed ` +
    `start ${mib(r.heapStartBytes)}, middle ${mib(r.heapMidBytes)}, end ${mib(r.heapEndBytes)} ` +
    `MiB (${signedMib(r.heapEndBytes - r.heapStartBytes)} MiB over the run, ` +
    `${signedMib(r.heapEndBytes - r.heapMidBytes)} MiB over the second half)`,
  ];
  if (r.problems.length > 0) lines.push(`- **problems: ${r.problems.join("; ")}**`);
  for (const w of r.wrongExamples) lines.push(`- wrong: ${w}`);
  for (const u of r.untypedExamples) lines.push(`- untyped: ${u}`);
  for (const e of r.restartErrors) lines.push(`- restart failed: ${e}`);
  lines.push("");
  lines.push(table(
    ["ops", "s", "RSS MiB", "heapUsed MiB", "heapTotal MiB"],
    r.samples.map((s) => [
      int(s.ops),
      s.seconds.toFixed(1),
      mib(s.rss),
      mib(s.heapUsed),
      s.heapTotal === undefined ? "n/a" : mib(s.heapTotal),
    ]),
  ));
  return lines.join("\n");
}

/** Several runs: one summary table, then each run. */
function summarize(results: Result[]): string {
  const rows = results.map((r) => [
    `${r.runtime} ${r.runtimeVersion}`,
    r.options.failover,
    int(r.ops),
    r.seconds.toFixed(1),
    int(r.opsPerSec),
    `${r.kills}/${r.restarts}`,
    `${r.events["server-down"]}/${r.events["server-up"]}`,
    codes(r.failures),
    codes(r.getManyFailedKeys),
    int(r.reads.stale),
    String(r.reads.wrong),
    String(r.untyped + r.unexpectedCodes),
    `${mib(r.rssMidBytes)} → ${mib(r.rssEndBytes)}`,
    `${mib(r.heapStartBytes)} → ${mib(r.heapEndBytes)}`,
    r.countersClean ? "0" : "**not 0**",
    r.pass ? "PASS" : "**FAIL**",
  ]);
  return [
    "## Chaos soak",
    "",
    table([
      "runtime",
      "failover",
      "ops",
      "s",
      "ops/s",
      "kills/restarts",
      "down/up events",
      "failed ops by code",
      "getMany failed keys by code",
      "stale reads",
      "wrong values",
      "untyped or unexpected",
      "RSS MiB mid → end",
      "heapUsed MiB start → end",
      "counters after close",
      "verdict",
    ], rows),
    "",
    ...results.map(describe),
  ].join("\n\n").replace(/\n\n\n+/g, "\n\n");
}

// ---------------------------------------------------------------------------------------------
// Main

let options: Options;
try {
  options = parseOptions(argv);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  exit(2);
}

if (options.summary !== undefined) {
  const results = options.summary.map((file) => JSON.parse(readFileSync(file, "utf8")) as Result);
  console.log(summarize(results));
  exit(results.every((r) => r.pass) ? 0 : 1);
}

console.error(
  `chaos: ${runtime} ${runtimeVersion}, failover ${options.failover}, ${options.ops} ops, ` +
    `${options.concurrency} in flight, rate ${options.rate || "unpaced"}, kill every ` +
    `${options.killEveryMs} ms (down ${options.downMs} ms), time limit ${options.timeLimitS} s`,
);
let result: Result;
try {
  result = await soak(options);
} catch (error) {
  console.error(`chaos: setup failed: ${error instanceof Error ? error.stack : String(error)}`);
  exit(2);
}
console.error(describe(result));
const json = JSON.stringify(result);
if (options.jsonOut !== undefined) writeFileSync(options.jsonOut, json + "\n");
console.log(json);
exit(result.pass ? 0 : 1);
