/**
 * `getMany` over the meta protocol: one text `get k1 k2 ...` line per server (memcached answers
 * it on a meta connection, a `VALUE` per hit in key order, then `END`), or, for base64 keys, one
 * plain `mg` per key with opaque tokens on the first and the last key only. These tests check
 * the bytes written and the values read against a real memcached, and, against a scripted
 * server that drops, adds, reorders or mislabels a reply, that the batch fails with the
 * connection instead of giving a key another key's value.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";
import {
  assertMemcachedError,
  endpointName,
  lineRecorder,
  scriptedServer,
  withCode,
} from "./_util.ts";
import { Client, type ClientOptions, connect, type Connector, type ErrorCode } from "../mod.ts";

/** The `O` token of an `mg` line, or undefined. */
function opaqueOf(line: string): string | undefined {
  return line.split(" ").find((token) => token.startsWith("O"))?.slice(1);
}

/** The base64 text of a string key's UTF-8 bytes, as sent with `b`. */
function base64(key: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(key)));
}

test("getMany over meta writes one text get line of every key in order, and reads hits, misses and repeats", async () => {
  await using server = await startMemcached();
  const { connector, lines } = lineRecorder();
  await using client = await connect(server.address, { connector });
  for (let i = 0; i < 30; i += 3) await client.set(`k${i}`, `v${i}`);
  for (const n of [1, 2, 3, 40]) {
    lines.length = 0;
    const keys = Array.from({ length: n }, (_, i) => `k${(i * 7) % 30}`); // hits, misses, repeats
    const found = await client.getMany(keys);
    for (const key of keys) {
      const i = Number(key.slice(1));
      assert.equal(found.get(key), i % 3 === 0 ? `v${i}` : undefined, `${n} keys: ${key}`);
    }
    assert.equal(found.failed.size, 0);
    assert.deepEqual(lines, [`get ${keys.join(" ")}`], "one get line, the keys in order");
  }
});

test("getMany over meta reads UTF-8 keys, a prefixed namespace and hashed long keys from memcached by their wire form", async () => {
  await using server = await startMemcached();
  const keys = ["é", "日本", "plain", "x".repeat(300)];
  for (const prefix of ["", "ns:"]) {
    const { connector, lines } = lineRecorder();
    await using client = await connect(server.address, {
      ...(prefix === "" ? {} : { prefix }),
      connector,
      longKeys: "hash",
    });
    for (const key of keys) await client.set(key, `v:${key}`);
    lines.length = 0;
    const found = await client.getMany([...keys, "missing"]);
    assert.deepEqual([...found], keys.map((key) => [key, `v:${key}`]), `prefix ${prefix}`);
    assert.equal(lines.length, 1);
    // One get line of the five wire forms (lineRecorder reads bytes as windows-1252).
    const line = lines[0] ?? "";
    const words = line.split(" ");
    assert.equal(words.length, 6, line);
    assert.equal(words[0], "get");
    assert.ok(words.slice(1).every((word) => word.startsWith(prefix)), line);
    assert.equal(words[5], `${prefix}missing`);
  }
});

test("getMany over meta with base64 keys writes one plain mg per key with opaque tokens on the first and last only", async () => {
  await using server = await startMemcached();
  const { connector, lines } = lineRecorder();
  await using client = await connect(server.address, { connector, base64Keys: true });
  for (let i = 0; i < 30; i += 3) await client.set(`k ${i}`, `v${i}`);
  for (const n of [1, 2, 3, 40]) {
    lines.length = 0;
    const keys = Array.from({ length: n }, (_, i) => `k ${(i * 7) % 30}`); // hits, misses, repeats
    const found = await client.getMany(keys);
    for (const key of keys) {
      const i = Number(key.slice(2));
      assert.equal(found.get(key), i % 3 === 0 ? `v${i}` : undefined, `${n} keys: ${key}`);
    }
    assert.deepEqual(lines.map((line) => line.split(" ")[1]), keys.map(base64), "one mg per key");
    assert.ok(lines.every((line) => line.startsWith("mg ")), "only mg lines (no mn)");
    assert.ok(lines.every((line) => line.split(" ")[2] === "b"), "base64 keys");
    assert.ok(lines.every((line) => !line.split(" ").includes("q")), "no quiet flag");
    const tokens = lines.map(opaqueOf);
    assert.notEqual(tokens[0], undefined, "the first key carries a token");
    assert.notEqual(tokens.at(-1), undefined, "the last key carries a token");
    assert.ok(tokens.slice(1, -1).every((t) => t === undefined), "no token in between");
    if (n > 1) assert.equal(Number(tokens.at(-1)), Number(tokens[0]) + 1);
  }
});

