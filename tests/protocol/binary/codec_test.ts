import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import {
  assertBytes,
  assertMemcachedError,
  concat,
  latin1,
  MAX_U64,
  MIB,
  pattern,
  utf8,
  withCode,
} from "../../_util.ts";
import type { ErrorCode } from "../../../src/errors.ts";
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
  encodeSaslAuth,
  encodeSaslListMechs,
  encodeSaslStep,
  Opcode,
  saslPlainPayload,
} from "../../../src/protocol/mod.ts";
import { ByteWriter, type DecoderOptions, encodeKey, toBase64 } from "../../../src/protocol/mod.ts";
import {
  assertRejected as assertEncoderRejected,
  assertResponses,
  checkBadLimits,
  checkLentMatchesCopied,
  chunks,
  type Codec,
  decodeByteByByte,
  decodeCounted,
  decodeEveryWay,
  decodeInChunks,
  drain,
  type Earlier,
  encodedBytes,
  failEveryWay,
  hex,
  type Trailer,
} from "../_codec.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const encoded = encodedBytes;

const NOOP_0 = hex("80 0a 0000 00 00 0000 00000000 00000000 0000000000000000");

/** A rejected request must leave an earlier binary no-op intact. */
const BINARY_NOOP: Earlier = { write: (w) => encodeBinaryNoop(w, 0), bytes: NOOP_0 };

/**
 * Checks that an encoder call throws `code` and leaves the writer exactly as it was: a request
 * already in the writer stays intact and no byte of the rejected request is added.
 */
function assertRejected(encode: (w: ByteWriter) => void, code: ErrorCode, why: string): void {
  assertEncoderRejected(encode, code, why, BINARY_NOOP);
}

