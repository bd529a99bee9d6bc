/**
 * The official Keyv store suite (`@keyv/test-suite`: its API, value and namespace tests) run
 * under Bun against `src/keyv.ts`, with its own memcached. Not named `*_test.ts`, so plain
 * `bun test` and `deno test` leave it out; run it by path:
 *
 * ```sh
 * node_modules/.bin/bun test ./tests/keyv/suite.bun.ts
 * ```
 *
 * The suite is written for vitest; `bun:test` has the same hooks, and each test gets the
 * `{ expect }` context it reads. The iterator tests are not run: memcached cannot list keys,
 * so the store has no `iterator()`.
 *
 * @module
 */

import Keyv from "keyv";
import keyvTestSuite from "@keyv/test-suite";
import { Client } from "../../src/client.ts";
import { KeyvMemcached } from "../../src/keyv.ts";
import { type MemcachedServer, startMemcached } from "../_memcached.ts";

/** The part of `bun:test` used here, declared structurally so `deno check` needs no Bun types. */
interface BunTest {
  it(name: string, fn: () => unknown): void;
  beforeAll(fn: () => unknown): void;
  afterAll(fn: () => unknown): void;
  beforeEach(fn: () => unknown): void;
  afterEach(fn: () => unknown): void;
  expect: unknown;
}

// A specifier in a variable: Deno cannot resolve `bun:` URLs, Bun imports it as usual.
const BUN_TEST = "bun:test";
const bun = (await import(BUN_TEST)) as BunTest;

let server: MemcachedServer | undefined;
let client: Client | undefined;

bun.beforeAll(async () => {
  server = await startMemcached();
  client = new Client(server.address, { timeout: 5_000 });
  await client.open();
});

bun.afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** What the suite calls `test`: vitest's hooks and an `it` whose callback gets `{ expect }`. */
const vitestShaped = {
  beforeEach: bun.beforeEach,
  afterEach: bun.afterEach,
  it: (name: string, fn: (context: { expect: unknown }) => unknown) =>
    bun.it(name, () => fn({ expect: bun.expect })),
};

/** Each call borrows the one client, as an application's stores would. */
function store(): KeyvMemcached {
  if (client === undefined) throw new Error("Cannot create a store: memcached is not started");
  return new KeyvMemcached(client);
}

keyvTestSuite(vitestShaped as unknown as Parameters<typeof keyvTestSuite>[0], Keyv, store);