test("getMany over meta reads a get line of 2,000 keys of 250 bytes (500 KB) from memcached", async () => {
  await using server = await startMemcached();
  const { connector, lines } = lineRecorder();
  await using client = await connect(server.address, { connector });
  const keys = Array.from({ length: 2000 }, (_, i) => `${i}:`.padEnd(250, "k"));
  await client.setMany(keys.filter((_, i) => i % 2 === 0).map((key) => [key, key.slice(0, 8)]));
  lines.length = 0;
  const found = await client.getMany(keys);
  assert.equal(lines.length, 1, "one line");
  assert.ok(lines[0]!.length > 500_000, `${lines[0]!.length} bytes`);
  assert.equal(found.size, 1000);
  for (let i = 0; i < keys.length; i++) {
    assert.equal(found.get(keys[i]!), i % 2 === 0 ? keys[i]!.slice(0, 8) : undefined);
  }
  assert.equal(await client.get(keys[0]!), keys[0]!.slice(0, 8), "the connection is in step");
});

test("getMany over meta pipelined with gets, sets and stats on one connection gives every caller its own reply", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  const keys = Array.from({ length: 50 }, (_, i) => `p${i}`);
  await client.setMany(keys.filter((_, i) => i % 5 !== 0).map((key) => [key, `=${key}`]));
  for (let round = 0; round < 20; round++) {
    // All in one tick: they leave in one write and their replies arrive interleaved.
    const calls = [
      client.getMany(keys),
      client.get("p1"),
      client.getMany(["p0", "p5"]), // misses only: a bare END
      client.stats("items"),
      client.getMany([...keys].reverse()),
      client.set(`s${round}`, "x"),
      client.get(`s${round}`),
      client.getMany(["p3", "p3", "p0", "p3"]),
      client.get("p0"),
    ] as const;
    const [all, one, none, items, reversed, set, got, repeated, miss] = await Promise.all(calls);
    assert.deepEqual(
      [...all],
      keys.filter((_, i) => i % 5 !== 0).map((key) => [key, `=${key}`]),
      "hits in key order",
    );
    assert.equal(one, "=p1");
    assert.equal(none.size, 0);
    assert.ok(items.size > 0);
    assert.deepEqual([...reversed], [...all].reverse());
    assert.equal(set, undefined);
    assert.equal(got, "x");
    assert.deepEqual([...repeated], [["p3", "=p3"]]);
    assert.equal(miss, undefined);
  }
  assert.equal(client.counters().connections, 1);
});

test("Client.stats() of a group with no statistics reads a bare END as empty over meta", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  assert.equal((await client.stats("items")).size, 0, "no items: memcached answers END alone");
  assert.equal(await client.get("a"), undefined, "the connection is in step");
});

/**
 * A meta client on a scripted server that answers `get` lines through `reply` (given the
 * line's position among the `get` lines so far and its keys), `mg` lines with a hit, and
 * `version`.
 */
function scriptedGets(reply: (index: number, keys: string[]) => string): Promise<Client> {
  let index = 0;
  const connector = scriptedServer((line) => {
    if (line === "version") return "VERSION 1.6.18\r\n";
    if (line.startsWith("mg ")) return hit(line.split(" ")[1]!, opaqueOf(line));
    if (!line.startsWith("get ")) return "ERROR\r\n";
    return reply(index++, line.split(" ").slice(1));
  });
  return connect("127.0.0.1:1", { connector });
}

