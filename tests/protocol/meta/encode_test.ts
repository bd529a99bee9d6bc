import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import { latin1, latin1Text, MAX_U64 } from "../../_util.ts";
import {
  ByteWriter,
  encodeFlushAll,
  encodeKey,
  encodeMetaArithmetic,
  encodeMetaDelete,
  encodeMetaGet,
  encodeMetaNoop,
  encodeMetaSet,
  encodeMultiGet,
  encodeQuit,
  encodeStats,
  encodeVerbosity,
  encodeVersion,
  type MetaArithmeticOptions,
  type MetaGetOptions,
  type MetaSetOptions,
  type SetMode,
} from "../../../src/protocol/mod.ts";
import { assertRejected, encodedText } from "../_codec.ts";

const encoded = encodedText;

const bar = latin1("bar");

function get(options: MetaGetOptions, opaque = -1, key = "foo", base64 = false): string {
  return encoded((w) => encodeMetaGet(w, key, base64, options, opaque));
}

function set(
  options: MetaSetOptions,
  opaque = -1,
  data: Uint8Array = bar,
  key = "foo",
  base64 = false,
): string {
  return encoded((w) => encodeMetaSet(w, key, base64, data, options, opaque));
}

function arith(options: MetaArithmeticOptions, opaque = -1, key = "cnt", base64 = false): string {
  return encoded((w) => encodeMetaArithmetic(w, key, base64, options, opaque));
}

// mg

test("encodeMetaGet() writes a bare mg without options or opaque", () => {
  assert.equal(get({}), "mg foo\r\n");
});

test("encodeMetaGet() writes v f c t and O in a fixed order", () => {
  assert.equal(
    get({ value: true, flags: true, cas: true, ttl: true }, 13),
    "mg foo v f c t O13\r\n",
  );
  assert.equal(get({ ttl: true, value: true }, 13), "mg foo v t O13\r\n");
  assert.equal(get({ value: true }), "mg foo v\r\n");
  assert.equal(get({ flags: true }), "mg foo f\r\n");
  assert.equal(get({ cas: true }), "mg foo c\r\n");
  assert.equal(get({ ttl: true }), "mg foo t\r\n");
});

test("encodeMetaGet() omits options that are false", () => {
  assert.equal(
    get({ value: false, flags: false, cas: false, ttl: false, quiet: false }),
    "mg foo\r\n",
  );
});

test("encodeMetaGet() writes T for a touch, including T0", () => {
  assert.equal(get({ touch: 30 }, 15), "mg foo T30 O15\r\n");
  assert.equal(get({ touch: 0 }), "mg foo T0\r\n");
  assert.equal(get({ touch: 2_000_000_000, value: true }), "mg foo v T2000000000\r\n");
});

test("encodeMetaGet() writes q for a quiet get", () => {
  assert.equal(get({ value: true, quiet: true }, 7), "mg foo v q O7\r\n");
});

test("encodeMetaGet() writes every option at once in order", () => {
  assert.equal(
    get({ value: true, flags: true, cas: true, ttl: true, touch: 5, quiet: true }, 99),
    "mg foo v f c t T5 q O99\r\n",
  );
});

test("encodeMetaGet() writes O0 and omits O for an opaque of -1", () => {
  assert.equal(get({ value: true }, 0), "mg foo v O0\r\n");
  assert.equal(get({ value: true }, -1), "mg foo v\r\n");
  assert.equal(get({}, 2_147_483_647), "mg foo O2147483647\r\n");
});

test("encodeMetaGet() writes the b flag after a base64 key", () => {
  const key = encodeKey("foo", true);
  assert.equal(get({ value: true }, 3, key, true), "mg Zm9v b v O3\r\n");
});

test("encodeMetaGet() writes a UTF-8 key as its bytes", () => {
  const key = encodeKey("é", false);
  assert.equal(get({}, -1, key), "mg \xc3\xa9\r\n");
});

