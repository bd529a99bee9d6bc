/**
 * The runtime adapters against a real memcached: the client's operations through an explicit
 * `connector`, and the {@linkcode Connector} contract of `src/transport.ts` driven directly.
 *
 * Only the adapter of the runtime running the tests can work (`denoConnector` needs `Deno`,
 * `bunConnector` needs `Bun`), so each test runs that one and its name says which is skipped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { test } from "./_harness.ts";
import { type MemcachedServer, pickFreePort, rawCommand, startMemcached } from "./_memcached.ts";
import { bunConnector } from "../src/adapters/bun.ts";
import { denoConnector } from "../src/adapters/deno.ts";
import {
  type Endpoint,
  HIGH_WATER_MARK,
  type Transport,
  type TransportHandlers,
} from "../src/transport.ts";
import { connect, type Connector, type ServerAddress, type Value } from "../mod.ts";

const IS_BUN = "Bun" in globalThis;
const RUNTIME = IS_BUN ? "Bun" : "Deno";
const connector: Connector = IS_BUN ? bunConnector : denoConnector;
const NAME = IS_BUN ? "bunConnector" : "denoConnector";
/** Appended to every test name: the other runtime's adapter cannot run here. */
const SKIP_NOTE = `(${IS_BUN ? "denoConnector" : "bunConnector"} is skipped under ${RUNTIME})`;

const encoder = new TextEncoder();
const MIB = 1024 * 1024;

/** A deterministic byte pattern of `length` bytes that holds CR, LF and every byte value. */
function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function assertBytes(value: Value | undefined, expected: Uint8Array, what: string): void {
  assert.ok(value instanceof Uint8Array, `${what}: expected a Uint8Array, got ${typeof value}`);
  assert.equal(value.length, expected.length, `${what}: length`);
  assert.ok(Buffer.from(value).equals(Buffer.from(expected)), `${what}: the bytes differ`);
}

/** The server's `total_connections` statistic, read with a plain socket. */
async function totalConnections(server: MemcachedServer): Promise<number> {
  const match = /^STAT total_connections (\d+)\r$/m.exec(await rawCommand(server, "stats\r\n"));
  assert.ok(match);
  return Number(match[1]);
}

// --- the client through the adapter ------------------------------------------------------------

/** A small suite of client operations through `connector`, on a server started with -I 2m. */
async function runClientSuite(address: ServerAddress, server: MemcachedServer): Promise<void> {
  await using client = await connect(address, { connector, timeout: 5_000 });
  await client.set("text", "héllo");
  await client.set("bytes", new Uint8Array([0, 13, 10, 255]));
  assert.equal(await client.get("text"), "héllo");
  assertBytes(await client.get("bytes"), new Uint8Array([0, 13, 10, 255]), "bytes");
  assert.equal(await client.get("missing"), undefined);
  const found = await client.getMany(["text", "missing", "bytes"]);
  assert.deepEqual([...found.keys()].sort(), ["bytes", "text"]);
  assert.equal(await client.incr("n", 5, { initial: 1 }), 1n);
  assert.equal(await client.incr("n", 5), 6n);
  assert.equal(await client.decr("n", 10), 0n);
  assert.equal(await client.delete("text"), true);
  assert.equal(await client.delete("text"), false);
  // Exactly 1 MiB: the client's default maxValueSize, on a server that allows 2 MiB items.
  const big = pattern(MIB, 5);
  await client.set("big", big);
  assertBytes(await client.get("big"), big, "1 MiB value");
  assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${MIB}\r\n`);
  // 2,000 pipelined requests issued in one tick: each get follows its own set.
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 1_000; i++) {
    ops.push(client.set(`p:${i}`, `v${i}`), client.get(`p:${i}`));
  }
  const results = await Promise.all(ops);
  for (let i = 0; i < 1_000; i++) {
    if (results[2 * i + 1] !== `v${i}`) assert.fail(`p:${i} read ${String(results[2 * i + 1])}`);
  }
  assert.deepEqual(client.counters(), { connections: 1, inFlight: 0, queued: 0 });
}

test(`${NAME} runs the client's operations over TCP ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ args: ["-I", "2m"] });
  await runClientSuite(server.address, server);
});

