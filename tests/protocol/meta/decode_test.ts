import assert from "node:assert/strict";
import { test } from "../../_harness.ts";
import { concat, latin1, latin1Text, MAX_U64, MIB, utf8, withCode } from "../../_util.ts";
import {
  type DecoderOptions,
  type Response,
  ResponseDecoder,
  type ResponseStatus,
} from "../../../src/protocol/mod.ts";
import {
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
  type ErrorCase,
  failEveryWay,
  feedIncomplete,
  lineCodec,
  lineTrailer,
  noise,
} from "../_codec.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** A response as the decoder builds it: every field not given has its empty value. */
function reply(status: ResponseStatus, fields: Partial<Response> = {}): Response {
  return {
    status,
    opaque: -1,
    value: undefined,
    borrowed: false,
    flags: 0,
    cas: undefined,
    ttl: undefined,
    key: undefined,
    lease: 0,
    message: "",
    stats: undefined,
    ...fields,
  };
}

/** A VALUE response (the reply to a text `get`). */
function value(key: string, data: Uint8Array | string, fields: Partial<Response> = {}): Response {
  return reply("VALUE", {
    key,
    value: typeof data === "string" ? latin1(data) : data,
    ...fields,
  });
}

function make(options?: DecoderOptions): ResponseDecoder {
  return new ResponseDecoder(options);
}

/** The meta decoder, with the replies that may follow a case. */
const META: Codec<Response> = lineCodec(
  make,
  [
    lineTrailer("EN\r\n", "", 1, [reply("EN")]),
    lineTrailer("VA 3", " O7\r\nxyz\r\n", 0, [reply("VA", { opaque: 7, value: latin1("xyz") })]),
    lineTrailer("V", "A 0\r\n\r\n", 0, [reply("VA", { value: new Uint8Array(0) })]),
    lineTrailer("HD O1\r", "\n", 0, [reply("HD", { opaque: 1 })]),
    lineTrailer("STAT pid 1\r\nST", "AT uptime 2\r\nEND\r\n", 0, [
      reply("STATS", { stats: new Map([["pid", "1"], ["uptime", "2"]]) }),
    ]),
    lineTrailer("MN\r\nVA 2 f", "3\r\nhi\r\n", 1, [
      reply("MN"),
      reply("VA", { flags: 3, value: latin1("hi") }),
    ]),
    lineTrailer("VALUE k 1 3", "\r\nxyz\r\nEND\r\n", 0, [
      value("k", "xyz", { flags: 1 }),
      reply("END"),
    ]),
    lineTrailer("V", "ALUE k 0 0\r\n\r\n", 0, [value("k", "")]),
  ],
  "EN\r\nHD\r\n",
);

/** Decodes a case every way: whole, byte by byte, with trailing bytes, split, in chunks. */
function checkCase(c: Case<Response>): void {
  decodeEveryWay(META, c);
}

/** Checks that a case fails whole, byte by byte and split at every position. */
function checkError(c: ErrorCase<Response>): void {
  failEveryWay(META, c);
}

// ---------------------------------------------------------------------------------------------
// Every status, decoded whole, byte by byte, with trailing bytes and split anywhere

test("ResponseDecoder decodes a VA reply with a 0-byte value", () => {
  checkCase({ replies: [["VA 0\r\n\r\n", reply("VA", { value: new Uint8Array(0) })]] });
  checkCase({
    replies: [["VA 0 O4\r\n\r\n", reply("VA", { opaque: 4, value: new Uint8Array(0) })]],
  });
});

test("ResponseDecoder decodes a VA reply with a 1-byte value", () => {
  checkCase({ replies: [["VA 1 O3\r\nx\r\n", reply("VA", { opaque: 3, value: latin1("x") })]] });
});

test("ResponseDecoder decodes a VA reply with flags, CAS, TTL -1 and opaque", () => {
  checkCase({
    replies: [[
      "VA 3 f5 c1 t-1 O13\r\nbar\r\n",
      reply("VA", { value: latin1("bar"), flags: 5, cas: 1n, ttl: -1, opaque: 13 }),
    ]],
  });
});

test("ResponseDecoder decodes a numeric remaining TTL", () => {
  checkCase({ replies: [["VA 2 t30\r\nhi\r\n", reply("VA", { ttl: 30, value: latin1("hi") })]] });
  checkCase({ replies: [["HD t0\r\n", reply("HD", { ttl: 0 })]] });
  checkCase({ replies: [["HD t2592000\r\n", reply("HD", { ttl: 2_592_000 })]] });
});

test("ResponseDecoder decodes client flags up to 2^32-1", () => {
  checkCase({ replies: [["HD f0\r\n", reply("HD", { flags: 0 })]] });
  checkCase({ replies: [["HD f4294967295\r\n", reply("HD", { flags: 4_294_967_295 })]] });
});

