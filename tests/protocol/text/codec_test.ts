import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import { concat, latin1, latin1Text, MAX_U64, MIB, withCode } from "../../_util.ts";
import { ByteWriter, type DecoderOptions, encodeKey } from "../../../src/protocol/mod.ts";
import {
  encodeTextArithmetic,
  encodeTextDelete,
  encodeTextGet,
  encodeTextStore,
  encodeTextTouch,
  MAX_GAT_LINE_LENGTH,
  type TextGetOptions,
  type TextResponse,
  TextResponseDecoder,
  type TextResponseStatus,
  type TextStoreMode,
  type TextStoreOptions,
} from "../../../src/protocol/mod.ts";
import {
  assertRejected,
  assertResponses,
  type Case,
  checkBadLimits,
  checkDefaultLineCap,
  checkEndlessStats,
  checkFreshDecoder,
  checkLentMatchesCopied,
  checkLineOfExactlyCap,
  checkLongLineByteByByte,
  checkUnfinishedLineOverCap,
  chunks,
  type Codec,
  decodeCounted,
  decodeEveryWay,
  decodeInChunks,
  drain,
  encodedText,
  type ErrorCase,
  failEveryWay,
  feedIncomplete,
  lineCodec,
  lineTrailer,
  noise,
} from "../_codec.ts";

// =============================================================================================
// Encoders

const encoded = encodedText;

function get(keys: readonly string[], options?: TextGetOptions): string {
  return encoded((w) => encodeTextGet(w, keys, options));
}

function store(
  mode: TextStoreMode,
  options?: TextStoreOptions,
  data: Uint8Array | string = "bar",
  key = "foo",
): string {
  return encoded((w) => encodeTextStore(w, mode, key, data, options));
}

/** Keys that are not wire keys: empty, too long, or holding a space, control or wide char. */
const BAD_KEYS: readonly unknown[] = [
  "",
  "a b",
  "a\r\nflush_all",
  "a\n",
  "a\0",
  "a\x7f",
  "\t",
  "x".repeat(251),
  "\u0100",
  "😀",
  5,
  undefined,
  null,
  latin1("foo"),
];

// get, gets, gat, gats

test("encodeTextGet() writes get with one key", () => {
  assert.equal(get(["foo"]), "get foo\r\n");
  assert.equal(get(["foo"], {}), "get foo\r\n");
  assert.equal(get(["foo"], { cas: false }), "get foo\r\n");
});

test("encodeTextGet() writes every key, in order, separated by one space", () => {
  assert.equal(get(["a", "b", "c"]), "get a b c\r\n");
  assert.equal(get(["b", "a", "b"]), "get b a b\r\n");
});

test("encodeTextGet() writes gets when CAS tokens are wanted", () => {
  assert.equal(get(["a"], { cas: true }), "gets a\r\n");
  assert.equal(get(["a", "b"], { cas: true }), "gets a b\r\n");
});

test("encodeTextGet() writes gat and gats with the exptime before the keys", () => {
  assert.equal(get(["a"], { touch: 60 }), "gat 60 a\r\n");
  assert.equal(get(["a", "b"], { touch: 0 }), "gat 0 a b\r\n");
  assert.equal(get(["a", "b"], { touch: 30, cas: true }), "gats 30 a b\r\n");
  assert.equal(get(["a"], { touch: -1 }), "gat -1 a\r\n");
  assert.equal(get(["a"], { touch: 2_147_483_647 }), "gat 2147483647 a\r\n");
  assert.equal(get(["a"], { touch: -2_147_483_648 }), "gat -2147483648 a\r\n");
});

test("encodeTextGet() writes a UTF-8 key as its bytes and a key of 250 bytes whole", () => {
  assert.equal(get([encodeKey("é", false)]), "get \xc3\xa9\r\n");
  const long = "k".repeat(250);
  assert.equal(get([long, "x"]), `get ${long} x\r\n`);
  assert.equal(get(["!~\x80\xff"]), "get !~\x80\xff\r\n");
});

test("encodeTextGet() has no line limit for get and gets", () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `key:${i}`);
  assert.equal(get(keys), `get ${keys.join(" ")}\r\n`);
  assert.equal(get(keys, { cas: true }), `gets ${keys.join(" ")}\r\n`);
});

test("encodeTextGet() accepts a gat line of exactly MAX_GAT_LINE_LENGTH bytes and rejects one more", () => {
  assert.equal(MAX_GAT_LINE_LENGTH, 2048);
  // "gat 10 " + key + "\r\n" is 9 bytes plus the key.
  const keys = ["x".repeat(250), "y".repeat(250), "z".repeat(250)];
  const fill = (total: number, prefix: string): string[] => {
    const out: string[] = [];
    let length = prefix.length + 2;
    while (length + 251 <= total) {
      out.push("k".repeat(250));
      length += 251;
    }
    out.push("m".repeat(total - length - 1));
    return out;
  };
  const fits = fill(2048, "gat 10");
  const line = get(fits, { touch: 10 });
  assert.equal(line.length, 2048);
  assertRejected(
    (w) => encodeTextGet(w, fill(2049, "gat 10"), { touch: 10 }),
    "INVALID_ARGUMENT",
    "gat line of 2049 bytes",
  );
  const fitsCas = fill(2048, "gats 10");
  assert.equal(get(fitsCas, { touch: 10, cas: true }).length, 2048);
  assertRejected(
    (w) => encodeTextGet(w, fill(2049, "gats 10"), { touch: 10, cas: true }),
    "INVALID_ARGUMENT",
    "gats line of 2049 bytes",
  );
  // The sign of a negative exptime counts too.
  assertRejected(
    (w) => encodeTextGet(w, fill(2048, "gat 10"), { touch: -10 }),
    "INVALID_ARGUMENT",
    "gat -10 line of 2049 bytes",
  );
  assert.equal(get(keys, { touch: 1 }), `gat 1 ${keys.join(" ")}\r\n`);
});

