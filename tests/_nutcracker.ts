/**
 * Starts twemproxy (`nutcracker`, Debian's `/usr/sbin/nutcracker`) on a free loopback port in
 * front of test memcached servers, for the interop test of the text protocol through a proxy.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { listensOn, type MemcachedServer, pickFreePort } from "./_memcached.ts";
import { sleep } from "./_util.ts";

/** Where Debian installs twemproxy. */
export const NUTCRACKER_BIN = "/usr/sbin/nutcracker";

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 5_000;

/** A running twemproxy; stop it (or `await using` it) before the test ends. */
export interface Nutcracker extends AsyncDisposable {
  /** `127.0.0.1:port`, where clients connect. */
  readonly address: string;
  /** Kills the process and waits for it, then removes its config. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts twemproxy with one pool over `servers` (modula over fnv1a_64, so how keys split
 * does not depend on the random ports; hosts never ejected) and waits until it listens.
 *
 * @param servers The memcached servers behind the proxy.
 * @throws {Error} When it exits early or does not listen within 5 s.
 */
export async function startNutcracker(servers: readonly MemcachedServer[]): Promise<Nutcracker> {
  const dir = mkdtempSync(join(tmpdir(), "mica-nutcracker-"));
  const [port, statsPort] = [await pickFreePort(), await pickFreePort()];
  const config = join(dir, "nutcracker.yml");
  writeFileSync(
    config,
    [
      "mica:",
      `  listen: ${HOST}:${port}`,
      "  hash: fnv1a_64",
      "  distribution: modula",
      "  timeout: 2000",
      "  auto_eject_hosts: false",
      "  servers:",
      ...servers.map((server) => `    - ${server.address}:1`),
      "",
    ].join("\n"),
  );
  let stderr = "";
  const child = spawn(NUTCRACKER_BIN, ["-c", config, "-a", HOST, "-s", String(statsPort)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => stderr += text.slice(0, 4_096));
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => {
      running = false;
      resolve();
    });
    child.once("error", (error) => {
      stderr += `spawn failed: ${error.message}`;
      if (child.pid === undefined) {
        running = false;
        resolve();
      }
    });
  });
  const killOnExit = () => child.pid !== undefined && running && process.kill(child.pid, "SIGKILL");
  process.once("exit", killOnExit);
  const stop = async () => {
    if (running && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    await exited;
    process.off("exit", killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!listensOn(child.pid ?? -1, { host: HOST, port })) {
    if (!running || Date.now() > deadline) {
      await stop();
      throw new Error(`Cannot start nutcracker on port ${port}: ${stderr.trim() || "not ready"}`);
    }
    await sleep(20);
  }
  return { address: `${HOST}:${port}`, stop, [Symbol.asyncDispose]: stop };
}
