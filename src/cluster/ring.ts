/**
 * Chooses the server for a key the way libmemcached does, so that Mica shares a memcached
 * cluster with php-memcached, pylibmc and other libmemcached clients key for key.
 *
 * Pure: no I/O and no name resolution. Host names are hashed as written.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";
import type { Key } from "../protocol/values.ts";
import { DEFAULT_PORT } from "./address.ts";
import { ketamaHash, md5Words, oneAtATime } from "./hashes.ts";

/**
 * A server on a ring: `"host:port"`, `"host:port:weight"`, `"host"` (port 11211, weight 1),
 * `"[v6]:port[:weight]"`, or `{ host, port?, weight? }`.
 *
 * @example
 * ```ts
 * import { HashRing, type RingServer } from "@mica/memcached";
 *
 * const servers: RingServer[] = ["10.0.0.1", "10.0.0.2:11211:2", { host: "10.0.0.3", weight: 3 }];
 * const ring = new HashRing(servers);
 * console.log(ring.servers.map((s) => s.weight)); // [1, 2, 3]
 * ```
 */
export type RingServer =
  | string
  | { readonly host: string; readonly port?: number; readonly weight?: number };

/**
 * A server of a {@linkcode HashRing}, as configured, with its defaults filled in.
 *
 * @example
 * ```ts
 * import { HashRing, type RingMember } from "@mica/memcached";
 *
 * const ring = new HashRing(["[::1]:11211:2", "cache-b"]);
 * const [first, second]: readonly RingMember[] = ring.servers;
 * console.log(first); // { host: "::1", port: 11211, weight: 2, address: "[::1]:11211" }
 * console.log(second?.address); // "cache-b:11211"
 * ```
 */
export interface RingMember {
  /** The host name or IP address as written (an IPv6 address without brackets). */
  readonly host: string;
  /** The TCP port. */
  readonly port: number;
  /** The weight: its share of the ketama ring is `weight / total weight`. */
  readonly weight: number;
  /**
   * `"host:port"` (`"[v6]:port"` for an IPv6 address): what
   * {@linkcode HashRing.prototype.serverFor} returns.
   */
  readonly address: string;
}

/**
 * How keys are spread over servers.
 *
 * - `"ketama"`: libmemcached's weighted ketama consistent hashing
 *   (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, php-memcached's `OPT_LIBKETAMA_COMPATIBLE`). Adding or
 *   removing a server moves only about `1 / servers` of the keys.
 * - `"consistent"`: libmemcached's consistent hashing without weights
 *   (`MEMCACHED_BEHAVIOR_KETAMA` or `MEMCACHED_DISTRIBUTION_CONSISTENT`; pylibmc's
 *   `behaviors={"ketama": True}`): 100 points per server, each the key hash of
 *   `"<host>-<i>"`, keys hashed with libmemcached's default `one_at_a_time` unless `hash` says
 *   otherwise. As in libmemcached, a server weight over 1 turns it into weighted ketama points
 *   (still with that key hash).
 * - `"modula"`: `hash(key) % servers` (libmemcached's default, `MEMCACHED_DISTRIBUTION_MODULA`).
 *   Weights are ignored, and adding or removing a server moves nearly every key.
 *
 * @example
 * ```ts
 * import { type Distribution, HashRing } from "@mica/memcached";
 *
 * const distribution: Distribution = "modula";
 * const ring = new HashRing(["10.0.0.1", "10.0.0.2"], { distribution });
 * console.log(ring.serverFor("user:42")); // "10.0.0.1:11211"
 * ```
 */
export type Distribution = "ketama" | "consistent" | "modula";

