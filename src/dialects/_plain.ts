/**
 * The plain commands of the meta and text protocols: `version`, `flush_all`, `stats` and
 * `verbosity` are the same bytes in both, and so are their replies.
 *
 * @module
 */

import { isErrorReply, Request, serverError } from "../connection/request.ts";
import {
  type ByteWriter,
  encodeFlushAll,
  encodeMetaNoop,
  encodeStats,
  encodeVerbosity,
  encodeVersion,
} from "../protocol/mod.ts";
import { unexpected } from "./dialect.ts";

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
    // Both decoders report an `END` with no `STAT` line before it (a group with no statistics)
    // as `END`; `stats reset` answers `RESET` and `stats detail on|off` answers `OK`, with no
    // statistics.
    (r) =>
      r.status === "STATS"
        ? r.stats
        : r.status === "END" || r.status === "RESET" || r.status === "OK"
        ? new Map()
        : undefined,
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

/** `mn`: a round trip that touches nothing (meta protocol). */
export function metaNoopRequest(deadline: number): PlainRequest<true> {
  return new PlainRequest(
    "noop",
    deadline,
    encodeMetaNoop,
    (r) => r.status === "MN" ? true : undefined,
  );
}

/**
 * `version` as the text protocol's no-op: proxies and servers older than 1.6 know no `mn`, and
 * `version` touches nothing either.
 */
export function textNoopRequest(deadline: number): PlainRequest<true> {
  return new PlainRequest(
    "noop",
    deadline,
    encodeVersion,
    (r) => r.status === "VERSION" ? true : undefined,
  );
}
