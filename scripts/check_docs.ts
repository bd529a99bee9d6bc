/**
 * Checks the documentation rule: every exported symbol of every entry point in `deno.json`
 * `"exports"` has JSDoc with at least one `@example`.
 *
 * It runs `deno doc --json` (the same `deno` that runs this script) on the entry points and
 * reads each exported declaration's JSDoc. Run it from anywhere:
 *
 * ```sh
 * deno run --allow-read --allow-run scripts/check_docs.ts
 * ```
 *
 * It prints each symbol that breaks the rule as `path:line: name (kind): reason`, and exits 1 if
 * there is any (or if `deno doc` fails), 0 otherwise.
 *
 * @module
 */

/** Why a symbol breaks the documentation rule. */
export type Problem = "no JSDoc" | "no @example";

/** One exported declaration that breaks the documentation rule. */
export interface Finding {
  /** The symbol's exported name. */
  name: string;
  /** The declaration's kind as `deno doc` reports it: `"function"`, `"interface"`, ... */
  kind: string;
  /** The declaring file, relative to the repository root when it lies inside it. */
  path: string;
  /** 1-based line of the declaration. */
  line: number;
  /** What is missing. */
  problem: Problem;
}

/** The part of `deno doc --json` output (format version 2) this check reads. */
export interface DocJson {
  /** Modules by specifier. */
  nodes: Record<string, { symbols?: DocSymbol[] }>;
}

/** An exported symbol in `deno doc --json` output. */
export interface DocSymbol {
  /** The exported name. */
  name: string;
  /** Its declarations (several for overloads or merged declarations). */
  declarations: {
    kind: string;
    declarationKind?: string;
    location: { filename: string; line: number };
    jsDoc?: { doc?: string; tags?: { kind: string }[] };
  }[];
}

/**
 * Lists the exported declarations without JSDoc or without an `@example`, each once, sorted by
 * file and line.
 *
 * @param docs `deno doc --json` outputs, one per entry point (re-exports appear in several).
 * @param root The repository root as a `file:` URL ending in `/`; paths are made relative to it.
 * @returns The findings; empty when every exported symbol is documented with an example.
 *
 * @example A symbol documented without an example
 * ```ts
 * import { findProblems } from "./check_docs.ts";
 *
 * const found = findProblems([{
 *   nodes: {
 *     "file:///repo/mod.ts": {
 *       symbols: [{
 *         name: "connect",
 *         declarations: [{
 *           kind: "function",
 *           declarationKind: "export",
 *           location: { filename: "file:///repo/src/client.ts", line: 7 },
 *           jsDoc: { doc: "Connects.", tags: [] },
 *         }],
 *       }],
 *     },
 *   },
 * }], "file:///repo/");
 * if (found[0]?.problem !== "no @example") throw new Error("expected a finding");
 * ```
 */
export function findProblems(docs: readonly DocJson[], root: string): Finding[] {
  const findings: Finding[] = [];
  for (const { name, decl } of exportedDeclarations(docs)) {
    const jsDoc = decl.jsDoc;
    const tags = jsDoc?.tags ?? [];
    const documented = (jsDoc?.doc ?? "").trim() !== "" || tags.length > 0;
    const problem: Problem | undefined = !documented
      ? "no JSDoc"
      : tags.some((tag) => tag.kind === "example")
      ? undefined
      : "no @example";
    if (problem === undefined) continue;
    const { filename, line } = decl.location;
    const path = filename.startsWith(root) ? filename.slice(root.length) : filename;
    findings.push({ name, kind: decl.kind, path, line, problem });
  }
  return findings.sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : a.line - b.line || (a.name < b.name ? -1 : 1)
  );
}

/** Each exported declaration once, however many entry points re-export it. */
function exportedDeclarations(
  docs: readonly DocJson[],
): { name: string; decl: DocSymbol["declarations"][number] }[] {
  const seen = new Set<string>();
  const out: { name: string; decl: DocSymbol["declarations"][number] }[] = [];
  for (const doc of docs) {
    for (const node of Object.values(doc.nodes)) {
      for (const symbol of node.symbols ?? []) {
        for (const decl of symbol.declarations) {
          if (decl.declarationKind !== undefined && decl.declarationKind !== "export") continue;
          const id = `${symbol.name}\0${decl.location.filename}\0${decl.location.line}`;
          if (seen.has(id)) continue;
          seen.add(id);
          out.push({ name: symbol.name, decl });
        }
      }
    }
  }
  return out;
}

/** Runs `deno doc --json` on one entry point. */
async function denoDoc(entry: string, cwd: string): Promise<DocJson> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) {
    const message = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot document ${entry}: deno doc exited with ${output.code}\n${message}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)) as DocJson;
}

async function main(): Promise<number> {
  const root = new URL("../", import.meta.url);
  const cwd = decodeURIComponent(root.pathname);
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
    exports?: string | Record<string, string>;
  };
  const exports = config.exports ?? {};
  const entries = typeof exports === "string" ? [exports] : Object.values(exports);
  if (entries.length === 0) {
    console.error('Docs check failed: deno.json has no "exports"');
    return 1;
  }
  console.log(`Checking JSDoc and @example of the exports of: ${entries.join(", ")}`);
  let docs: DocJson[];
  try {
    docs = await Promise.all(entries.map((entry) => denoDoc(entry, cwd)));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
  const symbols = exportedDeclarations(docs).length;
  const findings = findProblems(docs, root.href);
  if (findings.length === 0) {
    console.log(`Docs OK: ${symbols} exported declaration(s), each with JSDoc and an @example`);
    return 0;
  }
  for (const f of findings) {
    console.error(`${f.path}:${f.line}: ${f.name} (${f.kind}): ${f.problem}`);
  }
  console.error(
    `Docs check failed: ${findings.length} of ${symbols} exported declaration(s) lack JSDoc or ` +
      "an @example",
  );
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main());
}