/**
 * The key hash: `"md5"` (the first 4 digest bytes, little-endian), `"one_at_a_time"`
 * (libmemcached's default hash) or a function returning an unsigned 32-bit integer (other
 * numbers are taken modulo 2^32). A function receives a view that is valid only during the
 * call. The weighted ketama ring's points are always made with MD5, whatever the key hash; the
 * unweighted `"consistent"` ring's points are made with the key hash, as in libmemcached.
 *
 * @example A custom key hash (32-bit FNV-1a)
 * ```ts
 * import { HashRing, type KeyHash } from "@mica/memcached";
 *
 * const fnv1a: KeyHash = (key) => {
 *   let h = 0x811c9dc5;
 *   for (const byte of key) h = Math.imul(h ^ byte, 0x01000193);
 *   return h >>> 0;
 * };
 * const ring = new HashRing(["10.0.0.1", "10.0.0.2"], { distribution: "modula", hash: fnv1a });
 * console.log(ring.serverFor("user:42") === ring.serverFor("user:42")); // true
 * ```
 */
export type KeyHash = "md5" | "one_at_a_time" | ((key: Uint8Array) => number);

/**
 * Options of {@linkcode HashRing}.
 *
 * @example
 * ```ts
 * import { HashRing, type HashRingOptions } from "@mica/memcached";
 *
 * // Ketama points (always MD5), keys hashed with one_at_a_time.
 * const options: HashRingOptions = { distribution: "ketama", hash: "one_at_a_time" };
 * const ring = new HashRing(["10.0.0.1:11211", "10.0.0.2:11211"], options);
 * console.log(ring.distribution, ring.hash); // ketama one_at_a_time
 * ```
 */
export interface HashRingOptions {
  /**
   * How keys are spread over servers.
   *
   * @default {"ketama"}
   */
  distribution?: Distribution;
  /**
   * The key hash (for `"consistent"`, also the hash of its points).
   *
   * @default {"md5" for ketama, "one_at_a_time" for consistent and modula}
   */
  hash?: KeyHash;
}

/**
 * One point of a ketama ring, as {@linkcode HashRing.prototype.points} reports it.
 *
 * @example
 * ```ts
 * import { HashRing, type RingPoint } from "@mica/memcached";
 *
 * const ring = new HashRing(["10.0.0.1:11211", "10.0.0.2:11211"]);
 * const points: RingPoint[] = ring.points();
 * console.log(points.length); // 320: 160 per server
 * const first = points[0]!;
 * console.log(first.address === ring.servers[first.serverIndex]?.address); // true
 * ```
 */
export interface RingPoint {
  /** The point's position on the ring, an unsigned 32-bit integer. */
  readonly value: number;
  /** The index of the point's server in {@linkcode HashRing.prototype.servers}. */
  readonly serverIndex: number;
  /** The point's server, `"host:port"`. */
  readonly address: string;
}

/** libmemcached's `MEMCACHED_POINTS_PER_SERVER_KETAMA`. */
const POINTS_PER_SERVER = 160;
/** libmemcached's `MEMCACHED_POINTS_PER_SERVER`: points of a server on an unweighted ring. */
const UNWEIGHTED_POINTS = 100;
const MAX_UINT32 = 0xffffffff;
/** The most servers a ring holds (server indexes are stored as 16-bit integers). */
const MAX_SERVERS = 0x10000;

const HASH_MD5 = 0;
const HASH_ONE_AT_A_TIME = 1;
const HASH_CUSTOM = 2;

const encoder = new TextEncoder();
/** Where string keys are encoded; shared, as lookups are synchronous. Grows for long keys. */
let scratch = new Uint8Array(1024);

/**
 * Encodes a string key as UTF-8 into {@linkcode scratch}.
 *
 * @returns The number of bytes written.
 */
function encodeKey(key: string): number {
  const n = key.length;
  if (n * 3 > scratch.length) scratch = new Uint8Array(n * 3);
  const out = scratch;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return encoder.encodeInto(key, out).written;
    out[i] = c;
  }
  return n;
}

