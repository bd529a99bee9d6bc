/**
 * The requests of every client operation: how each is encoded and how its replies are read.
 *
 * @module
 */

import { isErrorReply, Request, serverError, type Settle } from "../connection/request.ts";
import { MemcachedError } from "../errors.ts";
import {
  type ByteWriter,
  encodeMetaArithmetic,
  encodeMetaDelete,
  encodeMetaGet,
  encodeMetaNoop,
  encodeMetaSet,
  LEASE_STALE,
  LEASE_TAKEN,
  LEASE_WIN,
  type MetaArithmeticOptions,
  type MetaDeleteOptions,
  type MetaGetOptions,
  type MetaSetOptions,
  type Response,
  ResponseDecoder,
  type WireKey,
} from "../protocol/mod.ts";
import type { TextSource } from "../protocol/values.ts";
import {
  flushRequest,
  metaNoopRequest,
  statsRequest,
  verbosityRequest,
  versionRequest,
} from "./_plain.ts";
import {
  type Dialect,
  type Lease,
  storeOutcome,
  unexpected,
  type ValueMapper,
  WriteManyRequest,
} from "./dialect.ts";
import { MultiGetRequest, textHandshake } from "./text.ts";

/** A request on one key answered by one meta reply carrying its opaque token. */
abstract class KeyRequest<T> extends Request<T> {
  readonly key: WireKey;
  readonly base64: boolean;

  constructor(deadline: number, key: WireKey, base64: boolean) {
    super(deadline);
    this.key = key;
    this.base64 = base64;
  }

  /** Turns the reply into the caller's result, or throws `PROTOCOL_ERROR`. */
  protected abstract result(r: Response, text: TextSource): T;

  handle(r: Response, text: TextSource): boolean {
    if (isErrorReply(r)) {
      this.reject(serverError(r, this.command));
      return true;
    }
    this.expectOpaque(r);
    this.finish(this.result(r, text));
    return true;
  }
}

/** `mg <key> v f [c] [T<ttl>]`: get, gets, getAndTouch. */
export class GetRequest<V> extends KeyRequest<V | undefined> {
  readonly command: string;
  #options: MetaGetOptions;
  #map: ValueMapper<V>;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    map: ValueMapper<V>,
    options: MetaGetOptions,
  ) {
    super(deadline, key, base64);
    this.command = command;
    this.#map = map;
    this.#options = options;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaGet(w, this.key, this.base64, this.#options, opaque);
  }

  protected result(r: Response, text: TextSource): V | undefined {
    if (r.status === "VA") return this.#map(r, text);
    if (r.status === "EN") return undefined;
    throw unexpected(this.command, r);
  }
}

/** `mg <key> T<ttl>`: touch. Resolves whether the item exists. */
export class TouchRequest extends KeyRequest<boolean> {
  readonly command = "touch";
  #ttl: number;

  constructor(deadline: number, key: WireKey, base64: boolean, ttl: number) {
    super(deadline, key, base64);
    this.#ttl = ttl;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaGet(w, this.key, this.base64, { touch: this.#ttl }, opaque);
  }

  protected result(r: Response): boolean {
    if (r.status === "HD") return true;
    if (r.status === "EN") return false;
    throw unexpected(this.command, r);
  }
}

/**
 * `ms <key> <len> ...`: set, add, replace, append, prepend, cas. Resolves whether it stored
 * (`set`, which always stores, resolves `undefined`).
 */
export class StoreRequest<T extends boolean | undefined = boolean> extends KeyRequest<T> {
  readonly command: string;
  #data: Uint8Array | string;
  #options: MetaSetOptions;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    base64: boolean,
    data: Uint8Array | string,
    options: MetaSetOptions,
  ) {
    super(deadline, key, base64);
    this.command = command;
    this.#data = data;
    this.#options = options;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaSet(w, this.key, this.base64, this.#data, this.#options, opaque);
  }

  protected result(r: Response): T {
    switch (r.status) {
      case "HD":
        return storeOutcome(this, true, r.status);
      case "NS": // add on an existing key, replace/append/prepend on a missing one
      case "EX": // CAS token no longer matches
      case "NF": // CAS on a missing key
        return storeOutcome(this, false, r.status);
      default:
        throw unexpected(this.command, r);
    }
  }
}

