/**
 * A client's events, typed: {@linkcode ClientEventMap} gives each event's `detail`,
 * {@linkcode ClientEvents} adds typed `addEventListener` overloads and
 * {@linkcode ClientEvents.on} (a listener you dispose of), and {@linkcode Logger} is what the
 * `logger` option takes, so the events reach a log without a listener.
 *
 * @module
 */

import type { ClientEventType, ServerEventDetail } from "./cluster/cluster.ts";
import type { Key } from "./protocol/values.ts";
import { MemcachedError } from "./errors.ts";

/**
 * Each client event with its `detail`, for typed listeners.
 *
 * | Event           | When                                                               |
 * | --------------- | ------------------------------------------------------------------ |
 * | `server-down`   | a server failed `failureLimit` times in a row and is marked down   |
 * | `server-up`     | a down server answered a probe and takes requests again            |
 * | `reconnecting`  | a probe of a down server starts (`detail.attempt` counts them)     |
 * | `error`         | a connection failed or was dropped (the server may still be up)    |
 * | `refresh-error` | a background `getOrSet` refresh of a stale key failed              |
 *
 * @example
 * ```ts
 * import { Client, type ClientEventMap } from "@mica/memcached";
 *
 * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"], { failover: "eject" });
 * const onDown = (event: ClientEventMap["server-down"]) => {
 *   console.warn(`${event.detail.server} is down: ${event.detail.error?.code}`);
 * };
 * client.addEventListener("server-down", onDown);
 * ```
 */
export interface ClientEventMap {
  /** A server is marked down; `detail.error` is the last failure. */
  "server-down": CustomEvent<ServerEventDetail>;
  /** A down server is back. */
  "server-up": CustomEvent<ServerEventDetail>;
  /** A probe of a down server starts; `detail.attempt` is its number. */
  reconnecting: CustomEvent<ServerEventDetail>;
  /** A connection failed or was dropped; `detail.error` says why. */
  error: CustomEvent<ServerEventDetail>;
  /** A background refresh of a stale key failed; its callers got the stale value. */
  "refresh-error": CustomEvent<RefreshErrorDetail>;
}

/**
 * The `detail` of a client's `refresh-error` event: a background refresh of a stale key
 * failed (its callers already got the stale value).
 *
 * @example
 * ```ts
 * import { Client, type RefreshErrorDetail } from "@mica/memcached";
 *
 * using client = new Client("127.0.0.1:11211");
 * client.addEventListener("refresh-error", (event) => {
 *   const { key, error }: RefreshErrorDetail = event.detail;
 *   console.warn(`could not refresh ${String(key)}`, error);
 * });
 * ```
 */
export interface RefreshErrorDetail {
  /** The key whose refresh failed. */
  key: Key;
  /** What the loader or the store threw. */
  error: unknown;
}

/**
 * Where a client logs its events when given the `logger` option. Every method is optional;
 * `console` fits, and so do pino, winston and `@std/log` loggers. Levels: `server-down` and
 * `refresh-error` are `warn`, `server-up` is `info`, `reconnecting` is `debug`, `error` is
 * `error`. The message is one line; `fields` has the event type and its detail. Credentials
 * never appear. A logger that throws is ignored, so logging cannot break a request.
 *
 * @example
 * ```ts
 * import { Client, type Logger } from "@mica/memcached";
 *
 * const lines: string[] = [];
 * const logger: Logger = { warn: (message) => lines.push(message) };
 * using client = new Client("127.0.0.1:11211", { logger });
 * using quiet = new Client("127.0.0.1:11211", { logger: console });
 * ```
 */
export interface Logger {
  /** Probes of down servers. */
  debug?(message: string, fields: LogFields): void;
  /** Servers coming back. */
  info?(message: string, fields: LogFields): void;
  /** Servers marked down, failed background refreshes. */
  warn?(message: string, fields: LogFields): void;
  /** Connection failures. */
  error?(message: string, fields: LogFields): void;
}

/**
 * The structured part of a log line: `event` (the event type) and the event's detail.
 *
 * @example
 * ```ts
 * import type { LogFields } from "@mica/memcached";
 *
 * const fields: LogFields = { event: "server-down", server: "10.0.0.1:11211" };
 * console.log(fields.event, fields.server);
 * ```
 */
export interface LogFields {
  /** The event type. */
  event: ClientEventType;
  /** The server (`server-down`, `server-up`, `reconnecting`, `error`). */
  server?: string;
  /** The failure (`server-down`, `error`, `refresh-error`). */
  error?: unknown;
  /** The probe's number (`reconnecting`). */
  attempt?: number;
  /** The key (`refresh-error`). */
  key?: unknown;
}

/**
 * A listener added by {@linkcode ClientEvents.on}; disposing of it (or calling
 * `unsubscribe`) removes it. Hold it with `using` to remove it at the end of a block.
 *
 * @example
 * ```ts
 * import { Client } from "@mica/memcached";
 *
 * using client = new Client("127.0.0.1:11211");
 * {
 *   using _watch = client.on("server-down", ({ server }) => console.warn(server, "is down"));
 *   // ... the listener is removed when this block ends
 * }
 * ```
 */
export interface Subscription extends Disposable {
  /** Removes the listener; calling it again does nothing. */
  unsubscribe(): void;
}

/**
 * What {@linkcode ClientEvents.on} takes besides the event type and handler.
 *
 * @example
 * ```ts
 * import { Client, type OnOptions } from "@mica/memcached";
 *
 * using client = new Client("127.0.0.1:11211");
 * const controller = new AbortController();
 * const options: OnOptions = { signal: controller.signal, once: true };
 * client.on("server-up", ({ server }) => console.log(server, "is back"), options);
 * controller.abort(); // removes it
 * ```
 */
