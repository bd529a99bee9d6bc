import { ResponseDecoder } from "../../../src/protocol/mod.ts";
import { fuzzTest } from "../_codec.ts";
import { META_CORPUS } from "../_corpus.ts";

fuzzTest("the meta decoder survives a million fuzzed inputs with only protocol errors", {
  name: "meta",
  make: () => new ResponseDecoder({ maxLineLength: 256, maxValueSize: 4096 }),
  corpus: META_CORPUS,
});

fuzzTest("the meta decoder without copies survives fuzzed inputs with only protocol errors", {
  name: "meta (copyValues: false)",
  make: () => new ResponseDecoder({ maxLineLength: 256, maxValueSize: 4096, copyValues: false }),
  corpus: META_CORPUS,
  share: 1 / 4,
  salt: 0x5eed,
});
