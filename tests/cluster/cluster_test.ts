/**
 * Cluster tests against three real memcached processes: where keys land (ketama, modula,
 * weights, a single server, unix sockets among TCP servers), `getMany` across servers (caller
 * order, duplicates, concurrent batches, one server down), per-server connection pools and
 * idle connections, commands aimed at one server, and replies read one byte at a time.
 *
 * Where a key is stored is checked without the client under test: a raw `mg` on every server.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { type MemcachedServer, rawCommand, serverStat, startMemcached } from "../_memcached.ts";
import { type Proxy, startProxy } from "../_proxy.ts";
import {
  assertAllZero,
  assertFailed,
  assertOk,
  closeAfter,
  endpointName,
  keysByServer,
  type Outcome,
  pattern,
  recordingConnector,
  settle,
  startServers,
  waitFor,
  type WireRecord,
  within,
} from "../_util.ts";
import {
  Client,
  type ClientOptions,
  connect,
  type Distribution,
  type ErrorCode,
  HashRing,
  type Key,
  MemcachedError,
  type RingServer,
  type ServerAddress,
  type Value,
} from "../../mod.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** Key number `i`. */
function key(i: number): string {
  return `key:${i}`;
}

/** `key(0) .. key(n - 1)`. */
function keyRange(n: number): string[] {
  return Array.from({ length: n }, (_, i) => key(i));
}

/** Stores every key with its own name as its value. */
async function seed(client: Client, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((k) => client.set(k, k)));
}

/**
 * Reads `keys` straight from `server` (one raw `mg <key> v` each, not through the client
 * under test): each key's value as text, or `undefined` where the server has no such item.
 */
async function rawValues(
  server: MemcachedServer,
  keys: readonly string[],
): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for (let start = 0; start < keys.length; start += 500) {
    const batch = keys.slice(start, start + 500);
    const reply = await rawCommand(server, batch.map((k) => `mg ${k} v\r\n`).join(""));
    let at = 0;
    for (const k of batch) {
      const end = reply.indexOf("\r\n", at);
      assert.ok(end >= 0, `raw mg ${k}: the reply ends early: ${JSON.stringify(reply)}`);
      const line = reply.slice(at, end);
      at = end + 2;
      if (line === "EN") {
        out.push(undefined);
        continue;
      }
      const match = /^VA (\d+)$/.exec(line);
      assert.ok(match !== null, `raw mg ${k}: unexpected line ${JSON.stringify(line)}`);
      const length = Number(match[1]);
      out.push(reply.slice(at, at + length));
      at += length + 2;
    }
    assert.equal(at, reply.length, "raw mg: trailing bytes in the reply");
  }
  return out;
}

/**
 * Asserts that every key of `keys` is stored (with its own name as value) on the server
 * `client.serverFor()` names for it, and on no other server of `servers`.
 */
async function assertPlacement(
  client: Client,
  servers: readonly MemcachedServer[],
  keys: readonly string[],
): Promise<void> {
  for (const server of servers) {
    const name = server.socketPath ?? server.address;
    const values = await rawValues(server, keys);
    keys.forEach((k, i) => {
      const expected = client.serverFor(k) === name ? k : undefined;
      assert.equal(values[i], expected, `${k} on ${name} (serverFor says ${client.serverFor(k)})`);
    });
  }
}

/** A deterministic pseudo-random sequence in `0 .. 2^32 - 1` (a 32-bit LCG). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state;
  };
}

/** Fails unless `promise` rejects at once-ish with a MemcachedError whose code is `code`. */
async function expectRejects(
  promise: Promise<unknown>,
  code: ErrorCode,
  what: string,
): Promise<void> {
  assertFailed(await within(5_000, what, settle(promise)), [code], what);
}

/** Each server's share of `keys`, by `client.serverFor()`, as fractions of the key count. */
function shares(client: Client, keys: readonly Key[]): Map<string, number> {
  const counts = new Map<string, number>(client.servers.map((name) => [name, 0]));
  for (const k of keys) {
    const name = client.serverFor(k);
    counts.set(name, counts.get(name)! + 1);
  }
  return new Map([...counts].map(([name, count]) => [name, count / keys.length]));
}

const DISTRIBUTIONS: Distribution[] = ["ketama", "modula"];

// ---------------------------------------------------------------------------------------------
// Where keys land