test("encodeTextGet() rejects an empty key list with INVALID_ARGUMENT and writes nothing", () => {
  for (const keys of [[], undefined, "foo", {}] as unknown as string[][]) {
    assertRejected((w) => encodeTextGet(w, keys), "INVALID_ARGUMENT", JSON.stringify(keys));
    assertRejected(
      (w) => encodeTextGet(w, keys, { touch: 1 }),
      "INVALID_ARGUMENT",
      `gat ${JSON.stringify(keys)}`,
    );
  }
});

test("encodeTextGet() rejects a bad key with INVALID_KEY and writes nothing", () => {
  for (const key of BAD_KEYS) {
    const why = `key ${JSON.stringify(String(key))}`;
    assertRejected((w) => encodeTextGet(w, [key as string]), "INVALID_KEY", why);
    assertRejected((w) => encodeTextGet(w, ["ok", key as string]), "INVALID_KEY", `2nd ${why}`);
    assertRejected(
      (w) => encodeTextGet(w, ["ok", key as string], { touch: 1, cas: true }),
      "INVALID_KEY",
      `gats ${why}`,
    );
  }
});

test("encodeTextGet() rejects a bad touch exptime with INVALID_TTL and writes nothing", () => {
  const bad = [1.5, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, "5", 5n, null];
  for (const touch of bad) {
    assertRejected(
      (w) => encodeTextGet(w, ["a"], { touch: touch as number }),
      "INVALID_TTL",
      `touch ${String(touch)}`,
    );
  }
});

test("encodeTextGet() rejects a non-boolean cas option with INVALID_ARGUMENT", () => {
  for (const cas of [1, "yes", null]) {
    assertRejected(
      (w) => encodeTextGet(w, ["a"], { cas: cas as unknown as boolean }),
      "INVALID_ARGUMENT",
      `cas ${String(cas)}`,
    );
  }
});

// set, add, replace, append, prepend, cas

test("encodeTextStore() writes the command line, the data and CRLF", () => {
  assert.equal(store("set"), "set foo 0 0 3\r\nbar\r\n");
  assert.equal(store("set", {}), "set foo 0 0 3\r\nbar\r\n");
  assert.equal(store("set", { flags: 5, exptime: 60 }), "set foo 5 60 3\r\nbar\r\n");
});

test("encodeTextStore() writes each mode's command", () => {
  for (const mode of ["set", "add", "replace", "append", "prepend"] as const) {
    assert.equal(store(mode, { flags: 1, exptime: 2 }), `${mode} foo 1 2 3\r\nbar\r\n`, mode);
    assert.equal(store(mode, { noreply: true }), `${mode} foo 0 0 3 noreply\r\nbar\r\n`, mode);
  }
});

test("encodeTextStore() writes cas with the exact CAS token, up to 2^64-1", () => {
  assert.equal(store("cas", { cas: 99n }), "cas foo 0 0 3 99\r\nbar\r\n");
  assert.equal(store("cas", { cas: 0n }), "cas foo 0 0 3 0\r\nbar\r\n");
  assert.equal(
    store("cas", { cas: (1n << 53n) + 1n, flags: 7, exptime: 8 }),
    "cas foo 7 8 3 9007199254740993\r\nbar\r\n",
  );
  assert.equal(
    store("cas", { cas: MAX_U64, noreply: true }),
    "cas foo 0 0 3 18446744073709551615 noreply\r\nbar\r\n",
  );
});

test("encodeTextStore() writes client flags up to 2^32-1 and a signed 32-bit exptime", () => {
  assert.equal(store("set", { flags: 4_294_967_295 }), "set foo 4294967295 0 3\r\nbar\r\n");
  assert.equal(store("set", { exptime: -1 }), "set foo 0 -1 3\r\nbar\r\n");
  assert.equal(store("set", { exptime: 2_592_000 }), "set foo 0 2592000 3\r\nbar\r\n");
  assert.equal(store("set", { exptime: 2_147_483_647 }), "set foo 0 2147483647 3\r\nbar\r\n");
  assert.equal(store("set", { exptime: -2_147_483_648 }), "set foo 0 -2147483648 3\r\nbar\r\n");
});

test("encodeTextStore() writes noreply only when it is true", () => {
  assert.equal(store("set", { noreply: false }), "set foo 0 0 3\r\nbar\r\n");
  assert.equal(store("set", { noreply: true }), "set foo 0 0 3 noreply\r\nbar\r\n");
});

test("encodeTextStore() frames an empty value and a value holding CRLF by their length", () => {
  assert.equal(store("set", {}, new Uint8Array(0)), "set foo 0 0 0\r\n\r\n");
  assert.equal(store("set", {}, ""), "set foo 0 0 0\r\n\r\n");
  const data = latin1("\r\nEND\r\n\0\xff");
  assert.equal(store("set", {}, data), "set foo 0 0 9\r\n\r\nEND\r\n\0\xff\r\n");
});

test("encodeTextStore() writes a string value as UTF-8 framed by its byte length", () => {
  assert.equal(store("set", {}, "héllo €"), "set foo 0 0 10\r\nh\xc3\xa9llo \xe2\x82\xac\r\n");
  const long = "é".repeat(100);
  assert.equal(store("set", {}, long), `set foo 0 0 200\r\n${"\xc3\xa9".repeat(100)}\r\n`);
});

test("encodeTextStore() writes a UTF-8 key as its bytes", () => {
  assert.equal(
    store("set", {}, "v", encodeKey("ключ", false)),
    "set \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87 0 0 1\r\nv\r\n",
  );
});

test("encodeTextStore() passes a value of 16 KiB or more through without copying it", () => {
  const data = new Uint8Array(16 * 1024).fill(0x61);
  const w = new ByteWriter();
  encodeTextStore(w, "set", "foo", data, { exptime: 1 });
  encodeTextDelete(w, "foo");
  const chunks = w.take();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], data);
  assert.equal(latin1Text(chunks.slice(0, 1)), "set foo 0 1 16384\r\n");
  assert.equal(latin1Text(chunks.slice(2)), "\r\ndelete foo\r\n");
});

