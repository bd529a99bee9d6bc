/**
 * Mica: a memcached client for Deno and Bun.
 *
 * Meta, text and binary protocols over TCP, unix sockets and verified TLS, with SASL and ASCII
 * authentication; pipelined requests that leave in one write per tick, per-request timeouts and
 * abort signals, typed errors with stable codes, and disposal with `await using`. Every socket,
 * timer, listener and pending request has one owner and is released on success, error,
 * timeout, abort and close.
 *
 * @example Quick start
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * await client.set("greeting", "hello", { ttl: 60 });
 * console.log(await client.get("greeting")); // "hello"
 * console.log(await client.incr("visits", 1, { initial: 1 })); // 1n
 * ```
 *
 * @module
 */

export {
  Client,
  type ClientCounters,
  type ClientEventType,
  type ClientOptions,
  type CloseOptions,
  connect,
  type FlushOptions,
  type GetManyOptions,
  GetManyResult,
  type GetOptions,
  type IncrOptions,
  type Item,
  type RequestOptions,
  type ServerEventDetail,
  type ServerOptionsArg,
  type SetOptions,
} from "./src/client.ts";
export type { ServerCounters } from "./src/server.ts";
export {
  DEFAULT_PORT,
  parseAddress,
  parseServer,
  type ServerAddress,
  type ServerSpec,
} from "./src/address.ts";
export {
  type Distribution,
  HashRing,
  type HashRingOptions,
  ketamaPointCount,
  type KeyHash,
  type RingMember,
  type RingPoint,
  type RingServer,
} from "./src/hash_ring.ts";
export { ketamaHash, md5, md5Words, oneAtATime } from "./src/hashes.ts";
export { type ErrorCode, isMemcachedError, MemcachedError } from "./src/errors.ts";
export { Credentials } from "./src/credentials.ts";
export type { Protocol } from "./src/dialect.ts";
export { FLAG_BYTES, FLAG_STRING, type Key, type Ttl, type Value } from "./src/values.ts";
export type {
  Connector,
  ConnectorOptions,
  Endpoint,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "./src/transport.ts";