/** A request header, fields in wire order. */
function req(
  opcode: number,
  keyLen: number,
  extLen: number,
  bodyLen: number,
  opaque = 0,
  cas = 0n,
): Uint8Array {
  const h = new Uint8Array(24);
  const v = new DataView(h.buffer);
  h[0] = 0x80;
  h[1] = opcode;
  v.setUint16(2, keyLen);
  h[4] = extLen;
  v.setUint32(8, bodyLen);
  v.setUint32(12, opaque);
  v.setBigUint64(16, cas);
  return h;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

/** The fields of a reply packet to build with {@linkcode res}. */
interface Packet {
  opcode?: number;
  status?: number;
  opaque?: number;
  cas?: bigint;
  extras?: Uint8Array | string;
  key?: Uint8Array | string;
  value?: Uint8Array | string;
  magic?: number;
  dataType?: number;
  /** Overrides the body length computed from extras, key and value. */
  bodyLen?: number;
  /** Overrides the key length. */
  keyLen?: number;
}

/** A reply packet. */
function res(p: Packet = {}): Uint8Array {
  const extras = typeof p.extras === "string" ? latin1(p.extras) : p.extras ?? new Uint8Array(0);
  const key = typeof p.key === "string" ? latin1(p.key) : p.key ?? new Uint8Array(0);
  const value = typeof p.value === "string" ? latin1(p.value) : p.value ?? new Uint8Array(0);
  const h = new Uint8Array(24);
  const v = new DataView(h.buffer);
  h[0] = p.magic ?? 0x81;
  h[1] = p.opcode ?? 0;
  v.setUint16(2, p.keyLen ?? key.length);
  h[4] = extras.length;
  h[5] = p.dataType ?? 0;
  v.setUint16(6, p.status ?? 0);
  v.setUint32(8, p.bodyLen ?? extras.length + key.length + value.length);
  v.setUint32(12, p.opaque ?? 0);
  v.setBigUint64(16, p.cas ?? 0n);
  return concat([h, extras, key, value]);
}

/** A response as the decoder builds it: every field not given has its empty value. */
function reply(fields: Partial<BinaryResponse> = {}): BinaryResponse {
  return {
    opcode: 0,
    status: 0,
    opaque: 0,
    cas: 0n,
    flags: 0,
    key: undefined,
    value: undefined,
    borrowed: false,
    ...fields,
  };
}

const NOOP_REPLY = res({ opcode: Opcode.Noop, opaque: 9 });
const GET_REPLY = res({ opaque: 3, cas: 7n, extras: u32(1), value: "xyz" });

const TRAILERS: Trailer<BinaryResponse>[] = [
  {
    name: "a whole noop reply",
    head: NOOP_REPLY,
    rest: new Uint8Array(0),
    early: 1,
    expected: [reply({ opcode: Opcode.Noop, opaque: 9 })],
  },
  {
    name: "half a header",
    head: GET_REPLY.subarray(0, 12),
    rest: GET_REPLY.subarray(12),
    early: 0,
    expected: [reply({ opaque: 3, cas: 7n, flags: 1, value: latin1("xyz") })],
  },
  {
    name: "a header and part of its body",
    head: GET_REPLY.subarray(0, 29),
    rest: GET_REPLY.subarray(29),
    early: 0,
    expected: [reply({ opaque: 3, cas: 7n, flags: 1, value: latin1("xyz") })],
  },
  {
    name: "a noop reply and one byte",
    head: concat([NOOP_REPLY, GET_REPLY.subarray(0, 1)]),
    rest: GET_REPLY.subarray(1),
    early: 1,
    expected: [
      reply({ opcode: Opcode.Noop, opaque: 9 }),
      reply({ opaque: 3, cas: 7n, flags: 1, value: latin1("xyz") }),
    ],
  },
];

function make(options?: DecoderOptions): BinaryResponseDecoder {
  return new BinaryResponseDecoder(options);
}

/** The binary decoder, with the replies that may follow a case. */
const BINARY: Codec<BinaryResponse> = {
  make,
  trailers: TRAILERS,
  valid: NOOP_REPLY,
  chunkSizes: [2, 3, 7, 23, 25, 4096, 65_536],
  split: { edges: 40, aroundEnds: 30 },
  exactBuffered: true,
};

/**
 * Decodes consecutive replies (1) whole; (2) one byte at a time, each response appearing
 * exactly with its last byte; (3) followed by bytes of further replies in the same chunk;
 * (4) split into two chunks at every position; (5) in chunks of a few fixed sizes.
 */
function checkCase(replies: Array<[Uint8Array, BinaryResponse]>, options?: DecoderOptions): void {
  decodeEveryWay(BINARY, { replies, options });
}

/** Checks that bytes fail whole, byte by byte and split at every position. */
function checkError(bytes: Uint8Array, before: BinaryResponse[] = [], options?: DecoderOptions) {
  failEveryWay(BINARY, { bytes, before, options });
}

// ---------------------------------------------------------------------------------------------
// Encoders: the examples of the protocol specification, byte for byte

test("encodeBinaryGet() writes the spec's get request for key Hello", () => {
  const spec = hex(`
    80 00 00 05 | 00 00 00 00 | 00 00 00 05 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    48 65 6c 6c 6f`);
  assertBytes(encoded((w) => encodeBinaryGet(w, "Hello", false, {}, 0)), spec);
});

test("encodeBinaryStore() writes the spec's add request (flags deadbeef, exptime 0x0e10)", () => {
  const spec = hex(`
    80 02 00 05 | 08 00 00 00 | 00 00 00 12 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    de ad be ef | 00 00 0e 10 | 48 65 6c 6c 6f 57 6f 72 6c 64`);
  // The spec's text says "in two hours" but its bytes hold 0x0e10 (one hour): the bytes rule.
  const opts = { flags: 0xdeadbeef, exptime: 3600 };
  assertBytes(encoded((w) => encodeBinaryStore(w, "add", "Hello", false, "World", opts, 0)), spec);
  assertBytes(
    encoded((w) => encodeBinaryStore(w, "add", "Hello", false, latin1("World"), opts, 0)),
    spec,
  );
});

test("encodeBinaryDelete() writes the spec's delete request", () => {
  const spec = hex(`
    80 04 00 05 | 00 00 00 00 | 00 00 00 05 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    48 65 6c 6c 6f`);
  assertBytes(encoded((w) => encodeBinaryDelete(w, "Hello", false, {}, 0)), spec);
});

test("encodeBinaryArithmetic() writes the spec's increment request", () => {
  const spec = hex(`
    80 05 00 07 | 14 00 00 00 | 00 00 00 1b | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    00 00 00 00 00 00 00 01 | 00 00 00 00 00 00 00 00 | 00 00 0e 10
    63 6f 75 6e 74 65 72`);
  const opts = { initial: 0n, exptime: 3600 };
  assertBytes(
    encoded((w) => encodeBinaryArithmetic(w, "incr", "counter", false, 1n, opts, 0)),
    spec,
  );
});

test("encodeBinaryQuit(), encodeBinaryNoop() and encodeBinaryVersion() write the spec's packets", () => {
  const bare = (op: string) => hex(`80 ${op} 0000 00 00 0000 00000000 00000000 0000000000000000`);
  assertBytes(encoded((w) => encodeBinaryQuit(w, 0)), bare("07"));
  assertBytes(encoded((w) => encodeBinaryNoop(w, 0)), bare("0a"));
  assertBytes(encoded((w) => encodeBinaryVersion(w, 0)), bare("0b"));
  assertBytes(encoded((w) => encodeSaslListMechs(w, 0)), bare("20"));
});

test("encodeBinaryFlush() writes the spec's flush in two hours, and a flush now", () => {
  const spec = hex(`
    80 08 00 00 | 04 00 00 00 | 00 00 00 04 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    00 00 0e 10`);
  // The spec's table says "in two hours" but its bytes hold 0x0e10, one hour: the bytes rule.
  assertBytes(encoded((w) => encodeBinaryFlush(w, 0, 3600)), spec);
  assertBytes(encoded((w) => encodeBinaryFlush(w, 0)), req(Opcode.Flush, 0, 0, 0));
  assertBytes(encoded((w) => encodeBinaryFlush(w, 5, 0)), concat([req(8, 0, 4, 4, 5), u32(0)]));
});

test("encodeBinaryStore() writes the spec's append request", () => {
  const spec = hex(`
    80 0e 00 05 | 00 00 00 00 | 00 00 00 06 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    48 65 6c 6c 6f 21`);
  assertBytes(encoded((w) => encodeBinaryStore(w, "append", "Hello", false, "!", {}, 0)), spec);
});

test("encodeBinaryStat() writes the spec's stat request, and one for a group", () => {
  const spec = hex("80 10 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00000000 00000000");
  assertBytes(encoded((w) => encodeBinaryStat(w, 0)), spec);
  assertBytes(
    encoded((w) => encodeBinaryStat(w, 4, "slabs")),
    concat([req(Opcode.Stat, 5, 0, 5, 4), "slabs"]),
  );
  assertBytes(
    encoded((w) => encodeBinaryStat(w, 0, "detail dump")),
    concat([req(Opcode.Stat, 11, 0, 11), "detail dump"]),
  );
});

// ---------------------------------------------------------------------------------------------
// Encoders: every opcode and field

test("encodeBinaryGet() picks Get, GetQ, GetK or GetKQ from quiet and withKey", () => {
  const cases: Array<[boolean, boolean, number]> = [
    [false, false, Opcode.Get],
    [true, false, Opcode.GetQ],
    [false, true, Opcode.GetK],
    [true, true, Opcode.GetKQ],
  ];
  for (const [quiet, withKey, opcode] of cases) {
    assertBytes(
      encoded((w) => encodeBinaryGet(w, "foo", false, { quiet, withKey }, 77)),
      concat([req(opcode, 3, 0, 3, 77), "foo"]),
      `quiet ${quiet} withKey ${withKey}`,
    );
  }
});

test("encodeBinaryGet() with touch picks GAT, GATQ, GATK or GATKQ and sends the exptime", () => {
  const cases: Array<[boolean, boolean, number]> = [
    [false, false, Opcode.GAT],
    [true, false, Opcode.GATQ],
    [false, true, Opcode.GATK],
    [true, true, Opcode.GATKQ],
  ];
  for (const [quiet, withKey, opcode] of cases) {
    for (const touch of [0, 60, 0xffffffff]) {
      assertBytes(
        encoded((w) => encodeBinaryGet(w, "foo", false, { quiet, withKey, touch }, 1)),
        concat([req(opcode, 3, 4, 7, 1), u32(touch), "foo"]),
        `quiet ${quiet} withKey ${withKey} touch ${touch}`,
      );
    }
  }
  assert.deepEqual(
    [Opcode.GAT, Opcode.GATQ, Opcode.GATK, Opcode.GATKQ, Opcode.Touch],
    [0x1d, 0x1e, 0x23, 0x24, 0x1c],
  );
});

test("binary encoders write the opaque value big-endian, from 0 to 2^32-1", () => {
  for (const opaque of [0, 1, 0x01020304, 0x7fffffff, 0x80000000, 0xffffffff]) {
    assertBytes(
      encoded((w) => encodeBinaryNoop(w, opaque)),
      req(Opcode.Noop, 0, 0, 0, opaque),
      `opaque ${opaque}`,
    );
  }
});

test("encodeBinaryStore() picks each mode's opcode and its quiet variant", () => {
  const modes: Array<["set" | "add" | "replace" | "append" | "prepend", number, number]> = [
    ["set", 0x01, 0x11],
    ["add", 0x02, 0x12],
    ["replace", 0x03, 0x13],
    ["append", 0x0e, 0x19],
    ["prepend", 0x0f, 0x1a],
  ];
  for (const [mode, loud, quiet] of modes) {
    const extras = mode === "append" || mode === "prepend" ? [] : [u32(5), u32(60)];
    const ext = extras.length * 4;
    for (const [q, opcode] of [[false, loud], [true, quiet]] as const) {
      assertBytes(
        encoded((w) =>
          encodeBinaryStore(w, mode, "k", false, "vv", { flags: 5, exptime: 60, quiet: q }, 2)
        ),
        concat([req(opcode, 1, ext, ext + 3, 2), ...extras, "k", "vv"]),
        `${mode} quiet ${q}`,
      );
    }
  }
});

test("encodeBinaryStore() writes zero flags and exptime by default, and their maxima", () => {
  assertBytes(
    encoded((w) => encodeBinaryStore(w, "set", "k", false, "", {}, 0)),
    concat([req(Opcode.Set, 1, 8, 9), u32(0), u32(0), "k"]),
  );
  assertBytes(
    encoded((w) =>
      encodeBinaryStore(w, "set", "k", false, "", { flags: 0xffffffff, exptime: 0xffffffff }, 0)
    ),
    concat([req(Opcode.Set, 1, 8, 9), u32(0xffffffff), u32(0xffffffff), "k"]),
  );
});

test("encodeBinaryStore() writes the CAS value into the header, up to 2^64-1", () => {
  for (const cas of [0n, 1n, 0xdeadbeefn, (1n << 53n) + 1n, 1n << 63n, MAX_U64]) {
    assertBytes(
      encoded((w) => encodeBinaryStore(w, "replace", "k", false, "v", { cas }, 0)),
      concat([req(Opcode.Replace, 1, 8, 10, 0, cas), u32(0), u32(0), "k", "v"]),
      `cas ${cas}`,
    );
    assertBytes(
      encoded((w) => encodeBinaryStore(w, "append", "k", false, "v", { cas }, 0)),
      concat([req(Opcode.Append, 1, 0, 2, 0, cas), "k", "v"]),
      `append cas ${cas}`,
    );
  }
});

test("encodeBinaryStore() writes a string as UTF-8 with its byte length in the body length", () => {
  const value = "héllo \u{1f600} \ud800";
  const bytes = utf8(value);
  assertBytes(
    encoded((w) => encodeBinaryStore(w, "set", "k", false, value, {}, 0)),
    concat([req(Opcode.Set, 1, 8, 9 + bytes.length), u32(0), u32(0), "k", bytes]),
  );
});

test("encodeBinaryStore() frames binary data by length and passes 16 KiB or more through", () => {
  const small = pattern(300, 1);
  assertBytes(
    encoded((w) => encodeBinaryStore(w, "set", "k", false, small, {}, 0)),
    concat([req(Opcode.Set, 1, 8, 309), u32(0), u32(0), "k", small]),
  );
  const big = pattern(16 * 1024, 2);
  const w = new ByteWriter();
  encodeBinaryStore(w, "set", "k", false, big, {}, 0);
  const chunks = w.take();
  assert.equal(chunks.length, 2);
  assert.equal(chunks[1], big, "the value is its own chunk, not copied");
  assertBytes(chunks[0], concat([req(Opcode.Set, 1, 8, 9 + big.length), u32(0), u32(0), "k"]));
});

test("encodeBinaryStore() writes a 1 MiB value", () => {
  const value = pattern(MIB, 3);
  const out = encoded((w) => encodeBinaryStore(w, "set", "big", false, value, { flags: 1 }, 9));
  assertBytes(
    out.subarray(0, 35),
    concat([req(Opcode.Set, 3, 8, 11 + MIB, 9), u32(1), u32(0), "big"]),
  );
  assertBytes(out.subarray(35), value);
});

test("encodeBinaryDelete() writes DeleteQ and the CAS value", () => {
  assertBytes(
    encoded((w) => encodeBinaryDelete(w, "k", false, { quiet: true, cas: 42n }, 3)),
    concat([req(Opcode.DeleteQ, 1, 0, 1, 3, 42n), "k"]),
  );
  assertBytes(
    encoded((w) => encodeBinaryDelete(w, "k", false, { cas: MAX_U64 }, 3)),
    concat([req(Opcode.Delete, 1, 0, 1, 3, MAX_U64), "k"]),
  );
});

test("encodeBinaryArithmetic() without an initial value sends expiration 0xffffffff", () => {
  for (const [mode, opcode] of [["incr", Opcode.Increment], ["decr", Opcode.Decrement]] as const) {
    assertBytes(
      encoded((w) => encodeBinaryArithmetic(w, mode, "n", false, 5n, {}, 8)),
      concat([req(opcode, 1, 20, 21, 8), u64(5n), u64(0n), u32(0xffffffff), "n"]),
      mode,
    );
    // exptime alone has no effect: nothing is created.
    assertBytes(
      encoded((w) => encodeBinaryArithmetic(w, mode, "n", false, 5n, { exptime: 60 }, 8)),
      concat([req(opcode, 1, 20, 21, 8), u64(5n), u64(0n), u32(0xffffffff), "n"]),
      mode,
    );
  }
});

test("encodeBinaryArithmetic() writes delta and initial up to 2^64-1 and the exptime", () => {
  for (const n of [0n, 1n, 0xffffffffn, 1n << 32n, (1n << 53n) + 1n, MAX_U64]) {
    assertBytes(
      encoded((w) => encodeBinaryArithmetic(w, "decr", "n", false, n, { initial: n }, 0)),
      concat([req(Opcode.Decrement, 1, 20, 21), u64(n), u64(n), u32(0), "n"]),
      `n ${n}`,
    );
  }
  assertBytes(
    encoded((w) =>
      encodeBinaryArithmetic(w, "incr", "n", false, 1n, { initial: 7n, exptime: 0xfffffffe }, 0)
    ),
    concat([req(Opcode.Increment, 1, 20, 21), u64(1n), u64(7n), u32(0xfffffffe), "n"]),
  );
});

test("encodeBinaryTouch() writes the key and the new exptime", () => {
  assertBytes(
    encoded((w) => encodeBinaryTouch(w, "foo", false, 86400, 12)),
    concat([req(Opcode.Touch, 3, 4, 7, 12), u32(86400), "foo"]),
  );
});

test("encodeBinaryVerbosity() writes the level as extras", () => {
  assertBytes(
    encoded((w) => encodeBinaryVerbosity(w, 2, 1)),
    concat([req(Opcode.Verbosity, 0, 4, 4, 1), u32(2)]),
  );
});

test("encodeSaslAuth() and encodeSaslStep() send the mechanism as key and the payload", () => {
  const payload = saslPlainPayload("user", "pässword");
  assertBytes(payload, latin1("\0user\0p\xc3\xa4ssword"));
  assertBytes(
    encoded((w) => encodeSaslAuth(w, "PLAIN", payload, 6)),
    concat([req(Opcode.SaslAuth, 5, 0, 5 + payload.length, 6), "PLAIN", payload]),
  );
  assertBytes(
    encoded((w) => encodeSaslStep(w, "CRAM-MD5", latin1("abc"), 7)),
    concat([req(Opcode.SaslStep, 8, 0, 11, 7), "CRAM-MD5", "abc"]),
  );
  assertBytes(saslPlainPayload("", ""), latin1("\0\0"));
});

test("binary encoders append to one writer so a pipeline leaves as one chunk", () => {
  const w = new ByteWriter();
  encodeBinaryGet(w, "a", false, { quiet: true }, 1);
  encodeBinaryGet(w, "b", false, { quiet: true, withKey: true }, 2);
  encodeBinaryNoop(w, 3);
  const chunks = w.take();
  assert.equal(chunks.length, 1);
  assertBytes(
    chunks[0],
    concat([
      req(Opcode.GetQ, 1, 0, 1, 1),
      "a",
      req(Opcode.GetKQ, 1, 0, 1, 2),
      "b",
      req(10, 0, 0, 0, 3),
    ]),
  );
});

// ---------------------------------------------------------------------------------------------
// Keys

test("binary encoders send a base64 key as the bytes it encodes", () => {
  const raw = latin1("a b\r\n\0\xff");
  const key = encodeKey(raw, true);
  assert.equal(key, toBase64(raw));
  assertBytes(
    encoded((w) => encodeBinaryGet(w, key, true, {}, 1)),
    concat([req(Opcode.Get, 7, 0, 7, 1), raw]),
  );
  assertBytes(
    encoded((w) => encodeBinaryStore(w, "set", key, true, "v", {}, 1)),
    concat([req(Opcode.Set, 7, 8, 16, 1), u32(0), u32(0), raw, "v"]),
  );
  assertBytes(
    encoded((w) => encodeBinaryDelete(w, key, true, {}, 1)),
    concat([req(Opcode.Delete, 7, 0, 7, 1), raw]),
  );
  assertBytes(
    encoded((w) => encodeBinaryArithmetic(w, "incr", key, true, 1n, {}, 1)),
    concat([req(Opcode.Increment, 7, 20, 27, 1), u64(1n), u64(0n), u32(0xffffffff), raw]),
  );
  assertBytes(
    encoded((w) => encodeBinaryTouch(w, key, true, 5, 1)),
    concat([req(Opcode.Touch, 7, 4, 11, 1), u32(5), raw]),
  );
});

test("binary encoders decode base64 keys of every length and padding", () => {
  for (let n = 1; n <= 250; n++) {
    const raw = pattern(n, n);
    assertBytes(
      encoded((w) => encodeBinaryGet(w, toBase64(raw), true, {}, 0)),
      concat([req(Opcode.Get, n, 0, n), raw]),
      `${n} bytes`,
    );
  }
  // A UTF-8 key through encodeKey, as the client sends it.
  const key = encodeKey("clé", true);
  assertBytes(encoded((w) => encodeBinaryGet(w, key, true, {}, 0)).subarray(24), utf8("clé"));
});

test("binary encoders send a UTF-8 wire key as its bytes, and keys of 250 bytes", () => {
  const key = encodeKey("é", false);
  assertBytes(
    encoded((w) => encodeBinaryGet(w, key, false, {}, 0)),
    concat([req(Opcode.Get, 2, 0, 2), "\xc3\xa9"]),
  );
  const long = "k".repeat(250);
  assertBytes(
    encoded((w) => encodeBinaryGet(w, long, false, {}, 0)),
    concat([req(Opcode.Get, 250, 0, 250), long]),
  );
});

test("binary encoders reject bad keys with INVALID_KEY and write nothing", () => {
  const bad: Array<[string, boolean, string]> = [
    ["", false, "empty"],
    ["k".repeat(251), false, "251 bytes"],
    ["\u0100", false, "a character above U+00FF"],
    ["\u{1f600}", false, "a surrogate pair"],
    ["", true, "empty base64"],
    [toBase64(pattern(251)), true, "base64 of 251 bytes"],
    ["Zm9", true, "unpadded base64"],
    ["Zm9vY", true, "base64 of a bad length"],
    ["Zm9v!A==", true, "a character outside base64"],
    ["Zm=v", true, "padding inside"],
    ["====", true, "padding only"],
    ["A===", true, "three padding characters"],
    ["Zm9v\u0100AAA", true, "a character above U+00FF in base64"],
    ["Zm9v-_==", true, "URL-safe base64"],
  ];
  for (const [key, base64, why] of bad) {
    const encoders: Array<[string, (w: ByteWriter) => void]> = [
      ["get", (w) => encodeBinaryGet(w, key, base64, {}, 0)],
      ["gat", (w) => encodeBinaryGet(w, key, base64, { touch: 1 }, 0)],
      ["store", (w) => encodeBinaryStore(w, "set", key, base64, "v", {}, 0)],
      ["delete", (w) => encodeBinaryDelete(w, key, base64, {}, 0)],
      ["arithmetic", (w) => encodeBinaryArithmetic(w, "incr", key, base64, 1n, {}, 0)],
      ["touch", (w) => encodeBinaryTouch(w, key, base64, 1, 0)],
    ];
    for (const [name, encode] of encoders) assertRejected(encode, "INVALID_KEY", `${name}: ${why}`);
  }
  assertRejected(
    (w) => encodeBinaryGet(w, 42 as unknown as string, false, {}, 0),
    "INVALID_KEY",
    "a key that is not a string",
  );
});

// ---------------------------------------------------------------------------------------------
// Encoders: rejections leave the writer untouched

const BAD_OPAQUE = [-1, 1.5, NaN, Infinity, 2 ** 32, "1" as unknown as number];
const BAD_EXPTIME = [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 32, 2 ** 53];
const BAD_U32 = [-1, 1.5, NaN, Infinity, 2 ** 32];
const BAD_U64 = [-1n, 1n << 64n, 5 as unknown as bigint, undefined as unknown as bigint];

test("binary encoders reject a bad opaque value with INVALID_ARGUMENT and write nothing", () => {
  const encoders: Array<[string, (w: ByteWriter, opaque: number) => void]> = [
    ["get", (w, o) => encodeBinaryGet(w, "k", false, {}, o)],
    ["store", (w, o) => encodeBinaryStore(w, "set", "k", false, "v", {}, o)],
    ["delete", (w, o) => encodeBinaryDelete(w, "k", false, {}, o)],
    ["arithmetic", (w, o) => encodeBinaryArithmetic(w, "incr", "k", false, 1n, {}, o)],
    ["touch", (w, o) => encodeBinaryTouch(w, "k", false, 1, o)],
    ["noop", (w, o) => encodeBinaryNoop(w, o)],
    ["version", (w, o) => encodeBinaryVersion(w, o)],
    ["quit", (w, o) => encodeBinaryQuit(w, o)],
    ["flush", (w, o) => encodeBinaryFlush(w, o)],
    ["flush with delay", (w, o) => encodeBinaryFlush(w, o, 5)],
    ["stat", (w, o) => encodeBinaryStat(w, o, "items")],
    ["verbosity", (w, o) => encodeBinaryVerbosity(w, 1, o)],
    ["sasl list", (w, o) => encodeSaslListMechs(w, o)],
    ["sasl auth", (w, o) => encodeSaslAuth(w, "PLAIN", new Uint8Array(2), o)],
    ["sasl step", (w, o) => encodeSaslStep(w, "PLAIN", new Uint8Array(2), o)],
  ];
  for (const [name, encode] of encoders) {
    for (const opaque of BAD_OPAQUE) {
      assertRejected((w) => encode(w, opaque), "INVALID_ARGUMENT", `${name}: opaque ${opaque}`);
    }
  }
});

test("binary encoders reject a bad expiration time with INVALID_TTL and write nothing", () => {
  for (const t of BAD_EXPTIME) {
    assertRejected(
      (w) => encodeBinaryGet(w, "k", false, { touch: t }, 0),
      "INVALID_TTL",
      `gat ${t}`,
    );
    assertRejected(
      (w) => encodeBinaryStore(w, "set", "k", false, "v", { exptime: t }, 0),
      "INVALID_TTL",
      `store ${t}`,
    );
    assertRejected(
      (w) => encodeBinaryStore(w, "append", "k", false, "v", { exptime: t }, 0),
      "INVALID_TTL",
      `append ${t}`,
    );
    assertRejected(
      (w) => encodeBinaryArithmetic(w, "incr", "k", false, 1n, { initial: 0n, exptime: t }, 0),
      "INVALID_TTL",
      `arithmetic ${t}`,
    );
    assertRejected((w) => encodeBinaryTouch(w, "k", false, t, 0), "INVALID_TTL", `touch ${t}`);
    assertRejected((w) => encodeBinaryFlush(w, 0, t), "INVALID_TTL", `flush ${t}`);
  }
  assertRejected(
    (w) =>
      encodeBinaryArithmetic(w, "incr", "k", false, 1n, { initial: 0n, exptime: 2 ** 32 - 1 }, 0),
    "INVALID_TTL",
    "0xffffffff with an initial value would not create the counter",
  );
});

test("encodeBinaryStore() rejects bad flags, CAS, mode and value and writes nothing", () => {
  for (const flags of BAD_U32) {
    assertRejected(
      (w) => encodeBinaryStore(w, "set", "k", false, "v", { flags }, 0),
      "INVALID_ARGUMENT",
      `flags ${flags}`,
    );
  }
  for (const cas of BAD_U64.slice(0, 3)) {
    assertRejected(
      (w) => encodeBinaryStore(w, "set", "k", false, "v", { cas }, 0),
      "INVALID_ARGUMENT",
      `cas ${cas}`,
    );
  }
  for (const mode of ["cas", "constructor", "toString", "SET", ""]) {
    assertRejected(
      (w) => encodeBinaryStore(w, mode as "set", "k", false, "v", {}, 0),
      "INVALID_ARGUMENT",
      `mode ${mode}`,
    );
  }
  for (const data of [42, null, [1, 2], new Uint16Array(2)]) {
    assertRejected(
      (w) => encodeBinaryStore(w, "set", "k", false, data as unknown as Uint8Array, {}, 0),
      "INVALID_VALUE",
      `data ${String(data)}`,
    );
  }
});

test("encodeBinaryStore() rejects a value whose body would not fit in 2^32-1 bytes", () => {
  class Huge extends Uint8Array {
    #length: number;
    constructor(length: number) {
      super(0);
      this.#length = length;
    }
    override get length(): number {
      return this.#length;
    }
  }
  // 8 bytes of extras and a 1-byte key: the body is 9 bytes more than the value.
  assertRejected(
    (w) => encodeBinaryStore(w, "set", "k", false, new Huge(2 ** 32 - 9), {}, 0),
    "VALUE_TOO_LARGE",
    "a body of 2^32 bytes",
  );
  assertRejected(
    (w) => encodeBinaryStore(w, "append", "k", false, new Huge(2 ** 32 - 1), {}, 0),
    "VALUE_TOO_LARGE",
    "an append body of 2^32 bytes",
  );
});

test("binary encoders reject a bad CAS with INVALID_ARGUMENT and bad deltas with INVALID_DELTA", () => {
  for (const cas of BAD_U64.slice(0, 3)) {
    assertRejected(
      (w) => encodeBinaryDelete(w, "k", false, { cas }, 0),
      "INVALID_ARGUMENT",
      `delete cas ${cas}`,
    );
  }
  for (const n of BAD_U64) {
    assertRejected(
      (w) => encodeBinaryArithmetic(w, "incr", "k", false, n, {}, 0),
      "INVALID_DELTA",
      `delta ${n}`,
    );
  }
  for (const n of BAD_U64.slice(0, 3)) {
    assertRejected(
      (w) => encodeBinaryArithmetic(w, "decr", "k", false, 1n, { initial: n }, 0),
      "INVALID_DELTA",
      `initial ${n}`,
    );
  }
  assertRejected(
    (w) => encodeBinaryArithmetic(w, "mul" as "incr", "k", false, 1n, {}, 0),
    "INVALID_ARGUMENT",
    "an unknown mode",
  );
});

test("encodeBinaryStat(), encodeBinaryVerbosity() and SASL encoders reject bad arguments", () => {
  for (const group of ["", "a\r\nb", "x".repeat(65), "a  b", "a b c d e", 5 as unknown as string]) {
    assertRejected((w) => encodeBinaryStat(w, 0, group), "INVALID_ARGUMENT", `group ${group}`);
  }
  for (const level of BAD_U32) {
    assertRejected((w) => encodeBinaryVerbosity(w, level, 0), "INVALID_ARGUMENT", `level ${level}`);
  }
  for (const mech of ["", "plain", "A B", "X".repeat(21), "PLAIN\r\n", 1 as unknown as string]) {
    assertRejected(
      (w) => encodeSaslAuth(w, mech, new Uint8Array(1), 0),
      "INVALID_ARGUMENT",
      `mechanism ${mech}`,
    );
    assertRejected(
      (w) => encodeSaslStep(w, mech, new Uint8Array(1), 0),
      "INVALID_ARGUMENT",
      `mechanism ${mech}`,
    );
  }
  assertRejected(
    (w) => encodeSaslAuth(w, "PLAIN", "secret" as unknown as Uint8Array, 0),
    "INVALID_ARGUMENT",
    "a payload that is not bytes",
  );
  assert.throws(() => saslPlainPayload("a\0b", "p"), withCode("INVALID_ARGUMENT"));
  assert.throws(() => saslPlainPayload("a", "p\0"), withCode("INVALID_ARGUMENT"));
  assert.throws(() => saslPlainPayload("a", 1 as unknown as string), withCode("INVALID_ARGUMENT"));
});

test("a rejected binary request leaves the requests before and after it intact", () => {
  const w = new ByteWriter();
  encodeBinaryGet(w, toBase64(latin1("one")), true, {}, 1);
  assert.throws(() => encodeBinaryGet(w, toBase64(latin1("two")), true, { touch: -1 }, 2));
  assert.throws(() => encodeBinaryGet(w, "Zm9v!A==", true, {}, 3));
  encodeBinaryGet(w, toBase64(latin1("six")), true, {}, 4);
  assertBytes(
    concat(w.take()),
    concat([req(Opcode.Get, 3, 0, 3, 1), "one", req(Opcode.Get, 3, 0, 3, 4), "six"]),
  );
});

// ---------------------------------------------------------------------------------------------
// Decoder: the spec's replies and every field

test("BinaryResponseDecoder decodes the spec's get and getk replies", () => {
  const get = hex(`
    81 00 00 00 | 04 00 00 00 | 00 00 00 09 | 00 00 00 00 | 00 00 00 00 | 00 00 00 01
    de ad be ef | 57 6f 72 6c 64`);
  // The spec's getk reply says a total body of 0x09, but its extras, key and value are 14
  // bytes (0x0e): the length is corrected here, as memcached itself sends it.
  const getk = hex(`
    81 00 00 05 | 04 00 00 00 | 00 00 00 0e | 00 00 00 00 | 00 00 00 00 | 00 00 00 01
    de ad be ef | 48 65 6c 6c 6f | 57 6f 72 6c 64`);
  const world = reply({ cas: 1n, flags: 0xdeadbeef, value: latin1("World") });
  checkCase([[get, world]]);
  checkCase([[getk, { ...world, key: latin1("Hello") }]]);
  checkCase([[get, world], [getk, { ...world, key: latin1("Hello") }], [get, world]]);
});

test("BinaryResponseDecoder decodes the spec's add, increment and version replies", () => {
  const add = hex(`
    81 02 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 01`);
  const incr = hex(`
    81 05 00 00 | 00 00 00 00 | 00 00 00 08 | 00 00 00 00 | 00 00 00 00 | 00 00 00 05
    00 00 00 00 | 00 00 00 00`);
  const version = hex(`
    81 0b 00 00 | 00 00 00 00 | 00 00 00 05 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    31 2e 33 2e 31`);
  const counter = reply({ opcode: Opcode.Increment, cas: 5n, value: new Uint8Array(8) });
  checkCase([
    [add, reply({ opcode: Opcode.Add, cas: 1n })],
    [incr, counter],
    [version, reply({ opcode: Opcode.Version, value: latin1("1.3.1") })],
  ]);
  assert.equal(counterValue(counter), 0n);
});

test("BinaryResponseDecoder decodes the spec's stat reply and the empty packet that ends it", () => {
  const stat = hex(`
    81 10 00 03 | 00 00 00 00 | 00 00 00 07 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
    70 69 64 33 30 37 38`);
  checkCase([
    [stat, reply({ opcode: Opcode.Stat, key: latin1("pid"), value: latin1("3078") })],
    [
      res({ opcode: Opcode.Stat, key: "uptime", value: "20", opaque: 4 }),
      reply({
        opcode: Opcode.Stat,
        opaque: 4,
        key: latin1("uptime"),
        value: latin1("20"),
      }),
    ],
    [res({ opcode: Opcode.Stat, opaque: 4 }), reply({ opcode: Opcode.Stat, opaque: 4 })],
  ]);
});

test("BinaryResponseDecoder decodes opaque, CAS and flags at their extremes", () => {
  for (const cas of [1n, 0xffffffffn, 1n << 32n, (1n << 53n) - 1n, (1n << 53n) + 1n, MAX_U64]) {
    for (const opaque of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const bytes = res({ opcode: Opcode.GetQ, opaque, cas, extras: u32(0xffffffff), value: "v" });
      const d = new BinaryResponseDecoder();
      d.feed(bytes);
      assert.deepStrictEqual(
        d.next(),
        reply({ opcode: Opcode.GetQ, opaque, cas, flags: 0xffffffff, value: latin1("v") }),
      );
    }
  }
  checkCase([[
    res({
      opcode: Opcode.GATK,
      opaque: 0xfedcba98,
      cas: MAX_U64,
      extras: u32(0x80000001),
      key: "k",
      value: "v",
    }),
    reply({
      opcode: Opcode.GATK,
      opaque: 0xfedcba98,
      cas: MAX_U64,
      flags: 0x80000001,
      key: latin1("k"),
      value: latin1("v"),
    }),
  ]]);
});

test("BinaryResponseDecoder gives a successful get of an empty value an empty Uint8Array", () => {
  for (const opcode of [0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24]) {
    checkCase([[
      res({ opcode, extras: u32(3), opaque: 1 }),
      reply({ opcode, flags: 3, opaque: 1, value: new Uint8Array(0) }),
    ]]);
  }
});

test("BinaryResponseDecoder leaves value undefined for replies without value bytes", () => {
  checkCase([
    [res({ opcode: Opcode.Noop, opaque: 5 }), reply({ opcode: Opcode.Noop, opaque: 5 })],
    [res({ opcode: Opcode.Set, cas: 9n }), reply({ opcode: Opcode.Set, cas: 9n })],
    [res({ opcode: Opcode.Delete }), reply({ opcode: Opcode.Delete })],
    [res({ opcode: Opcode.Touch, cas: 1n }), reply({ opcode: Opcode.Touch, cas: 1n })],
    [res({ opcode: Opcode.Flush }), reply({ opcode: Opcode.Flush })],
    [res({ opcode: Opcode.Quit }), reply({ opcode: Opcode.Quit })],
    [res({ opcode: Opcode.Verbosity }), reply({ opcode: Opcode.Verbosity })],
    // A getk miss may carry the key and nothing else.
    [
      res({ opcode: Opcode.GetK, status: BinaryStatus.KeyNotFound, key: "foo" }),
      reply({ opcode: Opcode.GetK, status: 1, key: latin1("foo") }),
    ],
  ]);
});

test("BinaryResponseDecoder gives an error status its error text as the value", () => {
  const statuses: Array<[number, string]> = [
    [BinaryStatus.KeyNotFound, "Not found"],
    [BinaryStatus.KeyExists, "Data exists for key."],
    [BinaryStatus.ValueTooLarge, "Too large."],
    [BinaryStatus.InvalidArguments, "Invalid arguments"],
    [BinaryStatus.ItemNotStored, "Not stored."],
    [BinaryStatus.NonNumeric, "Non-numeric server-side value for incr or decr"],
    [BinaryStatus.AuthError, "Auth failure."],
    [BinaryStatus.UnknownCommand, "Unknown command"],
    [BinaryStatus.OutOfMemory, "Out of memory"],
    [BinaryStatus.TemporaryFailure, "Temporary failure"],
    [0x4242, "a status this decoder does not know"],
  ];
  for (const [status, text] of statuses) {
    checkCase([[
      res({ opcode: Opcode.Get, status, opaque: 2, value: text }),
      reply({ opcode: Opcode.Get, status, opaque: 2, value: latin1(text) }),
    ]]);
  }
});

test("BinaryResponseDecoder skips extras of replies other than gets", () => {
  checkCase([[
    res({ opcode: Opcode.Set, extras: "\x01\x02\x03\x04\x05\x06\x07\x08", value: "v" }),
    reply({ opcode: Opcode.Set, value: latin1("v") }),
  ]]);
  // A failed get has no flags even when extras come with it.
  checkCase([[
    res({ opcode: Opcode.Get, status: 1, extras: u32(7), value: "Not found" }),
    reply({ opcode: Opcode.Get, status: 1, value: latin1("Not found") }),
  ]]);
});

test("BinaryResponseDecoder decodes every byte value inside keys and values", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  checkCase([[
    res({ opcode: Opcode.GetK, extras: u32(0), key: all.subarray(0, 250), value: all }),
    reply({ opcode: Opcode.GetK, key: all.slice(0, 250), value: all }),
  ]]);
});

