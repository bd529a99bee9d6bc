import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { concat, latin1, latin1Text, pattern, utf8 } from "../_util.ts";
import { ByteWriter, utf8Length } from "../../src/protocol/mod.ts";
import { countCopiedBytes } from "./_codec.ts";

/** The size from which `ByteWriter.bytes()` passes an array through instead of copying it. */
const LARGE = 16 * 1024;

test("ByteWriter.ascii() writes each character as one byte", () => {
  const w = new ByteWriter();
  w.ascii("mg foo v");
  w.ascii("");
  w.ascii(" O1");
  assert.equal(w.length, 11);
  assert.equal(latin1Text(w.take()), "mg foo v O1");
});

test("ByteWriter.ascii() writes latin1 text byte for byte", () => {
  const w = new ByteWriter();
  w.ascii("\x00\x7f\x80\xc3\xa9\xff");
  assert.deepEqual(concat(w.take()), new Uint8Array([0x00, 0x7f, 0x80, 0xc3, 0xa9, 0xff]));
});

test("ByteWriter.byte() writes single bytes from 0 to 255", () => {
  const w = new ByteWriter();
  w.byte(0);
  w.byte(32);
  w.byte(255);
  assert.equal(w.length, 3);
  assert.deepEqual(concat(w.take()), new Uint8Array([0, 32, 255]));
});

test("ByteWriter.crlf() writes CR then LF", () => {
  const w = new ByteWriter();
  w.crlf();
  assert.equal(w.length, 2);
  assert.deepEqual(concat(w.take()), new Uint8Array([13, 10]));
});

test("ByteWriter.uint() writes non-negative integers in decimal", () => {
  const numbers = [0, 1, 9, 10, 11, 99, 100, 4_294_967_295, Number.MAX_SAFE_INTEGER];
  for (const n of numbers) {
    const w = new ByteWriter();
    w.uint(n);
    assert.equal(latin1Text(w.take()), String(n), `uint(${n})`);
  }
});

test("ByteWriter.uint() writes every digit around each power of ten", () => {
  const w = new ByteWriter();
  let expected = "";
  for (let k = 1; k <= 15; k++) {
    for (const n of [10 ** k - 1, 10 ** k, 10 ** k + 1]) {
      w.uint(n);
      w.byte(32);
      expected += `${n} `;
    }
  }
  for (const n of [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 2, 2 ** 53 - 1]) {
    w.uint(n);
    w.byte(32);
    expected += `${n} `;
  }
  assert.equal(latin1Text(w.take()), expected);
});

test("ByteWriter.uint() grows the buffer when the digits do not fit", () => {
  const w = new ByteWriter(4);
  w.ascii("abc");
  w.uint(9_007_199_254_740_991);
  w.uint(7);
  assert.equal(w.length, 3 + 16 + 1);
  assert.equal(latin1Text(w.take()), "abc90071992547409917");
});

test("ByteWriter.bytes() copies arrays under 16 KiB into the scratch buffer", () => {
  const w = new ByteWriter();
  const small = pattern(LARGE - 1, 7);
  const original = small.slice();
  w.ascii("ab");
  w.bytes(small);
  w.ascii("cd");
  assert.equal(w.length, LARGE + 3);
  small.fill(0);
  const chunks = w.take();
  assert.equal(chunks.length, 1, "everything is packed into one chunk");
  assert.notEqual(chunks[0], small);
  assert.deepEqual(concat(chunks), concat([latin1("ab"), original, latin1("cd")]));
});

test("ByteWriter.bytes() passes arrays of 16 KiB or more through as their own chunk", () => {
  for (const size of [LARGE, LARGE + 1, 1024 * 1024]) {
    const w = new ByteWriter();
    const large = pattern(size, 3);
    w.ascii("ms k ");
    w.uint(size);
    w.crlf();
    w.bytes(large);
    w.crlf();
    assert.equal(w.length, 5 + String(size).length + 2 + size + 2);
    const chunks = w.take();
    assert.equal(chunks.length, 3, `size ${size}`);
    assert.equal(chunks[1], large, "the large array is the same object, not a copy");
    assert.equal(latin1Text(chunks.slice(0, 1)), `ms k ${size}\r\n`);
    assert.equal(latin1Text(chunks.slice(2)), "\r\n");
  }
});

