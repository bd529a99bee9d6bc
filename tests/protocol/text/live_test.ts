/**
 * Round trips of the classic text-protocol codec against a real memcached: the bytes of
 * `src/protocol/text/encode.ts`'s encoders (and of the shared plain-command encoders) go over a
 * plain socket, and the server's replies are parsed by `TextResponseDecoder`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import { latin1, MAX_U64, pattern } from "../../_util.ts";
import {
  type ByteWriter,
  encodeFlushAll,
  encodeKey,
  encodeStats,
  encodeVerbosity,
  encodeVersion,
} from "../../../src/protocol/mod.ts";
import {
  encodeTextArithmetic,
  encodeTextDelete,
  encodeTextGet,
  encodeTextStore,
  encodeTextTouch,
  type TextResponse,
  TextResponseDecoder,
  type TextResponseStatus,
} from "../../../src/protocol/mod.ts";
import { withLiveConnection } from "../_codec.ts";

/** What the tests use of a connection: the shared live connection plus `statuses()`. */
interface TextConnection {
  /** Encodes requests with `encode`, writes them and resolves with the next `count` replies. */
  send(encode: (w: ByteWriter) => void, count: number): Promise<TextResponse[]>;
  /** Sends requests and returns the statuses of their `count` replies. */
  statuses(encode: (w: ByteWriter) => void, count: number): Promise<TextResponseStatus[]>;
}

/**
 * Runs `body` with a fresh server and connection; always closes and stops both, and checks that
 * no reply (or part of one) was left unread.
 */
function withConnection(body: (c: TextConnection) => Promise<void>): Promise<void> {
  return withLiveConnection(() => new TextResponseDecoder(), (conn) =>
    body({
      send: (encode, count) => conn.send(encode, count),
      statuses: async (encode, count) => (await conn.send(encode, count)).map((r) => r.status),
    }), { drained: true });
}

const enc = new TextEncoder();

/** A VALUE reply's expected fields (the CAS token is checked separately). */
function assertValue(
  r: TextResponse | undefined,
  key: string,
  data: Uint8Array | string,
  flags = 0,
): void {
  assert.equal(r?.status, "VALUE");
  assert.equal(r.key, key);
  assert.equal(r.flags, flags);
  assert.deepStrictEqual(r.value, typeof data === "string" ? enc.encode(data) : data);
}

test("text storage commands round-trip through memcached in every mode", async () => {
  await withConnection(async (c) => {
    const st = (encode: (w: ByteWriter) => void) => c.statuses(encode, 1);
    assert.deepEqual(await st((w) => encodeTextStore(w, "replace", "k", "x")), ["NOT_STORED"]);
    assert.deepEqual(await st((w) => encodeTextStore(w, "append", "k", "x")), ["NOT_STORED"]);
    assert.deepEqual(await st((w) => encodeTextStore(w, "prepend", "k", "x")), ["NOT_STORED"]);
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "add", "k", "mid", { flags: 7, exptime: 300 })),
      ["STORED"],
    );
    assert.deepEqual(await st((w) => encodeTextStore(w, "add", "k", "no")), ["NOT_STORED"]);
    assert.deepEqual(await st((w) => encodeTextStore(w, "append", "k", "-end")), ["STORED"]);
    assert.deepEqual(await st((w) => encodeTextStore(w, "prepend", "k", "start-")), ["STORED"]);
    let [r, end] = await c.send((w) => encodeTextGet(w, ["k"], { cas: true }), 2);
    assertValue(r, "k", "start-mid-end", 7);
    assert.equal(end?.status, "END");
    const cas = r!.cas!;
    assert.equal(typeof cas, "bigint");

    // cas: a stale token conflicts, the current one stores, a missing key is NOT_FOUND.
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "cas", "k", "stale", { cas: cas + 1000n })),
      ["EXISTS"],
    );
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "cas", "k", "swapped", { cas, flags: 9 })),
      ["STORED"],
    );
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "cas", "k", "again", { cas })),
      ["EXISTS"],
    );
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "cas", "missing", "v", { cas })),
      ["NOT_FOUND"],
    );
    assert.deepEqual(
      await st((w) => encodeTextStore(w, "replace", "k", "replaced", { flags: 1 })),
      [
        "STORED",
      ],
    );
    [r, end] = await c.send((w) => encodeTextGet(w, ["k"]), 2);
    assertValue(r, "k", "replaced", 1);
    assert.equal(r?.cas, undefined);
    assert.equal(end?.status, "END");

    // noreply: no reply at all, so the next reply is the get's.
    const replies = await c.send((w) => {
      encodeTextStore(w, "set", "quiet", "shh", { noreply: true });
      encodeTextStore(w, "add", "quiet", "no", { noreply: true });
      encodeTextGet(w, ["quiet"]);
    }, 2);
    assertValue(replies[0], "quiet", "shh");
    assert.equal(replies[1]?.status, "END");

    // Binary data with CRLF and every byte, a UTF-8 string and flags of 2^32-1.
    const data = pattern(70_000, 3);
    const utf8Key = encodeKey("ключ", false);
    assert.deepEqual(
      await c.statuses((w) => {
        encodeTextStore(w, "set", "bin", data, { flags: 0xffff_ffff });
        encodeTextStore(w, "set", utf8Key, "héllo €\r\nEND\r\n");
      }, 2),
      ["STORED", "STORED"],
    );
    const got = await c.send((w) => encodeTextGet(w, ["bin", utf8Key]), 3);
    assertValue(got[0], "bin", data, 0xffff_ffff);
    assertValue(got[1], utf8Key, "héllo €\r\nEND\r\n");
    assert.equal(got[2]?.status, "END");

    // A negative exptime expires the item at once.
    assert.deepEqual(await st((w) => encodeTextStore(w, "set", "gone", "v", { exptime: -1 })), [
      "STORED",
    ]);
    assert.deepEqual(await c.statuses((w) => encodeTextGet(w, ["gone"]), 1), ["END"]);
  });
});

