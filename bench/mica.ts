// Mica benchmark client. The same file runs under both runtimes:
//   deno run --allow-all --v8-flags=--expose-gc bench/mica.ts --server 127.0.0.1:11211
//   bun bench/mica.ts --server 127.0.0.1:11211
// With `--servers h:p1,h:p2,h:p3` instead it connects to that cluster (bench/run.sh --cluster).
// `--protocol meta|text|binary` picks the wire protocol and `--tls-ca FILE` connects with TLS,
// trusting that CA (bench/run.sh --protocols).
// It prints one JSON object (the last stdout line) for bench/run.mjs.
import { type ClientOptions, connect, type Protocol } from "../mod.ts";
import { readFileSync } from "node:fs";
import meta from "../deno.json" with { type: "json" };
import { type BenchClient, emit, parseArgs, runScenarios } from "./harness.mjs";
import { argv, env, exit, heapSource, memory, runtime, runtimeVersion } from "./runtime.ts";

const cfg = parseArgs(argv, env);

/** The value of `--name value` or `--name=value`. */
function option(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}
const protocol = (option("protocol") ?? "meta") as Protocol;
const tlsCa = option("tls-ca");
// `--connector node` connects through node:net and node:tls (`nodeConnector`) instead of the
// runtime's own adapter, to compare the two transports.
const viaNode = option("connector") === "node";
const connectOptions: ClientOptions = {
  protocol,
  ...(viaNode ? { connector: (await import("../src/adapters/node.ts")).nodeConnector } : {}),
  ...(tlsCa === undefined ? {} : { tls: { ca: [readFileSync(tlsCa, "utf8")] } }),
};

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
  // Cluster mode (--servers a,b,c): ketama, as 3rd-Eden's default; other options default.
  const cluster = cfg.servers.length > 1;
  const mica = cluster
    ? await connect(cfg.servers, { ...connectOptions, distribution: "ketama" })
    : await connect(cfg.server, connectOptions);
  out.config = { protocol, tls: tlsCa !== undefined, ...(viaNode ? { connector: "node" } : {}) };
  if (cluster) {
    out.config = { servers: cfg.servers.length, distribution: "ketama", protocol, tls: false };
  }
  try {
    const client: BenchClient = {
      name: `mica (${runtime})`,
      get: (key) => mica.get(key),
      set: (key, value) => mica.set(key, value as string | Uint8Array, {}),
      getManyMethod: "getMany(keys)",
      getMany: async (keys) => (await mica.getMany(keys)).size,
      makeLargeValue: (bytes) => bytes,
      memory,
      heapSource,
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
if (exitCode !== 0) exit(exitCode);
