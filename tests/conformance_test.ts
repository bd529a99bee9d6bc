/**
 * One operation suite over every protocol (meta, text, binary) and transport (TCP, unix
 * socket, TLS), against real memcached processes. The same file runs under `deno test` and
 * `bun test`, so the suite covers protocol x transport x runtime.
 *
 * Each case starts its own memcached (with `-Z` and test certificates for TLS) and checks the
 * same results through the same public API, and the same typed errors where a protocol cannot
 * express an operation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { type MemcachedServer, startMemcached } from "./_memcached.ts";
import { makeCertificates, serving } from "./_tls.ts";
import { assertBytes, assertIdle, MAX_U64, pattern, withCode } from "./_util.ts";
import { type Client, type ClientOptions, connect, FLAG_BYTES } from "../mod.ts";
import type { Protocol } from "../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];
const TRANSPORTS = ["tcp", "unix", "tls"] as const;
type TransportKind = typeof TRANSPORTS[number];

interface Target {
  client: Client;
  server: MemcachedServer;
  protocol: Protocol;
}

/** Starts memcached for `transport`, connects a client speaking `protocol`, runs `body`. */
async function withTarget(
  protocol: Protocol,
  transport: TransportKind,
  body: (target: Target) => Promise<void>,
  extra: ClientOptions = {},
): Promise<void> {
  if (transport === "tls") {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server),
    });
    await using client = await connect(`localhost:${server.port}`, {
      protocol,
      tls: { ca: [certs.ca.cert] },
      ...extra,
    });
    await body({ client, server, protocol });
    return;
  }
  await using server = await startMemcached({ unixSocket: transport === "unix" });
  const address = transport === "unix" ? server.socketPath! : server.address;
  await using client = await connect(address, { protocol, ...extra });
  await body({ client, server, protocol });
}

const SUITE: Record<string, (t: Target) => Promise<void>> = {
  "values keep their type and bytes": async ({ client }) => {
    const texts: Record<string, string> = {
      ascii: "hello",
      utf8: "héllo wörld ✓ 🎉 日本語",
      empty: "",
      framing: "line\r\nVALUE x 0 1\r\nEND\r\nVA 5 O1\r\nMN\r\n",
    };
    for (const [key, value] of Object.entries(texts)) await client.set(key, value);
    for (const [key, value] of Object.entries(texts)) {
      assert.equal(await client.get(key), value, key);
    }
    const bytes = new Uint8Array([13, 10, 0, 255, 128, 13, 10]);
    await client.set("bytes", bytes);
    assertBytes(await client.get("bytes"), bytes, "bytes");
    const large = pattern(512 * 1024, 7);
    await client.set("large", large);
    assertBytes(await client.get("large"), large, "512 KiB value");
    assert.equal(await client.get("missing"), undefined);
    assertBytes(await client.get("ascii", { as: "bytes" }), new TextEncoder().encode("hello"));
    await client.set("raw", "x", { flags: 0xdead_beef });
    assert.equal((await client.gets("raw"))?.flags, 0xdead_beef);
    assert.equal((await client.gets("bytes"))?.flags, FLAG_BYTES);
  },

  "stores answer as memcached decides": async ({ client }) => {
    assert.equal(await client.add("k", "1"), true);
    assert.equal(await client.add("k", "2"), false);
    assert.equal(await client.replace("k", "3"), true);
    assert.equal(await client.replace("nope", "3"), false);
    assert.equal(await client.append("k", "4"), true);
    assert.equal(await client.prepend("k", "2"), true);
    assert.equal(await client.append("nope", "x"), false);
    assert.equal(await client.prepend("nope", "x"), false);
    assert.equal(await client.get("k"), "234");
    const item = await client.gets("k");
    assert.ok(item !== undefined && typeof item.cas === "bigint");
    assert.equal(await client.cas("k", "5", item.cas), true);
    assert.equal(await client.cas("k", "6", item.cas), false, "a stale CAS token");
    assert.equal(await client.cas("nope", "6", item.cas), false, "CAS on a missing key");
    assert.equal(await client.get("k"), "5");
    assert.equal(await client.delete("k"), true);
    assert.equal(await client.delete("k"), false);
    assert.equal(await client.get("k"), undefined);
  },

  "counters are exact to 2^64-1": async ({ client, protocol }) => {
    await client.set("n", "10");
    assert.equal(await client.incr("n", 5), 15n);
    assert.equal(await client.decr("n", 20), 0n, "decr stops at 0");
    await client.set("n", String(MAX_U64));
    assert.equal(await client.incr("n", 1), 0n, "incr wraps at 2^64");
    assert.equal(await client.incr("n", MAX_U64), MAX_U64);
    assert.equal(await client.incr("missing", 1), undefined);
    await client.set("text", "abc");
    await assert.rejects(client.incr("text", 1), withCode("CLIENT_ERROR"));
    if (protocol === "text") {
      await assert.rejects(client.incr("auto", 1, { initial: 7 }), withCode("UNSUPPORTED"));
      assert.equal(await client.get("auto"), undefined, "nothing was sent");
    } else {
      assert.equal(await client.incr("auto", 1, { initial: 7, ttl: 100 }), 7n);
      assert.equal(await client.incr("auto", 1, { initial: 7 }), 8n);
      assert.equal(await client.decr("auto2", 1, { initial: 3 }), 3n);
    }
  },

  "touch and getAndTouch update TTLs": async ({ client }) => {
    await client.set("t", "v", { ttl: 100 });
    assert.equal(await client.touch("t", 0), true);
    assert.equal(await client.touch("missing", 10), false);
    assert.equal(await client.getAndTouch("t", 50), "v");
    assert.equal(await client.getAndTouch("missing", 50), undefined);
    // A TTL in the past expires the item at once.
    await client.set("gone", "v", { ttl: new Date(Date.now() - 60_000) });
    assert.equal(await client.get("gone"), undefined);
  },

  "getMany, flush, version, stats and verbosity": async ({ client, protocol }) => {
    const keys = Array.from({ length: 200 }, (_, i) => `m:${i}`);
    for (let i = 0; i < keys.length; i += 2) await client.set(keys[i]!, `v${i}`);
    const found = await client.getMany([...keys, "m:0"]);
    assert.equal(found.size, 100);
    assert.equal(found.failed.size, 0);
    assert.deepEqual([...found.keys()].slice(0, 3), ["m:0", "m:2", "m:4"]);
    for (const [key, value] of found) assert.equal(value, `v${key.slice(2)}`);
    assert.equal((await client.getMany([])).size, 0);
    assert.match(await client.version(), /^\d+\.\d+\.\d+/);
    const stats = await client.stats();
    assert.ok(Number(stats.get("cmd_get")) > 0, "cmd_get counted");
    assert.ok((await client.stats("settings")).has("maxconns"));
    if (protocol === "binary") {
      // memcached has no binary verbosity command (and misreads the rest of such a packet).
      await assert.rejects(client.verbosity(0), withCode("UNSUPPORTED"));
    } else await client.verbosity(0);
    await client.flush();
    assert.equal(await client.get("m:0"), undefined);
  },

  "bad input is refused before any byte and disturbs nothing": async ({ client }) => {
    await client.set("survivor", "yes");
    await assert.rejects(client.set("a\r\nflush_all", "x"), withCode("INVALID_KEY"));
    await assert.rejects(client.get("a b"), withCode("INVALID_KEY"));
    await assert.rejects(client.get("k".repeat(251)), withCode("INVALID_KEY"));
    await assert.rejects(client.set("k", "x", { ttl: -1 }), withCode("INVALID_TTL"));
    await assert.rejects(client.incr("k", -1), withCode("INVALID_DELTA"));
    await assert.rejects(
      client.set("k", new Uint8Array(1024 * 1024 + 1)),
      withCode("VALUE_TOO_LARGE"),
    );
    assert.equal(await client.get("survivor"), "yes");
    const stats = await client.stats();
    assert.equal(stats.get("cmd_flush"), "0", "no flush_all reached the server");
  },
};