test("encodeMetaGet() writes the lease flags N and R after T, before q and O", () => {
  assert.equal(get({ value: true, cas: true, vivify: 30 }, 7), "mg foo v c N30 O7\r\n");
  assert.equal(get({ value: true, recache: 5 }), "mg foo v R5\r\n");
  assert.equal(
    get({ value: true, flags: true, cas: true, touch: 9, vivify: 30, recache: 5, quiet: true }, 2),
    "mg foo v f c T9 N30 R5 q O2\r\n",
  );
  for (
    const [name, options] of [
      ["vivify", { vivify: -1 }],
      ["vivify", { vivify: 1.5 }],
      ["recache", { recache: NaN }],
    ] as const
  ) {
    assertRejected((w) => encodeMetaGet(w, "foo", false, options, 1), "INVALID_TTL", name);
  }
});

test("encodeMetaGet() rejects a bad touch TTL with INVALID_TTL and writes nothing", () => {
  for (const touch of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
    assertRejected(
      (w) => encodeMetaGet(w, "foo", false, { value: true, touch }, 1),
      "INVALID_TTL",
      `touch ${touch}`,
    );
  }
});

// get (the text multi-get a meta connection reads with VALUE and END)

test("encodeMultiGet() writes one get line of every key, in order, repeats included", () => {
  assert.equal(encoded((w) => encodeMultiGet(w, ["a"])), "get a\r\n");
  assert.equal(encoded((w) => encodeMultiGet(w, ["a", "bb", "a"])), "get a bb a\r\n");
  const keys = Array.from({ length: 1000 }, (_, i) => `key:${i}`);
  assert.equal(encoded((w) => encodeMultiGet(w, keys)), `get ${keys.join(" ")}\r\n`);
});

test("encodeMultiGet() writes a UTF-8 key as its bytes and a 250-byte key whole", () => {
  const keys = [encodeKey("é", false), encodeKey("k".repeat(250), false)];
  assert.equal(encoded((w) => encodeMultiGet(w, keys)), `get \xc3\xa9 ${"k".repeat(250)}\r\n`);
});

test("encodeMultiGet() follows earlier requests in the same writer", () => {
  const text = encoded((w) => {
    encodeMetaGet(w, "x", false, { value: true }, 1);
    encodeMultiGet(w, ["y", "z"]);
    encodeMetaNoop(w);
  });
  assert.equal(text, "mg x v O1\r\nget y z\r\nmn\r\n");
});

test("encodeMultiGet() rejects an empty key list with INVALID_ARGUMENT and writes nothing", () => {
  assertRejected((w) => encodeMultiGet(w, []), "INVALID_ARGUMENT", "no keys");
});

// ms

test("encodeMetaSet() writes the header, the value and CRLF", () => {
  assert.equal(set({ ttl: 60, flags: 5 }, 12), "ms foo 3 T60 F5 O12\r\nbar\r\n");
  assert.equal(set({}), "ms foo 3\r\nbar\r\n");
});

test("encodeMetaSet() writes T for every TTL but 0, memcached's default of no expiry", () => {
  assert.equal(set({ ttl: 0 }), "ms foo 3\r\nbar\r\n");
  assert.equal(set({ ttl: 60 }), "ms foo 3 T60\r\nbar\r\n");
});

test("encodeMetaSet() omits F when the client flags are 0", () => {
  assert.equal(set({ flags: 0 }), "ms foo 3\r\nbar\r\n");
  assert.equal(set({ flags: 1 }), "ms foo 3 F1\r\nbar\r\n");
  assert.equal(set({ flags: 4_294_967_295 }), "ms foo 3 F4294967295\r\nbar\r\n");
});

test("encodeMetaSet() writes the mode letter of each mode, and none for set", () => {
  const modes: Array<[SetMode, string]> = [
    ["set", ""],
    ["add", " ME"],
    ["replace", " MR"],
    ["append", " MA"],
    ["prepend", " MP"],
  ];
  for (const [mode, letters] of modes) {
    assert.equal(set({ mode }, 1), `ms foo 3${letters} O1\r\nbar\r\n`, mode);
  }
});

test("encodeMetaSet() writes C with the exact CAS token, up to 2^64-1", () => {
  assert.equal(set({ cas: 99n }, 9), "ms foo 3 C99 O9\r\nbar\r\n");
  assert.equal(set({ cas: 0n }), "ms foo 3 C0\r\nbar\r\n");
  assert.equal(set({ cas: (1n << 53n) + 1n }), "ms foo 3 C9007199254740993\r\nbar\r\n");
  assert.equal(set({ cas: MAX_U64 }), "ms foo 3 C18446744073709551615\r\nbar\r\n");
});

