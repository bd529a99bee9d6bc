#!/usr/bin/env node
/**
 * `mica`, the command line: read, write and watch memcached from a shell, and load-test it.
 *
 * ```sh
 * deno run --allow-net --allow-env=MEMCACHE_SERVERS jsr:@mica/memcached/cli get user:42
 * bunx @mica/memcached stats        # or: npx @mica/memcached stats (the package's `mica` bin)
 * mica -s 10.0.0.1:11211,10.0.0.2:11211 watch
 * echo hello | mica set greeting - --ttl 60
 * mica bench --ops 100000 --concurrency 64
 * ```
 *
 * Servers come from `--servers` (`-s`: an address, a comma-separated list or a `memcached://`
 * connection string), else `MEMCACHE_SERVERS`, else `127.0.0.1:11211`. Exit codes: 0 success,
 * 1 not found (`get`, `delete`, `touch` of a missing key), 2 usage error, 3 a memcached or
 * connection error (printed as `mica: <message> [<CODE>]` on stderr), 130 interrupted.
 *
 * @module
 */

import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "./client.ts";
import { serversFromEnv } from "./connection_string.ts";
import { isMemcachedError } from "./errors.ts";
import type { ClientOptions } from "./options.ts";
import type { Protocol } from "./dialects/mod.ts";

/**
 * Where {@linkcode main} reads and writes; the process's streams by default.
 *
 * @example Capturing the output of a command
 * ```ts ignore
 * import { type CliIo, main } from "@mica/memcached/cli";
 *
 * let output = "";
 * const io: CliIo = {
 *   out: (text) => output += text,
 *   err: (text) => console.error(text),
 *   stdin: () => Promise.resolve(new TextEncoder().encode("from stdin")),
 *   tty: false,
 * };
 * await main(["-s", "127.0.0.1:11211", "set", "k", "-"], io);
 * await main(["-s", "127.0.0.1:11211", "get", "k"], io);
 * console.log(output); // "from stdin"
 * ```
 */
export interface CliIo {
  /** Standard output. */
  out(text: string): void;
  /** Standard error. */
  err(text: string): void;
  /** Standard input, read whole (for `set <key> -`). */
  stdin(): Promise<Uint8Array>;
  /** Whether standard output is a terminal (`watch` redraws in place). */
  readonly tty: boolean;
  /** Aborts on Ctrl-C (`watch` and `bench` stop early). */
  readonly signal?: AbortSignal;
}

const VERSION = "0.1.0";

const USAGE = `Usage: mica [options] <command> [arguments]

Commands:
  get <key>                 print the value (exit 1 when missing)
  set <key> <value|->       store a value ("-" reads standard input)  [--ttl seconds]
  delete <key>              delete (exit 1 when missing)
  touch <key> <ttl>         set a new TTL (exit 1 when missing)
  incr <key> [delta]        add to a counter and print it (exit 1 when missing)
  decr <key> [delta]        subtract from a counter and print it (exit 1 when missing)
  flush                     invalidate every item on every server  [--delay seconds]
  stats [group]             print each server's statistics ("slabs", "items", "settings", ...)
  version                   print each server's version
  watch                     live view per server: ops/s, hit ratio, memory, connections
                            [--interval ms] [--count frames]
  bench                     load test: gets and sets from many concurrent callers
                            [--ops N] [--concurrency N] [--size bytes] [--keys N] [--sets %]

Options:
  -s, --servers <list>      address, comma-separated list or memcached:// connection string
                            (default: MEMCACHE_SERVERS, else 127.0.0.1:11211)
  -p, --protocol <name>     meta (default), text or binary
  -t, --timeout <ms>        per-request timeout (default 1000)
      --json                machine-readable output (stats, version, watch, bench)
      --progress            show bench's progress bar even when stderr is not a terminal
  -h, --help                this help
  -v, --version             Mica's version

Exit codes: 0 ok, 1 not found, 2 usage error, 3 memcached or connection error, 130 interrupted.`;

/**
 * Exit codes of {@linkcode main}: 0 ok, 1 not found, 2 usage error, 3 memcached or
 * connection error, 130 interrupted.
 *
 * @example
 * ```ts ignore
 * import { EXIT, main } from "@mica/memcached/cli";
 *
 * const code = await main(["get", "user:42"]);
 * if (code === EXIT.NOT_FOUND) console.log("not cached");
 * ```
 */
export const EXIT = { OK: 0, NOT_FOUND: 1, USAGE: 2, ERROR: 3, INTERRUPTED: 130 } as const;

class UsageError extends Error {}

