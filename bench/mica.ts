// Mica benchmark client. The same file runs under both runtimes:
//   deno run --allow-all --v8-flags=--expose-gc bench/mica.ts --server 127.0.0.1:11211
//   bun bench/mica.ts --server 127.0.0.1:11211
// It prints one JSON object (the last stdout line) for bench/run.mjs.
import { connect } from "../mod.ts";
import meta from "../deno.json" with { type: "json" };
import { type BenchClient, emit, type MemorySample, parseArgs, runScenarios } from "./harness.mjs";

interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

interface DenoLike {
  version: { deno: string };
  args: string[];
  env: { toObject(): Record<string, string> };
  memoryUsage(): MemoryUsage;
  exit(code: number): never;
}

interface BunLike {
  version: string;
  argv: string[];
  env: Record<string, string | undefined>;
  gc(force: boolean): void;
}

interface ProcessLike {
  memoryUsage(): MemoryUsage;
  exit(code: number): never;
}

interface JscHeapStats {
  heapSize: number;
  heapCapacity: number;
  objectCount: number;
}

const g = globalThis as unknown as {
  Deno?: DenoLike;
  Bun?: BunLike;
  process?: ProcessLike;
  gc?: () => void;
};

const deno = g.Deno;
const bun = g.Bun;
const runtime = bun !== undefined ? "bun" : "deno";
const runtimeVersion = bun !== undefined ? bun.version : deno?.version.deno ?? "unknown";
const argv = bun !== undefined ? bun.argv.slice(2) : deno?.args ?? [];
const env = bun !== undefined ? bun.env : deno?.env.toObject() ?? {};
const cfg = parseArgs(argv, env);

/** Bun only: JavaScriptCore heap statistics (imported lazily; the specifier is Bun-specific). */
async function jscHeapStats(): Promise<JscHeapStats | undefined> {
  if (bun === undefined) return undefined;
  const specifier = "bun:jsc";
  const jsc = (await import(specifier)) as { heapStats(): JscHeapStats };
  return jsc.heapStats();
}

function forceGc(): void {
  if (bun !== undefined) {
    bun.gc(true);
  } else if (typeof g.gc === "function") {
    g.gc();
  } else {
    throw new Error("no GC hook: run Deno with --v8-flags=--expose-gc");
  }
}

async function memory(): Promise<MemorySample> {
  forceGc();
  forceGc();
  const usage = bun !== undefined ? g.process!.memoryUsage() : deno!.memoryUsage();
  const sample: MemorySample = {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
  };
  const jsc = await jscHeapStats();
  if (jsc !== undefined) {
    sample.jscHeapSize = jsc.heapSize;
    sample.jscObjectCount = jsc.objectCount;
  }
  return sample;
}

const out: Record<string, unknown> = {
  client: "mica",
  library: "@mica/memcached",
  libraryVersion: meta.version,
  runtime,
  runtimeVersion,
  quick: cfg.quick,
};
let exitCode = 0;
try {
  const mica = await connect(cfg.server);
  try {
    const client: BenchClient = {
      name: `mica (${runtime})`,
      get: (key) => mica.get(key),
      set: (key, value) => mica.set(key, value as string | Uint8Array, {}),
      getManyMethod: "getMany(keys)",
      getMany: async (keys) => (await mica.getMany(keys)).size,
      makeLargeValue: (bytes) => bytes,
      memory,
      heapSource: bun !== undefined
        ? "process.memoryUsage().heapUsed after Bun.gc(true) (also jscHeapSize from bun:jsc heapStats())"
        : "Deno.memoryUsage().heapUsed after gc() (--v8-flags=--expose-gc)",
    };
    out.getManyMethod = client.getManyMethod;
    out.results = await runScenarios(client, cfg);
  } finally {
    await mica.close();
  }
} catch (err) {
  out.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  exitCode = 1;
}
emit(out);
if (exitCode !== 0) {
  if (deno !== undefined) deno.exit(exitCode);
  else g.process?.exit(exitCode);
}
