/**
 * The binary codec against a real memcached: bytes from the binary encoders, sent on a plain
 * socket, must produce replies the binary decoder parses into what the server did.
 */

import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import { type MemcachedServer, rawCommand } from "../../_memcached.ts";
import { assertBytes, latin1, MAX_U64, pattern, utf8, within } from "../../_util.ts";
import {
  type BinaryResponse,
  BinaryResponseDecoder,
  BinaryStatus,
  counterValue,
  encodeBinaryArithmetic,
  encodeBinaryDelete,
  encodeBinaryFlush,
  encodeBinaryGet,
  encodeBinaryNoop,
  encodeBinaryQuit,
  encodeBinaryStat,
  encodeBinaryStore,
  encodeBinaryTouch,
  encodeBinaryVerbosity,
  encodeBinaryVersion,
  Opcode,
} from "../../../src/protocol/mod.ts";
import { encodeKey } from "../../../src/protocol/mod.ts";
import { type LiveConnection, withLiveConnection } from "../_codec.ts";

const text = new TextDecoder();

/** A plain socket speaking the binary protocol through the codec under test. */
type BinaryConnection = LiveConnection<BinaryResponse>;

/** Runs `fn` with a fresh memcached and a binary connection to it; always cleans both up. */
function withBinary(
  fn: (conn: BinaryConnection, server: MemcachedServer) => Promise<void>,
): Promise<void> {
  return withLiveConnection(() => new BinaryResponseDecoder({ maxValueSize: 4 * 1024 * 1024 }), fn);
}

function set(
  conn: BinaryConnection,
  key: string,
  value: string | Uint8Array,
  flags = 0,
  exptime = 0,
): Promise<BinaryResponse> {
  return conn.one((w) => encodeBinaryStore(w, "set", key, false, value, { flags, exptime }, 1));
}

function assertStatus(r: BinaryResponse | undefined, status: number, why: string): void {
  assert.ok(r !== undefined, `${why}: a reply`);
  const message = r.value === undefined ? "" : `: ${text.decode(r.value)}`;
  assert.equal(r.status, status, `${why}: status 0x${r.status.toString(16)}${message}`);
}

function str(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : text.decode(bytes);
}

/** Collects a stat reply: packets until the one without a key. */
async function stats(conn: BinaryConnection, group?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let r = await conn.one((w) => encodeBinaryStat(w, 42, group));
  for (;;) {
    assertStatus(r, BinaryStatus.NoError, `stat ${group ?? ""}`);
    assert.equal(r.opcode, Opcode.Stat);
    assert.equal(r.opaque, 42);
    if (r.key === undefined) return out;
    out.set(text.decode(r.key), str(r.value) ?? "");
    [r] = (await conn.take(1)) as [BinaryResponse];
  }
}

test("binary get, getk and getq + noop batches against memcached", async () => {
  await withBinary(async (conn) => {
    assertStatus(await set(conn, "k1", "one", 0xffffffff), 0, "set k1");
    assertStatus(await set(conn, "k2", ""), 0, "set k2");
    const replies = await conn.send((w) => {
      encodeBinaryGet(w, "k1", false, { quiet: true }, 1);
      encodeBinaryGet(w, "missing", false, { quiet: true }, 2);
      encodeBinaryGet(w, "k2", false, { quiet: true, withKey: true }, 3);
      encodeBinaryGet(w, "missing", false, { quiet: true, withKey: true }, 4);
      encodeBinaryGet(w, "missing", false, { withKey: true }, 5);
      encodeBinaryGet(w, "missing", false, {}, 6);
      encodeBinaryGet(w, "k1", false, { withKey: true }, 7);
      encodeBinaryGet(w, "k2", false, {}, 8);
      encodeBinaryNoop(w, 9);
    }, 7);
    const [a, b, c, d, e, f, g] = replies;
    assert.deepEqual(
      replies.map((r) => [r.opcode, r.status, r.opaque]),
      [[0x09, 0, 1], [0x0d, 0, 3], [0x0c, 1, 5], [0x00, 1, 6], [0x0c, 0, 7], [0x00, 0, 8], [
        0x0a,
        0,
        9,
      ]],
    );
    assert.equal(str(a!.value), "one");
    assert.equal(a!.flags, 0xffffffff);
    assert.ok(a!.cas > 0n);
    assert.equal(a!.key, undefined);
    assert.equal(str(b!.key), "k2");
    assertBytes(b!.value, new Uint8Array(0), "an empty value");
    assert.equal(str(c!.key), "missing", "getk sends the key of a miss");
    assert.equal(str(d!.value), "Not found");
    assert.equal(str(e!.key), "k1");
    assert.equal(e!.cas, a!.cas);
    assert.equal(f!.value?.length, 0);
    assert.equal(g!.value, undefined);
    assert.equal(g!.key, undefined);
  });
});

