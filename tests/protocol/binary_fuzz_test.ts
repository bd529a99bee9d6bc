import assert from "node:assert/strict";
import process from "node:process";
import { test } from "../_harness.ts";
import { concat, latin1 } from "../_util.ts";
import { BinaryResponseDecoder, Opcode } from "../../src/protocol/binary.ts";
import { fuzzDecoder, fuzzInputs, fuzzSeed } from "./_fuzz.ts";

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

test("the binary decoder survives a million fuzzed inputs with only protocol errors", () => {
  const inputs = fuzzInputs((n) => process.env[n]);
  const report = fuzzDecoder({
    name: "binary",
    make: () => new BinaryResponseDecoder({ maxValueSize: 4096 }),
    corpus: BINARY_CORPUS,
    inputs,
    seed: fuzzSeed((n) => process.env[n]),
  });
  assert.equal(report.inputs, inputs);
  // The mix must exercise both paths: inputs that decode and inputs that are refused.
  assert.ok(report.protocolErrors > inputs / 100, `protocol errors: ${report.protocolErrors}`);
  assert.ok(report.replies > inputs / 2, `replies decoded: ${report.replies}`);
}, { timeout: 120_000 });

test("the binary decoder without copies survives fuzzed inputs with only protocol errors", () => {
  const inputs = Math.ceil(fuzzInputs((n) => process.env[n]) / 4);
  const report = fuzzDecoder({
    name: "binary (copyValues: false)",
    make: () => new BinaryResponseDecoder({ maxValueSize: 4096, copyValues: false }),
    corpus: BINARY_CORPUS,
    inputs,
    seed: fuzzSeed((n) => process.env[n]) ^ 0x5eed,
  });
  assert.equal(report.inputs, inputs);
  assert.ok(report.protocolErrors > inputs / 100, `protocol errors: ${report.protocolErrors}`);
  assert.ok(report.replies > inputs / 2, `replies decoded: ${report.replies}`);
}, { timeout: 120_000 });