test("encodeTextStore() rejects an unknown mode with INVALID_ARGUMENT and writes nothing", () => {
  const modes = ["bogus", "", "SET", "get", "incr", "constructor", "toString", "__proto__", 5];
  for (const mode of modes) {
    assertRejected(
      (w) => encodeTextStore(w, mode as TextStoreMode, "foo", "bar"),
      "INVALID_ARGUMENT",
      `mode ${JSON.stringify(mode)}`,
    );
  }
});

test("encodeTextStore() rejects a bad key with INVALID_KEY and writes nothing", () => {
  for (const key of BAD_KEYS) {
    assertRejected(
      (w) => encodeTextStore(w, "set", key as string, "bar"),
      "INVALID_KEY",
      `key ${JSON.stringify(String(key))}`,
    );
  }
});

test("encodeTextStore() rejects data that is neither a string nor bytes with INVALID_VALUE", () => {
  for (const data of [undefined, null, 5, {}, [1, 2], new ArrayBuffer(2), new Uint16Array(2)]) {
    assertRejected(
      (w) => encodeTextStore(w, "set", "foo", data as Uint8Array),
      "INVALID_VALUE",
      `data ${String(data)}`,
    );
  }
});

test("encodeTextStore() rejects bad client flags with INVALID_ARGUMENT and writes nothing", () => {
  for (const flags of [-1, 1.5, NaN, 2 ** 32, Infinity, "5", 5n, null]) {
    assertRejected(
      (w) => encodeTextStore(w, "set", "foo", "bar", { flags: flags as number }),
      "INVALID_ARGUMENT",
      `flags ${String(flags)}`,
    );
  }
});

test("encodeTextStore() rejects a bad exptime with INVALID_TTL and writes nothing", () => {
  for (const exptime of [1.5, NaN, Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 32 + 60, "5", null]) {
    assertRejected(
      (w) => encodeTextStore(w, "set", "foo", "bar", { exptime: exptime as number }),
      "INVALID_TTL",
      `exptime ${String(exptime)}`,
    );
  }
});

test("encodeTextStore() requires a valid CAS token with mode cas and refuses one otherwise", () => {
  for (const cas of [undefined, -1n, 1n << 64n, 5, "5", null]) {
    assertRejected(
      (w) => encodeTextStore(w, "cas", "foo", "bar", { cas: cas as bigint }),
      "INVALID_ARGUMENT",
      `cas ${String(cas)}`,
    );
  }
  for (const mode of ["set", "add", "replace", "append", "prepend"] as const) {
    assertRejected(
      (w) => encodeTextStore(w, mode, "foo", "bar", { cas: 1n }),
      "INVALID_ARGUMENT",
      `${mode} with a CAS token`,
    );
  }
});

test("encodeTextStore() rejects a non-boolean noreply with INVALID_ARGUMENT", () => {
  for (const noreply of [1, "true", null]) {
    assertRejected(
      (w) => encodeTextStore(w, "set", "foo", "bar", { noreply: noreply as unknown as boolean }),
      "INVALID_ARGUMENT",
      `noreply ${String(noreply)}`,
    );
  }
});

// delete, incr, decr, touch

test("encodeTextDelete() writes delete with and without noreply", () => {
  assert.equal(encoded((w) => encodeTextDelete(w, "foo")), "delete foo\r\n");
  assert.equal(encoded((w) => encodeTextDelete(w, "foo", false)), "delete foo\r\n");
  assert.equal(encoded((w) => encodeTextDelete(w, "foo", true)), "delete foo noreply\r\n");
});

test("encodeTextDelete() rejects a bad key or noreply and writes nothing", () => {
  for (const key of BAD_KEYS) {
    assertRejected(
      (w) => encodeTextDelete(w, key as string),
      "INVALID_KEY",
      `key ${JSON.stringify(String(key))}`,
    );
  }
  assertRejected(
    (w) => encodeTextDelete(w, "foo", 1 as unknown as boolean),
    "INVALID_ARGUMENT",
    "noreply 1",
  );
});

test("encodeTextArithmetic() writes incr and decr with the exact delta, up to 2^64-1", () => {
  const arith = (mode: "incr" | "decr", delta: bigint, noreply?: boolean) =>
    encoded((w) => encodeTextArithmetic(w, mode, "n", delta, noreply));
  assert.equal(arith("incr", 1n), "incr n 1\r\n");
  assert.equal(arith("incr", 0n), "incr n 0\r\n");
  assert.equal(arith("decr", 5n), "decr n 5\r\n");
  assert.equal(arith("incr", (1n << 53n) + 1n), "incr n 9007199254740993\r\n");
  assert.equal(arith("incr", (1n << 53n) - 1n), "incr n 9007199254740991\r\n");
  assert.equal(arith("decr", MAX_U64), "decr n 18446744073709551615\r\n");
  assert.equal(arith("incr", 7n, true), "incr n 7 noreply\r\n");
  assert.equal(arith("decr", 7n, false), "decr n 7\r\n");
});

test("encodeTextArithmetic() rejects a bad delta with INVALID_DELTA and writes nothing", () => {
  for (const delta of [-1n, 1n << 64n, (1n << 64n) + 1n, 5, "5", undefined, null]) {
    for (const mode of ["incr", "decr"] as const) {
      assertRejected(
        (w) => encodeTextArithmetic(w, mode, "n", delta as bigint),
        "INVALID_DELTA",
        `${mode} ${String(delta)}`,
      );
    }
  }
});

test("encodeTextArithmetic() rejects a bad mode, key or noreply and writes nothing", () => {
  for (const mode of ["INCR", "add", "", "constructor", undefined]) {
    assertRejected(
      (w) => encodeTextArithmetic(w, mode as "incr", "n", 1n),
      "INVALID_ARGUMENT",
      `mode ${String(mode)}`,
    );
  }
  for (const key of BAD_KEYS) {
    assertRejected(
      (w) => encodeTextArithmetic(w, "incr", key as string, 1n),
      "INVALID_KEY",
      `key ${JSON.stringify(String(key))}`,
    );
  }
  assertRejected(
    (w) => encodeTextArithmetic(w, "incr", "n", 1n, "yes" as unknown as boolean),
    "INVALID_ARGUMENT",
    "noreply yes",
  );
});