test("binary gets of 250-byte and base64 keys against memcached", async () => {
  await withBinary(async (conn, server) => {
    const long = "k".repeat(250);
    assertStatus(await set(conn, long, "long"), 0, "set 250-byte key");
    const r = await conn.one((w) => encodeBinaryGet(w, long, false, { withKey: true }, 1));
    assert.equal(str(r.key), long);
    assert.equal(str(r.value), "long");
    // A key of arbitrary bytes, sent as raw bytes, is the key the meta `b` flag names.
    const raw = latin1("a b\r\n\0\xff");
    const key = encodeKey(raw, true);
    const stored = await conn.one((w) =>
      encodeBinaryStore(w, "set", key, true, "bytes", { flags: 3 }, 2)
    );
    assertStatus(stored, 0, "set base64 key");
    assert.equal(await rawCommand(server, `mg ${key} b v f\r\n`), "VA 5 f3\r\nbytes\r\n");
    await rawCommand(server, `ms ${encodeKey("clé", true)} 2 b\r\nhi\r\n`);
    const utf = await conn.one((w) =>
      encodeBinaryGet(w, encodeKey("clé", true), true, { withKey: true }, 3)
    );
    assertBytes(utf.key, utf8("clé"));
    assert.equal(str(utf.value), "hi");
  });
});

test("binary set, add, replace, append and prepend against memcached, CAS conflicts included", async () => {
  await withBinary(async (conn) => {
    const store = (
      mode: "set" | "add" | "replace" | "append" | "prepend",
      key: string,
      value: string,
      cas?: bigint,
    ) =>
      conn.one((w) =>
        encodeBinaryStore(w, mode, key, false, value, cas === undefined ? {} : { cas }, 5)
      );
    const get = (key: string) => conn.one((w) => encodeBinaryGet(w, key, false, {}, 6));

    const first = await store("set", "k", "value");
    assertStatus(first, 0, "set");
    assert.equal(first.opcode, Opcode.Set);
    assert.equal(first.opaque, 5);
    assert.ok(first.cas > 0n);
    assertStatus(await store("add", "k", "x"), BinaryStatus.KeyExists, "add existing");
    assertStatus(await store("add", "new", "added"), 0, "add new");
    assertStatus(await store("replace", "nope", "x"), BinaryStatus.KeyNotFound, "replace missing");
    assertStatus(await store("replace", "new", "replaced"), 0, "replace existing");
    assert.equal(str((await get("new")).value), "replaced");
    assertStatus(await store("append", "k", "-app"), 0, "append");
    assertStatus(await store("prepend", "k", "pre-"), 0, "prepend");
    assert.equal(str((await get("k")).value), "pre-value-app");
    assertStatus(await store("append", "nope", "x"), BinaryStatus.ItemNotStored, "append missing");
    assertStatus(
      await store("prepend", "nope", "x"),
      BinaryStatus.ItemNotStored,
      "prepend missing",
    );

    // CAS: a stale value is refused, the current one accepted.
    const current = await get("k");
    const stale = await store("set", "k", "stale", current.cas + 1000n);
    assertStatus(stale, BinaryStatus.KeyExists, "set with a stale CAS");
    assert.ok((stale.value?.length ?? 0) > 0, "the error carries its text");
    const fresh = await store("set", "k", "fresh", current.cas);
    assertStatus(fresh, 0, "set with the current CAS");
    assert.notEqual(fresh.cas, current.cas);
    assertStatus(
      await store("replace", "k", "again", current.cas),
      BinaryStatus.KeyExists,
      "reuse",
    );
    assertStatus(await store("set", "nope", "x", 1n), BinaryStatus.KeyNotFound, "CAS on a miss");
    assert.equal(str((await get("k")).value), "fresh");

    // Quiet stores answer only failures; a noop ends the batch.
    const batch = await conn.send((w) => {
      encodeBinaryStore(w, "set", "q1", false, "1", { quiet: true }, 10);
      encodeBinaryStore(w, "add", "q1", false, "2", { quiet: true }, 11);
      encodeBinaryStore(w, "append", "q1", false, "3", { quiet: true }, 12);
      encodeBinaryNoop(w, 13);
    }, 2);
    assert.deepEqual(batch.map((r) => [r.opcode, r.status, r.opaque]), [
      [Opcode.AddQ, BinaryStatus.KeyExists, 11],
      [Opcode.Noop, 0, 13],
    ]);
    assert.equal(str((await get("q1")).value), "13");
  });
});

