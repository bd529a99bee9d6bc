/**
 * What the layers of the client share: the checked settings, the {@linkcode Cluster} requests go
 * through, and the steps commands are made of (check the arguments, have the dialect make the
 * request, submit it, follow it for metrics). Internal: the public classes
 * ({@linkcode ClientBase} and its subclasses up to `Client`) hold one each and call it.
 *
 * @module
 */

import {
  checkCas,
  checkFlags,
  type GetOptions,
  type IncrOptions,
  Readers,
  type RequestOptions,
  type ServerOptionsArg,
  type SetOptions,
  type WriteManyOptions,
} from "../call_options.ts";
import type { ServerAddress } from "../cluster/address.ts";
import { Cluster } from "../cluster/cluster.ts";
import { ManyCall, WriteManyResult } from "../cluster/many.ts";
import { resolve } from "../connection_string.ts";
import { now as clockNow } from "../connection/clock.ts";
import type { Request } from "../connection/request.ts";
import {
  type Dialect,
  type Protocol,
  type ReadSpec,
  type ValueMapper,
  WRITE_COMMAND,
  type WriteBatch,
  type WriteKind,
} from "../dialects/mod.ts";
import { emitter } from "../events.ts";
import { Count, Observer, tracing } from "../observe.ts";
import { type ClientOptions, positive, settings } from "../options.ts";
import type { SetMode } from "../protocol/mod.ts";
import {
  checkItem,
  checkValue,
  type Key,
  typeFlags,
  u64,
  type Value,
  wireTtl,
} from "../protocol/values.ts";
import { Stampede, type StampedeHost } from "../stampede.ts";
import type { ValueCodec } from "../values/codec.ts";
import type { Serialized } from "../values/formats.ts";

/** What a plain read asks for: the value only. */
export const READ: ReadSpec = {};
/** What `gets` asks for: the value and its CAS token. */
export const READ_CAS: ReadSpec = { cas: true };
const newWriteManyResult = <K extends Key>() => new WriteManyResult<K>();

/**
 * A client's settings, cluster and command steps. Each method checks what it is given and
 * returns a promise that rejects (never throws) on bad input, as the public methods promise.
 */
export class ClientCore {
  readonly cluster: Cluster;
  readonly emit: ReturnType<typeof emitter>;
  readonly protocol: Protocol;
  readonly dialect: Dialect;
  readonly closeTimeout: number;
  readonly maxValueSize: number;
  readonly codec: ValueCodec;
  readonly readers: Readers;
  readonly observer: Observer;
  readonly base64: boolean;
  readonly defaultTtl: number;
  readonly stampede: Stampede;
  readonly #timeout: number;
  readonly #metrics: boolean;