/**
 * Picks the server for each key, exactly as libmemcached 1.1 does with the same server list
 * and distribution. A ketama lookup is a binary search over a typed array of points, and
 * lookups allocate nothing for `Uint8Array` keys and ASCII string keys.
 *
 * The ring is immutable. To eject a dead server, build a ring over the live ones with
 * {@linkcode HashRing.prototype.withServers}. As in libmemcached, the shares are recomputed
 * over the live servers' total weight, and only the dead server's keys must move. With equal
 * weights every live server keeps its points (unless single-precision rounding changes the
 * count), so no other key moves; with unequal weights the live servers' point counts grow
 * unevenly, so a few keys also move between live servers, the same ones libmemcached moves.
 * When the server returns, build the ring over the full list again: it is then identical to
 * the original ring.
 *
 * @example Spread keys over three servers
 * ```ts
 * import { HashRing } from "@mica/memcached";
 *
 * const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
 * console.log(ring.serverFor("blob:5")); // "127.0.0.1:11211", as libmemcached chooses
 * ```
 *
 * @example Weights, modula and ejection
 * ```ts
 * import { HashRing } from "@mica/memcached";
 *
 * const ring = new HashRing(["cache-a:11211:1", { host: "cache-b", weight: 3 }]);
 * console.log(ring.servers.map((s) => s.address)); // ["cache-a:11211", "cache-b:11211"]
 *
 * // Eject cache-b: its keys move to cache-a; rebuild from `ring.servers` when it returns.
 * const live = ring.withServers(ring.servers.filter((s) => s.host !== "cache-b"));
 * console.log(live.serverFor("user:42")); // "cache-a:11211"
 *
 * const modula = new HashRing(["10.0.0.1", "10.0.0.2"], { distribution: "modula" });
 * console.log(modula.serverFor("user:42")); // "10.0.0.1:11211"
 * ```
 */
export class HashRing {
  /** The servers in the order given, with defaults filled in. Frozen. */
  readonly servers: readonly RingMember[];
  /** How keys are spread over servers. */
  readonly distribution: Distribution;
  /** The key hash. */
  readonly hash: KeyHash;

  #addresses: readonly string[];
  #hashKind: number;
  #hashFn: ((key: Uint8Array) => number) | undefined;
  #modula: boolean;
  /** Ketama points, ascending; ties ordered by server index. Empty for modula. */
  #values: Uint32Array;
  /** `#owners[i]` is the server index of `#values[i]`. */
  #owners: Uint16Array;

