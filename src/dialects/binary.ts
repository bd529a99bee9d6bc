/**
 * The client's operations over memcached's binary protocol, for servers and proxies that
 * demand it (SASL authentication, Couchbase-style buckets).
 *
 * Every request carries an opaque token that its reply must echo, so a reply is never taken
 * for another request's. Keys travel as raw bytes: a base64 key is sent decoded, which is the
 * same item the meta protocol's `b` flag names. `getMany` is quiet gets (`GETQ`, answered only
 * on a hit) closed by a `NOOP`.
 *
 * @module
 */

import { Request, type Settle, tooLargeError } from "../connection/request.ts";
import { MemcachedError } from "../errors.ts";
import {
  type BinaryDeleteOptions,
  type BinaryGetOptions,
  type BinaryResponse,
  BinaryResponseDecoder,
  BinaryStatus,
  type ByteWriter,
  counterValue,
  encodeBinaryArithmetic,
  encodeBinaryDelete,
  encodeBinaryFlush,
  encodeBinaryGet,
  encodeBinaryNoop,
  encodeBinaryStat,
  encodeBinaryStore,
  encodeBinaryTouch,
  encodeBinaryVersion,
  encodeSaslAuth,
  Opcode,
  saslPlainPayload,
  type WireKey,
} from "../protocol/mod.ts";
import type { TextSource } from "../protocol/values.ts";
import { type Dialect, type ValueMapper, WriteManyRequest } from "./dialect.ts";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** The error text of a failed reply (memcached sends a short message as the body). */
function text(r: BinaryResponse): string {
  return r.value === undefined ? "" : utf8.decode(r.value);
}

/** Maps a binary error status to a typed error. */
function binaryError(r: BinaryResponse, command: string): MemcachedError {
  const detail = text(r);
  const what = `status 0x${r.status.toString(16).padStart(2, "0")}${detail ? ` (${detail})` : ""}`;
  switch (r.status) {
    case BinaryStatus.AuthError:
    case BinaryStatus.AuthContinue:
      return new MemcachedError(
        "AUTH_FAILED",
        `Cannot ${command}: the server demands authentication (${what})`,
      );
    case BinaryStatus.ValueTooLarge:
      return tooLargeError(command, what);
    case BinaryStatus.InvalidArguments:
    case BinaryStatus.NonNumeric:
      return new MemcachedError("CLIENT_ERROR", `Cannot ${command}: the server answered ${what}`);
    case BinaryStatus.UnknownCommand:
    case BinaryStatus.NotSupported:
      return new MemcachedError("COMMAND_ERROR", `Cannot ${command}: the server answered ${what}`);
    default:
      return new MemcachedError("SERVER_ERROR", `Cannot ${command}: the server answered ${what}`);
  }
}

/** A request answered by one packet carrying its opaque token. */
abstract class PacketRequest<T> extends Request<T> {
  protected abstract result(r: BinaryResponse, text: TextSource): T;
  /** Statuses that are answers rather than errors (a miss, a CAS conflict). */
  protected accepts(_status: number): boolean {
    return false;
  }

  handle(r: BinaryResponse, text: TextSource): boolean {
    this.expectOpaque(r);
    if (r.status !== BinaryStatus.NoError && !this.accepts(r.status)) {
      this.reject(binaryError(r, this.command));
      return true;
    }
    this.finish(this.result(r, text));
    return true;
  }
}

/** Get options shared by every request (encoders only read them). */
const PLAIN_GET: BinaryGetOptions = {};
const QUIET_GET: BinaryGetOptions = { quiet: true };

class BinaryGetRequest<V> extends PacketRequest<V | undefined> {
  readonly command: string;
  #key: WireKey;
  #base64: boolean;
  #map: ValueMapper<V>;
  #touch: number | undefined;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    map: ValueMapper<V>,
    touch: number | undefined,
  ) {
    super(deadline);
    this.command = command;
    this.#key = key;
    this.#base64 = base64;
    this.#map = map;
    this.#touch = touch;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryGet(
      w,
      this.#key,
      this.#base64,
      this.#touch === undefined ? PLAIN_GET : { touch: this.#touch },
      opaque,
    );
  }

  protected override accepts(status: number): boolean {
    return status === BinaryStatus.KeyNotFound;
  }

  protected result(r: BinaryResponse, text: TextSource): V | undefined {
    return r.status === BinaryStatus.KeyNotFound ? undefined : this.#map(r, text);
  }
}

