/**
 * Checks Mica's layering rules, so they are enforced rather than hoped for.
 *
 * 1. Files under `src/protocol/` (the sans-I/O core) import only other files under
 *    `src/protocol/` and the pure `src/errors.ts`.
 * 2. Files under `src/protocol/` and `src/errors.ts` mention none of the runtime, timer or
 *    async identifiers in {@linkcode FORBIDDEN_IN_CORE} (comments, strings and `.name`
 *    property accesses do not count).
 * 3. No file in `src/` outside `src/adapters/` uses `Deno.` or `Bun.`.
 * 4. The floors: every other file of `src/` imports only from its own floor or the ones below,
 *    as {@linkcode LAYERS} lists: `errors.ts` → `protocol/` → `connection/` → `dialects/` and
 *    `cluster/` (side by side, neither importing the other) → the client (`src/*.ts`, `client/`);
 *    `values/` (serializers and compression) stands on `protocol/` alone.
 *    `adapters/` implement the transport contract and import only it and `errors.ts`.
 * 5. No import circles among the files of `src/` (type-only imports count too).
 * 6. The house stays readable: no file of `src/` over {@linkcode MAX_FILE_LINES} lines and no
 *    class over {@linkcode MAX_CLASS_LINES}, counting the JSDoc above it.
 *
 * Run it from anywhere:
 *
 * ```sh
 * deno run --allow-read scripts/check_layering.ts
 * ```
 *
 * It prints every file it checked with the rules applied, then each violation as
 * `path:line:column: message`, and exits 1 if there is any.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Identifiers the protocol core and `src/errors.ts` must not mention. */
export const FORBIDDEN_IN_CORE: readonly string[] = [
  "Deno",
  "Bun",
  "process",
  "setTimeout",
  "setInterval",
  "clearTimeout",
  "queueMicrotask",
  "Promise",
  "async",
  "await",
  "fetch",
  "globalThis",
];

/** The most lines a file of `src/` may have (rule 6). */
export const MAX_FILE_LINES = 600;
/** The most lines a class of `src/` may have, from its JSDoc to its closing brace (rule 6). */
export const MAX_CLASS_LINES = 400;

/** Which rule a {@linkcode Violation} breaks. */
export type Rule =
  | "protocol-import"
  | "core-identifier"
  | "runtime-global"
  | "layer-import"
  | "import-cycle"
  | "size";

/**
 * The floors of `src/`, from the bottom up; the client is every file directly in `src/` and in
 * `src/client/`.
 */
export type Layer =
  | "errors"
  | "protocol"
  | "connection"
  | "adapters"
  | "dialects"
  | "cluster"
  | "values"
  | "client";

/**
 * What each floor may import (repository-relative path prefixes; a path without a trailing `/`
 * is one file). The protocol floor's own rule 1 also bars bare and dynamic imports.
 */
export const LAYERS: Readonly<Record<Layer, readonly string[]>> = {
  errors: [],
  protocol: ["src/protocol/", "src/errors.ts"],
  connection: ["src/connection/", "src/protocol/", "src/errors.ts"],
  adapters: ["src/connection/transport.ts", "src/errors.ts"],
  dialects: ["src/dialects/", "src/connection/", "src/protocol/", "src/errors.ts"],
  cluster: ["src/cluster/", "src/connection/", "src/protocol/", "src/errors.ts"],
  values: ["src/values/", "src/protocol/", "src/errors.ts"],
  client: ["src/"],
};

/**
 * The floor of a file under `src/`, or `undefined` for files elsewhere.
 *
 * @param path The file's path relative to the repository root.
 * @returns Its layer.
 *
 * @example
 * ```ts
 * import { layerOf } from "./check_layering.ts";
 *
 * console.log(layerOf("src/cluster/ring.ts"), layerOf("src/client.ts")); // cluster client
 * ```
 */
export function layerOf(path: string): Layer | undefined {
  const p = normalizePath(path);
  if (!p.startsWith("src/") || !SOURCE_FILE.test(p)) return undefined;
  if (p === ERRORS_FILE) return "errors";
  const folder = p.slice(4).split("/");
  if (folder.length === 1) return "client";
  const name = folder[0] as Layer;
  return name in LAYERS && name !== "client" && name !== "errors" ? name : "client";
}