const OPTIONS = {
  servers: { type: "string", short: "s" },
  protocol: { type: "string", short: "p" },
  timeout: { type: "string", short: "t" },
  ttl: { type: "string" },
  delay: { type: "string" },
  interval: { type: "string" },
  count: { type: "string" },
  ops: { type: "string" },
  concurrency: { type: "string" },
  size: { type: "string" },
  keys: { type: "string" },
  sets: { type: "string" },
  json: { type: "boolean" },
  progress: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>[
  "values"
];

/**
 * Runs the `mica` command line with `argv` (the arguments after the program name) and
 * resolves its exit code; it never calls `process.exit` itself.
 *
 * @param argv The arguments, e.g. `["-s", "10.0.0.1:11211", "get", "user:42"]`.
 * @param io Where to read and write; the process's streams by default.
 * @returns The exit code (see {@linkcode EXIT}).
 *
 * @example
 * ```ts ignore
 * import { main } from "@mica/memcached/cli";
 *
 * const lines: string[] = [];
 * const code = await main(["-s", "127.0.0.1:11211", "version"], {
 *   out: (text) => lines.push(text),
 *   err: (text) => console.error(text),
 *   stdin: () => Promise.resolve(new Uint8Array()),
 *   tty: false,
 * });
 * console.log(code, lines); // 0 [ "127.0.0.1:11211 1.6.21\n" ]
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let flags: Flags;
  let positionals: string[];
  try {
    ({ values: flags, positionals } = parseArgs({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
    }));
  } catch (error) {
    io.err(`mica: ${(error as Error).message}\n${USAGE.split("\n")[0]}\n`);
    return EXIT.USAGE;
  }
  if (flags.help) {
    io.out(`${USAGE}\n`);
    return EXIT.OK;
  }
  if (flags.version) {
    io.out(`mica ${VERSION}\n`);
    return EXIT.OK;
  }
  const [command, ...args] = positionals;
  if (command === undefined) {
    io.err(`${USAGE}\n`);
    return EXIT.USAGE;
  }
  let client: Client | undefined;
  try {
    const run = COMMANDS[command];
    if (run === undefined) throw new UsageError(`unknown command "${command}"`);
    if (args.length < run.min || args.length > run.max) {
      throw new UsageError(`${command} takes ${describeArity(run)}`);
    }
    client = new Client(servers(flags.servers), clientOptions(flags));
    const code = await run.fn({ client, args, flags, io });
    if (code === EXIT.INTERRUPTED) io.err("mica: interrupted\n");
    return code;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`mica: ${error.message} (see mica --help)\n`);
      return EXIT.USAGE;
    }
    if (isMemcachedError(error)) {
      io.err(`mica: ${error.message} [${error.code}]\n`);
      return error.code === "INVALID_ARGUMENT" || error.code === "INVALID_KEY"
        ? EXIT.USAGE
        : EXIT.ERROR;
    }
    io.err(`mica: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.ERROR;
  } finally {
    await client?.close({ timeout: 1_000 });
  }
}

interface Context {
  client: Client;
  args: string[];
  flags: Flags;
  io: CliIo;
}

interface Command {
  min: number;
  max: number;
  names: string;
  fn(context: Context): Promise<number>;
}

function describeArity(command: Command): string {
  return command.names === "" ? "no arguments" : command.names;
}

const found = (hit: boolean) => hit ? EXIT.OK : EXIT.NOT_FOUND;

const COMMANDS: Record<string, Command> = {
  get: {
    min: 1,
    max: 1,
    names: "<key>",
    async fn({ client, args, io }) {
      const value = await client.get<Uint8Array>(args[0]!, { as: "bytes" });
      if (value === undefined) return EXIT.NOT_FOUND;
      io.out(new TextDecoder().decode(value));
      return EXIT.OK;
    },
  },
  set: {
    min: 2,
    max: 2,
    names: "<key> <value|->",
    async fn({ client, args, flags, io }) {
      const value = args[1] === "-" ? await io.stdin() : args[1]!;
      const ttl = flags.ttl === undefined ? undefined : number("--ttl", flags.ttl);
      await client.set(args[0]!, value, ttl === undefined ? {} : { ttl });
      return EXIT.OK;
    },
  },
  delete: {
    min: 1,
    max: 1,
    names: "<key>",
    fn: async ({ client, args }) => found(await client.delete(args[0]!)),
  },
  touch: {
    min: 2,
    max: 2,
    names: "<key> <ttl>",
    fn: async ({ client, args }) => found(await client.touch(args[0]!, number("ttl", args[1]!))),
  },
  incr: counter("incr"),
  decr: counter("decr"),
  flush: {
    min: 0,
    max: 0,
    names: "",
    async fn({ client, flags }) {
      const delay = flags.delay === undefined ? undefined : number("--delay", flags.delay);
      await client.flush(delay === undefined ? {} : { delay });
      return EXIT.OK;
    },
  },
  stats: {
    min: 0,
    max: 1,
    names: "[group]",
    async fn({ client, args, flags, io }) {
      const all: Record<string, Record<string, string>> = {};
      for (const server of client.servers) {
        all[server] = Object.fromEntries(await client.stats(args[0], { server }));
      }
      if (flags.json) io.out(`${JSON.stringify(all, null, 2)}\n`);
      else {
        for (const [server, stats] of Object.entries(all)) {
          io.out(`# ${server}\n`);
          for (const [name, value] of Object.entries(stats)) io.out(`${name} ${value}\n`);
        }
      }
      return EXIT.OK;
    },
  },
  version: {
    min: 0,
    max: 0,
    names: "",
    async fn({ client, flags, io }) {
      const versions: Record<string, string> = {};
      for (const server of client.servers) versions[server] = await client.version({ server });
      if (flags.json) io.out(`${JSON.stringify(versions)}\n`);
      else for (const [server, v] of Object.entries(versions)) io.out(`${server} ${v}\n`);
      return EXIT.OK;
    },
  },
  watch: { min: 0, max: 0, names: "", fn: watch },
  bench: { min: 0, max: 0, names: "", fn: bench },
};

function counter(kind: "incr" | "decr"): Command {
  return {
    min: 1,
    max: 2,
    names: "<key> [delta]",
    async fn({ client, args, io }) {
      const delta = args[1] === undefined ? 1n : bigint("delta", args[1]);
      const value = await client[kind](args[0]!, delta);
      if (value === undefined) return EXIT.NOT_FOUND;
      io.out(`${value}\n`);
      return EXIT.OK;
    },
  };
}

/** One server's numbers in a `watch` frame. */
interface Sample {
  at: number;
  ops: number;
  hits: number;
  misses: number;
  bytes: number;
  limit: number;
  connections: number;
  items: number;
  evictions: number;
}

async function sample(client: Client, server: string): Promise<Sample> {
  const stats = await client.stats(undefined, { server });
  const n = (name: string) => Number(stats.get(name) ?? 0);
  return {
    at: performance.now(),
    ops: n("cmd_get") + n("cmd_set") + n("cmd_touch") + n("delete_hits") + n("delete_misses") +
      n("incr_hits") + n("incr_misses") + n("decr_hits") + n("decr_misses"),
    hits: n("get_hits"),
    misses: n("get_misses"),
    bytes: n("bytes"),
    limit: n("limit_maxbytes"),
    connections: n("curr_connections"),
    items: n("curr_items"),
    evictions: n("evictions"),
  };
}

/** The rates between two samples of one server. */
function rates(server: string, before: Sample, now: Sample) {
  const seconds = Math.max((now.at - before.at) / 1000, 1e-3);
  const hits = now.hits - before.hits;
  const lookups = hits + now.misses - before.misses;
  return {
    server,
    opsPerSecond: Math.round((now.ops - before.ops) / seconds),
    hitRatio: lookups === 0 ? null : hits / lookups,
    memoryBytes: now.bytes,
    memoryLimit: now.limit,
    connections: now.connections,
    items: now.items,
    evictions: now.evictions,
  };
}

async function watch({ client, flags, io }: Context): Promise<number> {
  const interval = flags.interval === undefined ? 1_000 : number("--interval", flags.interval);
  const count = flags.count === undefined ? Infinity : number("--count", flags.count);
  let previous = await Promise.all(client.servers.map((server) => sample(client, server)));
  for (let frame = 0; frame < count; frame++) {
    if (!(await sleep(interval, io.signal))) return EXIT.INTERRUPTED;
    const now = await Promise.all(client.servers.map((server) => sample(client, server)));
    const rows = client.servers.map((server, i) => rates(server, previous[i]!, now[i]!));
    previous = now;
    if (flags.json) {
      io.out(`${JSON.stringify({ at: new Date().toISOString(), servers: rows })}\n`);
      continue;
    }
    const lines = [
      `mica watch  ${new Date().toISOString()}  every ${interval} ms  (Ctrl-C to stop)`,
      table(
        ["server", "ops/s", "hit ratio", "memory", "conns", "items", "evictions"],
        rows.map((r) => [
          r.server,
          String(r.opsPerSecond),
          r.hitRatio === null ? "-" : `${(r.hitRatio * 100).toFixed(1)}%`,
          `${mib(r.memoryBytes)} / ${mib(r.memoryLimit)}`,
          String(r.connections),
          String(r.items),
          String(r.evictions),
        ]),
      ),
    ];
    io.out(`${io.tty ? "\x1b[H\x1b[2J" : ""}${lines.join("\n")}\n`);
  }
  return EXIT.OK;
}

async function bench({ client, flags, io }: Context): Promise<number> {
  const ops = flags.ops === undefined ? 100_000 : number("--ops", flags.ops);
  const concurrency = flags.concurrency === undefined
    ? 32
    : number("--concurrency", flags.concurrency);
  const size = flags.size === undefined ? 100 : number("--size", flags.size, 0);
  const keys = flags.keys === undefined ? 1_000 : number("--keys", flags.keys);
  const setPercent = flags.sets === undefined ? 10 : number("--sets", flags.sets, 0);
  if (setPercent > 100) throw new UsageError("--sets is a percentage, 0 to 100");
  const value = new Uint8Array(size).fill(120);
  for (let k = 0; k < Math.min(keys, ops); k++) await client.set(`mica-bench:${k}`, value);
  const latencies = new Float64Array(ops);
  let next = 0;
  let done = 0;
  let errors = 0;
  const progress = flags.progress === true || io.tty;
  const started = performance.now();
  const bar = progress ? setInterval(() => drawBar(io, done, ops, started), 100) : undefined;
  const worker = async () => {
    while (next < ops && !io.signal?.aborted) {
      const i = next++;
      const key = `mica-bench:${i % keys}`;
      const t0 = performance.now();
      try {
        if ((i * 7919) % 100 < setPercent) await client.set(key, value);
        else await client.get(key, { as: "bytes" });
      } catch {
        errors++;
      }
      latencies[i] = performance.now() - t0;
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, worker));
  } finally {
    clearInterval(bar);
  }
  const seconds = (performance.now() - started) / 1000;
  if (progress) {
    drawBar(io, done, ops, started);
    io.err("\n");
  }
  const sorted = latencies.subarray(0, done).sort();
  const at = (q: number) => sorted[Math.min(done - 1, Math.floor(q * done))] ?? 0;
  const result = {
    ops: done,
    errors,
    seconds: Number(seconds.toFixed(3)),
    opsPerSecond: Math.round(done / seconds),
    p50Micros: Math.round(at(0.5) * 1000),
    p99Micros: Math.round(at(0.99) * 1000),
    concurrency,
    size,
    setPercent,
  };
  if (flags.json) io.out(`${JSON.stringify(result)}\n`);
  else {
    io.out(
      `${result.ops} ops in ${result.seconds} s: ${result.opsPerSecond} ops/s, ` +
        `p50 ${result.p50Micros} µs, p99 ${result.p99Micros} µs, ${errors} errors ` +
        `(${concurrency} callers, ${size}-byte values, ${setPercent}% sets)\n`,
    );
  }
  if (io.signal?.aborted) return EXIT.INTERRUPTED;
  return errors === 0 ? EXIT.OK : EXIT.ERROR;
}

