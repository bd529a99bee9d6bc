import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { test } from "./_harness.ts";
import {
  openFdCount,
  rawCommand,
  settledFdCount,
  startMemcached,
  withMemcached,
} from "./_memcached.ts";
import { isStopped, waitFor } from "./_util.ts";

test("startMemcached() starts a server that answers raw commands and stop() ends it", async () => {
  const server = await startMemcached();
  assert.equal(server.host, "127.0.0.1");
  assert.equal(server.address, `127.0.0.1:${server.port}`);
  assert.ok(server.pid > 0);
  assert.equal(server.socketPath, undefined);
  assert.equal(await rawCommand(server, "ms fixture 2\r\nhi\r\n"), "HD\r\n");
  assert.equal(await rawCommand(server, "mg fixture v\r\n"), "VA 2\r\nhi\r\n");
  await server.stop();
  await server.waitExit();
  await assert.rejects(rawCommand(server, ""));
  await server.stop();
});

test("startMemcached() gives concurrent servers different ports", async () => {
  const [a, b] = await Promise.all([startMemcached(), startMemcached()]);
  try {
    assert.notEqual(a.port, b.port);
    await rawCommand(a, "ms only-a 1\r\na\r\n");
    assert.equal(await rawCommand(b, "mg only-a v\r\n"), "EN\r\n");
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("startMemcached() passes extra arguments to memcached", async () => {
  await withMemcached(async (server) => {
    const stats = await rawCommand(server, "stats settings\r\n");
    assert.match(stats, /^STAT item_size_max 2097152\r$/m);
    assert.match(stats, /^STAT num_threads 2\r$/m);
  }, { args: ["-I", "2m"] });
});

test("startMemcached() with unixSocket listens on a socket in a temp dir removed on stop", async () => {
  const server = await startMemcached({ unixSocket: true });
  const path = server.socketPath;
  assert.ok(path !== undefined);
  try {
    assert.ok(existsSync(path));
    assert.equal(await rawCommand(server, "ms sock 1\r\nx\r\n"), "HD\r\n");
    assert.equal(await rawCommand(server, "mg sock v\r\n"), "VA 1\r\nx\r\n");
  } finally {
    await server.stop();
  }
  assert.equal(existsSync(dirname(path)), false);
});

test("MemcachedServer.stop() resolves after the process was killed with SIGKILL", async () => {
  const server = await startMemcached({ unixSocket: true });
  server.kill("SIGKILL");
  await server.waitExit();
  await assert.rejects(rawCommand(server, ""));
  await server.stop();
  assert.equal(existsSync(dirname(server.socketPath ?? "")), false);
});

test("MemcachedServer.kill() with SIGSTOP freezes the server until SIGCONT", async () => {
  await using server = await startMemcached();
  server.kill("SIGSTOP");
  // The signal takes effect a little after kill() returns.
  await waitFor("memcached to stop", () => isStopped(server.pid));
  await assert.rejects(rawCommand(server, "", { timeout: 300 }), /within 300 ms/);
  server.kill("SIGCONT");
  assert.equal(await rawCommand(server, ""), "");
});

test("MemcachedServer.stop() ends a server that is stopped with SIGSTOP", async () => {
  const server = await startMemcached();
  server.kill("SIGSTOP");
  await server.stop();
  await server.waitExit();
});

test("MemcachedServer.restart() starts an empty server on the same port and socket", async () => {
  for (const unixSocket of [false, true]) {
    await using server = await startMemcached({ unixSocket });
    const { port, socketPath, pid } = server;
    await rawCommand(server, "ms before-restart 1\r\n1\r\n");
    server.kill("SIGKILL");
    await server.waitExit();
    await server.restart();
    assert.equal(server.port, port);
    assert.equal(server.socketPath, socketPath);
    assert.notEqual(server.pid, pid);
    assert.equal(await rawCommand(server, "mg before-restart v\r\n"), "EN\r\n");
    await server.restart();
    assert.match(await rawCommand(server, "version\r\n"), /^VERSION 1\.6\.\d+\r\n$/);
  }
});

test("startMemcached() with a fixed port that is taken rejects", async () => {
  await withMemcached(async (server) => {
    await assert.rejects(startMemcached({ port: server.port }), /Cannot start memcached/);
  });
});

test("settledFdCount() sees the descriptors of a stopped server closed", async () => {
  const before = openFdCount();
  await withMemcached(async (server) => {
    await rawCommand(server, "");
    assert.ok(openFdCount() > 0);
  }, { unixSocket: true });
  const after = await settledFdCount(before);
  assert.ok(after <= before, `${after} descriptors open, ${before} before`);
});