test("encodeMetaSet() writes I and q", () => {
  assert.equal(set({ invalidate: true }), "ms foo 3 I\r\nbar\r\n");
  assert.equal(set({ quiet: true }, 4), "ms foo 3 q O4\r\nbar\r\n");
  assert.equal(set({ invalidate: false, quiet: false }), "ms foo 3\r\nbar\r\n");
});

test("encodeMetaSet() writes every option at once in order", () => {
  assert.equal(
    set({ mode: "replace", ttl: 60, flags: 7, cas: 42n, invalidate: true, quiet: true }, 9),
    "ms foo 3 T60 F7 C42 MR I q O9\r\nbar\r\n",
  );
});

test("encodeMetaSet() writes the b flag after the data length, as memcached requires", () => {
  const key = encodeKey(latin1("a b\r\n"), true);
  assert.equal(set({}, 2, bar, key, true), `ms ${key} 3 b O2\r\nbar\r\n`);
  assert.equal(key, "YSBiDQo=");
});

test("encodeMetaSet() frames an empty value by its length", () => {
  assert.equal(set({}, -1, new Uint8Array(0)), "ms foo 0\r\n\r\n");
});

test("encodeMetaSet() frames binary data holding CRLF by its length", () => {
  const data = latin1("\r\nmn\r\n\0\xff");
  assert.equal(set({}, -1, data), "ms foo 8\r\n\r\nmn\r\n\0\xff\r\n");
});

test("encodeMetaSet() passes a value of 16 KiB or more through without copying it", () => {
  const data = new Uint8Array(16 * 1024).fill(0x61);
  const w = new ByteWriter();
  encodeMetaSet(w, "foo", false, data, { ttl: 1 }, 5);
  encodeMetaNoop(w);
  const chunks = w.take();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], data);
  assert.equal(latin1Text(chunks.slice(0, 1)), "ms foo 16384 T1 O5\r\n");
  assert.equal(latin1Text(chunks.slice(2)), "\r\nmn\r\n");
});

test("encodeMetaSet() rejects a bad TTL with INVALID_TTL and writes nothing", () => {
  for (const ttl of [-1, 1.5, NaN, Infinity, 2 ** 53, "5" as unknown as number]) {
    assertRejected(
      (w) => encodeMetaSet(w, "foo", false, bar, { ttl }, 1),
      "INVALID_TTL",
      `ttl ${String(ttl)}`,
    );
  }
});

test("encodeMetaSet() rejects bad client flags with INVALID_ARGUMENT and writes nothing", () => {
  for (const flags of [-1, 1.5, NaN, 2 ** 32, Infinity]) {
    assertRejected(
      (w) => encodeMetaSet(w, "foo", false, bar, { flags }, 1),
      "INVALID_ARGUMENT",
      `flags ${flags}`,
    );
  }
});

test("encodeMetaSet() rejects a bad CAS token with INVALID_ARGUMENT and writes nothing", () => {
  for (const cas of [-1n, 1n << 64n, (1n << 64n) + 1n, 5 as unknown as bigint]) {
    assertRejected(
      (w) => encodeMetaSet(w, "foo", false, bar, { cas }, 1),
      "INVALID_ARGUMENT",
      `cas ${String(cas)}`,
    );
  }
});

test("encodeMetaSet() rejects an unknown mode with INVALID_ARGUMENT and writes nothing", () => {
  // "constructor", "toString" and "__proto__" are inherited by a plain object; before the fix
  // they slipped past the mode lookup, and "constructor" wrote half a request then threw a
  // TypeError.
  const modes = [
    "bogus",
    "",
    "SET",
    "ME",
    "constructor",
    "toString",
    "hasOwnProperty",
    "__proto__",
  ];
  for (const mode of modes) {
    assertRejected(
      (w) => encodeMetaSet(w, "foo", false, bar, { mode: mode as SetMode }, 1),
      "INVALID_ARGUMENT",
      `mode ${JSON.stringify(mode)}`,
    );
  }
});

