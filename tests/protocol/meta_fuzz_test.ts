import assert from "node:assert/strict";
import process from "node:process";
import { test } from "../_harness.ts";
import { latin1 } from "../_util.ts";
import { ResponseDecoder } from "../../src/protocol/mod.ts";
import { fuzzDecoder, fuzzInputs, fuzzSeed } from "./_fuzz.ts";

/** Valid meta replies (and the plain replies the meta decoder reads) to mutate. */
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
].map(latin1);

test("the meta decoder survives a million fuzzed inputs with only protocol errors", () => {
  const inputs = fuzzInputs((n) => process.env[n]);
  const report = fuzzDecoder({
    name: "meta",
    make: () => new ResponseDecoder({ maxLineLength: 256, maxValueSize: 4096 }),
    corpus: META_CORPUS,
    inputs,
    seed: fuzzSeed((n) => process.env[n]),
  });
  assert.equal(report.inputs, inputs);
  // The mix must exercise both paths: inputs that decode and inputs that are refused.
  assert.ok(report.protocolErrors > inputs / 100, `protocol errors: ${report.protocolErrors}`);
  assert.ok(report.replies > inputs / 2, `replies decoded: ${report.replies}`);
}, { timeout: 120_000 });