for (const distribution of DISTRIBUTIONS) {
  test(`Keys set through the client are stored on the server Client.serverFor() names (${distribution})`, async () => {
    await using servers = await startServers(3, () => startMemcached());
    const client = await connect(servers.map((s) => s.address), { distribution });
    await closeAfter(client, async () => {
      const keys = keyRange(3_000);
      await seed(client, keys);
      const groups = keysByServer(client, keys);
      for (const server of servers) {
        const own = groups.get(server.address)!.length;
        const share = own / keys.length;
        assert.ok(
          share >= 0.2 && share <= 0.47,
          `${server.address} holds ${(share * 100).toFixed(1)}% of the keys (${distribution})`,
        );
        // Every item a server holds is one the client routed to it.
        assert.equal(await serverStat(server, "curr_items"), own, `items on ${server.address}`);
      }
      await assertPlacement(client, servers, keys.slice(0, 300));
      // And every key reads back through the client from where it was put.
      const found = await client.getMany(keys);
      assert.equal(found.size, keys.length);
      assert.equal(found.failed.size, 0);
    });
    assertAllZero(client);
  });
}

/** Server lists given to the client, and the same servers as HashRing takes them. */
const RING_CASES: Array<{ name: string; list: ServerAddress[]; ring: RingServer[] }> = [
  {
    name: "three equal servers",
    list: ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"],
    ring: ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"],
  },
  {
    name: "weighted servers written as strings and objects",
    list: ["10.0.0.1:11211:3", { host: "10.0.0.2", port: 11211 }, {
      host: "10.0.0.3",
      port: 11212,
      weight: 2,
    }],
    ring: ["10.0.0.1:11211:3", "10.0.0.2:11211", { host: "10.0.0.3", port: 11212, weight: 2 }],
  },
  {
    name: "a unix socket among TCP servers",
    list: ["/tmp/mica-test.sock", "127.0.0.1:11211", "cache-2:11211:2"],
    ring: [{ host: "/tmp/mica-test.sock", port: 0 }, "127.0.0.1:11211", "cache-2:11211:2"],
  },
];

for (const distribution of DISTRIBUTIONS) {
  test(`Client.serverFor() agrees with a HashRing of the same servers for 10,000 keys (${distribution})`, () => {
    const encoder = new TextEncoder();
    for (const c of RING_CASES) {
      using client = new Client(c.list, { distribution });
      const ring = new HashRing(c.ring, { distribution });
      for (let i = 0; i < 10_000; i++) {
        // Some keys as bytes: the same key must land on the same server either way.
        const k: Key = i % 7 === 0 ? encoder.encode(`user:${i}`) : `user:${i}`;
        const expected = ring.serverFor(k);
        if (client.serverFor(k) !== expected) {
          assert.fail(`${c.name}: user:${i} goes to ${client.serverFor(k)}, ring says ${expected}`);
        }
      }
    }
  });
}

test("Weights shift ketama shares in proportion (3:1:1 gives about 60/20/20)", () => {
  using client = new Client(["10.0.0.1:11211:3", "10.0.0.2:11211", "10.0.0.3:11211"]);
  const s = shares(client, Array.from({ length: 10_000 }, (_, i) => `user:${i}`));
  const heavy = s.get("10.0.0.1:11211")!;
  assert.ok(heavy > 0.52 && heavy < 0.68, `weight 3 got ${heavy}`);
  for (const light of ["10.0.0.2:11211", "10.0.0.3:11211"]) {
    const share = s.get(light)!;
    assert.ok(share > 0.13 && share < 0.27, `weight 1 (${light}) got ${share}`);
  }
  // The same servers without weights share about equally.
  using even = new Client(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]);
  for (const [name, share] of shares(even, Array.from({ length: 10_000 }, (_, i) => `user:${i}`))) {
    assert.ok(share > 0.26 && share < 0.41, `${name} got ${share} of an even ring`);
  }
});

test("A single server gets every key, whatever its weight or the distribution", () => {
  const keys = Array.from({ length: 2_000 }, (_, i) => `user:${i}`);
  const cases: Array<[ServerAddress | ServerAddress[], ClientOptions, string]> = [
    ["127.0.0.1:11299", {}, "127.0.0.1:11299"],
    [["127.0.0.1:11299:7"], { distribution: "modula" }, "127.0.0.1:11299"],
    [[{ path: "/tmp/mica-one.sock" }], {}, "/tmp/mica-one.sock"],
  ];
  for (const [address, options, name] of cases) {
    using client = new Client(address, options);
    assert.deepEqual(client.servers, [name]);
    for (const k of keys) if (client.serverFor(k) !== name) assert.fail(`${k} left ${name}`);
  }
});

