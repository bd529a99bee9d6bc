/**
 * One `test()` for every runtime, so a test file runs unchanged under `deno test` and `bun test`.
 *
 * Under Deno, tests are registered with `Deno.test`, so the `--sanitize-ops` and
 * `--sanitize-resources` flags of `deno test` apply: a leaked timer, socket or child process
 * fails the test. (Deno's `node:test` polyfill registers its tests with the sanitizers turned
 * off, which would hide such leaks.) Elsewhere, tests are registered with `node:test`, which
 * `bun test` runs.
 *
 * Assertions come from `node:assert/strict` in every test file.
 *
 * @example Write a test
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { test } from "./_harness.ts";
 *
 * test("Array.prototype.at() reads from the end with a negative index", () => {
 *   assert.equal([1, 2, 3].at(-1), 3);
 * });
 * ```
 *
 * @module
 */

import { test as nodeTest } from "node:test";

/** Options of {@linkcode test}. */
export interface TestOptions {
  /**
   * Milliseconds after which the test fails if it has not finished. Under Deno the test's
   * pending work is then reported by the sanitizers rather than hanging the run.
   *
   * @default {60_000}
   */
  timeout?: number;
}

/** The part of `Deno` this module uses, declared structurally so no `Deno` types are needed. */
interface DenoTestRuntime {
  test(definition: { name: string; fn: () => void | Promise<void> }): void;
}

const DEFAULT_TIMEOUT = 60_000;

/**
 * Registers a test with the runtime's own test runner.
 *
 * @param name The test's name, written as a sentence: `"Client.get() returns undefined on a miss"`.
 * @param fn The test body; a returned promise is awaited.
 * @param options Per-test options such as a timeout.
 */
export function test(
  name: string,
  fn: () => void | Promise<void>,
  options: TestOptions = {},
): void {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new RangeError(`Cannot register test "${name}": timeout must be a positive number`);
  }
  const deno = (globalThis as { Deno?: Partial<DenoTestRuntime> }).Deno;
  if (typeof deno?.test === "function") {
    deno.test({ name, fn: () => withTimeout(name, fn, timeout) });
    return;
  }
  nodeTest(name, { timeout }, async () => {
    await fn();
  });
}

/** Runs `fn`, failing after `timeout` ms; the timer is always cleared so it leaks nothing. */
async function withTimeout(
  name: string,
  fn: () => void | Promise<void>,
  timeout: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Test "${name}" timed out after ${timeout} ms`)),
      timeout,
    );
  });
  try {
    await Promise.race([Promise.resolve().then(fn), expired]);
  } finally {
    clearTimeout(timer);
  }
}