/** Quiet gets (`GETQ`, one opaque each) and a closing `NOOP`: only hits answer. */
class BinaryBatchGetRequest<V> extends Request<(V | undefined)[]> {
  readonly command = "getMany";
  #wire: readonly WireKey[];
  #base64: boolean;
  #map: ValueMapper<V>;
  #values: (V | undefined)[];
  #last = -1;
  #error: MemcachedError | undefined = undefined;

  constructor(
    deadline: number,
    wire: readonly WireKey[],
    base64: boolean,
    map: ValueMapper<V>,
    settle: Settle<(V | undefined)[]> | undefined,
  ) {
    super(deadline, settle);
    this.#wire = wire;
    this.#base64 = base64;
    this.#map = map;
    this.#values = new Array<V | undefined>(wire.length);
    this.opaqueCount = wire.length + 1;
  }

  encode(w: ByteWriter, opaque: number): void {
    for (let i = 0; i < this.#wire.length; i++) {
      encodeBinaryGet(w, this.#wire[i]!, this.#base64, QUIET_GET, opaque + i);
    }
    encodeBinaryNoop(w, opaque + this.#wire.length);
  }

  handle(r: BinaryResponse, text: TextSource): boolean {
    const index = r.opaque - this.opaque;
    if (index === this.#wire.length) {
      if (this.#error !== undefined) this.reject(this.#error);
      else this.resolve(this.#values);
      return true;
    }
    if (index <= this.#last || index < 0 || index > this.#wire.length) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: getMany got opaque ${r.opaque} outside its batch`,
      );
    }
    this.#last = index;
    if (r.status === BinaryStatus.NoError) this.#values[index] = this.#map(r, text);
    else if (r.status !== BinaryStatus.KeyNotFound) this.#error ??= binaryError(r, this.command);
    return false;
  }
}

class BinaryTouchRequest extends PacketRequest<boolean> {
  readonly command = "touch";
  #key: WireKey;
  #base64: boolean;
  #ttl: number;

  constructor(deadline: number, key: WireKey, base64: boolean, ttl: number) {
    super(deadline);
    this.#key = key;
    this.#base64 = base64;
    this.#ttl = ttl;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryTouch(w, this.#key, this.#base64, this.#ttl, opaque);
  }

  protected override accepts(status: number): boolean {
    return status === BinaryStatus.KeyNotFound;
  }

  protected result(r: BinaryResponse): boolean {
    return r.status === BinaryStatus.NoError;
  }
}

class BinaryStoreRequest<T extends boolean | undefined> extends PacketRequest<T> {
  readonly command: string;
  #mode: "set" | "add" | "replace" | "append" | "prepend";
  #key: WireKey;
  #base64: boolean;
  #data: Uint8Array | string;
  #flags: number;
  #ttl: number;
  #cas: bigint | undefined;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    data: Uint8Array | string,
    mode: "set" | "add" | "replace" | "append" | "prepend",
    flags: number,
    ttl: number,
    cas: bigint | undefined,
  ) {
    super(deadline);
    this.command = command;
    this.#mode = mode;
    this.#key = key;
    this.#base64 = base64;
    this.#data = data;
    this.#flags = flags;
    this.#ttl = ttl;
    this.#cas = cas;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryStore(
      w,
      this.#mode,
      this.#key,
      this.#base64,
      this.#data,
      this.#cas === undefined
        ? { flags: this.#flags, exptime: this.#ttl }
        : { flags: this.#flags, exptime: this.#ttl, cas: this.#cas },
      opaque,
    );
  }

  protected override accepts(status: number): boolean {
    // add on an existing key (KeyExists), replace on a missing one (KeyNotFound),
    // append/prepend on a missing one (ItemNotStored), CAS conflict (KeyExists) or miss.
    return this.command !== "set" &&
      (status === BinaryStatus.KeyExists || status === BinaryStatus.KeyNotFound ||
        status === BinaryStatus.ItemNotStored);
  }

  protected result(r: BinaryResponse): T {
    if (r.status === BinaryStatus.NoError) return (this.command === "set" ? undefined : true) as T;
    return false as T;
  }
}

class BinaryDeleteRequest extends PacketRequest<boolean> {
  readonly command: string;
  #key: WireKey;
  #base64: boolean;
  #options: BinaryDeleteOptions;

  constructor(
    deadline: number,
    key: WireKey,
    base64: boolean,
    command = "delete",
    options: BinaryDeleteOptions = {},
  ) {
    super(deadline);
    this.command = command;
    this.#key = key;
    this.#base64 = base64;
    this.#options = options;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryDelete(w, this.#key, this.#base64, this.#options, opaque);
  }

  protected override accepts(status: number): boolean {
    // KeyExists: a delete with a CAS token that no longer matches.
    return status === BinaryStatus.KeyNotFound || status === BinaryStatus.KeyExists;
  }

  protected result(r: BinaryResponse): boolean {
    return r.status === BinaryStatus.NoError;
  }
}

class BinaryArithmeticRequest extends PacketRequest<bigint | undefined> {
  readonly command: "incr" | "decr";
  #key: WireKey;
  #base64: boolean;
  #delta: bigint;
  #initial: bigint | undefined;
  #ttl: number;

  constructor(
    deadline: number,
    key: WireKey,
    base64: boolean,
    mode: "incr" | "decr",
    delta: bigint,
    initial: bigint | undefined,
    ttl: number,
  ) {
    super(deadline);
    this.command = mode;
    this.#key = key;
    this.#base64 = base64;
    this.#delta = delta;
    this.#initial = initial;
    this.#ttl = ttl;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryArithmetic(
      w,
      this.command,
      this.#key,
      this.#base64,
      this.#delta,
      this.#initial === undefined ? {} : { initial: this.#initial, exptime: this.#ttl },
      opaque,
    );
  }

  protected override accepts(status: number): boolean {
    return status === BinaryStatus.KeyNotFound;
  }

  protected result(r: BinaryResponse): bigint | undefined {
    return r.status === BinaryStatus.KeyNotFound ? undefined : counterValue(r);
  }
}

class BinaryPlainRequest<T> extends PacketRequest<T> {
  readonly command: string;
  #encode: (w: ByteWriter, opaque: number) => void;
  #accept: (r: BinaryResponse) => T;

  constructor(
    command: string,
    deadline: number,
    encode: (w: ByteWriter, opaque: number) => void,
    accept: (r: BinaryResponse) => T,
  ) {
    super(deadline);
    this.command = command;
    this.#encode = encode;
    this.#accept = accept;
  }

  encode(w: ByteWriter, opaque: number): void {
    this.#encode(w, opaque);
  }

  protected result(r: BinaryResponse): T {
    return this.#accept(r);
  }
}

/** `stat [group]`: one packet per statistic, then one with an empty key. */
class BinaryStatsRequest extends Request<Map<string, string>> {
  readonly command = "stats";
  #group: string | undefined;
  #stats = new Map<string, string>();

  constructor(deadline: number, group: string | undefined) {
    super(deadline);
    this.#group = group;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeBinaryStat(w, opaque, this.#group);
  }

  handle(r: BinaryResponse): boolean {
    this.expectOpaque(r);
    if (r.status !== BinaryStatus.NoError) {
      this.reject(binaryError(r, this.command));
      return true;
    }
    if (r.key === undefined || r.key.length === 0) {
      this.resolve(this.#stats);
      return true;
    }
    this.#stats.set(latin1.decode(r.key), r.value === undefined ? "" : latin1.decode(r.value));
    return false;
  }
}

const QUIET_DELETE: BinaryDeleteOptions = { quiet: true };

/**
 * A batch write to one server: `SetQ` or `DeleteQ` per key (answered only on failure; `Touch`
 * has no quiet variant, so every touch is answered), each with the opaque token `first + i`,
 * then a `Noop` with `first + n`. Every reply carries its key's token, so a failure is tied to
 * exactly its key; a key with no reply before the `Noop` was stored or deleted.
 */
class BinaryWriteManyRequest extends WriteManyRequest {
  #last = -1;

  encode(w: ByteWriter, opaque: number): void {
    const { kind, keys, data, flags, ttl } = this.batch;
    const base64 = this.base64;
    for (let i = 0; i < keys.length; i++) {
      if (kind === "set") {
        const options = { flags: flags![i]!, exptime: ttl, quiet: true };
        encodeBinaryStore(w, "set", keys[i]!, base64, data![i]!, options, opaque + i);
      } else if (kind === "delete") {
        encodeBinaryDelete(w, keys[i]!, base64, QUIET_DELETE, opaque + i);
      } else encodeBinaryTouch(w, keys[i]!, base64, ttl, opaque + i);
    }
    encodeBinaryNoop(w, opaque + keys.length);
  }

  handle(r: BinaryResponse): boolean {
    const n = this.batch.keys.length;
    const index = r.opaque - this.opaque;
    if (index === n && r.opcode === Opcode.Noop) {
      for (let i = 0; i < n; i++) {
        if (this.outcomes[i] !== undefined) continue;
        // Every touch is answered; quiet sets and deletes are silent on success.
        if (this.batch.kind === "touch") {
          throw new MemcachedError(
            "PROTOCOL_ERROR",
            `Cannot match reply: ${this.command} got no reply for key ${i + 1} of ${n}`,
          );
        }
        this.outcomes[i] = true;
      }
      this.resolve(this.outcomes);
      return true;
    }
    if (!(index > this.#last && index < n)) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: ${this.command} got opaque ${r.opaque}, expected one of ` +
          `${this.opaque + this.#last + 1}..${this.opaque + n}`,
      );
    }
    const status = r.status;
    this.outcomes[index] = status === BinaryStatus.NoError
      ? true
      : status === BinaryStatus.KeyNotFound || status === BinaryStatus.ItemNotStored ||
          status === BinaryStatus.KeyExists
      ? false
      : binaryError(r, this.command);
    this.#last = index;
    return false;
  }
}

/** SASL PLAIN authentication (memcached `-S`). */
export class SaslAuthRequest extends Request<true> {
  readonly command = "authenticate";
  #credentials: () => { username: string; password: string };

  /** @param credentials Returns the user and password, read only while encoding. */
  constructor(deadline: number, credentials: () => { username: string; password: string }) {
    super(deadline);
    this.#credentials = credentials;
  }

  encode(w: ByteWriter, opaque: number): void {
    const { username, password } = this.#credentials();
    encodeSaslAuth(w, "PLAIN", saslPlainPayload(username, password), opaque);
  }

  handle(r: BinaryResponse): boolean {
    this.expectOpaque(r);
    if (r.status === BinaryStatus.NoError) this.resolve(true);
    else if (r.status === BinaryStatus.AuthError || r.status === BinaryStatus.AuthContinue) {
      this.reject(
        new MemcachedError(
          "AUTH_FAILED",
          "Cannot authenticate: the server refused the SASL PLAIN credentials",
        ),
      );
    } else this.reject(binaryError(r, this.command));
    return true;
  }
}

/** memcached's binary protocol. */
export const binaryDialect: Dialect = {
  handshake: (credentials) => ({
    steps: [(deadline) =>
      new SaslAuthRequest(
        deadline,
        () => credentials.reveal((username, password) => ({ username, password })),
      )],
    decoder: () => new BinaryResponseDecoder(),
  }),
  decoder: (options) => new BinaryResponseDecoder(options),
  get: (command, deadline, key, base64, map, spec) =>
    new BinaryGetRequest(command, deadline, key, base64, map, spec.touch),
  touch: (deadline, key, base64, ttl) => new BinaryTouchRequest(deadline, key, base64, ttl),
  store: (command, deadline, key, base64, data, options) =>
    new BinaryStoreRequest(
      command,
      deadline,
      key,
      base64,
      data,
      options.mode ?? "set",
      options.flags ?? 0,
      options.ttl ?? 0,
      options.cas,
    ),
  delete: (deadline, key, base64) => new BinaryDeleteRequest(deadline, key, base64),
  // No leases: getOrSet is single-flight only, and an invalidation is a delete.
  lease: undefined,
  invalidate: (deadline, key, base64) =>
    new BinaryDeleteRequest(deadline, key, base64, "invalidate"),
  release: (deadline, key, base64, cas) =>
    new BinaryDeleteRequest(deadline, key, base64, "release", { cas }),
  arithmetic: (deadline, key, base64, options) =>
    new BinaryArithmeticRequest(
      deadline,
      key,
      base64,
      options.mode ?? "incr",
      options.delta ?? 1n,
      options.initial,
      options.autoCreateTtl ?? 0,
    ),
  batchGet: (deadline, wire, base64, map, settle) =>
    new BinaryBatchGetRequest(deadline, wire, base64, map, settle),
  writeMany: (deadline, batch, base64, settle) =>
    new BinaryWriteManyRequest(deadline, batch, base64, settle, batch.keys.length + 1),
  noop: (deadline) =>
    new BinaryPlainRequest("noop", deadline, encodeBinaryNoop, () => true as const),
  version: (deadline) =>
    new BinaryPlainRequest("version", deadline, encodeBinaryVersion, (r) => text(r)),
  flush: (deadline, delay) =>
    new BinaryPlainRequest(
      "flush",
      deadline,
      (w, opaque) => encodeBinaryFlush(w, opaque, delay),
      () => true as const,
    ),
  stats: (deadline, group) => new BinaryStatsRequest(deadline, group),
  verbosity: () => {
    // memcached 1.6 does not implement the binary VERBOSITY command: it answers "Unknown
    // command" without reading the packet's extras, and then parses those 4 bytes as the start
    // of the next packet, so every later reply on the connection would be out of step.
    throw new MemcachedError(
      "UNSUPPORTED",
      'Cannot verbosity over the binary protocol: memcached does not implement it (use "meta" ' +
        'or "text")',
    );
  },
};