test("Unix-socket and TCP servers share one list and each holds the keys serverFor() gives it", async () => {
  await using unix = await startMemcached({ unixSocket: true });
  await using tcp = await startServers(2, () => startMemcached());
  const path = unix.socketPath!;
  const servers = [unix, ...tcp];
  const client = await connect([path, tcp[0]!.address, tcp[1]!.address]);
  await closeAfter(client, async () => {
    assert.deepEqual(client.servers, [path, tcp[0]!.address, tcp[1]!.address]);
    const keys = keyRange(900);
    const groups = keysByServer(client, keys);
    const onSocket = groups.get(path)!.length;
    assert.ok(onSocket > 100, `only ${onSocket} of 900 keys go to the unix socket`);
    const ring = new HashRing([{ host: path, port: 0 }, tcp[0]!.address, tcp[1]!.address]);
    for (const k of keys) assert.equal(client.serverFor(k), ring.serverFor(k), k);
    await seed(client, keys);
    assert.equal(await serverStat(unix, "curr_items"), onSocket);
    await assertPlacement(client, servers, keys.slice(0, 200));
    const found = await client.getMany(keys);
    assert.deepEqual([...found.keys()], keys);
    for (const [k, v] of found) assert.equal(v, k);
  });
  assertAllZero(client);
});

// ---------------------------------------------------------------------------------------------
// getMany across servers

test("Client.getMany() over three servers returns exactly the hits, in the caller's order", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const client = await connect(servers.map((s) => s.address));
  await closeAfter(client, async () => {
    // key(i) exists for even i: as text, or as bytes for every third of them.
    const stored = new Map<string, Value>();
    for (let i = 0; i < 200; i += 2) {
      stored.set(key(i), i % 3 === 0 ? pattern(16 + i, i) : `value of ${key(i)}`);
    }
    await Promise.all([...stored].map(([k, v]) => client.set(k, v)));
    // 300 requested keys: existing and missing ones, many repeated, in a scrambled order.
    const next = lcg(42);
    const list = Array.from(
      { length: 300 },
      (_, i) => i % 10 === 9 ? `missing:${i}` : key(next() % 200),
    );
    assert.ok(new Set(list).size < list.length, "the list should repeat keys");
    const expected: string[] = [];
    for (const k of list) if (stored.has(k) && !expected.includes(k)) expected.push(k);

    const routed = new Map<string, number>();
    for (const k of list) {
      routed.set(client.serverFor(k), (routed.get(client.serverFor(k)) ?? 0) + 1);
    }
    const before = await Promise.all(servers.map((s) => serverStat(s, "cmd_get")));

    const found = await within(5_000, "getMany()", client.getMany(list));
    assert.deepEqual([...found.keys()], expected, "hits in the order of their first appearance");
    for (const [k, v] of found) assert.deepEqual(v, stored.get(k), `value of ${k}`);
    assert.equal(found.failed.size, 0);

    // Each server was asked for exactly its own keys (repeats included), in that one call.
    const after = await Promise.all(servers.map((s) => serverStat(s, "cmd_get")));
    servers.forEach((s, i) => {
      const asked = routed.get(s.address) ?? 0;
      assert.ok(asked > 0, `no key of the list goes to ${s.address}`);
      assert.equal(after[i]! - before[i]!, asked, `mg commands ${s.address} received`);
    });

    // Edge cases: an empty list, and keys all on one server.
    assert.equal((await client.getMany([])).size, 0);
    const one = expected.filter((k) => client.serverFor(k) === servers[0]!.address);
    assert.deepEqual([...(await client.getMany(one)).keys()], one);
  });
  assertAllZero(client);
});

/** What {@linkcode withHeldGetMany} hands its body. */
interface HeldGetMany {
  client: Client;
  proxies: Proxy[];
  keys: string[];
  /** The getMany's outcome, once the proxies let its replies through. */
  pending: Promise<Outcome>;
}

/**
 * Three servers behind proxies, a client with `options` on them and 300 seeded keys, and a
 * getMany of those keys whose batch is written to every server while the paused proxies hold
 * all replies. After `body`, the proxies are resumed, the client is closed and must be idle,
 * and the proxies are closed.
 */