test("BinaryResponseDecoder decodes a batch of quiet gets ended by a noop", () => {
  const replies: Array<[Uint8Array, BinaryResponse]> = [];
  for (let i = 0; i < 20; i++) {
    const value = pattern(i * 7, i);
    replies.push([
      res({
        opcode: Opcode.GetKQ,
        opaque: i,
        cas: BigInt(i + 1),
        extras: u32(i),
        key: `k${i}`,
        value,
      }),
      reply({
        opcode: Opcode.GetKQ,
        opaque: i,
        cas: BigInt(i + 1),
        flags: i,
        key: latin1(`k${i}`),
        value,
      }),
    ]);
  }
  replies.push([
    res({ opcode: Opcode.Noop, opaque: 99 }),
    reply({ opcode: Opcode.Noop, opaque: 99 }),
  ]);
  checkCase(replies);
});

test("BinaryResponseDecoder decodes a 1 MiB value whole, byte by byte, with trailing bytes and split", () => {
  const value = pattern(MIB, 7);
  checkCase([
    [
      res({ opcode: Opcode.GetK, opaque: 1, cas: 3n, extras: u32(2), key: "big", value }),
      reply({ opcode: Opcode.GetK, opaque: 1, cas: 3n, flags: 2, key: latin1("big"), value }),
    ],
    [res({ opcode: Opcode.Noop }), reply({ opcode: Opcode.Noop })],
  ]);
});