test("text get, gets, gat and gats fetch several keys through memcached", async () => {
  await withConnection(async (c) => {
    assert.deepEqual(
      await c.statuses((w) => {
        encodeTextStore(w, "set", "a", "alpha", { flags: 1 });
        encodeTextStore(w, "set", "b", "", { flags: 2 });
        encodeTextStore(w, "set", "c", "gamma", { flags: 3 });
      }, 3),
      ["STORED", "STORED", "STORED"],
    );
    // get: hits in request order, a miss left out, a repeated key answered twice.
    let replies = await c.send((w) => encodeTextGet(w, ["a", "missing", "b", "c", "a"]), 5);
    assertValue(replies[0], "a", "alpha", 1);
    assertValue(replies[1], "b", "", 2);
    assertValue(replies[2], "c", "gamma", 3);
    assertValue(replies[3], "a", "alpha", 1);
    assert.equal(replies[4]?.status, "END");
    for (const r of replies.slice(0, 4)) assert.equal(r.cas, undefined);

    // gets: the same, with CAS tokens that differ per item.
    replies = await c.send((w) => encodeTextGet(w, ["a", "b", "c"], { cas: true }), 4);
    const tokens = replies.slice(0, 3).map((r) => r.cas);
    for (const token of tokens) assert.equal(typeof token, "bigint");
    assert.equal(new Set(tokens).size, 3);
    assert.equal(replies[3]?.status, "END");

    // gat and gats: values come back and the TTL changes; gats keeps the CAS tokens.
    replies = await c.send((w) => encodeTextGet(w, ["a", "nope", "b"], { touch: 100 }), 3);
    assertValue(replies[0], "a", "alpha", 1);
    assertValue(replies[1], "b", "", 2);
    assert.equal(replies[0]?.cas, undefined);
    assert.equal(replies[2]?.status, "END");
    replies = await c.send((w) => encodeTextGet(w, ["c", "a"], { touch: 200, cas: true }), 3);
    assertValue(replies[0], "c", "gamma", 3);
    assertValue(replies[1], "a", "alpha", 1);
    assert.equal(replies[0]?.cas, tokens[2]);
    assert.equal(replies[1]?.cas, tokens[0]);
    assert.equal(replies[2]?.status, "END");

    // gat with a negative exptime returns the item once and expires it.
    replies = await c.send((w) => encodeTextGet(w, ["c"], { touch: -1 }), 2);
    assertValue(replies[0], "c", "gamma", 3);
    assert.deepEqual(await c.statuses((w) => encodeTextGet(w, ["c"]), 1), ["END"]);

    // A multi-get far longer than memcached's 2 KiB line buffer, and a gat at the limit.
    const keys = Array.from({ length: 600 }, (_, i) => `many:${i}`);
    const stored = await c.statuses((w) => {
      for (const key of keys) encodeTextStore(w, "set", key, key);
    }, keys.length);
    assert.ok(stored.every((s) => s === "STORED"));
    replies = await c.send((w) => encodeTextGet(w, keys, { cas: true }), keys.length + 1);
    keys.forEach((key, i) => assertValue(replies[i], key, key));
    assert.equal(replies[keys.length]?.status, "END");
    const gatKeys = keys.slice(0, 220); // 7 + 220 * ~8.5 bytes: under 2048
    replies = await c.send((w) => encodeTextGet(w, gatKeys, { touch: 60 }), gatKeys.length + 1);
    gatKeys.forEach((key, i) => assertValue(replies[i], key, key));

    // A value of 512 KiB streams through the decoder.
    const big = pattern(512 * 1024, 11);
    assert.deepEqual(await c.statuses((w) => encodeTextStore(w, "set", "big", big), 1), [
      "STORED",
    ]);
    replies = await c.send((w) => encodeTextGet(w, ["big"]), 2);
    assertValue(replies[0], "big", big);
  });
});