  /**
   * Builds a ring. Nothing is resolved or connected.
   *
   * @param servers The servers, at least one. A server listed twice takes both shares, as in
   * libmemcached.
   * @param options The distribution and key hash.
   * @throws {MemcachedError} `INVALID_ARGUMENT` when the list is empty, a server cannot be
   * parsed, a weight is not a positive integer, or an option is unknown.
   */
  constructor(servers: readonly RingServer[], options: HashRingOptions = {}) {
    if (!Array.isArray(servers)) throw invalid("expected an array of servers");
    if (servers.length === 0) throw invalid("the server list is empty");
    if (servers.length > MAX_SERVERS) throw invalid(`more than ${MAX_SERVERS} servers`);
    const members = Object.freeze(servers.map(parseServer));
    let totalWeight = 0;
    for (const member of members) totalWeight += member.weight;
    if (totalWeight > MAX_UINT32) throw invalid("the total weight is over 4294967295");

    const distribution = options.distribution ?? "ketama";
    if (distribution !== "ketama" && distribution !== "consistent" && distribution !== "modula") {
      throw invalid(`unknown distribution ${JSON.stringify(distribution)}`);
    }
    const hash = options.hash ?? (distribution === "ketama" ? "md5" : "one_at_a_time");
    if (hash === "md5") this.#hashKind = HASH_MD5;
    else if (hash === "one_at_a_time") this.#hashKind = HASH_ONE_AT_A_TIME;
    else if (typeof hash === "function") this.#hashKind = HASH_CUSTOM;
    else throw invalid(`unknown hash ${JSON.stringify(hash)}`);

    this.servers = members;
    this.distribution = distribution;
    this.hash = hash;
    this.#hashFn = typeof hash === "function" ? hash : undefined;
    this.#modula = distribution === "modula";
    this.#addresses = members.map((member) => member.address);
    if (
      distribution === "ketama" ||
      (distribution === "consistent" && members.some((member) => member.weight > 1))
    ) {
      [this.#values, this.#owners] = buildContinuum(members, totalWeight);
    } else if (distribution === "consistent") {
      [this.#values, this.#owners] = buildUnweighted(
        members,
        (bytes) => this.#hashBytes(bytes, bytes.length),
      );
    } else {
      this.#values = new Uint32Array(0);
      this.#owners = new Uint16Array(0);
    }
  }

  /**
   * Builds a ring with the same distribution and hash over other servers, typically the live
   * subset of {@linkcode HashRing.prototype.servers} after ejecting a dead one. Shares are
   * recomputed over the given servers, as libmemcached does when it ejects a server.
   *
   * @param servers The servers, at least one.
   * @returns A new ring.
   * @throws {MemcachedError} `INVALID_ARGUMENT` as the constructor does.
   *
   * @example Eject a server and bring it back
   * ```ts
   * import { HashRing } from "@mica/memcached";
   *
   * const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
   * const live = ring.withServers(ring.servers.filter((s) => s.port !== 11212));
   * console.log(live.serverFor("blob:5")); // never "127.0.0.1:11212"
   * const back = live.withServers(ring.servers);
   * console.log(back.serverFor("blob:5") === ring.serverFor("blob:5")); // true
   * ```
   */
  withServers(servers: readonly RingServer[]): HashRing {
    return new HashRing(servers, { distribution: this.distribution, hash: this.hash });
  }

  /**
   * Returns the server for a key, `"host:port"`. With one server, the key is not hashed.
   *
   * @param key The key; a string is hashed as its UTF-8 bytes.
   * @returns The server's {@linkcode RingMember.address}.
   * @throws {MemcachedError} `INVALID_KEY` when the key is not a string or `Uint8Array`.
   *
   * @example
   * ```ts
   * import { HashRing } from "@mica/memcached";
   *
   * const ring = new HashRing(["cache-a.local:11211", "cache-b.local:11211"]);
   * console.log(ring.serverFor("user:42") === ring.serverFor(new TextEncoder().encode("user:42"))); // true
   * ```
   */
  serverFor(key: Key): string {
    return this.#addresses[this.serverIndexFor(key)]!;
  }

  /**
   * Returns the index in {@linkcode HashRing.prototype.servers} of the server for a key. With
   * one server, the key is not hashed.
   *
   * @param key The key; a string is hashed as its UTF-8 bytes.
   * @returns An index into `servers`.
   * @throws {MemcachedError} `INVALID_KEY` when the key is not a string or `Uint8Array`.
   *
   * @example
   * ```ts
   * import { HashRing } from "@mica/memcached";
   *
   * const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
   * console.log(ring.servers[ring.serverIndexFor("blob:5")]?.port); // 11211
   * ```
   */
  serverIndexFor(key: Key): number {
    const count = this.#addresses.length;
    if (count === 1) {
      if (typeof key !== "string" && !(key instanceof Uint8Array)) throw invalidKey(key);
      return 0;
    }
    let h: number;
    if (typeof key === "string") {
      const length = encodeKey(key); // may replace `scratch`, so read it after
      h = this.#hashBytes(scratch, length);
    } else if (key instanceof Uint8Array) h = this.#hashBytes(key, key.length);
    else throw invalidKey(key);
    if (this.#modula) return h % count;
    const values = this.#values;
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === values.length ? 0 : lo]!;
  }

  /**
   * Returns a copy of the ketama ring's points in ring order (empty for modula), to inspect or
   * test the ring.
   *
   * @returns The points, ascending by value; equal values are ordered by server index.
   *
   * @example Count each server's points
   * ```ts
   * import { HashRing } from "@mica/memcached";
   *
   * const ring = new HashRing(["127.0.0.1:11211", "127.0.0.1:11212:3"]);
   * const counts = [0, 0];
   * for (const point of ring.points()) counts[point.serverIndex]! += 1;
   * console.log(counts); // [80, 240]
   * ```
   */
  points(): RingPoint[] {
    const points: RingPoint[] = [];
    for (let i = 0; i < this.#values.length; i++) {
      const serverIndex = this.#owners[i]!;
      points.push({
        value: this.#values[i]!,
        serverIndex,
        address: this.#addresses[serverIndex]!,
      });
    }
    return points;
  }

  #hashBytes(bytes: Uint8Array, length: number): number {
    switch (this.#hashKind) {
      case HASH_MD5:
        return ketamaHash(bytes, length);
      case HASH_ONE_AT_A_TIME:
        return oneAtATime(bytes, length);
      default:
        return this.#hashFn!(length === bytes.length ? bytes : bytes.subarray(0, length)) >>> 0;
    }
  }
}