test("BinaryResponseDecoder accepts a body of exactly maxValueSize + 314 bytes", () => {
  // The default cap: a 1 MiB value with a 250-byte key and 64 bytes of extras.
  const key = "k".repeat(250);
  const extras = new Uint8Array(64);
  const value = pattern(MIB, 1);
  checkCase([[
    res({ opcode: Opcode.Set, extras, key, value }),
    reply({ opcode: Opcode.Set, key: latin1(key), value }),
  ]]);
  const small = pattern(10, 2);
  checkCase([[
    res({ opcode: Opcode.Set, extras, key, value: small }),
    reply({ opcode: Opcode.Set, key: latin1(key), value: small }),
  ]], { maxValueSize: 10 });
});

test("BinaryResponseDecoder decodes a 1 MiB value streamed in 64 KiB chunks", () => {
  const value = pattern(MIB, 9);
  const bytes = res({ opcode: Opcode.Get, opaque: 77, extras: u32(2), value });
  const d = new BinaryResponseDecoder();
  const got = decodeInChunks(d, bytes, 65_536);
  assertResponses(got, [reply({ opaque: 77, flags: 2, value })], "64 KiB chunks");
  assert.equal(got[0]!.value!.buffer.byteLength, MIB, "the streamed value has its own buffer");
  assert.equal(d.buffered, 0);
});

