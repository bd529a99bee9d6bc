/**
 * The runtime adapters against a real memcached: the client's operations through an explicit
 * `connector`, and the {@linkcode Connector} contract of `src/connection/transport.ts` driven directly.
 *
 * Each test runs twice: once for the adapter of the runtime running the tests (`denoConnector`
 * needs `Deno`, `bunConnector` needs `Bun`, so the other one cannot work and the name says it is
 * skipped), and once for `nodeConnector`, through the runtime's own `node:net`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import {
  type MemcachedServer,
  pickFreePort,
  rawCommand,
  serverStat,
  startMemcached,
} from "../_memcached.ts";
import {
  assertBytes,
  assertIdle,
  concat,
  IS_BUN,
  latin1,
  latin1Text,
  MIB,
  pattern,
  Recorder,
  runtimeConnector,
  sleep,
  suspend,
  utf8,
} from "../_util.ts";
import {
  type Connector,
  type Endpoint,
  HIGH_WATER_MARK,
  type Transport,
  type TransportHandlers,
} from "../../src/connection/transport.ts";
import { nodeConnector } from "../../src/adapters/node.ts";
import { connect } from "../../mod.ts";

const RUNTIME = IS_BUN ? "Bun" : "Deno";

/** An adapter under test. */
interface Adapter {
  /** Its export name, which starts every test name. */
  readonly name: string;
  readonly connector: Connector;
  /** Appended to every test name. */
  readonly note: string;
}

/** The adapters every test runs for. */
const ADAPTERS: readonly Adapter[] = [
  {
    name: IS_BUN ? "bunConnector" : "denoConnector",
    connector: runtimeConnector,
    // The other runtime's adapter cannot run here.
    note: `(${IS_BUN ? "denoConnector" : "bunConnector"} is skipped under ${RUNTIME})`,
  },
  {
    name: "nodeConnector",
    connector: nodeConnector,
    note: `(over ${RUNTIME}'s node:net)`,
  },
];

/** The transports every adapter test runs over. */
const TRANSPORTS = [
  { over: "TCP", unixSocket: false },
  { over: "a unix socket", unixSocket: true },
] as const;

/** Where `server` listens: its unix socket if it has one, else its TCP port. */
function endpointOf(server: MemcachedServer): Endpoint {
  return server.socketPath === undefined
    ? { kind: "tcp", host: server.host, port: server.port }
    : { kind: "unix", path: server.socketPath };
}

// --- the client through the adapter ------------------------------------------------------------

/**
 * A small suite of client operations through `connector`, on a server started with -I 2m and
 * reached at its unix socket if it has one, else over TCP.
 */
async function runClientSuite(server: MemcachedServer, connector: Connector): Promise<void> {
  const address = server.socketPath ?? server.address;
  await using client = await connect(address, { connector, timeout: 5_000, maxValueSize: 2 * MIB });
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
  // Exactly 1 MiB, on a server (and a client) allowing 2 MiB items.
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
  assertIdle(client, 1);
}

// --- the Connector contract, driven directly ---------------------------------------------------

function open(
  connector: Connector,
  endpoint: Endpoint,
  handlers: TransportHandlers,
): Promise<Transport> {
  return connector(endpoint, handlers, { signal: new AbortController().signal, noDelay: true });
}

/** Lets every pending callback run, so a late second `closed()` call would be seen. */
function callbacksRun(): Promise<void> {
  return sleep(20);
}

/**
 * Writes "version", a 4 MiB `ms` and an `mg` of it in one write over the high-water mark, then
 * reads every reply through `handlers.data`.
 */
