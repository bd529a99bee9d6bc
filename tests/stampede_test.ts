/**
 * `getOrSet` and `invalidate` against a real memcached: one load for many concurrent callers
 * in one client and across clients (meta leases), stale values served at once while one caller
 * refreshes, the lease released when a loader fails, waits bounded by `waitTimeout`, aborts
 * and closes that release every timer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { rawCommand, startMemcached } from "./_memcached.ts";
import { expectCode, lineRecorder, sleep, waitFor } from "./_util.ts";
import { type Client, connect, type Loader, MemcachedError, type Protocol } from "../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];

/** A loader that counts its calls and answers after `ms` (released early by `release()`). */
function counting<T>(value: T, ms = 50): Loader<T> & { calls: number } {
  const loader = Object.assign(async () => {
    loader.calls++;
    await sleep(ms);
    return value;
  }, { calls: 0 });
  return loader;
}

/** Reads `key` until it holds `expected` (a background refresh landed), for at most 5 s. */
async function readUntil(client: Client, key: string, expected: unknown): Promise<unknown> {
  let value: unknown;
  for (let i = 0; i < 250 && value !== expected; i++) {
    value = await client.get(key);
    if (value !== expected) await sleep(20);
  }
  return value;
}

for (const protocol of PROTOCOLS) {
  test(`[${protocol}] concurrent getOrSet calls in one client share one load`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    const loader = counting({ id: 7 });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => client.getOrSet("cold", loader, { ttl: 60 })),
    );
    assert.equal(loader.calls, 1);
    assert.ok(results.every((r) => r.id === 7));
    assert.deepEqual(await client.get<unknown>("cold"), { id: 7 }, "the value was stored");
    assert.deepEqual(await client.getOrSet("cold", loader), { id: 7 }, "a hit loads nothing");
    assert.equal(loader.calls, 1);
  });
}

test("[meta] across clients, the holder of the lease loads; the others wait for its value", async () => {
  await using server = await startMemcached();
  const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.address)));
  try {
    const loaders = clients.map(() => counting("shared", 150));
    const results = await Promise.all(
      clients.flatMap((client, i) =>
        Array.from({ length: 25 }, () => client.getOrSet("cold", loaders[i]!, { ttl: 60 }))
      ),
    );
    assert.ok(results.every((r) => r === "shared"));
    assert.equal(loaders.reduce((n, l) => n + l.calls, 0), 1, "one load in all four clients");
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test("[meta] a failed load releases the lease: the next caller loads at once", async () => {
  await using server = await startMemcached();
  await using a = await connect(server.address);
  await using b = await connect(server.address);
  const failing: Loader<string> = async () => {
    await sleep(20);
    throw new Error("database down");
  };
  const both = await Promise.allSettled([a.getOrSet("k", failing), a.getOrSet("k", failing)]);
  for (const outcome of both) {
    assert.equal(outcome.status, "rejected");
    assert.match(String((outcome as PromiseRejectedResult).reason), /database down/);
  }
  assert.equal(await rawCommand(server, "mg k v\r\n"), "EN\r\n", "the placeholder is gone");
  assert.equal(await b.getOrSet("k", () => "fresh", { leaseTtl: 30 }), "fresh");
  // A loader that finds nothing stores nothing and frees the lease too.
  assert.equal(await a.getOrSet("none", () => undefined), undefined);
  assert.equal(await rawCommand(server, "mg none v\r\n"), "EN\r\n");
  assert.equal(await b.getOrSet("none", () => "later"), "later");
});

test("[meta] an invalidated key is served stale at once while one caller refreshes it", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await using other = await connect(server.address);
  await client.set("page", "v1", { ttl: 300 });
  assert.equal(await client.invalidate("page", { staleTtl: 60 }), true);
  // (No raw read here: the first reader of a stale item, whatever it is, gets the right to
  // refresh it.)
  const loader = counting("v2", 100);
  const reads = await Promise.all([
    ...Array.from({ length: 20 }, () => client.getOrSet("page", loader, { ttl: 300 })),
    ...Array.from({ length: 20 }, () => other.getOrSet("page", loader, { ttl: 300 })),
  ]);
  // Had anyone waited for the load, it would have got "v2".
  assert.ok(reads.every((r) => r === "v1"), "everyone got the stale value at once");
  await waitFor("the refresh to start", () => loader.calls === 1, 5_000);
  assert.equal(await readUntil(other, "page", "v2"), "v2");
  assert.equal(loader.calls, 1, "one refresh for forty readers");
  assert.equal(await client.invalidate("missing"), false);
});