test("ResponseDecoder frames a value by its length, not by a CRLF inside it", () => {
  const value = latin1("\r\nEN\r\n\0\xff");
  checkCase({
    replies: [[concat(["VA 8 f1\r\n", value, "\r\n"]), reply("VA", { flags: 1, value })]],
  });
  const lines = latin1("VA 2\r\nhi\r\nEND\r\n");
  checkCase({ replies: [[concat(["VA 15\r\n", lines, "\r\n"]), reply("VA", { value: lines })]] });
});

test("ResponseDecoder decodes every byte value inside a value", () => {
  const value = new Uint8Array(256);
  for (let i = 0; i < 256; i++) value[i] = i;
  checkCase({
    replies: [[concat(["VA 256 O1\r\n", value, "\r\n"]), reply("VA", { opaque: 1, value })]],
  });
});

test("ResponseDecoder decodes a 1 MiB value streamed in 64 KiB chunks", () => {
  const value = noise(MIB, 99);
  const bytes = concat(["VA 1048576 f2 O77\r\n", value, "\r\n"]);
  const d = new ResponseDecoder();
  const got = decodeInChunks(d, bytes, 65_536);
  assertResponses(got, [reply("VA", { flags: 2, opaque: 77, value })], "64 KiB chunks");
  assert.equal(d.buffered, 0);
});

test("ResponseDecoder decodes a 1 MiB value whole, byte by byte, with trailing bytes and split", () => {
  const value = noise(MIB, 7);
  checkCase({
    replies: [
      [concat(["VA 1048576 O1\r\n", value, "\r\n"]), reply("VA", { opaque: 1, value })],
      ["HD O2\r\n", reply("HD", { opaque: 2 })],
    ],
  });
});

test("ResponseDecoder decodes a value of exactly maxValueSize", () => {
  checkCase({
    options: { maxValueSize: 10 },
    replies: [["VA 10\r\n0123456789\r\n", reply("VA", { value: latin1("0123456789") })]],
  });
});

test("ResponseDecoder decodes HD", () => {
  checkCase({ replies: [["HD O12\r\n", reply("HD", { opaque: 12 })]] });
  checkCase({ replies: [["HD\r\n", reply("HD")]] });
});

test("ResponseDecoder decodes EN", () => {
  checkCase({ replies: [["EN O14\r\n", reply("EN", { opaque: 14 })]] });
  checkCase({ replies: [["EN\r\n", reply("EN")]] });
});

test("ResponseDecoder decodes NF, NS, EX and MN", () => {
  checkCase({ replies: [["NF O1\r\n", reply("NF", { opaque: 1 })]] });
  checkCase({ replies: [["NF O9\r\n", reply("NF", { opaque: 9 })]] });
  checkCase({ replies: [["NS\r\n", reply("NS")]] });
  checkCase({ replies: [["NS O2\r\n", reply("NS", { opaque: 2 })]] });
  checkCase({ replies: [["EX O3\r\n", reply("EX", { opaque: 3 })]] });
  checkCase({ replies: [["EX\r\n", reply("EX")]] });
  checkCase({ replies: [["MN\r\n", reply("MN")]] });
});

test("ResponseDecoder decodes OK and RESET", () => {
  checkCase({ replies: [["OK\r\n", reply("OK")]] });
  checkCase({ replies: [["RESET\r\n", reply("RESET")]] });
});

test("ResponseDecoder decodes VERSION with the version as its message", () => {
  checkCase({ replies: [["VERSION 1.6.18\r\n", reply("VERSION", { message: "1.6.18" })]] });
});

test("ResponseDecoder decodes a STAT block into one STATS response", () => {
  const block = "STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\n" +
    "STAT active_slabs 1\r\nSTAT libevent 2.1.12-stable\r\nSTAT total_malloced 1048576\r\nEND\r\n";
  const stats = new Map([
    ["1:chunk_size", "96"],
    ["1:chunks_per_page", "10922"],
    ["active_slabs", "1"],
    ["libevent", "2.1.12-stable"],
    ["total_malloced", "1048576"],
  ]);
  checkCase({ replies: [[block, reply("STATS", { stats })]] });
});

test("ResponseDecoder reads the lease marks W, X and Z of mg replies", () => {
  checkCase({
    replies: [
      [
        "VA 0 c7 W O1\r\n\r\n",
        reply("VA", { value: new Uint8Array(0), cas: 7n, lease: 1, opaque: 1 }),
      ],
      ["VA 2 f0 X W\r\nhi\r\n", reply("VA", { value: utf8("hi"), lease: 3 })],
      ["VA 2 X Z\r\nhi\r\n", reply("VA", { value: utf8("hi"), lease: 6 })],
      ["VA 0 Z c8\r\n\r\n", reply("VA", { value: new Uint8Array(0), lease: 4, cas: 8n })],
      ["HD W O3\r\n", reply("HD", { lease: 1, opaque: 3 })],
      ["VA 1 Wx\r\nv\r\n", reply("VA", { value: utf8("v"), lease: 1 })],
    ],
  });
});