// md

test("encodeMetaDelete() writes a bare md", () => {
  assert.equal(encoded((w) => encodeMetaDelete(w, "foo", false, {}, -1)), "md foo\r\n");
  assert.equal(encoded((w) => encodeMetaDelete(w, "foo", false, {}, 3)), "md foo O3\r\n");
});

test("encodeMetaDelete() writes the stale TTL of an invalidation after I", () => {
  assert.equal(
    encoded((w) => encodeMetaDelete(w, "foo", false, { invalidate: true, ttl: 30 }, 2)),
    "md foo I T30 O2\r\n",
  );
  assertRejected(
    (w) => encodeMetaDelete(w, "foo", false, { invalidate: true, ttl: -1 }, 2),
    "INVALID_TTL",
    "a negative TTL",
  );
});

test("encodeMetaDelete() writes C, I, q and O in order", () => {
  assert.equal(
    encoded((w) => encodeMetaDelete(w, "foo", false, { quiet: true }, 4)),
    "md foo q O4\r\n",
  );
  assert.equal(
    encoded((w) => encodeMetaDelete(w, "foo", false, { cas: 5n, invalidate: true }, -1)),
    "md foo C5 I\r\n",
  );
  assert.equal(
    encoded((w) =>
      encodeMetaDelete(w, "foo", false, { cas: MAX_U64, invalidate: true, quiet: true }, 8)
    ),
    "md foo C18446744073709551615 I q O8\r\n",
  );
  assert.equal(
    encoded((w) => encodeMetaDelete(w, "foo", false, { invalidate: false, quiet: false }, -1)),
    "md foo\r\n",
  );
});

test("encodeMetaDelete() writes the b flag after a base64 key", () => {
  assert.equal(encoded((w) => encodeMetaDelete(w, "Zm9v", true, {}, 1)), "md Zm9v b O1\r\n");
});

test("encodeMetaDelete() rejects a bad CAS token with INVALID_ARGUMENT and writes nothing", () => {
  for (const cas of [-1n, 1n << 64n, 7 as unknown as bigint]) {
    assertRejected(
      (w) => encodeMetaDelete(w, "foo", false, { cas }, 1),
      "INVALID_ARGUMENT",
      `cas ${String(cas)}`,
    );
  }
});

// ma

test("encodeMetaArithmetic() asks for the value by default and omits D for a delta of 1", () => {
  assert.equal(arith({}, 1), "ma cnt v O1\r\n");
  assert.equal(arith({ delta: 1n }), "ma cnt v\r\n");
  assert.equal(arith({ mode: "incr" }), "ma cnt v\r\n");
});

test("encodeMetaArithmetic() omits v when the value is not wanted", () => {
  assert.equal(arith({ value: false }, 1), "ma cnt O1\r\n");
  assert.equal(arith({ value: true }, 1), "ma cnt v O1\r\n");
});

test("encodeMetaArithmetic() writes D for any other delta, up to 2^64-1", () => {
  assert.equal(arith({ delta: 0n }), "ma cnt D0 v\r\n");
  assert.equal(arith({ delta: 5n }), "ma cnt D5 v\r\n");
  assert.equal(arith({ delta: MAX_U64 }), "ma cnt D18446744073709551615 v\r\n");
});

test("encodeMetaArithmetic() writes MD for a decrement", () => {
  assert.equal(arith({ mode: "decr", delta: 5n }), "ma cnt MD D5 v\r\n");
  assert.equal(arith({ mode: "decr" }, 3), "ma cnt MD v O3\r\n");
});

test("encodeMetaArithmetic() writes N and J when an initial value is given", () => {
  assert.equal(
    arith({ initial: 18446744073709551614n, autoCreateTtl: 0 }, 2),
    "ma cnt N0 J18446744073709551614 v O2\r\n",
  );
  assert.equal(arith({ initial: 0n }), "ma cnt N0 J0 v\r\n");
  assert.equal(arith({ initial: 10n, autoCreateTtl: 60, delta: 2n }), "ma cnt D2 N60 J10 v\r\n");
  assert.equal(arith({ initial: MAX_U64 }), "ma cnt N0 J18446744073709551615 v\r\n");
});