test("ByteWriter.bytes() of a large array first needs no scratch chunk before it", () => {
  const w = new ByteWriter();
  const large = pattern(LARGE, 1);
  w.bytes(large);
  const chunks = w.take();
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0], large);
});

test("ByteWriter.bytes() keeps large arrays in order between small writes", () => {
  const w = new ByteWriter();
  const a = pattern(LARGE, 1);
  const b = pattern(LARGE * 2, 2);
  w.ascii("1");
  w.bytes(a);
  w.bytes(b);
  w.ascii("2");
  w.bytes(latin1("345"));
  const chunks = w.take();
  assert.equal(chunks.length, 4);
  assert.equal(chunks[1], a);
  assert.equal(chunks[2], b);
  assert.equal(latin1Text(chunks.slice(0, 1)), "1");
  assert.equal(latin1Text(chunks.slice(3)), "2345");
});

test("ByteWriter.bytes() of an empty array writes nothing", () => {
  const w = new ByteWriter();
  w.bytes(new Uint8Array(0));
  assert.equal(w.length, 0);
  assert.deepEqual(w.take(), []);
});

test("ByteWriter.take() returns an empty list when nothing was written", () => {
  const w = new ByteWriter();
  assert.deepEqual(w.take(), []);
  assert.equal(w.length, 0);
});

test("ByteWriter.take() empties the writer", () => {
  const w = new ByteWriter();
  w.ascii("mn");
  w.crlf();
  w.bytes(pattern(LARGE, 0));
  assert.equal(w.length, LARGE + 4);
  assert.equal(w.take().length, 2);
  assert.equal(w.length, 0);
  assert.deepEqual(w.take(), []);
  w.ascii("version");
  w.crlf();
  assert.equal(w.length, 9);
  assert.equal(latin1Text(w.take()), "version\r\n");
});

test("ByteWriter.take() hands out chunks that later writes do not change", () => {
  const w = new ByteWriter(8);
  w.ascii("first");
  const [first] = w.take();
  w.ascii("SECOND-AND-LONGER");
  const [second] = w.take();
  assert.equal(latin1Text(first === undefined ? [] : [first]), "first");
  assert.equal(latin1Text(second === undefined ? [] : [second]), "SECOND-AND-LONGER");
});

test("ByteWriter grows past its initial capacity without losing bytes", () => {
  const w = new ByteWriter(4);
  let expected = "";
  for (let i = 0; i < 1000; i++) {
    const s = `mg key${i} v O${i}`;
    w.ascii(s);
    w.crlf();
    w.byte(0x21);
    w.uint(i);
    expected += `${s}\r\n!${i}`;
  }
  w.bytes(latin1("tail"));
  expected += "tail";
  assert.equal(w.length, expected.length);
  const chunks = w.take();
  assert.equal(chunks.length, 1);
  assert.equal(latin1Text(chunks), expected);
});

test("ByteWriter grows when one write is larger than twice its capacity", () => {
  const w = new ByteWriter(2);
  const s = "x".repeat(100);
  w.ascii(s);
  w.bytes(pattern(1000, 5));
  assert.equal(w.length, 1100);
  assert.deepEqual(concat(w.take()), concat([latin1(s), pattern(1000, 5)]));
});

test("ByteWriter with an initial capacity of 0 grows on the first write", async () => {
  // Before the fix, #reserve() doubled a capacity of 0 forever, so the first write never
  // returned. The writes run in a worker so that such a regression fails here within a bound.
  const worker = new Worker(new URL("./_zero_capacity_worker.ts", import.meta.url).href, {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reply = await new Promise<unknown>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent) => resolve(event.data);
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(new Error(`the worker failed: ${event.message}`));
      };
      timer = setTimeout(
        () => reject(new Error("ByteWriter(0) did not finish its first writes within 20 s")),
        20_000,
      );
    });
    assert.deepEqual(reply, {
      length: 10,
      chunks: [Array.from(latin1("mn\r\n!12345"))],
    });
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
});

