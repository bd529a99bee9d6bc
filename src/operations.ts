/**
 * The requests of every client operation: how each is encoded and how its replies are read.
 *
 * @module
 */

import { MemcachedError } from "./errors.ts";
import {
  type ByteWriter,
  encodeFlushAll,
  encodeMetaArithmetic,
  encodeMetaDelete,
  encodeMetaGet,
  encodeMetaSet,
  encodeStats,
  encodeVerbosity,
  encodeVersion,
  type MetaArithmeticOptions,
  type MetaGetOptions,
  type MetaSetOptions,
  type Response,
  type WireKey,
} from "./protocol/mod.ts";
import { isErrorReply, Request, serverError, type Settle } from "./request.ts";
import type { TextSource, ValueReply } from "./values.ts";

/** A reply of a kind the request cannot get: the stream is out of step. */
export function unexpected(command: string, r: { readonly status: string }): MemcachedError {
  return new MemcachedError(
    "PROTOCOL_ERROR",
    `Cannot ${command}: unexpected reply ${r.status}`,
  );
}

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
    this.resolve(this.result(r, text));
    return true;
  }
}

/** Turns a value reply (meta `VA`, text `VALUE`, binary get) into what the caller gets. */
export type ValueMapper<V> = (r: ValueReply, text: TextSource) => V;

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

/** `md <key>`: delete. Resolves whether the item existed. */
export class DeleteRequest extends KeyRequest<boolean> {
  readonly command = "delete";

  encode(w: ByteWriter, opaque: number): void {
    encodeMetaDelete(w, this.key, this.base64, {}, opaque);
  }

  protected result(r: Response): boolean {
    if (r.status === "HD") return true;
    if (r.status === "NF") return false;
    throw unexpected(this.command, r);
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
 * Gets of many keys, one `mg` each, answered in order (`VA`, `EN`, or an error line), so the
 * batch ends with the reply to its last key. Not quiet: memcached spends measurably more time
 * per key on quiet gets and their closing `mn` than on plain ones.
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

/**
 * What a plain command's reply carries. Meta and text replies both have it: the plain commands
 * are the same bytes in both protocols, and so are their replies.
 */
export interface PlainReply {
  readonly status: string;
  readonly message: string;
  readonly stats: Map<string, string> | undefined;
}

/** The plain commands of the meta and text protocols: `version`, `flush_all`, `stats`, `verbosity`. */
export class PlainRequest<T> extends Request<T> {
  readonly command: string;
  #encode: (w: ByteWriter) => void;
  #accept: (r: PlainReply) => T | undefined;

  constructor(
    command: string,
    deadline: number,
    encode: (w: ByteWriter) => void,
    accept: (r: PlainReply) => T | undefined,
  ) {
    super(deadline);
    this.command = command;
    this.opaqueCount = 0;
    this.#encode = encode;
    this.#accept = accept;
  }

  encode(w: ByteWriter): void {
    this.#encode(w);
  }

  handle(r: PlainReply): boolean {
    if (isErrorReply(r)) {
      this.reject(serverError(r, this.command));
      return true;
    }
    const value = this.#accept(r);
    if (value === undefined) throw unexpected(this.command, r);
    this.resolve(value);
    return true;
  }
}

/** `version`. */
export function versionRequest(deadline: number): PlainRequest<string> {
  return new PlainRequest(
    "version",
    deadline,
    encodeVersion,
    (r) => r.status === "VERSION" ? r.message : undefined,
  );
}

/** `flush_all [delay]`. */
export function flushRequest(deadline: number, delay: number | undefined): PlainRequest<true> {
  return new PlainRequest(
    "flush",
    deadline,
    (w) => encodeFlushAll(w, delay),
    (r) => r.status === "OK" ? true : undefined,
  );
}

/** `stats [group]`. */
export function statsRequest(
  deadline: number,
  group: string | undefined,
): PlainRequest<Map<string, string>> {
  return new PlainRequest(
    "stats",
    deadline,
    (w) => encodeStats(w, group),
    // The text decoder reports an `END` with no `STAT` line before it as `END`.
    (r) => r.status === "STATS" ? r.stats : r.status === "END" ? new Map() : undefined,
  );
}

/** `verbosity <level>`. */
export function verbosityRequest(deadline: number, level: number): PlainRequest<true> {
  return new PlainRequest(
    "verbosity",
    deadline,
    (w) => encodeVerbosity(w, level),
    (r) => r.status === "OK" ? true : undefined,
  );
}
