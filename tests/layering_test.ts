import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import {
  checkSource,
  findCycles,
  importsOf,
  layerOf,
  type Rule,
  rulesFor,
} from "../scripts/check_layering.ts";

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

test("checkSource() applies the identifier rule and the floor rule to src/errors.ts", () => {
  // errors.ts is the ground floor: it imports nothing of src/ (no protocol-import rule there).
  assert.deepEqual(rulesBroken("src/errors.ts", 'import { x } from "./client.ts";'), [
    ["layer-import", 1],
  ]);
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

test("layerOf() puts each folder of src/ on its floor", () => {
  assert.equal(layerOf("src/errors.ts"), "errors");
  assert.equal(layerOf("src/protocol/meta/encode.ts"), "protocol");
  assert.equal(layerOf("src/connection/request.ts"), "connection");
  assert.equal(layerOf("src/adapters/deno.ts"), "adapters");
  assert.equal(layerOf("src/dialects/text.ts"), "dialects");
  assert.equal(layerOf("src/cluster/ring.ts"), "cluster");
  assert.equal(layerOf("src/client.ts"), "client");
  assert.equal(layerOf("src/client/reads.ts"), "client");
  assert.equal(layerOf("src/options.ts"), "client");
  assert.equal(layerOf("tests/cluster/ring_test.ts"), undefined);
  assert.equal(layerOf("src/README.md"), undefined);
});

test("checkSource() rejects imports from a higher or a side floor", () => {
  const text = [
    'import { Request } from "../connection/request.ts";',
    'import { encodeKey } from "../protocol/keys.ts";',
    'import { MemcachedError } from "../errors.ts";',
    'import { metaDialect } from "../dialects/meta.ts";',
    'import { Client } from "../client.ts";',
    'import { x } from "node:net";',
  ].join("\n");
  assert.deepEqual(rulesBroken("src/cluster/server.ts", text), [
    ["layer-import", 4],
    ["layer-import", 5],
  ]);
  assert.deepEqual(rulesBroken("src/connection/connection.ts", text), [
    ["layer-import", 4],
    ["layer-import", 5],
  ]);
  assert.deepEqual(
    rulesBroken("src/dialects/meta.ts", 'import { Cluster } from "../cluster/cluster.ts";'),
    [
      ["layer-import", 1],
    ],
  );
  // Adapters implement the transport contract and see nothing else of Mica.
  assert.deepEqual(
    rulesBroken(
      "src/adapters/deno.ts",
      'import type { Transport } from "../connection/transport.ts";\n' +
        'import { Connection } from "../connection/connection.ts";',
    ),
    [["layer-import", 2]],
  );
  // The client floor may import every floor.
  assert.deepEqual(rulesBroken("src/client.ts", text), []);
});

test("importsOf() resolves relative imports and re-exports, type-only ones too", () => {
  const text = [
    'import type { A } from "./a.ts";',
    'export { b } from "../b.ts";',
    'export * from "./sub/c.ts";',
    'import { d } from "node:d";',
    '// import { e } from "./e.ts";',
  ].join("\n");
  assert.deepEqual(importsOf("src/x/y.ts", text), ["src/x/a.ts", "src/b.ts", "src/x/sub/c.ts"]);
});

test("findCycles() reports each import circle once, and none in a tree", () => {
  const graph = new Map([
    ["c.ts", ["a.ts"]],
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts", "d.ts"]],
    ["d.ts", ["d.ts"]],
    ["e.ts", ["a.ts"]],
  ]);
  assert.deepEqual(findCycles(graph), [["a.ts", "b.ts", "c.ts"], ["d.ts"]]);
  const tree = new Map([["a.ts", ["b.ts", "c.ts"]], ["b.ts", ["c.ts"]], ["c.ts", []]]);
  assert.deepEqual(findCycles(tree), []);
});

test("checkSource() flags a file over 600 lines and a class over 400 with its JSDoc", () => {
  const body = (n: number) => "  x = 1;\n".repeat(n);
  const doc = "/**\n * A.\n */\n";
  // 3 JSDoc lines + class line + 395 body lines + "}" = 400 lines: allowed.
  assert.deepEqual(rulesBroken("src/a.ts", `${doc}export class A {\n${body(395)}}\n`), []);
  // One more body line: 401, reported at the class line.
  assert.deepEqual(rulesBroken("src/a.ts", `${doc}export class A {\n${body(396)}}\n`), [
    ["size", 4],
  ]);
  // A one-line JSDoc counts too; a class without JSDoc counts from its own line.
  assert.deepEqual(rulesBroken("src/a.ts", `/** A. */\nclass A {\n${body(397)}}\n`), []);
  assert.deepEqual(rulesBroken("src/a.ts", `/** A. */\nclass A {\n${body(398)}}\n`), [
    ["size", 2],
  ]);
  assert.deepEqual(rulesBroken("src/a.ts", `abstract class A {\n${body(398)}}\n`), []);
  assert.deepEqual(
    rulesBroken("src/a.ts", `export abstract class A {\n${body(399)}}\n`),
    [["size", 1]],
  );
  // Two classes of 300 lines each: each is measured alone; the file is 600 lines, allowed.
  const two = `class A {\n${body(298)}}\nclass B {\n${body(298)}}\n`;
  assert.deepEqual(rulesBroken("src/a.ts", two), []);
  assert.deepEqual(rulesBroken("src/a.ts", two + "const c = 1;\n"), [["size", 601]]);
  // Files outside src/ are not measured.
  assert.deepEqual(rulesBroken("tests/a_test.ts", two + "const c = 1;\n"), []);
});
