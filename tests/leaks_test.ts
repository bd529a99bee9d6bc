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
import { test } from "./_harness.ts";
import { type MemcachedServer, openFdCount, startMemcached } from "./_memcached.ts";
import { startProxy } from "./_proxy.ts";
import {
  assertFailed,
  assertIdle,
  closeAfter,
  expectCode,
  killUnderLoad,
  runtimeConnector,
  settle,
  timeOutOnStoppedServer,
  waitFor,
  within,
} from "./_util.ts";
import { connect, type Connector } from "../mod.ts";

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
 * Starts memcached, counts the open descriptors after one connect/close cycle (so that
 * anything a runtime opens once, on first use, is already open), runs `scenario` against the
 * server, and then requires the count to be back where it was.
 */
async function expectNoLeaks(
  what: string,
  scenario: (server: MemcachedServer) => Promise<void>,
): Promise<void> {
  await using server = await startMemcached();
  const warm = await connect(server.address, { timeout: 10_000 });
  await warm.set("warm", "up");
  await warm.close();
  const baseline = openFdCount();
  await scenario(server);
  await expectFdsBackTo(baseline, what);
}

test("1,000 connect/close cycles leave no socket, timer or descriptor behind", () =>
  expectNoLeaks("1,000 connect/close cycles", async (server) => {
    for (let i = 0; i < 1_000; i++) {
      const client = await connect(server.address);
      if (i % 10 === 0) assert.equal(await client.get("warm"), "up");
      await client.close();
      assertIdle(client);
    }
  }));

test("200 connect/destroy cycles release every socket once they settle", async () => {
  // The runtime's connector, keeping each transport's `done`: it resolves once the socket and
  // every operation on it have finished.
  const finished: Promise<void>[] = [];
  const connector: Connector = async (endpoint, handlers, options) => {
    const transport = await runtimeConnector(endpoint, handlers, options);
    finished.push(transport.done);
    return transport;
  };
  await expectNoLeaks("200 connect/destroy cycles", async (server) => {
    for (let i = 0; i < 200; i++) {
      const client = await connect(server.address, { connector });
      const pending = client.get("warm");
      client.destroy();
      await expectCode(pending, ["CLIENT_CLOSED"], "get() cut short by destroy()");
      assertIdle(client);
    }
  });
  // destroy() closes sockets in the background: no close() here, only a bounded wait for them
  // to finish. Under Deno the sanitizers then check that no op or resource outlived them.
  assert.equal(finished.length, 200);
  await within(5_000, "the destroyed sockets to finish", Promise.all(finished));
});

test("1,000 requests timing out in a black hole leave nothing behind after close()", () =>
  expectNoLeaks("1,000 timed-out requests and the proxy", async (server) => {
    await using proxy = await startProxy(server);
    const client = await connect(proxy.address, { timeout: 50 });
    proxy.blackhole(true);
    const requests: Promise<void>[] = [];
    for (let i = 0; i < 1_000; i++) {
      requests.push(expectCode(client.get(`k${i}`), ["TIMEOUT"], "get() into a black hole"));
    }
    await within(5_000, "1,000 swallowed requests", Promise.all(requests));
    await within(5_000, "close()", client.close());
    assertIdle(client);
  }));

test("Killing and restarting the server leaves no descriptor behind", () =>
  expectNoLeaks("a killed server", async (server) => {
    const client = await connect(server.address, { timeout: 10_000 });
    await closeAfter(client, async () => {
      const requests = Array.from({ length: 2_000 }, (_, i) => settle(client.get(`k${i}`)));
      await killUnderLoad(server, requests);
      await server.restart();
      assert.equal(await within(5_000, "get() after restart", client.get("warm")), undefined);
    });
  }));

test("Timeouts against a stopped server leave no descriptor behind", () =>
  expectNoLeaks("a stopped server", async (server) => {
    const client = await connect(server.address, { timeout: 100 });
    await closeAfter(client, async () => {
      await client.set("k", "v", { timeout: 5_000 });
      await timeOutOnStoppedServer(server, client, 500);
    });
  }));

test("Aborted requests leave no descriptor behind", () =>
  expectNoLeaks("aborted requests", async (server) => {
    const client = await connect(server.address, { timeout: 10_000 });
    await closeAfter(client, async () => {
      let aborted = 0;
      for (let round = 0; round < 20; round++) {
        const controller = new AbortController();
        const requests: Promise<void>[] = [];
        for (let i = 0; i < 500; i++) {
          // Each request is either answered (a miss) before the abort or rejected with ABORTED.
          const request = settle(client.get(`k${i}`, { signal: controller.signal }));
          requests.push(request.then((outcome) => {
            if (outcome.ok) {
              assert.equal(outcome.value, undefined);
            } else {
              assertFailed(outcome, ["ABORTED"], "get()");
              aborted++;
            }
          }));
        }
        // Abort once the first reply is delivered: some are answered, the rest are cut short.
        void requests[0]!.then(() => controller.abort());
        await within(5_000, "aborted requests", Promise.all(requests));
      }
      assert.ok(aborted > 0, "no request was aborted");
      assert.equal(await client.get("warm"), "up");
      assertIdle(client, 1);
    });
  }));

test("Closing under load leaves counters at zero and no descriptor behind", () =>
  expectNoLeaks("closing under load", async (server) => {
    for (let round = 0; round < 5; round++) {
      const client = await connect(server.address, { timeout: 10_000 });
      const requests: Promise<void>[] = [];
      for (let i = 0; i < 2_000; i++) {
        requests.push(
          settle(client.get(`k${i}`)).then((outcome) => {
            if (!outcome.ok) assertFailed(outcome, ["CLIENT_CLOSED"], "get()");
          }),
        );
      }
      if (round % 2 === 0) client.destroy();
      await within(5_000, "close()", client.close({ timeout: 5 }));
      await within(5_000, "requests", Promise.all(requests));
      assertIdle(client);
    }
  }));
