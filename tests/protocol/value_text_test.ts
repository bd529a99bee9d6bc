/**
 * `valueText()` of the line decoders: with `copyValues: false` it slices small values from one
 * decode of the bytes received, when they are all ASCII. These tests check that the text is
 * always exactly what `TextDecoder` gives for the value, including when the bytes it decoded
 * earlier are reused (the buffer restarts at its front, compacts or grows), when the chunk holds
 * non-ASCII or invalid UTF-8, and for values that are streamed, copied or not the decoder's.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { concat, latin1, utf8 } from "../_util.ts";
import {
  BinaryResponseDecoder,
  ResponseDecoder,
  TextResponseDecoder,
} from "../../src/protocol/mod.ts";

const reference = new TextDecoder();

interface LineDecoder {
  feed(chunk: Uint8Array): void;
  next(): { value: Uint8Array | undefined } | undefined;
  valueText(value: Uint8Array): string;
}

interface Dialect {
  name: string;
  make(copyValues: boolean): LineDecoder;
  /** The bytes of one value reply. */
  reply(key: string, value: Uint8Array): Uint8Array;
}

const DIALECTS: Dialect[] = [
  {
    name: "meta",
    make: (copyValues) => new ResponseDecoder({ copyValues }),
    reply: (_key, value) => concat([`VA ${value.length} f0\r\n`, value, "\r\n"]),
  },
  {
    name: "text",
    make: (copyValues) => new TextResponseDecoder({ copyValues }),
    reply: (key, value) => concat([`VALUE ${key} 0 ${value.length}\r\n`, value, "\r\n"]),
  },
];

/** Feeds `chunks` one by one; after each, reads every reply's value with `valueText`. */
function texts(d: LineDecoder, chunks: readonly Uint8Array[]): string[] {
  const out: string[] = [];
  for (const chunk of chunks) {
    d.feed(chunk);
    for (let r = d.next(); r !== undefined; r = d.next()) {
      if (r.value === undefined) continue;
      const text = d.valueText(r.value);
      assert.equal(text, reference.decode(r.value), "valueText agrees with TextDecoder");
      out.push(text);
    }
  }
  return out;
}

const SAMPLES: [string, Uint8Array][] = [
  ["ascii", utf8("plain ascii value")],
  ["empty", new Uint8Array(0)],
  ["two-byte UTF-8", utf8("héllo wörld")],
  ["four-byte UTF-8", utf8("emoji 🎉 here")],
  ["U+FFFD itself", utf8("a\uFFFDb")],
  ["invalid UTF-8", latin1("bad \xff\xfe bytes")],
  ["a lone continuation byte", latin1("x\x80y")],
  ["a truncated sequence", Uint8Array.of(0x61, 0xe2, 0x82)],
  ["CRLF inside", utf8("line one\r\nline two")],
  ["300 bytes (a view, not lent)", utf8("v".repeat(300))],
  ["5000 bytes (over the slicing size)", utf8("w".repeat(5000))],
];