test("utf8Length() agrees with TextEncoder on ASCII, multi-byte, surrogate pairs and lone surrogates", () => {
  const cases = [
    "",
    "abc",
    "é",
    "€uro",
    "\u{1F600}",
    "a\uD800b",
    "\uDC00",
    "\uD800",
    "\uD83D\uDE00\uD83D",
  ];
  let seed = 7;
  for (let n = 0; n < 200; n++) {
    let s = "";
    for (let i = 0; i < n % 40; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += String.fromCharCode(seed % 4 === 0 ? 0xd800 + (seed % 0x800) : seed % 0x3000);
    }
    cases.push(s);
  }
  for (const s of cases) assert.equal(utf8Length(s), utf8(s).length, JSON.stringify(s));
});

test("ByteWriter.text() writes exactly what TextEncoder writes, short and long", () => {
  for (const s of ["plain ascii", "héllo wörld €", "x".repeat(300), "é".repeat(300), "a\uD800"]) {
    const w = new ByteWriter();
    w.text(s, utf8Length(s));
    assert.deepEqual(concat(w.take()), utf8(s), JSON.stringify(s.slice(0, 20)));
  }
});

/** `utf8Length()` measures strings from this length on by encoding them, in pieces of 16 Ki units. */
const MEASURED = 128;
const PIECE = 16 * 1024;

test("utf8Length() agrees with TextEncoder around the length where it starts encoding to measure", () => {
  const fillers = ["a", "é", "€", "\u{1F600}", "\uD800", "\uDC00"];
  for (let n = MEASURED - 3; n <= MEASURED + 3; n++) {
    for (const tail of fillers) {
      const s = "x".repeat(n - tail.length) + tail;
      assert.equal(utf8Length(s), utf8(s).length, `${n} units ending ${JSON.stringify(tail)}`);
    }
  }
});

test("utf8Length() counts a surrogate pair split across two pieces as 4 bytes", () => {
  // The pair's high surrogate is the last unit of a piece (index PIECE - 1, 2 * PIECE - 1, ...).
  for (const k of [1, 2, 3]) {
    for (const shift of [-2, -1, 0, 1]) {
      const at = k * PIECE - 1 + shift;
      const s = "a".repeat(at) + "\u{1F600}" + "b".repeat(PIECE);
      assert.equal(utf8Length(s), s.length + 2, `pair at ${at}`);
      assert.equal(utf8Length(s), utf8(s).length, `pair at ${at}`);
    }
  }
});

test("utf8Length() counts lone surrogates at piece boundaries as U+FFFD (3 bytes)", () => {
  for (const lone of ["\uD800", "\uDBFF", "\uDC00", "\uDFFF"]) {
    for (const at of [PIECE - 2, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE - 1]) {
      const s = "a".repeat(at) + lone + "b".repeat(PIECE - 5);
      assert.equal(utf8Length(s), s.length + 2, `${JSON.stringify(lone)} at ${at}`);
    }
  }
  // A high surrogate closing a piece whose next piece starts with another high surrogate.
  const s = "a".repeat(PIECE - 1) + "\uD800\uD800\uDC00" + "c".repeat(10);
  assert.equal(utf8Length(s), utf8(s).length);
  // Only lone surrogates, across several pieces.
  const lows = "\uDC00".repeat(3 * PIECE + 7);
  assert.equal(utf8Length(lows), 3 * lows.length);
});

test("utf8Length() agrees with TextEncoder on long strings of every width", () => {
  const units = ["a", "é", "€", "\u{1F600}", "\uD800", "\uDFFF", "\u0000", "\u007F", "\u0080"];
  let seed = 11;
  for (const size of [PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 5, 256 * 1024]) {
    const parts: string[] = [];
    let n = 0;
    while (n < size) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const part = seed % 5 === 0 ? units[seed % units.length]! : "abcdefgh".slice(seed % 8);
      parts.push(part);
      n += part.length;
    }
    const s = parts.join("");
    assert.equal(utf8Length(s), utf8(s).length, `${s.length} units`);
    assert.equal(utf8Length("é".repeat(size)), 2 * size);
    assert.equal(utf8Length("\u{1F600}".repeat(size >> 1)), 4 * (size >> 1));
    assert.equal(utf8Length("z".repeat(size)), size);
  }
});

test("utf8Length() of a string built by concatenation (a rope) matches its flat copy", () => {
  let s = "";
  for (let i = 0; i < 5000; i++) s += i % 7 === 0 ? "ü" : "word ";
  assert.equal(utf8Length(s), utf8(s).length);
});