test("binary stores of large values against memcached", async () => {
  await withBinary(async (conn) => {
    const value = pattern(512 * 1024, 5);
    assertStatus(await set(conn, "big", value, 7), 0, "set 512 KiB");
    const r = await conn.one((w) => encodeBinaryGet(w, "big", false, {}, 1));
    assertBytes(r.value, value, "512 KiB value");
    assert.equal(r.flags, 7);
    const tooBig = await set(conn, "huge", pattern(2 * 1024 * 1024, 1));
    assertStatus(tooBig, BinaryStatus.ValueTooLarge, "2 MiB value");
    assert.ok((tooBig.value?.length ?? 0) > 0);
    // The connection is still in step.
    assertStatus(await conn.one((w) => encodeBinaryNoop(w, 3)), 0, "noop after E2BIG");
  });
});

test("binary delete against memcached", async () => {
  await withBinary(async (conn) => {
    const stored = await set(conn, "k", "v");
    const del = (options: { cas?: bigint; quiet?: boolean }) =>
      conn.one((w) => encodeBinaryDelete(w, "k", false, options, 4));
    assertStatus(await del({ cas: stored.cas + 1n }), BinaryStatus.KeyExists, "stale CAS");
    const deleted = await del({ cas: stored.cas });
    assertStatus(deleted, 0, "delete");
    assert.equal(deleted.opcode, Opcode.Delete);
    assertStatus(await del({}), BinaryStatus.KeyNotFound, "delete missing");
    await set(conn, "k", "v");
    const batch = await conn.send((w) => {
      encodeBinaryDelete(w, "k", false, { quiet: true }, 5);
      encodeBinaryDelete(w, "k", false, { quiet: true }, 6);
      encodeBinaryNoop(w, 7);
    }, 2);
    assert.deepEqual(batch.map((r) => [r.opcode, r.status, r.opaque]), [
      [Opcode.DeleteQ, BinaryStatus.KeyNotFound, 6],
      [Opcode.Noop, 0, 7],
    ]);
  });
});

test("binary incr and decr against memcached, with and without an initial value", async () => {
  await withBinary(async (conn, server) => {
    const arith = (
      mode: "incr" | "decr",
      key: string,
      delta: bigint,
      initial?: bigint,
      exptime?: number,
    ) =>
      conn.one((w) =>
        encodeBinaryArithmetic(w, mode, key, false, delta, {
          ...(initial === undefined ? {} : { initial }),
          ...(exptime === undefined ? {} : { exptime }),
        }, 8)
      );

    assertStatus(await arith("incr", "n", 1n), BinaryStatus.KeyNotFound, "incr missing");
    assertStatus(await arith("decr", "n", 1n), BinaryStatus.KeyNotFound, "decr missing");
    const created = await arith("incr", "n", 5n, 10n);
    assertStatus(created, 0, "incr with initial");
    assert.equal(created.opcode, Opcode.Increment);
    assert.equal(counterValue(created), 10n, "a created counter holds the initial value");
    assert.ok(created.cas > 0n);
    assert.equal(counterValue(await arith("incr", "n", 5n, 10n)), 15n);
    assert.equal(counterValue(await arith("decr", "n", 4n)), 11n);
    assert.equal(counterValue(await arith("decr", "n", 100n)), 0n, "decr stops at 0");

    // 2^64-1: as initial value, as delta, and incr wrapping around.
    assert.equal(counterValue(await arith("incr", "max", 1n, MAX_U64)), MAX_U64);
    assert.equal(counterValue(await arith("decr", "max", 0n)), MAX_U64);
    assert.equal(counterValue(await arith("incr", "max", 1n)), 0n, "incr wraps at 2^64");
    assert.equal(counterValue(await arith("incr", "max", MAX_U64)), MAX_U64);
    assert.equal(counterValue(await arith("decr", "max", MAX_U64)), 0n);

    // A created counter gets the expiration time.
    assert.equal(counterValue(await arith("decr", "ttl", 1n, 7n, 1000)), 7n);
    const ttl = await rawCommand(server, "mg ttl t v\r\n");
    assert.match(ttl, /^VA 1 t(1000|999)\r\n7\r\n$/);

    await set(conn, "text", "abc");
    assertStatus(await arith("incr", "text", 1n), BinaryStatus.NonNumeric, "incr of text");
  });
});