test("[meta] a failed background refresh keeps the stale value and reports refresh-error", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const reported: unknown[] = [];
  client.addEventListener("refresh-error", (event) => {
    reported.push((event as CustomEvent<{ key: string; error: unknown }>).detail);
  });
  await client.set("page", "v1", { ttl: 300 });
  await client.invalidate("page");
  const failing: Loader<string> = async () => {
    await sleep(10);
    throw new Error("backend down");
  };
  assert.equal(await client.getOrSet("page", failing), "v1");
  await waitFor("the refresh-error event", () => reported.length === 1, 5_000);
  const detail = reported[0] as { key: string; error: Error };
  assert.equal(detail.key, "page");
  assert.match(detail.error.message, /backend down/);
  // The stale item is still there for the others (a placeholder would have been deleted).
  assert.match(await rawCommand(server, "mg page v\r\n"), /^VA 2 .*\r\nv1\r\n$/);
});

test("[meta] recacheBefore refreshes a value about to expire while it is still served", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("hot", "old", { ttl: 20 });
  const loader = counting("new", 30);
  assert.equal(await client.getOrSet("hot", loader, { ttl: 300, recacheBefore: 60 }), "old");
  await waitFor("the refresh", () => loader.calls === 1, 5_000);
  assert.equal(await readUntil(client, "hot", "new"), "new");
});

test("[meta] a caller waits at most waitTimeout for another's lease, then loads itself", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  // A lease holder that never fills its placeholder (it died).
  assert.match(await rawCommand(server, "mg orphan v c N30\r\n"), /W/);
  const started = Date.now();
  assert.equal(await client.getOrSet("orphan", () => "mine", { waitTimeout: 200 }), "mine");
  const waited = Date.now() - started;
  assert.ok(waited >= 150 && waited < 5_000, `waited ${waited} ms`);
  assert.equal(await client.get("orphan"), "mine");
});

test("[meta] aborting or closing a waiting getOrSet rejects at once and leaves no timer", async () => {
  await using server = await startMemcached();
  assert.match(await rawCommand(server, "mg held v c N30\r\n"), /W/);
  const { connector, lines } = lineRecorder();
  const client = await connect(server.address, { connector });
  /** Waits until more than `reads` reads of `held` were sent and none is pending: it waits. */
  const waitingAfter = (reads: number) =>
    waitFor(
      "getOrSet() to wait for the lease",
      () =>
        lines.filter((line) => line.startsWith("mg held ")).length > reads &&
        client.counters().inFlight === 0,
    );
  const controller = new AbortController();
  const aborted = client.getOrSet("held", () => "x", { signal: controller.signal });
  await waitingAfter(0);
  controller.abort();
  await expectCode(aborted, ["ABORTED"], "the abort");
  const waiting = client.getOrSet("held", () => "x");
  await waitingAfter(lines.filter((line) => line.startsWith("mg held ")).length);
  client.destroy();
  await expectCode(waiting, ["CLIENT_CLOSED"], "the close");
  await client.close();
});

test("getOrSet and invalidate check their arguments before sending anything", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await expectCode(client.getOrSet("bad key", () => 1), ["INVALID_KEY"], "a bad key");
  await expectCode(
    client.getOrSet("k", 5 as unknown as Loader<number>),
    ["INVALID_ARGUMENT"],
    "no loader",
  );
  for (const options of [{ leaseTtl: 0 }, { recacheBefore: -1 }, { waitTimeout: 0 }]) {
    await expectCode(client.getOrSet("k", () => 1, options), ["INVALID_ARGUMENT"], "options");
  }
  await expectCode(client.getOrSet("k", () => 1, { ttl: -1 }), ["INVALID_TTL"], "a bad TTL");
  await expectCode(client.invalidate("k", { staleTtl: 1.5 }), ["INVALID_ARGUMENT"], "staleTtl");
  await expectCode(client.invalidate("a b"), ["INVALID_KEY"], "a bad key");
  // An unstorable value is the loader's caller's problem, and frees the lease.
  await assert.rejects(client.getOrSet("k", () => 1n), MemcachedError);
  assert.equal(await rawCommand(server, "mg k v\r\n"), "EN\r\n", "no placeholder is left");
  assert.equal(await client.getOrSet("k", () => 2), 2);
  assert.equal(client.counters().inFlight, 0);
});