test("ByteWriter keeps a grown buffer while batches fill it, and lets it go after a small one", () => {
  const w = new ByteWriter();
  const capacities: number[] = [];
  const sink = (chunk: Uint8Array) => capacities.push(chunk.buffer.byteLength);
  const large = "x".repeat(300 * 1024);
  w.text(large, large.length);
  w.flushTo(sink);
  w.text(large, large.length);
  w.flushTo(sink);
  w.ascii("mn\r\n"); // an eighth of the buffer or less: it goes once this batch is handed out
  w.flushTo(sink);
  w.ascii("mn\r\n");
  w.flushTo(sink);
  assert.deepEqual(capacities, [512 * 1024, 512 * 1024, 512 * 1024, 16 * 1024]);
});

test("ByteWriter lets a buffer over 1 MiB go once its batch is handed out, by flushTo or take", () => {
  const capacities: number[] = [];
  const sink = (chunk: Uint8Array) => capacities.push(chunk.buffer.byteLength);
  const huge = "y".repeat(1536 * 1024);
  for (const handOut of ["flushTo", "take"] as const) {
    const w = new ByteWriter(1024);
    w.text(huge, huge.length);
    if (handOut === "take") assert.equal(concat(w.take()).length, huge.length);
    else w.flushTo(sink);
    w.ascii("version\r\n");
    w.flushTo(sink);
  }
  assert.deepEqual(capacities, [2048 * 1024, 1024, 1024]);
});

test("ByteWriter.flushTo() hands out the right bytes after its buffer was let go", () => {
  const w = new ByteWriter(8);
  const out: Uint8Array[] = [];
  const keep = (chunk: Uint8Array) => out.push(chunk.slice());
  const big = "é".repeat(40_000);
  w.ascii("a");
  w.text(big, utf8Length(big));
  w.flushTo(keep);
  w.ascii("b");
  w.flushTo(keep);
  w.ascii("c");
  w.text(big, utf8Length(big));
  w.flushTo(keep);
  assert.deepEqual(concat(out), concat([utf8("a" + big), utf8("b"), utf8("c" + big)]));
});

/** Strings `ByteWriter.textLength()` encodes ahead: 1,024 units or more. */
const AHEAD = 1024;

test("ByteWriter.textLength() then text() write exactly the TextEncoder bytes, from any capacity", () => {
  const strings = [
    "a".repeat(AHEAD),
    "é".repeat(AHEAD),
    "日本語".repeat(AHEAD),
    "\u{1F600}".repeat(AHEAD),
    "lone \uD800 and \uDC00 ".repeat(100) + "\uD83D",
    "x".repeat(AHEAD - 1) + "\u{1F600}",
    "ascii then ü ".repeat(30_000),
  ];
  for (const s of strings) {
    for (const capacity of [1, 64, 16 * 1024]) {
      const w = new ByteWriter(capacity);
      w.ascii("head ");
      const before = w.length;
      const size = w.textLength(s);
      assert.equal(w.length, before, "textLength() writes nothing");
      assert.equal(size, utf8(s).length);
      w.ascii(`${size}\r\n`);
      w.text(s, size);
      w.crlf();
      const expected = concat([utf8(`head ${size}\r\n`), utf8(s), utf8("\r\n")]);
      assert.deepEqual(concat(w.take()), expected, `${s.slice(0, 12)}… in ${capacity} bytes`);
    }
  }
});

test("ByteWriter.text() encodes again when what came between would have overwritten the bytes encoded ahead", () => {
  const s = "é".repeat(5000);
  const size = utf8Length(s);
  const between: Array<[string, (w: ByteWriter) => void]> = [
    ["a request line of 600 bytes", (w) => w.ascii("k".repeat(600))],
    ["a line that grows the buffer", (w) => w.ascii("g".repeat(40_000))],
    ["large bytes passed through", (w) => w.bytes(new Uint8Array(LARGE).fill(0x42))],
    ["a flushTo()", (w) => w.flushTo(() => {})],
    ["another string encoded ahead", (w) => w.textLength("ü".repeat(3000))],
    ["a text() of another string", (w) => w.text("other", 5)],
  ];
  for (const [what, write] of between) {
    const w = new ByteWriter();
    const got: Uint8Array[] = [];
    w.ascii("ms ");
    assert.equal(w.textLength(s), size);
    write(w);
    w.text(s, size);
    w.flushTo((chunk) => got.push(chunk.slice()));
    const bytes = concat(got);
    assert.deepEqual(bytes.subarray(bytes.length - size), utf8(s), what);
  }
});