function drawBar(io: CliIo, done: number, total: number, started: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = Math.round(done / Math.max((performance.now() - started) / 1000, 1e-3));
  const percent = Math.floor((done / total) * 100);
  io.err(
    `\r[${"#".repeat(filled)}${
      ".".repeat(width - filled)
    }] ${percent}% ${done}/${total} ${rate} ops/s`,
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function number(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min || !Number.isInteger(n)) {
    throw new UsageError(`${name} must be an integer of at least ${min}, not "${text}"`);
  }
  return n;
}

function bigint(name: string, text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new UsageError(`${name} must be a non-negative integer`);
  return BigInt(text);
}

function servers(flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const env = serversFromEnv();
  return typeof env === "string" ? env : "127.0.0.1:11211";
}

function clientOptions(flags: Flags): ClientOptions {
  const options: ClientOptions = {};
  if (flags.protocol !== undefined) options.protocol = flags.protocol as Protocol;
  if (flags.timeout !== undefined) options.timeout = number("--timeout", flags.timeout);
  return options;
}

function processIo(): CliIo {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  // A closed pipe (`mica stats | head`) ends the output, as for other command-line tools.
  process.stdout.on("error", (error: { code?: string }) => {
    if (error.code === "EPIPE") process.exit(EXIT.OK);
    throw error;
  });
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    stdin: async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      return out;
    },
    tty: process.stdout.isTTY === true,
    signal: controller.signal,
  };
}

function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // SIGINT's listener would keep nothing alive, but exit now rather than wait for stdin.
    process.exit(code);
  });
}