  /**
   * Checks the address and options and builds the cluster; nothing connects yet.
   *
   * @param target The client: events are dispatched on it.
   */
  constructor(
    target: EventTarget,
    address: ServerAddress | readonly ServerAddress[] | undefined,
    options: ClientOptions,
  ) {
    const { servers, options: merged } = resolve(address, options);
    const s = settings(servers, merged);
    this.dialect = s.dialect;
    this.protocol = s.protocol;
    this.#timeout = s.timeout;
    this.closeTimeout = s.closeTimeout;
    this.maxValueSize = s.maxValueSize;
    this.codec = s.codec;
    this.readers = new Readers(s.codec);
    this.observer = new Observer(s.metrics, s.protocol);
    this.#metrics = s.metrics;
    this.base64 = s.base64;
    this.defaultTtl = s.defaultTtl;
    this.emit = emitter(target, s.logger);
    this.cluster = new Cluster(s.specs, { ...s.cluster, emit: this.emit });
    this.stampede = new Stampede(this.#stampedeHost());
  }

  /** Follows a command for the metrics and traces, when they are on. */
  watch<T>(command: string, key: Key | undefined, keys: number, count: Count, p: Promise<T>) {
    if (!this.#metrics && !tracing.hasSubscribers) return p;
    return this.observer.observe(command, key, keys, count, p);
  }

  /** When a request made now must be answered: `timeout` or the client's default from now. */
  deadline(options: RequestOptions | undefined): number {
    const timeout = options?.timeout;
    return clockNow() + (timeout === undefined ? this.#timeout : positive("timeout", timeout, 0));
  }

  /** Sends a one-key request to the key's server and follows it. */
  submit<T>(command: string, key: Key, request: Request<T>, options: RequestOptions | undefined) {
    return this.watch(
      command,
      key,
      1,
      Count.None,
      this.cluster.submit(request, options?.signal, key),
    );
  }

  /** Sends a request to one server (`options.server`, or the first live one) and follows it. */
  submitTo<T>(command: string, request: Request<T>, options: ServerOptionsArg | undefined) {
    return this.watch(
      command,
      undefined,
      0,
      Count.None,
      this.cluster.submitTo(request, options?.signal, options?.server),
    );
  }

  /** A one-key read: `get`, `gets` (`item`) or `getAndTouch` (the spec's `touch`). */
  read<T>(
    command: string,
    key: Key,
    options: GetOptions | undefined,
    item: boolean,
    spec: ReadSpec,
  ): Promise<T | undefined> {
    try {
      const cluster = this.cluster;
      const deadline = this.deadline(options);
      const wire = cluster.wireKey(key);
      const as = options?.as;
      // A plain read (no `as`) takes the codec's reader straight: the path of every `get`.
      const map = (as === undefined && !item
        ? this.codec.decode
        : item
        ? this.readers.item(as)
        : this.readers.value(as)) as ValueMapper<T>;
      const request = this.dialect.get(command, deadline, wire, this.base64, map, spec);
      return this.watch(command, key, 1, Count.One, cluster.submit(request, options?.signal, key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A one-key store: `set`, `add`, `replace`, `append`, `prepend`, or `cas` with `cas`. */
  store<T extends boolean | undefined>(
    command: string,
    mode: SetMode,
    key: Key,
    value: unknown,
    options: SetOptions | undefined,
    cas: bigint | undefined,
  ): Promise<T> {
    try {
      const wireKey = this.cluster.wireKey(key);
      let data: Value;
      let flags: number;
      if (options?.flags !== undefined) {
        flags = checkFlags(command, options.flags);
        data = checkValue(value as Value, this.maxValueSize);
      } else if (mode === "append" || mode === "prepend" || this.codec.passes(value)) {
        // Raw data (append/prepend), or what Mica's scheme stores as it is: no detour.
        data = checkValue(value as Value, this.maxValueSize);
        flags = typeFlags(data);
      } else ({ data, flags } = this.codec.encode(value));
      checkItem(command, wireKey, this.base64, data, flags, this.maxValueSize);
      const ttl = wireTtl(options?.ttl ?? this.defaultTtl, Date.now());
      if (cas !== undefined) checkCas(command, cas);
      const request = this.dialect.store<T>(
        command,
        this.deadline(options),
        wireKey,
        this.base64,
        data,
        cas === undefined ? { mode, ttl, flags } : { mode, ttl, flags, cas },
      );
      return this.submit(command, key, request, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * What to store for a value: through the codec, or the value itself (a string or bytes) with
   * the raw `flags` the caller gave.
   */
  encode(value: unknown, flags: number | undefined): Serialized {
    if (flags === undefined) return this.codec.encode(value);
    return { data: checkValue(value as Value, this.maxValueSize), flags };
  }

  /** `incr` or `decr`, creating a missing counter when `initial` is given. */
  arithmetic(
    mode: "incr" | "decr",
    key: Key,
    delta: number | bigint,
    options: IncrOptions | undefined,
  ): Promise<bigint | undefined> {
    try {
      const wireKey = this.cluster.wireKey(key);
      const d = u64("delta", delta);
      const initial = options?.initial === undefined ? undefined : u64("initial", options.initial);
      const ttl = options?.ttl === undefined ? 0 : wireTtl(options.ttl, Date.now());
      const request = this.dialect.arithmetic(
        this.deadline(options),
        wireKey,
        this.base64,
        initial === undefined
          ? { mode, delta: d }
          : { mode, delta: d, initial, autoCreateTtl: ttl },
      );
      return this.submit(mode, key, request, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends a batch write: each server's part carries its keys' data and flags. */
  writeMany<K extends Key>(
    kind: WriteKind,
    list: readonly K[],
    options: WriteManyOptions | undefined,
    ttl: number,
    data: readonly (Uint8Array | string)[] | undefined,
    flags: readonly number[] | undefined,
  ): Promise<WriteManyResult<K>> {
    const deadline = this.deadline(options);
    const { writeMany } = this.dialect;
    const base64 = this.base64;
    const call = new ManyCall(list, options?.allOrNothing === true, newWriteManyResult<K>, true);
    const pick = <T>(values: readonly T[] | undefined, at: readonly number[] | undefined) =>
      values === undefined || at === undefined ? values : at.map((i) => values[i]!);
    const command = WRITE_COMMAND[kind];
    const done = this.cluster.many(command, list, call, options?.signal, (keys, at, settle) => {
      const batch: WriteBatch = kind === "set"
        ? { kind, keys, ttl, data: pick(data, at)!, flags: pick(flags, at)! }
        : { kind, keys, ttl };
      return writeMany(deadline, batch, base64, settle);
    });
    return this.watch(command, undefined, list.length, Count.None, done);
  }

  /** The requests `getOrSet` is made of. */
  #stampedeHost(): StampedeHost {
    const dialect = this.dialect;
    const lease = dialect.lease;
    const cluster = this.cluster;
    const base64 = this.base64;
    return {
      wireKey: (key) => cluster.wireKey(key),
      lease: lease === undefined ? undefined : (key, vivify, recache, options) => {
        const map = this.readers.value("auto");
        const request = lease(
          this.deadline(options),
          cluster.wireKey(key),
          base64,
          map,
          { vivify, recache },
        );
        return cluster.submit(request, options.signal, key);
      },
      get: (key, options) => this.read<unknown>("get", key, options, false, READ),
      store: (key, value, ttl, cas, options) => {
        const set = ttl === undefined ? options : { ...options, ttl };
        return cas === undefined
          ? this.store<undefined>("set", "set", key, value, set, undefined)
          : this.store("cas", "set", key, value, set, cas);
      },
      release: (key, cas, options) =>
        cluster.submit(
          dialect.release(this.deadline(options), cluster.wireKey(key), base64, cas),
          options.signal,
          key,
        ),
      signal: cluster.signal,
      report: (key, error) => this.emit("refresh-error", { key, error }),
    };
  }
}
