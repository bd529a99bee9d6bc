// Runtime bits shared by the TypeScript bench programs (bench/mica.ts, bench/chaos.ts), which run
// unchanged on Deno and Bun (and on Node once bundled: bench/run.mjs builds mica-node with
// `bun build --target=node`): which runtime this is, its arguments and environment, a forced full
// GC and a memory sample. Only `globalThis` lookups, so neither runtime's types are needed.
import type { MemorySample } from "./harness.mjs";

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
  argv: string[];
  env: Record<string, string | undefined>;
  versions: { node?: string };
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

const node = deno === undefined && bun === undefined ? g.process : undefined;

/** `"bun"`, `"deno"` or `"node"`. */
export const runtime: "bun" | "deno" | "node" = bun !== undefined
  ? "bun"
  : deno !== undefined
  ? "deno"
  : "node";
/** The runtime's version string. */
export const runtimeVersion: string = bun !== undefined
  ? bun.version
  : deno?.version.deno ?? node?.versions.node ?? "unknown";
/** The program's arguments (without the runtime and script). */
export const argv: string[] = bun !== undefined
  ? bun.argv.slice(2)
  : deno?.args ?? node?.argv.slice(2) ?? [];
/** The environment. */
export const env: Record<string, string | undefined> = bun !== undefined
  ? bun.env
  : deno?.env.toObject() ?? node?.env ?? {};

/** Where `heapUsed` comes from, for the results. */
export const heapSource: string = bun !== undefined
  ? "process.memoryUsage().heapUsed after Bun.gc(true) (also jscHeapSize from bun:jsc heapStats())"
  : deno !== undefined
  ? "Deno.memoryUsage().heapUsed after gc() (--v8-flags=--expose-gc)"
  : "process.memoryUsage().heapUsed after gc() (node --expose-gc)";

/** Bun only: JavaScriptCore heap statistics (imported lazily; the specifier is Bun-specific). */
async function jscHeapStats(): Promise<JscHeapStats | undefined> {
  if (bun === undefined) return undefined;
  const specifier = "bun:jsc";
  const jsc = (await import(specifier)) as { heapStats(): JscHeapStats };
  return jsc.heapStats();
}

/** Forces a full GC: `Bun.gc(true)`, or V8's `gc()` (Deno needs `--v8-flags=--expose-gc`). */
export function forceGc(): void {
  if (bun !== undefined) {
    bun.gc(true);
  } else if (typeof g.gc === "function") {
    g.gc();
  } else {
    throw new Error("no GC hook: run Deno with --v8-flags=--expose-gc, Node with --expose-gc");
  }
}

/** Forces two full GCs, then samples RSS and the JS heap (bytes). */
export async function memory(): Promise<MemorySample> {
  forceGc();
  forceGc();
  const usage = deno !== undefined ? deno.memoryUsage() : g.process!.memoryUsage();
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

/** Exits the process with `code`. */
export function exit(code: number): never {
  if (deno !== undefined) return deno.exit(code);
  return g.process!.exit(code);
}