test(`${NAME} runs the client's operations over a unix socket ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ unixSocket: true, args: ["-I", "2m"] });
  assert.ok(server.socketPath !== undefined);
  await runClientSuite(server.socketPath, server);
});

// --- the Connector contract, driven directly ---------------------------------------------------

/** Handlers that record every call, and a way to wait until a condition holds. */
class Recorder implements TransportHandlers {
  chunks: Uint8Array[] = [];
  received = 0;
  /** The last bytes received, as latin1 text. */
  tail = "";
  drains = 0;
  closedCalls = 0;
  closedError: unknown = "closed() was not called";
  #wake: (() => void) | undefined = undefined;

  data(chunk: Uint8Array): void {
    // The adapter may reuse the chunk once this returns: keep a copy.
    this.chunks.push(chunk.slice());
    this.received += chunk.length;
    this.tail = (this.tail + Buffer.from(chunk.subarray(-16)).toString("latin1")).slice(-16);
    this.#wake?.();
  }

  drain(): void {
    this.drains++;
    this.#wake?.();
  }

  closed(error: unknown): void {
    this.closedCalls++;
    this.closedError = error;
    this.#wake?.();
  }

  bytes(): Uint8Array {
    return concat(this.chunks);
  }

  /** Resolves once `predicate` holds; fails after `timeout` ms. */
  async until(predicate: () => boolean, what: string, timeout = 5_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!predicate()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) assert.fail(`Timed out after ${timeout} ms waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, remaining);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

function open(endpoint: Endpoint, handlers: TransportHandlers): Promise<Transport> {
  return connector(endpoint, handlers, { signal: new AbortController().signal, noDelay: true });
}

/** Lets every pending callback run, so a late second `closed()` call would be seen. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Writes "version", a 4 MiB `ms` and an `mg` of it in one write over the high-water mark, then
 * reads every reply through `handlers.data`.
 */
async function driveLargeWrite(endpoint: Endpoint): Promise<void> {
  const recorder = new Recorder();
  const transport = await open(endpoint, recorder);
  const value = pattern(4 * MIB, 11);
  const request = concat([
    encoder.encode(`version\r\nms big ${value.length} T0\r\n`),
    value,
    encoder.encode("\r\nmg big v\r\nmn\r\n"),
  ]);
  assert.ok(request.length > HIGH_WATER_MARK);
  const accepted = transport.write(request);
  if (!IS_BUN) {
    // Deno writes asynchronously, so the whole request is still queued when write() returns.
    assert.equal(accepted, false, "write() over the high-water mark must return false");
  }
  // Bun writes synchronously what the kernel takes; over loopback TCP that can be all 4 MiB,
  // and then nothing is queued, write() rightly returns true and drain() never comes.
  await recorder.until(() => recorder.tail.endsWith("\r\nMN\r\n"), "the replies", 10_000);
  if (!accepted) await recorder.until(() => recorder.drains > 0, "drain()");
  assert.equal(recorder.drains, accepted ? 0 : 1, "drain() follows each write() that was refused");
  const reply = recorder.bytes();
  const head = Buffer.from(reply.subarray(0, 64)).toString("latin1");
  const match = /^VERSION \d+\.\d+\.\d+[^\r]*\r\nHD\r\nVA 4194304\r\n/.exec(head);
  assert.ok(match, `unexpected reply ${JSON.stringify(head)}`);
  const start = match[0].length;
  assert.equal(reply.length, start + value.length + "\r\nMN\r\n".length);
  assertBytes(reply.subarray(start, start + value.length), value, "4 MiB value read back");
  assert.equal(recorder.closedCalls, 0);
  transport.destroy();
  assert.equal(recorder.closedCalls, 1);
  assert.equal(recorder.closedError, undefined);
  await transport.done;
  await settle();
  assert.equal(recorder.closedCalls, 1, "closed() is called exactly once");
  assert.equal(transport.write(encoder.encode("version\r\n")), false, "write() after destroy()");
  transport.destroy();
  assert.equal(recorder.closedCalls, 1, "a second destroy() does not call closed() again");
}

/**
 * Streams a 16 MiB `ms` in 1 MiB writes to a server stopped with SIGSTOP, so the kernel buffers
 * fill and write() must return false; resumes the server and, like a well-behaved caller,
 * writes the rest only after each drain().
 */
async function driveBackpressure(server: MemcachedServer, endpoint: Endpoint): Promise<void> {
  const recorder = new Recorder();
  const transport = await open(endpoint, recorder);
  const size = 16 * MIB;
  const piece = pattern(MIB, 3);
  const chunks = [
    encoder.encode(`ms big ${size} T0\r\n`),
    ...Array.from({ length: size / MIB }, () => piece),
    encoder.encode("\r\nmn\r\n"),
  ];
  let next = 0;
  let refused = 0;
  /** Writes chunks until one is refused or none are left. */
  const writeSome = () => {
    while (next < chunks.length) {
      if (!transport.write(chunks[next++]!)) {
        refused++;
        return;
      }
    }
  };
  server.kill("SIGSTOP");
  try {
    writeSome();
    assert.equal(refused, 1, `write() never returned false in ${next} writes`);
    assert.ok(next < chunks.length, "the stopped server took every chunk");
  } finally {
    server.kill("SIGCONT");
  }
  while (next < chunks.length) {
    await recorder.until(() => recorder.drains >= refused, `drain() number ${refused}`);
    assert.equal(recorder.drains, refused, "one drain() follows each refused write()");
    writeSome();
  }
  await recorder.until(() => recorder.tail.endsWith("MN\r\n"), "the replies", 10_000);
  await recorder.until(() => recorder.drains >= refused, `drain() number ${refused}`);
  assert.equal(recorder.drains, refused, "one drain() follows each refused write()");
  assert.equal(Buffer.from(recorder.bytes()).toString("latin1"), "HD\r\nMN\r\n");
  transport.destroy();
  await transport.done;
  assert.equal(recorder.closedCalls, 1);
}