/**
 * Finds the import circles of a graph of files.
 *
 * @param graph Each file's imports (repository-relative paths).
 * @returns Each circle once, as the files along it, starting from its smallest path.
 *
 * @example
 * ```ts
 * import { findCycles } from "./check_layering.ts";
 *
 * const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["a.ts"]], ["c.ts", ["a.ts"]]]);
 * console.log(findCycles(graph)); // [["a.ts", "b.ts"]]
 * ```
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 1 | 2>(); // 1: on the path, 2: done
  const path: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 1);
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 1) {
        const cycle = path.slice(path.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join(" -> "), rotated);
      } else if (s === undefined) visit(next);
    }
    path.pop();
    state.set(node, 2);
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...cycles.values()];
}

/**
 * The files a source file imports (relative specifiers only, resolved against it).
 *
 * @param path The file's repository-relative path.
 * @param text Its contents.
 * @returns The imported paths, in source order.
 *
 * @example
 * ```ts
 * import { importsOf } from "./check_layering.ts";
 *
 * console.log(importsOf("src/a/b.ts", 'import type { X } from "../c.ts";')); // ["src/c.ts"]
 * ```
 */
export function importsOf(path: string, text: string): string[] {
  const p = normalizePath(path);
  return importLiterals(text).map((literal) => resolveSpecifier(p, literal.value))
    .filter((target): target is string => target !== undefined);
}