async function withHeldGetMany(
  options: ClientOptions,
  body: (held: HeldGetMany) => Promise<void>,
): Promise<void> {
  await using servers = await startServers(3, () => startMemcached());
  const proxies: Proxy[] = [];
  try {
    for (const server of servers) proxies.push(await startProxy(server));
    const client = await connect(proxies.map((p) => p.address), options);
    await closeAfter(client, async () => {
      const keys = keyRange(300);
      await seed(client, keys);
      // Hold every reply: if batches ran one after another, only one could be written.
      for (const proxy of proxies) proxy.pause();
      const pending = settle(client.getMany(keys));
      await waitFor(
        "a batch to be in flight on every server",
        () => client.counters().servers.every((s) => s.inFlight === 1),
      );
      await body({ client, proxies, keys, pending });
    }, () => {
      for (const proxy of proxies) proxy.resume();
    });
    assertAllZero(client);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
}

/** Asserts that a getMany `outcome` found every one of `keys`, in their order. */
function assertFoundAll(outcome: Outcome, keys: readonly string[]): void {
  assertOk(outcome, "getMany()");
  const found = (outcome as Extract<Outcome, { ok: true }>).value as Map<string, Value>;
  assert.deepEqual([...found.keys()], keys);
}

test("Client.getMany() sends every server's batch at once, without waiting for another server", () =>
  withHeldGetMany({ timeout: 10_000 }, async ({ proxies, keys, pending }) => {
    for (const proxy of proxies) proxy.resume();
    assertFoundAll(await within(5_000, "getMany()", pending), keys);
  }));

test("Client.close() waits for a getMany over three servers and returns once it is answered", () =>
  withHeldGetMany({ timeout: 60_000 }, async ({ client, proxies, keys, pending }) => {
    // A close timeout far beyond the test's wait: close() must end because the getMany did.
    const closing = client.close({ timeout: 60_000 });
    for (const proxy of proxies) proxy.resume();
    await within(10_000, "close() after the getMany was answered", closing);
    assertFoundAll(await pending, keys);
  }));

test("Client.getMany() with one of three servers killed returns the live servers' keys and reports the rest as failed", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const victim = servers[1]!;
  const client = await connect(servers.map((s) => s.address), { timeout: 2_000 });
  const downs: string[] = [];
  client.addEventListener("server-down", (event) => {
    downs.push((event as CustomEvent<{ server: string }>).detail.server);
  });
  await closeAfter(client, async () => {
    const keys = keyRange(300);
    await seed(client, keys);
    const list = [...keys, "missing:1", key(7), key(8), key(9)];
    // Where keys go, asked while every server is up.
    const lost = new Set(list.filter((k) => client.serverFor(k) === victim.address));
    assert.ok(lost.size > 30, `only ${lost.size} keys go to the killed server`);
    victim.kill("SIGKILL");
    await within(5_000, "memcached to exit", victim.waitExit());

    const allowed: ErrorCode[] = ["CONNECTION_CLOSED", "CONNECT_FAILED", "SERVER_DEAD"];
    /** Checks one partial result: live keys found, the victim's keys failed, nothing both. */
    const check = (found: Awaited<ReturnType<Client["getMany"]>>, codes: ErrorCode[]) => {
      for (const k of list) {
        if (lost.has(k)) {
          assert.equal(found.has(k), false, `${k} of the killed server was found`);
          const error = found.failed.get(k);
          assert.ok(error instanceof MemcachedError, `${k} is not reported failed`);
          assert.ok(codes.includes(error.code), `${k} failed with ${error.code}`);
        } else {
          assert.equal(found.failed.has(k), false, `${k} of a live server failed`);
          assert.equal(found.get(k), k.startsWith("missing:") ? undefined : k, k);
        }
      }
      assert.equal(found.failed.size, lost.size);
      assert.deepEqual(
        [...found.keys()],
        list.filter((k, i) => !lost.has(k) && !k.startsWith("missing:") && list.indexOf(k) === i),
      );
    };

    check(await within(5_000, "getMany()", client.getMany(list)), allowed);
    await expectRejects(
      client.getMany(list, { allOrNothing: true }),
      "CONNECT_FAILED",
      "getMany({ allOrNothing }) with a server down",
    );
    // Each call fails one more connection: within failureLimit (3) calls the server is dead.
    for (let i = 0; i < 5 && downs.length === 0; i++) {
      check(await within(5_000, "getMany()", client.getMany(list)), allowed);
    }
    assert.deepEqual(downs, [victim.address]);
    check(await within(5_000, "getMany()", client.getMany(list)), ["SERVER_DEAD"]);
    await expectRejects(
      client.getMany(list, { allOrNothing: true }),
      "SERVER_DEAD",
      "getMany({ allOrNothing }) with a server dead",
    );
  });
  assertAllZero(client);
});

