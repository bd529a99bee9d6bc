/**
 * The memcached key of each Keyv key of the Keyv store (`keyv.ts`):
 * `<namespace>|<generation>|<key>`, escaped, or hashed when too long. memcached cannot delete
 * keys by prefix, so each namespace has a generation counter, the item `<namespace>|g`, and
 * every key carries the current generation: `clear()` increments it, and the namespace's old
 * items become unreachable at once. Private: not exported from the package.
 *
 * @module
 */

import type { Client } from "./client.ts";
import { MemcachedError } from "./errors.ts";
import { digest, escapeKey } from "./_keyv_escape.ts";

/** A namespace's generation, as this store last read or set it. */
interface Scope {
  /** The namespace as it appears in keys (escaped, or hashed when long). */
  readonly part: string;
  /** The generation item's key. */
  readonly counter: string;
  /** `<part>|<generation>|`, once the generation is known. */
  prefix: string | undefined;
  /** The generation behind `prefix`. */
  generation: bigint;
  /** When `prefix` was read or set (`performance.now()`). */
  at: number;
  /** Counts the generations this store set by `clear()`, so an older read does not win. */
  epoch: number;
  /** The read of the generation in progress, shared by the operations waiting for it. */
  reading: Promise<string> | undefined;
}

/** A longer escaped namespace is hashed (to 44 characters, as long as this). */
const MAX_NAMESPACE_LENGTH = 44;
/** The namespaces whose generation a store remembers, at most. */
const MAX_SCOPES = 1024;
const GENERATION = /^[0-9]{1,20}$/;
const RAW = { as: "string" } as const;
const FOREVER = { ttl: 0, flags: 0 } as const;
const RANDOM_SPAN = 2 ** 20;

/** What a {@linkcode Keyspace} is made with: the store's checked options. */
export interface KeyspaceOptions {
  /** Milliseconds a namespace's generation, once read, is used without reading it again. */
  readonly maxAge: number;
  /** The longest key sent, in bytes; longer ones are hashed. */
  readonly maxKeyLength: number;
}

/**
 * The keys of one store, in every namespace it was used with (`undefined` or `""`: none). A
 * namespace's generation is read once and trusted for `maxAge` milliseconds, so a `clear()`
 * through another store is seen within that time.
 */
export class Keyspace {
  readonly #client: Client;
  readonly #maxAge: number;
  readonly #maxKeyLength: number;
  readonly #scopes = new Map<string, Scope>();
  #closed = false;

  /** @param client The client the generation items are read and written through. */
  constructor(client: Client, options: KeyspaceOptions) {
    this.#client = client;
    this.#maxAge = options.maxAge;
    this.#maxKeyLength = options.maxKeyLength;
  }

  /** The memcached key of a Keyv key in a namespace now. */
  async key(namespace: string | undefined, key: string): Promise<string> {
    return await this.#wire(await this.#prefix(namespace), key);
  }

