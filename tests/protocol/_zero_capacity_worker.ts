/**
 * Worker body for the `ByteWriter(0)` regression test in `writer_test.ts`. It writes into a
 * writer created with a capacity of 0 and posts the bytes back. It runs in a worker so that a
 * regression (an endless loop in `#reserve()`) fails the test after a bound instead of hanging
 * the whole run.
 *
 * @module
 */

import { ByteWriter } from "../../src/protocol/mod.ts";

const w = new ByteWriter(0);
w.ascii("mn");
w.crlf();
w.byte(33);
w.uint(12345);
const length = w.length;
const chunks = w.take().map((chunk) => Array.from(chunk));
(globalThis as unknown as { postMessage(message: unknown): void }).postMessage({ length, chunks });