/** The string literals of `text` that are import or export specifiers. */
function importLiterals(text: string): StringLiteral[] {
  const { code, strings } = scan(text);
  return strings.filter((literal) => {
    const before = code.slice(Math.max(0, literal.start - 200), literal.start);
    return /(?:^|[^\w$.])(?:from|import|require\s*\()\s*$/.test(before);
  });
}

/** One broken rule at one place in a file. */
export interface Violation {
  /** The file, relative to the repository root, with `/` separators. */
  path: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The rule broken. */
  rule: Rule;
  /** What is wrong, in a sentence. */
  message: string;
}

/** Which rules apply to a file, by its repository-relative path. */
export interface RulesFor {
  /** Rule 1: imports stay inside `src/protocol/` (plus `src/errors.ts`). */
  protocolImports: boolean;
  /** Rule 2: none of {@linkcode FORBIDDEN_IN_CORE}. */
  coreIdentifiers: boolean;
  /** Rule 3: no `Deno.` or `Bun.`. */
  noRuntimeGlobals: boolean;
}

const SOURCE_FILE = /\.(?:ts|tsx|mts|cts|js|mjs|cjs|jsx)$/;
const PROTOCOL_DIR = "src/protocol/";
const ERRORS_FILE = "src/errors.ts";

/**
 * Tells which rules apply to a file.
 *
 * @param path The file's path relative to the repository root (`/` or `\` separators).
 * @returns The rules to check; all false for files outside `src/`.
 */
export function rulesFor(path: string): RulesFor {
  const p = normalizePath(path);
  const inSrc = p.startsWith("src/") && SOURCE_FILE.test(p);
  const inProtocol = inSrc && p.startsWith(PROTOCOL_DIR);
  return {
    protocolImports: inProtocol,
    coreIdentifiers: inProtocol || p === ERRORS_FILE,
    noRuntimeGlobals: inSrc && !p.startsWith("src/adapters/"),
  };
}

/**
 * Checks one file's text against the layering rules that apply to its path.
 *
 * @param path The file's path relative to the repository root, such as `src/protocol/parse.ts`.
 * @param text The file's contents.
 * @returns The violations found, in source order; empty when the file is clean.
 *
 * @example A protocol file that uses a timer
 * ```ts
 * import { checkSource } from "./check_layering.ts";
 *
 * const found = checkSource("src/protocol/x.ts", "setTimeout(() => {}, 1);");
 * if (found[0]?.rule !== "core-identifier") throw new Error("expected a violation");
 * ```
 */
export function checkSource(path: string, text: string): Violation[] {
  const p = normalizePath(path);
  const rules = rulesFor(p);
  const violations: Violation[] = [];
  const layer = layerOf(p);
  if (
    !rules.protocolImports && !rules.coreIdentifiers && !rules.noRuntimeGlobals &&
    layer === undefined
  ) {
    return violations;
  }
  const { code, strings } = scan(text);
  const at = (offset: number, rule: Rule, message: string) => {
    const { line, column } = position(text, offset);
    violations.push({ path: p, line, column, rule, message });
  };

  if (rules.protocolImports) {
    for (const literal of strings) {
      const before = code.slice(Math.max(0, literal.start - 200), literal.start);
      if (!/(?:^|[^\w$.])(?:from|import|require\s*\()\s*$/.test(before)) continue;
      const target = resolveSpecifier(p, literal.value);
      if (target === undefined || !(target.startsWith(PROTOCOL_DIR) || target === ERRORS_FILE)) {
        at(
          literal.start,
          "protocol-import",
          `imports ${JSON.stringify(literal.value)}, which is outside ${PROTOCOL_DIR} ` +
            `(only ${PROTOCOL_DIR}* and ../errors.ts may be imported)`,
        );
      }
    }
    for (const match of code.matchAll(/(?<![\w$.])import\s*\(/g)) {
      at(match.index, "protocol-import", "uses a dynamic import()");
    }
  }

  if (layer !== undefined && layer !== "protocol" && layer !== "client") {
    const allowed = LAYERS[layer];
    for (const literal of importLiterals(text)) {
      const target = resolveSpecifier(p, literal.value);
      if (target === undefined || !target.startsWith("src/")) continue;
      if (!allowed.some((prefix) => target === prefix || target.startsWith(prefix))) {
        at(
          literal.start,
          "layer-import",
          `imports ${JSON.stringify(literal.value)}, above or beside the ${layer} floor ` +
            `(it may import ${allowed.length > 0 ? allowed.join(", ") : "nothing in src/"})`,
        );
      }
    }
  }

  if (rules.coreIdentifiers) {
    const names = FORBIDDEN_IN_CORE.join("|");
    const pattern = new RegExp(`(?<![\\w$])(?:${names})(?![\\w$])|(?<![\\w$.])require\\s*\\(`, "g");
    for (const match of code.matchAll(pattern)) {
      if (isPropertyAccess(code, match.index)) continue;
      const name = match[0].startsWith("require") ? "require(" : match[0];
      at(match.index, "core-identifier", `mentions \`${name}\`, which the pure core must not use`);
    }
  }

  if (rules.noRuntimeGlobals && !rules.coreIdentifiers) {
    for (const match of code.matchAll(/(?<![\w$])(Deno|Bun)(?=\s*(?:\?\.|\.|\[))/g)) {
      at(
        match.index,
        "runtime-global",
        `uses \`${match[1]}.\` outside src/adapters/ (runtime APIs belong in an adapter)`,
      );
    }
  }
  if (layer !== undefined) violations.push(...sizeViolations(p, text));
  return violations.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Checks rule 6: the file's length, and the length of each top-level class (a line starting
 * `class`, `export class` or `export abstract class`, through the next line that is only `}`),
 * counted from the first line of the JSDoc right above it.
 *
 * @param path The file's path relative to the repository root.
 * @param text The file's contents.
 * @returns A violation for the file and for each class that is too long.
 *
 * @example
 * ```ts
 * import { sizeViolations } from "./check_layering.ts";
 *
 * const body = "  x = 1;\n".repeat(400);
 * const found = sizeViolations("src/a.ts", `/** A. *\/\nclass A {\n${body}}\n`);
 * if (found[0]?.rule !== "size") throw new Error("expected a violation");
 * ```
 */
export function sizeViolations(path: string, text: string): Violation[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const found: Violation[] = [];
  if (lines.length > MAX_FILE_LINES) {
    found.push({
      path,
      line: MAX_FILE_LINES + 1,
      column: 1,
      rule: "size",
      message: `has ${lines.length} lines, over ${MAX_FILE_LINES} (split it by concern)`,
    });
  }
  for (let i = 0; i < lines.length; i++) {
    const name = /^(?:export\s+)?(?:abstract\s+)?class\s+([\w$]+)/.exec(lines[i]!)?.[1];
    if (name === undefined) continue;
    let start = i;
    if (lines[i - 1]?.trimEnd().endsWith("*/")) {
      start = i - 1;
      while (start > 0 && !lines[start]!.startsWith("/**")) start--;
    }
    let end = i;
    while (end < lines.length && lines[end] !== "}") end++;
    const count = end - start + 1;
    if (count > MAX_CLASS_LINES) {
      found.push({
        path,
        line: i + 1,
        column: 1,
        rule: "size",
        message: `class ${name} has ${count} lines with its JSDoc, over ${MAX_CLASS_LINES}`,
      });
    }
    i = end;
  }
  return found;
}

/** Repository-relative path with `/` separators and no leading `./`. */
function normalizePath(path: string): string {
  return posix.normalize(path.replaceAll("\\", "/")).replace(/^\.\//, "");
}

/** Resolves a relative import against the importing file; `undefined` for bare specifiers. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  return posix.normalize(posix.join(posix.dirname(from), specifier));
}

/** True when the name at `index` follows a single `.` (as in `parser.process`). */
function isPropertyAccess(code: string, index: number): boolean {
  let i = index - 1;
  while (i >= 0 && /\s/.test(code[i] ?? "")) i--;
  return code[i] === "." && code[i - 1] !== ".";
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** A string literal found by {@linkcode scan}: offsets of its opening quote and its value. */
interface StringLiteral {
  start: number;
  value: string;
}

const REGEX_AFTER_CHAR = new Set("(,=:[!&|?{};+-*%<>~^".split(""));
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * Blanks out comments, string contents, template text and regular expression bodies (newlines
 * kept, so offsets and lines still match `text`), and collects plain string literals.
 * `${...}` inside template literals stays code. This is a scanner, not a parser: good enough
 * for ordinary source code.
 */
function scan(text: string): { code: string; strings: StringLiteral[] } {
  const out = text.split("");
  const strings: StringLiteral[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n" && out[k] !== "\r") out[k] = " ";
  };
  // Brace depth at which each open `${` resumes its template; innermost last.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;

  const scanTemplate = (from: number): number => {
    // `from` is just after a backtick or a closing `}` of a substitution.
    let k = from;
    while (k < n) {
      const c = text[k];
      if (c === "\\") {
        k += 2;
      } else if (c === "`") {
        blank(from, k);
        return k + 1;
      } else if (c === "$" && text[k + 1] === "{") {
        blank(from, k);
        templates.push(depth);
        depth++;
        return k + 2;
      } else {
        k++;
      }
    }
    blank(from, n);
    return n;
  };

  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      const end = text.indexOf("\n", i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end === -1 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let k = i + 1;
      let value = "";
      while (k < n && text[k] !== c && text[k] !== "\n") {
        if (text[k] === "\\") {
          value += text[k + 1] ?? "";
          k += 2;
        } else {
          value += text[k];
          k++;
        }
      }
      strings.push({ start: i, value });
      blank(i + 1, Math.min(k, n));
      i = k + 1;
    } else if (c === "`") {
      i = scanTemplate(i + 1);
    } else if (c === "{") {
      depth++;
      i++;
    } else if (c === "}") {
      depth--;
      if (templates.length > 0 && templates[templates.length - 1] === depth) {
        templates.pop();
        i = scanTemplate(i + 1);
      } else {
        i++;
      }
    } else if (c === "/" && startsRegex(out, i)) {
      let k = i + 1;
      let inClass = false;
      while (k < n && text[k] !== "\n") {
        const r = text[k];
        if (r === "\\") k++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        k++;
      }
      blank(i + 1, k);
      i = k + 1;
    } else {
      i++;
    }
  }
  return { code: out.join(""), strings };
}

/** Decides whether the `/` at `index` starts a regular expression, from the code before it. */
function startsRegex(code: readonly string[], index: number): boolean {
  let k = index - 1;
  while (k >= 0 && /\s/.test(code[k] ?? "")) k--;
  if (k < 0) return true;
  const c = code[k] ?? "";
  if (REGEX_AFTER_CHAR.has(c)) return true;
  if (!/[\w$]/.test(c)) return false;
  let start = k;
  while (start > 0 && /[\w$]/.test(code[start - 1] ?? "")) start--;
  return REGEX_AFTER_WORD.has(code.slice(start, k + 1).join(""));
}

/** Lists source files under `dir` (absolute), recursively, sorted. */
function listSources(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listSources(full));
    else if (entry.isFile() && SOURCE_FILE.test(entry.name)) files.push(full);
  }
  return files;
}

function main(): number {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const files = listSources(join(root, "src"));
  console.log(`Checking layering of ${files.length} file(s) under src/:`);
  const violations: Violation[] = [];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const path = relative(root, file).split(sep).join("/");
    const rules = rulesFor(path);
    const applied = [
      rules.protocolImports ? "imports stay in src/protocol/" : "",
      rules.coreIdentifiers ? "no runtime/timer/async identifiers" : "",
      rules.noRuntimeGlobals ? "no Deno./Bun." : "",
      `${layerOf(path)} floor`,
    ].filter((rule) => rule !== "");
    console.log(`  ${path}: ${applied.length > 0 ? applied.join(", ") : "no rules (adapter)"}`);
    const text = readFileSync(file, "utf8");
    violations.push(...checkSource(path, text));
    graph.set(path, importsOf(path, text).filter((target) => target.startsWith("src/")));
  }
  for (const cycle of findCycles(graph)) {
    violations.push({
      path: cycle[0]!,
      line: 1,
      column: 1,
      rule: "import-cycle",
      message: `is in an import circle: ${[...cycle, cycle[0]].join(" -> ")}`,
    });
  }
  if (!files.some((file) => relative(root, file).split(sep).join("/").startsWith(PROTOCOL_DIR))) {
    console.log(`  (no files under ${PROTOCOL_DIR} yet)`);
  }
  if (violations.length === 0) {
    console.log(`Layering OK: ${files.length} file(s), 0 violations, no import circles`);
    return 0;
  }
  for (const v of violations) console.error(`${v.path}:${v.line}:${v.column}: ${v.message}`);
  console.error(`Layering check failed: ${violations.length} violation(s)`);
  return 1;
}

if (import.meta.main) {
  process.exit(main());
}