/** A text hit for `key`: its value is the key itself. */
function value(key: string): string {
  return `VALUE ${key} 0 ${key.length}\r\n${key}\r\n`;
}

/** An honest server's reply to a `get` of `keys` where every key is a hit. */
function values(keys: readonly string[]): string {
  return keys.map(value).join("") + "END\r\n";
}

/** A meta hit for `key` (its value is the key itself), with its token when it had one. */
function hit(key: string, opaque: string | undefined): string {
  return `VA ${key.length} f0${opaque === undefined ? "" : ` O${opaque}`}\r\n${key}\r\n`;
}

const KEYS = ["a", "b", "c", "d", "e"];

test("getMany over meta reads an honest scripted server's get replies, misses included", async () => {
  await using client = await scriptedGets((i, keys) =>
    i === 0 ? values(keys) : values(keys.filter((key) => key !== "a" && key !== "d"))
  );
  assert.deepEqual([...await client.getMany(KEYS)], KEYS.map((key) => [key, key]));
  assert.deepEqual([...await client.getMany(KEYS)], [["b", "b"], ["c", "c"], ["e", "e"]]);
});

test("getMany over meta reads each VALUE of a key asked twice into the next place of that key", async () => {
  // `get a b a`: a hit twice, or only the second time (set in between by another client), or
  // only the first: each VALUE goes to the first place of its key after the last one answered.
  const replies = [
    value("a") + value("b") + value("a") + "END\r\n",
    value("b") + value("a") + "END\r\n",
    value("a") + "END\r\n",
  ];
  await using client = await scriptedGets((i) => replies[i]!);
  assert.deepEqual([...await client.getMany(["a", "b", "a"])], [["a", "a"], ["b", "b"]]);
  // The hit is the second place's: the result lists "a" where it was found.
  assert.deepEqual([...await client.getMany(["a", "b", "a"])], [["b", "b"], ["a", "a"]]);
  assert.deepEqual([...await client.getMany(["a", "b", "a"])], [["a", "a"]]);
  assert.equal(client.counters().connections, 1);
});

const BROKEN: [string, (keys: string[]) => string][] = [
  ["answers a key it was not asked for", (keys) => values([...keys.slice(0, 2), "x"])],
  ["answers keys out of order", () => values(["a", "c", "b", "d", "e"])],
  ["answers a key asked once twice", () => values(["a", "b", "b", "c"])],
  ["answers a key by a prefix of it", () => value("a") + "VALUE bb 0 1\r\nb\r\nEND\r\n"],
  ["ends the line with a meta reply instead of END", (keys) => keys.map(value).join("") + "EN\r\n"],
  ["answers the line with meta replies", (keys) => keys.map((key) => hit(key, undefined)).join("")],
];

for (const [what, reply] of BROKEN) {
  test(`getMany over meta fails the connection, never mismatching values, when a server ${what}`, async () => {
    await using client = await scriptedGets((_i, keys) => reply(keys));
    const found = await client.getMany(KEYS);
    assert.equal(found.size, 0, "no value was handed out");
    assert.deepEqual([...found.failed.keys()], KEYS);
    for (const error of found.failed.values()) {
      assertMemcachedError(error, "PROTOCOL_ERROR");
    }
    assert.equal(client.counters().connections, 0, "the connection was dropped");
  });
}

test("an error line in answer to a meta getMany's get line fails that batch and keeps the connection", async () => {
  const errors: [string, ErrorCode][] = [
    ["SERVER_ERROR out of memory writing get response", "SERVER_ERROR"],
    ["CLIENT_ERROR bad command line format", "CLIENT_ERROR"],
  ];
  for (const [error, code] of errors) {
    await using client = await scriptedGets(() => `${error}\r\n`);
    const found = await client.getMany(KEYS);
    assert.equal(found.size, 0);
    assert.deepEqual([...found.failed.keys()], KEYS);
    for (const e of found.failed.values()) assertMemcachedError(e, code);
    await assert.rejects(
      client.getMany(KEYS, { allOrNothing: true }),
      withCode(code),
    );
    assert.equal(await client.get("z"), "z", "the connection is still in step");
    assert.equal(await client.version(), "1.6.18");
    assert.equal(client.counters().connections, 1);
  }
});

