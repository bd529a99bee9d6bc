// Longer fuzz runs of Mica's decoders than the test suite's (1,000,000 inputs per decoder):
//
//   node_modules/.bin/deno run -A scripts/fuzz.ts [--inputs N] [--seed S] [--runs R] [--codec meta,text,binary]
//   node_modules/.bin/bun scripts/fuzz.ts ...
//
// Each run fuzzes every chosen decoder (copying values and lending them) with N inputs from seed
// S + run, so runs are reproducible: a failure names its seed and input, and
// `MICA_FUZZ_SEED=<seed> MICA_FUZZ_INPUTS=<n>` replays it in the tests. Exits 1 on a failure.
import process from "node:process";
import {
  BinaryResponseDecoder,
  ResponseDecoder,
  TextResponseDecoder,
} from "../src/protocol/mod.ts";
import { type FuzzDecoder, fuzzDecoder } from "../tests/protocol/_fuzz.ts";
import { BINARY_CORPUS, META_CORPUS, TEXT_CORPUS } from "../tests/protocol/_corpus.ts";

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : fallback;
}
const inputs = Number(option("inputs", "10000000"));
const seed = Number(option("seed", String(Date.now() % 0x7fff_ffff)));
const runs = Number(option("runs", "1"));
const codecs = option("codec", "meta,text,binary").split(",");
if (!Number.isSafeInteger(inputs) || inputs < 1 || !Number.isSafeInteger(seed) || runs < 1) {
  console.error("usage: scripts/fuzz.ts [--inputs N] [--seed S] [--runs R] [--codec LIST]");
  process.exit(2);
}

const limits = { maxLineLength: 256, maxValueSize: 4096 };
const targets: Record<
  string,
  { corpus: readonly Uint8Array[]; make: (copy: boolean) => FuzzDecoder }
> = {
  meta: {
    corpus: META_CORPUS,
    make: (copy) => new ResponseDecoder({ ...limits, copyValues: copy }),
  },
  text: {
    corpus: TEXT_CORPUS,
    make: (copy) => new TextResponseDecoder({ ...limits, copyValues: copy }),
  },
  binary: {
    corpus: BINARY_CORPUS,
    make: (copy) => new BinaryResponseDecoder({ maxValueSize: 4096, copyValues: copy }),
  },
};

let failed = false;
for (let run = 0; run < runs; run++) {
  for (const name of codecs) {
    const target = targets[name];
    if (target === undefined) {
      console.error(`unknown codec ${name}`);
      process.exit(2);
    }
    for (const copy of [true, false]) {
      const runSeed = (seed + run) >>> 0;
      const t0 = performance.now();
      try {
        const report = fuzzDecoder({
          name: `${name}${copy ? "" : " (copyValues: false)"}`,
          make: () => target.make(copy),
          corpus: target.corpus,
          inputs,
          seed: runSeed,
        });
        const s = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(
          `${name}${copy ? "" : " lent"} seed ${runSeed}: ${report.inputs} inputs, ` +
            `${report.bytes} bytes, ${report.replies} replies, ${report.protocolErrors} protocol ` +
            `errors, ${report.clean} clean, ${s} s`,
        );
      } catch (error) {
        failed = true;
        console.error(error instanceof Error ? error.message : String(error));
      }
    }
  }
}
process.exit(failed ? 1 : 0);
