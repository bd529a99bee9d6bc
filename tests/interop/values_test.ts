/**
 * Values cross languages both ways: what php-memcached, pylibmc and pymemcache store (strings,
 * bytes, integers, floats, booleans, JSON, compressed with zlib and FastLZ) reads back in Mica
 * with the matching `serializer`, and what Mica stores reads back in them as the same value.
 * Items a scheme cannot express (pickle, PHP's serialize()) fail with `DECODE_FAILED` and leave
 * the connection in step.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { startMemcached } from "../_memcached.ts";
import { pattern } from "../_util.ts";
import { connect, type FlagScheme, MemcachedError } from "../../mod.ts";
import { type PeerRequest, type PeerValue, runPeer } from "./_peers.ts";

const bytes = (data: Uint8Array): PeerValue => ({
  $bytes: btoa(String.fromCharCode(...data)),
});
/** Bytes that are not UTF-8 (so no client can mistake them for text). */
const BINARY = Uint8Array.of(0, 0xff, 0xfe, 0x80, 10, 13, 0);
const LONG_TEXT = "Lorem ipsum dolor sit amet ".repeat(200); // 5,400 bytes: compressed by php
const HUGE_TEXT = Array.from({ length: 12_000 }, (_, i) => `line ${i} ${i % 7}\n`).join(""); // >64 KiB

interface Case {
  scheme: FlagScheme;
  peer: Omit<PeerRequest, "servers" | "ops">;
  /** What the peer stores, and what Mica must read back. */
  reads: Array<[string, PeerValue, unknown]>;
  /** What Mica stores, and what the peer must read back (as the peer's JSON). */
  writes: Array<[string, unknown, PeerValue]>;
}

const CASES: Case[] = [
  {
    scheme: "php",
    peer: { client: "php", options: { OPT_SERIALIZER: "SERIALIZER_JSON" } },
    reads: [
      ["string", "héllo wörld", "héllo wörld"],
      ["int", { $int: "42" }, 42],
      ["negative int", { $int: "-7" }, -7],
      ["big int", { $int: "9007199254740993" }, 9007199254740993n],
      ["float", { $float: "1.5" }, 1.5],
      ["true", true, true],
      ["false", false, false],
      ["array as JSON", { a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }],
      ["bytes", bytes(BINARY), new TextDecoder().decode(BINARY)],
      ["FastLZ level 1 (php's default compression)", LONG_TEXT, LONG_TEXT],
      ["FastLZ level 2 (over 64 KiB)", HUGE_TEXT, HUGE_TEXT],
    ],
    writes: [
      ["string", "héllo", "héllo"],
      ["int", 42, { $int: "42" }],
      ["big int", 9007199254740993n, { $int: "9007199254740993" }],
      ["float", 2.25, { $float: "2.25" }],
      ["true", true, true],
      ["false", false, false],
      ["object", { a: [1, "x"] }, { a: [1, "x"] }],
      ["bytes", BINARY, bytes(BINARY)],
      ["compressed text", LONG_TEXT, LONG_TEXT],
    ],
  },
  {
    scheme: "php",
    peer: { client: "php", options: { OPT_COMPRESSION_TYPE: "COMPRESSION_ZLIB" } },
    reads: [["zlib-compressed text", LONG_TEXT, LONG_TEXT], ["short text", "x", "x"]],
    writes: [],
  },
  {
    scheme: "pylibmc",
    peer: { client: "pylibmc" },
    reads: [
      ["str", "héllo", "héllo"],
      ["bytes", bytes(BINARY), BINARY],
      ["int", { $int: "42" }, 42],
      ["big int", { $int: String(2n ** 70n) }, 2n ** 70n],
      ["bool (stored as an integer)", true, 1],
    ],
    writes: [
      ["str", "héllo", "héllo"],
      ["bytes", BINARY, bytes(BINARY)],
      ["int", -42, { $int: "-42" }],
      ["big int", 2n ** 70n, { $int: String(2n ** 70n) }],
      ["boolean (read as 1)", true, { $int: "1" }],
      ["compressed str", LONG_TEXT, LONG_TEXT],
      [
        "compressed bytes",
        pattern(20_000, 3).map((b) => b & 7),
        bytes(pattern(20_000, 3).map((b) => b & 7)),
      ],
    ],
  },
  {
    scheme: "pymemcache",
    peer: { client: "pymemcache" },
    reads: [
      ["str", "héllo", "héllo"],
      ["bytes", bytes(BINARY), BINARY],
      ["int", { $int: "42" }, 42],
    ],
    writes: [
      ["str", "héllo", "héllo"],
      ["bytes", BINARY, bytes(BINARY)],
      ["int", 7, { $int: "7" }],
      ["big int", 2n ** 64n, { $int: String(2n ** 64n) }],
    ],
  },
];

