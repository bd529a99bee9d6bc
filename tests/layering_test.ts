import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { checkSource, type Rule, rulesFor } from "../scripts/check_layering.ts";

function rulesBroken(path: string, text: string): Array<[Rule, number]> {
  return checkSource(path, text).map((v) => [v.rule, v.line]);
}

test("checkSource() accepts a pure protocol file", () => {
  const text = [
    'import { MicaError } from "../errors.ts";',
    'import type { Frame } from "./frame.ts";',
    'export { encode } from "./sub/encode.ts";',
    "// A comment may say Deno, process, setTimeout or await freely.",
    "/* So may a block comment: Promise, async, globalThis, require(x). */",
    'const message = "Cannot parse: await more bytes from process";',
    "const template = `fetch ${1 + 2} Promise`;",
    "const pattern = /process|Deno\\/'/g;",
    "export function parse(frame: Frame): number {",
    "  return parser.process(frame) / 2 + decoder.await;",
    "}",
  ].join("\n");
  assert.deepEqual(rulesBroken("src/protocol/parse.ts", text), []);
});

test("checkSource() rejects protocol imports from outside src/protocol/", () => {
  const text = [
    'import { connect } from "../adapters/deno.ts";',
    'import { Buffer } from "node:buffer";',
    'import "../client.ts";',
    'export * from "../../mod.ts";',
    'import { MicaError } from "../errors.ts";',
    'const lazy = import("./frame.ts");',
  ].join("\n");
  assert.deepEqual(rulesBroken("src/protocol/parse.ts", text), [
    ["protocol-import", 1],
    ["protocol-import", 2],
    ["protocol-import", 3],
    ["protocol-import", 4],
    ["protocol-import", 6],
  ]);
});

test("checkSource() rejects runtime, timer and async identifiers in the protocol core", () => {
  const text = [
    "export async function f() {",
    "  await new Promise((r) => setTimeout(r, 1));",
    "  queueMicrotask(() => {}); clearTimeout(0); setInterval(() => {}, 1);",
    "  const env = process.env; fetch(url); globalThis.x; Deno.exit(); Bun.gc();",
    '  const m = require("x");',
    "}",
  ].join("\n");
  const found = checkSource("src/protocol/parse.ts", text);
  assert.deepEqual(
    found.filter((v) => v.rule === "protocol-import").map((v) => v.line),
    [5],
    'require("x") is also an import from outside',
  );
  const identifiers = found.filter((v) => v.rule === "core-identifier");
  assert.deepEqual(
    identifiers.map((v) => [v.line, v.message.match(/`([^`]+)`/)?.[1]]),
    [
      [1, "async"],
      [2, "await"],
      [2, "Promise"],
      [2, "setTimeout"],
      [3, "queueMicrotask"],
      [3, "clearTimeout"],
      [3, "setInterval"],
      [4, "process"],
      [4, "fetch"],
      [4, "globalThis"],
      [4, "Deno"],
      [4, "Bun"],
      [5, "require("],
    ],
  );
  assert.deepEqual([found[0]?.path, found[0]?.line, found[0]?.column], [
    "src/protocol/parse.ts",
    1,
    8,
  ]);
});

test("checkSource() applies the identifier rule, not the import rule, to src/errors.ts", () => {
  assert.deepEqual(rulesBroken("src/errors.ts", 'import { x } from "./client.ts";'), []);
  assert.deepEqual(rulesBroken("src/errors.ts", "export const wait = Promise.resolve();"), [
    ["core-identifier", 1],
  ]);
});

test("checkSource() rejects Deno. and Bun. in src/ outside src/adapters/", () => {
  const text = [
    "// Deno.connect is used by the adapter, not here.",
    'const name = "Bun.connect";',
    "const a = Deno.connect(options);",
    "const b = globalThis.Bun?.connect;",
    "type C = Deno.TcpConn;",
  ].join("\n");
  assert.deepEqual(rulesBroken("src/client.ts", text), [
    ["runtime-global", 3],
    ["runtime-global", 4],
    ["runtime-global", 5],
  ]);
  assert.deepEqual(rulesBroken("src/adapters/deno.ts", text), []);
  assert.deepEqual(rulesBroken("src/client.ts", "setTimeout(() => {}, 1); await x;"), []);
});

test("checkSource() ignores files outside src/", () => {
  assert.deepEqual(rulesBroken("tests/client_test.ts", "Deno.test(async () => {});"), []);
  assert.deepEqual(rulesFor("scripts/check_layering.ts"), {
    protocolImports: false,
    coreIdentifiers: false,
    noRuntimeGlobals: false,
  });
});

test("checkSource() keeps line numbers right across multi-line comments and templates", () => {
  const text = [
    "/*",
    " * setTimeout",
    " */",
    "const t = `line one",
    "${`nested ${Promise}`}",
    "`;",
    "await x;",
  ].join("\n");
  assert.deepEqual(rulesBroken("src/protocol/x.ts", text), [
    ["core-identifier", 5],
    ["core-identifier", 7],
  ]);
});