test("encodeTextTouch() writes touch with the exptime and noreply", () => {
  assert.equal(encoded((w) => encodeTextTouch(w, "foo", 300)), "touch foo 300\r\n");
  assert.equal(encoded((w) => encodeTextTouch(w, "foo", 0, true)), "touch foo 0 noreply\r\n");
  assert.equal(encoded((w) => encodeTextTouch(w, "foo", -1, false)), "touch foo -1\r\n");
});

test("encodeTextTouch() rejects a bad exptime, key or noreply and writes nothing", () => {
  for (const exptime of [1.5, NaN, Infinity, 2 ** 31, -(2 ** 31) - 1, "5", undefined]) {
    assertRejected(
      (w) => encodeTextTouch(w, "foo", exptime as number),
      "INVALID_TTL",
      `exptime ${String(exptime)}`,
    );
  }
  for (const key of BAD_KEYS) {
    assertRejected(
      (w) => encodeTextTouch(w, key as string, 1),
      "INVALID_KEY",
      `key ${JSON.stringify(String(key))}`,
    );
  }
  assertRejected(
    (w) => encodeTextTouch(w, "foo", 1, 0 as unknown as boolean),
    "INVALID_ARGUMENT",
    "noreply 0",
  );
});

test("text encoders append to one writer so a pipeline leaves as one chunk", () => {
  const w = new ByteWriter();
  encodeTextGet(w, ["a", "b"], { cas: true });
  encodeTextStore(w, "add", "c", "xy", { exptime: 5 });
  encodeTextDelete(w, "d", true);
  encodeTextArithmetic(w, "decr", "e", 2n);
  encodeTextTouch(w, "f", 9);
  const chunks = w.take();
  assert.equal(chunks.length, 1);
  assert.equal(
    latin1Text(chunks),
    "gets a b\r\nadd c 0 5 2\r\nxy\r\ndelete d noreply\r\ndecr e 2\r\ntouch f 9\r\n",
  );
});

test("a rejected text request leaves the requests before and after it intact", () => {
  const w = new ByteWriter();
  encodeTextGet(w, ["a"]);
  assert.throws(() => encodeTextStore(w, "set", "b", "v", { exptime: 1, flags: -1 }));
  assert.throws(() => encodeTextStore(w, "cas", "b", "v", { flags: 1 }));
  assert.throws(() => encodeTextArithmetic(w, "incr", "c", -1n, true));
  assert.throws(() => encodeTextGet(w, ["a", "b c"], { touch: 1 }));
  encodeTextDelete(w, "z");
  assert.equal(latin1Text(w.take()), "get a\r\ndelete z\r\n");
});

// =============================================================================================
// Decoder

/** A response as the decoder builds it: every field not given has its empty value. */
function reply(status: TextResponseStatus, fields: Partial<TextResponse> = {}): TextResponse {
  return {
    status,
    key: undefined,
    flags: 0,
    cas: undefined,
    value: undefined,
    borrowed: false,
    number: undefined,
    message: "",
    stats: undefined,
    ...fields,
  };
}

/** A VALUE response. */
function value(key: string, data: Uint8Array | string, fields: Partial<TextResponse> = {}) {
  return reply("VALUE", {
    key,
    value: typeof data === "string" ? latin1(data) : data,
    ...fields,
  });
}

function make(options?: DecoderOptions): TextResponseDecoder {
  return new TextResponseDecoder(options);
}

/** The text decoder, with the replies that may follow a case. */
const TEXT: Codec<TextResponse> = lineCodec(
  make,
  [
    lineTrailer("END\r\n", "", 1, [reply("END")]),
    lineTrailer("VALUE k 1 3", "\r\nxyz\r\nEND\r\n", 0, [
      value("k", "xyz", { flags: 1 }),
      reply("END"),
    ]),
    lineTrailer("V", "ALUE k 0 0\r\n\r\n", 0, [value("k", "")]),
    lineTrailer("STORED\r", "\n", 0, [reply("STORED")]),
    lineTrailer("STAT pid 1\r\nST", "AT uptime 2\r\nEND\r\n", 0, [
      reply("STATS", { stats: new Map([["pid", "1"], ["uptime", "2"]]) }),
    ]),
    lineTrailer("DELETED\r\n12", "3\r\n", 1, [
      reply("DELETED"),
      reply("NUMBER", { number: 123n }),
    ]),
  ],
  "END\r\nSTORED\r\n",
);

/** Decodes a case every way: whole, byte by byte, with trailing bytes, split, in chunks. */
function checkCase(c: Case<TextResponse>): void {
  decodeEveryWay(TEXT, c);
}

/** Checks that a case fails whole, byte by byte and split at every position. */
function checkError(c: ErrorCase<TextResponse>): void {
  failEveryWay(TEXT, c);
}

// ---------------------------------------------------------------------------------------------
// Every status, decoded whole, byte by byte, with trailing bytes and split anywhere

test("TextResponseDecoder decodes a VALUE with a 0-byte and a 1-byte value", () => {
  checkCase({ replies: [["VALUE k 0 0\r\n\r\n", value("k", "")]] });
  checkCase({ replies: [["VALUE key 0 1\r\nx\r\n", value("key", "x")]] });
});

test("TextResponseDecoder decodes VALUE replies followed by END as separate replies", () => {
  checkCase({
    replies: [
      ["VALUE a 1 2\r\nhi\r\n", value("a", "hi", { flags: 1 })],
      ["VALUE b 0 3\r\nbye\r\n", value("b", "bye")],
      ["END\r\n", reply("END")],
    ],
  });
});

