/**
 * A seeded, reproducible fuzzer for Mica's incremental decoders (meta, text, binary).
 *
 * Each input is either random bytes or a mutation of a corpus of valid replies (bit flips,
 * inserted or deleted bytes, splices of two replies, digits replaced by huge numbers, repeated
 * slices). It is fed to a fresh decoder in random chunk sizes, and every complete reply is
 * taken after each chunk. The only failure a decoder may report is a `MemcachedError` with
 * code `PROTOCOL_ERROR`; any other exception, or a decoder that yields more replies than it was
 * given bytes (a loop that does not consume input), fails the run with the seed and the input
 * in hex, so the case can be replayed.
 *
 * Memory stays bounded because every decoder caps its line, value and statistics sizes: inputs
 * here announce lengths up to 2^64, and a decoder that tried to allocate them would throw a
 * `RangeError` (a failure) or exhaust the process.
 *
 * `tests/protocol/fuzz_test.ts` runs 1,000,000 inputs per decoder (`MICA_FUZZ_INPUTS`,
 * `MICA_FUZZ_SEED` override); `scripts/fuzz.ts` runs more.
 *
 * @module
 */

import { MemcachedError } from "../../src/errors.ts";

/** The part of a decoder the fuzzer drives. */
export interface FuzzDecoder {
  feed(chunk: Uint8Array): void;
  next(): unknown;
  /** When present, checked against `TextDecoder` on every value the decoder returns. */
  valueText?(value: Uint8Array): string;
}

const reference = new TextDecoder();

/** Throws unless `decoder.valueText` reads the value of `reply` (if any) as `TextDecoder` does. */
function checkValueText(decoder: FuzzDecoder, reply: unknown, name: string): void {
  if (decoder.valueText === undefined) return;
  const value = (reply as { value?: unknown }).value;
  if (!(value instanceof Uint8Array)) return;
  const expected = reference.decode(value);
  const got = decoder.valueText(value);
  if (got !== expected) {
    throw new Error(
      `${name}: valueText gave ${JSON.stringify(got)}, TextDecoder ${JSON.stringify(expected)}`,
    );
  }
}

/** What to fuzz and how much. */
export interface FuzzOptions {
  /** The decoder's name, for messages. */
  name: string;
  /** Makes a fresh decoder (small caps make the limits reachable). */
  make: () => FuzzDecoder;
  /** Valid byte streams to mutate. */
  corpus: readonly Uint8Array[];
  /** How many inputs to run. */
  inputs: number;
  /** The PRNG seed; the same seed gives the same inputs. */
  seed: number;
  /** The longest input, in bytes. @default {4096} */
  maxInputBytes?: number;
}

/** What a run saw. */
export interface FuzzReport {
  inputs: number;
  bytes: number;
  replies: number;
  protocolErrors: number;
  /** Inputs that decoded with no error (complete or waiting for more bytes). */
  clean: number;
}

/** A small, fast, seedable PRNG (mulberry32). */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A uint32. */
  u32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
}

const HUGE = [
  "0",
  "1",
  "4294967295",
  "4294967296",
  "9007199254740993",
  "18446744073709551615",
  "18446744073709551616",
  "99999999999999999999999",
  "-1",
  "",
];

/** Replaces a run of ASCII digits with a boundary number. */
function replaceNumber(rng: Rng, input: Uint8Array): Uint8Array {
  const starts: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c >= 48 && c <= 57 && (i === 0 || input[i - 1]! < 48 || input[i - 1]! > 57)) {
      starts.push(i);
    }
  }
  if (starts.length === 0) return input;
  const at = starts[rng.below(starts.length)]!;
  let end = at;
  while (end < input.length && input[end]! >= 48 && input[end]! <= 57) end++;
  const text = HUGE[rng.below(HUGE.length)]!;
  const out = new Uint8Array(input.length - (end - at) + text.length);
  out.set(input.subarray(0, at));
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  out.set(input.subarray(end), at + text.length);
  return out;
}

/** Writes a random big-endian length into 4 bytes (binary headers' total body length, say). */
function stompWord(rng: Rng, input: Uint8Array): Uint8Array {
  if (input.length < 4) return input;
  const out = input.slice();
  const at = rng.below(input.length - 3);
  const words = [0xffffffff, 0x7fffffff, 0x00100001, 0, 1, 24, rng.u32()];
  const v = words[rng.below(words.length)]!;
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
  return out;
}

