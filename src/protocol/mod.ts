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
export type { DecoderOptions } from "./_decode.ts";
export * from "./meta/types.ts";
export * from "./meta/encode.ts";
export * from "./meta/decode.ts";
export * from "./text/types.ts";
export * from "./text/encode.ts";
export * from "./text/decode.ts";
export * from "./binary/types.ts";
export * from "./binary/encode.ts";
export * from "./binary/decode.ts";