test("TextResponseDecoder decodes the CAS token of a gets reply, up to 2^64-1", () => {
  checkCase({ replies: [["VALUE k 0 1 0\r\nz\r\n", value("k", "z", { cas: 0n })]] });
  checkCase({ replies: [["VALUE k 5 1 42\r\nz\r\n", value("k", "z", { flags: 5, cas: 42n })]] });
  checkCase({
    replies: [[
      "VALUE k 0 1 9007199254740993\r\nz\r\n",
      value("k", "z", { cas: 9_007_199_254_740_993n }),
    ]],
  });
  checkCase({
    replies: [["VALUE k 0 1 18446744073709551615\r\nz\r\n", value("k", "z", { cas: MAX_U64 })]],
  });
});

test("TextResponseDecoder decodes client flags up to 2^32-1", () => {
  checkCase({
    replies: [["VALUE k 4294967295 1\r\nz\r\n", value("k", "z", { flags: 4_294_967_295 })]],
  });
});

test("TextResponseDecoder returns the key as one character per byte", () => {
  checkCase({ replies: [["VALUE \xc3\xa9 0 1\r\nz\r\n", value("\xc3\xa9", "z")]] });
  const long = "k".repeat(250);
  checkCase({ replies: [[`VALUE ${long} 0 1\r\nz\r\n`, value(long, "z")]] });
  assert.equal(value("\xc3\xa9", "").key, encodeKey("é", false));
});

test("TextResponseDecoder frames a value by its length, not by a CRLF inside it", () => {
  const data = latin1("\r\nEND\r\n\0\xff");
  checkCase({
    replies: [[concat(["VALUE k 1 9\r\n", data, "\r\n"]), value("k", data, { flags: 1 })]],
  });
  const lines = latin1("VALUE x 0 2\r\nhi\r\nEND\r\n");
  checkCase({
    replies: [
      [concat(["VALUE k 0 22\r\n", lines, "\r\n"]), value("k", lines)],
      ["END\r\n", reply("END")],
    ],
  });
});

test("TextResponseDecoder decodes every byte value inside a value", () => {
  const data = new Uint8Array(256);
  for (let i = 0; i < 256; i++) data[i] = i;
  checkCase({ replies: [[concat(["VALUE k 0 256\r\n", data, "\r\n"]), value("k", data)]] });
});

test("TextResponseDecoder decodes a 1 MiB value streamed in 64 KiB chunks", () => {
  const data = noise(MIB, 99);
  const bytes = concat(["VALUE big 2 1048576 7\r\n", data, "\r\nEND\r\n"]);
  const d = new TextResponseDecoder();
  const got = decodeInChunks(d, bytes, 65_536);
  assertResponses(got, [value("big", data, { flags: 2, cas: 7n }), reply("END")], "64 KiB");
  assert.equal(d.buffered, 0);
});

test("TextResponseDecoder decodes a 1 MiB value whole, byte by byte, with trailing bytes and split", () => {
  const data = noise(MIB, 7);
  checkCase({
    replies: [
      [concat(["VALUE big 0 1048576\r\n", data, "\r\n"]), value("big", data)],
      ["END\r\n", reply("END")],
    ],
  });
});

test("TextResponseDecoder decodes a value of exactly maxValueSize", () => {
  checkCase({
    options: { maxValueSize: 10 },
    replies: [["VALUE k 0 10\r\n0123456789\r\n", value("k", "0123456789")]],
  });
});

test("TextResponseDecoder decodes END", () => {
  checkCase({ replies: [["END\r\n", reply("END")]] });
});

test("TextResponseDecoder decodes the storage replies", () => {
  for (const status of ["STORED", "NOT_STORED", "EXISTS", "NOT_FOUND"] as const) {
    checkCase({ replies: [[`${status}\r\n`, reply(status)]] });
  }
});

test("TextResponseDecoder decodes DELETED, TOUCHED and OK", () => {
  for (const status of ["DELETED", "TOUCHED", "OK"] as const) {
    checkCase({ replies: [[`${status}\r\n`, reply(status)]] });
  }
});

test("TextResponseDecoder decodes an incr/decr result as an exact NUMBER", () => {
  checkCase({ replies: [["0\r\n", reply("NUMBER", { number: 0n })]] });
  checkCase({ replies: [["42\r\n", reply("NUMBER", { number: 42n })]] });
  checkCase({ replies: [["007\r\n", reply("NUMBER", { number: 7n })]] });
  checkCase({
    replies: [["9007199254740993\r\n", reply("NUMBER", { number: 9_007_199_254_740_993n })]],
  });
  checkCase({ replies: [["18446744073709551615\r\n", reply("NUMBER", { number: MAX_U64 })]] });
  checkCase({
    replies: [["00000000000000000001\r\n", reply("NUMBER", { number: 1n })]],
  });
});

test("TextResponseDecoder accepts the space padding protocol.txt allows after a NUMBER", () => {
  checkCase({ replies: [["5  \r\n", reply("NUMBER", { number: 5n })]] });
  checkCase({ replies: [["18446744073709551615 \r\n", reply("NUMBER", { number: MAX_U64 })]] });
});

test("TextResponseDecoder decodes VERSION with the version as its message", () => {
  checkCase({ replies: [["VERSION 1.6.18\r\n", reply("VERSION", { message: "1.6.18" })]] });
  checkCase({ replies: [["VERSION\r\n", reply("VERSION")]] });
});

test("TextResponseDecoder decodes a STAT block into one STATS response", () => {
  const block = "STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\n" +
    "STAT active_slabs 1\r\nSTAT libevent 2.1.12-stable\r\nSTAT args -m 64 -t 2\r\n" +
    "STAT empty\r\nEND\r\n";
  const stats = new Map([
    ["1:chunk_size", "96"],
    ["1:chunks_per_page", "10922"],
    ["active_slabs", "1"],
    ["libevent", "2.1.12-stable"],
    ["args", "-m 64 -t 2"],
    ["empty", ""],
  ]);
  checkCase({ replies: [[block, reply("STATS", { stats })]] });
});