/**
 * A meta client with base64 keys on a scripted server that answers `mg` lines through `reply`
 * (given the line's position among the `mg` lines so far, its key and its `O` token), and
 * `version`.
 */
function scriptedMeta(
  reply: (index: number, key: string, opaque: string | undefined) => string,
): Promise<Client> {
  let index = 0;
  const connector = scriptedServer((line) => {
    if (line === "version") return "VERSION 1.6.18\r\n";
    if (!line.startsWith("mg ")) return "ERROR\r\n";
    return reply(index++, line.split(" ")[1]!, opaqueOf(line));
  });
  return connect("127.0.0.1:1", { connector, base64Keys: true });
}

test("getMany over meta with base64 keys reads an honest scripted server's mg replies", async () => {
  await using client = await scriptedMeta((_i, key, opaque) => hit(key, opaque));
  const found = await client.getMany(KEYS);
  assert.deepEqual([...found], KEYS.map((key) => [key, base64(key)]));
});

const BROKEN_MG: [string, (index: number, key: string, opaque: string | undefined) => string][] = [
  ["drops the reply to a middle key", (i, key, o) => i === 2 ? "" : hit(key, o)],
  ["answers a middle key twice", (i, key, o) => i === 2 ? hit(key, o) + hit(key, o) : hit(key, o)],
  ["puts a token on a middle reply", (i, key, o) => hit(key, i === 2 ? "7" : o)],
  ["answers the first key with another token", (i, key, o) => hit(key, i === 0 ? "999" : o)],
  ["answers the last key without its token", (i, key, o) => hit(key, i === 4 ? undefined : o)],
];

for (const [what, reply] of BROKEN_MG) {
  test(`getMany over meta with base64 keys fails the connection, never mismatching values, when a server ${what}`, async () => {
    await using client = await scriptedMeta(reply);
    const found = await client.getMany(KEYS);
    assert.equal(found.size, 0, "no value was handed out");
    assert.deepEqual([...found.failed.keys()], KEYS);
    for (const error of found.failed.values()) {
      assertMemcachedError(error, "PROTOCOL_ERROR");
    }
    assert.equal(client.counters().connections, 0, "the connection was dropped");
  });
}

test("an error line for one key of a base64 meta getMany fails that batch and keeps the connection", async () => {
  await using client = await scriptedMeta((i, key, opaque) =>
    i % KEYS.length === 2 ? "SERVER_ERROR out of memory\r\n" : hit(key, opaque)
  );
  const found = await client.getMany(KEYS);
  assert.equal(found.size, 0);
  for (const error of found.failed.values()) {
    assertMemcachedError(error, "SERVER_ERROR");
  }
  await assert.rejects(client.getMany(KEYS, { allOrNothing: true }), withCode("SERVER_ERROR"));
  assert.equal(await client.version(), "1.6.18", "the connection is still in step");
  assert.equal(client.counters().connections, 1);
});

/**
 * Three scripted meta servers that answer every `get` line with a hit for each key and every
 * `mg` with a hit, whose value is the key as written (base64 text for base64 keys), recording
 * the lines each server got.
 */
function scriptedCluster(
  options: ClientOptions = {},
): { client: Client; lines: Map<string, string[]> } {
  const servers = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"];
  const lines = new Map(servers.map((name) => [name, [] as string[]]));
  const connector: Connector = (endpoint, handlers, connectOptions) => {
    const seen = lines.get(endpointName(endpoint))!;
    return scriptedServer((line) => {
      seen.push(line);
      if (line === "version") return "VERSION 1.6.18\r\n";
      if (line.startsWith("get ")) return values(line.split(" ").slice(1));
      if (!line.startsWith("mg ")) return "ERROR\r\n";
      return hit(line.split(" ")[1]!, opaqueOf(line));
    })(endpoint, handlers, connectOptions);
  };
  return { client: new Client(servers, { ...options, connector }), lines };
}