// ---------------------------------------------------------------------------------------------
// Decoder: buffering and copies

test("BinaryResponseDecoder.next() returns undefined until a reply's last byte arrives", () => {
  const d = new BinaryResponseDecoder();
  assert.equal(d.next(), undefined);
  d.feed(new Uint8Array(0));
  assert.equal(d.next(), undefined);
  const bytes = res({ opcode: Opcode.GetK, extras: u32(1), key: "key", value: "value" });
  for (let i = 0; i < bytes.length - 1; i++) {
    d.feed(bytes.subarray(i, i + 1));
    assert.equal(d.next(), undefined, `after ${i + 1} bytes`);
    assert.equal(d.buffered, i + 1);
  }
  d.feed(bytes.subarray(bytes.length - 1));
  assert.deepStrictEqual(
    d.next(),
    reply({ opcode: Opcode.GetK, flags: 1, key: latin1("key"), value: latin1("value") }),
  );
  assert.equal(d.buffered, 0);
});

test("BinaryResponseDecoder.buffered counts the bytes of a value still streaming in", () => {
  const d = new BinaryResponseDecoder();
  const bytes = res({ extras: u32(0), value: pattern(100) });
  d.feed(bytes.subarray(0, 30));
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 30);
  d.feed(bytes.subarray(30, 90));
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 90);
  d.feed(concat([bytes.subarray(90), NOOP_REPLY.subarray(0, 5)]));
  assert.equal(d.buffered, bytes.length + 5);
  assert.ok(d.next() !== undefined);
  assert.equal(d.buffered, 5);
  assert.equal(d.next(), undefined);
});

