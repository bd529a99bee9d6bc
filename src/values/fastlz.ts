/**
 * A FastLZ decompressor (levels 1 and 2), for values php-memcached stores compressed: FastLZ is
 * its default compression. Pure and bounded: it never writes past the output size it is given,
 * and malformed input is an error, never an out-of-range read.
 *
 * The format: a stream of instructions, the first byte's top three bits naming the level. A
 * literal run is a byte `000nnnnn` followed by `n + 1` bytes. A match is `lll ooooo` then, for
 * `lll = 7`, more length bytes (level 1: one; level 2: until one is not 255), then one offset
 * byte; it copies `lll + 2` (plus the extra length) bytes from `offset + 1` bytes back. Level 2
 * adds a 16-bit far offset, `8191` further back, after an offset byte of 255 with `ooooo = 31`.
 *
 * @module
 */

/** Level 2's furthest near distance: a far offset counts from here. */
const MAX_L2_DISTANCE = 8191;

/**
 * Decompresses a FastLZ block into exactly `size` bytes.
 *
 * @param input The compressed block.
 * @param size The decompressed size (php-memcached stores it in front of the block).
 * @returns The decompressed bytes.
 * @throws {RangeError} When the block is malformed or does not decompress to `size` bytes.
 */
export function fastlzDecompress(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const end = input.length;
  if (end === 0) {
    if (size === 0) return out;
    throw new RangeError("FastLZ: empty input");
  }
  const level = (input[0]! >> 5) + 1;
  if (level !== 1 && level !== 2) throw new RangeError(`FastLZ: unknown level ${level}`);
  let ip = 0;
  let op = 0;
  let ctrl = input[ip++]! & 31;
  const need = (n: number) => {
    if (ip + n > end) throw new RangeError("FastLZ: truncated input");
  };
  for (;;) {
    if (ctrl >= 32) {
      let len = (ctrl >> 5) - 1;
      const ofs = (ctrl & 31) << 8;
      let distance: number;
      if (level === 1) {
        if (len === 6) {
          need(1);
          len += input[ip++]!;
        }
        need(1);
        distance = ofs + input[ip++]! + 1;
      } else {
        if (len === 6) {
          let code: number;
          do {
            need(1);
            code = input[ip++]!;
            len += code;
          } while (code === 255);
        }
        need(1);
        const code = input[ip++]!;
        distance = ofs + code + 1;
        if (code === 255 && ofs === 31 << 8) {
          need(2);
          distance = ((input[ip]! << 8) | input[ip + 1]!) + MAX_L2_DISTANCE + 1;
          ip += 2;
        }
      }
      len += 3;
      if (distance > op) throw new RangeError("FastLZ: a match reaches before the start");
      if (op + len > size) throw new RangeError("FastLZ: output overflow");
      // Overlapping copies repeat bytes, so copy byte by byte.
      let from = op - distance;
      for (let i = 0; i < len; i++) out[op++] = out[from++]!;
    } else {
      const run = ctrl + 1;
      need(run);
      if (op + run > size) throw new RangeError("FastLZ: output overflow");
      out.set(input.subarray(ip, ip + run), op);
      ip += run;
      op += run;
    }
    if (ip >= end) break;
    ctrl = input[ip++]!;
  }
  if (op !== size) throw new RangeError(`FastLZ: ${op} bytes out, ${size} expected`);
  return out;
}
