import { TextResponseDecoder } from "../../../src/protocol/mod.ts";
import { fuzzTest } from "../_codec.ts";
import { TEXT_CORPUS } from "../_corpus.ts";

fuzzTest("the text decoder survives a million fuzzed inputs with only protocol errors", {
  name: "text",
  make: () => new TextResponseDecoder({ maxLineLength: 256, maxValueSize: 4096 }),
  corpus: TEXT_CORPUS,
});

fuzzTest("the text decoder without copies survives fuzzed inputs with only protocol errors", {
  name: "text (copyValues: false)",
  make: () =>
    new TextResponseDecoder({ maxLineLength: 256, maxValueSize: 4096, copyValues: false }),
  corpus: TEXT_CORPUS,
  share: 1 / 4,
  salt: 0x5eed,
});
