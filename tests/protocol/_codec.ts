/**
 * Test helpers shared by the codec tests of the three protocols (meta: `decoder_test.ts` and
 * `encoder_test.ts`; classic text: `text_test.ts`; binary: `binary_test.ts`), their live tests
 * against a real memcached and their fuzz tests.
 *
 * The decoder checks are written once against {@linkcode Decoder}, the interface the three
 * decoders share, and parameterised by a {@linkcode Codec}: how to make a decoder, which
 * replies may follow a case, and the few places where the protocols differ. Each test file keeps
 * its own test cases and names; only the machinery lives here.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { createConnection, type Socket } from "node:net";
import { test } from "../_harness.ts";
import { type MemcachedServer, startMemcached } from "../_memcached.ts";
import {
  assertBytes,
  assertMemcachedError,
  concat,
  latin1,
  latin1Text,
  withCode,
} from "../_util.ts";
import type { ErrorCode } from "../../src/errors.ts";
import { ByteWriter, type DecoderOptions, encodeMetaNoop } from "../../src/protocol/mod.ts";
import { fuzzDecoder, fuzzInputs, fuzzSeed } from "./_fuzz.ts";

// ---------------------------------------------------------------------------------------------
// Bytes

/** Bytes from hex pairs; spaces, newlines and `|` are ignored (to copy the spec's tables). */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/[\s|]/g, "");
  assert.equal(digits.length % 2, 0, `odd hex ${text}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Pseudo-random bytes, with CR and LF sprinkled in so values never look like lines. */
export function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = i % 97 === 0 ? 13 : i % 89 === 0 ? 10 : x & 0xff;
  }
  return out;
}

/**
 * Counts the bytes copied by `Uint8Array` methods (`set`, `copyWithin`, `slice`) while `fn`
 * runs: a count, not a timing, so it proves linear copying on any machine.
 */
export function countCopiedBytes(fn: () => void): number {
  const proto = Uint8Array.prototype;
  const names = ["set", "copyWithin", "slice"] as const;
  const own = names.map((name) => Object.getOwnPropertyDescriptor(proto, name));
  const { set, copyWithin, slice } = proto;
  let copied = 0;
  const patch = (name: string, value: unknown) =>
    Object.defineProperty(proto, name, { value, configurable: true, writable: true });
  patch("set", function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    copied += source.length;
    return set.call(this, source, offset);
  });
  patch("copyWithin", function (this: Uint8Array, target: number, start: number, end?: number) {
    copied += Math.max(0, (end ?? this.length) - start);
    return copyWithin.call(this, target, start, end);
  });
  patch("slice", function (this: Uint8Array, start?: number, end?: number) {
    const out = slice.call(this, start, end);
    copied += out.length;
    return out;
  });
  try {
    fn();
  } finally {
    names.forEach((name, i) => {
      const descriptor = own[i];
      if (descriptor === undefined) delete (proto as unknown as Record<string, unknown>)[name];
      else Object.defineProperty(proto, name, descriptor);
    });
  }
  return copied;
}

// ---------------------------------------------------------------------------------------------
// Encoders

/** Runs an encoder on a fresh writer and returns every byte it wrote. */
export function encodedBytes(encode: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter();
  encode(w);
  const written = w.length;
  const out = concat(w.take());
  assert.equal(out.length, written, "ByteWriter.length counts every byte taken");
  return out;
}

/** Runs an encoder on a fresh writer and returns every byte it wrote, as latin1 text. */
export function encodedText(encode: (w: ByteWriter) => void): string {
  return latin1Text(encodedBytes(encode));
}

/** A request written before a rejected one, and its bytes, which must stay intact. */
export interface Earlier {
  write(w: ByteWriter): void;
  bytes: Uint8Array;
}

/** A meta no-op, `mn\r\n`: the default {@linkcode Earlier} request. */
export const META_NOOP: Earlier = { write: (w) => encodeMetaNoop(w), bytes: latin1("mn\r\n") };

/**
 * Checks that an encoder call throws `code` and leaves the writer exactly as it was: a request
 * already in the writer stays intact and no byte of the rejected request is added.
 */
export function assertRejected(
  encode: (w: ByteWriter) => void,
  code: ErrorCode,
  why: string,
  earlier: Earlier = META_NOOP,
): void {
  const w = new ByteWriter();
  earlier.write(w);
  const before = w.length;
  assert.throws(() => encode(w), withCode(code, why), why);
  assert.equal(w.length, before, `${why}: nothing was written`);
  assertBytes(concat(w.take()), earlier.bytes, `${why}: earlier bytes are intact`);
}

// ---------------------------------------------------------------------------------------------
// Decoders

/** What the three reply decoders have in common. */
export interface Decoder<R> {
  feed(chunk: Uint8Array): void;
  next(): R | undefined;
  readonly buffered: number;
}

/** What every decoded reply has: a value, maybe lent from the receive buffer. */
export interface Reply {
  value: Uint8Array | undefined;
  borrowed: boolean;
}

/** Takes responses until the decoder needs more bytes. */
export function drain<R>(d: Decoder<R>, into: R[] = []): R[] {
  for (let r = d.next(); r !== undefined; r = d.next()) into.push(r);
  return into;
}

/** Feeds each of `parts` in turn, asserting after each that no response is complete yet. */
export function feedIncomplete<R>(d: Decoder<R>, ...parts: string[]): void {
  for (const part of parts) {
    d.feed(latin1(part));
    assert.equal(d.next(), undefined, `after ${JSON.stringify(part)}`);
  }
}

/** Feeds a copy of `chunk` and then scribbles over the copy, so the decoder must keep its own. */
export function feedCopy<R>(d: Decoder<R>, chunk: Uint8Array): void {
  const copy = chunk.slice();
  d.feed(copy);
  copy.fill(0x5a);
}

/**
 * Compares responses field by field. Large values are compared with a byte loop, which reports
 * the first difference instead of printing a megabyte.
 */
export function assertResponses<R extends Reply>(
  actual: readonly R[],
  expected: readonly R[],
  why: string,
): void {
  assert.equal(actual.length, expected.length, `${why}: number of responses`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (e.value !== undefined && e.value.length > 4096) {
      const { value: av, ...aRest } = a;
      const { value: ev, ...eRest } = e;
      assert.deepStrictEqual(aRest, eRest, `${why}: response ${i}`);
      assertBytes(av, ev!, `${why}: response ${i} value`);
    } else {
      assert.deepStrictEqual(a, e, `${why}: response ${i}`);
    }
  }
}

/**
 * Replies fed after a case: `head` goes in the same chunk, `rest` arrives later. The first
 * `early` responses are complete within `head`.
 */
export interface Trailer<R> {
  name: string;
  head: Uint8Array;
  rest: Uint8Array;
  early: number;
  expected: R[];
}

/** A {@linkcode Trailer} of a line protocol, named after its `head`. */
export function lineTrailer<R>(
  head: string,
  rest: string,
  early: number,
  expected: R[],
): Trailer<R> {
  return { name: JSON.stringify(head), head: latin1(head), rest: latin1(rest), early, expected };
}

/** A protocol's decoder, and how {@linkcode decodeEveryWay} and {@linkcode failEveryWay} drive it. */
export interface Codec<R extends Reply> {
  /** Makes a decoder with a case's options. */
  make(options?: DecoderOptions): Decoder<R>;
  /** Replies that may follow any case. */
  trailers: readonly Trailer<R>[];
  /** Valid replies fed to a failed decoder, which must still throw. */
  valid: Uint8Array;
  /** Sizes of the fixed-size chunks a case is fed in. */
  chunkSizes: readonly number[];
  /** For a large case: how many positions to split at from either end, and around each reply end. */
  split: { edges: number; aroundEnds: number };
  /**
   * Whether `buffered` counts every byte fed since the last response, even after a header was
   * parsed (binary); a line decoder stops counting a parsed header line.
   */
  exactBuffered: boolean;
}

/**
 * The settings the two line protocols (meta and classic text) share: a failed decoder is fed
 * `valid`, cases are fed in 2, 3, 7, 4096 and 65,536-byte chunks and split at every position,
 * or for large cases at 32 from either end and 3 around each reply end.
 */
export function lineCodec<R extends Reply>(
  make: (options?: DecoderOptions) => Decoder<R>,
  trailers: readonly Trailer<R>[],
  valid: string,
): Codec<R> {
  return {
    make,
    trailers,
    valid: latin1(valid),
    chunkSizes: [2, 3, 7, 4096, 65_536],
    split: { edges: 32, aroundEnds: 3 },
    exactBuffered: false,
  };
}

/** A decoding case: consecutive replies, each with the response it must decode to. */
export interface Case<R> {
  replies: ReadonlyArray<readonly [Uint8Array | string, R]>;
  options?: DecoderOptions | undefined;
}

/** An error case: the replies decoded before the bad bytes, then the bad bytes. */
export interface ErrorCase<R> {
  bytes: string | Uint8Array;
  before?: readonly R[];
  options?: DecoderOptions | undefined;
}

/** Positions to split a case at: all of them for small cases, a spread for large ones. */
function splitPoints(
  length: number,
  ends: readonly number[],
  { edges, aroundEnds }: Codec<Reply>["split"],
): number[] {
  if (length <= 8192) return Array.from({ length: length + 1 }, (_, i) => i);
  const points = new Set<number>();
  for (let i = 0; i <= edges; i++) {
    points.add(i);
    points.add(length - i);
  }
  for (const end of ends) for (let i = -aroundEnds; i <= aroundEnds; i++) points.add(end + i);
  for (let i = 0; i < length; i += 65_521) points.add(i);
  return [...points].filter((p) => p >= 0 && p <= length).sort((a, b) => a - b);
}

/**
 * Decodes consecutive replies, each with the response it must decode to: (1) whole; (2) one
 * byte at a time, calling next() after every byte, where each response must appear exactly when
 * its last byte arrives; (3) followed by bytes of further replies in the same chunk, which must
 * stay buffered and decode afterwards; (4) split into two chunks at every position; and (5) in
 * chunks of a few fixed sizes. Every chunk is a copy that is overwritten once fed.
 */
export function decodeEveryWay<R extends Reply>(
  codec: Codec<R>,
  { replies, options }: Case<R>,
): void {
  const bytes = concat(replies.map(([b]) => b));
  const expected = replies.map(([, r]) => r);
  const ends: number[] = [];
  let total = 0;
  for (const [b] of replies) {
    total += b.length;
    ends.push(total);
  }
  const decoder = () => codec.make(options);

  // (1) Whole.
  {
    const d = decoder();
    assert.equal(d.buffered, 0);
    feedCopy(d, bytes);
    assert.equal(d.buffered, bytes.length, "whole: everything is buffered before next()");
    assertResponses(drain(d), expected, "whole");
    assert.equal(d.buffered, 0, "whole: nothing is left over");
    assert.equal(d.next(), undefined);
  }

  // (2) Byte by byte, through one scratch byte that is reused for every feed.
  {
    const d = decoder();
    const scratch = new Uint8Array(1);
    const got: R[] = [];
    const at: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      scratch[0] = bytes[i]!;
      d.feed(scratch);
      if (codec.exactBuffered) {
        assert.equal(d.buffered, i + 1 - (at.length === 0 ? 0 : ends[at.length - 1]!));
      }
      for (let r = d.next(); r !== undefined; r = d.next()) {
        got.push(r);
        at.push(i + 1);
      }
    }
    assertResponses(got, expected, "byte by byte");
    assert.deepEqual(at, ends, "byte by byte: each response appears when its last byte arrives");
    assert.equal(d.buffered, 0, "byte by byte: nothing is left over");
  }

  // (3) With trailing bytes of the next replies in the same chunk.
  for (const trailer of codec.trailers) {
    const why = `with trailing ${trailer.name}`;
    const d = decoder();
    feedCopy(d, concat([bytes, trailer.head]));
    const got: R[] = [];
    for (let i = 0; i < expected.length; i++) {
      const r = d.next();
      assert.ok(r !== undefined, `${why}: response ${i} is complete`);
      got.push(r);
    }
    assertResponses(got, expected, why);
    assert.equal(d.buffered, trailer.head.length, `${why}: the trailing bytes stay buffered`);
    const early = drain(d);
    assert.equal(early.length, trailer.early, `${why}: only complete replies decode early`);
    feedCopy(d, trailer.rest);
    assertResponses(drain(d, early), trailer.expected, `${why}: the next replies`);
    assert.equal(d.buffered, 0, `${why}: nothing is left over`);
  }

  // (4) Split into two chunks at every position.
  for (const cut of splitPoints(bytes.length, ends, codec.split)) {
    const d = decoder();
    feedCopy(d, bytes.subarray(0, cut));
    const got = drain(d);
    feedCopy(d, bytes.subarray(cut));
    assertResponses(drain(d, got), expected, `split at ${cut}`);
    assert.equal(d.buffered, 0, `split at ${cut}: nothing is left over`);
  }

  // (5) In chunks of fixed sizes.
  for (const size of codec.chunkSizes) {
    const d = decoder();
    const got: R[] = [];
    for (let i = 0; i < bytes.length; i += size) {
      feedCopy(d, bytes.subarray(i, i + size));
      drain(d, got);
    }
    assertResponses(got, expected, `in ${size}-byte chunks`);
    assert.equal(d.buffered, 0, `in ${size}-byte chunks: nothing is left over`);
  }
}

/**
 * Feeds `chunks`, calling next() after each, until next() throws. Returns the responses decoded
 * before the error, then checks that the decoder stays failed.
 */
function failOn<R extends Reply>(
  codec: Codec<R>,
  d: Decoder<R>,
  chunks: Iterable<Uint8Array>,
  why: string,
): R[] {
  const got: R[] = [];
  let error: unknown;
  let threw = false;
  for (const chunk of chunks) {
    feedCopy(d, chunk);
    try {
      drain(d, got);
    } catch (e) {
      error = e;
      threw = true;
      break;
    }
  }
  assert.ok(threw, `${why}: next() throws once every byte is in`);
  assertMemcachedError(error, "PROTOCOL_ERROR", why);
  // The decoder stays failed: the same error again, even after valid bytes arrive.
  assert.throws(() => d.next(), (e: unknown) => e === error, `${why}: next() throws again`);
  d.feed(codec.valid);
  assert.throws(() => d.next(), (e: unknown) => e === error, `${why}: still failed after feed`);
  return got;
}

/**
 * Checks that a case's `bytes` fail with `PROTOCOL_ERROR` whole, byte by byte and split at
 * every position, after decoding the replies `before`.
 */
export function failEveryWay<R extends Reply>(
  codec: Codec<R>,
  { bytes, before = [], options }: ErrorCase<R>,
): void {
  const all = typeof bytes === "string" ? latin1(bytes) : bytes;
  const decoder = () => codec.make(options);
  assertResponses(failOn(codec, decoder(), [all], "whole"), before, "whole");
  const single = function* () {
    for (let i = 0; i < all.length; i++) yield all.subarray(i, i + 1);
  };
  assertResponses(failOn(codec, decoder(), single(), "byte by byte"), before, "byte by byte");
  for (let cut = 0; cut <= all.length; cut++) {
    const why = `split at ${cut}`;
    const got = failOn(codec, decoder(), [all.subarray(0, cut), all.subarray(cut)], why);
    assertResponses(got, before, why);
  }
}

// ---------------------------------------------------------------------------------------------
// Behaviour every decoder shares

/** A fresh decoder has nothing to return, before and after an empty chunk. */
export function checkFreshDecoder<R>(d: Decoder<R>): void {
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 0);
  d.feed(new Uint8Array(0));
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 0);
}

/**
 * Feeds `bytes` in `size`-byte chunks (copies overwritten once fed); no response may appear
 * before the last chunk.
 */
export function decodeInChunks<R>(d: Decoder<R>, bytes: Uint8Array, size: number): R[] {
  const got: R[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    feedCopy(d, bytes.subarray(i, i + size));
    drain(d, got);
    if (i + size < bytes.length) assert.equal(got.length, 0, `no response after ${i} bytes`);
  }
  return got;
}

/**
 * Feeds `bytes` one byte at a time through one reused byte; the only response must appear with
 * the last byte. Returns it and the bytes copied, for a bound on copying.
 */
export function decodeByteByByte<R>(
  d: Decoder<R>,
  bytes: Uint8Array,
): { got: R | undefined; copied: number } {
  const one = new Uint8Array(1);
  let got: R | undefined;
  const copied = countCopiedBytes(() => {
    for (let i = 0; i < bytes.length; i++) {
      one[0] = bytes[i]!;
      d.feed(one);
      const r = d.next();
      if (r !== undefined) {
        assert.equal(i, bytes.length - 1, "the reply appears only with its last byte");
        got = r;
      }
    }
  });
  return { got, copied };
}

/** Feeds `chunks` in turn, taking every response; returns them and the bytes copied. */
export function decodeCounted<R>(
  d: Decoder<R>,
  chunks: Iterable<Uint8Array>,
): { got: R[]; copied: number } {
  const got: R[] = [];
  const copied = countCopiedBytes(() => {
    for (const chunk of chunks) {
      d.feed(chunk);
      drain(d, got);
    }
  });
  return { got, copied };
}

/** `bytes` in chunks of `size` bytes (views). */
export function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/**
 * Decodes `bytes`, split in two at every position, with a decoder that copies values and one
 * that lends them (copying what a lent reply holds before the next call, as a caller must):
 * both must give the same replies. `own` makes a lent reply independent of the decoder.
 */
export function checkLentMatchesCopied<R extends Reply>(
  make: (options?: DecoderOptions) => Decoder<R>,
  bytes: Uint8Array,
  own: (r: R) => R = (r) => ({ ...r, value: r.value?.slice(), borrowed: false }),
): void {
  for (let cut = 0; cut <= bytes.length; cut++) {
    const copied = make();
    const lent = make({ copyValues: false });
    const a: R[] = [];
    const b: R[] = [];
    for (const chunk of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
      copied.feed(chunk);
      lent.feed(chunk);
      drain(copied, a);
      // Take what a lent reply holds before the next call, as a caller must.
      for (let r = lent.next(); r !== undefined; r = lent.next()) b.push(own(r));
    }
    assertResponses(b, a, `split at ${cut}`);
  }
}

/**
 * A line decoder with a line cap of 16 fails once an unfinished line holds 17 bytes, and stays
 * failed.
 */
export function checkUnfinishedLineOverCap<R>(
  make: (options?: DecoderOptions) => Decoder<R>,
): void {
  const cap = 16;
  const line = "SERVER_ERROR " + "x".repeat(40);
  const d = make({ maxLineLength: cap });
  feedIncomplete(d, ...line.slice(0, cap));
  assert.equal(d.buffered, cap);
  d.feed(latin1(line[cap]!));
  let error: unknown;
  assert.throws(() => d.next(), (e: unknown) => {
    error = e;
    return true;
  });
  assertMemcachedError(error, "PROTOCOL_ERROR", "one byte over the cap");
  assert.throws(() => d.next(), (e: unknown) => e === error);
}

/** A line decoder's default cap is 8192 bytes, and a huge chunk without LF fails at once. */
export function checkDefaultLineCap<R>(make: () => Decoder<R>): void {
  const d = make();
  d.feed(latin1("VERSION " + "x".repeat(8184)));
  assert.equal(d.buffered, 8192);
  assert.equal(d.next(), undefined);
  d.feed(latin1("x"));
  assert.throws(() => d.next(), withCode("PROTOCOL_ERROR"));
  // A huge chunk with no LF fails at once rather than waiting for more.
  const big = make();
  big.feed(new Uint8Array(100_000).fill(0x78));
  assert.throws(() => big.next(), withCode("PROTOCOL_ERROR"));
}

/**
 * With a line cap of `cap` bytes, a line decoder decodes a `SERVER_ERROR` line of exactly `cap`
 * bytes (as `serverError(message)`) every way, and fails on one a byte longer every way.
 */
export function checkLineOfExactlyCap<R extends Reply>(
  codec: Codec<R>,
  cap: number,
  serverError: (message: string) => R,
): void {
  const fits = `SERVER_ERROR ${"x".repeat(cap - 15)}\r\n`;
  assert.equal(fits.length, cap);
  decodeEveryWay(codec, {
    options: { maxLineLength: cap },
    replies: [[fits, serverError("x".repeat(cap - 15))]],
  });
  failEveryWay(codec, {
    bytes: `SERVER_ERROR ${"x".repeat(cap - 14)}\r\n`,
    options: { maxLineLength: cap },
  });
}

/**
 * A line decoder takes 100,000 one-byte chunks of a 100,000-byte `SERVER_ERROR` line under a
 * raised cap, copying each byte a bounded number of times, and returns `expected(message)`.
 */
export function checkLongLineByteByByte<R>(
  make: (options?: DecoderOptions) => Decoder<R>,
  expected: (message: string) => R,
): void {
  const message = "x".repeat(100_000 - "SERVER_ERROR \r\n".length);
  const bytes = latin1(`SERVER_ERROR ${message}\r\n`);
  assert.equal(bytes.length, 100_000);
  const { got, copied } = decodeByteByByte(make({ maxLineLength: 200_000 }), bytes);
  assert.deepStrictEqual(got, expected(message));
  // Each byte is copied in once; growing the buffer by doubling adds at most as much again.
  assert.ok(copied <= 3 * bytes.length, `copied ${copied} bytes for a ${bytes.length}-byte line`);
}

/**
 * A line decoder accepts 100,000 STAT lines and fails on one more, and stays failed.
 */
export function checkEndlessStats<R>(make: () => Decoder<R>): void {
  const d = make();
  let error: unknown;
  let lines = 0;
  try {
    for (let i = 0; i < 100_001; i++) {
      d.feed(latin1(`STAT s${i} 1\r\n`));
      assert.equal(d.next(), undefined);
      lines++;
    }
  } catch (e) {
    error = e;
  }
  assert.equal(lines, 100_000, "100,000 STAT lines are accepted");
  assertMemcachedError(error, "PROTOCOL_ERROR", "endless STAT block");
  assert.throws(() => d.next(), (e: unknown) => e === error);
}

/** The options named in `names` are refused unless positive integers. */
export function checkBadLimits(
  make: (options: DecoderOptions) => unknown,
  names: readonly ("maxLineLength" | "maxValueSize")[],
): void {
  for (const bad of [0, -1, NaN, 1.5, Infinity]) {
    for (const name of names) {
      assert.throws(() => make({ [name]: bad }), withCode("INVALID_ARGUMENT"));
      assert.throws(() => make({ [name]: bad }), new RegExp(name));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Live tests: a plain socket to a real memcached, through the codec under test

/** A plain socket to memcached, writing encoder bytes and decoding replies as they come. */
export class LiveConnection<R> {
  readonly #socket: Socket;
  readonly #decoder: Decoder<R>;
  readonly #replies: R[] = [];
  readonly #closed: Promise<void>;
  #isClosed = false;
  #error: unknown = undefined;
  #wake: (() => void) | undefined = undefined;

  private constructor(socket: Socket, decoder: Decoder<R>) {
    this.#socket = socket;
    this.#decoder = decoder;
    this.#closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#isClosed = true;
        resolve();
        this.#wake?.();
      });
    });
    socket.on("data", (chunk: Uint8Array) => {
      try {
        this.#decoder.feed(chunk);
        for (let r = this.#decoder.next(); r !== undefined; r = this.#decoder.next()) {
          this.#replies.push(r);
        }
      } catch (error) {
        this.#error = error;
      }
      this.#wake?.();
    });
    socket.on("error", (error) => {
      this.#error = error;
      this.#wake?.();
    });
  }

  /** Connects to `server` over TCP, decoding with `decoder`. */
  static connect<R>(server: MemcachedServer, decoder: Decoder<R>): Promise<LiveConnection<R>> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: server.host, port: server.port });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new LiveConnection(socket, decoder));
      });
    });
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#isClosed;
  }

  /** Sends what `encode` writes, then resolves with the next `count` replies. */
  send(encode: (w: ByteWriter) => void, count: number): Promise<R[]> {
    const w = new ByteWriter();
    encode(w);
    for (const chunk of w.take()) this.#socket.write(chunk);
    return this.take(count);
  }

  /** Sends one request and resolves with its one reply. */
  async one(encode: (w: ByteWriter) => void): Promise<R> {
    const [r] = await this.send(encode, 1);
    return r!;
  }

  /** Resolves with the next `count` replies. */
  take(count: number, timeout = 5_000): Promise<R[]> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.#replies.length} of ${count} replies within ${timeout} ms`));
      }, timeout);
      const check = () => {
        if (this.#replies.length >= count) {
          done();
          resolve(this.#replies.splice(0, count));
        } else if (this.#error !== undefined) {
          done();
          reject(this.#error);
        } else if (this.#isClosed) {
          done();
          reject(new Error(`connection closed after ${this.#replies.length} of ${count} replies`));
        }
      };
      this.#wake = check;
      check();
    });
  }

  /** Takes every reply decoded so far. */
  received(): R[] {
    return this.#replies.splice(0);
  }

  /** Resolves when the server has closed the connection. */
  waitClosed(): Promise<void> {
    return this.#closed;
  }

  /** Closes the socket and waits until it is closed. */
  async close(): Promise<void> {
    this.#socket.destroy();
    await this.#closed;
  }

  /** Asserts that no reply and no part of one was left unread. */
  assertDrained(): void {
    assert.equal(this.#replies.length, 0, "no reply was left unread");
    assert.equal(this.#decoder.buffered, 0, "no partial reply was left");
  }
}

/**
 * Runs `fn` with a fresh memcached and a connection to it decoding with `decoder()`; always
 * closes and stops both. With `drained`, also asserts that nothing was left unread.
 */
export async function withLiveConnection<R>(
  decoder: () => Decoder<R>,
  fn: (conn: LiveConnection<R>, server: MemcachedServer) => Promise<void>,
  { drained = false }: { drained?: boolean } = {},
): Promise<void> {
  const server = await startMemcached();
  try {
    const conn = await LiveConnection.connect(server, decoder());
    try {
      await fn(conn, server);
    } finally {
      await conn.close();
      if (drained) conn.assertDrained();
    }
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Fuzz tests

/** What {@linkcode fuzzTest} fuzzes. */
export interface FuzzTestOptions {
  /** The decoder's name, for messages. */
  name: string;
  /** Makes a fresh decoder (small caps make the limits reachable). */
  make: () => Decoder<unknown>;
  /** Valid byte streams to mutate. */
  corpus: readonly Uint8Array[];
  /** Runs this share of the run's inputs (`MICA_FUZZ_INPUTS`, 1,000,000 by default). @default {1} */
  share?: number;
  /** XORed into the run's seed (`MICA_FUZZ_SEED`), so two tests of one decoder differ. */
  salt?: number;
}

/**
 * Registers a test that fuzzes a decoder and checks that the inputs exercised both paths: many
 * decode and many are refused, only ever with `PROTOCOL_ERROR`.
 */
export function fuzzTest(title: string, options: FuzzTestOptions): void {
  test(title, () => {
    const inputs = Math.ceil(fuzzInputs((n) => process.env[n]) * (options.share ?? 1));
    const report = fuzzDecoder({
      name: options.name,
      make: options.make,
      corpus: options.corpus,
      inputs,
      seed: options.salt === undefined
        ? fuzzSeed((n) => process.env[n])
        : fuzzSeed((n) => process.env[n]) ^ options.salt,
    });
    assert.equal(report.inputs, inputs);
    // The mix must exercise both paths: inputs that decode and inputs that are refused.
    assert.ok(report.protocolErrors > inputs / 100, `protocol errors: ${report.protocolErrors}`);
    assert.ok(report.replies > inputs / 2, `replies decoded: ${report.replies}`);
  }, { timeout: 120_000 });
}