test("text delete, incr, decr and touch round-trip through memcached", async () => {
  await withConnection(async (c) => {
    const one = async (encode: (w: ByteWriter) => void) => (await c.send(encode, 1))[0]!;
    assert.equal((await one((w) => encodeTextDelete(w, "k"))).status, "NOT_FOUND");
    assert.equal((await one((w) => encodeTextArithmetic(w, "incr", "n", 1n))).status, "NOT_FOUND");
    assert.equal((await one((w) => encodeTextTouch(w, "n", 10))).status, "NOT_FOUND");

    assert.equal((await one((w) => encodeTextStore(w, "set", "n", "100"))).status, "STORED");
    let r = await one((w) => encodeTextArithmetic(w, "incr", "n", 5n));
    assert.deepEqual([r.status, r.number], ["NUMBER", 105n]);
    // decr shrinks the number: memcached pads the stored text with spaces, not the reply.
    r = await one((w) => encodeTextArithmetic(w, "decr", "n", 100n));
    assert.deepEqual([r.status, r.number], ["NUMBER", 5n]);
    const [padded] = await c.send((w) => encodeTextGet(w, ["n"]), 2);
    assertValue(padded, "n", "5  ");
    r = await one((w) => encodeTextArithmetic(w, "decr", "n", 10n));
    assert.deepEqual([r.status, r.number], ["NUMBER", 0n], "decr stops at 0");

    // incr wraps around at 2^64, exactly.
    r = await one((w) => encodeTextArithmetic(w, "incr", "n", MAX_U64));
    assert.equal(r.number, MAX_U64);
    r = await one((w) => encodeTextArithmetic(w, "incr", "n", 2n));
    assert.equal(r.number, 1n, "2^64-1 + 2 wraps to 1");
    r = await one((w) => encodeTextArithmetic(w, "decr", "n", MAX_U64));
    assert.equal(r.number, 0n);
    r = await one((w) => encodeTextArithmetic(w, "incr", "n", (1n << 53n) + 1n));
    assert.equal(r.number, 9_007_199_254_740_993n);

    // A non-numeric value is a CLIENT_ERROR with memcached's message.
    assert.equal((await one((w) => encodeTextStore(w, "set", "s", "abc"))).status, "STORED");
    r = await one((w) => encodeTextArithmetic(w, "incr", "s", 1n));
    assert.equal(r.status, "CLIENT_ERROR");
    assert.match(r.message, /non-numeric/);

    // noreply arithmetic and delete send nothing back.
    const replies = await c.send((w) => {
      encodeTextArithmetic(w, "incr", "n", 1n, true);
      encodeTextTouch(w, "n", 100, true);
      encodeTextDelete(w, "s", true);
      encodeTextArithmetic(w, "incr", "n", 1n);
    }, 1);
    assert.equal(replies[0]?.number, 9_007_199_254_740_995n);

    assert.equal((await one((w) => encodeTextTouch(w, "n", 300))).status, "TOUCHED");
    assert.equal((await one((w) => encodeTextDelete(w, "n"))).status, "DELETED");
    assert.equal((await one((w) => encodeTextDelete(w, "n"))).status, "NOT_FOUND");
    assert.equal((await one((w) => encodeTextDelete(w, "s"))).status, "NOT_FOUND");
    // touch with a negative exptime expires the item.
    assert.equal((await one((w) => encodeTextStore(w, "set", "t", "v"))).status, "STORED");
    assert.equal((await one((w) => encodeTextTouch(w, "t", -1))).status, "TOUCHED");
    assert.equal((await one((w) => encodeTextGet(w, ["t"]))).status, "END");
  });
});

test("the plain commands decode with the text decoder: stats, version, flush_all, verbosity", async () => {
  await withConnection(async (c) => {
    let [r] = await c.send((w) => encodeStats(w), 1);
    assert.equal(r?.status, "STATS");
    assert.match(r.stats?.get("pid") ?? "", /^\d+$/);
    assert.match(r.stats?.get("version") ?? "", /^\d+\.\d+/);
    assert.ok((r.stats?.size ?? 0) > 50, "the general statistics are all there");

    [r] = await c.send((w) => encodeStats(w, "settings"), 1);
    assert.equal(r?.stats?.get("item_size_max"), "1048576");

    // A group with no statistics yet answers a bare END.
    [r] = await c.send((w) => encodeStats(w, "slabs"), 1);
    assert.equal(r?.status, "STATS");
    [r] = await c.send((w) => encodeStats(w, "items"), 1);
    assert.equal(r?.status, "END");

    [r] = await c.send(encodeVersion, 1);
    assert.equal(r?.status, "VERSION");
    assert.match(r.message, /^\d+\.\d+\.\d+/);

    assert.deepEqual(
      await c.statuses((w) => {
        encodeTextStore(w, "set", "k", "v");
        encodeVerbosity(w, 0);
        encodeFlushAll(w);
        encodeTextGet(w, ["k"]);
      }, 4),
      ["STORED", "OK", "OK", "END"],
    );

    // An unknown command is ERROR, whatever came before it in the pipeline.
    const replies = await c.send((w) => {
      encodeTextStore(w, "set", "k", "v");
      w.bytes(latin1("bogus\r\n"));
      encodeTextGet(w, ["k"]);
    }, 4);
    assert.deepEqual(replies.map((x) => x.status), ["STORED", "ERROR", "VALUE", "END"]);
  });
});