/** `md <key>`: delete. Resolves whether the item existed. */
export class DeleteRequest extends KeyRequest<boolean> {
  readonly command: string;
  #options: MetaDeleteOptions;

  constructor(
    deadline: number,
    key: WireKey,
    base64: boolean,
    command = "delete",
    options: MetaDeleteOptions = {},
  ) {
    super(deadline, key, base64);
    this.command = command;
    this.#options = options;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaDelete(w, this.key, this.base64, this.#options, opaque);
  }

  protected result(r: Response): boolean {
    if (r.status === "HD") return true;
    if (r.status === "NF" || r.status === "EX") return false; // EX: the CAS token changed
    throw unexpected(this.command, r);
  }
}

/**
 * `mg <key> v f c N<vivify> [R<recache>]`: a read that takes part in memcached's leases. On a
 * miss memcached creates an empty placeholder and hands the first caller the win (`W`); later
 * callers see the placeholder with `Z`. A stale item (`X`), or one whose TTL is below `R`,
 * is served with the win to one caller only.
 */
class LeaseRequest<V> extends KeyRequest<Lease<V> | undefined> {
  readonly command = "getOrSet";
  #map: ValueMapper<V>;
  #options: MetaGetOptions;

  constructor(
    deadline: number,
    key: WireKey,
    base64: boolean,
    map: ValueMapper<V>,
    vivify: number,
    recache: number | undefined,
  ) {
    super(deadline, key, base64);
    this.#map = map;
    this.#options = recache === undefined
      ? { value: true, flags: true, cas: true, vivify }
      : { value: true, flags: true, cas: true, vivify, recache };
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaGet(w, this.key, this.base64, this.#options, opaque);
  }

  protected result(r: Response, text: TextSource): Lease<V> | undefined {
    if (r.status === "EN") return undefined;
    if (r.status !== "VA") throw unexpected(this.command, r);
    const marks = r.lease;
    // A vivified placeholder is empty and not stale; whoever holds its win fills it.
    const placeholder = r.value!.length === 0 && (marks & LEASE_STALE) === 0 &&
      (marks & (LEASE_WIN | LEASE_TAKEN)) !== 0;
    const value = placeholder ? undefined : this.#map(r, text);
    if (value instanceof MemcachedError) return value as never; // finish() rejects with it
    return { value, cas: r.cas ?? 0n, marks };
  }
}

const ASCII_DIGITS = /^[0-9]{1,20}$/;

/** `ma <key> ...`: incr, decr. Resolves the new value, or undefined on a miss. */
export class ArithmeticRequest extends KeyRequest<bigint | undefined> {
  readonly command: string;
  #options: MetaArithmeticOptions;

  constructor(
    deadline: number,
    key: WireKey,
    base64: boolean,
    options: MetaArithmeticOptions,
  ) {
    super(deadline, key, base64);
    this.command = options.mode ?? "incr";
    this.#options = options;
  }

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaArithmetic(w, this.key, this.base64, this.#options, opaque);
  }

