/**
 * The corpora of valid replies that the fuzzers mutate, one per protocol; shared by the fuzz
 * tests (`*_fuzz_test.ts`) and the longer runs of `scripts/fuzz.ts`.
 *
 * @module
 */

import { concat, latin1 } from "../_util.ts";
import { Opcode } from "../../src/protocol/mod.ts";

/**
 * Valid meta replies (and the plain replies and text `get` replies the meta decoder reads) to
 * mutate.
 */
export const META_CORPUS: readonly Uint8Array[] = [
  "VA 5 f0 O1\r\nhello\r\n",
  "VA 2 f4 c123 t-1 k.Zm9v b O4294967295\r\nhi\r\n",
  "VA 0 O7\r\n\r\n",
  "HD O2\r\n",
  "HD c18446744073709551615 O3\r\n",
  "EN\r\nNF O5\r\nNS\r\nEX O6\r\nMN\r\n",
  "VA 20 O8\r\n18446744073709551615\r\n",
  "OK\r\nRESET\r\nVERSION 1.6.18\r\n",
  "STAT pid 1\r\nSTAT uptime 20\r\nSTAT version 1.6.18\r\nEND\r\n",
  "ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory storing object\r\n",
  "VA 300 O9\r\n" + "x".repeat(300) + "\r\n",
  // A text `get`'s replies, which a meta connection reads for getMany.
  "VALUE foo 0 5\r\nhello\r\nVALUE \xc3\xa9 4294967295 2 18446744073709551615\r\nhi\r\nEND\r\n",
  "END\r\nVA 1 O3\r\nx\r\nVALUE big 3 300\r\n" + "x".repeat(300) + "\r\nEND\r\nHD O4\r\n",
].map(latin1);

/** Valid classic text-protocol replies to mutate. */
export const TEXT_CORPUS: readonly Uint8Array[] = [
  "VALUE foo 0 5\r\nhello\r\nEND\r\n",
  "VALUE a 4294967295 2 18446744073709551615\r\nhi\r\nVALUE b 1 0 7\r\n\r\nEND\r\n",
  "VALUE \xc3\xa9 0 9\r\n\r\nEND\r\n\0\xff\r\nEND\r\n",
  "END\r\n",
  "STORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\n",
  "DELETED\r\nTOUCHED\r\nOK\r\n",
  "18446744073709551615\r\n0\r\n42  \r\n",
  "VERSION 1.6.18\r\n",
  "STAT pid 1\r\nSTAT uptime 20\r\nSTAT args -m 64\r\nEND\r\n",
  "ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory storing object\r\n",
  "VALUE big 3 300 12345\r\n" + "x".repeat(300) + "\r\nEND\r\n",
].map(latin1);

/** One reply packet: a 24-byte header and its extras, key and value. */
function packet(
  opcode: number,
  fields: {
    status?: number;
    opaque?: number;
    cas?: bigint;
    extras?: string;
    key?: string;
    value?: string;
  } = {},
): Uint8Array {
  const extras = latin1(fields.extras ?? "");
  const key = latin1(fields.key ?? "");
  const value = latin1(fields.value ?? "");
  const header = new Uint8Array(24);
  const view = new DataView(header.buffer);
  header[0] = 0x81;
  header[1] = opcode;
  view.setUint16(2, key.length);
  header[4] = extras.length;
  view.setUint16(6, fields.status ?? 0);
  view.setUint32(8, extras.length + key.length + value.length);
  view.setUint32(12, fields.opaque ?? 0);
  view.setBigUint64(16, fields.cas ?? 0n);
  return concat([header, extras, key, value]);
}

const FLAGS = "\xde\xad\xbe\xef";

/** Valid binary replies to mutate. */
export const BINARY_CORPUS: readonly Uint8Array[] = [
  packet(Opcode.Get, { opaque: 1, cas: 1n, extras: FLAGS, value: "World" }),
  packet(Opcode.GetK, { opaque: 2, cas: 2n, extras: FLAGS, key: "Hello", value: "World" }),
  packet(Opcode.GetKQ, { opaque: 0xffffffff, cas: (1n << 64n) - 1n, extras: "\0\0\0\0", key: "k" }),
  packet(Opcode.Get, { status: 1, opaque: 3, value: "Not found" }),
  packet(Opcode.Set, { opaque: 4, cas: 99n }),
  packet(Opcode.Add, { status: 2, opaque: 5, value: "Data exists for key." }),
  packet(Opcode.Increment, { opaque: 6, cas: 7n, value: "\0\0\0\0\0\0\0\x2a" }),
  packet(Opcode.Decrement, { status: 6, value: "Non-numeric server-side value for incr or decr" }),
  concat([
    packet(Opcode.GetQ, { opaque: 7, extras: "\0\0\0\x01", value: "v" }),
    packet(Opcode.Noop, { opaque: 8 }),
  ]),
  concat([
    packet(Opcode.GetKQ, { opaque: 10, cas: 3n, extras: FLAGS, key: "a", value: "1" }),
    packet(Opcode.GetKQ, { opaque: 11, cas: 4n, extras: FLAGS, key: "b", value: "" }),
    packet(Opcode.GetK, { status: 1, opaque: 12, key: "c" }),
    packet(Opcode.Delete, { opaque: 13 }),
    packet(Opcode.Noop, { opaque: 14 }),
  ]),
  packet(Opcode.Version, { value: "1.6.18" }),
  concat([
    packet(Opcode.Stat, { key: "pid", value: "3078" }),
    packet(Opcode.Stat, { key: "uptime", value: "20" }),
    packet(Opcode.Stat),
  ]),
  packet(Opcode.GAT, { opaque: 9, extras: FLAGS, value: "x".repeat(300) }),
  packet(Opcode.SaslListMechs, { value: "PLAIN CRAM-MD5" }),
  packet(0x81, { status: 0x81, value: "Unknown command" }),
];
