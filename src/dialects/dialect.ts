/**
 * A dialect is one wire protocol seen from the client: how each operation becomes a request,
 * and which decoder reads the replies. The client's API is the same for all three; an
 * operation a protocol cannot express safely is refused with `UNSUPPORTED` when its request
 * is made, before any byte is written.
 *
 * @module
 */

import type { Handshake } from "../connection/handshake.ts";
import type { Credentials } from "../connection/credentials.ts";
import { type ReplyDecoder, Request, type Settle } from "../connection/request.ts";
import { MemcachedError } from "../errors.ts";
import type {
  DecoderOptions,
  MetaArithmeticOptions,
  MetaSetOptions,
  WireKey,
} from "../protocol/mod.ts";
import type { TextSource, ValueReply } from "../protocol/values.ts";

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

/**
 * What a lease read (`mg` with `N` and `R`) found: the item's value (undefined when it is an
 * empty placeholder, or missing), its CAS token, and the lease marks of the reply (`LEASE_WIN`,
 * `LEASE_STALE`, `LEASE_TAKEN`).
 */
export interface Lease<V> {
  readonly value: V | undefined;
  readonly cas: bigint;
  readonly marks: number;
}

/** What a batch write does to each of its keys. */
export type WriteKind = "set" | "delete" | "touch";

/** One server's part of a `setMany`, `deleteMany` or `touchMany`. */
export interface WriteBatch {
  readonly kind: WriteKind;
  /** The keys' wire forms, in the caller's order. */
  readonly keys: readonly WireKey[];
  /** `set`: each key's data, by the same index. */
  readonly data?: readonly (Uint8Array | string)[];
  /** `set`: each key's client flags, by the same index. */
  readonly flags?: readonly number[];
  /** `set` and `touch`: the TTL as sent. */
  readonly ttl: number;
}

/**
 * A batch write's outcome for one key: stored / existed (`true` or `false`), or the error the
 * server answered for it.
 */
export type WriteOutcome = boolean | MemcachedError;

/** The command name of a batch write, for messages. */
export const WRITE_COMMAND: Readonly<Record<WriteKind, string>> = {
  set: "setMany",
  delete: "deleteMany",
  touch: "touchMany",
};

/** The base of each protocol's batch write: its batch, and an outcome slot per key. */
export abstract class WriteManyRequest extends Request<(WriteOutcome | undefined)[]> {
  readonly command: string;
  protected readonly batch: WriteBatch;
  protected readonly base64: boolean;
  /** The outcome of each key, by the batch's key order. */
  protected readonly outcomes: (WriteOutcome | undefined)[];

  /** @param opaqueCount How many opaque tokens the batch uses. */
  constructor(
    deadline: number,
    batch: WriteBatch,
    base64: boolean,
    settle: Settle<(WriteOutcome | undefined)[]>,
    opaqueCount: number,
  ) {
    super(deadline, settle);
    this.opaqueCount = opaqueCount;
    this.command = WRITE_COMMAND[batch.kind];
    this.batch = batch;
    this.base64 = base64;
    this.outcomes = new Array<WriteOutcome | undefined>(batch.keys.length);
  }
}

/** How a protocol expresses each client operation. */
export interface Dialect {
  /**
   * The authentication each new connection of this protocol runs before its first request.
   *
   * @throws {MemcachedError} `INVALID_ARGUMENT` for credentials the protocol cannot send.
   */
  handshake(credentials: Credentials): Handshake;
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
  /**
   * A lease read, on protocols that have leases (meta); undefined on the others, whose
   * `getOrSet` is single-flight only.
   */
  readonly lease:
    | (<V>(
      deadline: number,
      key: WireKey,
      base64: boolean,
      map: ValueMapper<V>,
      spec: { readonly vivify: number; readonly recache: number | undefined },
    ) => Request<Lease<V> | undefined>)
    | undefined;
  /**
   * Marks an item stale for `ttl` seconds instead of deleting it (meta `md I T`), so readers
   * keep getting it while one refreshes it; a plain delete elsewhere. Whether it existed.
   */
  invalidate(deadline: number, key: WireKey, base64: boolean, ttl: number): Request<boolean>;
  /** Deletes the item only if its CAS token is still `cas` (releasing a lease). */
  release(deadline: number, key: WireKey, base64: boolean, cas: bigint): Request<boolean>;
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
  /**
   * One server's part of a batch write: an outcome per key, by the batch's key order.
   *
   * @throws {MemcachedError} `UNSUPPORTED` for what the protocol cannot send.
   */
  writeMany(
    deadline: number,
    batch: WriteBatch,
    base64: boolean,
    settle: Settle<(WriteOutcome | undefined)[]>,
  ): Request<(WriteOutcome | undefined)[]>;
  /** version. */
  version(deadline: number): Request<string>;
  /** A round trip that reads and writes nothing: `mn`, binary `Noop` (text: `version`). */
  noop(deadline: number): Request<true>;
  /** flush_all. */
  flush(deadline: number, delay: number | undefined): Request<true>;
  /** stats [group]. */
  stats(deadline: number, group: string | undefined): Request<Map<string, string>>;
  /** verbosity. */
  verbosity(deadline: number, level: number): Request<true>;
}

/** A reply of a kind the request cannot get: the stream is out of step. */
export function unexpected(command: string, r: { readonly status: string }): MemcachedError {
  return new MemcachedError(
    "PROTOCOL_ERROR",
    `Cannot ${command}: unexpected reply ${r.status}`,
  );
}

/** Turns a value reply (meta `VA`, text `VALUE`, binary get) into what the caller gets. */
export type ValueMapper<V> = (r: ValueReply, text: TextSource) => V;

/**
 * What a store resolves with: `undefined` for a `set` (which always stores), else whether it
 * stored. A `set` the server did not store is rejected as a `SERVER_ERROR`: the reply was still
 * read, so the stream stays in step.
 */
export function storeOutcome<T>(request: Request<T>, stored: boolean, status: string): T {
  if (request.command !== "set") return stored as T;
  if (!stored) {
    request.reject(
      new MemcachedError("SERVER_ERROR", `Cannot set: the server answered ${status}`),
    );
  }
  return undefined as T;
}