export interface OnOptions {
  /** Removes the listener when this signal aborts. */
  signal?: AbortSignal;
  /** Removes the listener after its first call. */
  once?: boolean;
}

type Detail<K extends keyof ClientEventMap> = ClientEventMap[K]["detail"];

/**
 * The event half of {@linkcode Client}: an `EventTarget` whose `addEventListener` knows each
 * client event's `detail` type, plus {@linkcode ClientEvents.on}.
 *
 * @example
 * ```ts
 * import { Client } from "@mica/memcached";
 *
 * using client = new Client("127.0.0.1:11211");
 * client.addEventListener("error", (event) => {
 *   console.error(event.detail.server, event.detail.error?.code); // typed, no cast
 * });
 * ```
 */
export class ClientEvents extends EventTarget {
  /**
   * Adds a listener for a client event; the listener gets the typed `CustomEvent`.
   *
   * @example
   * ```ts
   * import { Client } from "@mica/memcached";
   *
   * using client = new Client("127.0.0.1:11211");
   * client.addEventListener("reconnecting", (event) => console.log(event.detail.attempt));
   * ```
   */
  override addEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (event: ClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with `addEventListener`.
   *
   * @example
   * ```ts
   * import { Client, type ClientEventMap } from "@mica/memcached";
   *
   * using client = new Client("127.0.0.1:11211");
   * const listener = (event: ClientEventMap["error"]) => console.error(event.detail.error);
   * client.addEventListener("error", listener);
   * client.removeEventListener("error", listener);
   * ```
   */
  override removeEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (event: ClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /**
   * Calls `handler` with the `detail` of each `type` event until the returned
   * {@linkcode Subscription} is disposed of, `options.signal` aborts, or (with
   * `options.once`) after the first call.
   *
   * @param type The event.
   * @param handler Gets the event's detail.
   * @param options `signal` and `once`.
   * @returns What removes the listener; hold it with `using` to scope it to a block.
   *
   * @example
   * ```ts
   * import { Client } from "@mica/memcached";
   *
   * using client = new Client(["10.0.0.1:11211", "10.0.0.2:11211"], { failover: "eject" });
   * const watch = client.on("server-down", ({ server, error }) => {
   *   console.warn(`${server} is down (${error?.code})`);
   * });
   * watch.unsubscribe();
   * ```
   */
  on<K extends keyof ClientEventMap>(
    type: K,
    handler: (detail: Detail<K>) => void,
    options: OnOptions = {},
  ): Subscription {
    const listener = (event: ClientEventMap[K]) => handler(event.detail);
    const signal = options.signal;
    const unsubscribe = () => this.removeEventListener(type, listener);
    if (signal?.aborted) return { unsubscribe, [Symbol.dispose]: unsubscribe };
    this.addEventListener(type, listener, {
      once: options.once === true,
      ...(signal === undefined ? {} : { signal }),
    });
    return { unsubscribe, [Symbol.dispose]: unsubscribe };
  }
}

const LEVELS = {
  "server-down": "warn",
  "server-up": "info",
  reconnecting: "debug",
  error: "error",
  "refresh-error": "warn",
} as const satisfies Record<ClientEventType, keyof Logger>;

/** The one-line message of an event. */
function message(type: ClientEventType, fields: LogFields): string {
  const why = fields.error instanceof Error
    ? `: ${(fields.error as { code?: string }).code ?? fields.error.name}: ${fields.error.message}`
    : fields.error === undefined
    ? ""
    : `: ${String(fields.error)}`;
  switch (type) {
    case "server-down":
      return `mica: server ${fields.server} is down${why}`;
    case "server-up":
      return `mica: server ${fields.server} is up`;
    case "reconnecting":
      return `mica: probing server ${fields.server} (attempt ${fields.attempt})`;
    case "error":
      return `mica: connection to ${fields.server} failed${why}`;
    case "refresh-error":
      return `mica: background refresh of ${String(fields.key)} failed${why}`;
  }
}

/**
 * Returns what dispatches a client's events on `target` and, when there is a logger, logs them.
 *
 * @param target The client.
 * @param logger The `logger` option.
 */
export function emitter(
  target: EventTarget,
  logger: Logger | undefined,
): <K extends ClientEventType>(type: K, detail: Detail<K>) => void {
  return (type, detail) => {
    target.dispatchEvent(new CustomEvent(type, { detail }));
    const log = logger?.[LEVELS[type]];
    if (typeof log !== "function") return;
    const fields: LogFields = { event: type, ...detail };
    try {
      log.call(logger, message(type, fields), fields);
    } catch {
      // A logger's failure must not become the client's.
    }
  };
}

/**
 * Checks the `logger` option.
 *
 * @throws {MemcachedError} `INVALID_ARGUMENT` when it is not an object with logging methods.
 */
export function checkLogger(logger: unknown): Logger | undefined {
  if (logger === undefined) return undefined;
  const fail = (why: string) =>
    new MemcachedError("INVALID_ARGUMENT", `Cannot use option logger: ${why}`);
  if (typeof logger !== "object" || logger === null) {
    throw fail("it is not an object with debug, info, warn or error methods");
  }
  const methods = ["debug", "info", "warn", "error"] as const;
  const record = logger as Record<string, unknown>;
  for (const name of methods) {
    if (record[name] !== undefined && typeof record[name] !== "function") {
      throw fail(`its \`${name}\` is not a function`);
    }
  }
  if (!methods.some((name) => typeof record[name] === "function")) {
    throw fail("it has none of the methods debug, info, warn, error");
  }
  return logger as Logger;
}