test("BinaryResponseDecoder.feed() copies its chunk, so reusing the chunk's buffer is safe", () => {
  const d = new BinaryResponseDecoder();
  const chunk = new Uint8Array(256);
  const put = (bytes: Uint8Array): Uint8Array => {
    chunk.fill(0x21);
    chunk.set(bytes);
    return chunk.subarray(0, bytes.length);
  };
  const first = res({
    opcode: Opcode.GetK,
    opaque: 1,
    extras: u32(1),
    key: "key1",
    value: "first",
  });
  const second = res({ opaque: 2, extras: u32(2), value: "second" });
  d.feed(put(first));
  d.feed(put(second.subarray(0, 30)));
  const a = d.next();
  assert.equal(d.next(), undefined);
  d.feed(put(second.subarray(30)));
  const b = d.next();
  put(new Uint8Array(256).fill(0x21));
  assert.deepStrictEqual(
    a,
    reply({
      opcode: Opcode.GetK,
      opaque: 1,
      flags: 1,
      key: latin1("key1"),
      value: latin1("first"),
    }),
  );
  assert.deepStrictEqual(b, reply({ opaque: 2, flags: 2, value: latin1("second") }));
});

test("BinaryResponseDecoder returns keys and values that later feeds do not change", () => {
  const d = new BinaryResponseDecoder();
  d.feed(res({ opcode: Opcode.GetK, extras: u32(0), key: "ab", value: "abc" }));
  const first = d.next()!;
  assert.equal(first.value!.buffer.byteLength, 3, "the value owns its bytes");
  assert.equal(first.key!.buffer.byteLength, 2, "the key owns its bytes");
  d.feed(concat(Array.from({ length: 5_000 }, () => NOOP_REPLY)));
  assert.equal(drain(d).length, 5_000);
  assert.deepStrictEqual(first.value, latin1("abc"));
  assert.deepStrictEqual(first.key, latin1("ab"));
});

