/**
 * The clock of request deadlines: milliseconds since this module loaded. Small numbers stay
 * small integers in the engines (no boxed number per request for the first 12 days).
 *
 * @module
 */

const EPOCH = Date.now();

/** Milliseconds since the module loaded; compare only with other values of this clock. */
export function now(): number {
  return Date.now() - EPOCH;
}