test("binary touch and get-and-touch against memcached", async () => {
  await withBinary(async (conn, server) => {
    await set(conn, "k", "v", 9);
    const touched = await conn.one((w) => encodeBinaryTouch(w, "k", false, 500, 1));
    assertStatus(touched, 0, "touch");
    assert.equal(touched.opcode, Opcode.Touch);
    assert.match(await rawCommand(server, "mg k t\r\n"), /^HD t(500|499)\r\n$/);
    const missing = await conn.one((w) => encodeBinaryTouch(w, "nope", false, 5, 2));
    assertStatus(missing, BinaryStatus.KeyNotFound, "touch missing");

    const gat = await conn.one((w) => encodeBinaryGet(w, "k", false, { touch: 800 }, 3));
    assertStatus(gat, 0, "gat");
    assert.deepEqual([gat.opcode, gat.flags, str(gat.value), gat.key], [
      Opcode.GAT,
      9,
      "v",
      undefined,
    ]);
    assert.match(await rawCommand(server, "mg k t\r\n"), /^HD t(800|799)\r\n$/);
    const batch = await conn.send((w) => {
      encodeBinaryGet(w, "nope", false, { touch: 1, quiet: true }, 4);
      encodeBinaryGet(w, "k", false, { touch: 0, quiet: true, withKey: true }, 5);
      encodeBinaryGet(w, "nope", false, { touch: 1, withKey: true }, 6);
      encodeBinaryNoop(w, 7);
    }, 3);
    assert.deepEqual(batch.map((r) => [r.opcode, r.status, r.opaque, str(r.key)]), [
      [Opcode.GATKQ, 0, 5, "k"],
      [Opcode.GATK, BinaryStatus.KeyNotFound, 6, "nope"],
      [Opcode.Noop, 0, 7, undefined],
    ]);
    assert.equal(await rawCommand(server, "mg k t\r\n"), "HD t-1\r\n", "touch 0: never expires");
  });
});

test("binary flush, version and quit against memcached", async () => {
  await withBinary(async (conn, server) => {
    await set(conn, "k", "v");
    const later = await conn.one((w) => encodeBinaryFlush(w, 1, 1000));
    assertStatus(later, 0, "flush in 1000 s");
    assert.equal(later.opcode, Opcode.Flush);
    assertStatus(await conn.one((w) => encodeBinaryGet(w, "k", false, {}, 2)), 0, "not yet");
    assertStatus(await conn.one((w) => encodeBinaryFlush(w, 3)), 0, "flush now");
    const gone = await conn.one((w) => encodeBinaryGet(w, "k", false, {}, 4));
    assertStatus(gone, BinaryStatus.KeyNotFound, "flushed");

    const version = await conn.one((w) => encodeBinaryVersion(w, 5));
    assertStatus(version, 0, "version");
    assert.equal(version.opcode, Opcode.Version);
    assert.match(str(version.value) ?? "", /^\d+\.\d+\.\d+/);
    assert.equal(await rawCommand(server, "version\r\n"), `VERSION ${str(version.value)}\r\n`);

    const quit = await conn.one((w) => encodeBinaryQuit(w, 7));
    assertStatus(quit, 0, "quit");
    assert.deepEqual([quit.opcode, quit.opaque], [Opcode.Quit, 7]);
    await within(5_000, "the server closes the connection", conn.waitClosed());
    assert.ok(conn.closed, "the server closed the connection");
  });
});

test("binary stat replies of many packets against memcached", async () => {
  await withBinary(async (conn, server) => {
    const general = await stats(conn);
    assert.equal(general.get("pid"), String(server.pid));
    assert.ok(general.size > 20, `${general.size} statistics`);
    assert.match(general.get("version") ?? "", /^\d+\.\d+\.\d+/);
    const settings = await stats(conn, "settings");
    assert.equal(settings.get("maxbytes"), String(64 * 1024 * 1024));
    assert.equal(settings.get("tcpport"), String(server.port));
    // The connection is still in step after hundreds of packets.
    await set(conn, "k", "v");
    const items = await stats(conn, "items");
    assert.ok([...items.keys()].some((name) => name.startsWith("items:")));
    assertStatus(await conn.one((w) => encodeBinaryNoop(w, 1)), 0, "noop after stats");
  });
});

test("binary verbosity: memcached 1.6 does not implement it and drops the connection", async () => {
  await withBinary(async (conn) => {
    // memcached 1.6 answers an unknown opcode after swallowing its whole body again, although
    // it already read the 4 bytes of extras: it eats 4 bytes of the next request and loses
    // the packet boundaries, so the noops after it are never answered and the server closes.
    await conn.send((w) => {
      encodeBinaryVerbosity(w, 1, 6);
      encodeBinaryNoop(w, 7);
      encodeBinaryNoop(w, 8);
    }, 0);
    await within(5_000, "the server closes the connection", conn.waitClosed());
    for (const r of conn.received()) {
      assert.deepEqual([r.opcode, r.status, r.opaque], [Opcode.Verbosity, 0x81, 6]);
    }
  });
});
