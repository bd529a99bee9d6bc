/**
 * Mica: a memcached client for Deno and Bun (and Node.js 20+, from the npm package).
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

export { Client, connect } from "./src/client.ts";
export type { ClientBase } from "./src/client/base.ts";
export type { ReadCommands } from "./src/client/reads.ts";
export type { WriteCommands } from "./src/client/writes.ts";
export type { ClientOptions, CompressionOptions } from "./src/options.ts";
export type {
  CloseOptions,
  FlushOptions,
  GetManyOptions,
  GetOptions,
  GetOrSetOptions,
  IncrOptions,
  InvalidateOptions,
  Item,
  RequestOptions,
  ServerOptionsArg,
  SetManyOptions,
  SetOptions,
  WriteManyOptions,
} from "./src/call_options.ts";
export type { ClientCounters, ClientEventType, ServerEventDetail } from "./src/cluster/cluster.ts";
export { GetManyResult, WriteManyResult } from "./src/cluster/many.ts";
export type { Loader, LoaderContext } from "./src/stampede.ts";
export {
  type ClientEventMap,
  ClientEvents,
  type LogFields,
  type Logger,
  type OnOptions,
  type RefreshErrorDetail,
  type Subscription,
} from "./src/events.ts";
export {
  type ClientMetrics,
  type CommandTrace,
  type LatencyHistogram,
  type OperationMetrics,
  TRACING_CHANNEL,
} from "./src/observe.ts";
export type { ServerCounters } from "./src/cluster/server.ts";
export {
  DEFAULT_PORT,
  parseAddress,
  parseServer,
  type ServerAddress,
  type ServerSpec,
} from "./src/cluster/address.ts";
export {
  type Distribution,
  HashRing,
  type HashRingOptions,
  ketamaPointCount,
  type KeyHash,
  type RingMember,
  type RingPoint,
  type RingServer,
} from "./src/cluster/ring.ts";
export { ketamaHash, md5, md5Words, oneAtATime } from "./src/cluster/hashes.ts";
export { type ErrorCode, isMemcachedError, MemcachedError } from "./src/errors.ts";
export { Credentials } from "./src/connection/credentials.ts";
export type { Protocol } from "./src/dialects/mod.ts";
export { FLAG_BYTES, FLAG_STRING, type Key, type Ttl, type Value } from "./src/protocol/values.ts";
export type { FlagScheme, Serialized, Serializer } from "./src/values/formats.ts";
export type {
  Connector,
  ConnectorOptions,
  Endpoint,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "./src/connection/transport.ts";