test("BinaryResponseDecoder copies a 1 MiB value fed in 4 KiB chunks a bounded number of times", () => {
  const value = pattern(MIB, 3);
  const bytes = res({ extras: u32(0), opaque: 5, value });
  const { got, copied } = decodeCounted(new BinaryResponseDecoder(), chunks(bytes, 4096));
  assertResponses(got, [reply({ opaque: 5, value })], "4 KiB chunks");
  assert.ok(copied <= 1.1 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes fed`);
});

test("BinaryResponseDecoder copies many small replies a bounded number of times", () => {
  const one = res({ opcode: Opcode.GetKQ, extras: u32(1), key: "key", value: "hello", cas: 1n });
  const bytes = concat(Array.from({ length: 10_000 }, () => one));
  for (const copyValues of [true, false]) {
    const d = new BinaryResponseDecoder({ copyValues });
    const { got, copied } = decodeCounted(d, chunks(bytes, 1000));
    assert.equal(got.length, 10_000);
    const bound = copyValues ? 3 * bytes.length : 1.5 * bytes.length;
    assert.ok(copied <= bound, `copyValues ${copyValues}: copied ${copied} of ${bytes.length}`);
  }
});

test("BinaryResponseDecoder decodes 100,000 one-byte chunks of a value with linear copying", () => {
  const value = pattern(100_000, 4);
  const bytes = res({ opcode: Opcode.Version, value });
  const { got, copied } = decodeByteByByte(new BinaryResponseDecoder(), bytes);
  assertResponses([got!], [reply({ opcode: Opcode.Version, value })], "one byte at a time");
  assert.ok(copied <= 2 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes`);
});

