/**
 * `getMany` over the meta protocol: one plain `mg` per key, answered in order, with opaque
 * tokens on the first and the last key only. These tests check the bytes written and the
 * values read against a real memcached, and, against a scripted server that drops, adds or
 * mislabels a reply, that the batch fails with the connection instead of giving a key another
 * key's value.
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
import { Client, type ClientOptions, connect, type Connector } from "../mod.ts";

/** The `O` token of an `mg` line, or undefined. */
function opaqueOf(line: string): string | undefined {
  return line.split(" ").find((token) => token.startsWith("O"))?.slice(1);
}

test("getMany over meta writes one plain mg per key with opaque tokens on the first and last only", async () => {
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
    assert.deepEqual(lines.map((line) => line.split(" ")[1]), keys, "one mg per key, in order");
    assert.ok(lines.every((line) => line.startsWith("mg ")), "only mg lines (no mn)");
    assert.ok(lines.every((line) => !line.split(" ").includes("q")), "no quiet flag");
    const tokens = lines.map(opaqueOf);
    assert.notEqual(tokens[0], undefined, "the first key carries a token");
    assert.notEqual(tokens.at(-1), undefined, "the last key carries a token");
    assert.ok(tokens.slice(1, -1).every((t) => t === undefined), "no token in between");
    if (n > 1) assert.equal(Number(tokens.at(-1)), Number(tokens[0]) + 1);
  }
});

/**
 * A meta client on a scripted server that answers `mg` lines through `reply` (given the line's
 * position among the `mg` lines so far, its key and its `O` token), and `version`.
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
  return connect("127.0.0.1:1", { connector });
}

/** A hit for `key` (its value is the key itself), with its token when it had one. */
function hit(key: string, opaque: string | undefined): string {
  return `VA ${key.length} f0${opaque === undefined ? "" : ` O${opaque}`}\r\n${key}\r\n`;
}

const KEYS = ["a", "b", "c", "d", "e"];

test("getMany over meta reads an honest scripted server's replies", async () => {
  await using client = await scriptedMeta((_i, key, opaque) => hit(key, opaque));
  const found = await client.getMany(KEYS);
  assert.deepEqual([...found], KEYS.map((key) => [key, key]));
});

const BROKEN: [string, (index: number, key: string, opaque: string | undefined) => string][] = [
  ["drops the reply to a middle key", (i, key, o) => i === 2 ? "" : hit(key, o)],
  ["answers a middle key twice", (i, key, o) => i === 2 ? hit(key, o) + hit(key, o) : hit(key, o)],
  ["puts a token on a middle reply", (i, key, o) => hit(key, i === 2 ? "7" : o)],
  ["answers the first key with another token", (i, key, o) => hit(key, i === 0 ? "999" : o)],
  ["answers the last key without its token", (i, key, o) => hit(key, i === 4 ? undefined : o)],
];

for (const [what, reply] of BROKEN) {
  test(`getMany over meta fails the connection, never mismatching values, when a server ${what}`, async () => {
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

test("an error line for one key of a meta getMany fails that batch and keeps the connection", async () => {
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
 * Three scripted meta servers that answer every `mg` with a hit whose value is the key as
 * written (base64 text for base64 keys), recording the lines each server got.
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
    const sent = written(lines).map((
      [server, line],
    ): [string, string] => [line.split(" ")[1]!, server]);
    assert.deepEqual(
      new Map(sent),
      new Map(good.map((key) => [key, client.serverFor(key)])),
      "each key went to its ring server, once",
    );
    assert.equal(sent.length, good.length);
    assert.ok(new Set(sent.map(([, server]) => server)).size > 1, "the keys span servers");
  }
});

test("getMany over three servers sends base64 keys as base64, the same when they are placed again", async () => {
  const { client, lines } = scriptedCluster({ base64Keys: true });
  await using _ = client;
  const keys = ["a b", "new\nline", "plain", "é", "tab\tkey", "x".repeat(186)];
  const base64 = (key: string) => btoa(String.fromCharCode(...new TextEncoder().encode(key)));
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
