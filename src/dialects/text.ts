/**
 * The client's operations over memcached's classic text protocol, for proxies (twemproxy,
 * mcrouter in ASCII mode) and servers older than 1.6.
 *
 * The text protocol has no opaque token: replies are matched by order alone, which is safe
 * because a connection reads every reply it is owed, in order, even for requests whose caller
 * gave up. Values are also checked against their key (`VALUE <key> ...`), so a reply that
 * belongs to another request is a protocol error that drops the connection, never a wrong
 * value. `noreply` is never sent: memcached still answers some errors of a `noreply` command,
 * which would shift every later reply onto the wrong request.
 *
 * Not expressible, so refused with `UNSUPPORTED` before any byte is written: `incr`/`decr`
 * with `initial` (text has no auto-create; an `add` after a miss would race with other
 * clients), and base64 keys (text has no `b` flag; sending the base64 text would store under a
 * different key than the meta and binary protocols do).
 *
 * @module
 */

import type { Handshake } from "../connection/handshake.ts";
import type { Credentials } from "../connection/credentials.ts";
import {
  isErrorReply,
  PASS,
  Request,
  serverError,
  type Settle,
  type Verdict,
} from "../connection/request.ts";
import { MemcachedError } from "../errors.ts";
import {
  type ByteWriter,
  encodeMultiGet,
  encodeTextArithmetic,
  encodeTextDelete,
  encodeTextGet,
  encodeTextStore,
  encodeTextTouch,
  encodeVersion,
  type TextGetOptions,
  type TextResponse,
  TextResponseDecoder,
  type TextStoreMode,
  type WireKey,
} from "../protocol/mod.ts";
import type { TextSource, ValueReply } from "../protocol/values.ts";
import {
  flushRequest,
  statsRequest,
  textNoopRequest,
  verbosityRequest,
  versionRequest,
} from "./_plain.ts";
import {
  type Dialect,
  storeOutcome,
  unexpected,
  type ValueMapper,
  WRITE_COMMAND,
  WriteManyRequest,
} from "./dialect.ts";

/** Rejects base64 keys, which the text protocol cannot send as the same key. */
function plainKey(command: string, base64: boolean): void {
  if (base64) {
    throw new MemcachedError(
      "UNSUPPORTED",
      `Cannot ${command}: the text protocol has no base64 keys; use protocol "meta" or "binary"`,
    );
  }
}

/** A request answered by one line. */
abstract class LineRequest<T> extends Request<T> {
  constructor(deadline: number) {
    super(deadline);
    this.opaqueCount = 0;
  }

  protected abstract result(r: TextResponse): T;

  handle(r: TextResponse): boolean {
    if (isErrorReply(r)) {
      this.reject(serverError(r, this.command));
      return true;
    }
    this.resolve(this.result(r));
    return true;
  }
}

/** Get options shared by every request (the encoder only reads them). */
const GET: TextGetOptions = {};
const GETS: TextGetOptions = { cas: true };

/**
 * `get`/`gets`/`gat`/`gats <key>`: `VALUE` (on a hit) then `END`.
 *
 * Plain `get`s (and `gets`) queued one after another leave as one `get k1 k2 ...` line
 * (memcached answers a line of many keys several times faster than as many lines). Each member
 * of such a batch takes the replies in turn: memcached answers hits in key order and ends with
 * one `END`, so a `VALUE` for another key, or the `END`, tells a member it missed, and it passes
 * that reply on to the next member (`PASS`); only the last member takes the `END`. A value is
 * only ever taken by a member asking for that very key.
 */