test("TextResponseDecoder reads ITEM lines (stats cachedump), PREFIX lines and RESET", () => {
  checkCase({
    replies: [[
      "ITEM user:1 [5 b; 0 s]\r\nITEM user:2 [12 b; 1700000000 s]\r\nEND\r\n",
      reply("STATS", {
        stats: new Map([["user:1", "[5 b; 0 s]"], ["user:2", "[12 b; 1700000000 s]"]]),
      }),
    ]],
  });
  checkCase({
    replies: [[
      "PREFIX app get 3 hit 1 set 2 del 0\r\nEND\r\n",
      reply("STATS", { stats: new Map([["app", "get 3 hit 1 set 2 del 0"]]) }),
    ]],
  });
  checkCase({ replies: [["RESET\r\n", reply("RESET")]] });
  checkError({ bytes: "ITEM\r\n" });
  checkError({ bytes: "PREFIXED x\r\n" });
});

test("TextResponseDecoder decodes a bare END as END, not as statistics", () => {
  checkCase({
    replies: [
      ["STAT a 1\r\nEND\r\n", reply("STATS", { stats: new Map([["a", "1"]]) })],
      ["END\r\n", reply("END")],
    ],
  });
});

test("TextResponseDecoder decodes ERROR, CLIENT_ERROR and SERVER_ERROR with their messages", () => {
  checkCase({ replies: [["ERROR\r\n", reply("ERROR")]] });
  checkCase({
    replies: [["ERROR unknown command\r\n", reply("ERROR", { message: "unknown command" })]],
  });
  checkCase({
    replies: [[
      "CLIENT_ERROR bad command line format\r\n",
      reply("CLIENT_ERROR", { message: "bad command line format" }),
    ]],
  });
  checkCase({ replies: [["CLIENT_ERROR\r\n", reply("CLIENT_ERROR")]] });
  checkCase({
    replies: [[
      "SERVER_ERROR out of memory storing object\r\n",
      reply("SERVER_ERROR", { message: "out of memory storing object" }),
    ]],
  });
});

test("TextResponseDecoder decodes many replies in one chunk in order", () => {
  checkCase({
    replies: [
      ["STORED\r\n", reply("STORED")],
      ["VALUE a 5 3 9\r\nbar\r\n", value("a", "bar", { flags: 5, cas: 9n })],
      ["VALUE b 0 0 10\r\n\r\n", value("b", "", { cas: 10n })],
      ["END\r\n", reply("END")],
      ["NOT_FOUND\r\n", reply("NOT_FOUND")],
      ["STAT pid 42\r\nEND\r\n", reply("STATS", { stats: new Map([["pid", "42"]]) })],
      ["END\r\n", reply("END")],
      ["VERSION 1.6.18\r\n", reply("VERSION", { message: "1.6.18" })],
      ["11\r\n", reply("NUMBER", { number: 11n })],
      ["CLIENT_ERROR bad data chunk\r\n", reply("CLIENT_ERROR", { message: "bad data chunk" })],
      ["VALUE c 0 2\r\n\r\n\r\n", value("c", "\r\n")],
      ["DELETED\r\n", reply("DELETED")],
      ["TOUCHED\r\n", reply("TOUCHED")],
      ["OK\r\n", reply("OK")],
    ],
  });
});

test("TextResponseDecoder decodes a pipeline of 1,000 replies in one chunk", () => {
  const parts: string[] = [];
  const expected: TextResponse[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 3 === 0) {
      parts.push(`VALUE key:${i} ${i} ${String(i).length}\r\n${i}\r\nEND\r\n`);
      expected.push(value(`key:${i}`, String(i), { flags: i }), reply("END"));
    } else if (i % 3 === 1) {
      parts.push(`${i}\r\n`);
      expected.push(reply("NUMBER", { number: BigInt(i) }));
    } else {
      parts.push("STORED\r\n");
      expected.push(reply("STORED"));
    }
  }
  const d = new TextResponseDecoder();
  d.feed(latin1(parts.join("")));
  assertResponses(drain(d), expected, "one chunk");
  assert.equal(d.buffered, 0);
});

test("TextResponseDecoder returns the right key for many distinct and colliding keys", () => {
  // More keys than the decoder caches, repeated, including keys that differ in one byte and
  // keys longer than the cache holds: every key must come back exactly.
  const keys: string[] = [];
  for (let i = 0; i < 1500; i++) keys.push(`k${i}`, `k${i}x`, `${"L".repeat(100)}${i}`);
  keys.push("Aa", "BB", "AaAa", "BBBB", "AaBB", "BBAa"); // equal 31-based string hashes
  const d = new TextResponseDecoder({ copyValues: false });
  for (let round = 0; round < 3; round++) {
    const order = round === 1 ? [...keys].reverse() : keys;
    d.feed(latin1(order.map((k) => `VALUE ${k} 0 1\r\nv\r\n`).join("")));
    for (const key of order) assert.equal(d.next()?.key, key);
    assert.equal(d.next(), undefined);
  }
});

// ---------------------------------------------------------------------------------------------
// Incremental behaviour

test("TextResponseDecoder.next() returns undefined on a fresh decoder", () => {
  checkFreshDecoder(new TextResponseDecoder());
});

test("TextResponseDecoder.next() returns undefined until a value's CRLF arrives", () => {
  const d = new TextResponseDecoder();
  feedIncomplete(d, "VALUE k 0 3\r\n", "bar", "\r");
  d.feed(latin1("\n"));
  assert.deepStrictEqual(d.next(), value("k", "bar"));
  assert.equal(d.next(), undefined);
});

test("TextResponseDecoder.next() returns undefined until a line's LF arrives", () => {
  const d = new TextResponseDecoder();
  feedIncomplete(d, "S", "T", "O", "R", "E", "D", "\r");
  d.feed(latin1("\n"));
  assert.deepStrictEqual(d.next(), reply("STORED"));
});

test("TextResponseDecoder.next() returns undefined until a STAT block's END arrives", () => {
  const d = new TextResponseDecoder();
  feedIncomplete(d, "STAT a 1\r\nSTAT b 2\r\n", "EN");
  d.feed(latin1("D\r\n"));
  assert.deepStrictEqual(d.next(), reply("STATS", { stats: new Map([["a", "1"], ["b", "2"]]) }));
});