/**
 * The number of ketama points libmemcached 1.1 gives a server (`update_continuum()` with
 * `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`): `floor(pct * 160 / 4 * count + 1e-10) * 4` with
 * `pct = weight / totalWeight`, every step but the last addition in single precision.
 *
 * @param weight The server's weight.
 * @param totalWeight The sum of the weights of all servers on the ring.
 * @param count The number of servers on the ring.
 * @returns A multiple of 4; usually 160 for equal weights, but single precision makes some
 * pool sizes round down to 156.
 *
 * @example
 * ```ts
 * import { ketamaPointCount } from "@mica/memcached";
 *
 * console.log(ketamaPointCount(1, 3, 3)); // 160
 * console.log(ketamaPointCount(3, 8, 5)); // 300
 * ```
 */
export function ketamaPointCount(weight: number, totalWeight: number, count: number): number {
  const f = Math.fround;
  const pct = f(f(weight) / f(totalWeight));
  const perHashes = f(f(f(pct * POINTS_PER_SERVER) / 4) * f(count));
  return Math.floor(perHashes + 1e-10) * 4;
}

/** Builds the sorted ketama continuum: point values and their server indexes. */
function buildContinuum(
  members: readonly RingMember[],
  totalWeight: number,
): [Uint32Array, Uint16Array] {
  const counts = members.map((m) => ketamaPointCount(m.weight, totalWeight, members.length));
  let total = 0;
  for (const count of counts) total += count;
  const values = new Uint32Array(total);
  const owners = new Uint32Array(total);
  const words = new Uint32Array(4);
  let at = 0;
  for (let s = 0; s < members.length; s++) {
    const { host, port } = members[s]!;
    const prefix = port === DEFAULT_PORT ? `${host}-` : `${host}:${port}-`;
    for (let i = 0; i < counts[s]! / 4; i++) {
      md5Words(encoder.encode(prefix + i), words);
      for (let w = 0; w < 4; w++) {
        values[at] = words[w]!;
        owners[at] = s;
        at++;
      }
    }
  }
  return sortPoints(values, owners, members.length);
}

/**
 * Builds libmemcached's unweighted continuum: 100 points per server, each the hash of
 * `"<host>-<i>"` (`"<host>:<port>-<i>"` off port 11211) for `i` in 0..99.
 */
function buildUnweighted(
  members: readonly RingMember[],
  hash: (bytes: Uint8Array) => number,
): [Uint32Array, Uint16Array] {
  const total = members.length * UNWEIGHTED_POINTS;
  const values = new Uint32Array(total);
  const owners = new Uint32Array(total);
  let at = 0;
  for (let s = 0; s < members.length; s++) {
    const { host, port } = members[s]!;
    const prefix = port === DEFAULT_PORT ? `${host}-` : `${host}:${port}-`;
    for (let i = 0; i < UNWEIGHTED_POINTS; i++) {
      values[at] = hash(encoder.encode(prefix + i));
      owners[at] = s;
      at++;
    }
  }
  return sortPoints(values, owners, members.length);
}

