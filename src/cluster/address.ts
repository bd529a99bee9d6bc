/**
 * Server addresses: `"host:port"`, `"[v6]:port"`, `"host"` (port 11211), a unix socket path,
 * or an object.
 *
 * @module
 */

import { Credentials } from "../connection/credentials.ts";
import { type Endpoint, endpointName } from "../connection/transport.ts";
import { MemcachedError } from "../errors.ts";

/**
 * memcached's default TCP port.
 *
 * @example
 * ```ts
 * import { DEFAULT_PORT, parseServer } from "@mica/memcached";
 *
 * console.log(parseServer("cache-1").name === `cache-1:${DEFAULT_PORT}`); // true
 * ```
 */
export const DEFAULT_PORT = 11211;

/**
 * A server address: `"host:port"`, `"host:port:weight"`, `"host"` (port 11211),
 * `"[::1]:11211"`, a unix socket path (starting with `/` or `./`), `{ host, port, weight }` or
 * `{ path, weight }`. The weight (default 1) sets the server's share of keys in a cluster.
 *
 * Credentials for this server may lead a string address as `"user:password@host:port"`
 * (percent-encode `%`, `@` and `:` in them, as in a URL), or be given as `username` and
 * `password` in the object form. They are never part of the server's name.
 *
 * @example
 * ```ts
 * import { parseServer, type ServerAddress } from "@mica/memcached";
 *
 * const servers: ServerAddress[] = [
 *   "cache-1:11211",
 *   "cache-2:11211:2",
 *   "[::1]:11212",
 *   { host: "cache-3", weight: 3 },
 *   { path: "/run/memcached.sock" },
 *   "app:s3cret@cache-4:11211",
 * ];
 * console.log(servers.map((s) => parseServer(s).name));
 * // ["cache-1:11211", "cache-2:11211", "[::1]:11212", "cache-3:11211", "/run/memcached.sock",
 * //  "cache-4:11211"]
 * ```
 */
export type ServerAddress =
  | string
  | {
    readonly host: string;
    readonly port?: number;
    readonly weight?: number;
    readonly username?: string;
    readonly password?: string;
  }
  | {
    readonly path: string;
    readonly weight?: number;
    readonly username?: string;
    readonly password?: string;
  };

/**
 * A parsed server: where it listens, its weight, and its name as `serverFor` returns it.
 *
 * @example
 * ```ts
 * import { parseServer, type ServerSpec } from "@mica/memcached";
 *
 * const spec: ServerSpec = parseServer("app:s3cret@cache-1:11212:2");
 * console.log(spec.name, spec.weight, spec.endpoint.kind); // cache-1:11212 2 tcp
 * console.log(spec.credentials !== undefined); // true
 * ```
 */
export interface ServerSpec {
  /** Where to connect. */
  readonly endpoint: Endpoint;
  /** Its share of keys relative to the other servers' weights. */
  readonly weight: number;
  /** `host:port` (`[v6]:port`) or the socket path. */
  readonly name: string;
  /** Credentials given with this address, if any. */
  readonly credentials?: Credentials;
}

/** Whether a string address is a unix socket path (`/…`, `./…`, `unix:…`), not `host:port`. */
function isSocketPath(address: string): boolean {
  return address.startsWith("/") || address.startsWith(".") || address.startsWith("unix:");
}

/** Splits `user:password@` off a string address, percent-decoding both. */
function splitCredentials(address: string): { rest: string; credentials?: Credentials } {
  const at = address.lastIndexOf("@");
  // A socket path may hold "@" itself: only `user:password@` before it is credentials.
  if (at < 0 || isSocketPath(address)) return { rest: address };
  const rest = address.slice(at + 1);
  const info = address.slice(0, at);
  const colon = info.indexOf(":");
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(colon < 0 ? info : info.slice(0, colon));
    password = colon < 0 ? "" : decodeURIComponent(info.slice(colon + 1));
  } catch {
    // The message must not echo the credentials.
    throw bad(`***@${rest}`, "the credentials are not valid percent-encoding");
  }
  return { rest, credentials: Credentials.from(username, password) };
}

/**
 * Parses a server address with its optional weight.
 *
 * @param address The address.
 * @returns The endpoint, weight and display name.
 * @throws {MemcachedError} `INVALID_ARGUMENT` when the address or weight cannot be parsed.
 *
 * @example
 * ```ts
 * import { parseServer } from "@mica/memcached";
 *
 * console.log(parseServer("cache-1:11212:3").weight); // 3
 * ```
 */
