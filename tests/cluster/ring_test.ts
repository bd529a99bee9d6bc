/**
 * Key-to-server choice matches libmemcached 1.1.4 exactly: every key of the vector files in
 * `tests/fixtures/vectors/` (made by libmemcached itself) goes to the same server, the ketama ring's
 * points are libmemcached's, and the hashes agree with RFC 1321 and node:crypto.
 *
 * Runs unchanged under `deno test --sanitize-ops --sanitize-resources` and `bun test`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "../_harness.ts";
import { MemcachedError } from "../../src/errors.ts";
import {
  HashRing,
  type HashRingOptions,
  ketamaPointCount,
  type RingServer,
} from "../../src/cluster/ring.ts";
import { ketamaHash, md5, md5Words, oneAtATime } from "../../src/cluster/hashes.ts";

const encoder = new TextEncoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);
const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** A vector file: its header line and its `key<TAB>column...` rows. */
interface Vectors {
  header: string;
  rows: string[][];
}

/** Reads a vector file of `tests/fixtures/vectors/`, the project's copy of libmemcached's. */
function readVectors(name: string): Vectors {
  const text = readFileSync(new URL(`../fixtures/vectors/${name}`, import.meta.url), "utf8");
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const header = lines.shift() ?? "";
  assert.ok(header.startsWith("# "), `${name} starts with a header line`);
  return { header, rows: lines.map((line) => line.split("\t")) };
}

/** The `servers(host:port:weight...)=` list of a vector file's header. */
function headerServers(header: string): string[] {
  const match = header.match(/servers\(host:port:weight[^)]*\)=(\S+)/);
  assert.ok(match?.[1], "the header lists the servers");
  return match[1].split(",");
}

/** The number of points each server owns, by server index. */
function pointCounts(ring: HashRing): number[] {
  const counts = ring.servers.map(() => 0);
  for (const point of ring.points()) counts[point.serverIndex]!++;
  return counts;
}

/** The number of points each server owns, by address. */
function pointsByAddress(ring: HashRing): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const point of ring.points()) counts[point.address] = (counts[point.address] ?? 0) + 1;
  return counts;
}

/** Asserts that `fn` throws a `MemcachedError` with `code` and a "Cannot ..." message. */
function assertInvalid(fn: () => unknown, code = "INVALID_ARGUMENT", what = ""): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MemcachedError, `${what}: a MemcachedError`);
    assert.equal(error.code, code, what);
    assert.match(error.message, /^Cannot [a-z ]+: \S/, what);
    assert.doesNotMatch(error.message, /\.$/, what);
    return true;
  });
}

// --- MD5 ------------------------------------------------------------------------------------

test("md5() matches the RFC 1321 test suite", () => {
  const suite: Array<[string, string]> = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  for (const [message, digest] of suite) assert.equal(hex(md5(utf8(message))), digest, message);
});

test("md5() matches node:crypto on random inputs of every length up to 300 bytes", () => {
  const out = new Uint8Array(16);
  for (let length = 0; length <= 300; length++) {
    for (let round = 0; round < 4; round++) {
      const bytes = new Uint8Array(randomBytes(length));
      const expected = createHash("md5").update(bytes).digest("hex");
      assert.equal(hex(md5(bytes)), expected, `${length} bytes`);
      assert.equal(md5(bytes, out), out, "md5() returns the buffer it was given");
      assert.equal(hex(out), expected, `${length} bytes into a reused buffer`);
    }
  }
  const large = new Uint8Array(randomBytes(100_003));
  assert.equal(hex(md5(large)), createHash("md5").update(large).digest("hex"), "100,003 bytes");
});

test("md5() hashes a view by its own bytes, not its whole buffer", () => {
  const buffer = utf8("xxabcyy");
  assert.equal(hex(md5(buffer.subarray(2, 5))), "900150983cd24fb0d6963f7d28e17f72");
});

test("md5() rejects an output buffer shorter than 16 bytes", () => {
  assert.throws(() => md5(utf8("abc"), new Uint8Array(15)), RangeError);
});