// ---------------------------------------------------------------------------------------------
// Pools

/**
 * Runs `workers` concurrent loops of `rounds` gets each over `keys` (which hold their own
 * names), and returns the most connections each server had open at any sample.
 */
async function loadedGets(
  client: Client,
  keys: readonly string[],
  workers: number,
  rounds: number,
): Promise<Map<string, number>> {
  const most = new Map<string, number>(client.servers.map((name) => [name, 0]));
  const sample = () => {
    for (const s of client.counters().servers) {
      most.set(s.server, Math.max(most.get(s.server)!, s.connections));
    }
  };
  const worker = async (w: number) => {
    for (let r = 0; r < rounds; r++) {
      const k = keys[(w * rounds + r) % keys.length]!;
      const value = await client.get(k);
      assert.equal(value, k);
      sample();
    }
  };
  await within(
    20_000,
    "the load",
    Promise.all(Array.from({ length: workers }, (_, w) => worker(w))),
  );
  return most;
}

/** The records of the connections `records` opened to each server, by server name. */
function recordsByServer(records: readonly WireRecord[]): Map<string, WireRecord[]> {
  const out = new Map<string, WireRecord[]>();
  for (const record of records) {
    const name = endpointName(record.endpoint);
    out.set(name, [...(out.get(name) ?? []), record]);
  }
  return out;
}

test("poolSize: 3 opens more than one and at most three connections per server under load, and uses each", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const { connector, records } = recordingConnector();
  const client = await connect(servers.map((s) => s.address), { poolSize: 3, connector });
  await closeAfter(client, async () => {
    const keys = keyRange(300);
    await seed(client, keys);
    const most = await loadedGets(client, keys, 64, 40);
    const opened = recordsByServer(records);
    for (const server of servers) {
      const name = server.address;
      assert.ok(most.get(name)! > 1, `${name} never had a second connection`);
      assert.ok(most.get(name)! <= 3, `${name} had ${most.get(name)} connections`);
      const own = opened.get(name) ?? [];
      assert.ok(own.length > 1 && own.length <= 3, `${own.length} connections opened to ${name}`);
      // Requests are spread: each connection carried a real part of the server's requests.
      const total = own.reduce((sum, r) => sum + r.written, 0);
      for (const record of own) {
        assert.ok(
          record.written >= total * 0.1,
          `a connection to ${name} carried ${record.written} of ${total} bytes`,
        );
      }
    }
    assert.equal(client.counters().connections, records.length, "every opened connection is open");
  });
  assertAllZero(client);
});

test("poolSize: 1 never opens a second connection to a server under the same load", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const { connector, records } = recordingConnector();
  const client = await connect(servers.map((s) => s.address), { poolSize: 1, connector });
  await closeAfter(client, async () => {
    const keys = keyRange(300);
    await seed(client, keys);
    const most = await loadedGets(client, keys, 64, 40);
    for (const [name, count] of most) assert.equal(count, 1, `connections to ${name}`);
    assert.deepEqual(
      records.map((r) => endpointName(r.endpoint)).sort(),
      servers.map((s) => s.address).sort(),
      "exactly one connection was opened to each server",
    );
  });
  assertAllZero(client);
});

test("eager: true opens every pooled connection at connect(); without it one per server", async () => {
  await using servers = await startServers(3, () => startMemcached());
  for (const eager of [true, false]) {
    const { connector, records } = recordingConnector();
    const client = await connect(servers.map((s) => s.address), { poolSize: 2, eager, connector });
    await closeAfter(client, async () => {
      await waitFor(
        "the connections to open",
        () => client.counters().connections === records.length,
      );
      assert.equal(
        records.length,
        eager ? 6 : 3,
        `connections opened by connect() (eager: ${eager})`,
      );
      for (const server of client.counters().servers) {
        assert.equal(server.connections, eager ? 2 : 1, `${server.server} (eager: ${eager})`);
      }
    });
    assertAllZero(client);
  }
});

