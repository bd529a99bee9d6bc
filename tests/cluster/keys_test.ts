/**
 * Key prefixes (libmemcached's namespace), long-key hashing and the unweighted consistent
 * distribution, through the client: placement is checked against vector files made by
 * libmemcached itself (`scripts/vectors/ring_vectors.c`), the bytes on the wire against a real
 * memcached read without the prefix, in all three protocols.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "../_harness.ts";
import { startMemcached } from "../_memcached.ts";
import { expectCode, utf8 } from "../_util.ts";
import { Client, type ClientOptions, connect, type Protocol } from "../../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];

function readVectors(name: string): { servers: string[]; rows: string[][] } {
  const text = readFileSync(new URL(`../fixtures/vectors/${name}`, import.meta.url), "utf8");
  const lines = text.split("\n").filter((line) => line !== "");
  const header = lines.shift() ?? "";
  const servers = header.match(/servers\(host:port(?::weight)?[^)]*\)=(\S+)/)?.[1]?.split(",");
  assert.ok(servers !== undefined, `${name} names its servers`);
  return {
    servers: servers.map((s) => s.split(":").slice(0, 2).join(":")),
    rows: lines.map((line) => line.split("\t")),
  };
}

const PLACEMENT: Array<[string, ClientOptions]> = [
  ["g_ketama_prefix_3servers.tsv", { prefix: "app:" }],
  ["h_ketama_prefix_hashed_3servers.tsv", { prefix: "app:", hashPrefix: true }],
  ["e_consistent_3servers.tsv", { distribution: "consistent" }],
  ["f_consistent_md5_hostnames_4servers.tsv", { distribution: "consistent", hash: "md5" }],
];

for (const [name, options] of PLACEMENT) {
  test(`Client.serverFor() with ${JSON.stringify(options)} agrees with libmemcached (${name})`, () => {
    const { servers, rows } = readVectors(name);
    using client = new Client(servers, options);
    let mismatches = 0;
    let first = "";
    for (const [key, server] of rows) {
      const chosen = client.serverFor(key!);
      if (chosen !== server) {
        mismatches++;
        first ||= `${JSON.stringify(key)}: ${chosen}, libmemcached ${server}`;
      }
    }
    assert.ok(rows.length > 9_000);
    assert.equal(mismatches, 0, `${mismatches} of ${rows.length} keys differ, first ${first}`);
  });
}

test("A Uint8Array key with a prefix goes where its string does", () => {
  const servers = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"];
  for (const hashPrefix of [false, true]) {
    using client = new Client(servers, { prefix: "app:", hashPrefix });
    for (let i = 0; i < 200; i++) {
      const key = `user:${i}`;
      assert.equal(client.serverFor(utf8(key)), client.serverFor(key), key);
    }
  }
});

test("new Client() rejects a prefix that cannot start a key, naming the option", () => {
  for (const prefix of ["a b", "tab\t", "nl\n", "x".repeat(129), "é".repeat(65)]) {
    assert.throws(
      () => new Client("127.0.0.1:11211", { prefix }),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, "INVALID_ARGUMENT", JSON.stringify(prefix));
        assert.match((error as Error).message, /^Cannot use option prefix: /);
        return true;
      },
    );
  }
  assert.throws(
    () => new Client("127.0.0.1:11211", { prefix: 1 as unknown as string }),
    /Cannot use option prefix: it is not a string/,
  );
  for (
    const [option, value] of [["longKeys", "truncate"], ["hashPrefix", "yes"], ["hash", "crc"]]
  ) {
    assert.throws(
      () => new Client("127.0.0.1:11211", { [option!]: value }),
      new RegExp(`^MemcachedError: Cannot use option ${option}`),
    );
  }
  using ok = new Client("127.0.0.1:11211", { prefix: "x".repeat(128) });
  assert.equal(ok.servers.length, 1);
});

test("The prefix counts towards the 250-byte key limit; the empty key stays invalid", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { prefix: "app:" });
  await client.set("k".repeat(246), "fits");
  assert.equal(await client.get("k".repeat(246)), "fits");
  await expectCode(client.set("k".repeat(247), "x"), ["INVALID_KEY"], "the key");
  await expectCode(client.get(""), ["INVALID_KEY"], "the key");
  await expectCode(client.get(new Uint8Array(0)), ["INVALID_KEY"], "the key");
  await expectCode(client.get("a b"), ["INVALID_KEY"], "the key");
  assert.equal(client.counters().inFlight, 0);
});

for (const protocol of PROTOCOLS) {
  test(`[${protocol}] keys go out behind the prefix; results use the keys as given`, async () => {
    await using server = await startMemcached();
    await using plain = await connect(server.address, { protocol });
    await using client = await connect(server.address, { protocol, prefix: "app:" });
    await client.set("user:1", "one");
    await client.set(utf8("user:2"), "two");
    assert.equal(await plain.get("app:user:1"), "one");
    assert.equal(await plain.get("app:user:2"), "two");
    assert.equal(await plain.get("user:1"), undefined);
    await plain.set("app:user:3", "three");
    const found = await client.getMany(["user:1", "user:3", "user:4"]);
    assert.deepEqual([...found], [["user:1", "one"], ["user:3", "three"]]);
    assert.equal(
      await client.incr("hits", 5, protocol === "text" ? {} : { initial: 5 }),
      protocol === "text" ? undefined : 5n,
    );
    assert.equal(await client.delete("user:1"), true);
    assert.equal(await plain.get("app:user:1"), undefined);
    assert.equal(await client.touch("user:3", 60), true);
  });

  test(`[${protocol}] longKeys "hash" sends a long key as the MD5 hex of its bytes`, async () => {
    await using server = await startMemcached();
    await using plain = await connect(server.address, { protocol });
    await using client = await connect(server.address, {
      protocol,
      prefix: "app:",
      longKeys: "hash",
    });
    const long = `report:${"é".repeat(200)}`; // 407 bytes
    const md5 = createHash("md5").update(long).digest("hex");
    await client.set(long, "big");
    assert.equal(await plain.get(`app:${md5}`), "big");
    assert.equal(await client.get(long), "big");
    const found = await client.getMany([long, "short"]);
    assert.deepEqual([...found.keys()], [long]);
    // A key that fits is sent as it is.
    await client.set("k".repeat(246), "fits");
    assert.equal(await plain.get(`app:${"k".repeat(246)}`), "fits");
    await client.set("k".repeat(247), "hashed");
    const hex = createHash("md5").update("k".repeat(247)).digest("hex");
    assert.equal(await plain.get(`app:${hex}`), "hashed");
  });
}

test("[meta] base64 keys with a prefix: the prefix and key bytes go out encoded together", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { base64Keys: true, prefix: "ns:" });
  await using plain = await connect(server.address, { base64Keys: true });
  const key = new Uint8Array([0, 1, 2, 0xff, 0x20, 0x0a]);
  await client.set(key, "binary");
  const full = new Uint8Array([...utf8("ns:"), ...key]);
  assert.equal(await plain.get(full), "binary");
  // 183 bytes plus the 3-byte prefix is the 186-byte base64 limit.
  await client.set(new Uint8Array(183).fill(7), "fits");
  await expectCode(client.set(new Uint8Array(184).fill(7), "x"), ["INVALID_KEY"], "the key");
  await using hashing = await connect(server.address, {
    base64Keys: true,
    prefix: "ns:",
    longKeys: "hash",
  });
  await hashing.set(new Uint8Array(184).fill(7), "hashed");
  const md5 = createHash("md5").update(new Uint8Array(184).fill(7)).digest("hex");
  assert.equal(await plain.get(`ns:${md5}`), "hashed");
});