export function parseServer(given: ServerAddress): ServerSpec {
  let weight = 1;
  let credentials: Credentials | undefined;
  let address: ServerAddress = given;
  if (typeof given === "string") {
    const split = splitCredentials(given);
    address = split.rest;
    credentials = split.credentials;
  } else if (typeof given === "object" && given !== null) {
    const { username, password } = given;
    if (username !== undefined || password !== undefined) {
      credentials = Credentials.from(username as string, password ?? "");
      // Keep the password out of every later message about this address.
      address = "path" in given
        ? { path: given.path, ...(given.weight === undefined ? {} : { weight: given.weight }) }
        : {
          host: given.host,
          ...(given.port === undefined ? {} : { port: given.port }),
          ...(given.weight === undefined ? {} : { weight: given.weight }),
        };
    }
  }
  let target: ServerAddress = address;
  if (typeof address === "string") {
    const parts = address.startsWith("[")
      ? address.slice(address.indexOf("]") + 1).split(":")
      : address.split(":");
    // "host:port:weight" or "[v6]:port:weight" (parts: host|"", port, weight).
    if (!address.startsWith("/") && !address.startsWith(".") && parts.length === 3) {
      const text = parts[2]!;
      if (!/^[0-9]{1,10}$/.test(text)) throw bad(address, "the weight is not a number");
      weight = Number(text);
      target = address.slice(0, address.length - text.length - 1);
    }
  } else if (typeof address === "object" && address !== null && address.weight !== undefined) {
    weight = address.weight;
  }
  if (!Number.isInteger(weight) || weight < 1 || weight > 0xffff_ffff) {
    throw bad(address, "the weight must be a positive integer");
  }
  const endpoint = parseAddress(target);
  const name = endpointName(endpoint);
  return credentials === undefined ? { endpoint, weight, name } : {
    endpoint,
    weight,
    name,
    credentials,
  };
}

function bad(address: unknown, reason: string): MemcachedError {
  return new MemcachedError(
    "INVALID_ARGUMENT",
    `Cannot parse server address ${JSON.stringify(address)}: ${reason}`,
  );
}

function checkPort(address: unknown, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw bad(address, "the port must be an integer in 1..65535");
  }
  return port;
}

function checkHost(address: unknown, host: string): string {
  if (host.length === 0) throw bad(address, "the host is empty");
  if (/[\s/]/.test(host)) throw bad(address, "the host holds a space or slash");
  return host;
}

/**
 * Parses an address into an endpoint. Host names are kept as written and resolved at connect.
 *
 * @param address The address.
 * @returns The endpoint.
 * @throws {MemcachedError} `INVALID_ARGUMENT` when the address cannot be parsed.
 *
 * @example
 * ```ts
 * import { parseAddress } from "@mica/memcached";
 *
 * console.log(parseAddress("cache-1:11212")); // { kind: "tcp", host: "cache-1", port: 11212 }
 * console.log(parseAddress("/run/memcached.sock")); // { kind: "unix", path: "/run/memcached.sock" }
 * ```
 */
export function parseAddress(address: ServerAddress): Endpoint {
  if (typeof address === "object" && address !== null) {
    if ("path" in address) {
      if (typeof address.path !== "string" || address.path.length === 0) {
        throw bad(address, "the socket path is empty");
      }
      return { kind: "unix", path: address.path };
    }
    if (typeof address.host !== "string") throw bad(address, "the host is not a string");
    return {
      kind: "tcp",
      host: checkHost(address, address.host),
      port: checkPort(address, address.port ?? DEFAULT_PORT),
    };
  }
  if (typeof address !== "string") throw bad(address, "expected a string or an object");
  if (address.startsWith("/") || address.startsWith("./") || address.startsWith("../")) {
    return { kind: "unix", path: address };
  }
  if (address.startsWith("unix:")) return { kind: "unix", path: address.slice(5) };
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close < 0) throw bad(address, "missing ] after an IPv6 address");
    const host = address.slice(1, close);
    const rest = address.slice(close + 1);
    if (rest === "") return { kind: "tcp", host: checkHost(address, host), port: DEFAULT_PORT };
    if (!rest.startsWith(":")) throw bad(address, "expected :port after ]");
    return { kind: "tcp", host: checkHost(address, host), port: parsePort(address, rest.slice(1)) };
  }
  const colon = address.lastIndexOf(":");
  if (colon < 0) return { kind: "tcp", host: checkHost(address, address), port: DEFAULT_PORT };
  if (address.indexOf(":") !== colon) throw bad(address, "write IPv6 addresses as [addr]:port");
  return {
    kind: "tcp",
    host: checkHost(address, address.slice(0, colon)),
    port: parsePort(address, address.slice(colon + 1)),
  };
}

function parsePort(address: string, text: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw bad(address, "the port is not a number");
  return checkPort(address, Number(text));
}