test("idleTimeout closes idle connections to every server and the next request reopens one", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const { connector, records } = recordingConnector();
  const client = await connect(servers.map((s) => s.address), { idleTimeout: 100, connector });
  const events: string[] = [];
  for (const type of ["server-down", "error", "reconnecting"]) {
    client.addEventListener(type, () => events.push(type));
  }
  // The servers that connections were opened to since the last call, sorted. (Counting open
  // connections instead would race the idle timeout: one server's connection may idle out
  // before a slower server has answered.)
  const opened = () => records.splice(0).map((r) => endpointName(r.endpoint)).sort();
  const everyServer = servers.map((s) => s.address).sort();
  const idleClose = async (after: string) => {
    await waitFor("idle connections to close", () => client.counters().connections === 0);
    for (const s of client.counters().servers) {
      assert.deepEqual([s.state, s.failures], ["up", 0], `${s.server} after an idle close`);
    }
    assert.deepEqual(opened(), [], `no connection was opened after ${after}`);
  };
  await closeAfter(client, async () => {
    const keys = keyRange(300);
    for (let round = 0; round < 2; round++) {
      // Opened on demand, then closed once idle; transparently reopened, one per server again.
      await seed(client, keys);
      assert.deepEqual(opened(), everyServer, `round ${round}: the seeding's connections`);
      await idleClose("the seeding");
      const found = await within(5_000, "getMany() after idling", client.getMany(keys));
      assert.equal(found.size, keys.length);
      assert.equal(found.failed.size, 0);
      assert.deepEqual(opened(), everyServer, `round ${round}: the getMany()'s connections`);
      await idleClose("the getMany()");
    }
    assert.deepEqual(events, [], "an idle close is not a failure");
  });
  assertAllZero(client);
});

// ---------------------------------------------------------------------------------------------
// Commands aimed at servers

test("flush() clears every server; stats(), version() and verbosity() reach the named server", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const client = await connect(servers.map((s) => s.address));
  await closeAfter(client, async () => {
    const keys = keyRange(300);
    await seed(client, keys);
    for (const server of servers) {
      const stats = await client.stats(undefined, { server: server.address });
      assert.equal(stats.get("pid"), String(server.pid), `stats() of ${server.address}`);
      assert.match(await client.version({ server: server.address }), /^\d+\.\d+\.\d+/);
      await client.verbosity(0, { server: server.address });
    }
    assert.match(await client.version(), /^\d+\.\d+\.\d+/);
    assert.equal((await client.stats()).get("pid"), String(servers[0]!.pid), "the first server");

    // A flush aimed at one server clears only that one.
    const first = servers[0]!.address;
    await client.flush({ server: first });
    const groups = keysByServer(client, keys);
    for (const server of servers) {
      const own = groups.get(server.address)!;
      const values = await rawValues(server, own);
      const expected = server.address === first ? own.map(() => undefined) : own;
      assert.deepEqual(values, expected, `items on ${server.address} after flush({ server })`);
    }
    await client.flush();
    for (const server of servers) {
      const values = await rawValues(server, groups.get(server.address)!);
      assert.ok(values.every((v) => v === undefined), `${server.address} kept items`);
    }
    assert.equal((await client.getMany(keys)).size, 0);

    const unknown = "127.0.0.1:1";
    await expectRejects(client.stats(undefined, { server: unknown }), "INVALID_ARGUMENT", "stats");
    await expectRejects(client.version({ server: unknown }), "INVALID_ARGUMENT", "version");
    await expectRejects(client.verbosity(1, { server: unknown }), "INVALID_ARGUMENT", "verbosity");
    await expectRejects(client.flush({ server: unknown }), "INVALID_ARGUMENT", "flush");
  });
  assertAllZero(client);
});

// ---------------------------------------------------------------------------------------------
// Replies one byte at a time

/** Chunks read on `records` from index `from` of each record's chunk list on. */
function chunksSince(records: readonly WireRecord[], marks: Map<WireRecord, number>): number[] {
  return records.flatMap((record) => record.chunks.slice(marks.get(record) ?? 0));
}

/** Where each record's chunk list ends now. */
function markChunks(records: readonly WireRecord[]): Map<WireRecord, number> {
  return new Map(records.map((record) => [record, record.chunks.length]));
}

