/**
 * A dialect is one wire protocol seen from the client: how each operation becomes a request,
 * and which decoder reads the replies. The client's API is the same for all three; an
 * operation a protocol cannot express safely is refused with `UNSUPPORTED` when its request
 * is made, before any byte is written.
 *
 * @module
 */

import type {
  DecoderOptions,
  MetaArithmeticOptions,
  MetaSetOptions,
  WireKey,
} from "./protocol/mod.ts";
import { ResponseDecoder } from "./protocol/mod.ts";
import {
  ArithmeticRequest,
  BatchGetRequest,
  DeleteRequest,
  flushRequest,
  GetRequest,
  statsRequest,
  StoreRequest,
  TouchRequest,
  type ValueMapper,
  verbosityRequest,
  versionRequest,
} from "./operations.ts";
import type { ReplyDecoder, Request, Settle } from "./request.ts";

/**
 * The wire protocols Mica speaks.
 *
 * @example
 * ```ts
 * import { Client, type Protocol } from "@mica/memcached";
 *
 * const protocol: Protocol = "binary"; // the one with SASL
 * using client = new Client("127.0.0.1:11211", { protocol, username: "app", password: "s3cret" });
 * console.log(client.servers); // ["127.0.0.1:11211"]: connects on the first request
 * ```
 */
export type Protocol = "meta" | "text" | "binary";

/** What a read asks for besides the value and flags. */
export interface ReadSpec {
  /** Also return the CAS token (`gets`). */
  readonly cas?: boolean;
  /** Also set the TTL to this many seconds (`getAndTouch`). */
  readonly touch?: number;
}

/** How a protocol expresses each client operation. */
export interface Dialect {
  /** Makes the decoder of this protocol's replies. */
  decoder(options: DecoderOptions): ReplyDecoder;
  /** get, gets, getAndTouch. */
  get<V>(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    map: ValueMapper<V>,
    spec: ReadSpec,
  ): Request<V | undefined>;
  /** touch: whether the item exists. */
  touch(deadline: number, key: WireKey, base64: boolean, ttl: number): Request<boolean>;
  /** set (resolves undefined), add, replace, append, prepend, cas (whether it stored). */
  store<T extends boolean | undefined>(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    data: Uint8Array | string,
    options: MetaSetOptions,
  ): Request<T>;
  /** delete: whether the item existed. */
  delete(deadline: number, key: WireKey, base64: boolean): Request<boolean>;
  /** incr, decr: the new value, or undefined on a miss. */
  arithmetic(
    deadline: number,
    key: WireKey,
    base64: boolean,
    options: MetaArithmeticOptions,
  ): Request<bigint | undefined>;
  /** One server's part of a getMany: values by key position. */
  batchGet<V>(
    deadline: number,
    wire: readonly WireKey[],
    base64: boolean,
    map: ValueMapper<V>,
    settle?: Settle<(V | undefined)[]>,
  ): Request<(V | undefined)[]>;
  /** version. */
  version(deadline: number): Request<string>;
  /** flush_all. */
  flush(deadline: number, delay: number | undefined): Request<true>;
  /** stats [group]. */
  stats(deadline: number, group: string | undefined): Request<Map<string, string>>;
  /** verbosity. */
  verbosity(deadline: number, level: number): Request<true>;
}

const GET = { value: true, flags: true } as const;
const GETS = { value: true, flags: true, cas: true } as const;

/** memcached's meta protocol (1.6+): opaque tokens on every keyed request. */
export const metaDialect: Dialect = {
  decoder: (options) => new ResponseDecoder(options),
  get: (command, deadline, key, base64, map, spec) =>
    new GetRequest(
      command,
      deadline,
      key,
      base64,
      map,
      spec.touch !== undefined
        ? { value: true, flags: true, cas: spec.cas === true, touch: spec.touch }
        : spec.cas
        ? GETS
        : GET,
    ),
  touch: (deadline, key, base64, ttl) => new TouchRequest(deadline, key, base64, ttl),
  store: (command, deadline, key, base64, data, options) =>
    new StoreRequest(command, deadline, key, base64, data, options),
  delete: (deadline, key, base64) => new DeleteRequest(deadline, key, base64),
  arithmetic: (deadline, key, base64, options) =>
    new ArithmeticRequest(deadline, key, base64, options),
  batchGet: (deadline, wire, base64, map, settle) =>
    new BatchGetRequest(deadline, wire, base64, map, settle),
  version: versionRequest,
  flush: flushRequest,
  stats: statsRequest,
  verbosity: verbosityRequest,
};
