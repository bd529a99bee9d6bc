/**
 * Mica's sans-I/O protocol core: request encoders and incremental reply decoders for
 * memcached's three protocols: meta (`encodeMeta*`, {@linkcode ResponseDecoder}), classic text
 * (`encodeText*`, {@linkcode TextResponseDecoder}) and binary (`encodeBinary*`, `encodeSasl*`,
 * {@linkcode BinaryResponseDecoder}). Pure and synchronous: bytes in, responses out. No sockets,
 * timers or promises, so it can drive any transport.
 *
 * @example Encoding a request and decoding its reply
 * ```ts
 * import { ByteWriter, encodeKey, encodeMetaGet, ResponseDecoder } from "@mica/memcached/protocol";
 *
 * const w = new ByteWriter();
 * encodeMetaGet(w, encodeKey("greeting", false), false, { value: true }, 1);
 * const request = w.take(); // write these chunks to a socket
 * console.log(request.length); // 1
 *
 * const d = new ResponseDecoder();
 * d.feed(new TextEncoder().encode("VA 5 O1\r\nhello\r\n"));
 * console.log(new TextDecoder().decode(d.next()?.value)); // "hello"
 * ```
 *
 * @module
 */

export * from "./writer.ts";
export * from "./keys.ts";
export * from "./encoder.ts";
export * from "./decoder.ts";
export * from "./text.ts";
export * from "./binary.ts";