class TextGetRequest<V> extends Request<V | undefined> {
  readonly command: string;
  #key: WireKey;
  #map: ValueMapper<V>;
  #cas: boolean;
  #touch: number | undefined;
  #value: V | undefined = undefined;
  #hit = false;
  /** Whether this request ends its batch (it alone reads the `END`). */
  #last = true;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    map: ValueMapper<V>,
    cas: boolean,
    touch: number | undefined,
  ) {
    super(deadline);
    this.opaqueCount = 0;
    this.command = command;
    this.#key = key;
    this.#map = map;
    this.#cas = cas;
    this.#touch = touch;
  }

  override get batchKey(): string | undefined {
    return this.#touch !== undefined ? undefined : this.#cas ? "text:gets" : "text:get";
  }

  override encodeBatch(w: ByteWriter, members: readonly Request[]): void {
    const keys = new Array<WireKey>(members.length);
    for (let i = 0; i < members.length; i++) {
      const member = members[i] as TextGetRequest<unknown>;
      keys[i] = member.#key;
      member.#last = i === members.length - 1;
    }
    encodeTextGet(w, keys, this.#cas ? GETS : GET);
  }

  encode(w: ByteWriter): void {
    encodeTextGet(
      w,
      [this.#key],
      this.#touch === undefined ? this.#cas ? GETS : GET : { cas: this.#cas, touch: this.#touch },
    );
  }

  handle(r: TextResponse, text: TextSource): Verdict {
    if (r.status === "VALUE") {
      if (r.key !== this.#key || this.#hit) {
        if (this.#last) {
          throw new MemcachedError(
            "PROTOCOL_ERROR",
            `Cannot match reply: ${this.command} got a value for another key`,
          );
        }
        // A batch member whose key had no value: the reply is a later member's.
        this.finish(this.#value);
        return PASS;
      }
      this.#hit = true;
      // The value is mapped now: a borrowed view is only valid until the next reply.
      this.#value = this.#map(r, text);
      if (this.#last) return false;
      this.finish(this.#value);
      return true;
    }
    if (r.status === "END") {
      this.finish(this.#value);
      return this.#last ? true : PASS;
    }
    if (isErrorReply(r)) {
      // The whole line failed: every remaining member of the batch gets the error.
      this.reject(serverError(r, this.command));
      return this.#last ? true : PASS;
    }
    throw unexpected(this.command, r);
  }
}

/**
 * What a multi-get reads of a reply. The text decoder's replies have it, and so do the meta
 * decoder's, which reads the replies of a text `get` line too.
 */
export interface MultiGetReply extends ValueReply {
  readonly status: string;
  /** The key of a `VALUE` reply. */
  readonly key: string | undefined;
  /** The text of an error reply. */
  readonly message: string;
}

/**
 * `get k1 k2 ...`: one server's part of a `getMany`, as one line. memcached answers a `VALUE`
 * per hit, in the order of the keys, then `END`; a line of a hundred keys costs it about half
 * the CPU per key of a hundred `mg` lines (it also answers the line with one send, where it
 * handles at most 20 commands per read event, `-R`, and so answers a hundred `mg` lines in five
 * sends, back in its event loop between them). It answers that line on a meta connection too,
 * so the meta protocol sends its `getMany` this way as well (but for base64 keys, which a text
 * line cannot carry).
 *
 * A `VALUE` is matched with the first key after the last one answered that it names: a key
 * not asked for, or out of order, is a protocol error that drops the connection, so a value
 * never reaches another key. A key asked for twice is answered twice, each `VALUE` taken by
 * the next position of that key. An error line instead of the replies (memcached sends nothing
 * else for the line then) rejects the whole part, and the stream stays in step.
 *
 * memcached reads a `get` line of any length (`proto_text.c` grows its read buffer for a long
 * one), so a part is never split.
 */
export class MultiGetRequest<V> extends Request<(V | undefined)[]> {
  readonly command = "getMany";
  #wire: readonly WireKey[];
  #map: ValueMapper<V>;
  #values: (V | undefined)[];
  /** The position after the last hit: hits come in request order. */
  #next = 0;

  constructor(
    deadline: number,
    wire: readonly WireKey[],
    map: ValueMapper<V>,
    settle: Settle<(V | undefined)[]> | undefined,
  ) {
    super(deadline, settle);
    this.opaqueCount = 0;
    this.#wire = wire;
    this.#map = map;
    this.#values = new Array<V | undefined>(wire.length);
  }

  encode(w: ByteWriter): void {
    // The keys are wire forms the cluster made (and checked) with encodeKey.
    encodeMultiGet(w, this.#wire);
  }

  handle(r: MultiGetReply, text: TextSource): boolean {
    if (r.status === "VALUE") {
      const wire = this.#wire;
      const key = r.key;
      let i = this.#next;
      while (i < wire.length && wire[i] !== key) i++;
      if (i === wire.length) {
        throw new MemcachedError(
          "PROTOCOL_ERROR",
          "Cannot match reply: getMany got a value for a key it did not ask for (or out of order)",
        );
      }
      this.#values[i] = this.#map(r, text);
      this.#next = i + 1;
      return false;
    }
    if (r.status === "END") {
      this.resolve(this.#values);
      return true;
    }
    if (isErrorReply(r)) {
      this.reject(serverError(r, this.command));
      return true;
    }
    throw unexpected(this.command, r);
  }
}

class TextTouchRequest extends LineRequest<boolean> {
  readonly command = "touch";
  #key: WireKey;
  #ttl: number;

  constructor(deadline: number, key: WireKey, ttl: number) {
    super(deadline);
    this.#key = key;
    this.#ttl = ttl;
  }

  encode(w: ByteWriter): void {
    encodeTextTouch(w, this.#key, this.#ttl);
  }

  protected result(r: TextResponse): boolean {
    if (r.status === "TOUCHED") return true;
    if (r.status === "NOT_FOUND") return false;
    throw unexpected(this.command, r);
  }
}

class TextStoreRequest<T extends boolean | undefined> extends LineRequest<T> {
  readonly command: string;
  #mode: TextStoreMode;
  #key: WireKey;
  #data: Uint8Array | string;
  #flags: number;
  #ttl: number;
  #cas: bigint | undefined;

  constructor(
    command: string,
    deadline: number,
    key: WireKey,
    data: Uint8Array | string,
    mode: TextStoreMode,
    flags: number,
    ttl: number,
    cas: bigint | undefined,
  ) {
    super(deadline);
    this.command = command;
    this.#mode = mode;
    this.#key = key;
    this.#data = data;
    this.#flags = flags;
    this.#ttl = ttl;
    this.#cas = cas;
  }

  encode(w: ByteWriter): void {
    encodeTextStore(
      w,
      this.#mode,
      this.#key,
      this.#data,
      this.#cas === undefined
        ? { flags: this.#flags, exptime: this.#ttl }
        : { flags: this.#flags, exptime: this.#ttl, cas: this.#cas },
    );
  }

  protected result(r: TextResponse): T {
    switch (r.status) {
      case "STORED":
        return storeOutcome(this, true, r.status);
      case "NOT_STORED": // add on an existing key, replace/append/prepend on a missing one
      case "EXISTS": // CAS token no longer matches
      case "NOT_FOUND": // CAS on a missing key
        return storeOutcome(this, false, r.status);
      default:
        throw unexpected(this.command, r);
    }
  }
}

class TextDeleteRequest extends LineRequest<boolean> {
  readonly command = "delete";
  #key: WireKey;

  constructor(deadline: number, key: WireKey) {
    super(deadline);
    this.#key = key;
  }

  encode(w: ByteWriter): void {
    encodeTextDelete(w, this.#key);
  }

  protected result(r: TextResponse): boolean {
    if (r.status === "DELETED") return true;
    if (r.status === "NOT_FOUND") return false;
    throw unexpected(this.command, r);
  }
}

class TextArithmeticRequest extends LineRequest<bigint | undefined> {
  readonly command: "incr" | "decr";
  #key: WireKey;
  #delta: bigint;

  constructor(deadline: number, key: WireKey, mode: "incr" | "decr", delta: bigint) {
    super(deadline);
    this.command = mode;
    this.#key = key;
    this.#delta = delta;
  }

  encode(w: ByteWriter): void {
    encodeTextArithmetic(w, this.command, this.#key, this.#delta);
  }

  protected result(r: TextResponse): bigint | undefined {
    if (r.status === "NUMBER") return r.number!;
    if (r.status === "NOT_FOUND") return undefined;
    throw unexpected(this.command, r);
  }
}

/**
 * A batch write to one server: one `set`, `delete` or `touch` per key, pipelined, each answered
 * in order (the text protocol has no quiet commands Mica can trust, see the module notes), so
 * every key gets its own outcome or error.
 */
class TextWriteManyRequest extends WriteManyRequest {
  #next = 0;

  encode(w: ByteWriter): void {
    const { kind, keys, data, flags, ttl } = this.batch;
    for (let i = 0; i < keys.length; i++) {
      if (kind === "set") {
        encodeTextStore(w, "set", keys[i]!, data![i]!, { flags: flags![i]!, exptime: ttl });
      } else if (kind === "delete") encodeTextDelete(w, keys[i]!);
      else encodeTextTouch(w, keys[i]!, ttl);
    }
  }

  handle(r: TextResponse): boolean {
    const index = this.#next++;
    this.outcomes[index] = isErrorReply(r) ? serverError(r, this.command) : this.#outcome(r);
    if (index < this.batch.keys.length - 1) return false;
    this.resolve(this.outcomes);
    return true;
  }

  #outcome(r: TextResponse): boolean {
    switch (r.status) {
      case "STORED":
      case "DELETED":
      case "TOUCHED":
        return true;
      case "NOT_STORED":
      case "NOT_FOUND":
        return false;
      default:
        throw unexpected(this.command, r);
    }
  }
}

/** ASCII authentication (memcached `-Y`): a `set` whose data is `<user> <password>`. */
export class TextAuthRequest extends Request<true> {
  readonly command = "authenticate";
  #secret: () => string;

  /** @param secret Returns `"<user> <password>"`, read only while encoding. */
  constructor(deadline: number, secret: () => string) {
    super(deadline);
    this.opaqueCount = 0;
    this.#secret = secret;
  }

  encode(w: ByteWriter): void {
    encodeTextStore(w, "set", "auth", this.#secret());
  }

  handle(r: TextResponse): boolean {
    if (r.status === "STORED") {
      this.resolve(true);
      return true;
    }
    // The server's message may not name the user, but keep it out of ours all the same.
    this.reject(
      new MemcachedError(
        "AUTH_FAILED",
        `Cannot authenticate: the server refused the credentials (${r.status})`,
      ),
    );
    return true;
  }
}

/**
 * The check before ASCII authentication: `version`, which a server that demands
 * authentication refuses with `CLIENT_ERROR unauthenticated`. A server that answers it does not
 * demand authentication and would store the credentials as an ordinary item named `auth`,
 * readable by anyone: the probe fails with `AUTH_FAILED` and the credentials are never sent.
 */
export class TextAuthProbe extends Request<true> {
  readonly command = "authenticate";

  constructor(deadline: number) {
    super(deadline);
    this.opaqueCount = 0;
  }

  encode(w: ByteWriter): void {
    encodeVersion(w);
  }

  handle(r: TextResponse): boolean {
    if (r.status === "CLIENT_ERROR" && /unauthenticated/i.test(r.message)) {
      this.resolve(true);
    } else if (r.status === "VERSION") {
      this.reject(
        new MemcachedError(
          "AUTH_FAILED",
          "Cannot authenticate: the server does not require authentication (memcached without " +
            "-Y), so the credentials were not sent: it would store them as an item named " +
            '"auth" that anyone can read. Remove username and password for this server',
        ),
      );
    } else {
      this.reject(
        new MemcachedError(
          "AUTH_FAILED",
          `Cannot authenticate: unexpected reply ${r.status} to the check before it`,
        ),
      );
    }
    return true;
  }
}

/**
 * ASCII authentication (memcached `-Y`), which answers in the text protocol also on a
 * connection that then speaks meta: a {@linkcode TextAuthProbe} first, then the credentials.
 */
export function textHandshake(credentials: Credentials): Handshake {
  if (credentials.reveal((_user, password) => /\s/.test(password))) {
    throw new MemcachedError(
      "INVALID_ARGUMENT",
      "Cannot use credentials: ASCII authentication (text and meta protocols) cannot send a " +
        'password with a space; use protocol "binary" (SASL)',
    );
  }
  return {
    steps: [
      (deadline) => new TextAuthProbe(deadline),
      (deadline) =>
        new TextAuthRequest(
          deadline,
          () => credentials.reveal((username, password) => `${username} ${password}`),
        ),
    ],
    decoder: () => new TextResponseDecoder(),
  };
}

/** memcached's classic text protocol. */
export const textDialect: Dialect = {
  handshake: textHandshake,
  decoder: (options) => new TextResponseDecoder(options),
  get: (command, deadline, key, base64, map, spec) => {
    plainKey(command, base64);
    return new TextGetRequest(command, deadline, key, map, spec.cas === true, spec.touch);
  },
  touch: (deadline, key, base64, ttl) => {
    plainKey("touch", base64);
    return new TextTouchRequest(deadline, key, ttl);
  },
  store: (command, deadline, key, base64, data, options) => {
    plainKey(command, base64);
    const mode: TextStoreMode = options.cas !== undefined ? "cas" : options.mode ?? "set";
    return new TextStoreRequest(
      command,
      deadline,
      key,
      data,
      mode,
      options.flags ?? 0,
      options.ttl ?? 0,
      options.cas,
    );
  },
  delete: (deadline, key, base64) => {
    plainKey("delete", base64);
    return new TextDeleteRequest(deadline, key);
  },
  // No leases: getOrSet is single-flight only, and an invalidation is a delete.
  lease: undefined,
  invalidate: (deadline, key, base64) => {
    plainKey("invalidate", base64);
    return new TextDeleteRequest(deadline, key);
  },
  release: () => {
    throw new MemcachedError("UNSUPPORTED", "Cannot release a lease: the text protocol has none");
  },
  arithmetic: (deadline, key, base64, options) => {
    const mode = options.mode ?? "incr";
    plainKey(mode, base64);
    if (options.initial !== undefined) {
      throw new MemcachedError(
        "UNSUPPORTED",
        `Cannot ${mode} with an initial value over the text protocol: it cannot create a ` +
          `missing counter atomically; use protocol "meta" or "binary"`,
      );
    }
    return new TextArithmeticRequest(deadline, key, mode, options.delta ?? 1n);
  },
  batchGet: (deadline, wire, base64, map, settle) => {
    plainKey("getMany", base64);
    return new MultiGetRequest(deadline, wire, map, settle);
  },
  // The plain commands and their replies are the same bytes as in the meta protocol.
  writeMany: (deadline, batch, base64, settle) => {
    plainKey(WRITE_COMMAND[batch.kind], base64);
    return new TextWriteManyRequest(deadline, batch, false, settle, 0);
  },
  version: versionRequest,
  noop: textNoopRequest,
  flush: flushRequest,
  stats: statsRequest,
  verbosity: verbosityRequest,
};
