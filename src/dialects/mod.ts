/**
 * The client's operations in each wire protocol: {@linkcode dialectOf} gives the
 * {@linkcode Dialect} that turns every client operation into a request of that protocol.
 *
 * @module
 */

import { binaryDialect } from "./binary.ts";
import type { Dialect, Protocol } from "./dialect.ts";
import { metaDialect } from "./meta.ts";
import { textDialect } from "./text.ts";

export type {
  Dialect,
  Lease,
  Protocol,
  ReadSpec,
  ValueMapper,
  WriteBatch,
  WriteKind,
  WriteOutcome,
} from "./dialect.ts";
export { WRITE_COMMAND } from "./dialect.ts";

const DIALECTS: Readonly<Record<Protocol, Dialect>> = {
  meta: metaDialect,
  text: textDialect,
  binary: binaryDialect,
};

/** The dialect of a protocol. */
export function dialectOf(protocol: Protocol): Dialect {
  return DIALECTS[protocol];
}
