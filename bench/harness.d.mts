// Types for harness.mjs (picked up by Deno through its `@ts-self-types` comment).

/** One memory sample taken after a forced GC. Byte counts. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  [extra: string]: number;
}

/** What a benchmarked client must provide to the shared scenarios. */
export interface BenchClient {
  /** Label used in progress messages. */
  readonly name: string;
  /** Resolves to the value, or undefined/null on a miss. */
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<unknown>;
  /** Multi-get; resolves to the number of hits. */
  getMany(keys: string[]): Promise<number>;
  /** How getMany is implemented (e.g. "getMany", "Promise.all of 100 get"). */
  readonly getManyMethod: string;
  /** Converts the 256 KiB payload into what the client stores (Uint8Array, Buffer, ...). */
  makeLargeValue(bytes: Uint8Array): unknown;
  /** Forces a full GC and samples memory; required by scenario f only. */
  memory?: () => Promise<MemorySample>;
  /** Where `heapUsed` comes from (documentation in the results). */
  readonly heapSource?: string;
}

export interface BenchConfig {
  /** The first server (single-server scenarios). */
  server: string;
  /** Every server given with `--servers` (cluster mode), else `[server]`. */
  servers: string[];
  host: string;
  port: number;
  scenarios: string[];
  quick: boolean;
  prefix: string;
  timeLimitS: number;
  /** memcached process ids whose CPU time the getMany scenarios report (may be empty). */
  serverPids: number[];
  /** Clock ticks per second of `/proc/<pid>/stat`. */
  clkTck: number;
}

export interface Counts {
  warmup: number;
  /** Warm-up ops of the 64-in-flight scenarios (b, c, h). */
  pipelinedWarmup: number;
  /** Warm-up gets of scenario a. */
  sequentialWarmup: number;
  /** Warm-up batches of the getMany scenarios (d, g, i). */
  manyWarmup: number;
  a: number;
  b: number;
  c: number;
  d: number;
  eSets: number;
  eGets: number;
  f: number;
  fSampleEvery: number;
}

export declare const FULL: Counts;
export declare const CONCURRENCY: number;
export declare const LARGE_CONCURRENCY: number;
export declare const SMALL_VALUE_BYTES: number;
export declare const LARGE_VALUE_BYTES: number;
export declare const MANY_KEYS: number;
export declare const KEYSPACE: number;
export declare const LARGE_KEYSPACE: number;

export declare function parseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): BenchConfig;
export declare function counts(quick: boolean): Counts;
export declare function asciiString(n: number, seed?: number): string;
export declare function asciiBytes(n: number): Uint8Array;
export declare function valueLength(v: unknown): number;
export declare function parallel(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
  deadline: { check(): void },
): Promise<void>;
export declare function runScenarios(
  client: BenchClient,
  cfg: BenchConfig,
  log?: (msg: string) => void,
): Promise<Record<string, unknown>>;
export declare function emit(obj: unknown): void;