test("ResponseDecoder without copies clears the lease marks of the reply it reuses", () => {
  const d = new ResponseDecoder({ copyValues: false });
  d.feed(utf8("VA 1 W X Z\r\na\r\nVA 1\r\nb\r\nHD\r\n"));
  assert.equal(d.next()?.lease, 7);
  assert.equal(d.next()?.lease, 0, "the next VA has no marks");
  assert.equal(d.next()?.lease, 0, "nor the HD after it");
});

test("ResponseDecoder reads ITEM lines (stats cachedump) and PREFIX lines as statistics", () => {
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
});

test("ResponseDecoder keeps the spaces inside a statistic's value", () => {
  checkCase({
    replies: [[
      "STAT version 1.6.18\r\nSTAT args -m 64 -t 2\r\nEND\r\n",
      reply("STATS", { stats: new Map([["version", "1.6.18"], ["args", "-m 64 -t 2"]]) }),
    ]],
  });
});

test("ResponseDecoder decodes a bare END (a text get's end, or an empty stats group) as END", () => {
  checkCase({ replies: [["END\r\n", reply("END")]] });
  checkCase({ replies: [["END\r\n", reply("END")], ["END\r\n", reply("END")]] });
});

// The replies of a text `get` line, which memcached answers on a meta connection too

test("ResponseDecoder decodes a VALUE with a 0-byte and a 1-byte value", () => {
  checkCase({ replies: [["VALUE k 0 0\r\n\r\n", value("k", "")]] });
  checkCase({ replies: [["VALUE key 0 1\r\nx\r\n", value("key", "x")]] });
});

test("ResponseDecoder decodes VALUE replies followed by END as separate replies", () => {
  checkCase({
    replies: [
      ["VALUE a 1 2\r\nhi\r\n", value("a", "hi", { flags: 1 })],
      ["VALUE b 0 3\r\nbye\r\n", value("b", "bye")],
      ["END\r\n", reply("END")],
    ],
  });
});

test("ResponseDecoder decodes the flags and CAS token of a VALUE, up to their limits", () => {
  checkCase({ replies: [["VALUE k 0 1 0\r\nz\r\n", value("k", "z", { cas: 0n })]] });
  checkCase({ replies: [["VALUE k 5 1 42\r\nz\r\n", value("k", "z", { flags: 5, cas: 42n })]] });
  checkCase({
    replies: [["VALUE k 0 1 18446744073709551615\r\nz\r\n", value("k", "z", { cas: MAX_U64 })]],
  });
  checkCase({
    replies: [["VALUE k 4294967295 1\r\nz\r\n", value("k", "z", { flags: 4_294_967_295 })]],
  });
});

test("ResponseDecoder decodes a VALUE's key as one character per byte, up to 250 bytes", () => {
  checkCase({ replies: [["VALUE \xc3\xa9 0 1\r\nz\r\n", value("\xc3\xa9", "z")]] });
  const long = "k".repeat(250);
  checkCase({ replies: [[`VALUE ${long} 0 1\r\nz\r\n`, value(long, "z")]] });
});

test("ResponseDecoder frames a VALUE by its length, not by a CRLF or END inside it", () => {
  const lines = latin1("VALUE x 0 2\r\nhi\r\nEND\r\n");
  checkCase({
    replies: [
      [concat(["VALUE k 0 22\r\n", lines, "\r\n"]), value("k", lines)],
      ["END\r\n", reply("END")],
    ],
  });
  const data = new Uint8Array(256);
  for (let i = 0; i < 256; i++) data[i] = i;
  checkCase({ replies: [[concat(["VALUE k 0 256\r\n", data, "\r\n"]), value("k", data)]] });
});

test("ResponseDecoder decodes a 1 MiB VALUE whole, byte by byte, with trailing bytes and split", () => {
  const data = noise(MIB, 11);
  checkCase({
    replies: [
      [
        concat(["VALUE big 2 1048576 7\r\n", data, "\r\n"]),
        value("big", data, { flags: 2, cas: 7n }),
      ],
      ["END\r\n", reply("END")],
    ],
  });
});

test("ResponseDecoder decodes text get replies pipelined with meta replies", () => {
  checkCase({
    replies: [
      ["VA 1 O1\r\na\r\n", reply("VA", { opaque: 1, value: latin1("a") })],
      ["VALUE b 0 1\r\nb\r\n", value("b", "b")],
      ["END\r\n", reply("END")],
      ["EN O2\r\n", reply("EN", { opaque: 2 })],
      ["END\r\n", reply("END")],
      ["HD O3\r\n", reply("HD", { opaque: 3 })],
    ],
  });
});

