/**
 * Metrics (hits, misses, calls, errors, latency histograms, the buffered-bytes gauge) and traces
 * through `node:diagnostics_channel`, against a real memcached.
 *
 * @module
 */

import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";
import { settle, suspend, waitFor } from "./_util.ts";
import { type CommandTrace, connect, MemcachedError, TRACING_CHANNEL } from "../mod.ts";

test("metrics() counts nothing unless the metrics option is on", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("k", "v");
  await client.get("k");
  const metrics = client.metrics();
  assert.deepEqual(metrics, { hits: 0, misses: 0, operations: {}, buffered: 0 });
});

test("metrics() counts hits, misses, calls, errors and latencies per command", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { metrics: true });
  await client.set("a", "1");
  await client.set("b", "not a number");
  await client.get("a"); // hit
  await client.get("missing"); // miss
  await client.gets("a"); // hit
  await client.getMany(["a", "b", "c"]); // 2 hits, 1 miss
  await client.setMany([["x", 1], ["y", 2]]);
  await assert.rejects(client.incr("b", 1), MemcachedError); // an error reply
  await client.noop();
  const m = client.metrics();
  assert.equal(m.hits, 4);
  assert.equal(m.misses, 2);
  assert.equal(m.operations.set?.calls, 2);
  assert.equal(m.operations.get?.calls, 2);
  assert.equal(m.operations.getMany?.calls, 1);
  assert.equal(m.operations.setMany?.calls, 1);
  assert.equal(m.operations.incr?.errors, 1);
  assert.equal(m.operations.noop?.calls, 1);
  for (const [command, operation] of Object.entries(m.operations)) {
    const { latency } = operation;
    assert.equal(latency.counts.length, latency.bounds.length + 1, command);
    assert.equal(latency.counts.reduce((a, b) => a + b, 0), operation.calls, command);
    assert.equal(latency.count, operation.calls, command);
    assert.ok(latency.sumUs > 0, command);
  }
  // Refused before anything is sent: not a command that ran.
  await assert.rejects(client.get("bad key"));
  assert.equal(client.metrics().operations.get?.calls, 2);
});

test("the buffered gauge shows bytes a stopped server has not taken, and drains", async () => {
  await using server = await startMemcached({ args: ["-I", "2m"] });
  await using client = await connect(server.address, {
    metrics: true,
    maxValueSize: 2 * 1024 * 1024,
    timeout: 30_000,
  });
  assert.equal(client.counters().buffered, 0);
  await suspend(server);
  const value = new Uint8Array(2 * 1024 * 1024 - 1024).fill(1);
  const writes = Array.from({ length: 24 }, (_, i) => settle(client.set(`big:${i}`, value)));
  try {
    await waitFor("bytes to pile up", () => client.counters().buffered > 0, 10_000);
    assert.ok(client.metrics().buffered > 0);
  } finally {
    server.kill("SIGCONT");
  }
  await Promise.all(writes);
  await waitFor("the buffer to drain", () => client.counters().buffered === 0, 10_000);
});

test("a tracing channel subscriber sees every command start and settle, errors included", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const events: string[] = [];
  const seen: CommandTrace[] = [];
  const channel = diagnostics_channel.tracingChannel(TRACING_CHANNEL);
  const subscriber = {
    start: (message: unknown) => {
      seen.push(message as CommandTrace);
      events.push(`start ${(message as CommandTrace).command}`);
    },
    end: () => {},
    asyncStart: (message: unknown) => events.push(`settled ${(message as CommandTrace).command}`),
    asyncEnd: () => {},
    error: (message: unknown) => events.push(`error ${(message as CommandTrace).command}`),
  };
  channel.subscribe(subscriber);
  try {
    await client.set("k", "v");
    assert.equal(await client.get("k"), "v");
    await assert.rejects(client.incr("k", 1));
    await client.getMany(["k", "j"]);
  } finally {
    channel.unsubscribe(subscriber);
  }
  await client.get("k"); // no longer traced
  assert.deepEqual(events, [
    "start set",
    "settled set",
    "start get",
    "settled get",
    "start incr",
    "error incr",
    "settled incr",
    "start getMany",
    "settled getMany",
  ]);
  assert.deepEqual(seen.map((t) => [t.command, t.key, t.keys, t.protocol]), [
    ["set", "k", 1, "meta"],
    ["get", "k", 1, "meta"],
    ["incr", "k", 1, "meta"],
    ["getMany", undefined, 2, "meta"],
  ]);
  assert.equal(seen[1]?.result, "v", "the result travels with the trace");
  assert.ok(seen[2]?.error instanceof MemcachedError);
});