/**
 * Sorts points by value, then by server index (libmemcached's order), packed into one float64
 * key: exact, as 2^32 * MAX_SERVERS is below 2^53.
 */
function sortPoints(
  values: Uint32Array,
  owners: Uint32Array,
  n: number,
): [Uint32Array, Uint16Array] {
  const total = values.length;
  const keys = new Float64Array(total);
  for (let i = 0; i < total; i++) keys[i] = values[i]! * n + owners[i]!;
  keys.sort();
  const sortedOwners = new Uint16Array(total);
  for (let i = 0; i < total; i++) {
    const k = keys[i]!;
    const owner = k % n;
    values[i] = (k - owner) / n;
    sortedOwners[i] = owner;
  }
  return [values, sortedOwners];
}

function parseServer(server: RingServer): RingMember {
  let host: string;
  let port: number = DEFAULT_PORT;
  let weight = 1;
  if (typeof server === "string") {
    // What follows the host: undefined for "host", else the text after its ":".
    let rest: string | undefined;
    if (server.startsWith("[")) {
      const close = server.indexOf("]");
      if (close < 0) throw invalidServer(server, "missing ] after an IPv6 address");
      host = server.slice(1, close);
      const after = server.slice(close + 1);
      if (after !== "" && !after.startsWith(":")) {
        throw invalidServer(server, "expected :port after ]");
      }
      rest = after === "" ? undefined : after.slice(1);
    } else {
      if (server.includes("::")) throw invalidServer(server, "write IPv6 addresses as [addr]");
      const colon = server.indexOf(":");
      host = colon < 0 ? server : server.slice(0, colon);
      rest = colon < 0 ? undefined : server.slice(colon + 1);
    }
    const parts = rest === undefined ? [] : rest.split(":");
    if (parts.length > 2) {
      throw invalidServer(server, "expected host:port or host:port:weight (IPv6 as [addr])");
    }
    if (parts[0] !== undefined) port = parseInteger(parts[0]);
    if (parts[1] !== undefined) weight = parseInteger(parts[1]);
  } else if (typeof server === "object" && server !== null) {
    if (typeof server.host !== "string") throw invalidServer(server, "the host is not a string");
    host = server.host;
    if (server.port !== undefined) port = server.port;
    if (server.weight !== undefined) weight = server.weight;
  } else {
    throw invalidServer(server, "expected a string or { host, port?, weight? }");
  }
  if (host.length === 0) throw invalidServer(server, "the host is empty");
  // A unix socket is hashed as libmemcached does: its path as the host, port 0.
  const unix = typeof server === "object" && host.startsWith("/") && port === 0;
  if (!unix && /[\s/[\]]/.test(host)) {
    throw invalidServer(server, "the host holds a space, slash or bracket");
  }
  if (
    !unix && (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
  ) {
    throw invalidServer(server, "the port must be an integer in 1..65535");
  }
  if (
    typeof weight !== "number" || !Number.isInteger(weight) || weight < 1 || weight > MAX_UINT32
  ) {
    throw invalidServer(server, "the weight must be a positive integer");
  }
  const address = unix ? host : host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return Object.freeze({ host, port, weight, address });
}

/** Reads a decimal integer; anything else is NaN, which the range checks then reject. */
function parseInteger(text: string): number {
  return /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
}

function invalid(reason: string): MemcachedError {
  return new MemcachedError("INVALID_ARGUMENT", `Cannot build hash ring: ${reason}`);
}

function invalidServer(server: unknown, reason: string): MemcachedError {
  let shown: string;
  try {
    shown = JSON.stringify(server) ?? String(server);
  } catch {
    shown = String(server);
  }
  return invalid(`server ${shown}: ${reason}`);
}

function invalidKey(key: unknown): MemcachedError {
  return new MemcachedError(
    "INVALID_KEY",
    `Cannot choose a server: expected a string or Uint8Array key, got ${typeof key}`,
  );
}