  protected result(r: Response): bigint | undefined {
    if (r.status === "VA") {
      let text = "";
      for (const b of r.value!) text += String.fromCharCode(b);
      if (!ASCII_DIGITS.test(text)) throw unexpected(this.command, r);
      return BigInt(text);
    }
    if (r.status === "NF" || r.status === "NS") return undefined;
    throw unexpected(this.command, r);
  }
}

const BATCH_OPTIONS: MetaGetOptions = { value: true, flags: true };

/**
 * Gets of many base64 keys, one `mg` each, answered in order (`VA`, `EN`, or an error line), so
 * the batch ends with the reply to its last key. Other keys go as one text `get` line
 * (`MultiGetRequest`), which costs memcached less per key. Not quiet: memcached spends
 * measurably more time per key on quiet gets and their closing `mn` than on plain ones.
 *
 * Only the first and the last key carry an opaque token (one key: that key). A reply is taken
 * as the next key's, and the batch resolves only when the first and last replies carry the
 * expected tokens and no reply in between carries one, so a missing or extra reply shifts the
 * last token and fails the connection instead of handing a value to the wrong key. Any error
 * line rejects the whole batch.
 */
export class BatchGetRequest<V> extends Request<(V | undefined)[]> {
  readonly command = "getMany";
  #wire: readonly WireKey[];
  #base64: boolean;
  #map: ValueMapper<V>;
  #values: (V | undefined)[];
  #next = 0;
  #error: MemcachedError | undefined = undefined;

  constructor(
    deadline: number,
    wire: readonly WireKey[],
    base64: boolean,
    map: ValueMapper<V>,
    settle?: Settle<(V | undefined)[]>,
  ) {
    super(deadline, settle);
    this.#wire = wire;
    this.#base64 = base64;
    this.#map = map;
    this.#values = new Array<V | undefined>(wire.length);
    // Two tokens: `opaque` for the first key, `opaque + 1` for the last.
    this.opaqueCount = 2;
  }

  encode(w: ByteWriter, opaque: number): void {
    const wire = this.#wire;
    const last = wire.length - 1;
    const base64 = this.#base64;
    encodeMetaGet(w, wire[0]!, base64, BATCH_OPTIONS, opaque);
    for (let i = 1; i < last; i++) encodeMetaGet(w, wire[i]!, base64, BATCH_OPTIONS, -1);
    if (last > 0) encodeMetaGet(w, wire[last]!, base64, BATCH_OPTIONS, opaque + 1);
  }