/** What a decoder made of `bytes`: its replies, and the error that stopped it, if any. */
function outcome(
  bytes: Uint8Array,
  options: DecoderOptions,
  chunk: number,
): { replies: Response[]; error: string | undefined } {
  const d = new ResponseDecoder(options);
  const replies: Response[] = [];
  try {
    for (let i = 0; i < bytes.length; i += chunk) {
      d.feed(bytes.subarray(i, i + chunk));
      drain(d, replies);
    }
    return { replies, error: undefined };
  } catch (error) {
    return { replies, error: (error as { code?: string }).code };
  }
}

test("ResponseDecoder reads a VALUE line whole (in one pass) as it reads it byte by byte, malformed or not", () => {
  // Whole, a VALUE line without a CAS token is read in the pass that finds its end; byte by
  // byte, it is never all there, so it takes the general path. Both must agree on everything.
  const keys = [
    "k",
    "mb-1:g:42",
    "\xc3\xa9",
    "k".repeat(250),
    "a\tb",
    "a\x7fb",
    "a\rb",
    "a\nb",
    "",
  ];
  const flags = ["0", "7", "4294967295", "4294967296", "00", "12345678901", "x", "-1", "", "1 "];
  const sizes = ["0", "3", "4", "03", "1234567890123456", "x", "", "3 ", " 3"];
  const tails = ["", " 9", " x", " ", " 18446744073709551616"];
  let cases = 0;
  for (const key of keys) {
    for (const flag of flags) {
      for (const size of sizes) {
        for (const tail of tails) {
          const n = Number(size.trim());
          const data = "d".repeat(Number.isInteger(n) && n < 10 ? n : 3);
          const bytes = latin1(
            `VALUE ${key} ${flag} ${size}${tail}\r\n${data}\r\nEND\r\nHD O1\r\n`,
          );
          for (const options of [{}, { maxValueSize: 3 }, { maxLineLength: 24 }]) {
            const whole = outcome(bytes, options, bytes.length);
            const split = outcome(bytes, options, 1);
            const why = `${JSON.stringify(latin1Text(bytes))} ${JSON.stringify(options)}`;
            assert.deepStrictEqual(whole, split, why);
            cases++;
          }
        }
      }
    }
  }
  assert.equal(cases, keys.length * flags.length * sizes.length * tails.length * 3);
});

test("ResponseDecoder reads a VALUE line at exactly maxLineLength whole and rejects one byte more", () => {
  const line = "VALUE key 0 1\r\n"; // 15 bytes
  const bytes = latin1(`${line}x\r\n`);
  checkCase({
    options: { maxLineLength: line.length },
    replies: [[`${line}x\r\n`, value("key", "x")]],
  });
  const over = outcome(bytes, { maxLineLength: line.length - 1 }, bytes.length);
  assert.deepStrictEqual(over, { replies: [], error: "PROTOCOL_ERROR" });
});

test("ResponseDecoder decodes ERROR", () => {
  checkCase({ replies: [["ERROR\r\n", reply("ERROR")]] });
  checkCase({
    replies: [["ERROR unknown command\r\n", reply("ERROR", { message: "unknown command" })]],
  });
});

test("ResponseDecoder decodes CLIENT_ERROR with its message", () => {
  checkCase({
    replies: [[
      "CLIENT_ERROR invalid mode for ms M token\r\n",
      reply("CLIENT_ERROR", { message: "invalid mode for ms M token" }),
    ]],
  });
  checkCase({ replies: [["CLIENT_ERROR\r\n", reply("CLIENT_ERROR")]] });
});

test("ResponseDecoder decodes SERVER_ERROR with its message", () => {
  checkCase({
    replies: [[
      "SERVER_ERROR out of memory storing object\r\n",
      reply("SERVER_ERROR", { message: "out of memory storing object" }),
    ]],
  });
});

test("ResponseDecoder decodes the k flag, and ignores b, for a base64 key", () => {
  checkCase({
    replies: [["VA 1 kZm9v b\r\nx\r\n", reply("VA", { key: "Zm9v", value: latin1("x") })]],
  });
  checkCase({ replies: [["HD kfoo O2\r\n", reply("HD", { key: "foo", opaque: 2 })]] });
});

test("ResponseDecoder ignores flags it does not act on, and reads W, X and Z as lease marks", () => {
  checkCase({
    replies: [[
      "VA 2 W X Z s2 h0 l45 O5\r\nok\r\n",
      reply("VA", { opaque: 5, value: latin1("ok"), lease: 7 }),
    ]],
  });
  checkCase({ replies: [["HD W Z O6\r\n", reply("HD", { opaque: 6, lease: 5 })]] });
  checkCase({ replies: [["EN X h1\r\n", reply("EN", { lease: 2 })]] });
});