  /** The memcached keys of Keyv keys in a namespace now, in order. */
  async keys(namespace: string | undefined, keys: readonly string[]): Promise<string[]> {
    const prefix = await this.#prefix(namespace);
    return await Promise.all(keys.map((key) => this.#wire(prefix, key)));
  }

  /**
   * Starts a new generation of a namespace: increments its counter, or makes it again, above
   * every generation before it, when memcached evicted it.
   *
   * @throws {MemcachedError} The client's error, or `CLIENT_ERROR` when the counter holds
   * something that is not a number.
   */
  async clear(namespace: string | undefined): Promise<void> {
    const scope = await this.#scope(namespace);
    const client = this.#client;
    for (let attempt = 0; attempt < 3; attempt++) {
      const next = await client.incr(scope.counter, 1);
      if (next !== undefined) {
        this.#adopt(scope, next, ++scope.epoch);
        return;
      }
      // The counter is missing (never made, or evicted): start a generation above any before.
      const fresh = freshGeneration(scope);
      if (await client.add(scope.counter, fresh.toString(), FOREVER)) {
        this.#adopt(scope, fresh, ++scope.epoch);
        return;
      }
    }
    throw vanished(scope.counter);
  }

  /** Forgets every generation; those read after are not remembered (the store disconnected). */
  close(): void {
    this.#closed = true;
    this.#scopes.clear();
  }

  /**
   * `<namespace>|<generation>|`, the start of every key of a namespace now: the generation
   * remembered, or read (and made when missing) when it is older than `maxAge`.
   */
  async #prefix(namespace: string | undefined): Promise<string> {
    const scope = await this.#scope(namespace);
    if (scope.prefix !== undefined && performance.now() - scope.at < this.#maxAge) {
      return scope.prefix;
    }
    scope.reading ??= this.#read(scope).finally(() => {
      scope.reading = undefined;
    });
    return await scope.reading;
  }

  /** A namespace's scope, created on first use. */
  async #scope(name: string | undefined): Promise<Scope> {
    const namespace = name ?? "";
    const known = this.#scopes.get(namespace);
    if (known !== undefined) return known;
    const escaped = escapeKey(namespace);
    const part = escaped.length <= MAX_NAMESPACE_LENGTH ? escaped : await digest(escaped);
    const raced = this.#scopes.get(namespace);
    if (raced !== undefined) return raced;
    if (this.#scopes.size >= MAX_SCOPES) this.#scopes.clear();
    const scope: Scope = {
      part,
      counter: `${part}|g`,
      prefix: undefined,
      generation: 0n,
      at: 0,
      epoch: 0,
      reading: undefined,
    };
    this.#scopes.set(namespace, scope);
    return scope;
  }

  /** Reads the generation, creating it when missing, and returns the current prefix. */
  async #read(scope: Scope): Promise<string> {
    const epoch = scope.epoch;
    const client = this.#client;
    for (let attempt = 0; attempt < 3; attempt++) {
      const raw = await client.get<string>(scope.counter, RAW);
      if (raw !== undefined) {
        if (!GENERATION.test(raw)) {
          throw new MemcachedError(
            "DECODE_FAILED",
            `Cannot read the Keyv generation ${scope.counter}: it holds ${
              JSON.stringify(raw.slice(0, 40))
            }, not a number`,
          );
        }
        return this.#adopt(scope, BigInt(raw), epoch);
      }
      const fresh = freshGeneration(scope);
      if (await client.add(scope.counter, fresh.toString(), FOREVER)) {
        return this.#adopt(scope, fresh, epoch);
      }
    }
    throw vanished(scope.counter);
  }

  /**
   * Takes `generation` as the scope's, unless a `clear()` through this store set a newer one
   * since (`epoch` is the count of clears when the value was read).
   */
  #adopt(scope: Scope, generation: bigint, epoch: number): string {
    if (epoch === scope.epoch && !this.#closed) {
      scope.generation = generation;
      scope.prefix = `${scope.part}|${generation}|`;
      scope.at = performance.now();
    }
    return scope.prefix ?? `${scope.part}|${generation}|`;
  }

  /** The memcached key of a Keyv key: escaped, or hashed when too long. */
  #wire(prefix: string, key: string): string | Promise<string> {
    const escaped = escapeKey(key);
    if (prefix.length + escaped.length <= this.#maxKeyLength) return prefix + escaped;
    return digest(escaped).then((hash) => prefix + hash);
  }
}

/**
 * A new generation, for a counter that is missing (never made, or evicted by memcached): the
 * clock in milliseconds times 2^20 plus 20 random bits, so it is above every generation made or
 * incremented (once per `clear()`) before, and two processes creating one in the same
 * millisecond do not pick the same; and above the scope's last one in any case. It stays below
 * 2^64 until the year 2500.
 */
function freshGeneration(scope: Scope): bigint {
  const random = BigInt(Math.floor(Math.random() * RANDOM_SPAN));
  const fresh = (BigInt(Date.now()) << 20n) + random;
  return fresh > scope.generation ? fresh : scope.generation + 1n;
}

function vanished(counter: string): MemcachedError {
  return new MemcachedError(
    "SERVER_ERROR",
    `Cannot use the Keyv generation ${counter}: it vanished three times right after being stored`,
  );
}
