/**
 * The official Keyv store suite (`@keyv/test-suite`: its API, value and namespace tests) run
 * by vitest under Node against the compiled package in `dist/` (`bash scripts/build_npm.sh`),
 * with its own memcached on a free loopback port:
 *
 * ```sh
 * bash scripts/build_npm.sh && node_modules/.bin/vitest run --root tests/keyv
 * ```
 *
 * The iterator tests are not run: memcached cannot list keys, so the store has no
 * `iterator()`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import process from "node:process";
import Keyv from "keyv";
import keyvTestSuite from "@keyv/test-suite";
import * as vitest from "vitest";

const MEMCACHED = "/usr/bin/memcached";
const DIST = new URL("../../dist/", import.meta.url);

if (!existsSync(new URL("src/keyv.js", DIST))) {
  throw new Error("Cannot run the Keyv suite: dist/ is not built (bash scripts/build_npm.sh)");
}
// Imported by URL so that `deno check tests/` does not need dist/ to exist.
const { Client } = await import(new URL("mod.js", DIST).href);
const { KeyvMemcached } = await import(new URL("src/keyv.js", DIST).href);

/** A free loopback TCP port, found by binding port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Sends `stats` and resolves with the server's pid, or `undefined` if it does not answer. */
function statsPid(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let text = "";
    const done = (pid) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => done(undefined));
    socket.on("error", () => done(undefined));
    socket.on("connect", () => socket.write("stats\r\n"));
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (text.includes("END\r\n")) done(Number(/STAT pid (\d+)/.exec(text)?.[1]));
    });
  });
}

/**
 * Starts memcached on a free loopback port and waits until it answers `stats` with its own pid
 * (so a foreign server that took the port is never used). Tries again on another port if
 * memcached exits (the port was taken meanwhile).
 */
async function startMemcached() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", "2", "-m", "64"];
    if (process.getuid?.() === 0) args.push("-u", "nobody");
    const child = spawn(MEMCACHED, args, { stdio: ["ignore", "ignore", "inherit"] });
    let running = true;
    const exited = new Promise((resolve) => {
      child.once("exit", () => {
        running = false;
        resolve();
      });
      child.once("error", () => {
        running = false;
        resolve();
      });
    });
    const stop = async () => {
      if (running) child.kill("SIGKILL");
      await exited;
    };
    for (let wait = 0; wait < 100 && running; wait++) {
      if (await statsPid(port) === child.pid) return { address: `127.0.0.1:${port}`, stop };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stop();
  }
  throw new Error(`Cannot start ${MEMCACHED} on a free loopback port`);
}

let server;
let client;

vitest.beforeAll(async () => {
  server = await startMemcached();
  client = new Client(server.address, { timeout: 5_000 });
  await client.open();
});

vitest.afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** Each call borrows the one client, as an application's stores would. */
function store() {
  if (client === undefined) throw new Error("Cannot create a store: memcached is not started");
  return new KeyvMemcached(client);
}

keyvTestSuite(vitest, Keyv, store);