test("ResponseDecoder decodes a CAS token above 2^53 as an exact bigint", () => {
  checkCase({
    replies: [["HD c9007199254740993\r\n", reply("HD", { cas: 9_007_199_254_740_993n })]],
  });
  checkCase({
    replies: [["HD c1234567890123456789\r\n", reply("HD", { cas: 1_234_567_890_123_456_789n })]],
  });
  checkCase({ replies: [["HD c0\r\n", reply("HD", { cas: 0n })]] });
});

test("ResponseDecoder decodes a CAS token of exactly 2^64-1", () => {
  checkCase({
    replies: [[
      "VA 1 c18446744073709551615 O8\r\nz\r\n",
      reply("VA", { cas: MAX_U64, opaque: 8, value: latin1("z") }),
    ]],
  });
});

test("ResponseDecoder decodes the value of an arithmetic reply", () => {
  checkCase({
    replies: [[
      "VA 20 O2\r\n18446744073709551614\r\n",
      reply("VA", { opaque: 2, value: latin1("18446744073709551614") }),
    ]],
  });
});

test("ResponseDecoder decodes many replies in one chunk in order", () => {
  const stats = new Map([["pid", "42"]]);
  checkCase({
    replies: [
      ["HD O15\r\n", reply("HD", { opaque: 15 })],
      ["EN O16\r\n", reply("EN", { opaque: 16 })],
      ["VA 3 f5 O17\r\nbar\r\n", reply("VA", { flags: 5, opaque: 17, value: latin1("bar") })],
      ["VA 0 O18\r\n\r\n", reply("VA", { opaque: 18, value: new Uint8Array(0) })],
      ["NF O19\r\n", reply("NF", { opaque: 19 })],
      ["STAT pid 42\r\nEND\r\n", reply("STATS", { stats })],
      ["END\r\n", reply("END")],
      ["VALUE k 3 2 9\r\nhi\r\n", value("k", "hi", { flags: 3, cas: 9n })],
      ["VERSION 1.6.18\r\n", reply("VERSION", { message: "1.6.18" })],
      ["OK\r\n", reply("OK")],
      ["CLIENT_ERROR bad data chunk\r\n", reply("CLIENT_ERROR", { message: "bad data chunk" })],
      ["VA 2\r\n\r\n\r\n", reply("VA", { value: latin1("\r\n") })],
      ["MN\r\n", reply("MN")],
    ],
  });
});

test("ResponseDecoder decodes a pipeline of 1,000 replies in one chunk", () => {
  const parts: string[] = [];
  const expected: Response[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 3 === 0) {
      parts.push(`VA ${String(i).length} O${i}\r\n${i}\r\n`);
      expected.push(reply("VA", { opaque: i, value: latin1(String(i)) }));
    } else {
      parts.push(`HD O${i}\r\n`);
      expected.push(reply("HD", { opaque: i }));
    }
  }
  const d = new ResponseDecoder();
  d.feed(latin1(parts.join("")));
  assertResponses(drain(d), expected, "one chunk");
  assert.equal(d.buffered, 0);
});

// ---------------------------------------------------------------------------------------------
// Incremental behaviour

test("ResponseDecoder.next() returns undefined on a fresh decoder", () => {
  checkFreshDecoder(new ResponseDecoder());
});

test("ResponseDecoder.next() returns undefined until a value's CRLF arrives", () => {
  const d = new ResponseDecoder();
  feedIncomplete(d, "VA 3 O1\r\n", "bar", "\r");
  d.feed(latin1("\n"));
  assert.deepStrictEqual(d.next(), reply("VA", { opaque: 1, value: latin1("bar") }));
  assert.equal(d.next(), undefined);
});

test("ResponseDecoder.next() returns undefined until a line's LF arrives", () => {
  const d = new ResponseDecoder();
  feedIncomplete(d, "H", "D", " ", "O", "1", "\r");
  d.feed(latin1("\n"));
  assert.deepStrictEqual(d.next(), reply("HD", { opaque: 1 }));
});

test("ResponseDecoder.next() returns undefined until a STAT block's END arrives", () => {
  const d = new ResponseDecoder();
  feedIncomplete(d, "STAT a 1\r\nSTAT b 2\r\n", "EN");
  d.feed(latin1("D\r\n"));
  assert.deepStrictEqual(d.next(), reply("STATS", { stats: new Map([["a", "1"], ["b", "2"]]) }));
});

test("ResponseDecoder.buffered counts bytes fed but not yet decoded", () => {
  const d = new ResponseDecoder();
  assert.equal(d.buffered, 0);
  d.feed(latin1("EN\r\nHD"));
  assert.equal(d.buffered, 6);
  assert.deepStrictEqual(d.next(), reply("EN"));
  assert.equal(d.buffered, 2);
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 2);
  d.feed(latin1(" O3\r\nVA 4\r\n"));
  assert.equal(d.buffered, 13);
  assert.deepStrictEqual(d.next(), reply("HD", { opaque: 3 }));
  assert.equal(d.buffered, 6);
  assert.equal(d.next(), undefined);
  feedIncomplete(d, "ab");
  d.feed(latin1("cd\r\nMN\r\n"));
  assert.deepStrictEqual(d.next(), reply("VA", { value: latin1("abcd") }));
  assert.equal(d.buffered, 4);
  assert.deepStrictEqual(d.next(), reply("MN"));
  assert.equal(d.buffered, 0);
});

