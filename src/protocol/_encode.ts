/**
 * Argument checks shared by the request encoders of the three protocols (meta, text, binary).
 * Internal: not exported from the protocol module.
 *
 * @module
 */

import { type ErrorCode, MemcachedError } from "../errors.ts";
import { MAX_U64 } from "./_decode.ts";

export const MAX_U32 = 0xffff_ffff;

/**
 * The arguments of `stats`: one to four words of letters, digits and `_` (`"slabs"`,
 * `"detail dump"`, `"cachedump 1 10"`).
 */
export const STATS_GROUP: RegExp = /^[A-Za-z0-9_]{1,64}( [A-Za-z0-9_]{1,64}){0,3}$/;

/** `INVALID_ARGUMENT`: "Cannot encode <what>: <reason>". */
export function argError(what: string, reason: string): MemcachedError {
  return new MemcachedError("INVALID_ARGUMENT", `Cannot encode ${what}: ${reason}`);
}

/** Throws (`code`, by default `INVALID_ARGUMENT`) unless `n` is an integer in 0..2^32-1. */
export function checkU32(what: string, n: number, code: ErrorCode = "INVALID_ARGUMENT"): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_U32) {
    throw new MemcachedError(
      code,
      `Cannot encode ${what}: ${n} is not an integer in 0..4294967295`,
    );
  }
}

/** Throws (`code`, by default `INVALID_ARGUMENT`) unless `n` is a bigint in 0..2^64-1. */
export function checkU64(what: string, n: bigint, code: ErrorCode = "INVALID_ARGUMENT"): void {
  if (typeof n !== "bigint" || n < 0n || n > MAX_U64) {
    throw new MemcachedError(
      code,
      `Cannot encode ${what}: ${String(n)} is not an integer in 0..2^64-1`,
    );
  }
}
