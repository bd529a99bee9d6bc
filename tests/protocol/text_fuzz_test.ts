import assert from "node:assert/strict";
import process from "node:process";
import { test } from "../_harness.ts";
import { latin1 } from "../_util.ts";
import { TextResponseDecoder } from "../../src/protocol/text.ts";
import { fuzzDecoder, fuzzInputs, fuzzSeed } from "./_fuzz.ts";

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

test("the text decoder survives a million fuzzed inputs with only protocol errors", () => {
  const inputs = fuzzInputs((n) => process.env[n]);
  const report = fuzzDecoder({
    name: "text",
    make: () => new TextResponseDecoder({ maxLineLength: 256, maxValueSize: 4096 }),
    corpus: TEXT_CORPUS,
    inputs,
    seed: fuzzSeed((n) => process.env[n]),
  });
  assert.equal(report.inputs, inputs);
  // The mix must exercise both paths: inputs that decode and inputs that are refused.
  assert.ok(report.protocolErrors > inputs / 100, `protocol errors: ${report.protocolErrors}`);
  assert.ok(report.replies > inputs / 2, `replies decoded: ${report.replies}`);
}, { timeout: 120_000 });
