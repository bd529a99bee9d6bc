import { BinaryResponseDecoder } from "../../../src/protocol/mod.ts";
import { fuzzTest } from "../_codec.ts";
import { BINARY_CORPUS } from "../_corpus.ts";

fuzzTest("the binary decoder survives a million fuzzed inputs with only protocol errors", {
  name: "binary",
  make: () => new BinaryResponseDecoder({ maxValueSize: 4096 }),
  corpus: BINARY_CORPUS,
});

fuzzTest("the binary decoder without copies survives fuzzed inputs with only protocol errors", {
  name: "binary (copyValues: false)",
  make: () => new BinaryResponseDecoder({ maxValueSize: 4096, copyValues: false }),
  corpus: BINARY_CORPUS,
  share: 1 / 4,
  salt: 0x5eed,
});