test("Replies trickled one byte at a time from three servers decode correctly", async () => {
  await using servers = await startServers(3, () => startMemcached());
  const proxies: Proxy[] = [];
  try {
    for (const server of servers) proxies.push(await startProxy(server));
    const { connector, records } = recordingConnector();
    const client = await connect(proxies.map((p) => p.address), { timeout: 10_000, connector });
    await closeAfter(client, async () => {
      // Short values, 1 KiB of text and 1 KiB of bytes holding CR and LF, on every server.
      const stored = new Map<string, Value>();
      for (let i = 0; i < 24; i++) {
        const v: Value = i % 3 === 0
          ? "x".repeat(1_024)
          : i % 3 === 1
          ? pattern(1_024, i)
          : `short ${i}`;
        stored.set(key(i), v);
      }
      await Promise.all([...stored].map(([k, v]) => client.set(k, v)));
      const groups = keysByServer(client, [...stored.keys()]);
      for (const [name, own] of groups) assert.ok(own.length > 0, `no key goes to ${name}`);

      // Requests trickle to the servers too, and replies one byte per event-loop turn.
      for (const proxy of proxies) proxy.trickle(true, { both: true });
      let marks = markChunks(records);
      for (const [k, v] of stored) {
        assert.deepEqual(await within(10_000, `get(${k})`, client.get(k)), v, k);
      }
      // A 1 KiB store trickled to its server, read back trickled.
      const big = pattern(1_024, 99);
      await within(10_000, "set() trickled", client.set("trickled:set", big));
      assert.deepEqual(await within(10_000, "get() trickled", client.get("trickled:set")), big);
      assert.equal(await client.get("missing"), undefined);
      const list = [...stored.keys(), "missing:1", key(0), key(1)];
      const found = await within(20_000, "getMany()", client.getMany(list));
      assert.deepEqual([...found.keys()], [...stored.keys()]);
      for (const [k, v] of found) assert.deepEqual(v, stored.get(k), k);
      assert.equal(found.failed.size, 0);
      for (const server of servers) {
        const proxy = proxies[servers.indexOf(server)]!;
        const stats = await within(
          20_000,
          "stats()",
          client.stats(undefined, { server: proxy.address }),
        );
        assert.equal(stats.get("pid"), String(server.pid));
      }
      assert.match(await client.version(), /^\d+\.\d+\.\d+/);
      // Each read saw a few bytes at most (one under Bun; Deno's loop polls I/O only every few
      // dozen turns while work is ready): replies were cut at nearly every position.
      const chunks = chunksSince(records, marks);
      const bytes = chunks.reduce((a, b) => a + b, 0);
      assert.ok(bytes > 20_000, `only ${bytes} bytes were read`);
      assert.ok(chunks.length * 128 >= bytes, `${bytes} bytes came in only ${chunks.length} reads`);

      // With a real delay between bytes every read holds one byte, in every runtime.
      const slow = proxies[0]!;
      const few: string[] = [];
      for (let i = 0; few.length < 4; i++) {
        if (client.serverFor(`few:${i}`) === slow.address) few.push(`few:${i}`);
      }
      for (const proxy of proxies) proxy.trickle(false);
      await Promise.all(few.map((k) => client.set(k, `value of ${k}`)));
      slow.trickle(true, { delayMs: 1 });
      marks = markChunks(records);
      const strict = await within(
        20_000,
        "getMany() one byte at a time",
        client.getMany([...few, "missing:2"]),
      );
      assert.deepEqual([...strict.keys()], few);
      for (const k of few) assert.equal(strict.get(k), `value of ${k}`, k);
      assert.equal(
        await within(5_000, "get() one byte at a time", client.get(few[0]!)),
        `value of ${few[0]}`,
      );
      const slowChunks = chunksSince(records, marks);
      const ones = slowChunks.filter((n) => n === 1).length;
      assert.ok(slowChunks.length > 10, `only ${slowChunks.length} reads`);
      assert.ok(
        ones * 2 >= slowChunks.length,
        `${ones} of ${slowChunks.length} reads held one byte`,
      );

      for (const proxy of proxies) proxy.trickle(false);
      const fast = await within(5_000, "getMany() at full speed", client.getMany(list));
      assert.equal(fast.size, stored.size);
    });
    assertAllZero(client);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
});