// ---------------------------------------------------------------------------------------------
// Decoder: copyValues false

test("BinaryResponseDecoder with copyValues false lends whole bodies and reuses one object", () => {
  const d = new BinaryResponseDecoder({ copyValues: false });
  d.feed(concat([
    res({ opcode: Opcode.GetK, opaque: 1, extras: u32(4), key: "k1", value: "abc" }),
    res({ opaque: 2, extras: u32(0), value: "de" }),
    NOOP_REPLY,
  ]));
  const first = d.next();
  assert.deepStrictEqual(
    first,
    reply({
      opcode: Opcode.GetK,
      opaque: 1,
      flags: 4,
      key: latin1("k1"),
      value: latin1("abc"),
      borrowed: true,
    }),
  );
  assert.ok(first?.value !== undefined && first.key !== undefined);
  assert.ok(first.value.buffer.byteLength > first.value.length, "a view of the receive buffer");
  assert.equal(first.key.buffer, first.value.buffer);
  const second = d.next();
  assert.deepStrictEqual(
    second,
    reply({ opaque: 2, flags: 0, value: latin1("de"), borrowed: true }),
  );
  assert.equal(second, first, "the same object, refilled");
  assert.deepStrictEqual(d.next(), reply({ opcode: Opcode.Noop, opaque: 9 }));
});

test("BinaryResponseDecoder with copyValues false gives streamed values their own buffer", () => {
  const d = new BinaryResponseDecoder({ copyValues: false });
  const bytes = res({ opcode: Opcode.GetK, opaque: 1, extras: u32(0), key: "kk", value: "abcde" });
  d.feed(bytes.subarray(0, 32));
  assert.equal(d.next(), undefined);
  d.feed(bytes.subarray(32));
  const r = d.next();
  assert.deepStrictEqual(
    r,
    reply({ opcode: Opcode.GetK, opaque: 1, key: latin1("kk"), value: latin1("abcde") }),
  );
  assert.equal(r?.value?.buffer.byteLength, 5);
  assert.equal(r?.key?.buffer.byteLength, 2);
});

test("BinaryResponseDecoder with copyValues false decodes the same replies as with copies", () => {
  const bytes = concat([
    res({ opcode: Opcode.GetK, opaque: 1, cas: 2n, extras: u32(3), key: "key", value: "abc" }),
    res({ opcode: Opcode.Get, status: 1, opaque: 2, value: "Not found" }),
    res({ opcode: Opcode.Get, extras: u32(0) }),
    res({ opcode: Opcode.Stat, key: "pid", value: "1" }),
    res({ opcode: Opcode.Stat }),
    NOOP_REPLY,
  ]);
  checkLentMatchesCopied(make, bytes, (r) => ({
    ...r,
    key: r.key?.slice(),
    value: r.value?.slice(),
    borrowed: false,
  }));
});

// ---------------------------------------------------------------------------------------------
// Decoder: protocol errors, and the decoder stays failed

test("BinaryResponseDecoder fails on a magic byte other than 0x81", () => {
  for (const magic of [0x80, 0x00, 0x82, 0xff, 0x56]) checkError(res({ magic }));
  // A request echoed back, and text protocol bytes.
  checkError(concat([NOOP_REPLY, NOOP_0]), [reply({ opcode: Opcode.Noop, opaque: 9 })]);
  checkError(latin1("VA 3 O1\r\nabc\r\nEN\r\n"));
  checkError(latin1("EN\r\n"));
  checkError(latin1("ERROR\r\n".repeat(4)));
});

test("BinaryResponseDecoder fails on a non-zero data type", () => {
  for (const dataType of [1, 2, 0x80, 0xff]) checkError(res({ dataType, value: "x" }));
});

test("BinaryResponseDecoder fails when extras and key exceed the body", () => {
  checkError(res({ opcode: Opcode.GetK, extras: u32(0), key: "abc", bodyLen: 6 }));
  checkError(res({ opcode: Opcode.Stat, keyLen: 1 }));
  checkError(res({ opcode: Opcode.Set, extras: u32(0), bodyLen: 3 }));
  checkError(res({ keyLen: 0xffff, bodyLen: 0xfffe }));
});

test("BinaryResponseDecoder fails on a successful get reply without 4 bytes of flags", () => {
  for (const opcode of [0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24]) {
    checkError(res({ opcode, value: "v" }));
    checkError(res({ opcode, extras: "\0\0\0\0\0\0\0\0", value: "v" }));
  }
});

test("BinaryResponseDecoder fails on a body over maxValueSize + 314 as soon as its header arrives", () => {
  checkError(res({ extras: u32(0), value: pattern(312) }), [], { maxValueSize: 1 });
  checkError(res({ opcode: Opcode.Set, bodyLen: 325 }), [], { maxValueSize: 10 });
  checkError(res({ opcode: Opcode.Set, bodyLen: MIB + 315 }));
  checkError(res({ opcode: Opcode.Set, bodyLen: 0xffffffff }));
  checkError(concat([NOOP_REPLY, res({ bodyLen: 0x80000000 })]), [
    reply({ opcode: 10, opaque: 9 }),
  ]);
  // Only the header is needed to know.
  const d = new BinaryResponseDecoder();
  d.feed(res({ opcode: Opcode.Set, bodyLen: MIB + 315 }));
  assert.throws(() => d.next(), withCode("PROTOCOL_ERROR"));
});

test("BinaryResponseDecoder keeps decoding replies that came before the error", () => {
  const d = new BinaryResponseDecoder();
  d.feed(concat([NOOP_REPLY, res({ opcode: Opcode.Delete, opaque: 2 }), res({ magic: 0x80 })]));
  assert.deepStrictEqual(d.next(), reply({ opcode: Opcode.Noop, opaque: 9 }));
  assert.deepStrictEqual(d.next(), reply({ opcode: Opcode.Delete, opaque: 2 }));
  let error: unknown;
  assert.throws(() => d.next(), (e: unknown) => {
    error = e;
    return true;
  });
  assertMemcachedError(error, "PROTOCOL_ERROR");
  assert.throws(() => d.next(), (e: unknown) => e === error);
  d.feed(NOOP_REPLY);
  assert.throws(() => d.next(), (e: unknown) => e === error);
});

test("new BinaryResponseDecoder() rejects a maxValueSize that is not a positive integer", () => {
  checkBadLimits(make, ["maxValueSize"]);
});

// ---------------------------------------------------------------------------------------------
// counterValue

test("counterValue() reads an 8-byte big-endian counter", () => {
  for (const n of [0n, 1n, 255n, 256n, 0xffffffffn, 1n << 32n, (1n << 53n) + 1n, MAX_U64]) {
    assert.equal(counterValue(reply({ opcode: Opcode.Increment, value: u64(n) })), n);
  }
});

test("counterValue() raises PROTOCOL_ERROR for a value that is not 8 bytes", () => {
  for (const value of [undefined, new Uint8Array(0), new Uint8Array(7), new Uint8Array(9)]) {
    assert.throws(() => counterValue(reply({ value })), withCode("PROTOCOL_ERROR"));
  }
});
