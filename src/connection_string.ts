/**
 * Where a client's servers and options come from besides the options object: connection
 * strings, comma-separated lists and the `MEMCACHE_SERVERS` environment variable; and the check
 * that every option named is one Mica knows, so a misspelt option fails loudly instead of being
 * ignored.
 *
 * A connection string is `memcached://[user[:password]@]host[:port][,host[:port]...][/][?name=value&...]`
 * (`memcacheds://` turns TLS on). The credentials, percent-decoded, apply to every server; the
 * query holds client options by their names (`?timeout=250&protocol=text&failover=eject`).
 *
 * @module
 */

import process from "node:process";
import type { ServerAddress } from "./cluster/address.ts";
import { MemcachedError } from "./errors.ts";
import type { ClientOptions } from "./options.ts";

/** What each client option holds, for reading it from a query string and for the name check. */
const KINDS = {
  timeout: "number",
  connectTimeout: "number",
  closeTimeout: "number",
  maxInFlight: "number",
  maxQueued: "number",
  maxValueSize: "number",
  serializer: "string",
  compression: "boolean",
  maxDecompressedSize: "number",
  base64Keys: "boolean",
  noDelay: "boolean",
  defaultTtl: "number",
  distribution: "string",
  hash: "string",
  prefix: "string",
  hashPrefix: "boolean",
  longKeys: "string",
  failover: "string",
  poolSize: "number",
  eager: "boolean",
  failureLimit: "number",
  retryTimeout: "number",
  maxRetryTimeout: "number",
  idleTimeout: "number",
  protocol: "string",
  tls: "boolean",
  username: "string",
  password: "string",
  metrics: "boolean",
  logger: "object",
  connector: "object",
} as const satisfies Record<keyof ClientOptions, "number" | "boolean" | "string" | "object">;

/** Names people reach for that Mica calls otherwise. */
const ALIASES: Readonly<Record<string, string>> = {
  keyPrefix: "prefix",
  namespace: "prefix",
  prefixKey: "prefix",
  ttl: "defaultTtl",
  expires: "defaultTtl",
  retries: "failureLimit",
  retry: "retryTimeout",
  poolsize: "poolSize",
  ssl: "tls",
  user: "username",
  pass: "password",
  compress: "compression",
  serialiser: "serializer",
};

/** The known option name closest to `name`: its alias, a case slip, or one edit of two or less. */
function closest(name: string): string | undefined {
  if (Object.hasOwn(ALIASES, name)) return ALIASES[name];
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of Object.keys(KINDS)) {
    if (known.toLowerCase() === name.toLowerCase()) return known;
    const d = distance(known.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

/** Levenshtein distance, for suggestions (names are short). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

function unknown(name: string): MemcachedError {
  const guess = closest(name);
  return new MemcachedError(
    "INVALID_ARGUMENT",
    `Cannot use option ${name}: there is no such option` +
      (guess === undefined ? "" : ` (did you mean ${guess}?)`),
  );
}

/**
 * Reads `MEMCACHE_SERVERS`: its trimmed value, or why there is none (unset, empty, or
 * unreadable on Deno without `--allow-env`).
 */
export function serversFromEnv(): string | { why: string } {
  let env: string | undefined;
  try {
    env = process.env.MEMCACHE_SERVERS;
  } catch {
    return {
      why: "MEMCACHE_SERVERS cannot be read (on Deno, run with --allow-env=MEMCACHE_SERVERS)",
    };
  }
  return env === undefined || env.trim() === ""
    ? { why: "MEMCACHE_SERVERS is not set" }
    : env.trim();
}

/**
 * Checks that an options object names only options Mica knows.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` naming the first unknown option, with the known one
 * it most likely meant.
 */
export function checkOptionNames(options: object): void {
  if (typeof options !== "object" || options === null) {
    throw new MemcachedError("INVALID_ARGUMENT", "Cannot use options: they are not an object");
  }
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(KINDS, name)) throw unknown(name);
  }
}

