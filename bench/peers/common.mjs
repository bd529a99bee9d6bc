// Boilerplate shared by the npm peer clients: argument parsing, runtime detection, result
// emission and a hard exit (some peers keep sockets or timers alive after close).
import { createRequire } from "node:module";
import process from "node:process";
import { emit, parseArgs, runScenarios } from "../harness.mjs";

export const require = createRequire(import.meta.url);

export function runtimeInfo() {
  if (typeof globalThis.Bun !== "undefined") {
    return { runtime: "bun", version: globalThis.Bun.version };
  }
  if (typeof globalThis.Deno !== "undefined") {
    return { runtime: "deno", version: globalThis.Deno.version.deno };
  }
  return { runtime: "node", version: process.versions.node };
}

export function libraryVersion(name) {
  // The reference client and the floor are files of this benchmark, not packages.
  return name === "reference" || name === "floor"
    ? "bench"
    : require(`${name}/package.json`).version;
}

/**
 * Runs all requested scenarios for one peer library.
 * `make(cfg)` returns `{ client, config, close }`, where `client` implements BenchClient.
 */
export async function runPeer(library, make) {
  const cfg = parseArgs(process.argv.slice(2), process.env);
  const { runtime, version } = runtimeInfo();
  const out = {
    client: library,
    library,
    libraryVersion: libraryVersion(library),
    runtime,
    runtimeVersion: version,
    quick: cfg.quick,
  };
  let exitCode = 0;
  try {
    const { client, config, close } = await make(cfg);
    out.config = config;
    out.getManyMethod = client.getManyMethod;
    out.results = await runScenarios(client, cfg);
    await close();
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err);
    exitCode = 1;
  }
  emit(out);
  // Peers may hold idle timers/sockets; the orchestrator runs clients one after another.
  setTimeout(() => process.exit(exitCode), 50);
}
