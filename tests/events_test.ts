/**
 * The client's events, typed listeners, `on()` subscriptions, the `logger` option and what
 * `console.log(client)` shows, against a real memcached that is killed and restarted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "./_harness.ts";
import { type MemcachedServer, startMemcached } from "./_memcached.ts";
import { expectCode, settle, waitFor } from "./_util.ts";
import {
  Client,
  type ClientEventMap,
  type ClientOptions,
  connect,
  type LogFields,
  type Logger,
  MemcachedError,
} from "../mod.ts";

/**
 * A server is found dead at its first failure, and probed again within 200 ms. The servers
 * are killed, so failures come at once (refused connections, closed sockets) and need no
 * timeout: the request timeouts are generous, so that a busy machine cannot fail a request
 * that must succeed (and with `failureLimit` 1, mark the server dead).
 */
const FAST: ClientOptions = {
  timeout: 10_000,
  connectTimeout: 10_000,
  retryTimeout: 100,
  maxRetryTimeout: 200,
  failureLimit: 1,
};

/** A logger that records every line with its level. */
function recordingLogger(): { logger: Logger; lines: [string, string, LogFields][] } {
  const lines: [string, string, LogFields][] = [];
  const at = (level: string) => (message: string, fields: LogFields) => {
    lines.push([level, message, fields]);
  };
  return {
    lines,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

/** Kills `server` and fails a request on it, so `client` notices. */
async function kill(server: MemcachedServer, client: Client): Promise<void> {
  server.kill("SIGKILL");
  await server.waitExit();
  const codes = ["CONNECTION_CLOSED", "CONNECT_FAILED", "TIMEOUT", "SERVER_DEAD"] as const;
  await expectCode(client.get("k"), codes, "a get from a killed server");
}

/** Waits until `isUp`, keeping a request going: probes start from traffic, not timers. */
function untilUp(client: Client, isUp: () => boolean): Promise<void> {
  return waitFor("server-up", () => {
    void settle(client.get("k"));
    return isUp();
  }, 5_000);
}

test("a server killed and restarted dispatches error, server-down, reconnecting, server-up, typed and logged", async () => {
  await using server = await startMemcached();
  const { logger, lines } = recordingLogger();
  await using client = await connect(server.address, { ...FAST, logger });
  const seen: string[] = [];
  const downs: ClientEventMap["server-down"][] = [];
  client.addEventListener("server-down", (event) => {
    downs.push(event);
    seen.push(`down ${event.detail.server} ${event.detail.error?.code}`);
  });
  client.addEventListener("server-up", (event) => seen.push(`up ${event.detail.server}`));
  const attempts: number[] = [];
  using _probes = client.on("reconnecting", ({ attempt }) => attempts.push(attempt ?? -1));
  await client.set("k", "v");

  await kill(server, client);
  await waitFor("server-down", () => downs.length === 1, 3_000);
  assert.ok(downs[0] instanceof CustomEvent);
  assert.equal(downs[0].detail.server, server.address);
  assert.ok(downs[0].detail.error instanceof MemcachedError);

  await server.restart();
  await untilUp(client, () => seen.some((line) => line.startsWith("up ")));
  assert.equal(await client.get("k"), undefined, "a restarted memcached is empty");
  await client.set("k", "again");
  assert.equal(await client.get("k"), "again");

  assert.ok(attempts.length >= 1 && attempts.every((n, i) => n === i + 1), String(attempts));
  assert.equal(seen.at(-1), `up ${server.address}`);

  const levels = new Map(lines.map(([level, , fields]) => [fields.event, level]));
  assert.equal(levels.get("server-down"), "warn");
  assert.equal(levels.get("server-up"), "info");
  assert.equal(levels.get("reconnecting"), "debug");
  assert.equal(levels.get("error"), "error");
  const down = lines.find(([, , fields]) => fields.event === "server-down");
  assert.ok(down);
  assert.match(down[1], new RegExp(`^mica: server ${server.address} is down: [A-Z_]+: `));
  assert.equal(down[2].server, server.address);
  assert.ok(down[2].error instanceof MemcachedError);
  const up = lines.find(([, , fields]) => fields.event === "server-up");
  assert.deepEqual(up?.slice(0, 2), ["info", `mica: server ${server.address} is up`]);
});

test("on() stops calling its handler once unsubscribed, disposed of, aborted, or after once", () => {
  using client = new Client("127.0.0.1:1");
  const calls: string[] = [];
  const fire = () =>
    client.dispatchEvent(new CustomEvent("server-up", { detail: { server: "s" } }));

  const plain = client.on("server-up", () => calls.push("plain"));
  const once = client.on("server-up", () => calls.push("once"), { once: true });
  const controller = new AbortController();
  client.on("server-up", () => calls.push("signal"), { signal: controller.signal });
  const aborted = AbortSignal.abort();
  client.on("server-up", () => calls.push("pre-aborted"), { signal: aborted });
  {
    using _scoped = client.on("server-up", ({ server }) => calls.push(`scoped ${server}`));
    fire();
  }
  assert.deepEqual(calls.sort(), ["once", "plain", "scoped s", "signal"]);

  calls.length = 0;
  controller.abort();
  fire();
  assert.deepEqual(calls, ["plain"]);

  calls.length = 0;
  plain.unsubscribe();
  plain.unsubscribe();
  once[Symbol.dispose]();
  fire();
  assert.deepEqual(calls, []);
});

test("a refresh-error reaches on() and the logger at warn with the key", async () => {
  await using server = await startMemcached();
  const { logger, lines } = recordingLogger();
  await using client = await connect(server.address, { logger });
  const failures: unknown[] = [];
  using _watch = client.on("refresh-error", ({ key, error }) => failures.push([key, error]));
  await client.getOrSet("stale", () => "old", { ttl: 60 });
  await client.invalidate("stale");
  const boom = new Error("database down");
  assert.equal(
    await client.getOrSet("stale", () => Promise.reject(boom), { ttl: 60 }),
    "old",
    "a stale key is served while it refreshes",
  );
  await waitFor("refresh-error", () => failures.length === 1, 3_000);
  assert.deepEqual(failures, [["stale", boom]]);
  const line = lines.find(([, , fields]) => fields.event === "refresh-error");
  assert.deepEqual(line?.slice(0, 2), [
    "warn",
    "mica: background refresh of stale failed: Error: database down",
  ]);
  assert.equal(line?.[2].key, "stale");
});

test("a logger that throws or lacks a level disturbs nothing", async () => {
  await using server = await startMemcached();
  let calls = 0;
  const logger: Logger = {
    warn: () => {
      calls++;
      throw new Error("logger broke");
    },
  };
  await using client = await connect(server.address, { ...FAST, logger });
  let ups = 0;
  client.addEventListener("server-up", () => ups++);
  await kill(server, client);
  await waitFor("the warn of server-down", () => calls === 1, 3_000);
  await server.restart();
  await untilUp(client, () => ups === 1);
  await client.set("k", "v");
  assert.equal(await client.get("k"), "v");
});

test("a bad logger is refused with INVALID_ARGUMENT naming it", () => {
  const bad: unknown[] = [null, "console", 1, {}, { warn: "no" }, { info: () => {}, error: 1 }];
  for (const logger of bad) {
    assert.throws(
      () => new Client("127.0.0.1:11211", { logger: logger as Logger }),
      (error: unknown) =>
        error instanceof MemcachedError && error.code === "INVALID_ARGUMENT" &&
        error.message.startsWith("Cannot use option logger: "),
      String(logger),
    );
  }
  using withConsole = new Client("127.0.0.1:11211", { logger: console });
  assert.equal(withConsole.closed, false);
  assert.throws(
    () => new Client("memcached://127.0.0.1:11211?logger=console"),
    (error: unknown) => error instanceof MemcachedError && error.code === "INVALID_ARGUMENT",
  );
});

test("console.log(client) shows servers, protocol and state, never credentials", async () => {
  await using server = await startMemcached();
  const client = new Client(`alice:s3cret-pw@${server.address}`, {
    protocol: "text",
    username: "bob",
    password: "hunter2-pw",
  });
  const before = inspect(client);
  assert.match(before, /^Client \{/);
  assert.ok(before.includes(server.address), before);
  assert.match(before, /protocol: .text./);
  assert.match(before, /closed: false/);
  assert.match(before, /connections: 0/);
  for (const secret of ["s3cret", "hunter2", "alice", "bob"]) {
    assert.ok(!before.includes(secret), `${secret} in ${before}`);
  }
  assert.equal(client.protocol, "text");
  client.destroy();
  await client.close();
  assert.match(inspect(client), /closed: true/);
  assert.match(inspect([client]), /\[\s*Client \{/);
});