function mutate(rng: Rng, corpus: readonly Uint8Array[], max: number): Uint8Array {
  let input = corpus[rng.below(corpus.length)]!;
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    switch (rng.below(8)) {
      case 0: { // flip bits
        input = input.slice();
        if (input.length > 0) input[rng.below(input.length)]! ^= 1 << rng.below(8);
        break;
      }
      case 1: { // set a byte to an interesting value
        input = input.slice();
        const bytes = [0, 10, 13, 32, 0x80, 0x81, 0xff, 48, 57];
        if (input.length > 0) input[rng.below(input.length)] = bytes[rng.below(bytes.length)]!;
        break;
      }
      case 2: { // insert random bytes
        const at = rng.below(input.length + 1);
        const n = 1 + rng.below(8);
        const out = new Uint8Array(input.length + n);
        out.set(input.subarray(0, at));
        for (let i = 0; i < n; i++) out[at + i] = rng.below(256);
        out.set(input.subarray(at), at + n);
        input = out;
        break;
      }
      case 3: { // delete a range
        if (input.length === 0) break;
        const at = rng.below(input.length);
        const n = 1 + rng.below(Math.min(16, input.length - at));
        const out = new Uint8Array(input.length - n);
        out.set(input.subarray(0, at));
        out.set(input.subarray(at + n), at);
        input = out;
        break;
      }
      case 4: { // splice with another corpus entry
        const other = corpus[rng.below(corpus.length)]!;
        const a = rng.below(input.length + 1);
        const b = rng.below(other.length + 1);
        const out = new Uint8Array(a + other.length - b);
        out.set(input.subarray(0, a));
        out.set(other.subarray(b), a);
        input = out;
        break;
      }
      case 5:
        input = replaceNumber(rng, input);
        break;
      case 6:
        input = stompWord(rng, input);
        break;
      default: { // append another corpus entry (pipelined replies)
        const other = corpus[rng.below(corpus.length)]!;
        const out = new Uint8Array(input.length + other.length);
        out.set(input);
        out.set(other, input.length);
        input = out;
      }
    }
  }
  return input.length > max ? input.subarray(0, max) : input;
}

function random(rng: Rng, max: number): Uint8Array {
  const n = rng.below(Math.min(max, 256) + 1);
  const out = new Uint8Array(n);
  // Mostly printable with line ends, so the text decoders get past their first line at times.
  const text = rng.below(2) === 0;
  for (let i = 0; i < n; i++) {
    if (text) {
      const r = rng.below(20);
      out[i] = r === 0 ? 13 : r === 1 ? 10 : r === 2 ? 32 : 33 + rng.below(94);
    } else out[i] = rng.below(256);
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Runs the fuzzer and returns what it saw.
 *
 * @throws {Error} naming the seed, the input's index and its bytes, when a decoder throws
 * anything but `PROTOCOL_ERROR` or does not consume its input.
 */
export function fuzzDecoder(options: FuzzOptions): FuzzReport {
  const rng = new Rng(options.seed);
  const max = options.maxInputBytes ?? 4096;
  const report: FuzzReport = { inputs: 0, bytes: 0, replies: 0, protocolErrors: 0, clean: 0 };
  for (let index = 0; index < options.inputs; index++) {
    const input = rng.below(4) === 0 ? random(rng, max) : mutate(rng, options.corpus, max);
    report.inputs++;
    report.bytes += input.length;
    const decoder = options.make();
    let replies = 0;
    try {
      let at = 0;
      while (at < input.length) {
        const size = rng.below(3) === 0 ? input.length - at : 1 + rng.below(input.length - at);
        decoder.feed(input.subarray(at, at + size));
        at += size;
        for (let reply = decoder.next(); reply !== undefined; reply = decoder.next()) {
          checkValueText(decoder, reply, options.name);
          replies++;
          if (replies > input.length + 1) {
            throw new Error(`${options.name}: more replies than bytes (a decoder loop)`);
          }
        }
      }
      report.clean++;
    } catch (error) {
      if (error instanceof MemcachedError && error.code === "PROTOCOL_ERROR") {
        report.protocolErrors++;
      } else {
        const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new Error(
          `${options.name} fuzz failed (seed ${options.seed}, input #${index}, ${input.length} bytes ` +
            `${hex(input.subarray(0, 512))}): ${what}`,
          { cause: error },
        );
      }
    }
    report.replies += replies;
  }
  return report;
}

/** The number of inputs per decoder for the test run: `MICA_FUZZ_INPUTS`, else 1,000,000. */
export function fuzzInputs(env: (name: string) => string | undefined): number {
  const raw = env("MICA_FUZZ_INPUTS");
  const n = raw === undefined ? 1_000_000 : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`MICA_FUZZ_INPUTS: bad count ${raw}`);
  return n;
}

/** The seed for the test run: `MICA_FUZZ_SEED`, else a fixed one (runs are reproducible). */
export function fuzzSeed(env: (name: string) => string | undefined): number {
  const raw = env("MICA_FUZZ_SEED");
  const n = raw === undefined ? 0x6d1ca : Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`MICA_FUZZ_SEED: bad seed ${raw}`);
  return n >>> 0;
}
