/**
 * The memcached client: {@linkcode connect} and {@linkcode Client}, the public API. A client is
 * built in floors, one concern each, every method a few lines over the shared core
 * (`client/core.ts`), which has the dialect of the client's protocol make the request and hands
 * it to the {@linkcode Cluster}, which routes it to a server's connection:
 *
 * - `client/base.ts`: {@linkcode ClientBase}, building, lifecycle, counters, metrics, events;
 * - `client/reads.ts`: {@linkcode ReadCommands}, `get`, `gets`, `getMany`, `getOrSet`, ...;
 * - `client/writes.ts`: {@linkcode WriteCommands}, `set`, `cas`, `delete`, `incr`, `setMany`, ...;
 * - here: `Client`, the server commands (`flush`, `version`, `noop`, `stats`, `verbosity`).
 *
 * @module
 */

import type { FlushOptions, ServerOptionsArg } from "./call_options.ts";
import type { ServerAddress } from "./cluster/address.ts";
import { MemcachedError } from "./errors.ts";
import { Count } from "./observe.ts";
import type { ClientOptions } from "./options.ts";
import { wireTtl } from "./protocol/values.ts";
import { coreOf } from "./client/base.ts";
import { WriteCommands } from "./client/writes.ts";

/** What `stats` takes: one to four words (`"slabs"`, `"detail dump"`, `"cachedump 1 10"`). */
const STATS_ARGS = /^[A-Za-z0-9_]{1,64}( [A-Za-z0-9_]{1,64}){0,3}$/;

/**
 * A memcached client. Create one with {@linkcode connect}; hold it with `await using` so it is
 * closed on every path out of the block.
 *
 * Its commands come in floors: {@linkcode ClientBase} (lifecycle, counters, metrics, events),
 * {@linkcode ReadCommands}, {@linkcode WriteCommands}, and here the server commands.
 *
 * Every method validates its arguments before anything is written and rejects with a
 * {@linkcode MemcachedError} whose `code` says what went wrong; a bad call disturbs no other
 * request and not the connection.
 *
 * @example Quick start
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211");
 * await client.set("greeting", "hello", { ttl: 60 });
 * console.log(await client.get("greeting")); // "hello"
 * ```
 */
export class Client extends WriteCommands {
  readonly #core = coreOf(this);

  /**
   * Creates a client without connecting; the first request to each server connects. Prefer
   * {@linkcode connect}, which also opens the connections and reports failures at once.
   *
   * @param address Where the server listens, or a list of servers (a cluster): an address, a
   * comma-separated list, or a connection string
   * (`memcached://[user:password@]host[:port][,host[:port]...][?option=value&...]`). When
   * omitted, the `MEMCACHE_SERVERS` environment variable, in any of those string forms.
   * @param options Client options; see {@linkcode ClientOptions}.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad address or option.
   */
  constructor(address?: ServerAddress | readonly ServerAddress[], options: ClientOptions = {}) {
    super(address, options);
  }

  /**
   * Invalidates every item on the server (`flush_all`).
   *
   * @param options `delay` in seconds, `timeout`, `signal`.
   * @returns Resolves once the server accepted it.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.flush();
   * ```
   */
  async flush(options?: FlushOptions): Promise<void> {
    const delay = options?.delay;
    if (delay !== undefined) wireTtl(delay, 0);
    const core = this.#core;
    const deadline = core.deadline(options);
    const { flush } = core.dialect;
    const done = core.cluster.submitEach(
      "flush",
      () => flush(deadline, delay),
      options?.signal,
      options?.server,
    );
    await core.watch("flush", undefined, 0, Count.None, done);
  }

  /**
   * Returns the server's version string.
   *
   * @param options `timeout`, `signal`.
   * @returns For example `"1.6.18"`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * console.log(await client.version());
   * ```
   */
  version(options?: ServerOptionsArg): Promise<string> {
    try {
      const core = this.#core;
      return core.submitTo("version", core.dialect.version(core.deadline(options)), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Makes a round trip to a server that reads and writes nothing: meta `mn`, the binary `Noop`,
   * or over the text protocol `version` (which proxies and servers older than 1.6 know). A
   * health check, or a way to learn that the requests written before it were answered.
   *
   * @param options `server`, `timeout`, `signal`.
   * @returns Resolves once the server answered.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect(["127.0.0.1:11211", "127.0.0.1:11212"]);
   * await client.noop({ server: "127.0.0.1:11212", timeout: 100 });
   * ```
   */
  async noop(options?: ServerOptionsArg): Promise<void> {
    const core = this.#core;
    await core.submitTo("noop", core.dialect.noop(core.deadline(options)), options);
  }

  /**
   * Returns the server's statistics.
   *
   * @param group A group such as `"slabs"`, `"items"` or `"settings"`; general stats if omitted.
   * @param options `timeout`, `signal`.
   * @returns A map from statistic name to value, as the server wrote them.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * const stats = await client.stats();
   * console.log(stats.get("curr_items"));
   * ```
   */
  stats(group?: string, options?: ServerOptionsArg): Promise<Map<string, string>> {
    try {
      if (group !== undefined && (typeof group !== "string" || !STATS_ARGS.test(group))) {
        throw new MemcachedError(
          "INVALID_ARGUMENT",
          `Cannot stats: ${JSON.stringify(group)} is not a statistics group name`,
        );
      }
      const core = this.#core;
      return core.submitTo("stats", core.dialect.stats(core.deadline(options), group), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sets the server's log verbosity.
   *
   * @param level 0 (quiet) and up.
   * @param options `timeout`, `signal`.
   * @returns Resolves once the server accepted it.
   * @throws {MemcachedError} `UNSUPPORTED` over the binary protocol (memcached does not
   * implement its binary verbosity command).
   *
   * @example
   * ```ts ignore
   * import { connect } from "@mica/memcached";
   *
   * await using client = await connect("127.0.0.1:11211");
   * await client.verbosity(1);
   * ```
   */
  async verbosity(level: number, options?: ServerOptionsArg): Promise<void> {
    if (!Number.isInteger(level) || level < 0 || level > 0xffff_ffff) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        `Cannot verbosity: ${String(level)} is not a non-negative integer`,
      );
    }
    const core = this.#core;
    const request = core.dialect.verbosity(core.deadline(options), level);
    await core.submitTo("verbosity", request, options);
  }
}

/**
 * Connects to a memcached server and returns a client once the connection is open.
 *
 * @param address `"host:port"`, `"host"` (port 11211), `{ host, port }`, a unix socket path, a
 * list of them, a comma-separated string, or a `memcached://` connection string; when omitted,
 * the `MEMCACHE_SERVERS` environment variable.
 * @param options Client options; every field has a documented default.
 * @returns A connected client. Hold it with `await using`.
 * @throws {MemcachedError} `INVALID_ARGUMENT` (a bad address, an unknown or bad option),
 * `CONNECT_FAILED` or `CONNECT_TIMEOUT`.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@mica/memcached";
 *
 * await using client = await connect("127.0.0.1:11211", { timeout: 250 });
 * await client.set("hello", "world");
 * ```
 */
export async function connect(
  address?: ServerAddress | readonly ServerAddress[],
  options?: ClientOptions,
): Promise<Client> {
  const client = new Client(address, options);
  try {
    await client.open();
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}