test("md5Words() returns the digest as four little-endian 32-bit words", () => {
  const digest = md5(utf8("127.0.0.1-0"));
  const view = new DataView(digest.buffer);
  const words = md5Words(utf8("127.0.0.1-0"));
  assert.deepEqual(Array.from(words), [0, 4, 8, 12].map((at) => view.getUint32(at, true)));
  assert.throws(() => md5Words(utf8("x"), new Uint32Array(3)), RangeError);
});

// --- Key hashes -----------------------------------------------------------------------------

test("ketamaHash() and oneAtATime() match libmemcached on key_hash_samples.tsv", () => {
  const { rows } = readVectors("key_hash_samples.tsv");
  assert.equal(rows.length, 100);
  for (const [key, md5Hash, oneAtATimeHash] of rows) {
    assert.ok(key !== undefined && md5Hash !== undefined && oneAtATimeHash !== undefined);
    const bytes = utf8(key);
    assert.equal(ketamaHash(bytes), Number(md5Hash), `MD5 of ${JSON.stringify(key)}`);
    assert.equal(oneAtATime(bytes), Number(oneAtATimeHash), `one_at_a_time of ${key}`);
  }
});

test("oneAtATime() sign-extends bytes of 0x80 and above, as libmemcached on x86-64", () => {
  // The unsigned reading of the byte 0xff would give 0x0fc0c0bf (the sum starts at 255).
  let h = -1 >>> 0; // 0xff read as a signed char is -1
  h = (h + h * 1024) >>> 0;
  h = (h ^ (h >>> 6)) >>> 0;
  h = (h + h * 8) >>> 0;
  h = (h ^ (h >>> 11)) >>> 0;
  h = (h + h * 32768) >>> 0;
  assert.equal(oneAtATime(Uint8Array.of(0xff)), h);
  assert.notEqual(oneAtATime(Uint8Array.of(0xff)), 0x0fc0c0bf);
  assert.equal(oneAtATime(new Uint8Array(0)), 0);
});

test("ketamaHash() and oneAtATime() hash only the first length bytes when given a length", () => {
  const bytes = utf8("user:42 and more");
  assert.equal(ketamaHash(bytes, 7), ketamaHash(utf8("user:42")));
  assert.equal(oneAtATime(bytes, 7), oneAtATime(utf8("user:42")));
  assert.throws(() => ketamaHash(bytes, 17), RangeError);
  assert.throws(() => oneAtATime(bytes, -1), RangeError);
  assert.throws(() => oneAtATime(bytes, 1.5), RangeError);
});

// --- libmemcached vectors -------------------------------------------------------------------

const VECTOR_FILES: Array<[string, HashRingOptions]> = [
  ["a_ketama_md5_3servers.tsv", {}],
  ["b_ketama_md5_weighted_5servers.tsv", {}],
  ["c_modula_default_3servers.tsv", { distribution: "modula" }],
  ["d_ketama_md5_hostnames_4servers.tsv", {}],
];

/** Asserts that `ring` picks the server of every `key<TAB>server` row. */
function assertSameServers(ring: HashRing, rows: readonly string[][]): void {
  let mismatches = 0;
  let first = "";
  for (const [key, server] of rows) {
    assert.ok(key !== undefined && server !== undefined);
    const chosen = ring.serverFor(key);
    if (chosen !== server) {
      mismatches++;
      first ||= `${JSON.stringify(key)}: ${chosen}, libmemcached ${server}`;
    }
  }
  assert.equal(mismatches, 0, `${mismatches} of ${rows.length} keys differ, first ${first}`);
}

for (const [name, options] of VECTOR_FILES) {
  test(`HashRing.serverFor() picks libmemcached's server for all 10,000 keys of ${name}`, () => {
    const { header, rows } = readVectors(name);
    assert.equal(rows.length, 10_000);
    const ring = new HashRing(headerServers(header), options);
    assertSameServers(ring, rows);
    const points = Number(header.match(/continuum_points=(\d+)/)?.[1]);
    assert.equal(ring.points().length, points, "the ring has libmemcached's point count");
  });
}