async function driveLargeWrite(connector: Connector, endpoint: Endpoint): Promise<void> {
  const recorder = new Recorder();
  // Chunks that are not plain Uint8Arrays (a node:net Buffer, whose slice() shares memory).
  let notPlain = 0;
  const transport = await open(connector, endpoint, {
    data: (chunk) => {
      if (Object.getPrototypeOf(chunk) !== Uint8Array.prototype) notPlain++;
      recorder.data(chunk);
    },
    drain: () => recorder.drain(),
    closed: (error) => recorder.closed(error),
  });
  const value = pattern(4 * MIB, 11);
  const request = concat([
    utf8(`version\r\nms big ${value.length} T0\r\n`),
    value,
    utf8("\r\nmg big v\r\nmn\r\n"),
  ]);
  assert.ok(request.length > HIGH_WATER_MARK);
  const accepted = transport.write(request);
  if (!IS_BUN) {
    // Deno writes asynchronously (Deno.Conn and Deno's node:net alike), so the whole request is
    // still queued when write() returns.
    assert.equal(accepted, false, "write() over the high-water mark must return false");
  }
  // Bun writes synchronously what the kernel takes (Bun.connect and Bun's node:net alike; the
  // latter counts the whole chunk in writableLength until the kernel took all of it); over
  // loopback TCP that can be all 4 MiB, and then nothing is queued, write() rightly returns
  // true and drain() never comes.
  await recorder.until(() => recorder.tail.endsWith("\r\nMN\r\n"), "the replies", 10_000);
  if (!accepted) await recorder.until(() => recorder.drains > 0, "drain()");
  assert.equal(recorder.drains, accepted ? 0 : 1, "drain() follows each write() that was refused");
  const reply = recorder.bytes();
  const head = latin1Text(reply.subarray(0, 64));
  const match = /^VERSION \d+\.\d+\.\d+[^\r]*\r\nHD\r\nVA 4194304\r\n/.exec(head);
  assert.ok(match, `unexpected reply ${JSON.stringify(head)}`);
  const start = match[0].length;
  assert.equal(reply.length, start + value.length + "\r\nMN\r\n".length);
  assertBytes(reply.subarray(start, start + value.length), value, "4 MiB value read back");
  assert.equal(
    notPlain,
    0,
    `${notPlain} of ${recorder.chunks.length} chunks were not plain Uint8Arrays`,
  );
  assert.equal(recorder.closedCalls, 0);
  transport.destroy();
  assert.equal(recorder.closedCalls, 1);
  assert.equal(recorder.closedError, undefined);
  await transport.done;
  await callbacksRun();
  assert.equal(recorder.closedCalls, 1, "closed() is called exactly once");
  assert.equal(transport.write(utf8("version\r\n")), false, "write() after destroy()");
  transport.destroy();
  assert.equal(recorder.closedCalls, 1, "a second destroy() does not call closed() again");
}

/**
 * Streams a 16 MiB `ms` in 1 MiB writes to a server stopped with SIGSTOP, so the kernel buffers
 * fill and write() must return false; resumes the server and, like a well-behaved caller,
 * writes the rest only after each drain().
 */