/** Every line the servers got, each with its server. */
function written(lines: Map<string, string[]>): [string, string][] {
  return [...lines].flatMap(([server, seen]) =>
    seen.map((line): [string, string] => [server, line])
  );
}

test("getMany over three servers rejects a bad key anywhere with INVALID_KEY before writing to any server, every time", async () => {
  const { client, lines } = scriptedCluster();
  await using _ = client;
  const good = Array.from({ length: 12 }, (_, i) => `good:${i}`);
  for (const bad of ["", "a b", "k".repeat(251), "a\nb", new Uint8Array([0x61, 0x20])]) {
    for (const at of [0, 6, good.length]) {
      const keys = [...good.slice(0, at), bad, ...good.slice(at)];
      // Twice: a bad key must not be remembered as placed after the first rejection.
      for (let round = 0; round < 2; round++) {
        await assert.rejects(client.getMany(keys), withCode("INVALID_KEY"), `bad key at ${at}`);
      }
    }
  }
  assert.deepEqual(written(lines), [], "no byte reached any server");
  // The same client then reads the good keys, each from its own server, twice (placed once).
  for (let round = 0; round < 2; round++) {
    for (const seen of lines.values()) seen.length = 0;
    const found = await client.getMany(good);
    assert.deepEqual([...found], good.map((key) => [key, key]), "every key, in the caller's order");
    const sent = written(lines).flatMap(([server, line]): [string, string][] => {
      const [command, ...keys] = line.split(" ");
      assert.equal(command, "get", "one get line per server");
      return keys.map((key) => [key, server]);
    });
    assert.deepEqual(
      new Map(sent),
      new Map(good.map((key) => [key, client.serverFor(key)])),
      "each key went to its ring server, once",
    );
    assert.equal(sent.length, good.length);
    const servers = written(lines).map(([server]) => server);
    assert.equal(new Set(servers).size, servers.length, "one line per server");
    assert.ok(servers.length > 1, "the keys span servers");
    for (const [server, line] of written(lines)) {
      const keys = line.split(" ").slice(1);
      const mine = good.filter((key) => client.serverFor(key) === server);
      assert.deepEqual(keys, mine, `${server} got its keys in the caller's order`);
    }
  }
});

test("getMany over three servers sends base64 keys as base64, the same when they are placed again", async () => {
  const { client, lines } = scriptedCluster({ base64Keys: true });
  await using _ = client;
  const keys = ["a b", "new\nline", "plain", "é", "tab\tkey", "x".repeat(186)];
  for (let round = 0; round < 2; round++) {
    for (const seen of lines.values()) seen.length = 0;
    const found = await client.getMany(keys);
    assert.deepEqual([...found], keys.map((key) => [key, base64(key)]), `round ${round}`);
    const sent = written(lines).map(([server, line]): [string, string] => {
      const [command, key, flag] = line.split(" ");
      assert.equal(command, "mg");
      assert.equal(flag, "b", `${line}: the base64 flag`);
      return [key!, server];
    });
    assert.deepEqual(
      new Map(sent),
      new Map(keys.map((key) => [base64(key), client.serverFor(key)])),
      "each key went to its ring server, as base64",
    );
  }
});

/**
 * A meta client on a scripted server for batch writes: `reply` answers each quiet `ms`, `md`
 * or `mg` line (given its position, key and `O` token); `mn` answers `MN`. The data lines of
 * `ms` are skipped.
 */
function scriptedWrites(
  reply: (index: number, key: string, opaque: string | undefined) => string,
  lines: string[] = [],
): Promise<Client> {
  let index = 0;
  let skipData = false;
  const connector = scriptedServer((line) => {
    lines.push(line);
    if (skipData) {
      skipData = false;
      return "";
    }
    if (line === "version") return "VERSION 1.6.18\r\n";
    if (line === "mn") return "MN\r\n";
    if (line.startsWith("ms ")) skipData = true;
    return reply(index++, line.split(" ")[1]!, opaqueOf(line));
  });
  return connect("127.0.0.1:1", { connector });
}