for (const dialect of DIALECTS) {
  for (const copyValues of [false, true]) {
    const mode = copyValues ? "copied" : "lent";
    test(`${dialect.name} valueText (${mode}) reads every kind of value as TextDecoder does`, () => {
      const all = concat(
        SAMPLES.map(([name, value]) => dialect.reply(name.replace(/ /g, "_"), value)),
      );
      // All in one chunk, then byte by byte, then in chunks of 7.
      const whole = texts(dialect.make(copyValues), [all]);
      assert.deepEqual(whole, SAMPLES.map(([, value]) => reference.decode(value)));
      const bytes = Array.from(all, (b) => Uint8Array.of(b));
      assert.deepEqual(texts(dialect.make(copyValues), bytes), whole);
      const sevens: Uint8Array[] = [];
      for (let i = 0; i < all.length; i += 7) sevens.push(all.subarray(i, i + 7));
      assert.deepEqual(texts(dialect.make(copyValues), sevens), whole);
    });

    test(`${dialect.name} valueText (${mode}) is right when the buffer restarts at the same offsets`, () => {
      // Each chunk is consumed whole, so the next one lands at the front again, over the bytes
      // decoded before: the text of the first must not be served for the second.
      const d = dialect.make(copyValues);
      const got = texts(d, [
        concat([dialect.reply("a", utf8("aa")), dialect.reply("b", utf8("bb"))]),
        concat([dialect.reply("c", utf8("cc")), dialect.reply("d", utf8("dd"))]),
        concat([dialect.reply("e", utf8("é!")), dialect.reply("f", utf8("ff"))]),
        concat([dialect.reply("g", utf8("gg")), dialect.reply("h", utf8("hh"))]),
      ]);
      assert.deepEqual(got, ["aa", "bb", "cc", "dd", "é!", "ff", "gg", "hh"]);
    });

    test(`${dialect.name} valueText (${mode}) is right across compaction and growth`, () => {
      // Replies cut mid-header, so unparsed bytes stay behind and are moved to the front; then
      // a big value makes the buffer grow.
      const values = Array.from(
        { length: 200 },
        (_, i) => utf8(`value-${i}-${"x".repeat(i % 50)}`),
      );
      values.push(utf8("y".repeat(20_000)), utf8("after growth"), latin1("\xffafter"));
      const stream = concat(values.map((value, i) => dialect.reply(`k${i}`, value)));
      for (const size of [1, 13, 100, 1000, 4099]) {
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
        const got = texts(dialect.make(copyValues), chunks);
        assert.deepEqual(got, values.map((value) => reference.decode(value)), `chunks of ${size}`);
      }
    });
  }

  for (const grow of [false, true]) {
    const how = grow ? "grows" : "compacts";
    test(`${dialect.name} valueText is right when the buffer ${how} under unread replies`, () => {
      // 16,000 bytes of replies fed, one read (its text decoded with everything after it), then
      // a feed that moves the unread bytes to the front of the same 16 KiB buffer (it fits once
      // the read reply's bytes are dropped), or into a bigger one: the text decoded before the
      // move must not be sliced at the new offsets.
      const values = Array.from(
        { length: 1000 },
        (_, i) => utf8(`v${i}:${"abcdefghij".slice(i % 10)}`),
      );
      if (grow) values.push(utf8("z".repeat(40_000)));
      const stream = concat(values.map((value, i) => dialect.reply(`k${i}`, value)));
      const d = dialect.make(false);
      d.feed(stream.subarray(0, 16_000));
      const r = d.next()!;
      const got = [d.valueText(r.value!)];
      const firstSize = dialect.reply("k0", values[0]!).length;
      const room = 16_384 - 16_000; // the default buffer: maxLineLength 8192, times 2
      const cut = grow ? stream.length : 16_000 + room + Math.floor(firstSize / 2);
      got.push(...texts(d, [stream.subarray(16_000, cut), stream.subarray(cut)]));
      assert.deepEqual(got, values.map((v) => reference.decode(v)));
    });
  }

  test(`${dialect.name} valueText decodes a value that is not the decoder's on its own`, () => {
    const d = dialect.make(false);
    d.feed(dialect.reply("a", utf8("inside")));
    const r = d.next()!;
    assert.equal(d.valueText(r.value!), "inside");
    // Same length, other bytes: not the framed value, so not sliced from the decoded chunk.
    assert.equal(d.valueText(utf8("other!")), "other!");
    assert.equal(d.valueText(latin1("\xe9t\xe9")), reference.decode(latin1("\xe9t\xe9")));
  });
}

test("binary valueText decodes the value given", () => {
  const d = new BinaryResponseDecoder({ copyValues: false });
  assert.equal(d.valueText(utf8("héllo")), "héllo");
  assert.equal(d.valueText(latin1("\xff")), "\uFFFD");
});

test("text keys read one character per byte, from decoded text or byte by byte, across moves", () => {
  // Keys of all-ASCII chunks come from the decoded text; a key with bytes over 0x7F (memcached
  // allows them) comes byte by byte. Fed in every chunking, including ones that make the buffer
  // restart, compact and grow between replies.
  const keys = Array.from({ length: 1200 }, (_, i) => i % 97 === 0 ? `k\xe9\xff${i}` : `key:${i}`);
  keys.push("last");
  const values = keys.map((_, i) => utf8(i === keys.length - 1 ? "z".repeat(40_000) : `v${i}`));
  const stream = concat(
    keys.flatMap((key, i) => [`VALUE ${key} 0 ${values[i]!.length}\r\n`, values[i]!, "\r\n"]),
  );
  for (const size of [1, 7, 100, 4096, 16_001, stream.length]) {
    const d = new TextResponseDecoder({ copyValues: false });
    const got: string[] = [];
    for (let i = 0; i < stream.length; i += size) {
      d.feed(stream.subarray(i, i + size));
      for (let r = d.next(); r !== undefined; r = d.next()) got.push(r.key!);
    }
    assert.deepEqual(got, keys, `chunks of ${size}`);
  }
});