async function driveBackpressure(
  connector: Connector,
  server: MemcachedServer,
  endpoint: Endpoint,
): Promise<void> {
  const recorder = new Recorder();
  const transport = await open(connector, endpoint, recorder);
  const size = 16 * MIB;
  const piece = pattern(MIB, 3);
  const chunks = [
    utf8(`ms big ${size} T0\r\n`),
    ...Array.from({ length: size / MIB }, () => piece),
    utf8("\r\nmn\r\n"),
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
  try {
    await suspend(server);
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
  assert.equal(latin1Text(recorder.bytes()), "HD\r\nMN\r\n");
  transport.destroy();
  await transport.done;
  assert.equal(recorder.closedCalls, 1);
}

for (const { name, note, connector } of ADAPTERS) {
  for (const { over, unixSocket } of TRANSPORTS) {
    test(`${name} runs the client's operations over ${over} ${note}`, async () => {
      await using server = await startMemcached({ unixSocket, args: ["-I", "2m"] });
      await runClientSuite(server, connector);
    });

    test(`${name} writes past the high-water mark, drains and reads every reply over ${over} ${note}`, async () => {
      await using server = await startMemcached({ unixSocket, args: ["-I", "5m"] });
      await driveLargeWrite(connector, endpointOf(server));
      assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${4 * MIB}\r\n`);
    });

    test(`${name} write() returns false under backpressure and drain() resumes it over ${over} ${note}`, async () => {
      await using server = await startMemcached({ unixSocket, args: ["-I", "17m"] });
      await driveBackpressure(connector, server, endpointOf(server));
      assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${16 * MIB}\r\n`);
    });

    test(`${name} calls closed() exactly once when the server closes the connection over ${over} ${note}`, async () => {
      await using server = await startMemcached({ unixSocket });
      const recorder = new Recorder();
      const transport = await open(connector, endpointOf(server), recorder);
      assert.equal(transport.write(utf8("version\r\nquit\r\n")), true);
      await recorder.until(() => recorder.closedCalls > 0, "closed() after quit");
      assert.match(latin1Text(recorder.bytes()), /^VERSION \d+\.\d+\.\d+/);
      assert.equal(recorder.closedError, undefined, "the server closing is not an error");
      await transport.done;
      transport.destroy();
      await callbacksRun();
      assert.equal(recorder.closedCalls, 1, "closed() is called exactly once");
    });
  }

  test(`${name} calls closed() exactly once when destroyed with requests in flight ${note}`, async () => {
    await using server = await startMemcached();
    const recorder = new Recorder();
    const transport = await open(connector, endpointOf(server), recorder);
    transport.write(pattern(3 * MIB));
    transport.destroy();
    transport.destroy();
    await transport.done;
    await callbacksRun();
    assert.equal(recorder.closedCalls, 1);
    assert.equal(recorder.closedError, undefined);
    assert.equal(
      await rawCommand(server, "version\r\n").then((r) => r.startsWith("VERSION")),
      true,
    );
  });

  test(`${name} write() copies what it queues, so the caller may reuse the chunk at once ${note}`, async () => {
    await using server = await startMemcached({ args: ["-I", "5m"] });
    const recorder = new Recorder();
    using transport = await open(connector, endpointOf(server), recorder);
    // A 4 MiB quiet set first, so the writes after it wait in the adapter's (or the socket's)
    // queue instead of reaching the kernel at once.
    transport.write(concat([`ms big ${4 * MIB} T0 q\r\n`, pattern(4 * MIB, 7), "\r\n"]));
    // Three sets written from one scratch buffer, overwritten after each write() and then
    // filled with "!": an adapter that kept a reference would send garbage.
    const scratch = new Uint8Array(64);
    for (const key of ["a", "b", "c"]) {
      const line = latin1(`ms ${key} 1 T0\r\n${key.toUpperCase()}\r\n`);
      scratch.set(line);
      transport.write(scratch.subarray(0, line.length));
    }
    scratch.fill(0x21);
    transport.write(latin1("mg a v\r\nmg b v\r\nmg c v\r\nmn\r\n"));
    await recorder.until(() => recorder.tail.endsWith("MN\r\n"), "the replies", 10_000);
    assert.equal(
      recorder.text,
      "HD\r\nHD\r\nHD\r\nVA 1\r\nA\r\nVA 1\r\nB\r\nVA 1\r\nC\r\nMN\r\n",
    );
    assert.equal(await rawCommand(server, "mg big s\r\n"), `HD s${4 * MIB}\r\n`);
  });

  test(`${name} writes chunks of every size across its buffers' boundaries byte for byte ${note}`, async () => {
    await using server = await startMemcached({ args: ["-I", "2m"] });
    const recorder = new Recorder();
    using transport = await open(connector, endpointOf(server), recorder);
    // Values around multiples of 64 KiB (the Deno adapter's buffers), each written in pieces
    // cut at uneven places, with no await in between so they pile up behind the first write.
    const K64 = 64 * 1024;
    const sizes = [0, 1, K64 - 1, K64, K64 + 1, 2 * K64 - 7, 3 * K64, 5 * K64 + 3, 1, 17];
    const values = sizes.map((size, i) => pattern(size, i + 1));
    values.forEach((value, i) => {
      transport.write(latin1(`ms v${i} ${value.length} T0 q\r\n`));
      const cuts = [0, Math.floor(value.length / 3), value.length - 1, value.length];
      for (let c = 1; c < cuts.length; c++) {
        const piece = value.subarray(Math.max(0, cuts[c - 1]!), Math.max(0, cuts[c]!));
        if (piece.length > 0) transport.write(piece);
      }
      transport.write(latin1("\r\n"));
    });
    transport.write(latin1("mn\r\n"));
    await recorder.until(() => recorder.tail.endsWith("MN\r\n"), "the replies", 10_000);
    assert.equal(recorder.text, "MN\r\n", "every quiet set was stored");
    await using client = await connect(server.address);
    for (const [i, value] of values.entries()) {
      assertBytes(await client.get(`v${i}`, { as: "bytes" }), value, `v${i}`);
    }
  });

  test(`${name} closes a transport held with using when the block ends ${note}`, async () => {
    await using server = await startMemcached();
    const recorder = new Recorder();
    let done: Promise<void>;
    {
      using transport = await open(connector, endpointOf(server), recorder);
      done = transport.done;
      assert.equal(transport.write(latin1("version\r\n")), true);
    }
    await done;
    await callbacksRun();
    assert.equal(recorder.closedCalls, 1);
    assert.equal(recorder.closedError, undefined);
  });

  test(`${name} rejects a refused connection and an aborted signal ${note}`, async () => {
    const port = await pickFreePort();
    const recorder = new Recorder();
    await assert.rejects(
      open(connector, { kind: "tcp", host: "127.0.0.1", port }, recorder),
    );
    await assert.rejects(
      open(connector, { kind: "unix", path: "/nonexistent/mica-test.sock" }, recorder),
    );
    await using server = await startMemcached();
    const before = await serverStat(server, "total_connections");
    const signal = AbortSignal.abort(new Error("gave up"));
    await assert.rejects(
      connector(endpointOf(server), recorder, { signal, noDelay: true }),
      /gave up/,
    );
    await callbacksRun();
    assert.equal(recorder.received, 0);
    // Only the second raw stats request connected in between.
    assert.equal(await serverStat(server, "total_connections"), before + 1);
  });
}