test("TextResponseDecoder.buffered counts bytes fed but not yet decoded", () => {
  const d = new TextResponseDecoder();
  d.feed(latin1("END\r\nST"));
  assert.equal(d.buffered, 7);
  assert.deepStrictEqual(d.next(), reply("END"));
  assert.equal(d.buffered, 2);
  assert.equal(d.next(), undefined);
  d.feed(latin1("ORED\r\nVALUE k 0 4\r\n"));
  assert.deepStrictEqual(d.next(), reply("STORED"));
  assert.equal(d.buffered, 13);
  assert.equal(d.next(), undefined);
  feedIncomplete(d, "ab");
  d.feed(latin1("cd\r\nEND\r\n"));
  assert.deepStrictEqual(d.next(), value("k", "abcd"));
  assert.equal(d.buffered, 5);
  assert.deepStrictEqual(d.next(), reply("END"));
  assert.equal(d.buffered, 0);
});

test("TextResponseDecoder.feed() copies its chunk, so reusing the chunk's buffer is safe", () => {
  const d = new TextResponseDecoder();
  const chunk = new Uint8Array(64);
  const put = (s: string): Uint8Array => {
    chunk.fill(0x21);
    chunk.set(latin1(s));
    return chunk.subarray(0, s.length);
  };
  d.feed(put("VALUE key1 0 5\r\nfirst\r\n"));
  put("VALUE XXXX 0 5\r\nXXXXX\r\n");
  d.feed(put("VALUE k2 0 6\r\nsec"));
  const first = d.next();
  assert.equal(d.next(), undefined);
  d.feed(put("ond\r\nSERVER_ERROR oops\r\n"));
  const second = d.next();
  const error = d.next();
  d.feed(put("STAT x 1\r\n"));
  assert.equal(d.next(), undefined);
  d.feed(put("END\r\n"));
  const stats = d.next();
  put("!".repeat(64));
  assert.deepStrictEqual(first, value("key1", "first"));
  assert.deepStrictEqual(second, value("k2", "second"));
  assert.deepStrictEqual(error, reply("SERVER_ERROR", { message: "oops" }));
  assert.deepStrictEqual(stats, reply("STATS", { stats: new Map([["x", "1"]]) }));
});

test("TextResponseDecoder returns values that later feeds do not change or pin", () => {
  const d = new TextResponseDecoder();
  d.feed(latin1("VALUE a 0 3\r\nabc\r\nVALUE b 0 3\r\n"));
  const first = d.next();
  assert.ok(first?.value !== undefined);
  assert.equal(first.value.byteOffset, 0);
  assert.equal(first.value.buffer.byteLength, 3);
  feedIncomplete(d, "de");
  d.feed(latin1("f\r\n"));
  const second = d.next();
  d.feed(latin1("STORED\r\n".repeat(20_000)));
  assert.equal(drain(d).length, 20_000);
  assert.deepStrictEqual(first.value, latin1("abc"));
  assert.deepStrictEqual(second?.value, latin1("def"));
  assert.equal(second?.value?.buffer.byteLength, 3);
});

test("TextResponseDecoder decodes 100,000 one-byte chunks of a long line under the cap", () => {
  checkLongLineByteByByte(make, (message) => reply("SERVER_ERROR", { message }));
});

test("TextResponseDecoder copies a 1 MiB value fed in 4 KiB chunks a bounded number of times", () => {
  const data = noise(MIB, 3);
  const bytes = concat(["VALUE big 0 1048576\r\n", data, "\r\nEND\r\n"]);
  const { got, copied } = decodeCounted(new TextResponseDecoder(), chunks(bytes, 4096));
  assertResponses(got, [value("big", data), reply("END")], "4 KiB chunks");
  assert.ok(copied <= 2 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes fed`);
});

test("TextResponseDecoder copies many small replies a bounded number of times", () => {
  const bytes = latin1("VALUE key 1 5\r\nhello\r\nEND\r\n".repeat(10_000));
  const { got, copied } = decodeCounted(new TextResponseDecoder(), chunks(bytes, 1000));
  assert.equal(got.length, 20_000);
  assert.ok(copied <= 3 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes fed`);
});

// ---------------------------------------------------------------------------------------------
// Protocol errors: thrown as PROTOCOL_ERROR, and the decoder stays failed

test("TextResponseDecoder fails on a line that ends in LF without CR", () => {
  checkError({ bytes: "STORED\n" });
  checkError({ bytes: "\n" });
  checkError({ bytes: "STORED\r\nEND\n", before: [reply("STORED")] });
  checkError({ bytes: "STAT a 1\nEND\r\n" });
  checkError({ bytes: "VALUE k 0 1\nx\r\n" });
});

test("TextResponseDecoder fails on an unknown reply word", () => {
  const words = [
    "BOGUS",
    "HD",
    "EN",
    "VA 1",
    "MN",
    "RESET 1", // a bare RESET is the reply to `stats reset`
    "stored",
    "STORED X",
    "STORED ",
    " STORED",
    "STOREDX",
    "ENDS",
    "END ",
    "EXISTS!",
    "NOT_FOUNDX",
    "NOT",
    "DELETED 1",
    "TOUCHED ",
    "OKAY",
    "VERSIONS",
    "ERRORS",
    "CLIENT_ERRORX",
    "SERVER_ERRORS",
    "VALUES k 0 1",
    "VALUE",
    "STA",
    "",
    "\0",
    "\xff",
  ];
  for (const word of words) checkError({ bytes: `${word}\r\n` });
  checkError({ bytes: "END\r\nNOPE\r\n", before: [reply("END")] });
});