/**
 * Vector files of `scripts/vectors/ring_vectors.c` (libmemcached 1.1.4's own
 * `memcached_server_by_key`): the unweighted consistent ring that pylibmc's `ketama: True` sets
 * up, with the default key hash, with MD5, and with a weight over 1 (which libmemcached turns
 * into weighted points).
 */
const CONSISTENT_FILES: Array<[string, HashRingOptions, number]> = [
  ["e_consistent_3servers.tsv", { distribution: "consistent" }, 300],
  ["f_consistent_md5_hostnames_4servers.tsv", { distribution: "consistent", hash: "md5" }, 400],
  ["i_consistent_weighted_3servers.tsv", { distribution: "consistent" }, 480],
];

for (const [name, options, points] of CONSISTENT_FILES) {
  test(`HashRing.serverFor() picks libmemcached's server for all 10,000 keys of ${name}`, () => {
    const { header, rows } = readVectors(name);
    assert.equal(rows.length, 10_000);
    assert.match(header, /distribution=MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA /);
    const ring = new HashRing(headerServers(header), options);
    assertSameServers(ring, rows);
    assert.equal(ring.points().length, points);
  });
}

test("HashRing with distribution consistent hashes keys with one_at_a_time by default", () => {
  const ring = new HashRing(["10.0.0.1", "10.0.0.2"], { distribution: "consistent" });
  assert.equal(ring.hash, "one_at_a_time");
  assert.deepEqual(pointCounts(ring), [100, 100]);
  // Its points are the key hash of "<host>-<i>", not MD5 words.
  const expected = oneAtATime(utf8("10.0.0.1-0"));
  assert.ok(ring.points().some((p) => p.value === expected && p.serverIndex === 0));
});

test("HashRing.points() starts with the first 20 points of libmemcached's ring", () => {
  const { header, rows } = readVectors("a_continuum_first20.tsv");
  const ring = new HashRing(headerServers(header));
  const expected = rows.map(([pos, value, valueHex, server]) => {
    assert.equal(Number(value), parseInt(valueHex ?? "", 16), `row ${pos}`);
    return { value: Number(value), address: server };
  });
  assert.equal(expected.length, 20);
  const actual = ring.points().slice(0, 20).map((p) => ({ value: p.value, address: p.address }));
  assert.deepEqual(actual, expected);

  assert.equal(ring.points().length, Number(header.match(/total_points=(\d+)/)?.[1]));
  const perServer = header.match(/points_per_server=(\S+)/)?.[1]?.split(",") ?? [];
  assert.equal(perServer.length, 3);
  const counts = pointsByAddress(ring);
  for (const entry of perServer) {
    const [address, count] = entry.split("=");
    assert.equal(counts[address ?? ""], Number(count), entry);
  }
});

// --- Point counts ---------------------------------------------------------------------------

/** The point count written out independently of the implementation, step by step. */
function expectedPointCount(weight: number, totalWeight: number, count: number): number {
  const pct = Math.fround(Math.fround(weight) / Math.fround(totalWeight));
  const times160 = Math.fround(pct * 160);
  const quarter = Math.fround(times160 / 4);
  const scaled = Math.fround(quarter * Math.fround(count));
  return Math.floor(scaled + 0.0000000001) * 4; // the addition is in double precision, as in C
}

/**
 * Pool sizes up to 200 whose equal-weight servers get 156 points, not 160. Checked against
 * libmemcached 1.1.4 itself for sizes up to 100 (its debug assertion stops larger ketama pools)
 * and against libmemcached's expression compiled with gcc on x86-64 up to 200.
 */
const ROUNDED_DOWN = [
  25,
  47,
  50,
  55,
  61,
  71,
  94,
  100,
  107,
  109,
  110,
  115,
  122,
  142,
  159,
  163,
  188,
  193,
  200,
];