test("ResponseDecoder.buffered counts the value bytes of a VA reply still arriving", () => {
  const d = new ResponseDecoder();
  feedIncomplete(d, "VA 10\r\n");
  const atHeader = d.buffered;
  feedIncomplete(d, "0123");
  assert.equal(d.buffered, atHeader + 4);
  feedIncomplete(d, "456789\r");
  assert.equal(d.buffered, atHeader + 11);
  d.feed(latin1("\n"));
  assert.ok(d.next() !== undefined);
  assert.equal(d.buffered, 0);
});

test("ResponseDecoder.feed() copies its chunk, so reusing the chunk's buffer is safe", () => {
  const d = new ResponseDecoder();
  const chunk = new Uint8Array(64);
  const put = (s: string): Uint8Array => {
    chunk.fill(0x21);
    chunk.set(latin1(s));
    return chunk.subarray(0, s.length);
  };
  // A whole value in one chunk, overwritten before next() is called.
  d.feed(put("VA 5 kkey1 O1\r\nfirst\r\n"));
  put("VA 5 kXXXX O9\r\nXXXXX\r\n");
  // A value split across chunks that all reuse the same buffer.
  d.feed(put("VA 6 O2\r\nsec"));
  const first = d.next();
  assert.equal(d.next(), undefined);
  d.feed(put("ond\r\nSERVER_ERROR oops\r\n"));
  const second = d.next();
  // A message, and statistics, decoded from the reused buffer.
  const error = d.next();
  d.feed(put("STAT x 1\r\n"));
  assert.equal(d.next(), undefined);
  d.feed(put("END\r\n"));
  const stats = d.next();
  put("!".repeat(64));
  assert.deepStrictEqual(first, reply("VA", { key: "key1", opaque: 1, value: latin1("first") }));
  assert.deepStrictEqual(second, reply("VA", { opaque: 2, value: latin1("second") }));
  assert.deepStrictEqual(error, reply("SERVER_ERROR", { message: "oops" }));
  assert.deepStrictEqual(stats, reply("STATS", { stats: new Map([["x", "1"]]) }));
});

test("ResponseDecoder returns values that later feeds do not change or pin", () => {
  const d = new ResponseDecoder();
  d.feed(latin1("VA 3\r\nabc\r\nVA 3\r\n"));
  const first = d.next();
  assert.ok(first?.value !== undefined);
  // The value owns its bytes: it is not a view into the decoder's receive buffer.
  assert.equal(first.value.byteOffset, 0);
  assert.equal(first.value.buffer.byteLength, 3);
  feedIncomplete(d, "de");
  d.feed(latin1("f\r\n"));
  const second = d.next();
  // Refill the receive buffer many times over so any shared memory would be overwritten.
  const filler = latin1("HD O1\r\n".repeat(20_000));
  d.feed(filler);
  assert.equal(drain(d).length, 20_000);
  assert.deepStrictEqual(first.value, latin1("abc"));
  assert.deepStrictEqual(second?.value, latin1("def"));
  assert.equal(second?.value?.buffer.byteLength, 3);
});

test("ResponseDecoder decodes 100,000 one-byte chunks of a long line under the cap", () => {
  checkLongLineByteByByte(make, (message) => reply("SERVER_ERROR", { message }));
});