test("encodeMetaArithmetic() ignores autoCreateTtl without an initial value", () => {
  assert.equal(arith({ autoCreateTtl: 60 }), "ma cnt v\r\n");
});

test("encodeMetaArithmetic() writes T to update the TTL", () => {
  assert.equal(arith({ ttl: 30 }), "ma cnt T30 v\r\n");
  assert.equal(arith({ ttl: 0 }), "ma cnt T0 v\r\n");
});

test("encodeMetaArithmetic() writes every option at once in order", () => {
  assert.equal(
    arith({ mode: "decr", delta: 3n, initial: 100n, autoCreateTtl: 9, ttl: 8, value: true }, 7),
    "ma cnt MD D3 N9 J100 T8 v O7\r\n",
  );
});

test("encodeMetaArithmetic() writes the b flag after a base64 key", () => {
  assert.equal(arith({}, -1, "Y250", true), "ma Y250 b v\r\n");
});

test("encodeMetaArithmetic() rejects a bad delta or initial value and writes nothing", () => {
  const bad = [-1n, 1n << 64n, 5 as unknown as bigint];
  for (const delta of bad) {
    assertRejected(
      (w) => encodeMetaArithmetic(w, "cnt", false, { delta }, 1),
      "INVALID_ARGUMENT",
      `delta ${String(delta)}`,
    );
  }
  for (const initial of bad) {
    assertRejected(
      (w) => encodeMetaArithmetic(w, "cnt", false, { initial }, 1),
      "INVALID_ARGUMENT",
      `initial ${String(initial)}`,
    );
  }
});

test("encodeMetaArithmetic() rejects a bad TTL with INVALID_TTL and writes nothing", () => {
  for (const ttl of [-1, 1.5, NaN]) {
    assertRejected(
      (w) => encodeMetaArithmetic(w, "cnt", false, { initial: 0n, autoCreateTtl: ttl }, 1),
      "INVALID_TTL",
      `autoCreateTtl ${ttl}`,
    );
    assertRejected(
      (w) => encodeMetaArithmetic(w, "cnt", false, { ttl }, 1),
      "INVALID_TTL",
      `ttl ${ttl}`,
    );
  }
});

// mn and the plain commands

test("encodeMetaNoop() writes mn", () => {
  assert.equal(encoded(encodeMetaNoop), "mn\r\n");
});

test("encodeVersion() writes version", () => {
  assert.equal(encoded(encodeVersion), "version\r\n");
});

test("encodeQuit() writes quit", () => {
  assert.equal(encoded(encodeQuit), "quit\r\n");
});

test("encodeFlushAll() writes flush_all with and without a delay", () => {
  assert.equal(encoded((w) => encodeFlushAll(w)), "flush_all\r\n");
  assert.equal(encoded((w) => encodeFlushAll(w, undefined)), "flush_all\r\n");
  assert.equal(encoded((w) => encodeFlushAll(w, 0)), "flush_all 0\r\n");
  assert.equal(encoded((w) => encodeFlushAll(w, 10)), "flush_all 10\r\n");
});

test("encodeFlushAll() rejects a bad delay with INVALID_TTL and writes nothing", () => {
  for (const delay of [-1, 1.5, NaN, Infinity]) {
    assertRejected((w) => encodeFlushAll(w, delay), "INVALID_TTL", `delay ${delay}`);
  }
});

test("encodeStats() writes stats with and without a group", () => {
  assert.equal(encoded((w) => encodeStats(w)), "stats\r\n");
  assert.equal(encoded((w) => encodeStats(w, "slabs")), "stats slabs\r\n");
  assert.equal(encoded((w) => encodeStats(w, "items")), "stats items\r\n");
  assert.equal(encoded((w) => encodeStats(w, "detail dump")), "stats detail dump\r\n");
  assert.equal(encoded((w) => encodeStats(w, "cachedump 1 10")), "stats cachedump 1 10\r\n");
  assert.equal(encoded((w) => encodeStats(w, "x".repeat(64))), `stats ${"x".repeat(64)}\r\n`);
});