test(`${NAME} writes past the high-water mark, drains and reads every reply over TCP ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ args: ["-I", "5m"] });
  await driveLargeWrite({ kind: "tcp", host: server.host, port: server.port });
  assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${4 * MIB}\r\n`);
});

test(`${NAME} writes past the high-water mark, drains and reads every reply over a unix socket ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ unixSocket: true, args: ["-I", "5m"] });
  assert.ok(server.socketPath !== undefined);
  await driveLargeWrite({ kind: "unix", path: server.socketPath });
});

test(`${NAME} write() returns false under backpressure and drain() resumes it over TCP ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ args: ["-I", "17m"] });
  await driveBackpressure(server, { kind: "tcp", host: server.host, port: server.port });
  assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${16 * MIB}\r\n`);
});

test(`${NAME} write() returns false under backpressure and drain() resumes it over a unix socket ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ unixSocket: true, args: ["-I", "17m"] });
  assert.ok(server.socketPath !== undefined);
  await driveBackpressure(server, { kind: "unix", path: server.socketPath });
});

test(`${NAME} calls closed() exactly once when the server closes the connection ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached();
  for (const endpoint of [{ kind: "tcp", host: server.host, port: server.port }] as const) {
    const recorder = new Recorder();
    const transport = await open(endpoint, recorder);
    assert.equal(transport.write(encoder.encode("version\r\nquit\r\n")), true);
    await recorder.until(() => recorder.closedCalls > 0, "closed() after quit");
    assert.match(Buffer.from(recorder.bytes()).toString("latin1"), /^VERSION \d+\.\d+\.\d+/);
    assert.equal(recorder.closedError, undefined, "the server closing is not an error");
    await transport.done;
    transport.destroy();
    await settle();
    assert.equal(recorder.closedCalls, 1, "closed() is called exactly once");
  }
});

test(`${NAME} calls closed() exactly once when a unix socket server closes ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached({ unixSocket: true });
  assert.ok(server.socketPath !== undefined);
  const recorder = new Recorder();
  const transport = await open({ kind: "unix", path: server.socketPath }, recorder);
  transport.write(encoder.encode("quit\r\n"));
  await recorder.until(() => recorder.closedCalls > 0, "closed() after quit");
  await transport.done;
  transport.destroy();
  await settle();
  assert.equal(recorder.closedCalls, 1, "closed() is called exactly once");
});

test(`${NAME} calls closed() exactly once when destroyed with requests in flight ${SKIP_NOTE}`, async () => {
  await using server = await startMemcached();
  const recorder = new Recorder();
  const transport = await open({ kind: "tcp", host: server.host, port: server.port }, recorder);
  transport.write(pattern(3 * MIB));
  transport.destroy();
  transport.destroy();
  await transport.done;
  await settle();
  assert.equal(recorder.closedCalls, 1);
  assert.equal(recorder.closedError, undefined);
  assert.equal(await rawCommand(server, "version\r\n").then((r) => r.startsWith("VERSION")), true);
});

test(`${NAME} rejects a refused connection and an aborted signal ${SKIP_NOTE}`, async () => {
  const port = await pickFreePort();
  const recorder = new Recorder();
  await assert.rejects(
    connector({ kind: "tcp", host: "127.0.0.1", port }, recorder, {
      signal: new AbortController().signal,
      noDelay: true,
    }),
  );
  await assert.rejects(
    connector({ kind: "unix", path: "/nonexistent/mica-test.sock" }, recorder, {
      signal: new AbortController().signal,
      noDelay: true,
    }),
  );
  await using server = await startMemcached();
  const before = await totalConnections(server);
  const aborted = new AbortController();
  aborted.abort(new Error("gave up"));
  await assert.rejects(
    connector({ kind: "tcp", host: server.host, port: server.port }, recorder, {
      signal: aborted.signal,
      noDelay: true,
    }),
    /gave up/,
  );
  await settle();
  assert.equal(recorder.received, 0);
  // Only the second raw stats request connected in between.
  assert.equal(await totalConnections(server), before + 1);
});
