/**
 * Runs the memcached clients of other languages that Mica's users mix it with: pylibmc and
 * pymemcache (`_peer.py`, Debian's `/usr/bin/python3` with python3-pylibmc and
 * python3-pymemcache) and php-memcached (`_peer.php`). Each run is one process fed one JSON
 * request; see those files for the request's shape.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";

/** A value as the peers' JSON carries it. */
export type PeerValue =
  | string
  | number
  | boolean
  | null
  | { $bytes: string }
  | { $float: string }
  | { $int: string }
  | PeerValue[]
  | { [key: string]: PeerValue };

/** One operation of a peer request. */
export type PeerOp =
  | { op: "set"; key: string; value: PeerValue }
  | { op: "get"; key: string }
  | { op: "get_multi"; keys: string[] }
  | { op: "delete"; key: string }
  | { op: "server_by_key"; key: string };

/** A request to a peer. */
export interface PeerRequest {
  /** `pylibmc` and `pymemcache` run in Python; `php` is php-memcached. */
  client: "pylibmc" | "pymemcache" | "php";
  servers: string[];
  /** pylibmc behaviors. */
  behaviors?: Record<string, unknown>;
  /** pymemcache keyword arguments, or php-memcached options by constant name. */
  options?: Record<string, unknown>;
  ops: PeerOp[];
}

const PYTHON = "/usr/bin/python3";
const PHP = "/usr/bin/php";

/** Runs one request; resolves the results, one per op, or rejects with the peer's error. */
export function runPeer(request: PeerRequest): Promise<unknown[]> {
  const php = request.client === "php";
  const script = fileURLToPath(new URL(php ? "./_peer.php" : "./_peer.py", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = execFile(
      php ? PHP : PYTHON,
      [script],
      { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${request.client} peer failed: ${stderr || error.message}`));
          return;
        }
        let reply: { results?: unknown[]; error?: string };
        try {
          reply = JSON.parse(stdout);
        } catch {
          reject(new Error(`${request.client} peer wrote no JSON: ${stdout} ${stderr}`));
          return;
        }
        if (reply.error !== undefined || reply.results === undefined) {
          reject(new Error(`${request.client} peer: ${reply.error ?? "no results"}`));
        } else resolve(reply.results);
      },
    );
    child.stdin?.end(JSON.stringify(request));
  });
}

/** The bytes of a `{ $bytes }` value. */
export function peerBytes(value: unknown): Uint8Array | undefined {
  if (typeof value === "object" && value !== null && "$bytes" in value) {
    return new Uint8Array(Buffer.from(String((value as { $bytes: string }).$bytes), "base64"));
  }
  return undefined;
}

/** A peer's string or bytes value as text (pylibmc returns flag-0 values as bytes). */
export function peerText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  const bytes = peerBytes(value);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}
