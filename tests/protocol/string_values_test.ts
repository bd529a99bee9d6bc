/**
 * String values through the three store encoders, byte by byte: a string is written exactly as
 * its `TextEncoder` bytes would be (same header, same length field, same data), whatever its
 * length, its characters, and where it falls in the writer's buffer. Lone surrogates are sent
 * as U+FFFD (EF BF BD), as `TextEncoder` writes them; a string cannot hold anything else that is
 * not UTF-8.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { concat, utf8 } from "../_util.ts";
import { hex } from "./_codec.ts";
import {
  ByteWriter,
  encodeBinaryStore,
  encodeMetaSet,
  encodeTextStore,
  utf8Length,
} from "../../src/protocol/mod.ts";

/** `utf8Length()` measures strings by encoding them from this length on, in 16 Ki-unit pieces. */
const MEASURED = 128;
const PIECE = 16 * 1024;
/** The writer's default capacity, and the size from which bytes pass through uncopied. */
const SCRATCH = 16 * 1024;

/** A string of exactly `units` UTF-16 units made of `unit` repeated, cut to fit. */
function fill(unit: string, units: number): string {
  const s = unit.repeat(Math.ceil(units / unit.length));
  // Cutting a surrogate pair in half leaves a lone surrogate: still a valid test string.
  return s.slice(0, units);
}

/** The strings every encoder is checked with: name, string. */
function cases(): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ["empty", ""],
    ["ASCII", "hello"],
    ["2-byte", "héllo wörld"],
    ["3-byte", "€ and ☃"],
    ["4-byte", "\u{1F600}\u{1F680}"],
    ["lone high surrogate", "a\uD800b"],
    ["lone low surrogate", "\uDC00z"],
    ["trailing high surrogate", "abc\uD83D"],
    ["NUL and DEL", "\u0000\u007F\u0080"],
    ["CRLF inside", "line\r\nflush_all\r\n"],
  ];
  for (const units of [MEASURED - 1, MEASURED, MEASURED + 1, PIECE - 1, PIECE, PIECE + 1]) {
    for (const unit of ["a", "é", "€", "\u{1F600}", "\uDC00"]) {
      out.push([`${units} units of ${JSON.stringify(unit)}`, fill(unit, units)]);
    }
  }
  // A surrogate pair across the boundary of two 16 Ki-unit pieces.
  out.push(["pair across pieces", "a".repeat(PIECE - 1) + "\u{1F600}" + "b".repeat(100)]);
  // UTF-8 lengths just around the writer's initial capacity.
  for (const bytes of [SCRATCH - 2, SCRATCH - 1, SCRATCH, SCRATCH + 1, SCRATCH + 2]) {
    const tail = bytes % 2 === 0 ? "ab" : "abc";
    out.push([`${bytes} bytes of 2-byte chars`, fill("é", (bytes - tail.length) / 2) + tail]);
  }
  out.push(["256 KiB ASCII", fill("abcdefghijklmnopqrstuvwxyz0123456789", 256 * 1024)]);
  out.push(["256 KiB mixed", fill("ascii é € \u{1F600} \uD800 ", 256 * 1024)]);
  return out;
}

/** The three store encoders, each writing `data` under one set of options. */
const ENCODERS: Array<[string, (w: ByteWriter, data: string | Uint8Array) => void]> = [
  ["encodeMetaSet", (w, data) => encodeMetaSet(w, "k", false, data, { ttl: 60, flags: 0 }, 7)],
  ["encodeTextStore", (w, data) => encodeTextStore(w, "set", "k", data, { exptime: 60 })],
  ["encodeBinaryStore", (w, data) => encodeBinaryStore(w, "set", "k", false, data, {}, 7)],
];

/** What `encode` writes for `data` after `prefix` bytes already in a writer of `capacity`. */
function written(
  encode: (w: ByteWriter, data: string | Uint8Array) => void,
  data: string | Uint8Array,
  prefix: number,
  capacity: number,
): Uint8Array {
  const w = new ByteWriter(capacity);
  w.bytes(new Uint8Array(prefix).fill(0x2e));
  encode(w, data);
  const length = w.length;
  const out = concat(w.take());
  assert.equal(out.length, length, "ByteWriter.length counts every byte");
  return out.subarray(prefix);
}

for (const [name, encode] of ENCODERS) {
  test(`${name}() writes a string exactly as its TextEncoder bytes, every width and size`, () => {
    for (const [what, s] of cases()) {
      const bytes = utf8(s);
      assert.equal(utf8Length(s), bytes.length, `utf8Length of ${what}`);
      const expected = written(encode, bytes, 0, SCRATCH);
      for (const prefix of [0, 1, 100]) {
        for (const capacity of [SCRATCH, 64]) {
          const got = written(encode, s, prefix, capacity);
          if (got.length !== expected.length || !got.every((b, i) => b === expected[i])) {
            const at = got.findIndex((b, i) => b !== expected[i]);
            assert.fail(
              `${what} after ${prefix} bytes in a ${capacity}-byte writer: ${got.length} bytes, ` +
                `expected ${expected.length}; first difference at ${at}`,
            );
          }
        }
      }
    }
  });
}

test("encodeMetaSet() sends lone surrogates as U+FFFD and frames them by 3 bytes each", () => {
  const w = new ByteWriter();
  encodeMetaSet(w, "k", false, "a\uD800\uDC00\uDFFFb\uD83D", {}, -1);
  // a, the pair U+10000, the lone low surrogate as U+FFFD, b, the lone high one as U+FFFD.
  const value = hex("61 f0908080 efbfbd 62 efbfbd");
  assert.deepEqual(concat(w.take()), concat([utf8("ms k 12\r\n"), value, utf8("\r\n")]));
});

test("encodeMetaSet() of strings fills a writer past its capacity without losing a byte", () => {
  // Many values in one batch: each string grows the writer from where the previous one ended.
  const w = new ByteWriter(32);
  const expected: Uint8Array[] = [];
  let seed = 5;
  for (let i = 0; i < 60; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const s = fill(["x", "é", "€", "\u{1F600}"][i % 4]!, seed % 40_000);
    encodeMetaSet(w, `k${i}`, false, s, {}, i);
    const bytes = utf8(s);
    expected.push(utf8(`ms k${i} ${bytes.length} O${i}\r\n`), bytes, utf8("\r\n"));
  }
  assert.deepEqual(concat(w.take()), concat(expected));
});
