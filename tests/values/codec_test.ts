/**
 * The value layer against a real memcached in every protocol: compression (deflate, zstd) with
 * its threshold, the decompression-size guard, unreadable items isolated to their key, custom
 * serializers, and the checks of the value options. The FastLZ decoder is tested alone too
 * (php-memcached's FastLZ data is read in `tests/interop/values_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { test } from "../_harness.ts";
import { startMemcached } from "../_memcached.ts";
import { expectCode } from "../_util.ts";
import { Client, connect, MemcachedError, type Protocol, type Serializer } from "../../mod.ts";
import { fastlzDecompress } from "../../src/values/fastlz.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];
const TEXT = "compressible text, ".repeat(500); // 9,500 bytes

for (const protocol of PROTOCOLS) {
  for (const algorithm of ["deflate", "zstd"] as const) {
    test(`[${protocol}] ${algorithm}: values over the threshold are stored compressed and read back`, async () => {
      await using server = await startMemcached();
      await using client = await connect(server.address, {
        protocol,
        compression: { algorithm, threshold: 1000 },
      });
      const values: Array<[string, unknown]> = [
        ["text", TEXT],
        ["bytes", new TextEncoder().encode(TEXT)],
        ["json", { rows: Array.from({ length: 300 }, (_, i) => ({ i, name: "row" })) }],
        ["short", "under the threshold"],
        ["random", crypto.getRandomValues(new Uint8Array(5000))], // stored as it is
      ];
      for (const [key, value] of values) await client.set(key, value);
      for (const [key, value] of values) {
        assert.deepEqual(await client.get<unknown>(key), value, key);
      }
      const raw = async (key: string) => (await client.gets(key, { as: "bytes" }))!;
      const compressed = algorithm === "deflate" ? 48 : 144; // 16 + 32, 16 + 128
      assert.equal((await raw("text")).flags, compressed);
      assert.ok((await raw("text")).value.length < 200);
      assert.equal((await raw("bytes")).flags, compressed | 4);
      assert.equal((await raw("json")).flags, compressed | 6);
      assert.equal((await raw("short")).flags, 0, "short values are not compressed");
      assert.equal((await raw("random")).flags, 4, "incompressible values are not compressed");
      const found = await client.getMany<string, unknown>(values.map(([key]) => key));
      assert.deepEqual([...found], values);
    });
  }
}

test("A compressed item that would expand past maxDecompressedSize fails with VALUE_TOO_LARGE", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address, { maxDecompressedSize: 1024 * 1024 });
  await using python = await connect(server.address, {
    serializer: "pylibmc",
    maxDecompressedSize: 1024 * 1024,
  });
  // 64 MiB of zeros deflate to 64 KiB: a bomb for whoever inflates it blindly.
  const bomb = new Uint8Array(deflateSync(new Uint8Array(64 * 1024 * 1024)));
  await client.set("bomb", bomb, { flags: 8 }); // pylibmc's zlib flag, no size prefix
  await expectCode(python.get("bomb"), ["VALUE_TOO_LARGE"], "the zlib bomb");
  // Mica's own layout declares the size up front: refused before inflating anything.
  const prefixed = new Uint8Array(4 + bomb.length);
  new DataView(prefixed.buffer).setUint32(0, 64 * 1024 * 1024, true);
  prefixed.set(bomb, 4);
  await client.set("declared", prefixed, { flags: 48 });
  await expectCode(client.get("declared"), ["VALUE_TOO_LARGE"], "the declared bomb");
  await client.set("fine", "ok");
  const found = await client.getMany(["declared", "fine"]);
  assert.equal(found.get("fine"), "ok");
  assert.equal(found.failed.get("declared")?.code, "VALUE_TOO_LARGE");
  assert.equal(await python.get("fine", { as: "string" }), "ok", "the connections are in step");
  // Stored compressed, a value over the limit could never be read back: it is stored as it is.
  await using compressing = await connect(server.address, {
    compression: true,
    maxDecompressedSize: 10_000,
  });
  await compressing.set("big", "x".repeat(10_001));
  assert.equal((await compressing.gets("big", { as: "bytes" }))?.flags, 0, "not compressed");
  assert.equal(await compressing.get("big"), "x".repeat(10_001));
  await compressing.set("small", "x".repeat(9_000));
  assert.equal((await compressing.gets("small", { as: "bytes" }))?.flags, 48, "compressed");
});

test("Broken compressed data and unknown JSON fail their key with DECODE_FAILED", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const garbage = Uint8Array.of(16, 0, 0, 0, 1, 2, 3, 4, 5, 6);
  await client.set("zlib", garbage, { flags: 48 });
  await client.set("zstd", garbage, { flags: 144 });
  await client.set("fastlz", garbage, { flags: 80 });
  await client.set("json", "{not json", { flags: 6 });
  await client.set("short", Uint8Array.of(1, 2), { flags: 48 });
  await client.set("ok", "fine");
  const keys = ["zlib", "zstd", "fastlz", "json", "short"];
  for (const key of keys) await expectCode(client.get(key), ["DECODE_FAILED"], key);
  const found = await client.getMany([...keys, "ok"]);
  assert.deepEqual([...found], [["ok", "fine"]]);
  assert.deepEqual([...found.failed.keys()], keys);
  await assert.rejects(client.getMany(keys, { allOrNothing: true }), MemcachedError);
  // The stored data itself is still there for whoever wants it.
  assert.deepEqual(await client.get("zlib", { as: "bytes" }), garbage);
  assert.equal(await client.get("ok"), "fine");
});

test("A custom serializer stores and reads its own format; its errors are typed", async () => {
  await using server = await startMemcached();
  const serializer: Serializer = {
    serialize(value) {
      if (typeof value !== "object" || value === null) throw new TypeError("objects only");
      return { data: `v1:${JSON.stringify(value)}`, flags: 77 };
    },
    deserialize(data, flags) {
      const text = new TextDecoder().decode(data);
      if (flags !== 77 || !text.startsWith("v1:")) throw new Error(`not mine (flags ${flags})`);
      return JSON.parse(text.slice(3));
    },
  };
  await using client = await connect(server.address, { serializer });
  await client.set("doc", { a: 1 });
  assert.deepEqual(await client.get<unknown>("doc"), { a: 1 });
  assert.equal(await client.get("doc", { as: "string" }), 'v1:{"a":1}');
  assert.equal((await client.gets("doc"))?.flags, 77);
  await expectCode(client.set("bad", 5), ["INVALID_VALUE"], "serialize() threw");
  await using plain = await connect(server.address);
  await plain.set("foreign", "x");
  await expectCode(client.get("foreign"), ["DECODE_FAILED"], "deserialize() threw");
  const result = await client.setMany([["d1", { x: 1 }], ["d2", { y: 2 }]]);
  assert.equal(result.failed.size, 0);
  assert.deepEqual(await client.get<unknown>("d2"), { y: 2 });
});

test("new Client() rejects bad value options, naming them", () => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ["serializer", { serializer: "yaml" }],
    ["serializer", { serializer: { serialize: () => ({ data: "", flags: 0 }) } }],
    ["compression", { compression: "fast" }],
    ["compression.algorithm", { compression: { algorithm: "lz4" } }],
    ["compression.threshold", { compression: { threshold: -1 } }],
    ["compression.level", { compression: { level: 10 } }],
    ["compression", { serializer: "pylibmc", compression: { algorithm: "zstd" } }],
    ["compression", {
      serializer: { serialize: () => 0, deserialize: () => 0 },
      compression: true,
    }],
    ["maxDecompressedSize", { maxDecompressedSize: 0 }],
  ];
  for (const [option, options] of bad) {
    assert.throws(
      () => new Client("127.0.0.1:11211", options),
      (error: unknown) => {
        assert.ok(error instanceof MemcachedError, option);
        assert.equal(error.code, "INVALID_ARGUMENT", option);
        assert.match(error.message, new RegExp(`^Cannot use option ${option.replace(".", "\\.")}`));
        return true;
      },
    );
  }
});

test("fastlzDecompress() reads literal runs and matches of both levels, and refuses bad input", () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  // Level 1: a 3-byte literal run "abc", then a match of 3 bytes from 3 back.
  assert.equal(text(fastlzDecompress(Uint8Array.of(2, 97, 98, 99, 0x20, 2), 6)), "abcabc");
  // A long match (7 = "more length follows"): 6 + 1 extra + 3 = 10 copies of the byte before.
  assert.equal(text(fastlzDecompress(Uint8Array.of(0, 97, 0xe0, 1, 0), 11)), "a".repeat(11));
  // Level 2 (the first byte's top bits say so), same stream.
  assert.equal(text(fastlzDecompress(Uint8Array.of(0x22, 97, 98, 99, 0x20, 2), 6)), "abcabc");
  for (
    const [what, input, size] of [
      ["a truncated run", Uint8Array.of(5, 97, 98), 6],
      ["a match before the start", Uint8Array.of(0, 97, 0x20, 5), 4],
      ["more output than declared", Uint8Array.of(2, 97, 98, 99), 2],
      ["less output than declared", Uint8Array.of(2, 97, 98, 99), 9],
      ["an unknown level", Uint8Array.of(0x60, 97), 1],
      ["nothing", new Uint8Array(0), 3],
    ] as const
  ) {
    assert.throws(() => fastlzDecompress(input, size), RangeError, what);
  }
});