  handle(r: Response, text: TextSource): boolean {
    const index = this.#next++;
    const last = this.#wire.length - 1;
    if (isErrorReply(r)) {
      // Error lines carry no opaque token; one stands for this key's reply.
      this.#error ??= serverError(r, this.command);
    } else {
      const expected = index === 0 ? this.opaque : index === last ? this.opaque + 1 : -1;
      if (r.opaque !== expected) {
        throw new MemcachedError(
          "PROTOCOL_ERROR",
          `Cannot match reply: getMany expected ${
            expected < 0 ? "no opaque token" : `opaque ${expected}`
          } on reply ${index + 1} of ${last + 1}, got ${r.opaque < 0 ? "none" : r.opaque}`,
        );
      }
      if (r.status === "VA") this.#values[index] = this.#map(r, text);
      else if (r.status !== "EN") throw unexpected(this.command, r);
    }
    if (index < last) return false;
    if (this.#error !== undefined) this.reject(this.#error);
    else this.resolve(this.#values);
    return true;
  }
}

const QUIET_DELETE: MetaDeleteOptions = { quiet: true };

/**
 * A batch write to one server: one quiet command per key (`ms` / `md` / `mg T<ttl>` with `q`
 * and an opaque token `O<first + i>`), then `mn`. A quiet command answers only when its outcome
 * is not the usual one (`ms`: `NS`; `md`: `NF`; `mg`: `HD`, a hit), so a key the server says
 * nothing about before `MN` has the usual outcome. Replies come in key order and carry their
 * key's token; one that skips backwards or past the batch drops the connection.
 *
 * An error line (`SERVER_ERROR ...`) carries no token: it belongs to one of the keys between
 * the last key answered and the next, so each of those keys is reported with that error (it
 * may have been stored or not; the caller can retry them).
 */
class QuietWriteRequest extends WriteManyRequest {
  /** The index of the last key answered. */
  #last = -1;
  /** An error line not yet tied to keys: it belongs to one after `#last`. */
  #error: MemcachedError | undefined = undefined;

  encode(w: ByteWriter, opaque: number): void {
    const { kind, keys, data, flags, ttl } = this.batch;
    const base64 = this.base64;
    for (let i = 0; i < keys.length; i++) {
      if (kind === "set") {
        const options = { ttl, flags: flags![i]!, quiet: true };
        encodeMetaSet(w, keys[i]!, base64, data![i]!, options, opaque + i);
      } else if (kind === "delete") {
        encodeMetaDelete(w, keys[i]!, base64, QUIET_DELETE, opaque + i);
      } else encodeMetaGet(w, keys[i]!, base64, { touch: ttl, quiet: true }, opaque + i);
    }
    encodeMetaNoop(w);
  }

  handle(r: Response): boolean {
    const n = this.batch.keys.length;
    if (r.status === "MN") {
      this.#tie(n);
      // Keys the server said nothing about had the usual outcome.
      const silent = this.batch.kind !== "touch";
      for (let i = 0; i < n; i++) this.outcomes[i] ??= silent;
      this.resolve(this.outcomes);
      return true;
    }
    if (isErrorReply(r)) {
      this.#error ??= serverError(r, this.command);
      return false;
    }
    const index = r.opaque - this.opaque;
    if (!(index > this.#last && index < n)) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: ${this.command} got ${r.status} with opaque ${r.opaque}, ` +
          `expected one of ${this.opaque + this.#last + 1}..${this.opaque + n - 1}`,
      );
    }
    this.#tie(index);
    this.outcomes[index] = this.#outcome(r);
    this.#last = index;
    return false;
  }

  /** What a reply says of its key. */
  #outcome(r: Response): boolean {
    const { kind } = this.batch;
    const status = r.status;
    if (kind === "set" && (status === "NS" || status === "EX" || status === "NF")) return false;
    if (kind === "delete" && status === "NF") return false;
    if (kind === "touch" && (status === "HD" || status === "EN")) return status === "HD";
    throw unexpected(this.command, r);
  }

  /** Ties a pending error line to the keys between the last one answered and `next`. */
  #tie(next: number): void {
    const error = this.#error;
    if (error === undefined) return;
    if (next - this.#last <= 1) {
      throw new MemcachedError(
        "PROTOCOL_ERROR",
        `Cannot match reply: ${this.command} got an error line with no key left to answer for`,
      );
    }
    for (let i = this.#last + 1; i < next; i++) this.outcomes[i] = error;
    this.#error = undefined;
  }
}

const GET = { value: true, flags: true } as const;
const GETS = { value: true, flags: true, cas: true } as const;

/** memcached's meta protocol (1.6+): opaque tokens on every keyed request. */
export const metaDialect: Dialect = {
  handshake: textHandshake,
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
  lease: (deadline, key, base64, map, spec) =>
    new LeaseRequest(deadline, key, base64, map, spec.vivify, spec.recache),
  invalidate: (deadline, key, base64, ttl) =>
    new DeleteRequest(deadline, key, base64, "invalidate", { invalidate: true, ttl }),
  release: (deadline, key, base64, cas) =>
    new DeleteRequest(deadline, key, base64, "release", { cas }),
  arithmetic: (deadline, key, base64, options) =>
    new ArithmeticRequest(deadline, key, base64, options),
  // One text `get` line per server (memcached's cheapest multi-key read), but for base64 keys,
  // which only `mg` can carry.
  batchGet: (deadline, wire, base64, map, settle) =>
    base64
      ? new BatchGetRequest(deadline, wire, base64, map, settle)
      : new MultiGetRequest(deadline, wire, map, settle),
  writeMany: (deadline, batch, base64, settle) =>
    new QuietWriteRequest(deadline, batch, base64, settle, batch.keys.length),
  version: versionRequest,
  noop: metaNoopRequest,
  flush: flushRequest,
  stats: statsRequest,
  verbosity: verbosityRequest,
};