test("TextResponseDecoder fails on a malformed VALUE line", () => {
  const bad = [
    "VALUE \r\n",
    "VALUE k\r\n",
    "VALUE k \r\n",
    "VALUE k 0\r\n",
    "VALUE k 0 \r\n",
    "VALUE  k 0 1\r\n",
    "VALUE k  0 1\r\n",
    "VALUE k 0  1\r\n",
    "VALUE k x 1\r\n",
    "VALUE k -1 1\r\n",
    "VALUE k 4294967296 1\r\n",
    "VALUE k 1.5 1\r\n",
    "VALUE k 0 x\r\n",
    "VALUE k 0 -1\r\n",
    "VALUE k 0 1x\r\n",
    "VALUE k 0 1234567890123456\r\n",
    "VALUE k 0 1 \r\n",
    "VALUE k 0 1 x\r\n",
    "VALUE k 0 1 -1\r\n",
    "VALUE k 0 1 18446744073709551616\r\n",
    "VALUE k 0 1 123456789012345678901\r\n",
    "VALUE k 0 1 5 6\r\n",
    "VALUE k 0 1 5 \r\n",
  ];
  for (const bytes of bad) checkError({ bytes });
});

test("TextResponseDecoder fails on a VALUE over maxValueSize", () => {
  checkError({ bytes: "VALUE k 0 11\r\n01234567890\r\n", options: { maxValueSize: 10 } });
  checkError({ bytes: "VALUE k 0 1048577\r\n" });
  checkError({ bytes: "END\r\nVALUE k 0 99999999\r\n", before: [reply("END")] });
});

test("TextResponseDecoder fails on a value not followed by CRLF", () => {
  checkError({ bytes: "VALUE k 0 3\r\nabcd\r\n" });
  checkError({ bytes: "VALUE k 0 3\r\nabc\n\r" });
  checkError({ bytes: "VALUE k 0 3\r\nabc\rX" });
  checkError({ bytes: "VALUE k 0 0\r\nXY" });
  checkError({ bytes: "VALUE k 0 2\r\nab\n\r\n" });
  checkError({ bytes: "VALUE k 0 2\r\nabEND\r\n" });
});

test("TextResponseDecoder fails on a malformed NUMBER", () => {
  const bad = [
    "1x",
    "1 2",
    "1.5",
    "1e3",
    "0x10",
    "18446744073709551616",
    "99999999999999999999",
    "123456789012345678901",
    "1 x",
    "5\t",
  ];
  for (const n of bad) checkError({ bytes: `${n}\r\n` });
  checkError({ bytes: "-1\r\n" });
  checkError({ bytes: " 1\r\n" });
});

test("TextResponseDecoder fails once an unfinished line exceeds maxLineLength", () => {
  checkUnfinishedLineOverCap(make);
});

test("TextResponseDecoder fails on an unfinished line over the default cap of 8192 bytes", () => {
  checkDefaultLineCap(make);
});

test("TextResponseDecoder accepts a line of exactly maxLineLength bytes and rejects one more", () => {
  const cap = 32;
  checkLineOfExactlyCap(TEXT, cap, (message) => reply("SERVER_ERROR", { message }));
  checkError({
    bytes: `STORED\r\nVALUE ${"k".repeat(cap)} 0 1\r\nx\r\n`,
    before: [reply("STORED")],
    options: { maxLineLength: cap },
  });
});

test("TextResponseDecoder fails on a STAT block interrupted by another reply", () => {
  checkError({ bytes: "STAT pid 1\r\nSTORED\r\n" });
  checkError({ bytes: "STAT pid 1\r\nVALUE k 0 1\r\nx\r\n" });
  checkError({ bytes: "STAT pid 1\r\nEND X\r\n" });
  checkError({ bytes: "STAT pid 1\r\nERROR\r\n" });
  checkError({ bytes: "STAT pid 1\r\n5\r\n" });
  checkError({ bytes: "END\r\nSTAT pid 1\r\nOK\r\n", before: [reply("END")] });
});

test("TextResponseDecoder keeps decoding replies that came before the error", () => {
  const d = new TextResponseDecoder();
  d.feed(latin1("STORED\r\nEND\r\nGARBAGE\r\nSTORED\r\n"));
  assert.deepStrictEqual(d.next(), reply("STORED"));
  assert.deepStrictEqual(d.next(), reply("END"));
  assert.throws(() => d.next(), withCode("PROTOCOL_ERROR"));
  assert.throws(() => d.next(), withCode("PROTOCOL_ERROR"));
});

test("TextResponseDecoder.next() raises PROTOCOL_ERROR when a stats reply never ends", () => {
  checkEndlessStats(make);
});

// ---------------------------------------------------------------------------------------------
// copyValues: false

test("TextResponseDecoder with copyValues false lends whole values and reuses one response object", () => {
  const d = new TextResponseDecoder({ copyValues: false });
  d.feed(latin1("VALUE a 1 3 5\r\nabc\r\nVALUE b 0 2\r\nde\r\nEND\r\n"));
  const first = d.next();
  assert.deepStrictEqual(first, value("a", "abc", { flags: 1, cas: 5n, borrowed: true }));
  assert.ok(first?.value !== undefined);
  assert.ok(first.value.buffer.byteLength > first.value.length);
  const second = d.next();
  assert.deepStrictEqual(second, value("b", "de", { borrowed: true }));
  assert.equal(second, first, "the same object, refilled");
  assert.deepStrictEqual(d.next(), reply("END"));
});

test("TextResponseDecoder with copyValues false gives streamed values their own buffer", () => {
  const d = new TextResponseDecoder({ copyValues: false });
  feedIncomplete(d, "VALUE k 0 5\r\nab");
  d.feed(latin1("cde\r\n"));
  const r = d.next();
  assert.deepStrictEqual(r, value("k", "abcde"));
  assert.equal(r?.value?.buffer.byteLength, 5);
});

test("TextResponseDecoder with copyValues false decodes the same replies as with copies", () => {
  const bytes = latin1(
    "VALUE a 1 3 7\r\nabc\r\nEND\r\nVALUE b 0 0\r\n\r\nSTAT a 1\r\nEND\r\n42\r\nSTORED\r\n",
  );
  checkLentMatchesCopied(make, bytes);
});

test("new TextResponseDecoder() rejects limits that are not positive integers", () => {
  checkBadLimits(make, ["maxLineLength", "maxValueSize"]);
});
