/**
 * Leak tests: many connect/close cycles and the fault scenarios, checked three ways.
 *
 * - Under Deno every test runs with `--sanitize-ops --sanitize-resources`, so a socket, timer
 *   or pending op left behind fails it.
 * - Under both runtimes the process's open file descriptors (`/proc/self/fd`) must return to
 *   their count before the scenario: Bun has no resource sanitizer, and this is what catches a
 *   socket it leaks.
 * - `client.counters()` must be all zero once the client is closed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "./_harness.ts";
import { type MemcachedServer, openFdCount, startMemcached } from "./_memcached.ts";
import { startProxy } from "./_proxy.ts";
import { type Client, connect, type ErrorCode, isMemcachedError } from "../mod.ts";

/** Polls `condition` every 5 ms until it holds; throws after `ms`. */
async function waitFor(what: string, condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves with `promise`, or rejects if it has not settled within `ms`; clears its timer. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until the open descriptor count is back to `baseline`. Sockets are closed by the
 * runtime's event loop, so the count may lag a close by a tick or two; the wait is bounded.
 * No tolerance: every descriptor the scenario opened must be closed again.
 */
async function expectFdsBackTo(baseline: number, what: string): Promise<void> {
  let now = openFdCount();
  await waitFor(`open descriptors to return to ${baseline} after ${what} (now ${now})`, () => {
    now = openFdCount();
    return now <= baseline;
  });
  assert.equal(now, baseline, `${what} closed descriptors it did not open`);
}

/**
 * The descriptor count with `server` running, after one connect/close cycle so that anything a
 * runtime opens once, on first use, is already open.
 */
async function warmBaseline(server: MemcachedServer | { address: string }): Promise<number> {
  const client = await connect(server.address, { timeout: 10_000 });
  await client.set("warm", "up");
  await client.close();
  return openFdCount();
}

/** Rejects unless `promise` fails with a MemcachedError whose code is in `codes`. */
async function expectCode(
  promise: Promise<unknown>,
  codes: readonly ErrorCode[],
  what: string,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (codes.some((code) => isMemcachedError(error, code))) return;
    throw new Error(`${what}: expected ${codes.join(" or ")}, got ${String(error)}`, {
      cause: error,
    });
  }
  throw new Error(`${what}: expected ${codes.join(" or ")}, but it resolved`);
}