test("ByteWriter.text() of the string encoded ahead, written twice, is right both times", () => {
  const w = new ByteWriter();
  const s = "€".repeat(2000);
  const size = w.textLength(s);
  w.text(s, size);
  w.text(s, size);
  assert.deepEqual(concat(w.take()), concat([utf8(s), utf8(s)]));
});

test("ByteWriter.flushTo() hands out a large array and the lines around it without copying a byte", () => {
  const w = new ByteWriter();
  const large = pattern(LARGE * 4, 9);
  const chunks: Uint8Array[] = [];
  const copied = countCopiedBytes(() => {
    w.ascii(`ms k ${large.length}\r\n`);
    w.bytes(large);
    w.crlf();
    w.ascii("mn\r\n");
    w.flushTo((chunk) => chunks.push(chunk));
  });
  assert.equal(copied, 0);
  assert.equal(chunks[1], large);
  assert.equal(latin1Text(chunks.slice(0, 1)), `ms k ${large.length}\r\n`);
  assert.equal(latin1Text(chunks.slice(2)), "\r\nmn\r\n");
});

test("ByteWriter.text() of a large string encoded ahead sends it in one chunk with the small bytes before it, copying only those", () => {
  const w = new ByteWriter();
  const s = "v".repeat(100_000);
  w.ascii("mn\r\nms key ");
  const size = w.textLength(s);
  const line = `${size} T60\r\n`;
  w.ascii(line);
  const copied = countCopiedBytes(() => w.text(s, size));
  assert.equal(copied, `mn\r\nms key ${line}`.length, "the string is not copied");
  w.crlf();
  w.ascii("mn\r\n");
  const chunks: Uint8Array[] = [];
  w.flushTo((chunk) => chunks.push(chunk.slice()));
  assert.equal(chunks.length, 1, "no request line is cut from its value");
  assert.deepEqual(concat(chunks), utf8(`mn\r\nms key ${line}${s}\r\nmn\r\n`));
});

test("ByteWriter.text() of a large string after 16 KiB or more of a batch copies only the line written since textLength", () => {
  for (const before of [LARGE - 100, LARGE - 8, LARGE * 3]) {
    const w = new ByteWriter();
    const s = "v".repeat(100_000);
    const batch = "mn\r\n".repeat(Math.ceil(before / 4)).slice(0, before);
    w.ascii(`${batch}ms key `);
    const size = w.textLength(s);
    const line = `${size} T60\r\n`;
    w.ascii(line);
    // The open chunk when text() is called: the batch so far and the whole line.
    const open = before + "ms key ".length + line.length;
    const copied = countCopiedBytes(() => w.text(s, size));
    w.crlf();
    const chunks: Uint8Array[] = [];
    w.flushTo((chunk) => chunks.push(chunk.slice()));
    if (open < LARGE) {
      assert.equal(copied, open, `${before}: the open chunk moves`);
      assert.equal(chunks.length, 1, `${before}`);
    } else {
      assert.equal(copied, line.length, `${before}: only the line written since moves`);
      assert.equal(chunks.length, 2, `${before}`);
      assert.equal(latin1Text(chunks.slice(0, 1)), `${batch}ms key `);
    }
    assert.deepEqual(concat(chunks), utf8(`${batch}ms key ${line}${s}\r\n`), `${before}`);
  }
});

test("ByteWriter keeps a batch of strings encoded ahead under 16 KiB in one chunk", () => {
  const w = new ByteWriter();
  const expected: string[] = [];
  for (let i = 0; i < 20; i++) {
    const s = `${i}`.padEnd(1500 + 300 * i, "ü"); // up to 14.4 KB of UTF-8
    const size = w.textLength(s);
    w.ascii(`ms k${i} ${size}\r\n`);
    w.text(s, size);
    w.crlf();
    expected.push(`ms k${i} ${size}\r\n${s}\r\n`);
  }
  const chunks: Uint8Array[] = [];
  w.flushTo((chunk) => chunks.push(chunk.slice()));
  assert.equal(chunks.length, 1, "one write for the whole batch");
  assert.deepEqual(concat(chunks), utf8(expected.join("")));
});