for (const { scheme, peer, reads, writes } of CASES) {
  const name = `${peer.client}${peer.options ? ` ${JSON.stringify(peer.options)}` : ""}`;
  if (reads.length > 0) {
    test(`interop values: Mica (${scheme}) reads what ${name} stored`, async () => {
      await using server = await startMemcached();
      await using client = await connect(server.address, { serializer: scheme });
      const stored = await runPeer({
        ...peer,
        servers: [server.address],
        ops: reads.map(([, value], i) => ({ op: "set", key: `peer:${i}`, value })),
      });
      assert.ok(stored.every((ok) => ok === true), `${name} stored every value`);
      for (const [i, [what, , expected]] of reads.entries()) {
        assert.deepEqual(await client.get<unknown>(`peer:${i}`), expected, what);
      }
      const found = await client.getMany<string, unknown>(reads.map((_, i) => `peer:${i}`));
      assert.deepEqual([...found.values()], reads.map(([, , expected]) => expected));
    });
  }
  if (writes.length > 0) {
    test(`interop values: ${name} reads what Mica (${scheme}) stored`, async () => {
      await using server = await startMemcached();
      await using client = await connect(server.address, {
        serializer: scheme,
        compression: { threshold: 1000 },
      });
      for (const [i, [, value]] of writes.entries()) await client.set(`mica:${i}`, value);
      const read = await runPeer({
        ...peer,
        servers: [server.address],
        ops: writes.map((_, i) => ({ op: "get", key: `mica:${i}` })),
      });
      for (const [i, [what, , expected]] of writes.entries()) {
        assert.deepEqual(read[i], expected, what);
      }
      // The long values went out compressed (flag bits of the scheme), and read back in Mica.
      for (const [i, [what, value]] of writes.entries()) {
        if (typeof value === "string" && value.length > 1000) {
          const item = await client.gets(`mica:${i}`, { as: "bytes" });
          assert.ok((item?.value.length ?? Infinity) < value.length / 4, `${what} is compressed`);
          assert.equal(await client.get(`mica:${i}`), value);
        }
      }
    });
  }
}

test("interop values: pickled and PHP-serialized items fail with DECODE_FAILED, nothing else does", async () => {
  await using server = await startMemcached();
  const servers = [server.address];
  await runPeer({
    client: "pylibmc",
    servers,
    ops: [{ op: "set", key: "pickled", value: { a: 1 } }],
  });
  await runPeer({
    client: "php",
    servers,
    ops: [{ op: "set", key: "serialized", value: { a: 1 } }],
  });
  for (
    const [scheme, key, hint] of [
      ["pylibmc", "pickled", /pickled by Python/],
      ["php", "serialized", /SERIALIZER_JSON/],
    ] as const
  ) {
    await using client = await connect(server.address, { serializer: scheme });
    await client.set("fine", "ok");
    await assert.rejects(
      client.get(key),
      (error: unknown) =>
        error instanceof MemcachedError && error.code === "DECODE_FAILED" &&
        hint.test(error.message),
    );
    const found = await client.getMany([key, "fine"]);
    assert.equal(found.get("fine"), "ok");
    assert.equal(found.failed.get(key)?.code, "DECODE_FAILED");
    assert.deepEqual(await client.get(key, { as: "bytes" }) instanceof Uint8Array, true);
    assert.equal(await client.get("fine"), "ok", "the connection is still in step");
  }
});
