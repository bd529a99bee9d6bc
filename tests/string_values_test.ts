/**
 * String values end to end, against a real memcached in every protocol: strings of every UTF-8
 * width and of sizes around the encoder's and the adapters' buffer boundaries, many in one tick,
 * read back as text and as their exact UTF-8 bytes; compression of long strings; and the size of
 * the writes a tick of large values leaves in. Lone surrogates are stored as U+FFFD, as
 * `TextEncoder` writes them, so they read back as U+FFFD.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { startMemcached } from "./_memcached.ts";
import { assertBytes, recordingConnector, runtimeConnector, utf8 } from "./_util.ts";
import { connect, type Connector, type Protocol } from "../mod.ts";

const PROTOCOLS: readonly Protocol[] = ["meta", "text", "binary"];
const KIB = 1024;

/** A string of exactly `units` UTF-16 units made of `unit` repeated, cut to fit. */
function fill(unit: string, units: number): string {
  return unit.repeat(Math.ceil(units / unit.length)).slice(0, units);
}

/** What a string reads back as: lone surrogates become U+FFFD. */
function wellFormed(s: string): string {
  return new TextDecoder().decode(utf8(s));
}

/** The strings stored: key, value. */
function strings(): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ["empty", ""],
    ["ascii", "hello"],
    ["widths", "héllo € ☃ \u{1F600} 日本語"],
    ["lone", "a\uD800b\uDC00c\uD83D"],
  ];
  // Around where utf8Length starts measuring by encoding (128 units) and its pieces (16 Ki).
  for (const units of [127, 128, 129, 16 * KIB - 1, 16 * KIB, 16 * KIB + 1]) {
    out.push([`pair-${units}`, fill("a", units - 2) + "\u{1F600}"]);
    out.push([`lone-${units}`, fill("é", units - 1) + "\uDBFF"]);
  }
  // Around the Deno adapter's 64 KiB buffers and the connection's 256 KiB writes.
  for (const bytes of [64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 256 * KIB - 1, 256 * KIB + 1]) {
    out.push([`ascii-${bytes}`, fill("abcdefghijklmnopqrstuvwxyz0123456789", bytes)]);
    const tail = bytes % 2 === 0 ? "" : "z";
    out.push([`two-byte-${bytes}`, fill("ü", (bytes - tail.length) / 2) + tail]);
  }
  out.push(["mixed-600k", fill("ascii é € \u{1F600} \uD800 ", 600 * KIB / 2)]);
  return out;
}

for (const protocol of PROTOCOLS) {
  test(`[${protocol}] strings of every width and size, many per tick, read back as text and as their UTF-8 bytes`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, { protocol });
    const values = strings();
    // All in one tick: large strings share batches, and the connection splits its writes.
    await Promise.all(values.map(([key, value]) => client.set(key, value)));
    const read = await Promise.all(values.map(([key]) => client.get(key)));
    const bytes = await Promise.all(values.map(([key]) => client.get(key, { as: "bytes" })));
    values.forEach(([key, value], i) => {
      const text = read[i];
      if (text !== wellFormed(value)) {
        assert.fail(`${key}: read ${typeof text} of length ${String((text as string)?.length)}`);
      }
      assertBytes(bytes[i], utf8(value), key);
    });
  });

  test(`[${protocol}] deflate compresses long strings that shrink, stores others as their UTF-8 bytes`, async () => {
    await using server = await startMemcached();
    await using client = await connect(server.address, {
      protocol,
      compression: { algorithm: "deflate", threshold: 10 },
    });
    const values: Array<[string, string]> = [
      ["repetitive", fill("compressible é text \u{1F600} ", 300 * KIB)],
      ["lone", fill("lone \uD800 surrogates ", 5000)],
      ["short", "héllo wörld ☃!"], // 18 bytes: deflate makes them more
      ["threshold", "ééééé"], // exactly 10 bytes
      ["under", "éééé."], // 9 bytes
    ];
    await Promise.all(values.map(([key, value]) => client.set(key, value)));
    for (const [key, value] of values) {
      assert.equal(await client.get(key), wellFormed(value), key);
      const item = (await client.gets(key, { as: "bytes" }))!;
      if (key === "repetitive" || key === "lone") {
        assert.equal(item.flags, 16 | 32, `${key}: deflate-compressed text`);
        assert.ok(item.value.length < utf8(value).length / 10, `${key} is compressed`);
      } else {
        assert.equal(item.flags, 0, `${key}: stored as it is`);
        assertBytes(item.value, utf8(value), `${key}: its UTF-8 bytes`);
      }
    }
  });
}

test("A tick of large values leaves in writes of about 256 KiB; a tick of small ones in one write", async () => {
  await using server = await startMemcached();
  const writes: number[] = [];
  const recording: Connector = async (endpoint, handlers, options) => {
    const transport = await runtimeConnector(endpoint, handlers, options);
    return {
      write: (chunk) => {
        writes.push(chunk.length);
        return transport.write(chunk);
      },
      destroy: () => transport.destroy(),
      done: transport.done,
      [Symbol.dispose]: () => transport[Symbol.dispose](),
    };
  };
  await using client = await connect(server.address, { connector: recording });
  writes.length = 0;
  const small = Array.from({ length: 100 }, (_, i) => client.set(`s${i}`, `small value ${i}`));
  await Promise.all(small);
  assert.deepEqual(writes.length, 1, "100 small sets of one tick leave in one write");

  writes.length = 0;
  const value = fill("0123456789", 100 * KIB);
  await Promise.all(Array.from({ length: 12 }, (_, i) => client.set(`l${i}`, value)));
  const total = writes.reduce((a, b) => a + b, 0);
  // A request is the value and at most 64 bytes of command line and CRLF.
  const request = value.length + 64;
  assert.ok(total >= 12 * value.length && total <= 12 * request, `${total} bytes for 12 sets`);
  assert.ok(writes.length >= 4, `12 sets of 100 KiB left in ${writes.length} writes`);
  for (const size of writes) assert.ok(size < 256 * KIB + request, `a write of ${size} bytes`);
  for (let i = 0; i < 12; i++) assert.equal(await client.get(`l${i}`), value, `l${i}`);
});

test("Large string sets of one tick write each value's UTF-8 bytes exactly once", async () => {
  await using server = await startMemcached();
  const { connector, records } = recordingConnector();
  await using client = await connect(server.address, { connector });
  await client.version();
  const before = records.reduce((n, r) => n + r.written, 0);
  const values = [fill("é", 200 * KIB), fill("x", 300 * KIB), fill("\u{1F600}", 100 * KIB)];
  await Promise.all(values.map((value, i) => client.set(`v${i}`, value)));
  const written = records.reduce((n, r) => n + r.written, 0) - before;
  const data = values.reduce((n, value) => n + utf8(value).length, 0);
  // Each request adds its command line and CRLF: well under 64 bytes.
  assert.ok(written > data && written < data + 3 * 64, `${written} bytes for ${data} of data`);
  for (const [i, value] of values.entries()) assert.equal(await client.get(`v${i}`), value);
});