test("ResponseDecoder copies a 1 MiB value fed in 4 KiB chunks a bounded number of times", () => {
  const value = noise(MIB, 3);
  const bytes = concat(["VA 1048576 O5\r\n", value, "\r\n"]);
  const { got, copied } = decodeCounted(new ResponseDecoder(), chunks(bytes, 4096));
  assertResponses(got, [reply("VA", { opaque: 5, value })], "4 KiB chunks");
  // Linear: each byte lands in the value about once. Re-concatenating the buffer on every
  // chunk would copy about 256 × 1 MiB / 2 = 128 MiB.
  assert.ok(copied <= 2 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes fed`);
});

test("ResponseDecoder copies many small replies a bounded number of times", () => {
  const reply1 = "VA 5 f1 O1\r\nhello\r\n";
  const bytes = latin1(reply1.repeat(10_000));
  const { got, copied } = decodeCounted(new ResponseDecoder(), chunks(bytes, 1000));
  assert.equal(got.length, 10_000);
  assert.ok(copied <= 3 * bytes.length, `copied ${copied} bytes for ${bytes.length} bytes fed`);
});

// ---------------------------------------------------------------------------------------------
// Protocol errors: thrown as PROTOCOL_ERROR, and the decoder stays failed

test("ResponseDecoder fails on a line that ends in LF without CR", () => {
  checkError({ bytes: "HD\n" });
  checkError({ bytes: "\n" });
  checkError({ bytes: "HD O1\r\nEN\n", before: [reply("HD", { opaque: 1 })] });
  checkError({ bytes: "STAT a 1\nEND\r\n" });
});

test("ResponseDecoder fails on an unknown reply word", () => {
  for (const bytes of ["BOGUS\r\n", "STORED\r\n", "NOT_FOUND\r\n", "hd\r\n"]) {
    checkError({ bytes });
  }
  for (const bytes of ["HDX\r\n", "VAX 1\r\n", "ENDS\r\n", "END \r\n", "VERSIONS\r\n"]) {
    checkError({ bytes });
  }
  for (const bytes of ["ERRORS\r\n", "VALUES k 0 1\r\n", "VALUE\r\n", "\r\n"]) {
    checkError({ bytes });
  }
  checkError({ bytes: "H\r\n" });
  checkError({ bytes: "MN\r\nNOPE\r\n", before: [reply("MN")] });
});

test("ResponseDecoder fails on a malformed VALUE line", () => {
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
    "VALUE k 0 x\r\n",
    "VALUE k 0 -1\r\n",
    "VALUE k 0 1234567890123456\r\n",
    "VALUE k 0 1 \r\n",
    "VALUE k 0 1 x\r\n",
    "VALUE k 0 1 18446744073709551616\r\n",
    "VALUE k 0 1 5 6\r\n",
  ];
  for (const bytes of bad) checkError({ bytes });
});

test("ResponseDecoder fails on a VALUE over maxValueSize or not followed by CRLF", () => {
  checkError({ bytes: "VALUE k 0 11\r\n01234567890\r\n", options: { maxValueSize: 10 } });
  checkError({ bytes: "VALUE k 0 1048577\r\n" });
  checkError({ bytes: "END\r\nVALUE k 0 99999999\r\n", before: [reply("END")] });
  checkError({ bytes: "VALUE k 0 3\r\nabcd\r\n" });
  checkError({ bytes: "VALUE k 0 1\nx\r\n" });
});

test("ResponseDecoder fails on a VALUE inside a STAT block", () => {
  checkError({ bytes: "STAT pid 1\r\nVALUE k 0 1\r\nx\r\nEND\r\n" });
});

test("ResponseDecoder fails on a VA reply without a numeric size", () => {
  for (const bytes of ["VA\r\n", "VA x\r\n", "VA -1\r\n", "VA 3x\r\nabc\r\n", "VA  3\r\nabc\r\n"]) {
    checkError({ bytes });
  }
  checkError({ bytes: "VA 1234567890123456\r\n" });
});

test("ResponseDecoder fails on a VA reply over maxValueSize", () => {
  checkError({ bytes: "VA 11\r\n01234567890\r\n", options: { maxValueSize: 10 } });
  checkError({ bytes: "VA 1048577 O1\r\n" });
  checkError({ bytes: "HD\r\nVA 99999999\r\n", before: [reply("HD")] });
});

test("ResponseDecoder fails on a value not followed by CRLF", () => {
  checkError({ bytes: "VA 3\r\nabcd\r\n" });
  checkError({ bytes: "VA 3\r\nabc\n\r" });
  checkError({ bytes: "VA 3\r\nabc\rX" });
  checkError({ bytes: "VA 0\r\nXY" });
  checkError({ bytes: "VA 2\r\nab\n\r\n" });
});

test("ResponseDecoder fails once an unfinished line exceeds maxLineLength", () => {
  checkUnfinishedLineOverCap(make);
});

test("ResponseDecoder fails on an unfinished line over the default cap of 8192 bytes", () => {
  checkDefaultLineCap(make);
});

test("ResponseDecoder accepts a line of exactly maxLineLength bytes and rejects one more", () => {
  const cap = 32;
  checkLineOfExactlyCap(META, cap, (message) => reply("SERVER_ERROR", { message }));
  checkError({
    bytes: `HD O1\r\nSERVER_ERROR ${"x".repeat(cap - 14)}\r\n`,
    before: [reply("HD", { opaque: 1 })],
    options: { maxLineLength: cap },
  });
});

test("ResponseDecoder fails on a malformed opaque token", () => {
  for (
    const bytes of [
      "HD O\r\n",
      "HD Ox\r\n",
      "HD O-1\r\n",
      "HD O1.5\r\n",
      "EN O1234567890123456\r\n",
    ]
  ) {
    checkError({ bytes });
  }
});

test("ResponseDecoder fails on malformed client flags", () => {
  for (
    const bytes of [
      "HD f\r\n",
      "HD f-1\r\n",
      "HD fabc\r\n",
      "HD f4294967296\r\n",
      "VA 1 f1x\r\nz\r\n",
    ]
  ) {
    checkError({ bytes });
  }
});

test("ResponseDecoder fails on a malformed CAS token", () => {
  const bad = [
    "HD c\r\n",
    "HD c-1\r\n",
    "HD c1e3\r\n",
    "HD c18446744073709551616\r\n",
    "HD c99999999999999999999\r\n",
    "HD c123456789012345678901\r\n",
    "HD c1234567890123456x\r\n",
  ];
  for (const bytes of bad) checkError({ bytes });
});

test("ResponseDecoder fails on a malformed TTL", () => {
  for (const bytes of ["HD t\r\n", "HD t-2\r\n", "HD t-\r\n", "HD tx\r\n", "HD t-10\r\n"]) {
    checkError({ bytes });
  }
});

test("ResponseDecoder fails on a STAT block interrupted by another reply", () => {
  checkError({ bytes: "STAT pid 1\r\nHD\r\n" });
  checkError({ bytes: "STAT pid 1\r\nVA 1\r\nx\r\n" });
  checkError({ bytes: "STAT pid 1\r\nEND X\r\n" });
  checkError({ bytes: "STAT pid 1\r\nERROR\r\n" });
  checkError({ bytes: "EN\r\nSTAT pid 1\r\nMN\r\n", before: [reply("EN")] });
});

test("ResponseDecoder keeps decoding replies that came before the error", () => {
  const d = new ResponseDecoder();
  d.feed(latin1("HD O1\r\nEN O2\r\nGARBAGE\r\nHD O3\r\n"));
  assert.deepStrictEqual(d.next(), reply("HD", { opaque: 1 }));
  assert.deepStrictEqual(d.next(), reply("EN", { opaque: 2 }));
  assert.throws(
    () => d.next(),
    withCode("PROTOCOL_ERROR"),
  );
  assert.throws(
    () => d.next(),
    withCode("PROTOCOL_ERROR"),
  );
});

// ---------------------------------------------------------------------------------------------
// copyValues: false

test("ResponseDecoder with copyValues false lends whole values and reuses one response object", () => {
  const d = new ResponseDecoder({ copyValues: false });
  d.feed(latin1("VA 3 O1\r\nabc\r\nVA 2 O2\r\nde\r\nHD\r\n"));
  const first = d.next();
  assert.deepStrictEqual(first, reply("VA", { opaque: 1, value: latin1("abc"), borrowed: true }));
  // A borrowed value is a view into the receive buffer, not a buffer of its own.
  assert.ok(first?.value !== undefined);
  assert.ok(first.value.buffer.byteLength > first.value.length);
  const second = d.next();
  assert.deepStrictEqual(second, reply("VA", { opaque: 2, value: latin1("de"), borrowed: true }));
  assert.equal(second, first, "the same object, refilled");
  assert.deepStrictEqual(d.next(), reply("HD"));
});

test("ResponseDecoder with copyValues false gives streamed values their own buffer", () => {
  const d = new ResponseDecoder({ copyValues: false });
  feedIncomplete(d, "VA 5 O1\r\nab");
  d.feed(latin1("cde\r\n"));
  const r = d.next();
  assert.deepStrictEqual(r, reply("VA", { opaque: 1, value: latin1("abcde") }));
  assert.equal(r?.value?.buffer.byteLength, 5);
});

test("ResponseDecoder with copyValues false decodes the same replies as with copies", () => {
  const bytes = latin1("VA 3 f1 O1\r\nabc\r\nEN O2\r\nVA 0\r\n\r\nSTAT a 1\r\nEND\r\nMN\r\n");
  checkLentMatchesCopied(make, bytes);
  const text = latin1("VALUE a 1 3\r\nabc\r\nVALUE b 0 0 5\r\n\r\nEND\r\nHD O3\r\n");
  checkLentMatchesCopied(make, text);
});

test("ResponseDecoder with copyValues false lends VALUE data and clears the key of a reused reply", () => {
  const d = new ResponseDecoder({ copyValues: false });
  d.feed(latin1("VALUE k 2 3\r\nabc\r\nHD O1\r\n"));
  const first = d.next();
  assert.deepStrictEqual(first, value("k", "abc", { flags: 2, borrowed: true }));
  assert.equal(d.valueText(first!.value!), "abc");
  const second = d.next();
  assert.equal(second, first, "the same object, refilled");
  assert.deepStrictEqual(second, reply("HD", { opaque: 1 }));
});

test("new ResponseDecoder() rejects limits that are not positive integers", () => {
  checkBadLimits(make, ["maxLineLength", "maxValueSize"]);
});

test("ResponseDecoder.next() raises PROTOCOL_ERROR when a stats reply never ends", () => {
  checkEndlessStats(make);
});