test("setMany over meta sends quiet ms lines with a token each and one mn", async () => {
  const lines: string[] = [];
  await using client = await scriptedWrites(() => "", lines);
  const result = await client.setMany(KEYS.map((k) => [k, `v${k}`]), { ttl: 60 });
  assert.deepEqual([...result], KEYS.map((k) => [k, true]));
  const commands = lines.filter((line) => line.startsWith("ms "));
  assert.equal(commands.length, KEYS.length);
  assert.ok(commands.every((line) => line.split(" ").includes("q")), "every ms is quiet");
  assert.ok(commands.every((line) => line.split(" ").includes("T60")));
  const tokens = commands.map((line) => Number(opaqueOf(line)));
  assert.deepEqual(tokens, tokens.map((_, i) => tokens[0]! + i), "consecutive tokens");
  assert.equal(lines.at(-1), "mn", "one closing mn");
  assert.equal(lines.filter((line) => line === "mn").length, 1);
});

test("deleteMany and touchMany over meta read NF and HD replies by their tokens", async () => {
  await using client = await scriptedWrites((i, _key, o) =>
    i % 2 === 1 ? (i < 5 ? `NF O${o}\r\n` : `HD O${o}\r\n`) : ""
  );
  // Lines 0..4 are the deletes (silence: deleted), lines 5..9 the touches (silence: a miss).
  const deleted = await client.deleteMany(KEYS);
  assert.deepEqual([...deleted.values()], [true, false, true, false, true]);
  const touched = await client.touchMany(KEYS, 10);
  assert.deepEqual([...touched.values()], [true, false, true, false, true]);
});

test("an error line in a quiet meta batch fails only the keys it may belong to", async () => {
  // Key 1 is answered NS, key 3 SERVER_ERROR (no token), key 4 NS: the error lies between.
  await using client = await scriptedWrites((i, _key, o) =>
    i === 1 || i === 4 ? `NS O${o}\r\n` : i === 3 ? "SERVER_ERROR out of memory\r\n" : ""
  );
  const result = await client.setMany(KEYS.map((k) => [k, k]));
  assert.deepEqual([...result], [["a", true], ["b", false], ["e", false]]);
  assert.deepEqual([...result.failed.keys()], ["c", "d"], "the keys between b and e");
  for (const error of result.failed.values()) assertMemcachedError(error, "SERVER_ERROR");
  assert.equal(await client.version(), "1.6.18", "the connection is still in step");
});

const BROKEN_WRITES: [
  string,
  (index: number, key: string, opaque: string | undefined) => string,
][] = [
  [
    "answers a key with a token from another batch",
    (i, _k, o) => i === 2 ? `NS O${Number(o) + 99}\r\n` : "",
  ],
  [
    "answers keys out of order",
    (i, _k, o) => i === 3 ? `NS O${o}\r\nNS O${Number(o) - 2}\r\n` : "",
  ],
  ["answers a key twice", (i, _k, o) => i === 2 ? `NS O${o}\r\nNS O${o}\r\n` : ""],
  ["answers with an unexpected status", (i, _k, o) => i === 2 ? `VA 1 O${o}\r\nx\r\n` : ""],
  [
    "sends an error line with no key left",
    (i, _k, o) => i === 4 ? `NS O${o}\r\nSERVER_ERROR x\r\n` : "",
  ],
];

for (const [what, reply] of BROKEN_WRITES) {
  test(`setMany over meta fails the connection when a server ${what}`, async () => {
    await using client = await scriptedWrites(reply);
    const result = await client.setMany(KEYS.map((k) => [k, k]));
    assert.equal(result.size, 0, "no outcome was reported");
    assert.deepEqual([...result.failed.keys()], KEYS);
    for (const error of result.failed.values()) assertMemcachedError(error, "PROTOCOL_ERROR");
    assert.equal(client.counters().connections, 0, "the connection was dropped");
  });
}