for (const protocol of PROTOCOLS) {
  for (const transport of TRANSPORTS) {
    for (const [name, body] of Object.entries(SUITE)) {
      test(`conformance [${protocol} / ${transport}]: ${name}`, async () => {
        await withTarget(protocol, transport, async (target) => {
          await body(target);
          assertIdle(target.client, 1, `${protocol}/${transport} client`);
        });
      });
    }
  }
}

test("conformance: items written in one protocol read back the same in the others", async () => {
  await using server = await startMemcached();
  await using meta = await connect(server.address, { protocol: "meta" });
  await using text = await connect(server.address, { protocol: "text" });
  await using binary = await connect(server.address, { protocol: "binary" });
  const clients = [meta, text, binary];
  for (const writer of clients) {
    for (const [i, reader] of clients.entries()) {
      const key = `x:${i}`;
      await writer.set(key, "text ✓");
      await writer.set(`${key}:b`, new Uint8Array([0, 13, 10, 255]));
      assert.equal(await reader.get(key), "text ✓");
      assertBytes(await reader.get(`${key}:b`), new Uint8Array([0, 13, 10, 255]));
      const item = await reader.gets(key);
      assert.ok(item !== undefined);
      assert.equal(await writer.cas(key, "next", item.cas), true, "CAS tokens are shared");
    }
  }
});

test("conformance: base64 keys name the same item in meta and binary; text refuses them", async () => {
  await using server = await startMemcached();
  await using meta = await connect(server.address, { protocol: "meta", base64Keys: true });
  await using binary = await connect(server.address, { protocol: "binary", base64Keys: true });
  const key = new Uint8Array([0, 1, 2, 32, 13, 10, 255]);
  await meta.set(key, "from meta");
  assert.equal(await binary.get(key), "from meta");
  await binary.set("a key with spaces", "from binary");
  assert.equal(await meta.get("a key with spaces"), "from binary");
  await assert.rejects(
    connect(server.address, { protocol: "text", base64Keys: true }),
    withCode("UNSUPPORTED"),
  );
});
