/**
 * Connection strings, comma-separated server lists, `MEMCACHE_SERVERS`, and the check that
 * every option named is one Mica knows.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "./_harness.ts";
import { rawCommand, startMemcached } from "./_memcached.ts";
import { Client, type ClientOptions, connect, MemcachedError } from "../mod.ts";
import { resolve } from "../src/connection_string.ts";

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MemcachedError);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

test("a connection string gives servers, shared credentials and query options", () => {
  const { servers, options } = resolve(
    "memcached://app:p%40ss%3Aword@cache-a:11211,cache-b:11212,[::1]:11213/?timeout=250&protocol=binary&failover=eject&eager=true",
    { poolSize: 2 },
  );
  assert.deepEqual(servers, ["cache-a:11211", "cache-b:11212", "[::1]:11213"]);
  assert.deepEqual(options, {
    username: "app",
    password: "p@ss:word",
    timeout: 250,
    protocol: "binary",
    failover: "eject",
    eager: true,
    poolSize: 2,
  });
  // The case the issue found: the user is "u", not the scheme.
  assert.deepEqual(resolve("memcached://u:pw@host", {}), {
    servers: ["host"],
    options: { username: "u", password: "pw" },
  });
  assert.deepEqual(resolve("memcacheds://cache:11211", {}).options, { tls: true });
  // The options object wins over the query.
  assert.equal(resolve("memcached://h/?timeout=9", { timeout: 5 }).options.timeout, 5);
  using client = new Client("memcached://u:pw@h1:11211,h2:11212?prefix=app:");
  assert.deepEqual(client.servers, ["h1:11211", "h2:11212"]);
});

test("a comma-separated string is a server list; a socket path stays whole", () => {
  assert.deepEqual(resolve("h1, h2:11212 ,", {}).servers, ["h1", "h2:11212"]);
  assert.deepEqual(resolve("/run/mc,1.sock", {}).servers, ["/run/mc,1.sock"]);
  using client = new Client("10.0.0.1,10.0.0.2:11212");
  assert.deepEqual(client.servers, ["10.0.0.1:11211", "10.0.0.2:11212"]);
});

test("with no address, MEMCACHE_SERVERS names the servers; without it, a typed error", () => {
  const saved = process.env.MEMCACHE_SERVERS;
  try {
    process.env.MEMCACHE_SERVERS = "memcached://e1:11211,e2:11212?timeout=100";
    using client = new Client();
    assert.deepEqual(client.servers, ["e1:11211", "e2:11212"]);
    delete process.env.MEMCACHE_SERVERS;
    rejects(() => new Client(), /no servers given, and MEMCACHE_SERVERS is not set/);
  } finally {
    if (saved === undefined) delete process.env.MEMCACHE_SERVERS;
    else process.env.MEMCACHE_SERVERS = saved;
  }
});

test("an unknown or misspelt option is refused, naming it and the likely one", () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [
      { timeOut: 5 },
      /^Cannot use option timeOut: there is no such option \(did you mean timeout\?\)$/,
    ],
    [{ keyPrefix: "x" }, /option keyPrefix: .*did you mean prefix\?/],
    [{ maxInflight: 3 }, /did you mean maxInFlight\?/],
    [{ retryTimout: 3 }, /did you mean retryTimeout\?/],
    [{ bogusSetting: 1 }, /^Cannot use option bogusSetting: there is no such option$/],
  ];
  for (const [options, message] of cases) {
    rejects(() => new Client("127.0.0.1", options as ClientOptions), message);
  }
  rejects(() => new Client("memcached://h/?timout=5"), /option timout: .*did you mean timeout\?/);
  rejects(
    () => new Client("memcached://h/?timeout=soon"),
    /option timeout: "soon" .* not a number/,
  );
  rejects(() => new Client("memcached://h/?eager=maybe"), /option eager: .* not true or false/);
  rejects(() => new Client("memcached://h/?connector=x"), /cannot be given in a connection string/);
  rejects(() => new Client("memcached://u:%E0@h"), /credentials are not valid percent-encoding/);
  rejects(() => new Client("memcached://"), /names no server/);
  rejects(
    () => new Client("memcached://a:b@h/x/y"),
    /Cannot parse connection string "memcached:\/\/\*\*\*@h\/x\/y"/,
  );
});

test("connect() with a connection string talks to the server with its query options", async () => {
  await using server = await startMemcached();
  await using client = await connect(`memcached://${server.address}/?prefix=app:&timeout=500`);
  await client.set("k", "v");
  assert.match(await rawCommand(server, "mg app:k v\r\n"), /^VA 1/);
});