test("HashRing gives equal-weight servers single-precision point counts for 1 to 200 servers", () => {
  const roundedDown: number[] = [];
  for (let n = 1; n <= 200; n++) {
    const servers = Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}:11211`);
    const ring = new HashRing(servers);
    const expected = expectedPointCount(1, n, n);
    assert.equal(ketamaPointCount(1, n, n), expected, `${n} servers`);
    assert.deepEqual(pointCounts(ring), Array(n).fill(expected), `${n} servers`);
    assert.equal(ring.points().length, expected * n);
    if (expected !== 160) {
      assert.equal(expected, 156, `${n} servers round down by one digest only`);
      roundedDown.push(n);
    }
  }
  assert.deepEqual(roundedDown, ROUNDED_DOWN);
});

test("HashRing usually gives equal-weight servers 160 points each", () => {
  for (const n of [1, 2, 3, 4, 5, 10, 16, 24, 26, 32, 48, 64, 99]) {
    assert.equal(ketamaPointCount(1, n, n), 160, `${n} servers`);
    assert.equal(ketamaPointCount(7, 7 * n, n), 160, `${n} servers of weight 7`);
  }
  assert.equal(ketamaPointCount(1, 25, 25), 156, "25 servers round down");
  const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
  assert.deepEqual(pointCounts(ring), [160, 160, 160]);
});

test("HashRing gives weighted servers points in proportion to weight / total weight", () => {
  const b = new HashRing(headerServers(readVectors("b_ketama_md5_weighted_5servers.tsv").header));
  assert.deepEqual(b.servers.map((s) => s.weight), [1, 1, 2, 3, 1]);
  assert.deepEqual(pointCounts(b), [100, 100, 200, 300, 100]);

  const two = new HashRing(["a:11211", { host: "b", weight: 3 }]);
  assert.deepEqual(pointsByAddress(two), { "a:11211": 80, "b:11211": 240 });

  for (const weights of [[1, 2], [5, 1, 1], [3, 3, 4, 10], [1, 100, 7, 7, 2, 9]]) {
    const total = weights.reduce((a, b) => a + b, 0);
    const ring = new HashRing(weights.map((weight, i) => ({ host: "h", port: 1000 + i, weight })));
    const counts = pointCounts(ring);
    assert.deepEqual(
      counts,
      weights.map((w) => expectedPointCount(w, total, weights.length)),
      weights.join(","),
    );
  }
});

test("HashRing gives no points, so no keys, to a server whose share rounds to zero", () => {
  const ring = new HashRing([{ host: "small", weight: 1 }, { host: "big", weight: 1000 }]);
  assert.equal(ketamaPointCount(1, 1001, 2), 0);
  assert.deepEqual(pointsByAddress(ring), { "big:11211": 316 });
  for (let i = 0; i < 200; i++) assert.equal(ring.serverFor(`key:${i}`), "big:11211");
});

test("HashRing hashes <host>-<i> for port 11211 and <host>:<port>-<i> for other ports", () => {
  const ring = new HashRing(["cache:11211", "cache:11212"]);
  const expected = new Set<string>();
  for (const prefix of ["cache-", "cache:11212-"]) {
    for (let i = 0; i < 40; i++) {
      for (const word of md5Words(utf8(prefix + i))) expected.add(`${word}/${prefix}`);
    }
  }
  const actual = new Set(
    ring.points().map((p) => `${p.value}/${p.serverIndex === 0 ? "cache-" : "cache:11212-"}`),
  );
  assert.deepEqual(actual, expected);
});

// --- Lookup ---------------------------------------------------------------------------------

test("HashRing sends a key to the first point at or above its hash, wrapping to the first", () => {
  let next = 0;
  const hash = () => next;
  const ring = new HashRing(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"], { hash });
  const points = ring.points();
  const first = points[0]!;
  const last = points.at(-1)!;
  for (
    const [hashValue, point, what] of [
      [0, first, "0 goes to the first point"],
      [first.value, first, "a hash equal to a point goes to that point"],
      [first.value + 1, points[1]!, "one above a point goes to the next"],
      [last.value, last, "the last point's own value"],
      [last.value + 1, first, "above the last point wraps to the first"],
      [0xffffffff, first, "the largest hash wraps to the first"],
    ] as const
  ) {
    next = hashValue;
    assert.equal(ring.serverIndexFor("k"), point.serverIndex, what);
    assert.equal(ring.serverFor("k"), point.address, what);
  }
  next = -1; // taken modulo 2^32: 0xffffffff
  assert.equal(ring.serverFor("k"), first.address, "-1 is read as 0xffffffff");
});

test("HashRing wraps a real key whose MD5 hash is above the last point to the first point", () => {
  const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
  const points = ring.points();
  const last = points.at(-1)!.value;
  let key = "";
  for (let i = 0; key === ""; i++) if (ketamaHash(utf8(`wrap:${i}`)) > last) key = `wrap:${i}`;
  assert.equal(ring.serverFor(key), points[0]!.address);
});

test("HashRing orders points of equal value by server index", () => {
  // A server listed twice makes every one of its points a tie; libmemcached then picks the
  // lower index, and so do we.
  const ring = new HashRing(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.1:11211"]);
  const points = ring.points();
  assert.equal(points.length, 480);
  let ties = 0;
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1]!, points[i]!];
    assert.ok(a.value <= b.value, "ascending");
    if (a.value === b.value) {
      ties++;
      assert.ok(a.serverIndex < b.serverIndex, `tie at ${a.value} ordered by index`);
    }
  }
  assert.equal(ties, 160);
  const used = new Set<number>();
  for (let i = 0; i < 2000; i++) used.add(ring.serverIndexFor(`key:${i}`));
  assert.deepEqual([...used].sort(), [0, 1], "the later duplicate never wins a tie");
});

test("HashRing with one server never hashes the key", () => {
  let calls = 0;
  const hash = (): number => {
    calls++;
    return 0;
  };
  for (const distribution of ["ketama", "modula"] as const) {
    const ring = new HashRing(["cache:11300"], { distribution, hash });
    assert.equal(ring.serverFor("anything"), "cache:11300");
    assert.equal(ring.serverFor(utf8("bytes")), "cache:11300");
    assert.equal(ring.serverIndexFor("x".repeat(1000)), 0);
  }
  assert.equal(calls, 0);
  assertInvalid(() => new HashRing(["cache"]).serverFor(42 as unknown as string), "INVALID_KEY");
});

test("HashRing.serverFor() gives a Uint8Array key the server of its UTF-8 string", () => {
  const { header, rows } = readVectors("d_ketama_md5_hostnames_4servers.tsv");
  const ketama = new HashRing(headerServers(header));
  const modula = new HashRing(headerServers(header), { distribution: "modula" });
  const buffer = new Uint8Array(1024);
  for (const [key] of rows) {
    assert.ok(key !== undefined);
    const bytes = utf8(key);
    assert.equal(ketama.serverFor(bytes), ketama.serverFor(key), key);
    assert.equal(modula.serverFor(bytes), modula.serverFor(key), key);
    buffer.set(bytes, 7);
    const view = buffer.subarray(7, 7 + bytes.length);
    assert.equal(ketama.serverFor(view), ketama.serverFor(key), `${key} as a view`);
  }
  const long = "é".repeat(600); // longer than the shared encoding buffer
  assert.equal(ketama.serverFor(long), ketama.serverFor(utf8(long)));
});

test("HashRing uses the key hash it is given, and the defaults of libmemcached", () => {
  const { rows } = readVectors("key_hash_samples.tsv");
  const servers = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"];
  assert.equal(new HashRing(servers).hash, "md5");
  assert.equal(new HashRing(servers, { distribution: "modula" }).hash, "one_at_a_time");
  const modulaMd5 = new HashRing(servers, { distribution: "modula", hash: "md5" });
  const modula = new HashRing(servers, { distribution: "modula" });
  for (const [key, md5Hash, oneAtATimeHash] of rows) {
    assert.ok(key !== undefined);
    assert.equal(modulaMd5.serverIndexFor(key), Number(md5Hash) % 3, key);
    assert.equal(modula.serverIndexFor(key), Number(oneAtATimeHash) % 3, key);
  }
  // A key hash through node:crypto gives the same ring as the built-in MD5.
  const viaCrypto = new HashRing(servers, {
    hash: (key) => createHash("md5").update(key).digest().readUInt32LE(0),
  });
  const builtIn = new HashRing(servers);
  for (const [key] of rows) assert.equal(viaCrypto.serverFor(key!), builtIn.serverFor(key!));
});

// --- Servers, ejection, copies --------------------------------------------------------------

test("HashRing.servers lists the servers as configured with defaults filled in", () => {
  const ring = new HashRing([
    "cache-a",
    "cache-b:11212",
    "10.0.0.3:11213:4",
    "[::1]:11214:2",
    "[fe80::1]",
    { host: "cache-c" },
    { host: "::2", port: 11215, weight: 3 },
  ]);
  assert.deepEqual(ring.servers, [
    { host: "cache-a", port: 11211, weight: 1, address: "cache-a:11211" },
    { host: "cache-b", port: 11212, weight: 1, address: "cache-b:11212" },
    { host: "10.0.0.3", port: 11213, weight: 4, address: "10.0.0.3:11213" },
    { host: "::1", port: 11214, weight: 2, address: "[::1]:11214" },
    { host: "fe80::1", port: 11211, weight: 1, address: "[fe80::1]:11211" },
    { host: "cache-c", port: 11211, weight: 1, address: "cache-c:11211" },
    { host: "::2", port: 11215, weight: 3, address: "[::2]:11215" },
  ]);
  assert.ok(Object.isFrozen(ring.servers) && Object.isFrozen(ring.servers[0]));
  assert.equal(ring.distribution, "ketama");
  const addresses = new Set(ring.servers.map((s) => s.address));
  for (let i = 0; i < 100; i++) assert.ok(addresses.has(ring.serverFor(`k${i}`)));
});

test("HashRing.withServers() ejects a server by rebuilding over the live ones", () => {
  const { header, rows } = readVectors("a_ketama_md5_3servers.tsv");
  const ring = new HashRing(headerServers(header));
  const live = ring.withServers(ring.servers.filter((s) => s.port !== 11212));
  assert.deepEqual(live.servers.map((s) => s.address), ["127.0.0.1:11211", "127.0.0.1:11213"]);
  // Shares are recomputed over the live servers: 2 servers of weight 1 get 160 points each,
  // the same points as before, so only the ejected server's keys move.
  assert.deepEqual(pointCounts(live), [160, 160]);
  let moved = 0;
  for (const [key, server] of rows) {
    const now = live.serverFor(key!);
    assert.notEqual(now, "127.0.0.1:11212");
    if (server === "127.0.0.1:11212") moved++;
    else assert.equal(now, server, `${key} stays on ${server}`);
  }
  assert.ok(moved > 2500 && moved < 4200, `${moved} keys moved`);
  const back = live.withServers(ring.servers);
  assert.deepEqual(back.points(), ring.points(), "the restored ring is the original ring");

  const modula = new HashRing(["a", "b", "c"], { distribution: "modula", hash: "md5" });
  const fewer = modula.withServers(["a", "c"]);
  assert.equal(fewer.distribution, "modula");
  assert.equal(fewer.hash, "md5");
  assertInvalid(() => ring.withServers([]));
});

test("HashRing.withServers() recomputes weighted shares over the live servers", () => {
  const ring = new HashRing(["a:1:1", "b:1:1", "c:1:2", "d:1:3", "e:1:1"]);
  const live = ring.withServers(ring.servers.filter((s) => s.host !== "d"));
  // Total weight 5 over 4 servers: pct 0.2 gives floor(0.2 * 40 * 4) * 4 = 128 points.
  assert.deepEqual(pointCounts(live), [128, 128, 256, 128]);
});

test("HashRing.points() returns a copy, empty for modula", () => {
  const ring = new HashRing(["a", "b"]);
  const points = ring.points();
  points.length = 0;
  assert.equal(ring.points().length, 320);
  assert.deepEqual(new HashRing(["a", "b"], { distribution: "modula" }).points(), []);
});

// --- Validation -----------------------------------------------------------------------------

test("HashRing rejects bad server lists, servers and options with INVALID_ARGUMENT", () => {
  const badServers: unknown[] = [
    "",
    ":11211",
    "host:",
    "host:0",
    "host:65536",
    "host:abc",
    "host:11211:",
    "host:11211:0",
    "host:11211:-1",
    "host:11211:1.5",
    "host:11211:99999999999",
    "host:1:2:3",
    "::1",
    "::1:11211",
    "[::1",
    "[::1]x",
    "[::1]:",
    "[]:11211",
    "host name:11211",
    "/run/memcached.sock",
    42,
    null,
    undefined,
    ["host"],
    { host: "" },
    { host: 42 },
    { port: 11211 },
    { host: "h", port: 0 },
    { host: "h", port: 1.5 },
    { host: "h", port: "11211" },
    { host: "h", weight: 0 },
    { host: "h", weight: -2 },
    { host: "h", weight: 0.5 },
    { host: "h", weight: Number.NaN },
    { host: "h", weight: "2" },
    { host: "h", weight: 2 ** 32 },
  ];
  for (const server of badServers) {
    assertInvalid(() => new HashRing([server as RingServer]), "INVALID_ARGUMENT", String(server));
    assertInvalid(() => new HashRing(["ok", server as RingServer]), "INVALID_ARGUMENT");
  }
  assertInvalid(() => new HashRing([]), "INVALID_ARGUMENT", "empty list");
  assertInvalid(() => new HashRing("a:1" as unknown as RingServer[]), "INVALID_ARGUMENT");
  const huge = { host: "h", weight: 2 ** 32 - 1 };
  assertInvalid(() => new HashRing([huge, huge]), "INVALID_ARGUMENT", "total weight");
  assertInvalid(() => new HashRing(["a"], { distribution: "random" as "ketama" }));
  assertInvalid(() => new HashRing(["a"], { hash: "crc32" as "md5" }));
  assert.throws(() => new HashRing([]), {
    message: "Cannot build hash ring: the server list is empty",
  });
  assert.throws(() => new HashRing(["h:11211:0"]), {
    message: 'Cannot build hash ring: server "h:11211:0": the weight must be a positive integer',
  });
});

test("HashRing.serverFor() rejects a key that is neither a string nor a Uint8Array", () => {
  const ring = new HashRing(["a", "b"]);
  for (const key of [42, null, undefined, {}, [1, 2], new Uint16Array(2)]) {
    assertInvalid(() => ring.serverFor(key as string), "INVALID_KEY", String(key));
  }
});

// tests/fixtures/vectors/ is a copy, so that a clone anywhere can run the ring tests. Where the
// original (../shared/vectors/ beside the repository, as in the project's workspace and CI)
// exists, the copy must not drift from it; elsewhere there is nothing to compare with.
const SHARED_VECTORS = new URL("../../../shared/vectors/", import.meta.url);
if (existsSync(SHARED_VECTORS)) {
  test("the vendored vector files are byte-for-byte the workspace's libmemcached vectors", () => {
    const names = readdirSync(SHARED_VECTORS).filter((name) => name.endsWith(".tsv")).sort();
    assert.ok(names.length >= 6, "the shared folder holds the vector files");
    for (const name of names) {
      const copy = readFileSync(new URL(`../fixtures/vectors/${name}`, import.meta.url));
      const original = readFileSync(new URL(name, SHARED_VECTORS));
      assert.ok(copy.equals(original), `${name} is identical to the shared original`);
    }
  });
}