/** Whether process `pid` is stopped (state `T` in `/proc/PID/stat`, Linux only). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
}

function assertIdle(client: Client): void {
  assert.deepEqual(client.counters(), { connections: 0, inFlight: 0, queued: 0 });
}

test("1,000 connect/close cycles leave no socket, timer or descriptor behind", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  for (let i = 0; i < 1_000; i++) {
    const client = await connect(server.address);
    if (i % 10 === 0) assert.equal(await client.get("warm"), "up");
    await client.close();
    assertIdle(client);
  }
  await expectFdsBackTo(baseline, "1,000 connect/close cycles");
});

test("200 connect/destroy cycles release every socket once they settle", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  for (let i = 0; i < 200; i++) {
    const client = await connect(server.address);
    const pending = client.get("warm");
    client.destroy();
    await expectCode(pending, ["CLIENT_CLOSED"], "get() cut short by destroy()");
    assertIdle(client);
  }
  // destroy() closes sockets in the background: no close() here, only a bounded wait. Under
  // Deno the sanitizers then check that no op or resource outlived it.
  await expectFdsBackTo(baseline, "200 connect/destroy cycles");
  await new Promise((resolve) => setTimeout(resolve, 20));
});

test("1,000 requests timing out in a black hole leave nothing behind after close()", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  const proxy = await startProxy(server);
  try {
    const client = await connect(proxy.address, { timeout: 50 });
    proxy.blackhole(true);
    const requests: Promise<void>[] = [];
    for (let i = 0; i < 1_000; i++) {
      requests.push(expectCode(client.get(`k${i}`), ["TIMEOUT"], "get() into a black hole"));
    }
    await within(5_000, "1,000 swallowed requests", Promise.all(requests));
    await within(5_000, "close()", client.close());
    assertIdle(client);
  } finally {
    await proxy.close();
  }
  await expectFdsBackTo(baseline, "1,000 timed-out requests and the proxy");
});

test("Killing and restarting the server leaves no descriptor behind", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  const client = await connect(server.address, { timeout: 10_000 });
  try {
    const requests: Promise<void>[] = [];
    for (let i = 0; i < 2_000; i++) {
      requests.push(
        client.get(`k${i}`).then(() => {}, (error) => {
          assert.ok(isMemcachedError(error, "CONNECTION_CLOSED"), String(error));
        }),
      );
    }
    server.kill("SIGKILL");
    await within(10_000, "requests to a killed server", Promise.all(requests));
    // Wait for the exit first: restart() signals the old pid, which Deno may have reaped already.
    await within(5_000, "memcached to exit", server.waitExit());
    await server.restart();
    assert.equal(await within(5_000, "get() after restart", client.get("warm")), undefined);
  } finally {
    await client.close();
  }
  assertIdle(client);
  await expectFdsBackTo(baseline, "a killed server");
});

test("Timeouts against a stopped server leave no descriptor behind", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  const client = await connect(server.address, { timeout: 100 });
  try {
    await client.set("k", "v", { timeout: 5_000 });
    server.kill("SIGSTOP");
    await waitFor("memcached to stop", () => isStopped(server.pid));
    const requests: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      requests.push(expectCode(client.get("k"), ["TIMEOUT"], "get() to a stopped server"));
    }
    await within(5_000, "requests to a stopped server", Promise.all(requests));
    await waitFor("the stalled connection to be dropped", () => {
      const c = client.counters();
      return c.connections === 0 && c.inFlight === 0;
    });
    server.kill("SIGCONT");
    assert.equal(
      await within(5_000, "get() after SIGCONT", client.get("k", { timeout: 5_000 })),
      "v",
    );
  } finally {
    server.kill("SIGCONT");
    await client.close();
  }
  assertIdle(client);
  await expectFdsBackTo(baseline, "a stopped server");
});

test("Aborted requests leave no descriptor behind", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  const client = await connect(server.address, { timeout: 10_000 });
  let aborted = 0;
  try {
    for (let round = 0; round < 20; round++) {
      const controller = new AbortController();
      const requests: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        // Each request is either answered (a miss) before the abort or rejected with ABORTED.
        requests.push(
          client.get(`k${i}`, { signal: controller.signal }).then(
            (value) => assert.equal(value, undefined),
            (error) => {
              assert.ok(isMemcachedError(error, "ABORTED"), String(error));
              aborted++;
            },
          ),
        );
      }
      // Abort once the first reply is delivered: some are answered, the rest are cut short.
      void requests[0]!.then(() => controller.abort());
      await within(5_000, "aborted requests", Promise.all(requests));
    }
    assert.ok(aborted > 0, "no request was aborted");
    assert.equal(await client.get("warm"), "up");
    assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
  } finally {
    await client.close();
  }
  assertIdle(client);
  await expectFdsBackTo(baseline, "aborted requests");
});

test("Closing under load leaves counters at zero and no descriptor behind", async () => {
  await using server = await startMemcached();
  const baseline = await warmBaseline(server);
  for (let round = 0; round < 5; round++) {
    const client = await connect(server.address, { timeout: 10_000 });
    const requests: Promise<unknown>[] = [];
    for (let i = 0; i < 2_000; i++) {
      requests.push(
        client.get(`k${i}`).catch((error) => {
          assert.ok(isMemcachedError(error, "CLIENT_CLOSED"), String(error));
        }),
      );
    }
    if (round % 2 === 0) client.destroy();
    await within(5_000, "close()", client.close({ timeout: 5 }));
    await within(5_000, "requests", Promise.all(requests));
    assertIdle(client);
  }
  await expectFdsBackTo(baseline, "closing under load");
});