test("encodeStats() rejects a bad group with INVALID_ARGUMENT and writes nothing", () => {
  const groups = [
    "",
    "slabs\r\nflush_all",
    "slabs\r\n",
    "slabs\n",
    "slabs\r",
    " slabs",
    "slabs ",
    "a  b",
    "a b c d e", // at most four words: "cachedump 1 10" has three
    "x".repeat(65),
    "slabs;",
    "é",
    "slabs\0",
  ];
  for (const group of groups) {
    assertRejected((w) => encodeStats(w, group), "INVALID_ARGUMENT", JSON.stringify(group));
  }
});

test("encodeVerbosity() writes verbosity and the level", () => {
  assert.equal(encoded((w) => encodeVerbosity(w, 1)), "verbosity 1\r\n");
  assert.equal(encoded((w) => encodeVerbosity(w, 0)), "verbosity 0\r\n");
  assert.equal(encoded((w) => encodeVerbosity(w, 10)), "verbosity 10\r\n");
});

test("encodeVerbosity() rejects a bad level with INVALID_ARGUMENT and writes nothing", () => {
  for (const level of [-1, 1.5, NaN, 2 ** 32, Infinity]) {
    assertRejected((w) => encodeVerbosity(w, level), "INVALID_ARGUMENT", `level ${level}`);
  }
});

test("encoders append to one writer so a pipeline leaves as one chunk", () => {
  const w = new ByteWriter();
  encodeMetaGet(w, "a", false, { value: true, quiet: true }, 1);
  encodeMetaSet(w, "b", false, latin1("xy"), { ttl: 5 }, 2);
  encodeMetaDelete(w, "c", false, { quiet: true }, 3);
  encodeMetaArithmetic(w, "d", false, {}, 4);
  encodeMetaNoop(w);
  const chunks = w.take();
  assert.equal(chunks.length, 1);
  assert.equal(
    latin1Text(chunks),
    "mg a v q O1\r\nms b 2 T5 O2\r\nxy\r\nmd c q O3\r\nma d v O4\r\nmn\r\n",
  );
});

test("a rejected request leaves the requests before and after it intact", () => {
  const w = new ByteWriter();
  encodeMetaGet(w, "a", false, { value: true }, 1);
  assert.throws(() => encodeMetaSet(w, "b", false, bar, { ttl: 1, flags: -1 }, 2));
  assert.throws(() => encodeMetaArithmetic(w, "c", false, { ttl: 1, delta: -1n }, 3));
  encodeMetaNoop(w);
  assert.equal(latin1Text(w.take()), "mg a v O1\r\nmn\r\n");
});

test("meta encoders reject a bad opaque token with INVALID_ARGUMENT and write nothing", () => {
  const value = new Uint8Array([1]);
  for (const opaque of [NaN, 1.5, -2, 2 ** 32, Infinity]) {
    assertRejected(
      (w) => encodeMetaGet(w, "k", false, { value: true }, opaque),
      "INVALID_ARGUMENT",
      `mg O${opaque}`,
    );
    assertRejected(
      (w) => encodeMetaSet(w, "k", false, value, {}, opaque),
      "INVALID_ARGUMENT",
      `ms O${opaque}`,
    );
    assertRejected(
      (w) => encodeMetaDelete(w, "k", false, {}, opaque),
      "INVALID_ARGUMENT",
      `md O${opaque}`,
    );
    assertRejected(
      (w) => encodeMetaArithmetic(w, "k", false, {}, opaque),
      "INVALID_ARGUMENT",
      `ma O${opaque}`,
    );
  }
});

test("encodeMetaArithmetic() rejects an unknown mode with INVALID_ARGUMENT and writes nothing", () => {
  for (const mode of ["DECR", "constructor", ""]) {
    assertRejected(
      (w) => encodeMetaArithmetic(w, "k", false, { mode: mode as "incr" }, 1),
      "INVALID_ARGUMENT",
      `mode ${mode}`,
    );
  }
});

test("encodeMetaSet() writes a string value as UTF-8 framed by its byte length", () => {
  const w = new ByteWriter();
  encodeMetaSet(w, "k", false, "héllo €", {}, 4);
  assert.equal(latin1Text(w.take()), "ms k 10 O4\r\nh\xc3\xa9llo \xe2\x82\xac\r\n");
});