/** Reads one query option by its kind. */
function queryValue(name: string, text: string): unknown {
  if (!Object.hasOwn(KINDS, name)) throw unknown(name);
  const kind = KINDS[name as keyof typeof KINDS];
  if (kind === "number") {
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text)) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot use option ${name}: ${
          JSON.stringify(text)
        } in the connection string is not a number`,
      );
    }
    return Number(text);
  }
  if (kind === "boolean") {
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot use option ${name}: ${JSON.stringify(text)} in the connection string is not ` +
        "true or false",
    );
  }
  if (kind === "string") return text;
  throw new MemcachedError(
    "INVALID_ARGUMENT",
    `Cannot use option ${name}: it cannot be given in a connection string`,
  );
}

/** Splits a comma-separated server list, dropping empty entries. */
function list(text: string): string[] {
  return text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
}

/** Whether a string names one unix socket (a path may hold commas). */
function isPath(text: string): boolean {
  return text.startsWith("/") || text.startsWith(".") || text.startsWith("unix:");
}

/** The servers and options a client was given, once every source is read. */
export interface Resolved {
  readonly servers: readonly ServerAddress[];
  readonly options: ClientOptions;
}

/**
 * Reads the servers: an address, a list, a comma-separated string, a connection string, or
 * (when none is given) the `MEMCACHE_SERVERS` environment variable, which may hold any of the
 * string forms. A connection string's query options are merged under the options object (which
 * wins).
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` for a malformed connection string, an unknown
 * query option, or no servers at all.
 */
export function resolve(
  address: ServerAddress | readonly ServerAddress[] | undefined,
  options: ClientOptions,
): Resolved {
  checkOptionNames(options);
  let given = address;
  if (given === undefined) {
    const env = serversFromEnv();
    if (typeof env !== "string") {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot create client: no servers given, and ${env.why}`,
      );
    }
    given = env;
  }
  if (typeof given !== "string") {
    return { servers: Array.isArray(given) ? given : [given], options };
  }
  if (/^memcached?s?:\/\//i.test(given)) return parse(given, options);
  return { servers: isPath(given) ? [given] : list(given), options };
}

/** Parses a `memcached://` or `memcacheds://` connection string. */
function parse(text: string, options: ClientOptions): Resolved {
  const match = /^(memcached?s?):\/\/([^/?#]*)(?:\/)?(?:\?([^#]*))?$/i.exec(text);
  const shown = text.replace(/\/\/[^@/?#]*@/, "//***@");
  if (match === null) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot parse connection string ${JSON.stringify(shown)}: expected ` +
        "memcached://[user:password@]host[:port][,host[:port]...][?option=value&...]",
    );
  }
  const [, scheme, authority, query] = match;
  const merged: Record<string, unknown> = {};
  if (/s$/i.test(scheme!)) merged.tls = true;
  let hosts = authority!;
  const at = hosts.lastIndexOf("@");
  if (at >= 0) {
    const info = hosts.slice(0, at);
    hosts = hosts.slice(at + 1);
    const colon = info.indexOf(":");
    try {
      merged.username = decodeURIComponent(colon < 0 ? info : info.slice(0, colon));
      if (colon >= 0) merged.password = decodeURIComponent(info.slice(colon + 1));
    } catch {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot parse connection string ${JSON.stringify(shown)}: the credentials are not ` +
          "valid percent-encoding",
      );
    }
  }
  const servers = list(hosts);
  if (servers.length === 0) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      `Cannot parse connection string ${JSON.stringify(shown)}: it names no server`,
    );
  }
  for (const pair of (query ?? "").split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "true" : decodeURIComponent(pair.slice(eq + 1).replaceAll("+", " "));
    merged[name] = queryValue(name, value);
  }
  return { servers, options: { ...(merged as ClientOptions), ...options } };
}
